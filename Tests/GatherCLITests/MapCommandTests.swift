import Foundation
import GatherSQLite
import GatherTesting
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// `gather map` end to end: real Python workers, real signals, SQLite results.
@Suite struct MapCommandTests {
    static let python: String = {
        var path = #filePath
        for _ in 0..<3 { path = String(path[..<path.lastIndex(of: "/")!]) }
        return path + "/python"
    }()

    /// A worker that records its pid in PIDS/, squares `n` after `delay` seconds, and fails on n == 13.
    static let worker = """
        import os, time
        from gather_worker import serve
        open(os.path.join(os.environ["PIDS"], str(os.getpid())), "w").close()
        def handle(records):
            out = []
            for r in records:
                time.sleep(r.get("delay", 0))
                if r["n"] == 13:
                    raise ValueError("thirteen is unlucky")
                out.append({"square": r["n"] * r["n"]})
            return out
        serve(handle)
        """

    static func arguments(_ scratch: ScratchFolder, _ extra: [String] = []) -> [String] {
        [
            "map", scratch.file("tasks.jsonl"), "--command", "python3 " + scratch.file("worker.py"), "--workers", "2",
            "--into", scratch.file("out.db"), "--table", "results", "--env", "PYTHONPATH=\(python)", "--env",
            "PIDS=\(scratch.file("pids"))",
        ] + extra
    }

    static func setUp(tasks: Int, delay: Double) throws -> ScratchFolder {
        let scratch = try ScratchFolder()
        _ = try scratch.write("worker.py", Self.worker)
        let lines = (1...tasks).map { #"{"n": \#($0), "delay": \#(delay)}"# } + ["{not json"]
        _ = try scratch.write("tasks.jsonl", lines.joined(separator: "\n") + "\n")
        try FileManager.default.createDirectory(atPath: scratch.file("pids"), withIntermediateDirectories: true)
        return scratch
    }

    static func workerPIDs(_ scratch: ScratchFolder) -> [Int32] {
        ((try? FileManager.default.contentsOfDirectory(atPath: scratch.file("pids"))) ?? []).compactMap { Int32($0) }
    }

    /// Running (a zombie, dead but not yet reaped by whoever inherited it, does not count).
    static func alive(_ pid: Int32) -> Bool {
        guard kill(pid, 0) == 0 else { return false }
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return false }
        return stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).first != "Z"
    }

    @Test func resultsAndErrorRowsThenARerunDoesNothing() async throws {
        let scratch = try Self.setUp(tasks: 30, delay: 0)
        defer { scratch.remove() }
        let first = try await runGather(Self.arguments(scratch, ["--batch", "4"]))
        #expect(first.status == 1, "\(first.stderr)")
        #expect(first.stderr.contains("31 tasks run, 29 results, 2 error rows"), "\(first.stderr)")
        let db = try SQLiteDatabase(path: scratch.file("out.db"))
        #expect(
            try db.query("SELECT count(*), count(DISTINCT input_line), sum(square) FROM results") == [[29, 29, 9286]])
        let errors = try db.query("SELECT code, request, message FROM _gather_errors ORDER BY request")
        #expect(errors.count == 2)
        #expect(
            errors.contains {
                $0[1].stringValue?.hasSuffix("tasks.jsonl:13") == true
                    && $0[2].stringValue == "ValueError: thirteen is unlucky"
            })
        #expect(
            errors.contains { $0[0].stringValue == "input" && $0[1].stringValue?.hasSuffix("tasks.jsonl:31") == true })
        // Done is done: a second run changes nothing; --fresh runs every task again.
        let again = try await runGather(Self.arguments(scratch))
        #expect(again.status == 0, "\(again.stderr)")
        #expect(again.stderr.contains("already done"), "\(again.stderr)")
        #expect(try db.query("SELECT count(*) FROM results") == [[29]])
        let fresh = try await runGather(Self.arguments(scratch, ["--fresh", "--quiet"]))
        #expect(fresh.status == 1)
        #expect(try db.query("SELECT count(*) FROM results") == [[58]])
        for pid in Self.workerPIDs(scratch) { #expect(!Self.alive(pid), "worker \(pid) outlived gather") }
    }

    @Test(.timeLimit(.minutes(2)))
    func sigkillTakesTheWorkersAlongAndARerunDoesOnlyWhatIsLeft() async throws {
        let scratch = try Self.setUp(tasks: 40, delay: 0.1)
        defer { scratch.remove() }
        // Two workers at 0.1 s a task: about 2 s in all. Kill gather with SIGKILL after about a third.
        let killed = try await runGather(Self.arguments(scratch, ["--quiet"])) { process in
            let deadline = ContinuousClock.now + .seconds(20)
            while ContinuousClock.now < deadline {
                let done =
                    (try? SQLiteDatabase(path: scratch.file("out.db")).query(
                        "SELECT count(*) FROM results"
                    ).first?.first?.intValue) ?? 0
                if done >= 12 { break }
                try await Task.sleep(for: .milliseconds(20))
            }
            kill(process.processIdentifier, SIGKILL)
        }
        #expect(killed.status == 9 || killed.status == SIGKILL, "\(killed.status)")
        let pids = Self.workerPIDs(scratch)
        #expect(pids.count == 2)
        // PR_SET_PDEATHSIG: the kernel kills the workers with their parent, even one sleeping in a task.
        try await Task.sleep(for: .milliseconds(300))
        for pid in pids { #expect(!Self.alive(pid), "worker \(pid) survived the SIGKILL of gather") }
        let db = try SQLiteDatabase(path: scratch.file("out.db"))
        let before = try db.query("SELECT count(*) FROM results").first?.first?.intValue ?? 0
        #expect(before >= 12 && before < 39, "\(before) results committed before the kill")

        let rerun = try await runGather(Self.arguments(scratch))
        #expect(rerun.status == 1, "\(rerun.stderr)")
        #expect(rerun.stderr.contains("(resumed)"), "\(rerun.stderr)")
        #expect(rerun.stderr.contains("done before and skipped"), "\(rerun.stderr)")
        // Every task exactly once: 39 results (13 fails), no line twice.
        #expect(try db.query("SELECT count(*), count(DISTINCT input_line) FROM results") == [[39, 39]])
        #expect(try db.query("SELECT count(*) FROM _gather_errors") == [[2]])
    }

    @Test(.timeLimit(.minutes(1)))
    func sigtermStopsReapsAndExits130() async throws {
        let scratch = try Self.setUp(tasks: 40, delay: 0.1)
        defer { scratch.remove() }
        let stopped = try await runGather(Self.arguments(scratch, ["--quiet"])) { process in
            try await Task.sleep(for: .milliseconds(1200))
            kill(process.processIdentifier, SIGTERM)
        }
        #expect(stopped.status == 130, "\(stopped.stderr)")
        for pid in Self.workerPIDs(scratch) { #expect(!Self.alive(pid), "worker \(pid) outlived gather") }
        let rerun = try await runGather(Self.arguments(scratch, ["--quiet"]))
        #expect(rerun.status == 1)
        let db = try SQLiteDatabase(path: scratch.file("out.db"))
        #expect(try db.query("SELECT count(*), count(DISTINCT input_line) FROM results") == [[39, 39]])
    }

    @Test func aCommandThatCannotStartIsAUsageErrorBeforeAnyWork() async throws {
        let scratch = try Self.setUp(tasks: 3, delay: 0)
        defer { scratch.remove() }
        let missing = try await runGather([
            "map", scratch.file("tasks.jsonl"), "--command", "no-such-program-for-gather --x", "--into",
            scratch.file("out.db"),
        ])
        #expect(missing.status == 2, "\(missing.stderr)")
        #expect(missing.stderr.contains("no-such-program-for-gather: not found in PATH"), "\(missing.stderr)")
        let unclosed = try await runGather([
            "map", scratch.file("tasks.jsonl"), "--command", "python3 'oops", "--into", scratch.file("out.db"),
        ])
        #expect(unclosed.status == 2)
        let template = try await runGather(["worker-template", "python"])
        #expect(template.status == 0)
        let shipped = try String(contentsOfFile: Self.python + "/gather_worker.py", encoding: .utf8)
        #expect(template.stdout == shipped, "run scripts/gen-worker-template")
    }
}
