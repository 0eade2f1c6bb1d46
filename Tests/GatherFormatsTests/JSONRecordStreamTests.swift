import Foundation
import GatherCore
import GatherFormats
import Testing

@Suite("JSONRecordStream")
struct JSONRecordStreamTests {
    /// One emitted record: its text, its position, and its parsed value (`nil` if it does not parse).
    struct Emitted: Equatable {
        var text: String
        var index: Int
        var offset: Int
        var line: Int
        var column: Int
        var value: Value?
    }

    static let chunkSizes: [Int?] = [1, 2, 3, 7, 64, nil]

    /// `[line, column, offset]` of an error.
    static func position(_ error: JSONError) -> [Int] { [error.line, error.column, error.offset] }

    /// Streams `bytes` fed in chunks of `chunkSize` (`nil`: all at once); each chunk is a fresh array.
    static func stream(
        _ bytes: [UInt8],
        path: String?,
        chunkSize: Int?,
        maxRecordSize: Int = 64 << 20,
        maxDepth: Int = 512
    ) -> Result<[Emitted], JSONError> {
        var emitted: [Emitted] = []
        do {
            var stream = try JSONRecordStream(path: path, maxRecordSize: maxRecordSize, maxDepth: maxDepth)
            let collect = { (record: JSONRecordStream.RawRecord) in
                emitted.append(
                    Emitted(
                        text: record.text,
                        index: record.index,
                        offset: record.offset,
                        line: record.line,
                        column: record.column,
                        value: try? record.parse()
                    )
                )
            }
            let size = max(chunkSize ?? bytes.count, 1)
            var start = 0
            while start < bytes.count {
                let end = min(start + size, bytes.count)
                try stream.feed(Array(bytes[start..<end]), isLast: false, emit: collect)
                start = end
            }
            try stream.finish(emit: collect)
            return .success(emitted)
        } catch let error as JSONError {
            return .failure(error)
        } catch {
            Issue.record("unexpected error \(error)")
            return .success([])
        }
    }

    static func stream(_ text: String, path: String? = nil, chunkSize: Int? = nil) -> Result<[Emitted], JSONError> {
        stream(Array(text.utf8), path: path, chunkSize: chunkSize)
    }

    /// The records a full parse selects: the node at `path` (without a trailing `[*]`); an array's
    /// elements, or an object as the one record.
    static func expectedRecords(_ bytes: [UInt8], path: String?) throws -> [Value] {
        let document = try JSONReader.parse(bytes)
        var expression = path ?? "$"
        if expression.hasSuffix("[*]") {
            expression.removeLast(3)
        } else if expression.hasSuffix(".*") {
            expression.removeLast(2)
        }
        let nodes = try JSONPath(expression).select(in: document)
        #expect(nodes.count == 1)
        switch nodes.first {
        case .array(let elements)?: return elements
        case let node?: return [node]
        case nil: return []
        }
    }

    /// Streams `text` at every chunk size; checks the records against a full parse and that every
    /// chunk size gives the same records at the same positions. Returns the records.
    @discardableResult
    static func checkAllChunkSizes(_ text: String, path: String? = nil) throws -> [Emitted] {
        let bytes = Array(text.utf8)
        let expected = try expectedRecords(bytes, path: path)
        var first: [Emitted]?
        for size in chunkSizes {
            let records = try stream(bytes, path: path, chunkSize: size).get()
            let values = records.map(\.value)
            let valuesMatch = values == expected.map { Optional($0) }
            #expect(valuesMatch, "chunk size \(size.map(String.init) ?? "all"), path \(path ?? "nil")")
            if let first {
                let same = first == records
                #expect(same, "chunk size \(size.map(String.init) ?? "all") differs from chunk size 1")
            } else {
                first = records
            }
        }
        return first ?? []
    }

    /// The error streaming `text` throws, which must be the same at every chunk size.
    static func streamError(
        _ text: String,
        path: String? = nil,
        maxRecordSize: Int = 64 << 20,
        maxDepth: Int = 512
    ) throws -> JSONError {
        var errors: [JSONError] = []
        for size in chunkSizes {
            let result = stream(
                Array(text.utf8), path: path, chunkSize: size, maxRecordSize: maxRecordSize, maxDepth: maxDepth)
            guard case .failure(let error) = result else {
                Issue.record("no error at chunk size \(size.map(String.init) ?? "all")")
                throw CancellationError()
            }
            errors.append(error)
        }
        let allSame = errors.allSatisfy { $0 == errors[0] }
        #expect(allSame, "errors differ between chunk sizes: \(errors.map(\.description))")
        return errors[0]
    }

    // MARK: - Selecting records

    @Test func topLevelArrayOfObjects() throws {
        let records = try Self.checkAllChunkSizes(#"[{"id": 1, "name": "a"}, {"id": 2, "tags": ["x", "y"]}]"#)
        #expect(records.map(\.text) == [#"{"id": 1, "name": "a"}"#, #"{"id": 2, "tags": ["x", "y"]}"#])
        #expect(records.map(\.index) == [0, 1])
        #expect(records[1].value?["tags"]?[1] == "y")
    }

    static let nested = #"""
        {"meta": {"count": 2, "note": "a ] } \" \\ [ {", "list": [[1, 2], {"items": [9]}]},
         "skip": [[], {}, "items", -1.5e3, true, false, null],
         "data": {"other": "x", "items": [{"a": 1}, {"a": "]}\\\""}, 3, "s", null, [1, [2]], {}],
                  "after": {"items": [1], "x": "}"}},
         "tail": [true]}
        """#

    @Test(arguments: ["$.data.items", "$['data'][\"items\"]", "$.data.items[*]", "$.data['items'].*"])
    func nestedPath(path: String) throws {
        let records = try Self.checkAllChunkSizes(Self.nested, path: path)
        #expect(records.count == 7)
        #expect(records[1].text == #"{"a": "]}\\\""}"#)
        #expect(records[1].value?["a"] == #"]}\""#)
        #expect(records.map(\.text).suffix(5) == ["3", #""s""#, "null", "[1, [2]]", "{}"])
    }

    @Test func otherArraysInTheDocument() throws {
        let lists = try Self.checkAllChunkSizes(Self.nested, path: "$.skip")
        #expect(lists.count == 7)
        let nine = try Self.checkAllChunkSizes(Self.nested, path: "$.meta.list")
        #expect(nine.map(\.text) == ["[1, 2]", #"{"items": [9]}"#])
        let object = try Self.checkAllChunkSizes(Self.nested, path: "$.data.after")
        #expect(object.map(\.text) == [#"{"items": [1], "x": "}"}"#])
        #expect(try Self.checkAllChunkSizes(Self.nested, path: "$.data.after.items").map(\.text) == ["1"])
    }

    @Test func stringsWithBracketsQuotesAndBackslashes() throws {
        let text = #"""
            ["]", "}", "[", "{", "\"", "\\", "\\\"]", "a\\\\", "\"]\"", {"k\"]": "\\"}, ["\\\\\"", "x"]]
            """#
        let records = try Self.checkAllChunkSizes(text)
        #expect(records.count == 11)
        #expect(records[6].value == #"\"]"#)
        #expect(records[9].value?[#"k"]"#] == #"\"#)
    }

    @Test func emptyArrays() throws {
        #expect(try Self.checkAllChunkSizes("[]").isEmpty)
        #expect(try Self.checkAllChunkSizes(" [ \n ] \n").isEmpty)
        #expect(try Self.checkAllChunkSizes(#"{"data": {"items": []}, "b": 1}"#, path: "$.data.items").isEmpty)
    }

    @Test func topLevelObjectIsOneRecord() throws {
        let records = try Self.checkAllChunkSizes(#"  {"a": [1, {"b": "]"}]}  "#)
        #expect(records.map(\.text) == [#"{"a": [1, {"b": "]"}]}"#])
        #expect(records.first.map { [$0.line, $0.column, $0.offset] } == [1, 3, 2])
        let error = try Self.streamError(#"{"a": 1}"#, path: "$[*]")
        #expect(error.code == .notAnArray)
        #expect(error.message.contains("remove the [*]"))
    }

    @Test func scalarElementsAreRecordsToo() throws {
        let records = try Self.checkAllChunkSizes(#"[1, -2.5e-3, "s", true, false, null, [], {}]"#)
        #expect(records.map(\.text) == ["1", "-2.5e-3", #""s""#, "true", "false", "null", "[]", "{}"])
    }

    @Test func firstOccurrenceOfADuplicateKeyIsStreamed() throws {
        let text = #"{"items": [1, 2], "items": [3], "x": {"items": "no"}}"#
        let records = try Self.stream(text, path: "$.items").get()
        #expect(records.map(\.text) == ["1", "2"])
    }

    @Test func escapedMemberNamesMatch() throws {
        let text = #"{"d\u0061ta": {"it\"ems": [1]}, "x\\y": [2]}"#
        #expect(try Self.stream(text, path: #"$.data['it"ems']"#).get().map(\.text) == ["1"])
        #expect(try Self.stream(text, path: #"$['x\\y']"#).get().map(\.text) == ["2"])
    }

    @Test func recordSpanningManyChunksIsCarried() throws {
        let big = "[" + (0..<5_000).map { "\"value \($0)\"" }.joined(separator: ",") + "]"
        let text = #"{"a": "#.appending("\(big), \"items\": [\(big), 7, \(big)]}")
        for size in [1_000, 4_096, 65_536] {
            let records = try Self.stream(Array(text.utf8), path: "$.items", chunkSize: size).get()
            let ok = records.count == 3 && records[0].text == big && records[1].text == "7" && records[2].text == big
            #expect(ok, "chunk size \(size)")
        }
    }

    // MARK: - Positions

    @Test func recordPositions() throws {
        let text = "{\r\n  \"data\": [\r\n    {\"a\": 1},\r\n    {\"b\":\r\n      2}, 3,\r\n\r\n\t\"x\"\r\n  ]\r\n}\r\n"
        let records = try Self.checkAllChunkSizes(text, path: "$.data")
        let positions = records.map { [$0.line, $0.column, $0.offset] }
        #expect(positions == [[3, 5, 20], [4, 5, 35], [5, 11, 52], [7, 2, 59]])
    }

    @Test func byteOrderMarkIsSkipped() throws {
        let bytes: [UInt8] = [0xEF, 0xBB, 0xBF] + Array("[1,\n 2]".utf8)
        for size in Self.chunkSizes {
            let records = try Self.stream(bytes, path: nil, chunkSize: size).get()
            let positions = records.map { [$0.line, $0.column, $0.offset] }
            #expect(positions == [[1, 2, 4], [2, 2, 8]])
        }
        // Only a whole byte order mark is skipped.
        let broken = Self.stream([0xEF, 0xBB] + Array("[1]".utf8), path: nil, chunkSize: 1)
        #expect(throws: JSONError.self) { try broken.get() }
    }

    @Test func parseErrorsAreReportedAtTheirPositionInTheStream() throws {
        let text = "[\n  {\"a\": 1},\n  {\"b\": tru},\n  {\n    \"c\": 01}\n]"
        var errors: [JSONError] = []
        var stream = try JSONRecordStream(path: nil)
        try stream.feed(Array(text.utf8), isLast: true) { record in
            do throws(JSONError) {
                _ = try record.parse()
            } catch {
                errors.append(error)
            }
        }
        #expect(errors.map { [$0.line, $0.column] } == [[3, 12], [5, 10]])
        let bytes = Array(text.utf8)
        #expect(errors.map { bytes[$0.offset] } == [UInt8(ascii: "}"), UInt8(ascii: "0")])
    }

    // MARK: - Errors

    @Test func notAnArray() throws {
        let scalar = try Self.streamError(#"  "text""#)
        #expect(scalar.code == .notAnArray)
        #expect(Self.position(scalar) == [1, 3, 2])
        #expect(scalar.message.contains("the document is a string"))

        let member = try Self.streamError("{\"data\": {\n  \"items\": 42}}", path: "$.data.items")
        #expect(member.code == .notAnArray)
        #expect(Self.position(member).prefix(2) == [2, 12])
        #expect(member.message.hasPrefix("no array at $.data.items: $.data.items is a number"))

        let between = try Self.streamError(#"{"data": [1]}"#, path: "$.data.items")
        #expect(between.code == .pathNotFound)
        #expect(Self.position(between).prefix(2) == [1, 10])
        #expect(between.message.contains("$.data is an array, not an object"))
    }

    @Test func missingPath() throws {
        let error = try Self.streamError("{\"a\": 1,\n \"b\": {\"items\": []}}\n", path: "$.data.items")
        #expect(error.code == .pathNotFound)
        #expect(Self.position(error) == [2, 20, 28])
        #expect(
            error.message.hasPrefix(
                #"no array at $.data.items: the document has no member "data" (its keys: "a", "b")"#))

        let inner = try Self.streamError(#"{"data": {"item": [], "total": 0}}"#, path: "$.data.items")
        #expect(
            inner.message.hasPrefix(
                #"no array at $.data.items: $.data has no member "items" (its keys: "item", "total")"#))
        #expect(Self.position(inner).prefix(2) == [1, 33])

        let empty = try Self.streamError(#"{}"#, path: "$.data")
        #expect(empty.message.contains("empty object"))

        let many = "{" + (0..<30).map { "\"k\($0)\": \($0)" }.joined(separator: ", ") + "}"
        let manyError = try Self.streamError(many, path: "$.x")
        #expect(manyError.message.contains(#""k19" and 10 more"#))

        let root = try Self.streamError("[1, 2]", path: "$.data")
        #expect(root.code == .pathNotFound)
        #expect(root.message.contains("use the path $"))
    }

    @Test func truncatedDocuments() throws {
        let cases: [(String, String?, [Int])] = [
            ("[{\"a\": 1},\n {\"b\": ", nil, [2, 8, 18]),
            ("[{\"a\": 1},\n \"abc", nil, [2, 6, 16]),
            ("[1, 2", nil, [1, 6, 5]),
            ("[1, 2,", nil, [1, 7, 6]),
            ("{\"data\": [1]", "$.data", [1, 13, 12]),
            ("{\"a\": [1, {\"b\"", "$.x", [1, 15, 14]),
            ("{\"a\"", "$.x", [1, 5, 4]),
            ("[", nil, [1, 2, 1]),
        ]
        for (text, path, position) in cases {
            let error = try Self.streamError(text, path: path)
            #expect(error.code == .unexpectedEnd, "\(text)")
            #expect(Self.position(error) == position, "\(text)")
        }
        for text in ["", " \n\t ", "\u{FEFF}"] {
            let error = try Self.streamError(text)
            #expect(error.code == .unexpectedEnd)
            #expect(error.message.contains("empty"))
        }
    }

    @Test func trailingGarbage() throws {
        let error = try Self.streamError("[1, 2]\n  x")
        #expect(error.code == .trailingData)
        #expect(Self.position(error) == [2, 3, 9])
        #expect(error.message.contains("JSON Lines"))
        let second = try Self.streamError(#"{"data": []} {"#, path: "$.data")
        #expect(Self.position(second).prefix(2) == [1, 14])
        let object = try Self.streamError(#"{"a": 1}]"#)
        #expect(object.code == .trailingData)
    }

    @Test func structuralSyntaxErrors() throws {
        let cases: [(String, String?, [Int], String)] = [
            ("[1,]", nil, [1, 4], "trailing comma"),
            ("[1 2]", nil, [1, 4], "expected ',' or ']'"),
            ("[,1]", nil, [1, 2], "expected a JSON value"),
            ("[{\"a\": [1}]", nil, [1, 10], "expected ']'"),
            ("[[1]}", nil, [1, 5], "expected ',' or ']'"),
            ("{\"a\" 1}", "$.a", [1, 6], "expected ':'"),
            ("{\"a\": 1,}", "$.b", [1, 9], "trailing comma"),
            ("{\"a\": 1 \"b\": 2}", "$.b", [1, 9], "expected ',' or '}'"),
            ("{a: 1}", "$.a", [1, 2], "member name"),
            ("{\"x\": [1}, \"a\": []}", "$.a", [1, 9], "brackets must match"),
            ("{\"x\": @, \"a\": []}", "$.a", [1, 7], "expected a JSON value"),
            ("\u{0C}[1]", nil, [1, 1], "expected a JSON value"),
        ]
        for (text, path, position, phrase) in cases {
            let error = try Self.streamError(text, path: path)
            #expect(error.code == .syntax, "\(text)")
            #expect([error.line, error.column] == position, "\(text): \(error)")
            #expect(error.message.contains(phrase), "\(text): \(error.message)")
        }
    }

    @Test func recordTooLarge() throws {
        let text = "[\"short\",\n  {\"a\": \"0123456789\"}, 1]"
        let error = try Self.streamError(text, maxRecordSize: 12)
        #expect(error.code == .recordTooLarge)
        #expect(Self.position(error) == [2, 3, 12])
        #expect(error.message.contains("record 2 is longer"))
        // Exactly at the limit is fine.
        let fits = Self.stream(Array(text.utf8), path: nil, chunkSize: 3, maxRecordSize: 19)
        #expect((try? fits.get())?.count == 3)
    }

    @Test func depthLimit() throws {
        let deep = "[" + String(repeating: "[", count: 100) + String(repeating: "]", count: 100) + "]"
        #expect((try? Self.stream(Array(deep.utf8), path: nil, chunkSize: 7, maxDepth: 100).get())?.count == 1)
        let error = try Self.streamError(deep, maxDepth: 99)
        #expect(error.code == .depthLimit)
        #expect(error.column == 101)
        // Nesting past 64 levels keeps track of the bracket kinds.
        let mixed = "[" + String(repeating: "{\"a\":[", count: 70) + "1" + String(repeating: "]}", count: 70) + "]"
        #expect(try Self.checkAllChunkSizes(mixed).count == 1)
        let wrong = "[" + String(repeating: "{\"a\":[", count: 70) + "1" + String(repeating: "]]", count: 70) + "]"
        #expect(try Self.streamError(wrong).code == .syntax)
    }

    @Test func usageAfterTheEndOrAFailure() throws {
        var stream = try JSONRecordStream(path: nil)
        try stream.feed(Array("[1]".utf8), isLast: true) { _ in }
        #expect(stream.isFinished && stream.recordCount == 1 && stream.bytesFed == 3)
        try stream.finish { _ in }  // an empty chunk after the end is harmless
        let late = try #require(throws: JSONError.self) {
            try stream.feed(Array("x".utf8), isLast: true) { _ in }
        }
        #expect(late.code == .invalidUsage)

        struct Stop: Error {}
        var failing = try JSONRecordStream(path: nil)
        #expect(throws: Stop.self) { try failing.feed(Array("[1, 2]".utf8), isLast: false) { _ in throw Stop() } }
        let again = try #require(throws: JSONError.self) { try failing.finish { _ in } }
        #expect(again.code == .invalidUsage)
    }

    // MARK: - Paths

    @Test func streamablePaths() throws {
        let top = try JSONRecordStream(path: nil)
        #expect(top.path == "$" && top.memberNames.isEmpty && !top.requiresArray)
        let dotted = try JSONRecordStream(path: "$.data.items[*]")
        #expect(dotted.memberNames == ["data", "items"] && dotted.requiresArray)
        let bracketed = try JSONRecordStream(path: #"$['a b']["c"]"#)
        #expect(bracketed.memberNames == ["a b", "c"] && !bracketed.requiresArray)
        #expect(try JSONRecordStream(path: "$[*]").requiresArray)
    }

    @Test func unstreamablePathsAreRejected() throws {
        let cases: [(String, Int, String)] = [
            ("$..items", 1, "descendant"),
            ("$.data[0]", 6, "$.data[*]"),
            ("$.data[1:3]", 6, "slice"),
            ("$.data[?@.x > 1]", 6, "filter"),
            ("$.data[*].id", 9, "[*] can only end"),
            ("$['a','b']", 1, "several selectors"),
            ("$.a ['b'][-1]", 9, "$.a.b[*]"),
        ]
        for (path, offset, phrase) in cases {
            let error = try #require(throws: JSONPathError.self) { try JSONRecordStream(path: path) }
            #expect(error.offset == offset, "\(path)")
            #expect(error.message.contains(phrase), "\(path): \(error.message)")
            #expect(error.message.contains("streamable paths"), "\(path)")
        }
        // Invalid JSONPath is reported as such.
        #expect(throws: JSONPathError.self) { try JSONRecordStream(path: "$.") }
        #expect(throws: JSONPathError.self) { try JSONRecordStream(path: "data.items") }
    }

    // MARK: - JSONTestSuite

    static let suiteDirectory: URL? = JSONConformanceTests.suiteDirectory

    static func suiteFiles(prefix: String) throws -> [(name: String, bytes: [UInt8])] {
        let dir = try #require(suiteDirectory, "shared/conformance/json-test-suite/test_parsing not found")
        let names = try FileManager.default.contentsOfDirectory(atPath: dir.path)
            .filter { $0.hasPrefix(prefix) && $0.hasSuffix(".json") }.sorted()
        return try names.map { ($0, [UInt8](try Data(contentsOf: dir.appendingPathComponent($0)))) }
    }

    /// Every `y_` document: an array streams its elements, an object streams as one record (each equal
    /// to the full parse), a scalar is "not an array"; at chunk sizes 1, 3 and all.
    @Test func suiteAcceptedDocuments() throws {
        let files = try Self.suiteFiles(prefix: "y_")
        #expect(files.count == 95)
        var arrays = 0
        for (name, bytes) in files {
            let document = try JSONReader.parse(bytes)
            for size in [1, 3, nil] {
                let result = Self.stream(bytes, path: nil, chunkSize: size)
                switch document {
                case .array(let elements):
                    let values = (try? result.get())?.map(\.value)
                    let same = values == elements.map { Optional($0) }
                    #expect(same, "\(name), chunk size \(size.map(String.init) ?? "all")")
                case .object:
                    let values = (try? result.get())?.map(\.value)
                    let same = values == [document]
                    #expect(same, "\(name), chunk size \(size.map(String.init) ?? "all")")
                default:
                    guard case .failure(let error) = result else {
                        Issue.record("\(name): a scalar document must not stream")
                        continue
                    }
                    #expect(error.code == .notAnArray, "\(name)")
                }
            }
            if case .array = document { arrays += 1 }
        }
        #expect(arrays > 60)
    }

    /// Every `n_` document is rejected: by the stream, or when one of its records is parsed.
    @Test func suiteRejectedDocuments() throws {
        let files = try Self.suiteFiles(prefix: "n_")
        #expect(files.count == 188)
        for (name, bytes) in files {
            var stream = try JSONRecordStream(path: nil)
            let rejected: Bool
            do {
                try stream.feed(bytes, isLast: true) { record in _ = try record.parse() }
                rejected = false
            } catch {
                rejected = true
            }
            #expect(rejected, "\(name) must be rejected")
        }
    }
}
