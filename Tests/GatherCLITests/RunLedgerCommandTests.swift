import Foundation
import GatherCore
import GatherSQLite
import GatherStore
import GatherTesting
import Testing

/// Every command that keeps runs (run, crawl, load, map) goes through the one run ledger: an unfinished run is
/// continued, `--fresh` marks it abandoned and starts a new one, and each run ends completed. The unfinished run
/// is made the way a SIGKILL leaves one: a `running` row newer than the last completed run.
@Suite struct RunLedgerCommandTests {
    enum Command: String, CaseIterable, Sendable {
        case run, crawl, load, map
    }

    /// Runs `command` into `folder/out.db` (with `extra` arguments) against `baseURL` when it needs a server.
    static func invoke(_ command: Command, folder: ScratchFolder, baseURL: String, extra: [String]) async throws
        -> ProcessResult
    {
        let db = folder.file("out.db")
        switch command {
        case .run:
            var environment = ProcessInfo.processInfo.environment
            environment["SAMPLE_API"] = baseURL
            environment["OUT_DB"] = "sqlite:" + db
            return try await runGather(["run", folder.file("p.yaml")] + extra, environment: environment)
        case .crawl:
            return try await runGather(["crawl", baseURL + "/", "--same-host", "--into", db, "--quiet"] + extra)
        case .load:
            return try await runGather(["load", folder.file("items.csv"), "--into", db, "--quiet"] + extra)
        case .map:
            return try await runGather(
                MapCommandTests.arguments(folder, ["--quiet"] + extra).map {
                    $0 == folder.file("tasks.jsonl") ? folder.file("small.jsonl") : $0
                })
        }
    }

    /// The `_gather_runs` pipeline name of each command's runs here.
    static func pipeline(_ command: Command) -> String {
        switch command {
        case .run: "ledger"
        case .crawl: "crawl:crawl"
        case .load: "load"
        case .map: "map:results"
        }
    }

    static func outcome(_ db: SQLiteDatabase, run: String) throws -> String? {
        try db.query("SELECT outcome FROM _gather_runs WHERE run_id = '\(run)'").first?.first?.stringValue
    }

    /// Adds the `running` row a killed run leaves.
    static func killedRun(_ id: String, _ command: Command, db path: String) async throws {
        let store = try SQLiteStore(path: path)
        var batch = SinkBatch()
        batch.run = RunRow(runID: id, pipeline: Self.pipeline(command), startedAt: Timestamp.now(), outcome: "running")
        try await store.commit(batch)
    }

    @Test(arguments: Command.allCases)
    func unfinishedRunsAreContinuedOrAbandonedWithFresh(_ command: Command) async throws {
        let folder = try MapCommandTests.setUp(tasks: 3, delay: 0)
        defer { folder.remove() }
        _ = try folder.write("small.jsonl", (1...3).map { #"{"n": \#($0)}"# }.joined(separator: "\n") + "\n")
        _ = try folder.write("items.csv", "id,name\n1,a\n2,b\n")
        _ = try folder.write(
            "p.yaml",
            """
            name: ledger
            destination: ${OUT_DB}
            resources:
              - name: items
                http: { base_url: "${SAMPLE_API}", path: /offset/items, paginate: { type: offset, limit: 10, total: "$.total" } }
                select: "$.items[*]"
            """)
        try await SampleAPI.withServer(.init(itemCount: 20)) { api in
            try await CrawlSite.withServer(.init(pageCount: 5)) { site in
                let baseURL = command == .crawl ? site.baseURL : api.baseURL
                let first = try await Self.invoke(command, folder: folder, baseURL: baseURL, extra: [])
                #expect(first.status == 0, "\(command): \(first.stderr)")
                let path = folder.file("out.db")

                // Killed, then run with --fresh: the killed run is abandoned and a new one completes.
                try await Self.killedRun("killed-a", command, db: path)
                let fresh = try await Self.invoke(command, folder: folder, baseURL: baseURL, extra: ["--fresh"])
                #expect(fresh.status == 0, "\(command): \(fresh.stderr)")
                let db = try SQLiteDatabase(path: path)
                #expect(try Self.outcome(db, run: "killed-a") == "abandoned", "\(command)")

                // Killed, then run again: the killed run is continued and completes.
                try await Self.killedRun("killed-b", command, db: path)
                let again = try await Self.invoke(command, folder: folder, baseURL: baseURL, extra: [])
                #expect(again.status == 0, "\(command): \(again.stderr)")
                #expect(try Self.outcome(db, run: "killed-b") == "completed", "\(command)")
                let outcomes = try db.query(
                    "SELECT outcome, count(*) FROM _gather_runs WHERE pipeline = '\(Self.pipeline(command))' "
                        + "GROUP BY outcome ORDER BY outcome")
                #expect(
                    outcomes.map { "\($0[0].stringValue ?? "") \($0[1].intValue ?? 0)" } == [
                        "abandoned 1", "completed 3",
                    ],
                    "\(command): \(outcomes)")
            }
        }
    }
}
