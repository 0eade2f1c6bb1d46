/// The logical type of a column, inferred from the values written to it.
///
/// Sinks map these to their own types (SQLite: `INTEGER`, `REAL`, `TEXT`, `BOOLEAN`, `TIMESTAMP`, `JSON`).
///
/// Widening, when a column meets a value of another type (``widened(with:)``):
///
/// | column | value | becomes |
/// |---|---|---|
/// | boolean | integer | integer |
/// | boolean or integer | real | real |
/// | anything | a different type not listed above | text |
///
/// `null` never changes a type. A value is never dropped or converted lossily by widening: a text column
/// keeps numbers as their JSON text and arrays or objects as JSON.
public enum ColumnType: String, Sendable, Hashable, CaseIterable, Codable {
    case boolean
    case integer
    case real
    case timestamp
    case text
    case json

    /// The type a single value implies; `nil` for `null`, which fits every column.
    ///
    /// Strings that are ISO 8601 dates or date-times (`2024-05-01`, `2024-05-01T12:30:00Z`,
    /// `2024-05-01 12:30:00.5+02:00`) are ``timestamp``; arrays and objects are ``json``.
    public static func of(_ value: Value) -> ColumnType? {
        switch value {
        case .null: return nil
        case .bool: return .boolean
        case .int: return .integer
        case .double: return .real
        case .string(let s): return TimestampSyntax.isTimestamp(s) ? .timestamp : .text
        case .array, .object: return .json
        }
    }

    /// The narrowest type that holds both `self`'s values and `other`'s.
    public func widened(with other: ColumnType) -> ColumnType {
        if self == other { return self }
        switch (self, other) {
        case (.boolean, .integer), (.integer, .boolean): return .integer
        case (.boolean, .real), (.real, .boolean), (.integer, .real), (.real, .integer): return .real
        default: return .text
        }
    }
}

/// Recognises ISO 8601 / RFC 3339 dates and date-times without Foundation.
public enum TimestampSyntax {
    /// `YYYY-MM-DD`, optionally followed by `T` or a space, `HH:MM`, optional `:SS`, optional fraction,
    /// and an optional `Z` or `±HH:MM` / `±HHMM` offset.
    public static func isTimestamp(_ text: String) -> Bool {
        let utf8 = text.utf8
        guard utf8.count >= 10, utf8.count <= 40 else { return false }
        return utf8.withContiguousStorageIfAvailable(Self.check) ?? Array(utf8).withUnsafeBufferPointer(Self.check)
    }

    private static func check(_ b: UnsafeBufferPointer<UInt8>) -> Bool {
        func digits(_ at: Int, _ count: Int) -> Bool {
            guard at + count <= b.count else { return false }
            for i in at..<(at + count) where !(b[i] >= 0x30 && b[i] <= 0x39) { return false }
            return true
        }
        func number(_ at: Int, _ count: Int) -> Int {
            var n = 0
            for i in at..<(at + count) { n = n * 10 + Int(b[i] - 0x30) }
            return n
        }
        guard digits(0, 4), b[4] == UInt8(ascii: "-"), digits(5, 2), b[7] == UInt8(ascii: "-"), digits(8, 2) else {
            return false
        }
        let month = number(5, 2)
        let day = number(8, 2)
        guard (1...12).contains(month), (1...31).contains(day) else { return false }
        if b.count == 10 { return true }
        guard b[10] == UInt8(ascii: "T") || b[10] == UInt8(ascii: " "), digits(11, 2), b.count >= 16,
            b[13] == UInt8(ascii: ":"), digits(14, 2), number(11, 2) < 24, number(14, 2) < 60
        else { return false }
        var i = 16
        if i < b.count, b[i] == UInt8(ascii: ":") {
            guard digits(i + 1, 2), number(i + 1, 2) <= 60 else { return false }
            i += 3
            if i < b.count, b[i] == UInt8(ascii: ".") || b[i] == UInt8(ascii: ",") {
                i += 1
                let start = i
                while i < b.count, b[i] >= 0x30, b[i] <= 0x39 { i += 1 }
                guard i > start else { return false }
            }
        }
        if i == b.count { return true }
        if b[i] == UInt8(ascii: "Z") || b[i] == UInt8(ascii: "z") { return i + 1 == b.count }
        guard b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-"), digits(i + 1, 2) else { return false }
        i += 3
        if i == b.count { return true }
        if b[i] == UInt8(ascii: ":") { i += 1 }
        return digits(i, 2) && i + 2 == b.count
    }
}
