import GatherCore
import GatherFormats
import Testing

@Suite("JSONReader")
struct JSONReaderTests {
    /// Parses `text` and returns the error it throws (failing the test if it parses).
    func error(_ text: String, _ configuration: JSONReader.Configuration = .init()) throws -> JSONError {
        try #require(throws: JSONError.self) { try JSONReader.parse(text, configuration: configuration) }
    }

    func error(bytes: [UInt8]) throws -> JSONError {
        try #require(throws: JSONError.self) { try JSONReader.parse(bytes) }
    }

    // MARK: - Scalars and structure

    @Test func scalarsAtTopLevel() throws {
        #expect(try JSONReader.parse("null") == .null)
        #expect(try JSONReader.parse("true") == .bool(true))
        #expect(try JSONReader.parse(" false ") == .bool(false))
        #expect(try JSONReader.parse("\"x\"") == .string("x"))
        #expect(try JSONReader.parse("\t\r\n 42 \n") == .int(42))
    }

    @Test func nestedDocumentKeepsOrderAndTypes() throws {
        let text = #"{"b": [1, -2.5, "x", null, true, {}, []], "a": {"c": false}, "e": 1e2}"#
        let value = try JSONReader.parse(text)
        let record = try #require(value.objectValue)
        #expect(record.keys == ["b", "a", "e"])
        #expect(value["b"] == [1, -2.5, "x", nil, true, .object(Record()), []])
        #expect(value["a"]?["c"] == false)
        #expect(value["e"] == .double(100))
    }

    @Test func prettyPrintedEqualsCompact() throws {
        let pretty = """
            {
              "id": 10,
              "geo": [
                -36.130752,
                37.06378
              ],
              "empty": { },
              "list": [ ]
            }
            """
        let compact = #"{"id":10,"geo":[-36.130752,37.06378],"empty":{},"list":[]}"#
        #expect(try JSONReader.parse(pretty) == JSONReader.parse(compact))
    }

    @Test func largeContainersGrowTheStacks() throws {
        let numbers = (0..<10_000).map(String.init).joined(separator: ",")
        let array = try JSONReader.parse("[\(numbers)]")
        #expect(array.arrayValue?.count == 10_000)
        #expect(array[9_999] == .int(9_999))
        let members = (0..<5_000).map { "\"k\($0)\":[\($0)]" }.joined(separator: ",")
        let object = try JSONReader.parse("{\(members)}")
        #expect(object.objectValue?.count == 5_000)
        #expect(object["k4999"] == [4_999])
        let deep = String(repeating: "[{\"a\":", count: 200) + "1" + String(repeating: "}]", count: 200)
        var value = try JSONReader.parse(deep)
        for _ in 0..<200 { value = try #require(value[0]?["a"]) }
        #expect(value == 1)
    }

    @Test func duplicateKeysAreKeptAndLastWins() throws {
        let value = try JSONReader.parse(#"{"a": 1, "b": 2, "a": 3}"#)
        let record = try #require(value.objectValue)
        #expect(record.count == 3)
        #expect(record.keys == ["a", "b", "a"])
        #expect(record["a"] == 3)
        #expect(value["a"] == 3)
    }

    // MARK: - Numbers

    @Test(arguments: [
        ("0", Value.int(0)),
        ("-0", .int(0)),
        ("7", .int(7)),
        ("-12", .int(-12)),
        ("9223372036854775807", .int(.max)),
        ("-9223372036854775808", .int(.min)),
        ("9223372036854775808", .double(0x1p63)),
        ("-9223372036854775809", .double(-0x1p63)),
        ("18446744073709551616", .double(18_446_744_073_709_551_616)),
        ("123456789012345678901234567890", .double(1.2345678901234568e29)),
        ("1e2", .double(100)),
        ("1E+2", .double(100)),
        ("1.5", .double(1.5)),
        ("-0.0", .double(-0.0)),
        ("0.1", .double(0.1)),
        ("1e-300", .double(1e-300)),
        ("30000000000.0", .double(30_000_000_000)),
        ("0.8587962161657658", .double(0.8587962161657658)),
        ("0.12345678901234567", .double(0.12345678901234567)),
        ("2.2250738585072014e-308", .double(2.2250738585072014e-308)),
        ("1.7976931348623157e308", .double(.greatestFiniteMagnitude)),
        ("5e-324", .double(.leastNonzeroMagnitude)),
        ("1e-400", .double(0)),
        ("0e999", .double(0)),
        ("0.000001", .double(0.000001)),
        ("9007199254740993", .int(9_007_199_254_740_993)),
        ("9007199254740993.0", .double(9_007_199_254_740_992)),
        ("123456.789e-3", .double(123.456789)),
        ("1.00000000000000000000000000001", .double(1)),
    ])
    func numbers(text: String, expected: Value) throws {
        let value = try JSONReader.parse(text)
        #expect(value == expected)
        if case .double(let d) = value, case .double(let e) = expected {
            #expect(d.sign == e.sign && d.bitPattern == e.bitPattern, "\(text) -> \(d)")
        }
    }

    @Test func doublesMatchTheStandardLibraryExactly() throws {
        // Deterministic pseudo-random doubles across many magnitudes, in shortest and long form.
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        for _ in 0..<20_000 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            let d = Double(bitPattern: state >> 2)  // finite, positive
            guard d.isFinite else { continue }
            for text in [d.description, String(describing: d * 1.0000001), "\(Int(state % 100_000)).\(state % 1_000)"] {
                let parsed = try JSONReader.parse(text)
                let expected = try #require(Double(text))
                #expect(parsed.doubleValue?.bitPattern == expected.bitPattern, "\(text)")
            }
        }
    }

    @Test(arguments: ["1e400", "-1e400", "1.5e309", "123456789e305"])
    func numbersOutOfRange(text: String) throws {
        let e = try error(text)
        #expect(e.code == .numberOutOfRange)
        #expect(e.offset == 0)
        #expect(e.message.contains("too large"))
    }

    @Test(arguments: [
        ("01", 0), ("-", 1), ("-a", 1), ("1.", 2), ("1.e3", 2), ("1e", 2), ("1e+", 3), (".5", 0),
        ("+1", 0), ("0x10", 1), ("1.5.2", 3), ("- 1", 1), ("-01", 1),
    ])
    func malformedNumbers(text: String, offset: Int) throws {
        let e = try error(text)
        #expect(e.code == .syntax || e.code == .unexpectedEnd || e.code == .trailingData, "\(e)")
        #expect(e.offset == offset, "\(text): \(e)")
    }

    // MARK: - Strings

    @Test(arguments: [
        (#""plain""#, "plain"),
        (#""a\"b\\c\/d""#, "a\"b\\c/d"),
        (#""\b\f\n\r\t""#, "\u{08}\u{0C}\n\r\t"),
        (#""\u0041\u00e9\u20AC""#, "Aé€"),
        (#""\u0000""#, "\u{0}"),
        (#""\ud83d\ude00 smile""#, "😀 smile"),
        (#""\uD834\uDD1E""#, "𝄞"),
        (#""raw é 😀 ü""#, "raw é 😀 ü"),
        (#""mix é \n 😀 \u00fc""#, "mix é \n 😀 ü"),
        (
            "\"" + String(repeating: "long ascii string ", count: 20) + "\"",
            String(repeating: "long ascii string ", count: 20)
        ),
        ("\"" + String(repeating: "ünïcödé ", count: 20) + "\\n\"", String(repeating: "ünïcödé ", count: 20) + "\n"),
    ])
    func strings(text: String, expected: String) throws {
        #expect(try JSONReader.parse(text) == .string(expected))
    }

    @Test func loneSurrogatesBecomeReplacementCharacter() throws {
        #expect(try JSONReader.parse(#""\ud800""#) == "\u{FFFD}")
        #expect(try JSONReader.parse(#""\udc00x""#) == "\u{FFFD}x")
        #expect(try JSONReader.parse(#""\ud800\u0041""#) == "\u{FFFD}A")
        #expect(try JSONReader.parse(#""\ud800\ud800\udc00""#) == "\u{FFFD}𐀀")
    }

    @Test(arguments: [
        (#""\x""#, 1), (#""\u12G4""#, 5), (#""\u12""#, 5), ("\"tab\there\"", 4), ("\"nl\nx\"", 3), ("\"\u{1F}\"", 1),
    ])
    func malformedStrings(text: String, offset: Int) throws {
        let e = try error(text)
        #expect(e.code == .syntax, "\(e)")
        #expect(e.offset == offset, "\(e)")
    }

    @Test func unterminatedStrings() throws {
        for text in [#""abc"#, #""abc\"#, #""abc\u00"#, #"["x"#, #""é\n"#] {
            let e = try error(text)
            #expect(e.code == .unexpectedEnd, "\(text): \(e)")
            #expect(e.offset == text.utf8.count, "\(text): \(e)")
        }
    }

    // MARK: - UTF-8

    @Test(
        arguments: [
            ([0x22, 0x61, 0xFF, 0x22], 2),  // invalid byte
            ([0x22, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0xC3, 0x22], 9),  // truncated 2-byte sequence
            ([0x22, 0xE2, 0x82, 0x22], 1),  // truncated 3-byte sequence
            ([0x22, 0xC0, 0xAF, 0x22], 1),  // overlong
            ([0x22, 0xED, 0xA0, 0x80, 0x22], 1),  // encoded surrogate
            ([0x22, 0xF4, 0x90, 0x80, 0x80, 0x22], 1),  // above U+10FFFF
            ([0x22, 0x5C, 0x6E, 0xC3, 0xA9, 0xFF, 0x22], 5),  // after an escape (slow path)
            ([0x5B, 0x31, 0x2C, 0xFF, 0x5D], 3),  // outside a string
            ([0x7B, 0x22, 0x6B, 0x80, 0x22, 0x3A, 0x31, 0x7D], 3),  // in a key
        ] as [([UInt8], Int)])
    func invalidUTF8(bytes: [UInt8], offset: Int) throws {
        let e = try error(bytes: bytes)
        #expect(e.code == .invalidUTF8, "\(e)")
        #expect(e.offset == offset, "\(e)")
    }

    @Test func validNonASCIIOutsideStringsIsASyntaxError() throws {
        let e = try error("[é]")
        #expect(e.code == .syntax)
        #expect(e.offset == 1)
    }

    @Test func byteOrderMarkIsRejected() throws {
        let e = try error(bytes: [0xEF, 0xBB, 0xBF, 0x31])
        #expect(e.code == .syntax)
        #expect(e.message.contains("byte order mark"))
    }

    // MARK: - Errors

    @Test func errorPositionHasLineAndColumn() throws {
        let text = "{\n  \"a\": 1,\n  \"b\" 2\n}"
        let e = try error(text)
        #expect(e.code == .syntax)
        #expect(e.line == 3)
        #expect(e.column == 7)
        #expect(e.offset == 18)
        #expect(e.message.contains("expected ':'"))
        #expect(e.description == "json.syntax at line 3, column 7 (byte 18): \(e.message)")
    }

    @Test(arguments: [
        ("", JSONError.Code.unexpectedEnd, "empty"),
        ("   ", .unexpectedEnd, "expected a value"),
        ("[1, 2", .unexpectedEnd, "expected ',' or ']'"),
        (#"{"a": 1,}"#, .syntax, "trailing commas"),
        ("[1,]", .syntax, "expected a value"),
        ("[1 2]", .syntax, "expected ',' or ']'"),
        (#"{"a" 1}"#, .syntax, "expected ':'"),
        (#"{"a": 1 "b": 2}"#, .syntax, "expected ',' or '}'"),
        ("{a: 1}", .syntax, "double-quoted"),
        ("tru", .unexpectedEnd, "true"),
        ("nul!", .syntax, "null"),
        ("True", .syntax, "expected a value"),
        ("[1] x", .trailingData, "allowTrailingData"),
        ("1 2", .trailingData, "remove it"),
        ("\u{0C}1", .syntax, "expected a value"),
    ])
    func errorCodesAndMessages(text: String, code: JSONError.Code, fragment: String) throws {
        let e = try error(text)
        #expect(e.code == code, "\(text): \(e)")
        #expect(e.message.contains(fragment), "\(text): \(e.message)")
    }

    @Test func codeDescriptionsAreStable() {
        #expect(JSONError.Code.syntax.description == "json.syntax")
        #expect(JSONError.Code.invalidUTF8.description == "json.invalid_utf8")
        #expect(JSONError.Code.depthLimit.description == "json.depth_limit")
        #expect(JSONError.Code.numberOutOfRange.description == "json.number_out_of_range")
        #expect(JSONError.Code.trailingData.description == "json.trailing_data")
        #expect(JSONError.Code.unexpectedEnd.description == "json.unexpected_end")
    }

    @Test func trailingDataCanBeAllowed() throws {
        var config = JSONReader.Configuration()
        config.allowTrailingData = true
        #expect(try JSONReader.parse("[1] x", configuration: config) == [1])
        #expect(try JSONReader.parse("{\"a\":1}{\"b\":2}", configuration: config) == ["a": 1])
        #expect(try JSONReader.parse("7\n8", configuration: config) == 7)
    }

    @Test func allEntryPointsAgree() throws {
        let text = #"{"k": ["v", 1.25, -3]}"#
        let bytes = Array(text.utf8)
        let a = try JSONReader.parse(text)
        let b = try JSONReader.parse(bytes)
        let c = try bytes.withUnsafeBytes { buffer throws(JSONError) in try JSONReader.parse(buffer) }
        #expect(a == b && b == c)
        // A slice of a larger buffer: the reader must not read past the end it was given.
        let padded = Array("123456 \"abcdefghijkl\"".utf8)
        let d = try padded.withUnsafeBytes { buffer throws(JSONError) in
            try JSONReader.parse(UnsafeRawBufferPointer(rebasing: buffer[0..<3]))
        }
        #expect(d == .int(123))
        let e = try #require(throws: JSONError.self) {
            try padded.withUnsafeBytes { buffer throws(JSONError) in
                try JSONReader.parse(UnsafeRawBufferPointer(rebasing: buffer[7..<12]))
            }
        }
        #expect(e.code == .unexpectedEnd)
    }

    // MARK: - Benchmark-like documents

    @Test func documentWithEscapesAndUnicode() throws {
        let text = #"""
            {"id": 1, "customer": {"name": "Ines Schäfer", "city": "S\u00e3o Paulo", "geo": [7.559176, 162.035434]},
             "title": "Tab\there, newline\nthere \ud83d\ude00", "metrics": {"ratio": 30000000000.0, "history": [59, 48]}}
            """#
        let value = try JSONReader.parse(text)
        #expect(value["customer"]?["name"] == "Ines Schäfer")
        #expect(value["customer"]?["city"] == "São Paulo")
        #expect(value["customer"]?["geo"] == [7.559176, 162.035434])
        #expect(value["title"] == "Tab\there, newline\nthere 😀")
        #expect(value["metrics"]?["ratio"] == .double(30_000_000_000))
        #expect(value["metrics"]?["history"] == [59, 48])
    }
}
