import Foundation
import GatherCore
import GatherFormats
import Testing

/// `JSONReader.minify` must make exactly the decisions `parse` makes (same errors, same offsets)
/// and produce text that parses to the same value, with no whitespace outside strings.
@Suite("JSONReader.minify")
struct JSONMinifyTests {
    /// What `minify` did with `bytes`: the minified text, or the error.
    ///
    /// The output starts with a prefix, which must survive success and failure alike.
    static func minifyOutcome(
        _ bytes: [UInt8],
        _ configuration: JSONReader.Configuration = .init()
    ) -> Result<[UInt8], JSONError> {
        let prefix = Array("prefix:".utf8)
        var output = prefix
        do {
            try JSONReader.minify(bytes, into: &output, configuration: configuration)
        } catch {
            #expect(output == prefix, "output must be restored on failure")
            return .failure(error)
        }
        #expect(output.starts(with: prefix), "output must keep what it held")
        return .success(Array(output.dropFirst(prefix.count)))
    }

    /// The value `parse` returns for `bytes`, or its error.
    static func parseOutcome(_ bytes: [UInt8], _ configuration: JSONReader.Configuration = .init()) -> Result<
        Value, JSONError
    > {
        Result { () throws(JSONError) -> Value in try JSONReader.parse(bytes, configuration: configuration) }
    }

    /// `bytes` with JSON whitespace outside strings removed: what `minify` must produce for valid input.
    static func stripWhitespace(_ bytes: some Collection<UInt8>) -> [UInt8] {
        var result: [UInt8] = []
        var inString = false
        var escaped = false
        for c in bytes {
            if inString {
                if escaped {
                    escaped = false
                } else if c == UInt8(ascii: "\\") {
                    escaped = true
                } else if c == UInt8(ascii: "\"") {
                    inString = false
                }
            } else if c == UInt8(ascii: "\"") {
                inString = true
            } else if c == 0x20 || c == 0x09 || c == 0x0A || c == 0x0D {
                continue
            }
            result.append(c)
        }
        return result
    }

    /// Checks that `minify` and `parse` agree on `bytes`: both throw the same error, or both accept,
    /// the minified text is the input without whitespace outside strings, and it parses to the same value.
    static func expectAgreement(
        _ bytes: [UInt8],
        _ configuration: JSONReader.Configuration = .init(),
        _ name: String,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        switch (parseOutcome(bytes, configuration), minifyOutcome(bytes, configuration)) {
        case (.failure(let parseError), .failure(let minifyError)):
            #expect(minifyError == parseError, "\(name)", sourceLocation: sourceLocation)
        case (.success(let value), .success(let minified)):
            // Byte comparisons (`String ==` would equate canonically equivalent texts), reported as text.
            let text = String(decoding: minified, as: UTF8.self)
            if !configuration.allowTrailingData {
                #expect(
                    minified.elementsEqual(stripWhitespace(bytes)),
                    "\(name): minified to \(text)",
                    sourceLocation: sourceLocation
                )
            }
            #expect(
                minified.elementsEqual(stripWhitespace(minified)),
                "\(name): whitespace left in \(text)",
                sourceLocation: sourceLocation
            )
            switch parseOutcome(minified, configuration) {
            case .success(let reparsed):
                #expect(reparsed == value, "\(name)", sourceLocation: sourceLocation)
                // `==` equates 0.0 and -0.0; the writer's text does not.
                #expect(
                    JSONWriter.string(reparsed) == JSONWriter.string(value),
                    "\(name)",
                    sourceLocation: sourceLocation
                )
            case .failure(let error):
                Issue.record("\(name): minified text does not parse: \(error)", sourceLocation: sourceLocation)
            }
        case (.success, .failure(let error)):
            Issue.record("\(name): parse accepts, minify throws \(error)", sourceLocation: sourceLocation)
        case (.failure(let error), .success):
            Issue.record("\(name): minify accepts, parse throws \(error)", sourceLocation: sourceLocation)
        }
    }

    static func minified(_ text: String, _ configuration: JSONReader.Configuration = .init()) throws -> String {
        var output: [UInt8] = []
        try JSONReader.minify(Array(text.utf8), into: &output, configuration: configuration)
        return String(decoding: output, as: UTF8.self)
    }

    // MARK: - Conformance

    @Test("agrees with parse on every JSONTestSuite file", arguments: JSONConformanceTests.cases)
    func conformance(_ testCase: JSONConformanceTests.Case) throws {
        let bytes = [UInt8](try Data(contentsOf: testCase.url))
        Self.expectAgreement(bytes, .init(), testCase.name)
        if testCase.name.hasPrefix("y_") {
            #expect(throws: Never.self, "\(testCase.name)") {
                var output: [UInt8] = []
                try JSONReader.minify(bytes, into: &output)
            }
        } else if testCase.name.hasPrefix("n_") {
            #expect(throws: JSONError.self, "\(testCase.name)") {
                var output: [UInt8] = []
                try JSONReader.minify(bytes, into: &output)
            }
        }
    }

    @Test("the conformance suite is there")
    func conformanceSuiteFound() throws {
        try #require(JSONConformanceTests.suiteDirectory != nil, "shared/conformance/json-test-suite not found")
        #expect(JSONConformanceTests.cases.count == 318)
    }

    // MARK: - Benchmark documents

    static let benchDirectory = FileManager.default.homeDirectoryForCurrentUser
        .appendingPathComponent(".cache/gather-bench/data/static")

    static let benchDataExists = FileManager.default.fileExists(atPath: benchDirectory.path)

    @Test(
        "agrees with parse on every benchmark document",
        .enabled(
            if: benchDataExists,
            "no benchmark data at ~/.cache/gather-bench/data/static (make it with shared/bench/gen_data.py)"
        )
    )
    func benchmarkDocuments() throws {
        let names = try FileManager.default.contentsOfDirectory(atPath: Self.benchDirectory.path)
            .filter { $0.hasSuffix(".json") }.sorted()
        #expect(!names.isEmpty)
        var pretty = 0
        for name in names {
            let bytes = [UInt8](try Data(contentsOf: Self.benchDirectory.appendingPathComponent(name)))
            if bytes.starts(with: Array("{\n".utf8)) { pretty += 1 }
            Self.expectAgreement(bytes, .init(), name)
        }
        print("minify agreed with parse on \(names.count) benchmark documents (\(pretty) pretty-printed)")
    }

    // MARK: - Hand-written documents

    static let documents: [String] = [
        // Pretty-printed, with every kind of whitespace.
        """
        {
            "id": 10,
            "geo": [
                -36.130752,
                37.06378
            ],
        \t"empty": { },\r
            "list": [ ] ,
            "nested" : [ { "a" : [ [ ] , { } ] } ]
        }

        """,
        // Escapes, kept as written.
        #"{"s": "a\"b\\c\/d\b\f\n\r\t", "u": "\u0041\u00e9\u20AC\u0000", "k\"ey": "spaces  inside  "}"#,
        // Surrogate pairs, lone surrogates, raw UTF-8.
        #"["\ud83d\ude00", "\uD834\uDD1E", "\ud800", "\udc00x", "\ud800\u0041", "raw é 😀 ü", "\ud800\ud800\udc00"]"#,
        // Numbers as written.
        "[18446744073709551616, -18446744073709551616, 9223372036854775807, -9223372036854775808]",
        "[-0.0, -0, 0, 0.0, 1e-300, 1E+2, 1e2, 2.50, 0.1, 1.7976931348623157e308, 5e-324, 1e-400, 0e999]",
        "[123456789012345678901234567890, 0.12345678901234567890123, 1.00000000000000000000000000001]",
        // Scalars at the top level, with surrounding whitespace.
        " \n\t 42 \r\n ",
        "\"just a string\"",
        "  true",
        "false  ",
        "null",
        "[]",
        "{}",
        // Long strings (the 8-byte scanner and its tail).
        "[\"" + String(repeating: "long ascii string ", count: 50) + "\", \"" + String(repeating: "ünïcödé ", count: 40)
            + "\\n\"]",
        // Spans longer and shorter than 16 bytes between whitespace runs.
        "[ \"" + String(repeating: "x", count: 40) + "\" , 1 , \"" + String(repeating: "y", count: 15) + "\" , 2 ]",
    ]

    @Test("round-trips hand-written documents", arguments: documents)
    func handWritten(_ text: String) {
        Self.expectAgreement(Array(text.utf8), .init(), text)
    }

    @Test func removesOnlyInsignificantWhitespace() throws {
        #expect(try Self.minified(" { \"a b\" : [ 1 , 2.50 , \"c\\n d\" ] } ") == #"{"a b":[1,2.50,"c\n d"]}"#)
        #expect(try Self.minified("[18446744073709551616, -0.0, 1e-300]") == "[18446744073709551616,-0.0,1e-300]")
        #expect(try Self.minified(#"[ "\ud83d\ude00" , "\uD800" ]"#) == #"["\ud83d\ude00","\uD800"]"#)
        #expect(try Self.minified("\n\t7\r\n") == "7")
    }

    @Test func appendsToExistingOutput() throws {
        var output = Array("{\"body\":".utf8)
        try JSONReader.minify(Array("[1, 2]".utf8), into: &output)
        output.append(UInt8(ascii: "}"))
        #expect(String(decoding: output, as: UTF8.self) == #"{"body":[1,2]}"#)
        // The buffer-pointer entry point, on a slice: nothing past its end is read.
        let padded = Array("[ 1 ]   [2]".utf8)
        try padded.withUnsafeBytes { buffer in
            try JSONReader.minify(UnsafeRawBufferPointer(rebasing: buffer[0..<5]), into: &output)
        }
        #expect(String(decoding: output, as: UTF8.self) == #"{"body":[1,2]}[1]"#)
    }

    @Test func trailingDataIsDroppedWhenAllowed() throws {
        var config = JSONReader.Configuration()
        config.allowTrailingData = true
        #expect(try Self.minified("[1, 2] x", config) == "[1,2]")
        #expect(try Self.minified("{\"a\": 1} {\"b\": 2}", config) == #"{"a":1}"#)
        #expect(try Self.minified("7\n8", config) == "7")
        #expect(try Self.minified(" 7 ", config) == "7")
    }

    // MARK: - Errors

    @Test(arguments: [
        "", "   ", "[1, 2", #"{"a": 1,}"#, "[1,]", "[1 2]", #"{"a" 1}"#, #"{"a": 1 "b": 2}"#, "{a: 1}", "tru",
        "nul!", "True", "[1] x", "1 2", "\u{0C}1", "01", "-", "1.", "1e+", "1e400", "-1e400", "[1.5e309]",
        "123456789e305", "[1, 2e999999999999]", "{\"a\": [1, 1e309]}", #""\x""#, #""\u12G4""#, #""\u12"#,
        "\"tab\there\"", #""abc"#, #""abc\"#, "[é]", "{\n  \"a\": 1,\n  \"b\" 2\n}", "[\"a\"]]", "{\"a\":1]",
        "[1}", "{\"a\"}", "{\"a\":}", "[,1]", "{,}",
    ])
    func sameErrorAsParse(text: String) throws {
        Self.expectAgreement(Array(text.utf8), .init(), text)
        let error = try #require(throws: JSONError.self) { try Self.minified(text) }
        #expect(error == (try #require(throws: JSONError.self) { try JSONReader.parse(text) }))
    }

    @Test func numbersOutOfRangeAreRejected() throws {
        for text in ["1e400", "[0, -1e400]", "1.5e309", "123456789e305", String(repeating: "9", count: 400)] {
            let error = try #require(throws: JSONError.self, "\(text)") { try Self.minified(text) }
            #expect(error.code == .numberOutOfRange, "\(text)")
        }
        // Near the limit, and long forms that are still in range.
        for text in [
            "1.7976931348623157e308", "1.7976931348623158e308", "17976931348623157e292", "0.1e309",
            String(repeating: "9", count: 308), "0." + String(repeating: "0", count: 400) + "1e400",
        ] {
            Self.expectAgreement(Array(text.utf8), .init(), text)
        }
        #expect(throws: JSONError.self) { try Self.minified("1.7976931348623159e308") }
    }

    @Test(
        arguments: [
            [0x22, 0x61, 0xFF, 0x22],
            [0x22, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0xC3, 0x22],
            [0x22, 0xE2, 0x82, 0x22],
            [0x22, 0xC0, 0xAF, 0x22],
            [0x22, 0xED, 0xA0, 0x80, 0x22],
            [0x22, 0xF4, 0x90, 0x80, 0x80, 0x22],
            [0x22, 0x5C, 0x6E, 0xC3, 0xA9, 0xFF, 0x22],
            [0x5B, 0x31, 0x2C, 0xFF, 0x5D],
            [0x7B, 0x22, 0x6B, 0x80, 0x22, 0x3A, 0x31, 0x7D],
            [0x22, 0xFF, 0x5C, 0x78, 0x22],  // invalid UTF-8, then a bad escape: the escape wins
            [0x22, 0xFF],  // invalid UTF-8 in an unterminated string: the end wins
            [0xEF, 0xBB, 0xBF, 0x31],  // byte order mark
        ] as [[UInt8]]
    )
    func invalidUTF8MatchesParse(bytes: [UInt8]) throws {
        Self.expectAgreement(bytes, .init(), "\(bytes)")
    }

    @Test func depthLimitMatchesParse() throws {
        let ok = String(repeating: "[", count: 512) + String(repeating: "]", count: 512)
        #expect(try Self.minified(ok) == ok)
        Self.expectAgreement(Array(("[" + ok + "]").utf8), .init(), "513 levels")
        Self.expectAgreement([UInt8](repeating: UInt8(ascii: "["), count: 100_000), .init(), "100,000 brackets")
        Self.expectAgreement(Array(String(repeating: #"{"a":"#, count: 100_000).utf8), .init(), "100,000 objects")
        var config = JSONReader.Configuration()
        config.maxDepth = 2
        Self.expectAgreement(Array("[[1]]".utf8), config, "depth 2")
        Self.expectAgreement(Array("[{\"a\":[]}]".utf8), config, "depth 3")
        // Deeper than the minifier's initial bracket stack, so it moves to the heap.
        config.maxDepth = 100_000
        let deep = String(repeating: "[ {\"a\" : ", count: 5_000) + "1" + String(repeating: "} ]", count: 5_000)
        Self.expectAgreement(Array(deep.utf8), config, "10,000 levels")
    }

    /// Every prefix of a document exercises every "input ends here" error.
    @Test func everyPrefixMatchesParse() throws {
        let text = """
            {"a": [1, -2.5e-3, true, false, null], "s": "é\\u00e9\\ud83d\\ude00\\n", "o": {"k": {}} , "e": []}
            """
        let bytes = Array(text.utf8)
        for count in 0...bytes.count {
            Self.expectAgreement(Array(bytes[0..<count]), .init(), "prefix \(count)")
        }
    }

    /// Random single-byte edits of valid documents must be judged the same way by both.
    @Test func mutationsMatchParse() throws {
        let seeds = Self.documents.map { Array($0.utf8) }
        let alphabet = Array(#" \t\n\r"\/:,[]{}-+.0123456789eEtrufalsnbxu"#.utf8) + [0x00, 0x1F, 0x80, 0xC3, 0xFF]
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next() -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int(truncatingIfNeeded: state >> 33)
        }
        for round in 0..<20_000 {
            var bytes = seeds[next() % seeds.count]
            guard !bytes.isEmpty else { continue }
            for _ in 0...(next() % 3) {
                let index = next() % bytes.count
                switch next() % 3 {
                case 0: bytes[index] = alphabet[next() % alphabet.count]
                case 1: bytes.insert(alphabet[next() % alphabet.count], at: index)
                default: if bytes.count > 1 { bytes.remove(at: index) }
                }
            }
            Self.expectAgreement(bytes, .init(), "mutation \(round): \(String(decoding: bytes, as: UTF8.self))")
        }
    }
}
