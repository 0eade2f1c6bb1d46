import Foundation
import GatherCore
import GatherFormats
import GatherSQLite
import GatherStore
import GatherTesting
import Testing

@testable import GatherFiles

// MARK: - Helpers

/// A path named `name` in a fresh temporary folder.
private func scratchPath(_ name: String) -> String {
    ScratchFolder.untilExit("file-sink") + "/" + name
}

private func bytes(of path: String) -> [UInt8] {
    FileManager.default.contents(atPath: path).map { [UInt8]($0) } ?? []
}

private func exists(_ path: String) -> Bool {
    FileManager.default.fileExists(atPath: path)
}

private func create(_ path: String, _ text: String) {
    #expect(FileManager.default.createFile(atPath: path, contents: Data(text.utf8)))
}

private func append(_ text: String, to path: String) throws {
    let handle = try #require(FileHandle(forWritingAtPath: path))
    defer { try? handle.close() }
    try handle.seekToEnd()
    try handle.write(contentsOf: Data(text.utf8))
}

/// Each line of the JSON Lines file at `path`, parsed.
private func jsonLines(_ path: String) throws -> [Value] {
    let text = String(decoding: bytes(of: path), as: UTF8.self)
    #expect(text.isEmpty || text.hasSuffix("\n"))
    return try text.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map {
        try JSONReader.parse(String($0))
    }
}

/// A block typed the way the CSV reader types it; `nil` is an empty (null) field.
private func block(_ fields: [String], _ rows: [[String?]]) -> RowBlock {
    var block = RowBlock(fields: fields)
    for row in rows {
        for field in row {
            let text = Array((field ?? "").utf8)
            block.append(text.withUnsafeBytes { FieldSyntax.parse($0) }, text: text)
        }
        block.endRow()
    }
    return block
}

private func rows(_ block: RowBlock, table: String = "t", mode: WriteMode = .append) -> SinkBatch {
    var batch = SinkBatch()
    batch.writes = [TableWrite(table: table, mode: mode, primaryKey: [], block: block)]
    return batch
}

private func rows(
    _ records: [Record], table: String = "t", lists: Normalizer.NestedLists = .json, mode: WriteMode = .append
) -> SinkBatch {
    var normalized: [NormalizedRow] = []
    let normalizer = Normalizer(table: table, lists: lists)
    for (index, record) in records.enumerated() { normalizer.normalize(record, key: "[\(index)]", into: &normalized) }
    var batch = SinkBatch()
    batch.writes = [TableWrite(table: table, mode: mode, primaryKey: mode == .merge ? ["id"] : [], rows: normalized)]
    return batch
}

private func errorRow(_ request: String, run: String = "r1") -> ErrorRow {
    ErrorRow(
        runID: run, resource: "t", request: request, code: "ragged_row", message: "3 fields, 2 expected",
        payload: "a,b,\"c\"", at: "2026-01-01T00:00:00Z")
}

/// The CSV file at `path`, parsed back: header and rows (a row with an error fails the test).
private func csv(_ path: String) throws -> (header: [String]?, rows: [[String]]) {
    let table = try CSVParser.parse(bytes(of: path))
    return (table.header, try table.rows.map { try $0.get() })
}

private func message(of error: any Error) -> String {
    (error as? FileError)?.message ?? "\(error)"
}

// MARK: - Tests

@Suite struct FileSinkTests {
    @Test func jsonLinesOfABlockKeepEveryValueExactly() async throws {
        let path = scratchPath("out.jsonl")
        let sink = try FileSink(path: path, format: .jsonLines)
        try await sink.commit(
            rows(
                block(
                    ["id", "name", "score", "ok", "at", "zip", "note"],
                    [
                        [
                            "1", "Ada \"Countess\"\nof Lovelace", "5538.04", "TRUE", "2024-05-01T12:30:00Z", "007",
                            "tab\there ünïcødé 😀 \\ back/slash",
                        ],
                        ["-9223372036854775808", nil, "1.50", "false", "2024-05-01", "+5", nil],
                        ["2", "control \u{01}\u{1F} \u{7F}", "1e10", nil, nil, "9223372036854775808", "x"],
                    ])))
        // Cells typed by someone else: the text is kept only when it is JSON.
        var odd = RowBlock(fields: ["id", "score"])
        odd.append(.integer(5), text: Array("+5".utf8))
        odd.append(.real(1), text: Array("1.".utf8))
        odd.endRow()
        try await sink.commit(rows(odd))
        try await sink.close()

        let expected: [Value] = [
            [
                "id": 1, "name": "Ada \"Countess\"\nof Lovelace", "score": 5538.04, "ok": true,
                "at": "2024-05-01T12:30:00Z", "zip": "007", "note": "tab\there ünïcødé 😀 \\ back/slash",
            ],
            [
                "id": .int(.min), "name": nil, "score": 1.5, "ok": false, "at": "2024-05-01", "zip": "+5", "note": nil,
            ],
            [
                "id": 2, "name": "control \u{01}\u{1F} \u{7F}", "score": 1e10, "ok": nil, "at": nil,
                "zip": "9223372036854775808", "note": "x",
            ],
            ["id": 5, "score": 1.0],
        ]
        let parsed = try jsonLines(path)
        #expect(parsed == expected)
        // Numbers are written as they were read.
        let text = String(decoding: bytes(of: path), as: UTF8.self)
        #expect(text.contains(#""score":1.50,"#) && text.contains(#""score":1e10,"#))
        #expect(text.contains(#""name":"control \u0001\u001f "#))
        #expect(!exists(FileSink.errorsPath(for: path)))
    }

    @Test func jsonLinesOfNormalizedRowsAreTheRecordsWithoutGathersColumns() async throws {
        let path = scratchPath("out.jsonl")
        let sink = try FileSink(path: path, format: .jsonLines)
        let records: [Record] = [
            [
                "id": 1, "name": "q \"x\"\n ü 😀", "tags": [1, "a", nil], "dims": ["w": 2, "h": 2.5], "none": nil,
                "flag": true,
            ],
            ["id": 2, "zip": "007", "big": 12_345_678_901_234, "tiny": 1e-300],
        ]
        try await sink.commit(rows(records))
        try await sink.close()
        let expected: [Value] = [
            [
                "id": 1, "name": "q \"x\"\n ü 😀", "tags": [1, "a", nil], "dims__w": 2, "dims__h": 2.5, "none": nil,
                "flag": true,
            ],
            ["id": 2, "zip": "007", "big": 12_345_678_901_234, "tiny": 1e-300],
        ]
        #expect(try jsonLines(path) == expected)
        #expect(!String(decoding: bytes(of: path), as: UTF8.self).contains("_gather"))
    }

    @Test func csvRoundTripsThroughTheParserExactly() async throws {
        let path = scratchPath("out.csv")
        let sink = try FileSink(path: path, format: .csv)
        let fields = ["id", "text", "note, with \"quotes\""]
        let values: [[String?]] = [
            ["1", "a,b", "say \"hi\""],
            ["2", "line1\nline2", "cr\rhere"],
            ["3", "crlf\r\nx", " spaced "],
            ["007", "ünï 😀", nil],
            [nil, "\"", ","],
        ]
        try await sink.commit(rows(block(fields, Array(values[0..<2]))))
        try await sink.commit(rows(block(fields, Array(values[2...]))))
        try await sink.close()
        let table = try csv(path)
        #expect(table.header == fields)
        #expect(table.rows == values.map { $0.map { $0 ?? "" } })
        let text = String(decoding: bytes(of: path), as: UTF8.self)
        #expect(text.hasPrefix("id,text,\"note, with \"\"quotes\"\"\"\n1,\"a,b\",\"say \"\"hi\"\"\"\n"))
    }

    @Test func csvOfNormalizedRows() async throws {
        let path = scratchPath("out.csv")
        let sink = try FileSink(path: path, format: .csv)
        try await sink.commit(
            rows([
                ["id": 1, "score": 0.1, "whole": 1.0, "ok": true, "name": "a, b", "tags": [1, "x"], "none": nil],
                ["id": 2, "name": "line\nbreak", "ok": false],
            ]))
        // Later rows may lack columns.
        try await sink.commit(rows([["name": "only", "id": -9_223_372_036_854_775_808]]))
        try await sink.close()
        let table = try csv(path)
        #expect(table.header == ["id", "score", "whole", "ok", "name", "tags", "none"])
        #expect(
            table.rows == [
                ["1", "0.1", "1.0", "true", "a, b", #"[1,"x"]"#, ""],
                ["2", "", "", "false", "line\nbreak", "", ""],
                ["-9223372036854775808", "", "", "", "only", "", ""],
            ])
    }

    @Test func csvRowOfOneEmptyFieldIsNotABlankLine() async throws {
        let path = scratchPath("out.csv")
        let sink = try FileSink(path: path, format: .csv)
        try await sink.commit(rows(block(["x"], [["a"], [nil], ["b"]])))
        try await sink.close()
        #expect(String(decoding: bytes(of: path), as: UTF8.self) == "x\na\n\"\"\nb\n")
        #expect(try csv(path).rows == [["a"], [""], ["b"]])
    }

    @Test func csvColumnsAreFixedByTheFirstRows() async throws {
        let path = scratchPath("out.csv")
        let sink = try FileSink(path: path, format: .csv)
        try await sink.commit(rows(block(["a", "b"], [["1", "2"]])))
        // Fewer columns, in another order: empty fields.
        try await sink.commit(rows(block(["b"], [["3"]])))
        let before = bytes(of: path)
        do {
            try await sink.commit(rows(block(["a", "c"], [["4", "5"]])))
            Issue.record("a new column was accepted")
        } catch {
            let text = message(of: error)
            #expect(text.contains("column 'c'") && text.contains("(a, b)") && text.contains("same columns"))
            #expect(text.contains("SQLite or JSON Lines"))
        }
        do {
            try await sink.commit(rows([["a": 1, "d": 2]]))
            Issue.record("a new column was accepted")
        } catch {
            #expect(message(of: error).contains("column 'd'"))
        }
        // A refused batch writes nothing, and the sink goes on.
        let unchanged = bytes(of: path) == before
        #expect(unchanged)
        try await sink.commit(rows(block(["a", "b"], [["6", "7"]])))
        try await sink.close()
        #expect(try csv(path).rows == [["1", "2"], ["", "3"], ["6", "7"]])
    }

    @Test func stateRunsCountsAndErrorsLiveInTheSidecar() async throws {
        let path = scratchPath("out.jsonl")
        let sink = try FileSink(path: path, format: .jsonLines)
        var first = rows(block(["id"], [["1"], ["2"]]))
        first.state = [.put(scope: "load:files", key: "/a.csv", value: #"{"offset":10}"#)]
        first.run = RunRow(runID: "r1", pipeline: "load", startedAt: "2026-01-01T00:00:00Z", outcome: "running")
        var counts = ResourceCounts(runID: "r1", resource: "t")
        counts.records = 3
        counts.written = 2
        counts.errors = 1
        first.counts = [counts]
        first.errors = [errorRow("a.csv:3")]
        try await sink.commit(first)
        var second = rows(block(["id"], [["3"]]))
        second.state = [
            .put(scope: "load:files", key: "/a.csv", value: #"{"offset":20}"#),
            .put(scope: "other", key: "k", value: "1"),
        ]
        counts.records = 1
        counts.written = 1
        counts.errors = 0
        second.counts = [counts]
        try await sink.commit(second)

        func check(_ sink: FileSink) async throws {
            #expect(
                try await sink.state(scopePrefix: "") == [
                    StateEntry(scope: "load:files", key: "/a.csv", value: #"{"offset":20}"#),
                    StateEntry(scope: "other", key: "k", value: "1"),
                ])
            #expect(try await sink.state(scopePrefix: "load:").count == 1)
            #expect(try await sink.lastRun(pipeline: "load")?.runID == "r1")
            #expect(try await sink.lastRun(pipeline: "other") == nil)
            let totals = try await sink.counts(runID: "r1")
            #expect(totals.count == 1)
            #expect(totals.first?.records == 4 && totals.first?.written == 3 && totals.first?.errors == 1)
        }
        try await check(sink)
        try await sink.close()

        let errors = try jsonLines(FileSink.errorsPath(for: path))
        #expect(
            errors == [
                [
                    "run_id": "r1", "resource": "t", "request": "a.csv:3", "code": "ragged_row",
                    "message": "3 fields, 2 expected", "payload": "a,b,\"c\"", "created_at": "2026-01-01T00:00:00Z",
                ]
            ])
        let store = try SQLiteStore(path: FileSink.sidecarPath(for: path))
        #expect(try store.database.query("SELECT request, code FROM _gather_errors") == [["a.csv:3", "ragged_row"]])

        // Reopened: the same state, and new rows are appended.
        let reopened = try FileSink(path: path, format: .jsonLines)
        try await check(reopened)
        try await reopened.commit(rows(block(["id"], [["4"]])))
        try await reopened.close()
        #expect(try jsonLines(path) == [["id": 1], ["id": 2], ["id": 3], ["id": 4]])
    }

    @Test func reopeningDropsWhatAnUnfinishedCommitWrote() async throws {
        let path = scratchPath("out.jsonl")
        let errorsPath = FileSink.errorsPath(for: path)
        let sink = try FileSink(path: path, format: .jsonLines)
        var first = rows(block(["id", "name"], [["1", "a"], ["2", "b"]]))
        first.errors = [errorRow("x:1")]
        try await sink.commit(first)
        var second = rows(block(["id", "name"], [["3", "c"]]))
        second.errors = [errorRow("x:2")]
        try await sink.commit(second)
        try await sink.close()
        let committed = bytes(of: path)
        let committedErrors = bytes(of: errorsPath)

        // A third commit wrote its rows and error lines, then the process died before the sidecar commit.
        try append(#"{"id":4,"name":"d"}"# + "\n" + #"{"id":5,"#, to: path)
        try append(#"{"run_id":"r1","request":"x:3"}"# + "\n", to: errorsPath)

        let reopened = try FileSink(path: path, format: .jsonLines)
        let intact = bytes(of: path) == committed && bytes(of: errorsPath) == committedErrors
        #expect(intact)
        var third = rows(block(["id", "name"], [["4", "d"]]))
        third.errors = [errorRow("x:3")]
        try await reopened.commit(third)
        try await reopened.close()
        #expect(
            try jsonLines(path) == [
                ["id": 1, "name": "a"], ["id": 2, "name": "b"], ["id": 3, "name": "c"],
                ["id": 4, "name": "d"],
            ])
        #expect(try jsonLines(errorsPath).map { $0["request"] } == ["x:1", "x:2", "x:3"])
    }

    @Test func reopenedCSVKeepsItsHeader() async throws {
        let path = scratchPath("out.csv")
        let sink = try FileSink(path: path, format: .csv)
        try await sink.commit(rows(block(["a", "b"], [["1", "x"]])))
        try await sink.commit(rows(block(["a", "b"], [["2", "y"]])))
        try await sink.close()
        try append("3,z\n4,", to: path)

        let reopened = try FileSink(path: path, format: .csv)
        try await reopened.commit(rows(block(["a", "b"], [["3", "w"]])))
        do {
            try await reopened.commit(rows(block(["a", "c"], [["5", "v"]])))
            Issue.record("a new column was accepted after reopening")
        } catch {
            #expect(message(of: error).contains("column 'c'"))
        }
        try await reopened.close()
        #expect(String(decoding: bytes(of: path), as: UTF8.self) == "a,b\n1,x\n2,y\n3,w\n")
    }

    @Test func replaceModeEmptiesTheFile() async throws {
        let path = scratchPath("out.csv")
        let sink = try FileSink(path: path, format: .csv)
        var first = rows(block(["a", "b"], [["1", "x"], ["2", "y"]]))
        first.errors = [errorRow("x:1")]
        try await sink.commit(first)
        // Replace: the file starts over, with a new header; error rows are kept.
        var replace = rows(block(["c"], [["new"]]), mode: .replace)
        replace.truncate = ["t"]
        try await sink.commit(replace)
        #expect(String(decoding: bytes(of: path), as: UTF8.self) == "c\nnew\n")
        #expect(!exists(FileSink.replacementPath(for: path)))
        try await sink.commit(rows(block(["c"], [["more"]]), mode: .replace))
        // An opening batch that only empties the file.
        var opening = SinkBatch()
        opening.truncate = ["t"]
        opening.run = RunRow(runID: "r2", pipeline: "load", startedAt: "2026-01-02T00:00:00Z", outcome: "running")
        try await sink.commit(opening)
        #expect(bytes(of: path).count == 0)
        try await sink.commit(rows(block(["d", "e"], [["1", "2"]])))
        try await sink.close()

        let reopened = try FileSink(path: path, format: .csv)
        try await reopened.commit(rows(block(["d", "e"], [["3", "4"]])))
        try await reopened.close()
        #expect(String(decoding: bytes(of: path), as: UTF8.self) == "d,e\n1,2\n3,4\n")
        #expect(try jsonLines(FileSink.errorsPath(for: path)).count == 1)
    }

    @Test func anInterruptedReplacementIsFinishedOrDiscarded() async throws {
        let path = scratchPath("out.jsonl")
        let replacement = FileSink.replacementPath(for: path)
        let sink = try FileSink(path: path, format: .jsonLines)
        try await sink.commit(rows(block(["id"], [["1"]])))
        try await sink.close()

        // Not committed: the replacement is discarded.
        create(replacement, #"{"id":9}"#)
        try await FileSink(path: path, format: .jsonLines).close()
        #expect(!exists(replacement))
        #expect(try jsonLines(path) == [["id": 1]])

        // Committed, but the process died before the rename: opening finishes it.
        let content = #"{"id":2}"# + "\n"
        create(replacement, content)
        let store = try SQLiteStore(path: FileSink.sidecarPath(for: path))
        var batch = SinkBatch()
        batch.state = [
            .put(scope: FileSink.stateScope, key: FileSink.StateKey.length, value: String(content.utf8.count)),
            .put(scope: FileSink.stateScope, key: FileSink.StateKey.replacing, value: "true"),
        ]
        try store.commitNow(batch)
        let reopened = try FileSink(path: path, format: .jsonLines)
        #expect(!exists(replacement))
        #expect(try jsonLines(path) == [["id": 2]])
        #expect(
            try store.stateNow(scopePrefix: FileSink.stateScope).map(\.key).sorted() == ["errors_length", "length"])
        try await reopened.commit(rows(block(["id"], [["3"]])))
        try await reopened.close()
        #expect(try jsonLines(path) == [["id": 2], ["id": 3]])
    }

    @Test func aNewDestinationStartsEmpty() async throws {
        let path = scratchPath("out.jsonl")
        create(path, "old content\n")
        create(FileSink.errorsPath(for: path), "old errors\n")
        let sink = try FileSink(path: path, format: .jsonLines)
        #expect(bytes(of: path).count == 0)
        #expect(!exists(FileSink.errorsPath(for: path)))
        #expect(exists(FileSink.sidecarPath(for: path)))
        try await sink.commit(rows(block(["id"], [["1"]])))
        try await sink.close()
        #expect(try jsonLines(path) == [["id": 1]])
    }

    @Test func aFileCutOutsideGatherIsAClearError() async throws {
        let path = scratchPath("out.jsonl")
        let sink = try FileSink(path: path, format: .jsonLines)
        try await sink.commit(rows(block(["id"], [["1"], ["2"]])))
        try await sink.close()
        #expect(truncate(path, 3) == 0)
        do {
            _ = try FileSink(path: path, format: .jsonLines)
            Issue.record("a cut file was accepted")
        } catch {
            let text = message(of: error)
            #expect(text.contains("holds 3 bytes") && text.contains("outside Gather") && text.contains(".gather.db"))
        }
    }

    @Test func mergeAndChildTablesAreRefused() async throws {
        let path = scratchPath("out.jsonl")
        let sink = try FileSink(path: path, format: .jsonLines)
        do {
            try await sink.commit(rows([["id": 1]], mode: .merge))
            Issue.record("merge was accepted")
        } catch {
            #expect(message(of: error).contains("merge"))
        }
        do {
            try await sink.commit(rows([["id": 1, "tags": [1, 2]]], lists: .tables))
            Issue.record("child rows were accepted")
        } catch {
            #expect(message(of: error).contains("t__tags") && message(of: error).contains("lists: json"))
        }
        try await sink.close()
        #expect(bytes(of: path).count == 0)
        await #expect(throws: FileError.self) { try await sink.commit(rows([["id": 1]])) }
    }

    @Test func concurrentCommitsAreEachWrittenOnce() async throws {
        let path = scratchPath("out.jsonl")
        let sink = try FileSink(path: path, format: .jsonLines)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for id in 0..<40 {
                group.addTask {
                    var batch = rows(block(["id", "text"], [[String(id), String(repeating: "x", count: id * 100)]]))
                    var counts = ResourceCounts(runID: "r1", resource: "t")
                    counts.written = 1
                    batch.counts = [counts]
                    try await sink.commit(batch)
                }
            }
            try await group.waitForAll()
        }
        #expect(try await sink.counts(runID: "r1").first?.written == 40)
        try await sink.close()
        let ids = try jsonLines(path).compactMap { $0["id"]?.intValue }.sorted()
        #expect(ids == (0..<40).map(Int64.init))
        // A closed sink refuses to be used, with a clear error (GRDB would crash on its closed sidecar).
        await #expect(throws: (any Error).self) { try await sink.counts(runID: "r1") }
    }

    @Test func jsonNumberSyntax() {
        let valid = ["0", "-0", "1", "-12", "1.5", "0.25", "1e10", "1E+3", "-2.5e-3", "9223372036854775808"]
        let invalid = ["", "-", "+1", "01", "1.", ".5", "1e", "1e+", "nan", "inf", "0x10", "1 ", "1_000"]
        for text in valid { #expect(Array(text.utf8).withUnsafeBytes { FileSink.isJSONNumber($0) }, "\(text)") }
        for text in invalid { #expect(!Array(text.utf8).withUnsafeBytes { FileSink.isJSONNumber($0) }, "\(text)") }
    }
}
