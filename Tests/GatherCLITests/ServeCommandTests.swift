import Foundation
import GatherCore
import GatherHTTP
import GatherTesting
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// `gather serve` end to end: a real Python worker (standard library: the model is not the point), real HTTP.
@Suite struct ServeCommandTests {
    /// Doubles `x`; rejects records without it; sleeps PAUSE seconds per batch (or what MARKS/pause holds, when it
    /// exists); appends each batch's `x` values
    /// (one line a batch) to MARKS/batches; dies by SIGSEGV on a record with "crash": "once" the first time (MARKS/crashed), and on
    /// every record with "crash": "always".
    static let worker = """
        import os, signal, time
        from gather_worker import serve, RecordError
        marks = os.environ["MARKS"]
        pause = float(os.environ.get("PAUSE", "0"))
        def handle(records):
            with open(os.path.join(marks, "batches"), "a") as f:
                f.write(" ".join(str(r.get("x")) for r in records) + "\\n")
            for r in records:
                crash = r.get("crash")
                if crash == "always" or (crash == "once" and not os.path.exists(os.path.join(marks, "crashed"))):
                    open(os.path.join(marks, "crashed"), "w").close()
                    os.kill(os.getpid(), signal.SIGSEGV)
            p = os.path.join(marks, "pause")
            time.sleep(float(open(p).read()) if os.path.exists(p) else pause)
            return [{"y": r["x"] * 2} if "x" in r else RecordError("x is missing") for r in records]
        serve(handle)
        """

    struct Server {
        let url: String
        let scratch: ScratchFolder

        /// The `x` values of each batch a worker received.
        var received: [[String]] {
            ((try? scratch.read("marks/batches")) ?? "").split(separator: "\n").map {
                $0.split(separator: " ").map(String.init)
            }
        }

        /// The size of each batch a worker received.
        var batches: [Int] { self.received.map(\.count) }
    }

    /// Starts `gather serve` on a model file with `settings` (YAML lines after the model), runs `body` while it
    /// serves, then stops it with SIGTERM and returns its result.
    static func serving(
        workers: Int = 2, pause: Double = 0, settings: String = "",
        _ body: @escaping @Sendable (Server, Process) async throws -> Void
    ) async throws -> ProcessResult {
        let scratch = try ScratchFolder()
        defer { scratch.remove() }
        _ = try scratch.write("worker.py", Self.worker)
        try FileManager.default.createDirectory(atPath: scratch.file("marks"), withIntermediateDirectories: true)
        let port = try freeLoopbackPort()
        let file = try scratch.write(
            "model.yaml",
            """
            name: doubler
            listen: 127.0.0.1:\(port)
            model:
              command: [python3, worker.py]
              workers: \(workers)
              env: { PYTHONPATH: "\(MapCommandTests.python)", MARKS: "\(scratch.file("marks"))", PAUSE: "\(pause)" }
              example: { x: 21 }
            \(settings)
            """)
        let url = "http://127.0.0.1:\(port)"
        return try await oneKillTestAtATime { try await Self.run(file: file, url: url, scratch: scratch, body) }
    }

    static func run(
        file: String, url: String, scratch: ScratchFolder,
        _ body: @escaping @Sendable (Server, Process) async throws -> Void
    ) async throws -> ProcessResult {
        try await runGather(["serve", file, "--grace", "5s"]) { process in
            let ready = ContinuousClock.now + .seconds(20)
            try await Fetcher.withFetcher { fetcher in
                while ContinuousClock.now < ready {
                    let answer = await fetcher.fetch(FetchRequest(url: url + "/readyz", retry: RetryPolicy.none))
                    if answer.response?.status == 200 { break }
                    try await Task.sleep(for: .milliseconds(50))
                }
            }
            do {
                try await body(Server(url: url, scratch: scratch), process)
            } catch {
                kill(process.processIdentifier, SIGTERM)
                throw error
            }
            if process.isRunning { kill(process.processIdentifier, SIGTERM) }
        }
    }

    struct Answer {
        var status: Int
        var body: String
        var headers: [String: String]
        var elapsed: Duration
    }

    /// POSTs `body` to `/predict` once (no retries), with a deadline header when given.
    static func predict(
        _ url: String, _ body: String, deadlineMs: Int? = nil, fetcher: Fetcher
    ) async -> Answer {
        var headers = [(name: "Content-Type", value: "application/json")]
        if let deadlineMs { headers.append((name: "X-Request-Deadline-Ms", value: String(deadlineMs))) }
        let started = ContinuousClock.now
        let result = await fetcher.fetch(
            FetchRequest(
                url: url + "/predict", method: "POST", headers: headers, body: Array(body.utf8),
                timeout: .seconds(30), retry: RetryPolicy.none))
        var fields: [String: String] = [:]
        for header in result.response?.headers ?? [:] { fields[header.name.lowercased()] = header.value }
        return Answer(
            status: result.response?.status ?? -1, body: result.response.map { String(buffer: $0.body) } ?? "\(result)",
            headers: fields, elapsed: started.duration(to: .now))
    }

    static func withClient<T: Sendable>(_ body: (Fetcher) async throws -> T) async throws -> T {
        var configuration = Fetcher.Configuration()
        configuration.limits = FlowLimits(maxConcurrency: 256)
        return try await Fetcher.withFetcher(configuration: configuration, body)
    }

    @Test(.timeLimit(.minutes(15)))
    func predictionsInOrderWithPerInstanceErrorsAndClearBadInput() async throws {
        let result = try await Self.serving(settings: "limits: { max_body: 2KiB }") { server, _ in
            try await Self.withClient { fetcher in
                let one = await Self.predict(server.url, #"{"x": 4}"#, fetcher: fetcher)
                #expect(one.status == 200)
                #expect(one.body == #"{"predictions":[{"y":8}]}"#)
                let many = await Self.predict(
                    server.url, #"{"instances": [{"x": 1}, {"z": 2}, {"x": 3}]}"#, fetcher: fetcher)
                #expect(many.status == 422, "\(many.body)")
                #expect(many.body.contains(#""errors":[{"index":1,"error":"#), "\(many.body)")
                #expect(many.body.contains(#""predictions":[{"y":2},null,{"y":6}]"#), "\(many.body)")
                let bad = await Self.predict(server.url, "{not json", fetcher: fetcher)
                #expect(bad.status == 400)
                #expect(bad.body.contains("line 1, column 2"), "\(bad.body)")
                let huge = await Self.predict(
                    server.url,
                    #"{"instances": ["# + Array(repeating: #"{"x": 1}"#, count: 400).joined(separator: ",")
                        + "]}", fetcher: fetcher)
                #expect(huge.status == 413, "\(huge.body)")
                #expect(huge.body.contains("max_body"))
                let badDeadline = await Self.predict(server.url, #"{"x": 4}"#, deadlineMs: -5, fetcher: fetcher)
                #expect(badDeadline.status == 400)
                for path in ["/healthz", "/readyz"] {
                    #expect(
                        await fetcher.fetch(FetchRequest(url: server.url + path, retry: RetryPolicy.none)).response?
                            .status == 200)
                }
                let metrics = await fetcher.fetch(FetchRequest(url: server.url + "/metrics", retry: RetryPolicy.none))
                let text = metrics.response.map { String(buffer: $0.body) } ?? ""
                #expect(text.contains(#"gather_serve_requests_total{status="200"} 1"#), "\(text)")
                #expect(text.contains("gather_serve_batch_records"), "\(text)")
            }
        }
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr.contains("by status: 200 1, 400 2, 413 1, 422 1"), "\(result.stderr)")
    }

    @Test(.timeLimit(.minutes(15)))
    func concurrentRequestsAreBatchedByRecords() async throws {
        // One worker at 50 ms a batch and 40 requests at once: they cannot each get a batch of their own.
        _ = try await Self.serving(workers: 1, pause: 0.05, settings: "batch: { max_size: 16 }") { server, _ in
            try await Self.withClient { fetcher in
                let answers = try await Array(0..<40).concurrentMap(maxConcurrency: 40) { i in
                    await Self.predict(server.url, #"{"x": \#(i)}"#, fetcher: fetcher)
                }
                for (i, answer) in answers.enumerated() {
                    #expect(answer.status == 200)
                    #expect(answer.body == #"{"predictions":[{"y":\#(i * 2)}]}"#)
                }
                let batches = server.batches
                #expect(batches.reduce(0, +) == 40)
                #expect(batches.count <= 10, "\(batches)")
                #expect(batches.max() ?? 0 <= 16, "\(batches)")
            }
        }
    }

    @Test(.timeLimit(.minutes(15)))
    func deadlinesAreKeptAndHopelessRequestsNeverReachAWorker() async throws {
        // One worker at 200 ms a batch of one. With a 300 ms budget, only the first request or two can be served
        // in time; the rest get 504 at once, and no request is ever answered 200 after its deadline.
        _ = try await Self.serving(workers: 1, pause: 0.2, settings: "batch: { max_size: 1 }") { server, _ in
            try await Self.withClient { fetcher in
                // A first request measures the service time.
                let first = await Self.predict(server.url, #"{"x": 1}"#, fetcher: fetcher)
                #expect(first.status == 200)
                let answers = try await Array(0..<12).concurrentMap(maxConcurrency: 12) { i in
                    await Self.predict(server.url, #"{"x": \#(i)}"#, deadlineMs: 300, fetcher: fetcher)
                }
                let ok = answers.filter { $0.status == 200 }
                let late = answers.filter { $0.status == 504 }
                #expect(ok.count + late.count == 12, "\(answers.map(\.status))")
                #expect(ok.count <= 3, "\(answers.map(\.status))")
                #expect(late.allSatisfy { $0.body.contains("deadline") })
                // The server keeps deadlines by its own clock; the client adds the wire and, on a busy machine,
                // its own scheduling. A 200 far past the budget would be a bug.
                for answer in ok { #expect(answer.elapsed < .seconds(1), "\(answer.elapsed)") }
                // Every request a worker saw is accounted for: the first, the 200s, and 504s that the worker
                // answered too late ("answered after"). All other 504s were shed before reaching a worker.
                let workedLate = late.filter { $0.body.contains("answered after") }.count
                let shedBefore = late.count - workedLate
                #expect(server.batches.count == 1 + ok.count + workedLate, "\(server.batches) \(late.map(\.body))")
                #expect(shedBefore >= 6, "\(late.map(\.body))")
            }
        }
    }

    @Test(.timeLimit(.minutes(15)))
    func aServerThatLearnedSlowBatchesServesAgainOnceTheyAreFast() async throws {
        // The admission estimate is learned from batches that run. A spell of slow batches must not leave it so
        // high that every request is shed, no batch runs, and the estimate never comes down: an idle worker
        // always gets the next request.
        _ = try await Self.serving(workers: 1, settings: "batch: { max_size: 1 }") { server, _ in
            try await Self.withClient { fetcher in
                for i in 0..<5 {
                    #expect(await Self.predict(server.url, #"{"x": \#(i)}"#, fetcher: fetcher).status == 200)
                }
                // A slow spell: 600 ms batches, as a worker starved of CPU by an overload might run.
                _ = try server.scratch.write("marks/pause", "0.6")
                for i in 0..<2 {
                    let slow = await Self.predict(server.url, #"{"x": \#(i)}"#, deadlineMs: 3000, fetcher: fetcher)
                    #expect(slow.status == 200, "\(slow.body)")
                }
                // Fast again. With a 500 ms budget the learned estimate (over 600 ms) says no; the worker is idle.
                _ = try server.scratch.write("marks/pause", "0")
                var statuses: [Int] = []
                for i in 0..<20 {
                    statuses.append(
                        await Self.predict(server.url, #"{"x": \#(i)}"#, deadlineMs: 500, fetcher: fetcher).status)
                }
                #expect(statuses.allSatisfy { $0 == 200 }, "\(statuses)")
                // A spell's overrun fades by half a second: two seconds on, concurrent requests are admitted
                // again, not only the one that finds the worker idle.
                try await Task.sleep(for: .seconds(2))
                let burst = try await Array(0..<8).concurrentMap(maxConcurrency: 8) { i in
                    await Self.predict(server.url, #"{"x": \#(i)}"#, deadlineMs: 500, fetcher: fetcher).status
                }
                #expect(burst.allSatisfy { $0 == 200 }, "\(burst)")
            }
        }
    }

    @Test(.timeLimit(.minutes(15)))
    func aFullQueueAnswers429WithRetryAfter() async throws {
        _ = try await Self.serving(
            workers: 1, pause: 0.3, settings: "batch: { max_size: 1 }\nlimits: { queue: 3, deadline: 30s }"
        ) { server, _ in
            try await Self.withClient { fetcher in
                _ = await Self.predict(server.url, #"{"x": 1}"#, fetcher: fetcher)
                let answers = try await Array(0..<12).concurrentMap(maxConcurrency: 12) { i in
                    await Self.predict(server.url, #"{"x": \#(i)}"#, fetcher: fetcher)
                }
                let statuses = answers.map(\.status)
                #expect(statuses.allSatisfy { $0 == 200 || $0 == 429 }, "\(statuses)")
                let shed = answers.filter { $0.status == 429 }
                #expect(shed.count >= 6, "\(statuses)")
                for answer in shed {
                    let retryAfter = Int(answer.headers["retry-after"] ?? "") ?? 0
                    let milliseconds = Int(answer.headers["x-retry-after-ms"] ?? "") ?? 0
                    // Three queued records at about 300 ms each: about a second to drain.
                    #expect(retryAfter >= 1, "\(answer.headers)")
                    #expect(milliseconds >= 300 && milliseconds <= 2000, "\(answer.headers)")
                }
            }
        }
    }

    @Test(.timeLimit(.minutes(15)))
    func aWorkerKilledMidBatchCostsOneRetryAndAHopelessBatchGets503() async throws {
        // A generous deadline: a restarting worker (backoff, then Python's start) must not turn into a 504 here.
        let result = try await Self.serving(workers: 2, settings: "limits: { deadline: 20s }") { server, _ in
            try await Self.withClient { fetcher in
                // The worker holding it dies; the batch is tried again on the other worker, and answered.
                let once = await Self.predict(server.url, #"{"x": 5, "crash": "once"}"#, fetcher: fetcher)
                #expect(once.status == 200, "\(once.body)")
                #expect(once.body == #"{"predictions":[{"y":10}]}"#)
                // Both tries die: 503 with the reason, and other requests are served meanwhile.
                async let hopeless = Self.predict(server.url, #"{"x": 5, "crash": "always"}"#, fetcher: fetcher)
                let fine = await Self.predict(server.url, #"{"x": 7}"#, fetcher: fetcher)
                #expect(fine.status == 200)
                let lost = await hopeless
                #expect(lost.status == 503, "\(lost.body)")
                #expect(lost.body.contains("SIGSEGV"), "\(lost.body)")
                // The workers come back.
                let deadline = ContinuousClock.now + .seconds(10)
                var after = await Self.predict(server.url, #"{"x": 8}"#, fetcher: fetcher)
                while after.status != 200, ContinuousClock.now < deadline {
                    try await Task.sleep(for: .milliseconds(100))
                    after = await Self.predict(server.url, #"{"x": 8}"#, fetcher: fetcher)
                }
                #expect(after.status == 200)
            }
        }
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr.contains("worker restarts: 3"), "\(result.stderr)")
    }

    @Test(.timeLimit(.minutes(15)))
    func sigtermDrainsRequestsInFlightAndExitsZero() async throws {
        nonisolated(unsafe) var answers: [Answer] = []
        let result = try await Self.serving(
            workers: 1, pause: 0.4, settings: "batch: { max_size: 2 }\nlimits: { deadline: 30s }"
        ) {
            server, process in
            try await Self.withClient { fetcher in
                async let inFlight = Array(0..<4).concurrentMap(maxConcurrency: 4) { i in
                    await Self.predict(server.url, #"{"x": \#(i)}"#, fetcher: fetcher)
                }
                // SIGTERM once all four are in: one at the worker, three queued behind it.
                let deadline = ContinuousClock.now + .seconds(10)
                while ContinuousClock.now < deadline {
                    let metrics = await fetcher.fetch(
                        FetchRequest(url: server.url + "/metrics", retry: RetryPolicy.none))
                    let text = metrics.response.map { String(buffer: $0.body) } ?? ""
                    if server.batches.count >= 1, text.contains("gather_serve_queue_records 3") { break }
                    try await Task.sleep(for: .milliseconds(10))
                }
                kill(process.processIdentifier, SIGTERM)
                answers = try await inFlight
                // Stopped: nothing listens any more.
                try await Task.sleep(for: .milliseconds(300))
                let refused = await fetcher.fetch(FetchRequest(url: server.url + "/healthz", retry: RetryPolicy.none))
                #expect(refused.response == nil)
            }
        }
        #expect(answers.map(\.status) == [200, 200, 200, 200], "\(answers.map(\.body))")
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr.contains("SIGTERM"), "\(result.stderr)")
    }

    @Test(.timeLimit(.minutes(15)))
    func slowBodiesAreCutOffAndOtherClientsAreServedMeanwhile() async throws {
        _ = try await Self.serving(workers: 1, settings: "limits: { read_timeout: 3s, max_connections: 8 }") {
            server, _ in
            let port = UInt16(server.url.split(separator: ":").last!)!
            // Three slowloris clients: headers promise 100 bytes of body, one byte arrives, then nothing.
            let slow = try (0..<3).map { _ in try RawConnection(port: port) }
            for connection in slow {
                connection.send("POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
            }
            try await Self.withClient { fetcher in
                for i in 0..<5 {
                    let answer = await Self.predict(server.url, #"{"x": \#(i)}"#, fetcher: fetcher)
                    #expect(answer.status == 200)
                    // Not held up by the slow clients (that would take their 3 s read_timeout, or forever).
                    #expect(answer.elapsed < .seconds(2), "\(answer.elapsed)")
                }
            }
            // Past read_timeout the server closes them.
            try await Task.sleep(for: .seconds(4))
            for connection in slow { #expect(connection.isClosedByPeer(), "a slow connection is still open") }
        }
    }

    @Test(.timeLimit(.minutes(15)))
    func aClientThatGoesAwayHasItsRecordsWithdrawnBeforeAWorkerSeesThem() async throws {
        let result = try await Self.serving(workers: 1, pause: 0.6, settings: "batch: { max_size: 1 }") {
            server, _ in
            let port = UInt16(server.url.split(separator: ":").last!)!
            try await Self.withClient { fetcher in
                // The worker is busy with the first request for 600 ms; the second waits in the queue, and its
                // client closes the connection.
                async let first = Self.predict(server.url, #"{"x": 1}"#, fetcher: fetcher)
                try await Self.waitForMetric(#"gather_serve_queue_records 0"#, batches: 1, server, fetcher)
                let gone = try RawConnection(port: port)
                let body = #"{"x": 77}"#
                gone.send(
                    "POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                        + "Content-Length: \(body.utf8.count)\r\n\r\n\(body)")
                try await Self.waitForMetric(#"gather_serve_queue_records 1"#, batches: 1, server, fetcher)
                gone.hangUp()
                try await Self.waitForMetric(
                    #"gather_serve_shed_total{reason="disconnected"} 1"#, batches: 1, server, fetcher)
                #expect(await first.status == 200)
                let third = await Self.predict(server.url, #"{"x": 3}"#, fetcher: fetcher)
                #expect(third.status == 200)
            }
            // The worker never saw the withdrawn record.
            #expect(server.received == [["1"], ["3"]], "\(server.received)")
        }
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr.contains("shed: disconnected 1"), "\(result.stderr)")
        #expect(result.stderr.contains("by status: 200 2, 499 1"), "\(result.stderr)")
    }

    /// Polls `/metrics` until it holds `line` and the workers have received `batches` batches (10 s at most).
    static func waitForMetric(_ line: String, batches: Int, _ server: Server, _ fetcher: Fetcher) async throws {
        let deadline = ContinuousClock.now + .seconds(10)
        var text = ""
        while ContinuousClock.now < deadline {
            let metrics = await fetcher.fetch(FetchRequest(url: server.url + "/metrics", retry: RetryPolicy.none))
            text = metrics.response.map { String(buffer: $0.body) } ?? ""
            if server.batches.count >= batches, text.contains(line) { return }
            try await Task.sleep(for: .milliseconds(10))
        }
        Issue.record("no \(line) in /metrics within 10 s:\n\(text)")
    }

    @Test(.timeLimit(.minutes(15)))
    func openInferenceV2TensorsInAndOut() async throws {
        _ = try await Self.serving(workers: 1) { server, _ in
            try await Self.withClient { fetcher in
                func post(_ path: String, _ body: String) async -> (status: Int, body: String) {
                    let result = await fetcher.fetch(
                        FetchRequest(
                            url: server.url + path, method: "POST",
                            headers: [(name: "Content-Type", value: "application/json")], body: Array(body.utf8),
                            retry: RetryPolicy.none))
                    return (result.response?.status ?? -1, result.response.map { String(buffer: $0.body) } ?? "")
                }
                // A batch of three along the first dimension: three records {"x": n}, in order.
                let infer = await post(
                    "/v2/models/doubler/infer",
                    #"{"id": "r1", "inputs": [{"name": "x", "shape": [3], "datatype": "INT64", "data": [1, 2, 3]}]}"#)
                #expect(infer.status == 200, "\(infer.body)")
                #expect(
                    infer.body
                        == #"{"model_name":"doubler","id":"r1","outputs":[{"name":"y","datatype":"INT64","shape":[3],"data":[2,4,6]}]}"#,
                    "\(infer.body)")
                #expect(server.received.last == ["1", "2", "3"], "\(server.received)")
                // Rows of a two-dimensional input, flat or nested.
                let rows = await post(
                    "/v2/models/doubler/infer",
                    #"{"inputs": [{"name": "x", "shape": [2, 2], "datatype": "FP32", "data": [[1, 2], [3, 4]]}]}"#)
                // Python's [1, 2] * 2 is [1, 2, 1, 2]: each row's answer is a list, so the output gains a dimension.
                #expect(rows.status == 200, "\(rows.body)")
                #expect(
                    rows.body.contains(#"{"name":"y","datatype":"INT64","shape":[2,4],"data":[1,2,1,2,3,4,3,4]}"#),
                    "\(rows.body)")
                let mismatch = await post(
                    "/v2/models/doubler/infer",
                    #"{"inputs": [{"name": "x", "shape": [2, 3], "datatype": "FP32", "data": [1, 2, 3]}]}"#)
                #expect(mismatch.status == 400)
                #expect(
                    mismatch.body.contains("input 'x': shape [2, 3] holds 6 values, data has 3"), "\(mismatch.body)")
                let wrongType = await post(
                    "/v2/models/doubler/infer",
                    #"{"inputs": [{"name": "x", "shape": [1], "datatype": "INT64", "data": ["one"]}]}"#)
                #expect(wrongType.status == 400)
                #expect(wrongType.body.contains(#"data[0] is \"one\", which is not INT64"#), "\(wrongType.body)")
                let unknown = await post("/v2/models/other/infer", #"{"inputs": []}"#)
                #expect(unknown.status == 404)
                #expect(unknown.body.contains("this server serves 'doubler'"), "\(unknown.body)")
                for path in ["/v2/health/live", "/v2/health/ready", "/v2/models/doubler", "/v2/models/doubler/ready"] {
                    let status = await fetcher.fetch(FetchRequest(url: server.url + path, retry: RetryPolicy.none))
                        .response?.status
                    #expect(status == 200, "\(path)")
                }
            }
        }
    }

    @Test func aBadModelFileOrAMissingCommandIsAUsageError() async throws {
        let scratch = try ScratchFolder()
        defer { scratch.remove() }
        let bad = try scratch.write(
            "bad.yaml", "name: m\nmodel: { comand: [python3, w.py] }\nbatch: { max_size: many }\n")
        let result = try await runGather(["serve", bad, "--check"])
        #expect(result.status == 2)
        #expect(result.stderr.contains("bad.yaml:2:"), "\(result.stderr)")
        #expect(result.stderr.contains("did you mean 'command'"), "\(result.stderr)")
        #expect(result.stderr.contains("bad.yaml:3:"), "\(result.stderr)")
        let missing = try scratch.write("missing.yaml", "name: m\nmodel: { command: [no-such-model-server-9] }\n")
        let check = try await runGather(["serve", missing, "--check"])
        #expect(check.status == 2)
        #expect(check.stderr.contains("no-such-model-server-9"), "\(check.stderr)")
    }

    @Test func checkRunsTheExampleOnce() async throws {
        let scratch = try ScratchFolder()
        defer { scratch.remove() }
        _ = try scratch.write("worker.py", Self.worker)
        try FileManager.default.createDirectory(atPath: scratch.file("marks"), withIntermediateDirectories: true)
        let file = try scratch.write(
            "model.yaml",
            """
            name: doubler
            model:
              command: [python3, worker.py]
              workers: 1
              env: { PYTHONPATH: "\(MapCommandTests.python)", MARKS: "\(scratch.file("marks"))" }
              example: { x: 21 }
            """)
        let result = try await runGather(["serve", file, "--check"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout == #"{"y":42}"# + "\n")
        #expect(result.stderr.contains("doubler answered in"), "\(result.stderr)")
    }
}

/// A plain TCP connection to 127.0.0.1, for clients that misbehave on purpose.
final class RawConnection: @unchecked Sendable {
    // @unchecked: `fd` is set once in init and only read after; each test uses a connection from one task.
    let fd: Int32

    init(port: UInt16) throws {
        self.fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(self.fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else { throw POSIXError(.ECONNREFUSED) }
    }

    deinit { close(self.fd) }

    /// Closes both directions: the server reads end of file.
    func hangUp() { shutdown(self.fd, Int32(SHUT_RDWR)) }

    func send(_ text: String) {
        let bytes = Array(text.utf8)
        _ = bytes.withUnsafeBytes { Glibc.send(self.fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }

    /// `true` when the server has closed the connection: a read returns end of file (or a reset), after any
    /// answer it sent first.
    func isClosedByPeer() -> Bool {
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            var poller = pollfd(fd: self.fd, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, 100) == 1 else { return false }
            let count = recv(self.fd, &buffer, buffer.count, 0)
            if count <= 0 { return true }
        }
    }
}
