import Foundation
import GatherCoordinator
import GatherCore
import GatherPostgres
import GatherTesting
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// `gather map --coordinator` and `gather worker` sharing one run through a real PostgreSQL: a worker SIGKILLed
/// mid-run loses its units to the other, and every task's result is committed exactly once.
@Suite struct CoordinatedMapCommandTests {
    /// Squares `n` after `delay` seconds and says which process did it.
    static let worker = """
        import os, time
        from gather_worker import serve
        def handle(records):
            out = []
            for r in records:
                time.sleep(r.get("delay", 0))
                out.append({"square": r["n"] * r["n"], "pid": os.getpid()})
            return out
        serve(handle)
        """

    @Test(.timeLimit(.minutes(2)))
    func aWorkerOfAnotherVersionRefusesToJoin() async throws {
        let url = try await TestPostgres.freshDatabase("coordinated_version")
        try await TestPostgres.withServer(url) { server in
            let coordinator = Coordinator(server: server)
            try await coordinator.install()
            let spec = Value.object(
                [
                    "command": .array([.string("true")]), "table": .string("results"),
                    "gather_version": .string("0.0.1"),
                ])
            try await coordinator.register(run: "map-old", kind: "map", configHash: "h", spec: spec)
            try await coordinator.enqueue(run: "map-old", payloads: [.object(["tasks": .array([])])])
        }
        let result = try await runGather(["worker", url.description, "--workers", "1"])
        #expect(result.status == 2, "\(result.stderr)")
        #expect(result.stderr.contains("was started by Gather 0.0.1"), "\(result.stderr)")
        #expect(result.stderr.contains("run the same version on every host"), "\(result.stderr)")
    }

    @Test(.timeLimit(.minutes(15)))
    func aKilledWorkersUnitsAreRedoneAndEveryResultIsWrittenOnce() async throws {
        try await oneKillTestAtATime { try await self.body() }
    }

    private func body() async throws {
        let scratch = try ScratchFolder()
        defer { scratch.remove() }
        _ = try scratch.write("worker.py", Self.worker)
        let tasks = (1...60).map { #"{"n": \#($0), "delay": 0.1}"# } + ["{not json"]
        let input = try scratch.write("tasks.jsonl", tasks.joined(separator: "\n") + "\n")
        let url = try await TestPostgres.freshDatabase("coordinated_map").description
        let common = ["--workers", "1", "--lease", "2s", "--quiet"]
        let env = ["--env", "PYTHONPATH=\(MapCommandTests.python)"]
        // The doomed worker waits for the run, works on it, and is SIGKILLed once it has committed a unit and
        // holds another.
        async let doomed = runGather(["worker", url, "--name", "doomed", "--wait"] + common) { process in
            try await TestPostgres.withServer(try PostgresURL(url)) { server in
                let deadline = ContinuousClock.now + .seconds(60)
                while ContinuousClock.now < deadline {
                    let done = (try? await server.query("SELECT count(DISTINCT pid) FROM results"))?.first?.first
                    let held =
                        (try? await server.query(
                            "SELECT count(*) FROM gather_units WHERE owner = 'doomed' AND state = 'leased'"))?.first?
                        .first
                    // Both workers' processes have results, and the doomed one holds a unit.
                    if (done?.intValue ?? 0) >= 2, (held?.intValue ?? 0) >= 1 { break }
                    try await Task.sleep(for: .milliseconds(20))
                }
            }
            kill(process.processIdentifier, SIGKILL)
        }
        let port = try freeLoopbackPort()
        let summaryPath = scratch.file("summary.json")
        nonisolated(unsafe) var metrics: [String: Double] = [:]
        let map = try await runGather(
            [
                "map", input, "--command", "python3 " + scratch.file("worker.py"), "--into", url, "--coordinator",
                url, "--table", "results", "--name", "survivor", "--metrics", "127.0.0.1:\(port)",
                "--metrics-linger", "2s", "--summary-json", summaryPath,
            ] + common + env
        ) { _ in
            metrics = try await scrapeDuringAndAfter(
                "http://127.0.0.1:\(port)/metrics", once: "gather_worker_units_total", summary: summaryPath,
                within: .seconds(60)
            ).after
        }
        let killed = try await doomed
        #expect(killed.status == SIGKILL || killed.status == 128 + SIGKILL, "\(killed.stderr)")
        // The bad line is an error row: exit 1 from the process that committed it, 0 from the other.
        #expect(map.status == 0 || map.status == 1, "\(map.stderr)")
        try await TestPostgres.withServer(try PostgresURL(url)) { server in
            let rows = try await server.query(
                "SELECT count(*), count(DISTINCT input_line), sum(square), count(DISTINCT pid) FROM results")
            // 1² + … + 60² = 73,810; two processes did the work: the killed worker's and the survivor's.
            #expect(rows == [[.int(60), .int(60), .int(73_810), .int(2)]], "\(rows)")
            #expect(try await server.query("SELECT count(*) FROM _gather_errors") == [[.int(1)]])
            #expect(try await server.query("SELECT state FROM gather_runs") == [[.string("done")]])
            #expect(try await server.query("SELECT count(*) FROM gather_units") == [[.int(0)]])
        }
        // The survivor's summary and its metrics agree.
        let summary = try #require(
            try JSONSerialization.jsonObject(with: Data(try scratch.read("summary.json").utf8)) as? [String: Any])
        let run = try #require((summary["runs"] as? [[String: Any]])?.first)
        let units = try #require(run["units"] as? Int)
        let fenced = try #require(run["fenced"] as? Int)
        #expect(units >= 1 && units < 61, "the doomed worker did some units: \(run)")
        #expect(metrics["gather_worker_units_total"] == Double(units + fenced), "\(metrics)")
        #expect(metrics["gather_worker_tasks_total"] == Double(try #require(run["tasks"] as? Int)))
        #expect((metrics["gather_commits_total"] ?? 0) >= Double(units))
        let status = try await runGather(["status", url])
        #expect(status.stdout.contains("done"), "\(status.stdout)")
        #expect(status.stdout.contains("survivor") && status.stdout.contains("doomed"), "\(status.stdout)")
    }
}
