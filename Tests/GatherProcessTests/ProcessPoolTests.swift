import GatherCore
import GatherTesting
import Synchronization
import Testing

@testable import GatherProcess

#if canImport(Glibc)
    import Glibc
#endif

/// The pool against real Python workers (standard library only), using the shipped helper python/gather_worker.py.
@Suite struct ProcessPoolTests {
    /// The repository's python/ folder, where gather_worker.py lives.
    static let pythonFolder: String = {
        var path = #filePath
        for _ in 0..<3 { path = String(path[..<path.lastIndex(of: "/")!]) }
        return path + "/python"
    }()

    /// A scratch folder holding one worker script.
    struct Script {
        let folder: String
        let path: String

        init(_ source: String) throws {
            self.folder = ScratchFolder.untilExit("pool")
            self.path = self.folder + "/worker.py"
            let file = fopen(self.path, "w")!
            fputs(source, file)
            fclose(file)
        }

        func configuration(workers: Int = 2) -> ProcessPool.Configuration {
            var configuration = ProcessPool.Configuration(command: ["python3", self.path])
            configuration.workers = workers
            configuration.environment = ["PYTHONPATH": ProcessPoolTests.pythonFolder, "MARKERS": self.folder]
            return configuration
        }

        func remove() {
            for name in ["worker.py", "crashed", "hung", "served"] { unlink(self.folder + "/" + name) }
            rmdir(self.folder)
        }
    }

    static func isAlive(_ pid: Int32) -> Bool { kill(pid, 0) == 0 || errno != ESRCH }

    static func records(_ range: Range<Int>) -> [Value] { range.map { .object(Record([("x", .int(Int64($0)))])) } }

    @Test func batchesComeBackInOrderFromEveryWorker() async throws {
        let script = try Script(
            """
            import os
            from gather_worker import serve
            serve(lambda records: [dict(r, y=r["x"] * 2, pid=os.getpid()) for r in records])
            """)
        defer { script.remove() }
        let pids = try await ProcessPool.withPool(script.configuration()) { pool in
            let batches = try await (0..<20).map { $0 }.concurrentMap(maxConcurrency: 8) { batch in
                try await pool.process(Self.records(batch * 50..<(batch + 1) * 50))
            }
            for (batch, outcomes) in batches.enumerated() {
                #expect(outcomes.count == 50)
                for (offset, outcome) in outcomes.enumerated() {
                    let x = batch * 50 + offset
                    guard case .result(.object(let record)) = outcome else {
                        Issue.record("record \(x): \(outcome)")
                        continue
                    }
                    #expect(record["y"] == .int(Int64(x * 2)))
                }
            }
            let used = Set(
                batches.flatMap { $0 }.compactMap { outcome -> Value? in
                    if case .result(.object(let record)) = outcome { return record["pid"] }
                    return nil
                })
            #expect(used.count == 2, "both workers got work")
            #expect(pool.statistics.batches == 20)
            return pool.pids
        }
        #expect(pids.count == 2)
        for pid in pids { #expect(!Self.isAlive(pid), "worker \(pid) survived the pool") }
    }

    @Test func aRecordTheWorkerCannotHandleIsOneErrorAndTheRestIsKept() async throws {
        let script = try Script(
            """
            from gather_worker import serve
            def handle(records):
                return [{"inverse": 1 / r["x"]} for r in records]
            print("loaded")   # goes to stderr, not into the frames
            serve(handle)
            """)
        defer { script.remove() }
        let lines = Mutex<[String]>([])
        var configuration = script.configuration(workers: 1)
        configuration.stderrLine = { worker, line in lines.withLock { $0.append("\(worker): \(line)") } }
        try await ProcessPool.withPool(configuration) { pool in
            let outcomes = try await pool.process(Self.records(0..<4))
            #expect(outcomes[0] == .error("ZeroDivisionError: division by zero"))
            #expect(outcomes[1] == .result(["inverse": 1.0]))
            #expect(outcomes[3] == .result(["inverse": .double(1.0 / 3)]))
            #expect(pool.statistics.failures == 0)
        }
        #expect(lines.withLock { $0 }.contains("1: loaded"))
    }

    @Test func aCrashIsRetriedOnceOnAnotherWorkerAndTheWorkerRestarts() async throws {
        let script = try Script(
            """
            import os, signal
            from gather_worker import serve
            marker = os.path.join(os.environ["MARKERS"], "crashed")
            def handle(records):
                for r in records:
                    if r.get("x") == 7 and not os.path.exists(marker):
                        open(marker, "w").close()
                        os.kill(os.getpid(), signal.SIGSEGV)
                    if r.get("crash"):
                        os.kill(os.getpid(), signal.SIGSEGV)
                return records
            serve(handle)
            """)
        defer { script.remove() }
        try await ProcessPool.withPool(script.configuration()) { pool in
            let before = Set(pool.pids)
            // Crashes once: the batch is retried on another worker and succeeds whole.
            let once = try await pool.process(Self.records(0..<10))
            #expect(once.allSatisfy { if case .result = $0 { true } else { false } })
            #expect(pool.statistics.retried == 1)
            // Crashes every time: after two workers died on it, every record is an error that says why.
            let always = try await pool.process([["crash": true], ["x": 1]])
            guard case .lost(let message) = always[1] else {
                Issue.record("expected lost records, got \(always)")
                return
            }
            #expect(message.contains("SIGSEGV"), "\(message)")
            #expect(message.contains("tried again on another worker"), "\(message)")
            #expect(pool.statistics.lost == 1)
            // The slots come back: the pool still works, with new processes.
            let after = try await pool.process(Self.records(0..<3))
            #expect(after.count == 3)
            #expect(!Set(pool.pids).isSubset(of: before))
            // The third worker restarts after its backoff, which a loaded machine may not have reached yet.
            let deadline = ContinuousClock.now + .seconds(20)
            while pool.statistics.restarts < 3, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(pool.statistics.restarts >= 3)
        }
    }

    /// Serving's setting: after a crash, the batch's records go again each alone, so the record that crashes
    /// every worker is the only one lost, and the others of its batch are answered, in order.
    @Test(.timeLimit(.minutes(1)))
    func isolatedFailuresCostOnlyThePoisonRecord() async throws {
        let script = try Script(
            """
            import os, signal
            from gather_worker import serve
            def handle(records):
                for r in records:
                    if r.get("crash"):
                        os.kill(os.getpid(), signal.SIGSEGV)
                return records
            serve(handle)
            """)
        defer { script.remove() }
        var configuration = script.configuration(workers: 2)
        configuration.isolatesFailures = true
        try await ProcessPool.withPool(configuration) { pool in
            let outcomes = try await pool.process([["x": 1], ["crash": true], ["x": 2]])
            #expect(outcomes.count == 3)
            #expect(outcomes[0] == .result(["x": 1]) && outcomes[2] == .result(["x": 2]), "\(outcomes)")
            guard case .lost(let message) = outcomes[1] else {
                Issue.record("expected the crashing record lost, got \(outcomes)")
                return
            }
            #expect(message.contains("SIGSEGV") && message.contains("tried again alone"), "\(message)")
            #expect(pool.statistics.lost == 1 && pool.statistics.retried == 1 && pool.statistics.failures == 2)
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func aBatchPastItsTimeoutGetsItsWorkerKilled() async throws {
        let script = try Script(
            """
            import os, time
            from gather_worker import serve
            marker = os.path.join(os.environ["MARKERS"], "hung")
            def handle(records):
                if not os.path.exists(marker):
                    open(marker, "w").close()
                    time.sleep(60)
                return records
            serve(handle)
            """)
        defer { script.remove() }
        var configuration = script.configuration(workers: 2)
        configuration.timeout = .milliseconds(800)
        let started = ContinuousClock.now
        try await ProcessPool.withPool(configuration) { pool in
            let hung = pool.pids
            let outcomes = try await pool.process(Self.records(0..<5))
            #expect(outcomes.allSatisfy { if case .result = $0 { true } else { false } })
            #expect(pool.statistics.timeouts == 1)
            try await Task.sleep(for: .milliseconds(300))
            #expect(hung.filter { !Self.isAlive($0) }.count == 1, "the hung worker was killed and reaped")
        }
        #expect(ContinuousClock.now - started < .seconds(20))
    }

    @Test func garbageOnStdoutIsACrash() async throws {
        // A worker that does not use the helper and prints text where frames go.
        let script = try Script(
            """
            import json, struct, sys
            out = sys.stdout.buffer
            ready = json.dumps({"ready": True}).encode()
            out.write(struct.pack(">I", len(ready)) + ready); out.flush()
            while True:
                header = sys.stdin.buffer.read(4)
                if len(header) < 4: break
                sys.stdin.buffer.read(struct.unpack(">I", header)[0])
                out.write(b"hello, this is not a frame\\n"); out.flush()
            """)
        defer { script.remove() }
        var configuration = script.configuration(workers: 1)
        configuration.maxRestarts = 1
        try await ProcessPool.withPool(configuration) { pool in
            let outcomes = try await pool.process(Self.records(0..<2))
            guard case .lost(let message) = outcomes[0] else {
                Issue.record("expected lost records, got \(outcomes)")
                return
            }
            #expect(message.contains("not a frame"), "\(message)")
            // Past max_restarts the slot stays stopped: the pool says so instead of hanging.
            await #expect(throws: ProcessPoolError.self) { try await pool.process(Self.records(0..<1)) }
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func rareCrashesInALongRunNeverUseUpMaxRestarts() async throws {
        // Each process dies by SIGSEGV on its third batch: more than 10 crashes over 40 batches, with max_restarts
        // 1. The allowance bounds failures in a row, so the pool never runs out of workers.
        let script = try Script(
            """
            import os, signal
            from gather_worker import serve
            seen = 0
            def handle(records):
                global seen
                seen += 1
                if seen == 3:
                    os.kill(os.getpid(), signal.SIGSEGV)
                return [dict(r, ok=True) for r in records]
            serve(handle)
            """)
        defer { script.remove() }
        var configuration = script.configuration(workers: 2)
        configuration.maxRestarts = 1
        try await ProcessPool.withPool(configuration) { pool in
            var answered = 0
            for batch in 0..<40 {
                let outcomes = try await pool.process(Self.records(batch * 4..<batch * 4 + 4))
                answered += outcomes.filter { if case .result = $0 { true } else { false } }.count
            }
            // A retry that lands on the other process's third batch crashes too: that batch is lost (its records
            // are errors), and the pool goes on all the same.
            let statistics = pool.statistics
            #expect(answered + 4 * statistics.lost == 160, "\(statistics)")
            // How many retries meet a third batch depends on which process is free first, which a loaded machine
            // shuffles: a few, never most.
            #expect(statistics.lost <= 8, "\(statistics)")
            #expect(statistics.failures >= 10, "\(statistics)")
        }
    }

    @Test func commandsThatCannotRunAreClearErrorsBeforeAnyWork() async throws {
        let missing = ProcessPool.Configuration(command: ["no-such-gather-worker-program", "x"])
        await #expect {
            try await ProcessPool.withPool(missing) { _ in }
        } throws: { error in
            "\(error)".contains("no-such-gather-worker-program: not found in PATH")
        }
        let script = try Script("print('never')")
        defer { script.remove() }
        let notExecutable = ProcessPool.Configuration(command: [script.path])
        await #expect {
            try await ProcessPool.withPool(notExecutable) { _ in }
        } throws: { error in
            "\(error)".contains("not executable")
        }
        let failing = try Script("import no_such_module_anywhere\n")
        defer { failing.remove() }
        await #expect {
            try await ProcessPool.withPool(failing.configuration(workers: 1)) { _ in }
        } throws: { error in
            "\(error)".contains("exited with status 1 before it was ready")
                && "\(error)".contains("ModuleNotFoundError")
        }
    }
}
