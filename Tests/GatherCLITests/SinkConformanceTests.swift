import Foundation
import GatherCore
import GatherFiles
import GatherFormats
import GatherPostgres
import GatherSQLite
import GatherStore
import GatherTesting
import Testing

/// The sinks every destination has: the same suite runs on each.
enum SinkKind: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case sqlite, postgres, jsonl, csv

    var testDescription: String { self.rawValue }

    /// Files hold one table and cannot update rows in place.
    var isFile: Bool { self == .jsonl || self == .csv }
}

/// One destination of a kind, in its own folder or database, and how to read back what it holds.
struct SinkUnderTest: Sendable {
    let kind: SinkKind
    /// What `--into` takes.
    let text: String
    let destination: Destination
    /// Where Gather keeps runs and state (the database, or a file's sidecar).
    let stateDatabase: String

    static func make(_ kind: SinkKind, folder: ScratchFolder, name: String = "out") async throws -> SinkUnderTest {
        let text: String
        var stateDatabase = ""
        switch kind {
        case .sqlite:
            text = folder.file(name + ".db")
            stateDatabase = text
        case .postgres:
            text = try await TestPostgres.freshDatabase("sink_" + name).description
        case .jsonl, .csv:
            text = folder.file(name + "." + kind.rawValue)
            stateDatabase = text + ".gather.db"
        }
        return SinkUnderTest(
            kind: kind, text: text, destination: try Destination(text), stateDatabase: stateDatabase)
    }

    func open() async throws -> any Sink { try await self.destination.open() }
    func close(_ sink: any Sink) async throws { try await sink.close() }

    /// Whether the newest run recorded in the destination completed.
    func lastRunCompleted() async throws -> Bool {
        if case .postgres(let url) = self.destination { return try await GatherCLITests.lastRunCompleted(url) }
        return try GatherCLITests.lastRunCompleted(self.stateDatabase)
    }

    /// `_gather_errors` as (code, message, payload), in insertion order.
    func errorRows() async throws -> [[Value]] {
        let sql = "SELECT code, message, payload FROM _gather_errors ORDER BY id"
        if case .postgres(let url) = self.destination {
            return try await TestPostgres.withServer(url) { try await $0.query(sql) }
        }
        return try SQLiteDatabase(path: self.stateDatabase).query(sql)
    }

    /// The rows of `table` (any table, for a file), each as field → text (NULL fields left out, Gather's own
    /// columns too), sorted by `id`.
    func rows(_ table: String) async throws -> [[String: String]] {
        var rows: [[String: String]] = []
        switch self.destination {
        case .sqlite(let path):
            let db = try SQLiteDatabase(path: path)
            let columns = try db.query("SELECT name FROM pragma_table_info('\(table)') ORDER BY cid").compactMap {
                $0.first?.stringValue
            }.filter { !$0.hasPrefix("_gather_") }
            guard !columns.isEmpty else { return [] }
            for values in try db.query(
                "SELECT \(columns.map(quoteIdentifier).joined(separator: ", ")) FROM \(quoteIdentifier(table))")
            {
                rows.append(Self.record(columns, values))
            }
        case .postgres(let url):
            rows = try await TestPostgres.withServer(url) { server in
                let columns = try await server.query(
                    "SELECT column_name::text FROM information_schema.columns WHERE table_name = $1 "
                        + "AND column_name NOT LIKE '\\_gather%' ORDER BY ordinal_position", [.string(table)]
                ).compactMap { $0.first?.stringValue }
                guard !columns.isEmpty else { return [] }
                let list = columns.map { quoteIdentifier($0) + "::text" }.joined(separator: ", ")
                return try await server.query("SELECT \(list) FROM \(quoteIdentifier(table))").map {
                    Self.record(columns, $0)
                }
            }
        case .jsonLines(let path):
            let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
            for line in text.split(separator: "\n") {
                guard case .object(let object) = try JSONReader.parse(String(line)) else { continue }
                rows.append(Self.record(Array(object.keys), Array(object.values)))
            }
        case .csv(let path):
            let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
            let lines = text.split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false) }
            guard let header = lines.first?.map(String.init) else { return [] }
            for line in lines.dropFirst() {
                rows.append(Self.record(header, line.map { $0.isEmpty ? Value.null : .string(String($0)) }))
            }
        }
        return rows.sorted { (Int($0["id"] ?? "") ?? 0) < (Int($1["id"] ?? "") ?? 0) }
    }

    private static func record(_ columns: [String], _ values: [Value]) -> [String: String] {
        var record: [String: String] = [:]
        for (column, value) in zip(columns, values) where !column.hasPrefix("_gather_") {
            switch value {
            case .null: continue
            case .string(let s): record[column] = s
            case .int(let n): record[column] = String(n)
            case .double(let d): record[column] = d.description
            case .bool(let b): record[column] = b ? "true" : "false"
            case .array, .object: record[column] = JSONWriter.string(value)
            }
        }
        return record
    }
}

/// A batch of rows `ids` for `table` (records `id`, `name`, `score`, plus `extra` fields).
private func rows(
    _ ids: some Sequence<Int>, table: String = "t", mode: WriteMode = .append, key: [String] = [],
    extra: Record = [:]
) -> SinkBatch {
    var normalized: [NormalizedRow] = []
    let normalizer = Normalizer(table: table, lists: .json)
    for id in ids {
        var record: Record = ["id": .int(Int64(id)), "name": .string("n\(id)"), "score": .double(Double(id) + 0.5)]
        for (key, value) in extra { record[key] = value }
        normalizer.normalize(record, key: "\(table):\(id)", into: &normalized)
    }
    var batch = SinkBatch()
    batch.writes = [TableWrite(table: table, mode: mode, primaryKey: key, rows: normalized)]
    return batch
}

private func expected(_ ids: some Sequence<Int>) -> [[String: String]] {
    ids.map { ["id": "\($0)", "name": "n\($0)", "score": (Double($0) + 0.5).description] }
}

/// One suite for every sink (SQLite, PostgreSQL, JSON Lines, CSV): what each must do, and, where a file cannot
/// (update rows, add a CSV column), that it refuses clearly and changes nothing.
@Suite struct SinkConformanceTests {
    @Test(arguments: SinkKind.allCases) func openCommitCloseAndReopen(_ kind: SinkKind) async throws {
        let folder = try ScratchFolder()
        defer { folder.remove() }
        let target = try await SinkUnderTest.make(kind, folder: folder)
        let sink = try await target.open()
        var batch = rows(1...10)
        batch.state = [.put(scope: "work:t", key: "_", value: "{\"page\":3}")]
        batch.run = RunRow(runID: "r1", pipeline: "p", startedAt: "2026-11-23T00:00:00Z", outcome: "running")
        try await sink.commit(batch)
        try await target.close(sink)
        let reopened = try await target.open()
        #expect(try await reopened.state(scopePrefix: "work:").map(\.value) == ["{\"page\":3}"])
        #expect(try await reopened.lastRun(pipeline: "p")?.runID == "r1")
        try await target.close(reopened)
        #expect(try await target.rows("t") == expected(1...10))
    }

    /// Error rows, state changes, additive counters and the run row commit with the rows.
    @Test(arguments: SinkKind.allCases) func stateErrorsRunsAndCountsCommitTogether(_ kind: SinkKind) async throws {
        let folder = try ScratchFolder()
        defer { folder.remove() }
        let target = try await SinkUnderTest.make(kind, folder: folder)
        let sink = try await target.open()
        var batch = rows(1...1)
        batch.state = [
            .put(scope: "work:t", key: "_", value: "{\"page\":1}"), .put(scope: "pages:t:_", key: "0", value: "null"),
        ]
        batch.errors = [
            ErrorRow(
                runID: "r1", resource: "t", request: "http://x", code: "http_status", message: "HTTP 500\tbad",
                payload: "oops\n", at: "2026-01-01T00:00:00Z")
        ]
        batch.run = RunRow(runID: "r1", pipeline: "p", startedAt: "2026-01-01T00:00:00Z", outcome: "running")
        var counts = ResourceCounts(runID: "r1", resource: "t")
        counts.pages = 1
        counts.rows = 1
        batch.counts = [counts]
        try await sink.commit(batch)
        var more = SinkBatch()
        more.counts = [counts]
        try await sink.commit(more)
        #expect(try await sink.state(scopePrefix: "work:").map(\.value) == ["{\"page\":1}"])
        #expect(try await sink.lastRun(pipeline: "p")?.outcome == "running")
        #expect(try await sink.counts(runID: "r1").first?.pages == 2)
        var clear = SinkBatch()
        clear.state = [.clearPrefix("pages:")]
        try await sink.commit(clear)
        #expect(try await sink.state(scopePrefix: "").count == 1)
        try await target.close(sink)
        #expect(try await target.errorRows() == [["http_status", "HTTP 500\tbad", "oops\n"]])
    }

    @Test(arguments: SinkKind.allCases) func aBatchOfNRows(_ kind: SinkKind) async throws {
        let folder = try ScratchFolder()
        defer { folder.remove() }
        let target = try await SinkUnderTest.make(kind, folder: folder)
        let sink = try await target.open()
        try await sink.commit(rows(1...5000))
        try await target.close(sink)
        #expect(try await target.rows("t") == expected(1...5000))
    }

    @Test(arguments: SinkKind.allCases) func parallelWriters(_ kind: SinkKind) async throws {
        let folder = try ScratchFolder()
        defer { folder.remove() }
        let target = try await SinkUnderTest.make(kind, folder: folder)
        let sink = try await target.open()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for writer in 0..<8 {
                group.addTask {
                    for batch in 0..<5 {
                        let first = writer * 1000 + batch * 100 + 1
                        var rowsBatch = rows(first..<(first + 100))
                        var counts = ResourceCounts(runID: "r", resource: "t")
                        counts.rows = 100
                        rowsBatch.counts = [counts]
                        try await sink.commit(rowsBatch)
                    }
                }
            }
            try await group.waitForAll()
        }
        #expect(try await sink.counts(runID: "r").first?.rows == 4000)
        try await target.close(sink)
        let ids = (0..<8).flatMap { writer in (0..<500).map { writer * 1000 + $0 + 1 } }.sorted()
        #expect(try await target.rows("t") == expected(ids))
    }

    /// A batch that fails part-way (its second write cannot be written) changes nothing, and the sink goes on.
    @Test(arguments: SinkKind.allCases) func aFailedBatchWritesNothing(_ kind: SinkKind) async throws {
        let folder = try ScratchFolder()
        defer { folder.remove() }
        let target = try await SinkUnderTest.make(kind, folder: folder)
        let sink = try await target.open()
        try await sink.commit(rows(1...3))
        var batch = rows(4...6)
        // A merge whose key is not a field: databases reject the new table, files reject merge itself.
        batch.writes += rows(1...2, table: kind.isFile ? "t" : "k", mode: .merge, key: ["missing"]).writes
        batch.state = [.put(scope: "work:t", key: "_", value: "{}")]
        await #expect(throws: (any Error).self) { try await sink.commit(batch) }
        #expect(try await sink.state(scopePrefix: "work:").isEmpty)
        try await sink.commit(rows(7...8))
        try await target.close(sink)
        #expect(try await target.rows("t") == expected([1, 2, 3, 7, 8]))
    }

    /// New fields and a widened type: databases add and retype columns; JSON Lines writes the new field; a CSV
    /// file's header is fixed, so it refuses the new column and keeps what it had.
    @Test(arguments: SinkKind.allCases) func schemaEvolution(_ kind: SinkKind) async throws {
        let folder = try ScratchFolder()
        defer { folder.remove() }
        let target = try await SinkUnderTest.make(kind, folder: folder)
        let sink = try await target.open()
        try await sink.commit(rows(1...2))
        let evolved = rows(3...4, extra: ["extra": "e", "score": "high"])
        if kind == .csv {
            await #expect(throws: (any Error).self) { try await sink.commit(evolved) }
            try await target.close(sink)
            #expect(try await target.rows("t") == expected(1...2))
            return
        }
        try await sink.commit(evolved)
        try await target.close(sink)
        var want = expected(1...2)
        want += (3...4).map { ["id": "\($0)", "name": "n\($0)", "score": "high", "extra": "e"] }
        #expect(try await target.rows("t") == want)
    }

    @Test(arguments: SinkKind.allCases) func mergeUpdatesByKey(_ kind: SinkKind) async throws {
        let folder = try ScratchFolder()
        defer { folder.remove() }
        let target = try await SinkUnderTest.make(kind, folder: folder)
        let sink = try await target.open()
        if kind.isFile {
            do {
                try await sink.commit(rows(1...3, mode: .merge, key: ["id"]))
                Issue.record("a file sink accepted merge")
            } catch {
                #expect("\(error)".contains("merge"), "\(error)")
            }
            try await target.close(sink)
            #expect(try await target.rows("t").isEmpty)
            return
        }
        try await sink.commit(rows(1...3, mode: .merge, key: ["id"]))
        try await sink.commit(rows([2, 3, 4], mode: .merge, key: ["id"], extra: ["name": "updated"]))
        try await target.close(sink)
        let got = try await target.rows("t")
        #expect(got.map { $0["id"] } == ["1", "2", "3", "4"])
        #expect(got.map { $0["name"] } == ["n1", "updated", "updated", "updated"])
    }

    /// `gather load` into each sink, SIGKILLed at seeded points and run again: the result equals a clean load's.
    @Test(.timeLimit(.minutes(15)), arguments: SinkKind.allCases) func resumeAfterSIGKILL(_ kind: SinkKind) async throws
    {
        try await oneKillTestAtATime {
            let folder = try ScratchFolder()
            defer { folder.remove() }
            // Small transactions over enough rows that a load takes a second or more even here: kill points then
            // land mid-way rather than after a fast load has finished.
            let count = 300_000
            let want = expected(1...count)
            let lines = (1...count).map { "\($0),n\($0),\(Double($0) + 0.5)" }
            let input = try folder.write("t.csv", "id,name,score\n" + lines.joined(separator: "\n") + "\n")
            var targets: [String: SinkUnderTest] = [:]
            for name in ["clean"] + (0..<12).map({ "killed\($0)" }) {
                targets[name] = try await SinkUnderTest.make(kind, folder: folder, name: name)
            }
            func load(_ name: String, killAfter: Duration? = nil) async throws -> ProcessResult {
                try await runGather(["load", input, "--into", targets[name]!.text, "--batch-rows", "400", "--quiet"]) {
                    process in
                    guard let killAfter else { return }
                    try await Task.sleep(for: killAfter)
                    if process.isRunning { kill(process.processIdentifier, SIGKILL) }
                }
            }
            let started = ContinuousClock.now
            let clean = try await load("clean")
            let cleanDuration = started.duration(to: .now)
            #expect(clean.status == 0, "\(clean.stderr)")
            #expect(try await targets["clean"]!.rows("t") == want)
            let killed = try await killAndResume(
                seed: 5_2026_1123, kills: 4, cleanDuration: cleanDuration, earliest: 0.05,
                destination: { "killed\($0)" }, run: { try await load($0, killAfter: $1) },
                completed: { try await targets[$0]!.lastRunCompleted() }
            ) { name, scenario in
                let got = try await targets[name]!.rows("t")
                #expect(got.count == count, "\(kind) scenario \(scenario): \(got.count) rows")
                #expect(got == want, "\(kind) scenario \(scenario)")
            }
            #expect(killed == 4, "only \(killed) loads were killed before finishing")
        }
    }
}
