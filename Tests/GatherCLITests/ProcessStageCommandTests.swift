import Foundation
import GatherCore
import GatherSQLite
import GatherTesting
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The pipeline `process` transform end to end: `gather run` with real Python workers against the sample API.
@Suite struct ProcessStageCommandTests {
    /// A worker that records its pid in PIDS/, scores each item (`score = id * 3`), drops ids divisible by 50
    /// (it answers None), fails id 77 alone, and dies by SIGSEGV on the first batch holding id 123 (once: a
    /// marker file says it happened), so that batch is retried on the other worker.
    static let worker = """
        import os, signal, time
        from gather_worker import serve, RecordError
        marks = os.environ["PIDS"]
        pause = float(os.environ.get("PAUSE", "0"))
        open(os.path.join(marks, str(os.getpid())), "w").close()
        def handle(records):
            time.sleep(pause)
            out = []
            for r in records:
                if r["id"] == 123 and not os.path.exists(os.path.join(marks, "crashed")):
                    open(os.path.join(marks, "crashed"), "w").close()
                    os.kill(os.getpid(), signal.SIGSEGV)
                if r["id"] == 77:
                    raise RecordError("id 77 cannot be scored")
                out.append(None if r["id"] % 50 == 0 else {"id": r["id"], "name": r["name"], "score": r["id"] * 3})
            return out
        serve(handle)
        """

    static func pipeline(items: Int, command: String = "[python3, worker.py]") -> String {
        """
        name: scored
        destination: ${OUT_DB}
        defaults:
          http:
            base_url: ${SAMPLE_API}
            retry: { attempts: 6, initial_delay: 10ms, max_delay: 50ms }
        resources:
          - name: items
            http:
              path: /offset/items
              paginate: { type: offset, limit: 20, total: "$.total" }
            select: "$.items[*]"
            primary_key: id
            write: merge
            transform:
              - fields: { id: id, name: name }
              - process:
                  command: \(command)
                  workers: 2
                  batch: 8
                  timeout: 20s
                  env: { PYTHONPATH: "${GATHER_PYTHON}", PIDS: "${PIDS}", PAUSE: "${PAUSE}" }
        """
    }

    static func environment(_ scratch: ScratchFolder, api: String) -> [String: String] {
        var environment = ProcessInfo.processInfo.environment
        environment["SAMPLE_API"] = api
        environment["OUT_DB"] = "sqlite:" + scratch.file("out.db")
        environment["GATHER_PYTHON"] = MapCommandTests.python
        environment["PIDS"] = scratch.file("pids")
        environment["PAUSE"] = "0"
        return environment
    }

    static func setUp() throws -> ScratchFolder {
        let scratch = try ScratchFolder()
        _ = try scratch.write("worker.py", Self.worker)
        try FileManager.default.createDirectory(atPath: scratch.file("pids"), withIntermediateDirectories: true)
        return scratch
    }

    @Test(.timeLimit(.minutes(15)))
    func recordsComeBackInOrderWithErrorRowsAndACrashedBatchRetried() async throws {
        let scratch = try Self.setUp()
        defer { scratch.remove() }
        let pipeline = try scratch.write("scored.yaml", Self.pipeline(items: 300))
        try await oneKillTestAtATime {
            try await SampleAPI.withServer(.init(itemCount: 300)) { api in
                let result = try await runGather(
                    ["run", pipeline, "--summary-json", scratch.file("summary.json")],
                    environment: Self.environment(scratch, api: api.baseURL))
                // One record failed in the worker: an error row, so the run exits 1 and says so.
                #expect(result.status == 1, "\(result.stderr)")
                #expect(result.stderr.contains("completed_with_errors"), "\(result.stderr)")
                #expect(
                    result.stderr.contains("items.transform[2]: 45 batches; workers: 1 failures"), "\(result.stderr)")
                let db = try SQLiteDatabase(path: scratch.file("out.db"))
                // 300 items, 6 dropped by the worker (ids 50…300), id 77 an error: 293 rows, each scored from its
                // own record (a mix-up of order between records and answers would break `score = id * 3`).
                #expect(
                    try db.query("SELECT count(*), sum(score = id * 3), count(DISTINCT id) FROM items") == [
                        [293, 293, 293]
                    ])
                #expect(try db.query("SELECT count(*) FROM items WHERE id % 50 = 0 OR id = 77") == [[0]])
                let errors = try db.query("SELECT code, message, payload FROM _gather_errors")
                #expect(errors.count == 1)
                #expect(errors.first?[0].stringValue == "process")
                #expect(errors.first?[1].stringValue?.contains("RecordError: id 77 cannot be scored") == true)
                #expect(errors.first?[2].stringValue?.contains(#""id":77"#) == true)
                let counts = try db.query("SELECT records, written, filtered, errors FROM _gather_resource_runs")
                #expect(counts == [[300, 293, 6, 1]])
                // The SIGSEGV: one failure, a restart, one batch retried and none lost.
                let summary = try String(contentsOfFile: scratch.file("summary.json"), encoding: .utf8)
                #expect(summary.contains(#""failures":1"#), "\(summary)")
                #expect(summary.contains(#""retried_batches":1"#), "\(summary)")
                #expect(summary.contains(#""lost_batches":0"#), "\(summary)")
            }
        }
        // Two workers (and the one started after the crash, when its backoff ended before the run); none outlives gather.
        let pids = MapCommandTests.workerPIDs(scratch)
        #expect(pids.count >= 2)
        for pid in pids { #expect(!MapCommandTests.alive(pid), "worker \(pid) outlived gather") }
    }

    @Test func aCommandThatDoesNotExistFailsBeforeAnyRequest() async throws {
        let scratch = try Self.setUp()
        defer { scratch.remove() }
        let pipeline = try scratch.write(
            "scored.yaml", Self.pipeline(items: 20, command: "[no-such-scorer-7, worker.py]"))
        try await SampleAPI.withServer(.init(itemCount: 20)) { api in
            let result = try await runGather(
                ["run", pipeline], environment: Self.environment(scratch, api: api.baseURL))
            #expect(result.status != 0)
            #expect(result.stderr.contains("items.transform[2] (process)"), "\(result.stderr)")
            #expect(result.stderr.contains("no-such-scorer-7"), "\(result.stderr)")
            #expect(api.stats.requestCount(pathPrefix: "/") == 0, "a request was sent before the workers started")
        }
        #expect(!FileManager.default.fileExists(atPath: scratch.file("out.db")))
    }

    @Test func aProcessStageInAFilesResourceIsAConfigurationError() async throws {
        let scratch = try ScratchFolder()
        defer { scratch.remove() }
        let pipeline = try scratch.write(
            "files.yaml",
            """
            name: local
            destination: sqlite:out.db
            resources:
              - name: rows
                files: { paths: [rows.csv] }
                transform:
                  - process: [python3, worker.py]
            """)
        let result = try await runGather(["validate", pipeline])
        #expect(result.status == 2)
        #expect(result.stderr.contains("files.yaml:7:"), "\(result.stderr)")
        #expect(result.stderr.contains("gather map"), "\(result.stderr)")
    }

    /// SIGKILL mid-run, then run again: the table equals an uninterrupted run's, and no worker survives a kill.
    @Test(.timeLimit(.minutes(15)))
    func killedRunsWithAProcessStageResumeToTheCleanResult() async throws {
        try await oneKillTestAtATime {
            let scratch = try Self.setUp()
            defer { scratch.remove() }
            // No crash and no error here: the worker only scores (ids are at most 1200, so 123 and 77 are absent
            // from the negative range the fields step maps them to).
            let pipeline = try scratch.write(
                "scored.yaml",
                Self.pipeline(items: 1200).replacingOccurrences(
                    of: "- fields: { id: id, name: name }", with: "- fields: { id: \"0 - id\", name: name }"))
            try await SampleAPI.withServer(.init(itemCount: 1200, latency: .milliseconds(10))) { api in
                func run(_ db: String, killAfter: Duration?) async throws -> ProcessResult {
                    var environment = Self.environment(scratch, api: api.baseURL)
                    environment["OUT_DB"] = "sqlite:" + db
                    // 20 ms a batch of 8: the workers, not the API, set the pace (about 1.5 s for 1200 items),
                    // so kills land mid-run even on a busy machine.
                    environment["PAUSE"] = "0.02"
                    return try await runGather(["run", pipeline], environment: environment) {
                        process in
                        guard let killAfter else { return }
                        try await Task.sleep(for: killAfter)
                        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
                    }
                }
                func rows(_ db: String) throws -> [[Value]] {
                    try SQLiteDatabase(path: db).query("SELECT id, name, score FROM items ORDER BY id")
                }
                let started = ContinuousClock.now
                let clean = try await run(scratch.file("clean.db"), killAfter: nil)
                let cleanDuration = started.duration(to: .now)
                #expect(clean.status == 0, "\(clean.stderr)")
                let expected = try rows(scratch.file("clean.db"))
                #expect(expected.count == 1200 - 24)
                let killed = try await killAndResume(
                    seed: 20261205, kills: 3, cleanDuration: cleanDuration, earliest: 0.3,
                    destination: { scratch.file("killed-\($0).db") }, run: { try await run($0, killAfter: $1) }
                ) { db, scenario in
                    let got = try rows(db)
                    #expect(got == expected, "scenario \(scenario): \(got.count) rows")
                }
                #expect(killed == 3)
            }
            try await Task.sleep(for: .milliseconds(300))
            let pids = MapCommandTests.workerPIDs(scratch)
            #expect(pids.count >= 8)
            for pid in pids { #expect(!MapCommandTests.alive(pid), "worker \(pid) survived") }
        }
    }
}
