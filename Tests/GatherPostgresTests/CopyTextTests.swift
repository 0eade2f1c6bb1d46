import GatherCore
import GatherPostgres
import GatherStore
import Testing

/// PostgreSQL COPY text encoding: decoded back by an independent reading of the format's rules.
@Suite struct CopyTextTests {
    /// Splits COPY text into rows of fields (`nil` for `\N`), undoing the escapes.
    static func decode(_ bytes: [UInt8]) -> [[String?]] {
        var rows: [[String?]] = []
        var row: [String?] = []
        var field: [UInt8] = []
        var isNull = false
        var index = 0
        func endField() {
            row.append(isNull ? nil : String(decoding: field, as: UTF8.self))
            field = []
            isNull = false
        }
        while index < bytes.count {
            let byte = bytes[index]
            index += 1
            switch byte {
            case UInt8(ascii: "\t"): endField()
            case UInt8(ascii: "\n"):
                endField()
                rows.append(row)
                row = []
            case UInt8(ascii: "\\"):
                let next = bytes[index]
                index += 1
                switch next {
                case UInt8(ascii: "N"): isNull = true
                case UInt8(ascii: "t"): field.append(0x09)
                case UInt8(ascii: "n"): field.append(0x0A)
                case UInt8(ascii: "r"): field.append(0x0D)
                default: field.append(next)
                }
            default: field.append(byte)
            }
        }
        return rows
    }

    @Test func blocksEncodeExactTextNullsAndBooleans() {
        var block = RowBlock(fields: ["id", "name", "ok", "amount"])
        let rows: [[String]] = [
            ["1", "plain", "true", "1.50"], ["2", "tab\there", "FALSE", ""], ["3", "line\nbreak\r\n", "true", "-0.5"],
            ["4", "back\\slash \\N", "false", "1e10"], ["5", "", "true", "7"],
        ]
        for row in rows {
            for text in row {
                block.append(FieldSyntax.parse(text), text: Array(text.utf8))
            }
            block.endRow()
        }
        var out: [UInt8] = []
        CopyText.append(block, columns: [0, 1, 2, 3, nil], types: [.integer, .text, .boolean, .real, nil], to: &out)
        let decoded = Self.decode(out)
        #expect(decoded.count == rows.count)
        #expect(decoded[0] == ["1", "plain", "t", "1.50", nil])
        #expect(decoded[1] == ["2", "tab\there", "f", nil, nil])
        #expect(decoded[2] == ["3", "line\nbreak\r\n", "t", "-0.5", nil])
        #expect(decoded[3] == ["4", "back\\slash \\N", "f", "1e10", nil])
        #expect(decoded[4] == ["5", nil, "t", "7", nil])
    }

    @Test func valuesEncodeWithJSONForNestedOnes() {
        var out: [UInt8] = []
        CopyText.append(
            [.int(-3), .double(0.1), .string("a\tb"), .null, nil, .bool(true), .array([1, "x"])],
            types: [.integer, .real, .text, .text, .text, .boolean, .json], to: &out)
        #expect(Self.decode(out) == [["-3", "0.1", "a\tb", nil, nil, "t", "[1,\"x\"]"]])
    }

    /// A column widened from boolean keeps booleans as numbers or words, never as PostgreSQL's `t`/`f`.
    @Test func booleansFollowTheirColumnsType() {
        var out: [UInt8] = []
        CopyText.append(
            [.bool(true), .bool(false), .bool(true), .bool(false)], types: [.integer, .real, .text, .boolean], to: &out)
        #expect(Self.decode(out) == [["1", "0", "true", "f"]])
        var block = RowBlock(fields: ["flag", "word"])
        for text in ["true", "False"] {
            block.append(FieldSyntax.parse(text), text: Array(text.utf8))
        }
        block.endRow()
        out = []
        CopyText.append(block, columns: [0, 1], types: [.integer, .text], to: &out)
        #expect(Self.decode(out) == [["1", "False"]])
    }

    /// PostgreSQL reads `12:30:00,5` only with a period; text cannot hold NUL, which becomes U+FFFD.
    @Test func timestampCommasAndNulBytes() {
        var out: [UInt8] = []
        CopyText.append(
            [.string("2024-05-01T12:30:00,5Z"), .string("Mon, 02 Jan 2006 15:04:05 GMT"), .string("a\u{0}b")],
            types: [.timestamp, .timestamp, .text], to: &out)
        #expect(Self.decode(out) == [["2024-05-01T12:30:00.5Z", "Mon, 02 Jan 2006 15:04:05 GMT", "a\u{FFFD}b"]])
    }
}
