import GatherCore
import GatherStore
import Testing

/// SplitMix64: a small seeded generator, so the random cases are the same on every run.
private struct SplitMix64: RandomNumberGenerator {
    var state: UInt64

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Parses through the raw-bytes entry point.
private func parse(_ field: String) -> FieldSyntax.Parsed {
    Array(field.utf8).withUnsafeBytes { FieldSyntax.parse($0) }
}

/// Equality that tells `-0.0` from `0.0`.
private func same(_ a: FieldSyntax.Parsed, _ b: FieldSyntax.Parsed) -> Bool {
    if case .real(let x) = a, case .real(let y) = b { return x.bitPattern == y.bitPattern }
    return a == b
}

@Suite struct FieldSyntaxTests {
    static let table: [(String, FieldSyntax.Parsed)] = [
        // empty
        ("", .empty),
        // integers
        ("0", .integer(0)),
        ("7", .integer(7)),
        ("385", .integer(385)),
        ("-12", .integer(-12)),
        ("1234567890123", .integer(1_234_567_890_123)),
        ("9223372036854775807", .integer(.max)),
        ("-9223372036854775808", .integer(.min)),
        ("9223372036854775808", .text),
        ("-9223372036854775809", .text),
        ("18446744073709551616", .text),
        ("123456789012345678901234567890", .text),
        ("007", .text),
        ("0123", .text),
        ("00", .text),
        ("-0", .text),
        ("-007", .text),
        ("+5", .text),
        ("-", .text),
        ("--1", .text),
        ("1 000", .text),
        ("1,000", .text),
        (" 5", .text),
        ("5 ", .text),
        ("12abc", .text),
        ("1-2", .text),
        // reals
        ("5538.04", .real(5538.04)),
        ("0.25", .real(0.25)),
        ("-0.25", .real(-0.25)),
        ("1.5", .real(1.5)),
        ("1.0", .real(1.0)),
        ("1.50", .real(1.5)),
        ("0.0", .real(0.0)),
        ("-0.0", .real(-0.0)),
        ("0e5", .real(0.0)),
        ("1e10", .real(1e10)),
        ("1E10", .real(1e10)),
        ("2.5E-3", .real(0.0025)),
        ("2.5e+3", .real(2500)),
        ("-1.5e10", .real(-1.5e10)),
        ("6.02214076e23", .real(6.022_140_76e23)),
        ("1e23", .real(1e23)),
        ("1.5e-25", .real(1.5e-25)),
        ("0.30000000000000004", .real(0.1 + 0.2)),
        ("0.10000000000000001", .real(0.1)),  // %.17g of 0.1
        ("5.684341886080802e-14", .real(0x1p-44)),  // shortest digits of a power of two, not the nearest
        ("1.7976931348623157e308", .real(.greatestFiniteMagnitude)),
        ("2.2250738585072014e-308", .real(.leastNormalMagnitude)),
        ("5e-324", .real(.leastNonzeroMagnitude)),
        ("4.9e-324", .real(.leastNonzeroMagnitude)),
        ("1e0000005", .real(1e5)),
        ("9007199254740993", .integer(9_007_199_254_740_993)),
        // reals that would lose something, or are not plain decimals
        ("1e309", .text),
        ("-1e309", .text),
        ("1.7976931348623159e308", .text),
        ("1e-400", .text),
        ("2.5e-324", .text),
        ("0.12345678901234567", .text),
        ("3.14159265358979323846", .text),
        ("9007199254740993.0", .text),
        (".5", .text),
        ("-.5", .text),
        ("1.", .text),
        ("00.5", .text),
        ("01.5", .text),
        ("+1.5", .text),
        ("1e", .text),
        ("1e+", .text),
        ("1.5e-", .text),
        ("1.5e5.5", .text),
        ("1..5", .text),
        ("1.5.5", .text),
        ("nan", .text),
        ("NaN", .text),
        ("inf", .text),
        ("-inf", .text),
        ("Infinity", .text),
        ("0x1p3", .text),
        ("0x10", .text),
        ("1_000", .text),
        // booleans
        ("true", .boolean(true)),
        ("false", .boolean(false)),
        ("TRUE", .boolean(true)),
        ("False", .boolean(false)),
        ("tRuE", .boolean(true)),
        ("truth", .text),
        ("tru", .text),
        ("falsey", .text),
        ("t", .text),
        ("f", .text),
        ("yes", .text),
        ("no", .text),
        // timestamps: ISO 8601 / RFC 3339
        ("2024-05-01", .timestamp),
        ("2024/05/01", .timestamp),
        ("2024-05-01T12:30:00Z", .timestamp),
        ("2024-05-01t12:30:00z", .timestamp),
        ("2024-05-01 12:30", .timestamp),
        ("2024-05-01 12:30:00", .timestamp),
        ("2024-05-01 12:30:00.250", .timestamp),
        ("2024-05-01T12:30:00,5+02:00", .timestamp),
        ("2024-05-01T12:30:00.123456789-0700", .timestamp),
        ("2024-05-01T12:30+05", .timestamp),
        ("2024/05/01 12:30:00", .timestamp),
        ("2016-12-31T23:59:60Z", .timestamp),
        ("2024-02-29", .timestamp),
        ("2000-02-29", .timestamp),
        ("0000-01-01", .text),  // year 0 is not a year PostgreSQL accepts: text
        ("2023-02-29", .text),
        ("1900-02-29", .text),
        ("2024-02-30", .text),
        ("2024-04-31", .text),
        ("2024-13-01", .text),
        ("2024-00-10", .text),
        ("2024-05-00", .text),
        ("2024-05-32", .text),
        ("2024-05-01T24:00", .text),
        ("2024-05-01T12:60", .text),
        ("2024-05-01T12:30:61", .text),
        ("2024-05-01T12:30:00.", .text),
        ("2024-05-01T12:30:00+24:00", .text),
        ("2024-05-01T12:30:00+02:60", .text),
        ("2024-05-01T12:30:00+02:", .text),
        ("2024-05-01T12", .text),
        ("2024-05-01X12:30", .text),
        ("2024-05/01", .text),
        ("2024-5-1", .text),
        ("20240501", .integer(20_240_501)),
        // timestamps: RFC 2822
        ("Mon, 02 Jan 2006 15:04:05 GMT", .timestamp),
        ("Mon, 02 Jan 2006 15:04:05 +0000", .timestamp),
        ("Tue, 10 Sep 2024 08:00:00 -0700", .timestamp),
        ("Sun, 6 Nov 1994 08:49:37 GMT", .timestamp),
        ("Thu, 29 Feb 2024 23:59 UT", .timestamp),
        ("wed, 01 may 2024 10:00:00 utc", .timestamp),
        ("Fri, 01 Mar 2024 10:00:00 PST", .timestamp),
        ("Sat, 01 Jun 2024 10:00:00 Z", .timestamp),
        ("02 Jan 2006 15:04:05 +0000", .timestamp),
        ("2 Jan 2006 15:04 EDT", .timestamp),
        ("Mon, 02 Jan 2006 15:04:05 CET", .text),
        ("Mon, 02 Jan 2006 15:04:05", .text),
        ("Mon, 02 Jan 06 15:04:05 GMT", .text),
        ("Mon, 30 Feb 2024 15:04:05 GMT", .text),
        ("Mon, 02 Foo 2006 15:04:05 GMT", .text),
        ("Mon 02 Jan 2006 15:04:05 GMT", .text),
        ("Mon, 02 Jan 2006 25:04:05 GMT", .text),
        ("Mon, 02 Jan 2006 15:04:05 +00:00", .text),
        ("Monday", .text),
        ("Wednesday, 01 May 2024", .text),
        // ambiguous day/month order: text on purpose
        ("05/01/2024", .text),
        ("01/05/2024", .text),
        ("5/1/2024", .text),
        ("01-05-2024", .text),
        // text
        ("hello", .text),
        ("Alice", .text),
        ("NY", .text),
        ("Tuesday", .text),
        ("  ", .text),
        ("é", .text),
        ("\"quoted\"", .text),
        ("null", .text),
    ]

    @Test(arguments: table)
    func classifies(_ field: String, _ expected: FieldSyntax.Parsed) {
        let parsed = parse(field)
        #expect(same(parsed, expected), "\(field) → \(parsed), expected \(expected)")
        #expect(same(FieldSyntax.parse(field), parsed))
        #expect((parsed == .timestamp) == TimestampSyntax.isTimestamp(field))
    }

    @Test func tableCoversEveryKind() {
        #expect(Self.table.count >= 60)
    }

    @Test func realsAreTheCorrectlyRoundedDouble() {
        for field in ["0.1", "0.2", "0.3", "5538.04", "2.5E-3", "1e22", "1e-22", "123456.789e3", "0.30000000000000004"]
        {
            #expect(same(parse(field), .real(Double(field)!)), "\(field)")
        }
        #expect(parse("0.1") == .real(Double("0.1")!))
    }

    @Test func descriptionsOfRandomDoublesRoundTrip() {
        var generator = SplitMix64(state: 20_240_501)
        var checked = 0
        while checked < 10_000 {
            let value: Double
            switch checked % 4 {
            case 0: value = Double(bitPattern: generator.next())  // any finite double, subnormals included
            case 1: value = Double.random(in: -1_000_000...1_000_000, using: &generator)
            case 2: value = Double.random(in: 0..<1, using: &generator)
            default: value = (Double.random(in: -100_000...100_000, using: &generator) * 100).rounded() / 100
            }
            guard value.isFinite else { continue }
            let parsed = parse(value.description)
            guard case .real(let back) = parsed else {
                Issue.record("\(value.description) → \(parsed)")
                return
            }
            #expect(back.bitPattern == value.bitPattern, "\(value.description)")
            checked += 1
        }
    }

    @Test func powersOfTwoRoundTrip() {
        // Powers of two are where the shortest digits and the nearest digits can differ.
        for exponent in -1074...1023 {
            let value = Double(sign: .plus, exponent: exponent, significand: 1)
            #expect(same(parse(value.description), .real(value)), "\(value.description)")
        }
    }

    @Test func integersRoundTripByteForByte() {
        var generator = SplitMix64(state: 7)
        for _ in 0..<2_000 {
            let value = Int64(bitPattern: generator.next()) >> Int64.random(in: 0...63, using: &generator)
            #expect(parse(String(value)) == .integer(value))
        }
    }

    @Test func readsOnlyTheGivenBytes() {
        let buffer = Array("123456789012345678901234567890 2024-05-01T12:30:00Z".utf8)
        buffer.withUnsafeBytes { all in
            #expect(FieldSyntax.parse(UnsafeRawBufferPointer(rebasing: all[0..<3])) == .integer(123))
            #expect(FieldSyntax.parse(UnsafeRawBufferPointer(rebasing: all[0..<9])) == .integer(123_456_789))
            #expect(FieldSyntax.parse(UnsafeRawBufferPointer(rebasing: all[2..<3])) == .integer(3))
            #expect(FieldSyntax.parse(UnsafeRawBufferPointer(rebasing: all[31..<41])) == .timestamp)
            #expect(FieldSyntax.parse(UnsafeRawBufferPointer(rebasing: all[31..<40])) == .text)
            #expect(FieldSyntax.parse(UnsafeRawBufferPointer(rebasing: all[31..<51])) == .timestamp)
            #expect(FieldSyntax.parse(UnsafeRawBufferPointer(rebasing: all[5..<5])) == .empty)
        }
    }

    @Test func columnTypes() {
        #expect(FieldSyntax.columnType(of: .empty) == nil)
        #expect(FieldSyntax.columnType(of: .integer(1)) == .integer)
        #expect(FieldSyntax.columnType(of: .real(1.5)) == .real)
        #expect(FieldSyntax.columnType(of: .boolean(true)) == .boolean)
        #expect(FieldSyntax.columnType(of: .timestamp) == .timestamp)
        #expect(FieldSyntax.columnType(of: .text) == .text)
        // A column of integers and reals widens to real; "007" among integers makes it text.
        let mixed = ["1", "2.5", "", "3"].compactMap { FieldSyntax.columnType(of: parse($0)) }
        #expect(mixed.dropFirst().reduce(mixed[0]) { $0.widened(with: $1) } == .real)
        let zip = ["10115", "007"].compactMap { FieldSyntax.columnType(of: parse($0)) }
        #expect(zip[0].widened(with: zip[1]) == .text)
    }

    @Test func timestampBytesAndStringAgree() {
        for field in [
            "2024-05-01", "2024/05/01 10:00", "Mon, 02 Jan 2006 15:04:05 GMT", "2024-02-30", "05/01/2024", "",
        ] {
            let bytes = Array(field.utf8).withUnsafeBytes { TimestampSyntax.isTimestamp($0) }
            #expect(bytes == TimestampSyntax.isTimestamp(field), "\(field)")
        }
        #expect(ColumnType.of("Mon, 02 Jan 2006 15:04:05 GMT") == .timestamp)
        #expect(ColumnType.of("2024/05/01") == .timestamp)
        #expect(ColumnType.of("05/01/2024") == .text)
    }
}
