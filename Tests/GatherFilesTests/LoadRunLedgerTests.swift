import Foundation
import GatherCore
import GatherSQLite
import GatherStore
import GatherTesting
import Testing

@testable import GatherFiles

/// `gather load`'s runs go through the one run ledger: an unfinished run is continued, `fresh` abandons it, a
/// finished one is followed by a new run (the outcome of each, as `_gather_runs` records it).
@Suite struct LoadRunLedgerTests {
    static func setUp() throws -> (folder: String, csv: String, store: SQLiteStore, database: SQLiteDatabase) {
        let folder = ScratchFolder.untilExit("load-ledger")
        let csv = folder + "/items.csv"
        try "id,name\n1,a\n2,b\n3,c\n".write(toFile: csv, atomically: true, encoding: .utf8)
        let store = try SQLiteStore(path: folder + "/out.db")
        return (folder, csv, store, try SQLiteDatabase(path: folder + "/out.db"))
    }

    /// A run left `running`, as a SIGKILL leaves it.
    static func killedRun(_ id: String, into store: SQLiteStore) async throws {
        var batch = SinkBatch()
        batch.run = RunRow(runID: id, pipeline: FileLoader.pipelineName, startedAt: Timestamp.now(), outcome: "running")
        try await store.commit(batch)
    }

    static func load(_ csv: String, into store: SQLiteStore, fresh: Bool) async throws -> LoadSummary {
        var options = LoadOptions()
        options.fresh = fresh
        let loader = FileLoader(sink: store, options: options)
        return try await loader.run(try loader.files(for: [csv]))
    }

    static func outcomes(_ database: SQLiteDatabase) throws -> [String: String] {
        var outcomes: [String: String] = [:]
        for row in try database.query("SELECT run_id, outcome FROM _gather_runs") {
            outcomes[row[0].stringValue ?? ""] = row[1].stringValue
        }
        return outcomes
    }

    @Test func freshAbandonsTheUnfinishedRun() async throws {
        let (folder, csv, store, database) = try Self.setUp()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try await Self.killedRun("killed-1", into: store)
        let summary = try await Self.load(csv, into: store, fresh: true)
        #expect(!summary.resumed)
        #expect(summary.outcome == "completed")
        #expect(try Self.outcomes(database) == ["killed-1": "abandoned", summary.runID: "completed"])
    }

    @Test func anUnfinishedRunIsContinuedAndAFinishedOneIsNot() async throws {
        let (folder, csv, store, database) = try Self.setUp()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try await Self.killedRun("killed-2", into: store)
        let resumed = try await Self.load(csv, into: store, fresh: false)
        #expect(resumed.resumed)
        #expect(resumed.runID == "killed-2")
        #expect(try Self.outcomes(database) == ["killed-2": "completed"])
        #expect(try database.query("SELECT count(*) FROM items") == [[3]])
    }

    /// Run twice, same rows: a completed load of unchanged files does nothing; a changed or new file loads
    /// (append mode: the changed file's rows again), and the unchanged one stays as it was.
    @Test func aCompletedLoadOfUnchangedFilesDoesNothing() async throws {
        let (folder, csv, store, database) = try Self.setUp()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let first = try await Self.load(csv, into: store, fresh: false)
        #expect(first.outcome == "completed")
        let again = try await Self.load(csv, into: store, fresh: false)
        #expect(again.outcome == LoadSummary.alreadyLoaded)
        #expect(again.runID == first.runID)
        #expect(again.rows == 3)
        #expect(again.render(destination: "out.db").contains("already loaded"))
        #expect(try database.query("SELECT count(*) FROM items") == [[3]])
        #expect(try Self.outcomes(database).count == 1)

        // A second file, and the first unchanged: only the new one loads.
        let other = folder + "/more.csv"
        try "id,name\n4,d\n".write(toFile: other, atomically: true, encoding: .utf8)
        var options = LoadOptions()
        options.table = "items"
        let loader = FileLoader(sink: store, options: options)
        let both = try await loader.run(try loader.files(for: [csv, other]))
        #expect(both.outcome == "completed")
        #expect(both.files.map(\.status.text) == ["already loaded", "loaded"])
        #expect(try database.query("SELECT count(*) FROM items") == [[4]])
        let bothAgain = try await loader.run(try loader.files(for: [csv, other]))
        #expect(bothAgain.outcome == LoadSummary.alreadyLoaded)

        // --fresh loads every file again.
        var fresh = options
        fresh.fresh = true
        let freshLoader = FileLoader(sink: store, options: fresh)
        let forced = try await freshLoader.run(try freshLoader.files(for: [csv, other]))
        #expect(forced.outcome == "completed")
        #expect(try database.query("SELECT count(*) FROM items") == [[8]])
    }
}
