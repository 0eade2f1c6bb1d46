import GatherCore
import GatherExpressions
import GatherFormats
import NIOCore
import PostgresNIO

/// Rows read from PostgreSQL as Gather values, decoded from the binary format PostgresNIO asks for.
///
/// | PostgreSQL | value |
/// |---|---|
/// | `boolean` | boolean |
/// | `smallint`, `integer`, `bigint`, `oid` | integer |
/// | `real`, `double precision` | real |
/// | `numeric` | integer when it is whole and fits 64 bits, real when 15 significant digits hold it exactly, else its exact text |
/// | `text`, `varchar`, `char`, `name` | text |
/// | `json`, `jsonb` | the parsed JSON (objects become `a__b` columns and lists child tables, as from an API) |
/// | `timestamptz` / `timestamp` / `date` | ISO 8601 text (`2024-05-01T12:30:00.25Z`, no `Z` without a zone, `2024-05-01`) |
/// | `uuid` | its canonical text |
/// | `bytea` | base64 text |
///
/// Any other type is an error naming the column and suggesting a cast (`SELECT x::text`).
enum PostgresValues {
    static func values(of row: PostgresRow) throws -> [Value] {
        try row.map { cell in try Self.value(of: cell) }
    }

    static func record(of row: PostgresRow) throws -> Record {
        var record = Record()
        for cell in row { record[cell.columnName] = try Self.value(of: cell) }
        return record
    }

    static func value(of cell: PostgresCell) throws -> Value {
        guard var bytes = cell.bytes else { return .null }
        guard cell.format == .binary else { return .string(bytes.readString(length: bytes.readableBytes) ?? "") }
        switch cell.dataType {
        case .bool: return .bool((bytes.readInteger(as: UInt8.self) ?? 0) != 0)
        case .int2: return .int(Int64(bytes.readInteger(as: Int16.self) ?? 0))
        case .int4: return .int(Int64(bytes.readInteger(as: Int32.self) ?? 0))
        case .int8: return .int(Int64(bytes.readInteger(as: Int64.self) ?? 0))
        case .oid: return .int(Int64(bytes.readInteger(as: UInt32.self) ?? 0))
        case .float4: return .double(Double(Float(bitPattern: bytes.readInteger(as: UInt32.self) ?? 0)))
        case .float8: return .double(Double(bitPattern: bytes.readInteger(as: UInt64.self) ?? 0))
        case .text, .varchar, .bpchar, .name, .unknown:
            return .string(bytes.readString(length: bytes.readableBytes) ?? "")
        case .json, .jsonb:
            if cell.dataType == .jsonb { bytes.moveReaderIndex(forwardBy: 1) }  // version byte
            let text = bytes.readString(length: bytes.readableBytes) ?? "null"
            return (try? JSONReader.parse(text)) ?? .string(text)
        case .timestamptz, .timestamp:
            let micros = bytes.readInteger(as: Int64.self) ?? 0
            return .string(Self.timestamp(micros: micros, zoned: cell.dataType == .timestamptz))
        case .date:
            let days = Int64(bytes.readInteger(as: Int32.self) ?? 0)
            return .string(String(Self.timestamp(micros: days * 86_400_000_000, zoned: false).prefix(10)))
        case .uuid:
            let hex =
                bytes.readBytes(length: 16)?.map { byte in
                    String(byte >> 4, radix: 16) + String(byte & 0xF, radix: 16)
                }.joined() ?? ""
            var text = ""
            for (index, character) in hex.enumerated() {
                if [8, 12, 16, 20].contains(index) { text.append("-") }
                text.append(character)
            }
            return .string(text)
        case .bytea:
            return .string(Base64.encode(bytes.readBytes(length: bytes.readableBytes) ?? []))
        case .numeric:
            return Self.numeric(&bytes)
        default:
            throw PostgresError(
                "column '\(cell.columnName)' has PostgreSQL type \(cell.dataType), which Gather does not read yet; "
                    + "cast it in the query (\(cell.columnName)::text)")
        }
    }

    /// `2000-01-01` plus `micros` as ISO 8601 (UTC with `Z` when `zoned`).
    static func timestamp(micros: Int64, zoned: Bool) -> String {
        let epochOffset: Int64 = 946_684_800  // 1970-01-01 → 2000-01-01, in seconds
        var seconds = micros / 1_000_000
        var fraction = micros % 1_000_000
        if fraction < 0 {
            fraction += 1_000_000
            seconds -= 1
        }
        var text = ExpressionContext.timestamp(secondsSince1970: seconds + epochOffset)
        text.removeLast()  // "Z"
        if fraction > 0 {
            var digits = String(fraction)
            digits = String(repeating: "0", count: 6 - digits.count) + digits
            while digits.hasSuffix("0") { digits.removeLast() }
            text += "." + digits
        }
        return zoned ? text + "Z" : text
    }

    /// PostgreSQL's binary `numeric`: digit count, weight, sign and scale, then base-10,000 digits.
    static func numeric(_ bytes: inout ByteBuffer) -> Value {
        guard let count = bytes.readInteger(as: Int16.self), let weight = bytes.readInteger(as: Int16.self),
            let sign = bytes.readInteger(as: UInt16.self), let scale = bytes.readInteger(as: Int16.self)
        else { return .null }
        if sign == 0xC000 { return .string("NaN") }
        if sign == 0xD000 { return .string("Infinity") }
        if sign == 0xF000 { return .string("-Infinity") }
        var digits: [Int] = []
        for _ in 0..<max(0, Int(count)) { digits.append(Int(bytes.readInteger(as: Int16.self) ?? 0)) }
        // Integer part: groups 0...weight; fraction: the groups after, to `scale` decimal digits.
        var whole = ""
        if weight >= 0 {
            for index in 0...Int(weight) {
                let group = index < digits.count ? digits[index] : 0
                let text = String(group)
                whole += index == 0 ? text : String(repeating: "0", count: 4 - text.count) + text
            }
        } else {
            whole = "0"
        }
        var fraction = ""
        var index = Int(weight) + 1
        while fraction.count < Int(scale) {
            let group = index >= 0 && index < digits.count ? digits[index] : 0
            let text = String(group)
            fraction += String(repeating: "0", count: 4 - text.count) + text
            index += 1
        }
        fraction = String(fraction.prefix(Int(scale)))
        let negative = sign == 0x4000
        let text = (negative ? "-" : "") + whole + (fraction.isEmpty ? "" : "." + fraction)
        if fraction.allSatisfy({ $0 == "0" }), let n = Int64((negative ? "-" : "") + whole) { return .int(n) }
        let significant = (whole + fraction).drop { $0 == "0" }.count
        if significant <= 15, let d = Double(text) { return .double(d) }
        return .string(text)
    }
}
