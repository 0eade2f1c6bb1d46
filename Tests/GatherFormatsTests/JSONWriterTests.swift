import GatherCore
import GatherFormats
import Testing

@Suite("JSONWriter")
struct JSONWriterTests {
    @Test(
        arguments: [
            (Value.null, "null"),
            (true, "true"),
            (false, "false"),
            (0, "0"),
            (7, "7"),
            (-42, "-42"),
            (.int(.max), "9223372036854775807"),
            (.int(.min), "-9223372036854775808"),
            (1.5, "1.5"),
            (0.1, "0.1"),
            (-0.0, "-0.0"),
            (30_000_000_000.0, "30000000000.0"),
            (1e-300, "1e-300"),
            (1e22, "1e+22"),
            (.double(.nan), "null"),
            (.double(.infinity), "null"),
            (.double(-.infinity), "null"),
            ("", #""""#),
            ([], "[]"),
            (.object(Record()), "{}"),
            ([1, "a", nil, [true]], #"[1,"a",null,[true]]"#),
            (["b": 1, "a": ["c": 2.5]], #"{"b":1,"a":{"c":2.5}}"#),
        ] as [(Value, String)])
    func compactOutput(value: Value, expected: String) {
        #expect(JSONWriter.string(value) == expected)
        var buffer: [UInt8] = Array("prefix ".utf8)
        JSONWriter.write(value, into: &buffer)
        #expect(buffer == Array(("prefix " + expected).utf8))
    }

    @Test func escaping() {
        let s = "q\" b\\ s/ n\n r\r t\t b\u{08} f\u{0C} nul\u{0} us\u{1F} del\u{7F} é 😀 \u{2028}"
        let expected = #""q\" b\\ s/ n\n r\r t\t b\b f\f nul\u0000 us\u001f del"# + "\u{7F} é 😀 \u{2028}\""
        #expect(JSONWriter.string(.string(s)) == expected)
        var line: [UInt8] = []
        JSONWriter.writeString(s, into: &line)
        #expect(String(decoding: line, as: UTF8.self) == expected)
        #expect(JSONWriter.string(["k\"ey\n": 1]) == #"{"k\"ey\n":1}"#)
    }

    @Test func everyControlCharacterRoundTrips() throws {
        let s = String(decoding: (0..<0x80).map { UInt8($0) }, as: UTF8.self)
        let text = JSONWriter.string(.string(s))
        #expect(!text.utf8.dropFirst().dropLast().contains { $0 < 0x20 })
        #expect(try JSONReader.parse(text) == .string(s))
    }

    @Test func bridgedAndSubstringBackedStrings() throws {
        let base = String(repeating: "abc\"", count: 10)
        let sub = String(base.dropFirst(1))
        #expect(try JSONReader.parse(JSONWriter.string(.string(sub))) == .string(sub))
    }

    static let samples: [Value] = [
        [
            "id": 1, "object": "order", "updated_at": nil, "vip": false,
            "customer": ["name": "Ines Schäfer", "geo": [7.559176, -162.035434], "zip": "43834"],
            "items": [["sku": "SKU-1", "title": "Tab\there, newline\nthere 😀 →", "qty": 11, "unit_price": 301.07]],
            "metrics": [
                "score": 0.8587962161657658, "ratio": 30_000_000_000.0, "tiny": 1e-300, "huge": 1.7976931348623157e308,
            ],
            "dup": 1, "dup ": 2,
        ],
        [
            .int(.min), .int(.max), .double(0x1p63), .double(-0.0), .double(.leastNonzeroMagnitude), .double(1e16),
            .double(123456789.125),
        ],
        .object(Record([("a", 1), ("a", 2), ("", "empty key")])),
        .string(String(repeating: "x", count: 10_000)),
        [[[[[[]]]]], [:], ["": [:]]],
    ]

    @Test(arguments: samples)
    func roundTrip(value: Value) throws {
        let bytes: [UInt8] = {
            var out: [UInt8] = []
            JSONWriter.write(value, into: &out)
            return out
        }()
        let parsed = try JSONReader.parse(bytes)
        #expect(parsed == value)
        // Writing again is byte-identical.
        var again: [UInt8] = []
        JSONWriter.write(parsed, into: &again)
        #expect(again == bytes)
    }

    @Test func doublesRoundTripBitExact() throws {
        var state: UInt64 = 0x1234_5678_9ABC_DEF0
        for _ in 0..<20_000 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            let d = Double(bitPattern: state)
            let parsed = try JSONReader.parse(JSONWriter.string(.double(d)))
            if d.isFinite {
                #expect(parsed.doubleValue?.bitPattern == d.bitPattern, "\(d)")
                #expect(parsed.intValue == nil, "an integral double must read back as a double: \(d)")
            } else {
                #expect(parsed == .null)
            }
        }
    }

    @Test func nanInsideContainersBecomesNull() throws {
        let value: Value = ["x": .double(.nan), "y": [.double(.infinity), 1]]
        let text = JSONWriter.string(value)
        #expect(text == #"{"x":null,"y":[null,1]}"#)
        #expect(try JSONReader.parse(text) == ["x": nil, "y": [nil, 1]])
    }

    @Test func descriptionIsCompactJSON() {
        let value: Value = ["a": [1, 2.5, nil]]
        #expect(value.description == #"{"a":[1,2.5,null]}"#)
        #expect(Record([("k", "v")]).description == #"{"k":"v"}"#)
    }
}

@Suite("JSONWriter doubles")
struct JSONWriterDoubleTests {
    /// The writer's fixed-point fast path must print exactly what `Double.description` prints.
    @Test func matchesDescription() {
        var state: UInt64 = 0xDEAD_BEEF_CAFE_F00D
        var checked = 0
        func next() -> UInt64 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return state
        }
        var samples: [Double] = [
            0.0001, 0.00011, 1e15 - 1, 1e15, 999_999_999_999_999.9, 123_456_789_012_345.6, 0.1, 0.2, 0.3,
            301.07, 7.559176, 13.075, 100, 1, 0.5, 2.5e-4, 9.999e-5, 4503599627370497.5, 1.0 / 3.0, 2.0 / 3.0,
        ]
        for _ in 0..<50_000 {
            let r = next()
            // Short decimals at many scales ...
            let digits = Double(r % 10_000_000)
            let scale = [1.0, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9][Int((r >> 40) % 10)]
            samples.append(digits / scale)
            // ... and arbitrary bit patterns in and around the fast-path range.
            samples.append(Double(bitPattern: 0x3F00_0000_0000_0000 &+ (next() % 0x0500_0000_0000_0000)))
        }
        for d in samples {
            for v in [d, -d] {
                #expect(JSONWriter.string(.double(v)) == v.description, "\(v)")
                checked += 1
            }
        }
        #expect(checked > 100_000)
    }
}
