import Foundation
import GatherCore
import GatherFormats
import GatherPostgres
import GatherSQLite
import GatherStream
import GatherTesting
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Stream resources end to end: `gather run` against a real SSE feed (in-process, with drops, duplicates, bad
/// events and a stall) and a real growing file, into SQLite; SIGKILL at seeded points; SIGINT.
@Suite struct StreamCommandTests {
    static func pipeline(url: String, maxDelay: String = "5s", allowed: String = "0s", extra: String = "") -> String {
        """
        name: sensors
        destination: sqlite:sensors.db
        resources:
          - name: readings
            stream:
              type: sse
              url: \(url)
              idle_timeout: 2s
              commit_interval: 100ms
        \(extra)
            event_time: ts
            watermark: { max_delay: \(maxDelay) }
            window:
              tumbling: 10s
              key: sensor_id
              aggregate: { n: count(), total: sum(temp), hi: max(temp), p50: quantile(temp, 0.5) }
              late: { allowed: \(allowed) }
        """
    }

    /// Every valid event once in its window, whatever the feed does: a dropped connection every 700 events
    /// (resumed by Last-Event-ID), a duplicate every 250 (dropped), bad JSON every 1000 (error rows), and one
    /// 5 s stall (the connection is reopened after the 2 s idle timeout). Idle exits are generous: on the busy CI
    /// machine the first event can take over a second to arrive.
    /// (Child processes busy for seconds: they take turns with the kill tests, whose timings they would skew.)
    @Test(.timeLimit(.minutes(15)))
    func windowRowsCountEveryEventOnceDespiteDropsDuplicatesAndBadEvents() async throws {
        try await oneKillTestAtATime {
            try await self.windowRowsCountEveryEventOnceDespiteDropsDuplicatesAndBadEventsBody()
        }
    }

    private func windowRowsCountEveryEventOnceDespiteDropsDuplicatesAndBadEventsBody() async throws {
        let scratch = try ScratchFolder()
        defer { scratch.remove() }
        let feed = SensorStream.Configuration(
            count: 5_000, keys: 5, jitter: 3_000, batch: 50, dropEvery: 700, duplicateEvery: 250,
            malformedEvery: 1_000, stallAt: 2_500, stallFor: .seconds(5))
        try await SensorStream.withServer(feed) { stream in
            let pipeline = try scratch.write("sensors.yaml", Self.pipeline(url: stream.url))
            let result = try await runGather(["run", pipeline, "--idle-exit", "4s", "--flush-windows"])
            // Bad events are error rows: completed, with errors (exit 1).
            #expect(result.status == 1, "\(result.stderr)")
            #expect(result.stderr.contains("completed_with_errors"), "\(result.stderr)")
            // The stream's summary line: what was committed, the reconnects, the duplicates, close → commit latency.
            #expect(result.stderr.contains("readings (stream): 5000 events"), "\(result.stderr)")
            #expect(result.stderr.contains("duplicates dropped, close→commit p50"), "\(result.stderr)")
            #expect(stream.stats.connections >= 9, "\(stream.stats.connections) connections")
            Self.expectEveryReconnectResumes(stream.stats.lastEventIDs, atLeast: 7)
        }
        // The expectation, computed here from the feed's own definition.
        var expected: [String: (n: Int, total: Double, hi: Double)] = [:]
        for n in 1...5_000 where n % 1_000 != 0 {
            let event = try #require(
                try JSONSerialization.jsonObject(with: Data(SensorStream.event(n, feed).utf8)) as? [String: Any])
            let ts = (event["ts"] as! NSNumber).int64Value
            let temp = (event["temp"] as! NSNumber).doubleValue
            let key = "\(event["sensor_id"]!)|\(ts / 10_000 * 10_000)"
            var entry = expected[key] ?? (0, 0, -1)
            entry.n += 1
            entry.total += temp
            entry.hi = max(entry.hi, temp)
            expected[key] = entry
        }
        let db = try SQLiteDatabase(path: scratch.file("sensors.db"))
        let rows = try db.query(
            "SELECT sensor_id, CAST(strftime('%s', window_start) AS INTEGER) * 1000, n, total, hi, p50 FROM readings")
        #expect(rows.count == expected.count)
        for row in rows {
            let key = "\(row[0].stringValue ?? "")|\(row[1].intValue ?? 0)"
            guard let want = expected[key] else {
                Issue.record("unexpected window \(key)")
                continue
            }
            #expect(row[2].intValue == Int64(want.n), "\(key)")
            #expect(abs((row[3].doubleValue ?? 0) - want.total) < 1e-6, "\(key)")
            #expect(row[4].doubleValue == want.hi, "\(key)")
            #expect(row[5].doubleValue != nil)
        }
        #expect(try db.query("SELECT count(*) FROM sqlite_master WHERE name = 'readings_late'") == [[0]])
        let errors = try db.query("SELECT code, request, payload FROM _gather_errors ORDER BY request")
        #expect(errors.count == 5)
        #expect(errors.first?[0] == "invalid_json")
        #expect(errors.first?[1].stringValue == "\"1000\"", "the source position names the event")
        #expect(errors.first?[2].stringValue?.contains("oops 1000") == true)
        // Nothing counted twice: the committed event count is every event once (duplicates dropped at the source).
        #expect(try db.query("SELECT sum(records) FROM _gather_resource_runs") == [[5_000]])
    }

    /// The same feed over WebSocket: a subscribe message on every connect, a close (1011) every 700 messages, a
    /// duplicate every 250, and a SIGKILL mid-stream. Each reconnect and the restart ask for what follows the
    /// newest sequence number (`?since=N`), so every event lands in its window exactly once.
    @Test(.timeLimit(.minutes(15)))
    func aWebSocketFeedResumesBySequenceThroughDropsDuplicatesAndAKill() async throws {
        try await oneKillTestAtATime { try await self.aWebSocketFeedResumesBySequenceBody() }
    }

    private func aWebSocketFeedResumesBySequenceBody() async throws {
        let scratch = try ScratchFolder()
        defer { scratch.remove() }
        let feed = SensorStream.Configuration(
            count: 6_000, keys: 5, jitter: 3_000, rate: 5_000, dropEvery: 700, duplicateEvery: 250,
            subscribe: "readings")
        try await SensorStream.withServer(feed) { stream in
            let pipeline = try scratch.write(
                "sensors.yaml",
                Self.windowPipeline(
                    """
                    type: websocket
                    url: \(stream.webSocketURL)
                    subscribe: '{"op": "subscribe", "channel": "readings", "after": "{position}"}'
                    sequence: seq
                    resume: since
                    ping_interval: 1s
                    commit_interval: 100ms
                    """))
            try await Self.runKilledOnce(pipeline)
            let result = try await runGather(["run", pipeline, "--idle-exit", "3s", "--flush-windows"])
            #expect(result.status == 0, "\(result.stderr)")
            #expect(result.stderr.contains("duplicates dropped"), "\(result.stderr)")
            #expect(stream.stats.connections >= 9, "\(stream.stats.connections) connections")
            // Every connection subscribes; only the one the SIGKILL cut can end before its subscribe went out.
            #expect(
                stream.stats.connections - stream.stats.subscriptions <= 1,
                "\(stream.stats.subscriptions) subscriptions for \(stream.stats.connections) connections")
            Self.expectEveryReconnectResumes(stream.stats.lastEventIDs, atLeast: 7)
        }
        try Self.expectExactWindows(feed, in: scratch.file("sensors.db"))
    }

    /// An HTTP resource polled every 50 ms, new readings told by their `seq` cursor (`?since=N`), and a SIGKILL
    /// mid-stream: every reading once in its window, and an unchanged resource answered 304.
    @Test(.timeLimit(.minutes(15)))
    func aPolledResourceDeliversEachNewRecordOnceThroughAKill() async throws {
        try await oneKillTestAtATime { try await self.aPolledResourceBody() }
    }

    private func aPolledResourceBody() async throws {
        let scratch = try ScratchFolder()
        defer { scratch.remove() }
        let feed = SensorStream.Configuration(count: 6_000, keys: 5, jitter: 3_000, batch: 250, rate: 5_000)
        try await SensorStream.withServer(feed) { stream in
            let pipeline = try scratch.write(
                "sensors.yaml",
                Self.windowPipeline(
                    """
                    type: poll
                    url: \(stream.pollURL)
                    interval: 50ms
                    cursor: seq
                    cursor_param: since
                    commit_interval: 100ms
                    """))
            try await Self.runKilledOnce(pipeline)
            let result = try await runGather(["run", pipeline, "--idle-exit", "2s", "--flush-windows"])
            #expect(result.status == 0, "\(result.stderr)")
            #expect(stream.stats.notModified > 0, "\(stream.stats.polls) polls, none answered 304")
        }
        try Self.expectExactWindows(feed, in: scratch.file("sensors.db"))
    }

    /// An outbox table written 200 rows at a time with a NOTIFY after each, read by `postgres_notify` into
    /// windows, with a SIGKILL mid-stream: every row once in its window (the catch-up query after the committed
    /// cursor finds what was written while nobody listened).
    @Test(.timeLimit(.minutes(15)))
    func aPostgresOutboxIsReadExactlyThroughAKill() async throws {
        try await oneKillTestAtATime { try await self.aPostgresOutboxBody() }
    }

    private func aPostgresOutboxBody() async throws {
        let scratch = try ScratchFolder()
        defer { scratch.remove() }
        let feed = SensorStream.Configuration(count: 6_000, keys: 5, jitter: 3_000)
        let url = try await TestPostgres.freshDatabase("notify")
        try await TestPostgres.withServer(url) { server in
            try await server.execute(
                "CREATE TABLE outbox (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, sensor_id text, ts bigint, "
                    + "temp double precision, seq int)")
            let pipeline = try scratch.write(
                "sensors.yaml",
                Self.windowPipeline(
                    """
                    type: postgres_notify
                    url: "\(url)"
                    channel: readings
                    table: outbox
                    catch_up_interval: 1s
                    commit_interval: 100ms
                    """))
            // The writer: 30 transactions of 200 rows, one every 40 ms, each followed by a NOTIFY.
            let writer = Task {
                for start in stride(from: 1, through: feed.count, by: 200) {
                    let rows = (start..<min(start + 200, feed.count + 1)).map { SensorStream.event($0, feed) }
                    try await server.execute(
                        "INSERT INTO outbox (sensor_id, ts, temp, seq) SELECT x->>'sensor_id', (x->>'ts')::bigint, "
                            + "(x->>'temp')::float8, (x->>'seq')::int FROM jsonb_array_elements($1::jsonb) AS x",
                        [.string("[" + rows.joined(separator: ",") + "]")])
                    try await server.execute("NOTIFY readings")
                    try await Task.sleep(for: .milliseconds(40))
                }
            }
            try await Self.runKilledOnce(pipeline)
            try await writer.value
            let result = try await runGather(["run", pipeline, "--idle-exit", "2s", "--flush-windows"])
            #expect(result.status == 0, "\(result.stderr)")
        }
        try Self.expectExactWindows(feed, in: scratch.file("sensors.db"))
    }

    /// A pipeline of one stream resource, `readings`, whose `stream:` keys are `source` (YAML lines), into 10 s
    /// tumbling windows per sensor of `count()` and `sum(temp)`.
    static func windowPipeline(_ source: String) -> String {
        let indented = source.split(separator: "\n").map { "      " + $0 }.joined(separator: "\n")
        return """
            name: sensors
            destination: sqlite:sensors.db
            resources:
              - name: readings
                stream:
            \(indented)
                event_time: ts
                watermark: { max_delay: 5s }
                window:
                  tumbling: 10s
                  key: sensor_id
                  aggregate: { n: count(), total: sum(temp) }
            """
    }

    /// Runs `pipeline` and SIGKILLs it 700 ms in, while events flow.
    static func runKilledOnce(_ pipeline: String) async throws {
        let killed = try await runGather(["run", pipeline, "--idle-exit", "5s", "--quiet"]) { process in
            try await Task.sleep(for: .milliseconds(700))
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        }
        #expect(killed.status != 0, "the first run should have been killed mid-stream: \(killed.stderr)")
    }

    /// What retrying cannot fix ends the run with the reason instead of retrying forever: an outbox table that
    /// does not exist, a WebSocket URL that is not ws://.
    @Test(.timeLimit(.minutes(2)))
    func aSourceThatCannotWorkEndsTheRunWithTheReason() async throws {
        let scratch = try ScratchFolder()
        defer { scratch.remove() }
        let url = try await TestPostgres.freshDatabase("notify_missing")
        let missing = try scratch.write(
            "missing.yaml",
            Self.windowPipeline("type: postgres_notify\nurl: \"\(url)\"\nchannel: c\ntable: nothere"))
        let started = ContinuousClock.now
        let result = try await runGather(["run", missing, "--idle-exit", "30s"])
        #expect(result.status != 0)
        #expect(result.stderr.contains(#"relation "nothere" does not exist"#), "\(result.stderr)")
        #expect(started.duration(to: .now) < .seconds(20), "it should not wait for the idle exit")
        let http = try scratch.write(
            "http.yaml", Self.windowPipeline("type: websocket\nurl: http://127.0.0.1:1/ws"))
        let wrong = try await runGather(["run", http, "--idle-exit", "30s"])
        #expect(wrong.status != 0)
        #expect(wrong.stderr.contains("is not a WebSocket URL"), "\(wrong.stderr)")
    }

    /// The `n` and `total` of every 10 s window of the feed's events, computed here from the feed's definition,
    /// equal the rows in `path`; and every event was committed once.
    /// Once the client has seen an event, every later connection asks for what follows it. (A connection that
    /// ends before the first event arrives, say on a busy machine, has nothing to resume from.)
    static func expectEveryReconnectResumes(
        _ ids: [String?], atLeast resumes: Int, sourceLocation: SourceLocation = #_sourceLocation
    ) {
        let fromFirstResume = ids.dropFirst().drop { $0 == nil }
        #expect(
            fromFirstResume.allSatisfy { $0 != nil }, "every reconnect resumes: \(ids)", sourceLocation: sourceLocation)
        #expect(fromFirstResume.count >= resumes, "\(ids)", sourceLocation: sourceLocation)
    }

    static func expectExactWindows(_ feed: SensorStream.Configuration, in path: String) throws {
        var expected: [String: (n: Int, total: Double)] = [:]
        for n in 1...feed.count {
            let event = try #require(
                try JSONSerialization.jsonObject(with: Data(SensorStream.event(n, feed).utf8)) as? [String: Any])
            let ts = (event["ts"] as! NSNumber).int64Value
            let key = "\(event["sensor_id"]!)|\(ts / 10_000 * 10_000)"
            var entry = expected[key] ?? (0, 0)
            entry.n += 1
            entry.total += (event["temp"] as! NSNumber).doubleValue
            expected[key] = entry
        }
        let db = try SQLiteDatabase(path: path)
        let rows = try db.query(
            "SELECT sensor_id, CAST(strftime('%s', window_start) AS INTEGER) * 1000, n, total FROM readings")
        #expect(rows.count == expected.count)
        for row in rows {
            let key = "\(row[0].stringValue ?? "")|\(row[1].intValue ?? 0)"
            let want = try #require(expected[key], "unexpected window \(key)")
            #expect(row[2].intValue == Int64(want.n), "\(key)")
            #expect(abs((row[3].doubleValue ?? 0) - want.total) < 1e-6, "\(key)")
        }
        #expect(try db.query("SELECT sum(records) FROM _gather_resource_runs") == [[Value.int(Int64(feed.count))]])
    }

    /// SIGKILL `gather run` at 10 seeded points while events flow, run again each time: the window rows and the
    /// late rows equal an uninterrupted run's, exactly, and every event was committed once.
    @Test(.timeLimit(.minutes(15)))
    func killedStreamsResumeToExactlyTheUninterruptedWindows() async throws {
        let scratch = try ScratchFolder()
        defer { scratch.remove() }
        // Jitter beyond max_delay makes late events: some within the allowed lateness (row updates), some after.
        let feed = SensorStream.Configuration(
            count: 40_000, keys: 20, jitter: 6_000, batch: 100, rate: 8_000, duplicateEvery: 997)
        func tables(_ path: String) throws -> ([[Value]], [[Value]], [[Value]]) {
            let db = try SQLiteDatabase(path: path)
            return (
                try db.query(
                    "SELECT sensor_id, window_start, window_end, n, total, hi, p50 FROM readings ORDER BY 1, 2"),
                try db.query("SELECT seq, _event_time, _late_reason FROM readings_late ORDER BY seq"),
                try db.query("SELECT sum(records) FROM _gather_resource_runs")
            )
        }
        try await oneKillTestAtATime {
            try await SensorStream.withServer(feed) { stream in
                let yaml = Self.pipeline(url: stream.url, maxDelay: "2s", allowed: "2s")
                let cleanFolder = scratch.file("clean")
                try FileManager.default.createDirectory(atPath: cleanFolder, withIntermediateDirectories: true)
                let clean = cleanFolder + "/sensors.yaml"
                try yaml.write(toFile: clean, atomically: true, encoding: .utf8)
                let first = try await runGather(["run", clean, "--idle-exit", "4s", "--flush-windows", "--quiet"])
                #expect(first.status == 0, "\(first.stderr)")
                let reference = try tables(cleanFolder + "/sensors.db")
                #expect(reference.0.count > 1_000)
                #expect(reference.1.count > 10, "the jitter should make some events too late")
                #expect(reference.2 == [[40_000]])

                let killedFolder = scratch.file("killed")
                try FileManager.default.createDirectory(atPath: killedFolder, withIntermediateDirectories: true)
                let killedPipeline = killedFolder + "/sensors.yaml"
                try yaml.write(toFile: killedPipeline, atomically: true, encoding: .utf8)
                var generator = SeededGenerator(seed: 13)
                var kills = 0
                for _ in 0..<10 {
                    let delay = Double.random(in: 0.25...0.9, using: &generator)
                    let result = try await runGather(["run", killedPipeline, "--idle-exit", "1s", "--quiet"]) {
                        process in
                        try await Task.sleep(for: .milliseconds(Int(delay * 1000)))
                        if process.isRunning {
                            kill(process.processIdentifier, SIGKILL)
                        }
                    }
                    if result.status == -1 || result.status == 9 || result.status == 137 { kills += 1 }
                }
                let last = try await runGather([
                    "run", killedPipeline, "--idle-exit", "4s", "--flush-windows", "--quiet",
                ])
                #expect(last.status == 0, "\(last.stderr)")
                #expect(kills >= 8, "only \(kills) runs were killed mid-stream")
                let resumed = try tables(killedFolder + "/sensors.db")
                #expect(resumed.0 == reference.0, "window rows differ after \(kills) kills")
                #expect(resumed.1 == reference.1, "late rows differ after \(kills) kills")
                #expect(resumed.2 == [[40_000]], "events committed more (or less) than once")
            }
        }
    }

    /// A growing JSON-lines file: lines appended while gather is stopped and after a rotation (rename and a new
    /// file) are each stored once; a bad line is an error row; SIGINT commits and exits 130.
    /// (Child processes busy for seconds: they take turns with the kill tests, whose timings they would skew.)
    @Test(.timeLimit(.minutes(15)))
    func aTailedFileIsReadOnceThroughStopsAndRotation() async throws {
        try await oneKillTestAtATime { try await self.aTailedFileIsReadOnceThroughStopsAndRotationBody() }
    }

    private func aTailedFileIsReadOnceThroughStopsAndRotationBody() async throws {
        let scratch = try ScratchFolder()
        defer { scratch.remove() }
        let log = scratch.file("readings.jsonl")
        func append(_ lines: [String], to path: String) throws {
            let handle =
                FileHandle(forWritingAtPath: path)
                ?? {
                    _ = FileManager.default.createFile(atPath: path, contents: nil)
                    return FileHandle(forWritingAtPath: path)!
                }()
            handle.seekToEndOfFile()
            handle.write(Data(lines.joined().utf8))
            try handle.close()
        }
        func lines(_ range: ClosedRange<Int>) -> [String] { range.map { "{\"seq\":\($0),\"v\":\($0 * 2)}\n" } }
        try append(lines(1...100) + ["not json\n"], to: log)
        let pipeline = try scratch.write(
            "tail.yaml",
            """
            name: tailing
            destination: sqlite:out.db
            resources:
              - name: readings
                stream: { type: tail, path: readings.jsonl, poll_interval: 20ms, commit_interval: 50ms }
                primary_key: seq
                write: merge
            """)
        // First run: stopped by SIGINT once the first lines are in.
        let stopped = try await runGather(["run", pipeline]) { process in
            try await Task.sleep(for: .milliseconds(1_500))
            kill(process.processIdentifier, SIGINT)
        }
        #expect(stopped.status == 130, "\(stopped.stderr)")
        // Lines written while stopped, then a rotation: the old file gets two more lines before it is renamed.
        try append(lines(101...150) + ["{\"seq\":151,\"v\":302"], to: log)  // the last line has no newline yet
        let second = try await runGather(["run", pipeline, "--quiet"]) { process in
            try await Task.sleep(for: .milliseconds(800))
            try append(["}\n"] + lines(152...160), to: log)
            try FileManager.default.moveItem(atPath: log, toPath: log + ".1")
            try append(lines(161...200), to: log)
            try await Task.sleep(for: .milliseconds(800))
            kill(process.processIdentifier, SIGTERM)
        }
        #expect(second.status == 130, "\(second.stderr)")
        // The third run continues the interrupted run, whose bad line is an error row: exit 1.
        let third = try await runGather(["run", pipeline, "--idle-exit", "2s"])
        #expect(third.status == 1, "\(third.stderr)")
        #expect(third.stderr.contains("completed_with_errors"), "\(third.stderr)")
        let db = try SQLiteDatabase(path: scratch.file("out.db"))
        #expect(
            try db.query("SELECT count(*), count(DISTINCT seq), min(seq), max(seq), sum(v = seq * 2) FROM readings")
                == [
                    [200, 200, 1, 200, 200]
                ])
        let errors = try db.query("SELECT code, payload FROM _gather_errors")
        #expect(errors == [["invalid_json", "not json"]])
        // Every line committed once: 200 records plus the bad one.
        #expect(try db.query("SELECT sum(records) FROM _gather_resource_runs") == [[201]])
    }

    /// A source far ahead of the commits (a backlog bigger than the 65,536-event buffer) waits in the buffer;
    /// SIGINT must still stop the run promptly, with what was read committed.
    @Test(.timeLimit(.minutes(15)))
    func aStopIsPromptWhileTheSourceWaitsOnAFullBuffer() async throws {
        try await oneKillTestAtATime {
            let scratch = try ScratchFolder()
            defer { scratch.remove() }
            let lines = (1...200_000).map { "{\"seq\":\($0)}\n" }.joined()
            _ = try scratch.write("backlog.jsonl", lines)
            let pipeline = try scratch.write(
                "backlog.yaml",
                """
                name: backlog
                destination: sqlite:out.db
                resources:
                  - name: lines
                    stream: { type: tail, path: backlog.jsonl, commit_interval: 100ms }
                """)
            let started = ContinuousClock.now
            let stopped = try await runGather(["run", pipeline, "--quiet"]) { process in
                try await Task.sleep(for: .milliseconds(1_500))
                kill(process.processIdentifier, SIGINT)
            }
            #expect(stopped.status == 130, "\(stopped.stderr)")
            #expect(started.duration(to: .now) < .seconds(30), "the stop waited on the full buffer")
            let db = try SQLiteDatabase(path: scratch.file("out.db"))
            let rows = try db.query("SELECT count(*) FROM lines").first?.first?.intValue ?? 0
            let records = try db.query("SELECT sum(records) FROM _gather_resource_runs").first?.first?.intValue
            #expect(rows > 0 && rows < 200_000, "\(rows) rows")
            #expect(records == rows, "every committed event is one row")
        }
    }

    /// Two gateways feed one stream, the second 30 s behind the first. With one watermark for the stream, the
    /// lagging gateway's events are all behind it and go to the late table. With `partition: gateway` each
    /// gateway keeps its own time and the watermark is the slower one's: nothing is late, every window is
    /// whole. An event without the partition field is an error row.
    @Test(.timeLimit(.minutes(2)))
    func aLaggingPartitionHoldsTheWatermarkInsteadOfBeingLate() async throws {
        let scratch = try ScratchFolder()
        defer { scratch.remove() }
        var lines: [String] = []
        for second in 0..<120 {
            // (b's first: a partition first seen after the watermark passed its time finds its events late.)
            lines.append("{\"gateway\":\"b\",\"sensor\":\"b\",\"ts\":\(second)}")
            lines.append("{\"gateway\":\"a\",\"sensor\":\"a\",\"ts\":\(second + 30)}")
        }
        lines.insert("{\"sensor\":\"b\",\"ts\":40}", at: 100)
        try (lines.joined(separator: "\n") + "\n").write(
            toFile: scratch.file("feed.jsonl"), atomically: true, encoding: .utf8)
        func run(_ name: String, partition: String, status: Int32) async throws -> SQLiteDatabase {
            let pipeline = try scratch.write(
                name + ".yaml",
                """
                name: gateways
                destination: sqlite:\(name).db
                resources:
                  - name: readings
                    stream: { type: tail, path: feed.jsonl, poll_interval: 20ms, commit_interval: 50ms }
                    event_time: ts
                    watermark: { max_delay: 1s\(partition) }
                    window:
                      tumbling: 10s
                      key: sensor
                      aggregate: { n: count() }
                """)
            let result = try await runGather(["run", pipeline, "--idle-exit", "2s", "--flush-windows", "--quiet"])
            #expect(result.status == status, "\(result.stderr)")
            return try SQLiteDatabase(path: scratch.file(name + ".db"))
        }
        func lateRows(_ db: SQLiteDatabase) throws -> Int64 {
            guard try db.query("SELECT 1 FROM sqlite_master WHERE name = 'readings_late'").count == 1 else { return 0 }
            return try db.query("SELECT count(*) FROM readings_late").first?.first?.intValue ?? -1
        }
        // The event without a gateway is an error row: exit 1.
        let partitioned = try await run("partitioned", partition: ", partition: gateway", status: 1)
        #expect(try lateRows(partitioned) == 0)
        // Every window of both gateways whole: 12 windows of 10 events each, the first of "a" from 30 s.
        #expect(
            try partitioned.query("SELECT sensor, count(*), min(n), max(n), sum(n) FROM readings GROUP BY 1") == [
                ["a", 12, 10, 10, 120], ["b", 12, 10, 10, 120],
            ])
        #expect(
            try partitioned.query("SELECT code FROM _gather_errors") == [["missing_partition"]])
        let single = try await run("single", partition: "", status: 0)
        let late = try lateRows(single)
        #expect(late > 100, "one watermark for both: gateway b's events are late (\(late))")
        #expect(try single.query("SELECT count(*) FROM _gather_errors") == [[0]])
    }

    @Test func streamConfigurationErrorsNameTheLine() async throws {
        let scratch = try ScratchFolder()
        defer { scratch.remove() }
        let pipeline = try scratch.write(
            "bad.yaml",
            """
            name: sensors
            destination: sqlite:out.db
            resources:
              - name: readings
                stream: { type: sse, url: "http://127.0.0.1:1/events" }
                http: { path: /x }
                window:
                  tumbling: 1m
                  aggregate: { n: count(), m: median(temp) }
              - name: other
                http: { path: /y, base_url: "http://127.0.0.1:1" }
                window: { tumbling: 1m, aggregate: { n: count() } }
            """)
        let result = try await runGather(["validate", pipeline])
        #expect(result.status == 2)
        #expect(result.stderr.contains("bad.yaml:9:"), "\(result.stderr)")
        #expect(result.stderr.contains("unknown aggregate 'median'"), "\(result.stderr)")
        #expect(result.stderr.contains("a stream resource takes no http"), "\(result.stderr)")
        #expect(result.stderr.contains("window belongs to stream resources"), "\(result.stderr)")
    }
}

/// The Redis source against the real server `scripts/test` starts (`GATHER_REDIS_URL`).
@Suite struct RedisStreamCommandTests {
    static func redisURL() throws -> String { try serverURL("GATHER_REDIS_URL", "Redis", script: "redis-server") }

    static func pipeline(url: String, stream: String, group: String) -> String {
        """
        name: sensors
        destination: sqlite:sensors.db
        resources:
          - name: readings
            stream: { type: redis, url: "\(url)", stream: \(stream), group: \(group), count: 250, block: 200ms, commit_interval: 100ms }
            event_time: ts
            watermark: { max_delay: 2s }
            window:
              tumbling: 10s
              key: sensor_id
              aggregate: { n: count(), total: sum(temp), hi: max(temp) }
              late: { allowed: 1s }
        """
    }

    /// A key that holds another type cannot become a stream by retrying: the run ends at once and says why.
    @Test(.timeLimit(.minutes(2)))
    func aKeyOfAnotherTypeEndsTheRunWithTheReason() async throws {
        let url = try Self.redisURL()
        let scratch = try ScratchFolder()
        defer { scratch.remove() }
        let key = "not-a-stream-" + String(UInt32.random(in: 0...UInt32.max), radix: 36)
        let client = try await RESPClient.connect(url: url)
        _ = try await client.send(["SET", key, "a string"])
        await client.close()
        let pipeline = try scratch.write("sensors.yaml", Self.pipeline(url: url, stream: key, group: "g"))
        try await expectRunEndsAtOnce(pipeline, saying: ["WRONGTYPE"])
    }

    /// Two consumer groups read one stream: one uninterrupted, one SIGKILLed at seeded points and run again. Both
    /// end with the same window and late rows, every entry committed once and nothing left pending.
    @Test(.timeLimit(.minutes(10)))
    func killedRedisConsumersResumeExactlyAndLeaveNothingPending() async throws {
        let url = try Self.redisURL()
        let scratch = try ScratchFolder()
        defer { scratch.remove() }
        let key = "readings-\(UInt32.random(in: 0...UInt32.max))"
        let client = try await RESPClient.connect(url: url)
        let feed = SensorStream.Configuration(count: 30_000, keys: 10, jitter: 4_000)
        for n in 1...feed.count {
            let event = try JSONReader.parse(SensorStream.event(n, feed))
            var command = ["XADD", key, "*"]
            for field in ["sensor_id", "ts", "temp", "seq"] {
                command += [field, event[field].map { $0.stringValue ?? JSONWriter.string($0) } ?? ""]
            }
            // Every 5,000th entry is missing its event time: an error row, and the stream goes on.
            if n % 5_000 == 0 { command = Array(command.prefix(5)) + Array(command.suffix(4)) }
            try await client.send(command)
        }
        try await expectKilledRunsMatchAnUninterruptedRun(in: scratch) { group in
            Self.pipeline(url: url, stream: key, group: group)
        } then: {
            // Every entry acknowledged after its commit: nothing pending for either group.
            for group in ["clean", "killed"] {
                let pending = try await client.send(["XPENDING", key, group])
                #expect(pending.elements?.first == .integer(0), "\(group): \(pending)")
            }
        }
        try await client.send(["DEL", key])
        await client.close()
    }
}

extension RedisStreamCommandTests {
    /// Consumer "a" reads every entry and is SIGKILLed before any commit. Consumer "b" of the same group, itself
    /// SIGKILLed at seeded points and run again, claims a's entries once they have been idle for `claim_idle`:
    /// every entry ends up stored once, and nothing is left pending.
    @Test(.timeLimit(.minutes(15)))
    func aDeadConsumersEntriesAreClaimedAndStoredOnce() async throws {
        let url = try Self.redisURL()
        let scratch = try ScratchFolder()
        defer { scratch.remove() }
        let key = "claims-\(UInt32.random(in: 0...UInt32.max))"
        let client = try await RESPClient.connect(url: url)
        for n in 1...2_000 { try await client.send(["XADD", key, "*", "seq", String(n), "v", String(n * 2)]) }
        func pipeline(_ consumer: String, commit: String) throws -> String {
            try scratch.write(
                consumer + ".yaml",
                """
                name: claims
                destination: sqlite:\(consumer).db
                resources:
                  - name: entries
                    stream: { type: redis, url: "\(url)", stream: \(key), group: g, consumer: \(consumer), count: 100, block: 100ms, claim_idle: 1s, \(commit) }
                """)
        }
        try await oneKillTestAtATime {
            // a takes every entry and never commits (a commit interval of an hour), then dies.
            let a = try await runGather(["run", try pipeline("a", commit: "commit_interval: 1h"), "--quiet"]) {
                process in
                // (Killed whatever happens here: a child left running would keep its pipes, and this test, open.)
                defer { kill(process.processIdentifier, SIGKILL) }
                for _ in 0..<100 {
                    // (NOGROUP until a has made the group.)
                    let pending = try? await client.send(["XPENDING", key, "g"])
                    if pending?.elements?.first == .integer(2_000) { break }
                    try await Task.sleep(for: .milliseconds(50))
                }
            }
            #expect(a.status != 0)
            let held = try await client.send(["XPENDING", key, "g"])
            #expect(held.elements?.first == .integer(2_000), "a should hold every entry: \(held)")
            let b = try pipeline("b", commit: "commit_every: 50, commit_interval: 20ms")
            var generator = SeededGenerator(seed: 11)
            var kills = 0
            for _ in 0..<4 {
                let delay = Double.random(in: 1.0...1.6, using: &generator)
                let result = try await runGather(["run", b, "--idle-exit", "3s", "--quiet"]) { process in
                    try await Task.sleep(for: .milliseconds(Int(delay * 1000)))
                    if process.isRunning { kill(process.processIdentifier, SIGKILL) }
                }
                if result.status != 0 { kills += 1 }
            }
            let last = try await runGather(["run", b, "--idle-exit", "3s"])
            #expect(last.status == 0, "\(last.stderr)")
            #expect(kills >= 2, "only \(kills) runs of b were killed")
            let db = try SQLiteDatabase(path: scratch.file("b.db"))
            #expect(
                try db.query(
                    "SELECT count(*), count(DISTINCT seq), sum(CAST(v AS INTEGER) = 2 * CAST(seq AS INTEGER)) FROM entries"
                )
                    == [[2_000, 2_000, 2_000]])
            #expect(try db.query("SELECT sum(records) FROM _gather_resource_runs") == [[2_000]])
            let pending = try await client.send(["XPENDING", key, "g"])
            #expect(pending.elements?.first == .integer(0), "\(pending)")
        }
        try await client.send(["DEL", key])
        await client.close()
    }
}

/// The NATS JetStream source against the real `nats-server -js` that `scripts/test` starts (`GATHER_NATS_URL`).
@Suite struct NATSStreamCommandTests {
    static func natsURL() throws -> String { try serverURL("GATHER_NATS_URL", "NATS", script: "nats-server") }

    static func pipeline(url: String, stream: String, durable: String) -> String {
        """
        name: sensors
        destination: sqlite:sensors.db
        resources:
          - name: readings
            stream: { type: nats, url: "\(url)", stream: \(stream), subject: "\(stream.lowercased()).>", durable: \(durable), batch: 250, commit_interval: 100ms }
            event_time: ts
            watermark: { max_delay: 2s }
            window:
              tumbling: 10s
              key: sensor_id
              aggregate: { n: count(), total: sum(temp), hi: max(temp) }
              late: { allowed: 1s }
        """
    }

    static func api(_ client: NATSClient, _ call: String, _ payload: String = "") async throws -> Value {
        try JSONReader.parse(try await client.request("$JS.API." + call, payload).text)
    }

    /// A stream that does not exist cannot appear by retrying: the run ends at once and says what to create.
    @Test(.timeLimit(.minutes(2)))
    func aMissingStreamEndsTheRunWithWhatToDo() async throws {
        let url = try Self.natsURL()
        let scratch = try ScratchFolder()
        defer { scratch.remove() }
        let pipeline = try scratch.write(
            "sensors.yaml", Self.pipeline(url: url, stream: "NOSUCH\(UInt32.random(in: 0...UInt32.max))", durable: "d"))
        try await expectRunEndsAtOnce(pipeline, saying: ["has no stream 'NOSUCH", "nats stream add"])
    }

    /// Two durables read one stream: one uninterrupted, one SIGKILLed at seeded points and run again. Both end
    /// with the same window and late rows, every message committed once, and nothing left unacknowledged.
    @Test(.timeLimit(.minutes(15)))
    func killedNATSConsumersResumeExactlyAndLeaveNothingUnacknowledged() async throws {
        let url = try Self.natsURL()
        let scratch = try ScratchFolder()
        defer { scratch.remove() }
        let stream = "READINGS\(UInt32.random(in: 0...UInt32.max))"
        let subject = stream.lowercased()
        let client = try await NATSClient.connect(url: url)
        let created = try await Self.api(
            client, "STREAM.CREATE.\(stream)", "{\"name\":\"\(stream)\",\"subjects\":[\"\(subject).>\"]}")
        #expect(created["error"] == nil, "\(created)")
        let feed = SensorStream.Configuration(count: 30_000, keys: 10, jitter: 4_000)
        var messages: [(subject: String, payload: String)] = []
        for n in 1...feed.count {
            guard case .object(var event) = try JSONReader.parse(SensorStream.event(n, feed)) else { continue }
            // Every 5,000th message is missing its event time: an error row, and the stream goes on.
            if n % 5_000 == 0 { event["ts"] = nil }
            let sensor = event["sensor_id"].map { $0.stringValue ?? JSONWriter.string($0) } ?? "none"
            messages.append(("\(subject).\(sensor)", JSONWriter.string(.object(event))))
        }
        for chunk in stride(from: 0, to: messages.count, by: 1_000) {
            client.publish(Array(messages[chunk..<min(messages.count, chunk + 1_000)]))
            try await client.flush()
        }
        let info = try await Self.api(client, "STREAM.INFO.\(stream)")
        #expect(info["state"]?["messages"] == .int(30_000), "\(info)")
        try await expectKilledRunsMatchAnUninterruptedRun(in: scratch) { durable in
            Self.pipeline(url: url, stream: stream, durable: durable)
        } then: {
            // Every message acknowledged after its commit: nothing pending for either durable.
            for durable in ["clean", "killed"] {
                let consumer = try await Self.api(client, "CONSUMER.INFO.\(stream).\(durable)")
                #expect(consumer["num_ack_pending"] == .int(0), "\(durable): \(consumer)")
                #expect(consumer["num_pending"] == .int(0), "\(durable): \(consumer)")
            }
        }
        _ = try await Self.api(client, "STREAM.DELETE.\(stream)")
        await client.close()
    }
}

/// A broker source's kill test: the pipeline `pipeline(name)` (each name its own consumer) runs once
/// uninterrupted into `clean`, and into `killed` SIGKILLed at 6 seeded points, then to the end. Both must hold the
/// same window and late rows, with every one of the 30,000 entries committed once and the 6 without an event time
/// as error rows. `then` checks the broker afterwards, still inside the kill-test turn.
func expectKilledRunsMatchAnUninterruptedRun(
    in scratch: ScratchFolder, pipeline: @escaping (String) -> String, then check: () async throws -> Void
) async throws {
    func tables(_ folder: String) throws -> ([[Value]], [[Value]], [[Value]], [[Value]]) {
        let db = try SQLiteDatabase(path: folder + "/sensors.db")
        return (
            try db.query("SELECT sensor_id, window_start, n, total, hi FROM readings ORDER BY 1, 2"),
            try db.query("SELECT seq, _late_reason FROM readings_late ORDER BY seq"),
            try db.query("SELECT sum(records), sum(errors) FROM _gather_resource_runs"),
            try db.query("SELECT code FROM _gather_errors")
        )
    }
    func folder(_ name: String, group: String) throws -> String {
        let path = scratch.file(name)
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        try pipeline(group).write(
            toFile: path + "/sensors.yaml", atomically: true, encoding: .utf8)
        return path
    }
    try await oneKillTestAtATime {
        let clean = try folder("clean", group: "clean")
        let first = try await runGather(["run", clean + "/sensors.yaml", "--idle-exit", "4s", "--flush-windows"])
        #expect(first.status == 1, "one error row makes exit 1: \(first.stderr)")
        let reference = try tables(clean)
        #expect(reference.0.count > 100)
        #expect(reference.1.count > 0, "the jitter should make some events too late")
        #expect(reference.2 == [[30_000, 6]])
        #expect(reference.3.allSatisfy { $0 == ["no_event_time"] } && reference.3.count == 6)

        let killed = try folder("killed", group: "killed")
        var generator = SeededGenerator(seed: 7)
        var kills = 0
        for _ in 0..<6 {
            let delay = Double.random(in: 0.2...0.8, using: &generator)
            let result = try await runGather(["run", killed + "/sensors.yaml", "--idle-exit", "1s", "--quiet"]) {
                process in
                try await Task.sleep(for: .milliseconds(Int(delay * 1000)))
                if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            }
            if result.status != 0 && result.status != 1 { kills += 1 }
        }
        let last = try await runGather([
            "run", killed + "/sensors.yaml", "--idle-exit", "4s", "--flush-windows", "--quiet",
        ])
        #expect(last.status == 1, "\(last.stderr)")
        #expect(kills >= 3, "only \(kills) runs were killed mid-stream")
        let resumed = try tables(killed)
        #expect(resumed.0 == reference.0, "window rows differ after \(kills) kills")
        #expect(resumed.1 == reference.1, "late rows differ after \(kills) kills")
        #expect(resumed.2 == reference.2, "entries committed more (or less) than once")
        try await check()
    }
}

/// The URL of a server `scripts/test` started, from `variable`; without it the test fails and says how to start one.
func serverURL(_ variable: String, _ server: String, script: String) throws -> String {
    guard let url = ProcessInfo.processInfo.environment[variable], !url.isEmpty else {
        throw TestServerMissing(
            description: "\(variable) is not set: the \(server) tests need a server. Run them with scripts/test, or "
                + "`eval \"$(scripts/\(script) start)\"` first")
    }
    return url
}

struct TestServerMissing: Error, CustomStringConvertible {
    var description: String
}

/// A stream run whose source fails in a way retrying cannot fix ends at once, not at its idle exit, and says why.
func expectRunEndsAtOnce(_ pipeline: String, saying parts: [String]) async throws {
    let started = ContinuousClock.now
    let result = try await runGather(["run", pipeline, "--idle-exit", "30s"])
    #expect(result.status != 0)
    for part in parts { #expect(result.stderr.contains(part), "\(result.stderr)") }
    #expect(started.duration(to: .now) < .seconds(20), "it should not wait for the idle exit")
}
