import GatherCore

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
    /// Strings that ``TimestampSyntax`` recognises as dates or date-times (`2024-05-01`, `2024-05-01T12:30:00Z`,
    /// `2024-05-01 12:30:00.5+02:00`, `Mon, 02 Jan 2006 15:04:05 GMT`) are ``timestamp``; arrays and objects are
    /// ``json``.
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

/// Recognises dates and date-times without Foundation: ISO 8601 / RFC 3339 and RFC 2822.
///
/// Accepted:
///
/// - `YYYY-MM-DD` or `YYYY/MM/DD`, optionally followed by `T`, `t` or a space, `HH:MM`, optional `:SS`,
///   an optional fraction (`.` or `,` and at least one digit; seconds required), and an optional zone:
///   `Z`, `z`, `±HH`, `±HHMM` or `±HH:MM`. At most 40 bytes.
///   `2024-05-01`, `2024/05/01`, `2024-05-01 12:30`, `2024-05-01T12:30:00.250+02:00`.
/// - RFC 2822 (e-mail and HTTP dates): an optional day name and comma, a 1- or 2-digit day, a month name, a
///   4-digit year, `HH:MM` with optional `:SS`, and a zone: `±HHMM`, `UT`, `UTC`, `GMT`, `Z`, or one of the
///   North American zones RFC 2822 names (`EST`, `EDT`, `CST`, `CDT`, `MST`, `MDT`, `PST`, `PDT`).
///   Single spaces between the parts; names in any ASCII case; the day name is not checked against the date.
///   `Mon, 02 Jan 2006 15:04:05 GMT`, `2 Jan 2006 15:04 +0100`.
///
/// Every date must exist in the (proleptic Gregorian) calendar: months 1–12, days 1–28/29/30/31 as the month
/// and leap year allow, so `2024-02-29` is a date and `2023-02-29` or `2024-04-31` is not. Hours are 00–23,
/// minutes 00–59, seconds 00–60 (a leap second), zone offsets up to 23 hours and 59 minutes. Years run from 0001
/// to 9999: year 0 is text, as PostgreSQL's `timestamptz` has no year 0.
///
/// Not accepted, on purpose:
///
/// - `MM/DD/YYYY` and `DD/MM/YYYY`: `03/04/2024` is 4 March in the United States and 3 April almost
///   everywhere else, and nothing in a single value says which. Calling it a timestamp would invite a consumer to
///   read it one way; as text it stays exactly what was written.
/// - two-digit years, times without a date, week and ordinal dates (`2024-W18`, `2024-122`), the basic format
///   (`20240501`, an integer), and zone abbreviations RFC 2822 does not define (`CET`, `JST`, `IST`, the last
///   of which names three different zones).
public enum TimestampSyntax {
    /// Whether `text` is a date or date-time in one of the forms listed on ``TimestampSyntax``.
    public static func isTimestamp(_ text: String) -> Bool {
        let utf8 = text.utf8
        return utf8.withContiguousStorageIfAvailable { isTimestamp(UnsafeRawBufferPointer($0)) }
            ?? Array(utf8).withUnsafeBytes { isTimestamp($0) }
    }

    /// Whether the UTF-8 `bytes` are a date or date-time in one of the forms listed on ``TimestampSyntax``.
    ///
    /// Accepts exactly what the `String` overload accepts, and allocates nothing.
    public static func isTimestamp(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard bytes.count >= 10 else { return false }
        if bytes[4] == UInt8(ascii: "-") || bytes[4] == UInt8(ascii: "/") { return isISO(bytes) }
        return isRFC2822(bytes)
    }

    /// `YYYY-MM-DD` / `YYYY/MM/DD` with an optional time and zone.
    static func isISO(_ b: UnsafeRawBufferPointer) -> Bool {
        let n = b.count
        guard n >= 10, n <= 40 else { return false }
        let separator = b[4]
        guard separator == UInt8(ascii: "-") || separator == UInt8(ascii: "/"), b[7] == separator else {
            return false
        }
        let year = fourDigits(b, 0)
        let month = twoDigits(b, 5)
        let day = twoDigits(b, 8)
        guard year >= 1, isDate(year: year, month: month, day: day) else { return false }
        if n == 10 { return true }
        let t = b[10]
        guard t == UInt8(ascii: "T") || t == UInt8(ascii: "t") || t == UInt8(ascii: " "), n >= 16,
            b[13] == UInt8(ascii: ":"), isTime(hour: twoDigits(b, 11), minute: twoDigits(b, 14), second: 0)
        else { return false }
        var i = 16
        if i < n, b[i] == UInt8(ascii: ":") {
            guard i + 3 <= n, isTime(hour: 0, minute: 0, second: twoDigits(b, i + 1)) else { return false }
            i += 3
            if i < n, b[i] == UInt8(ascii: ".") || b[i] == UInt8(ascii: ",") {
                i += 1
                let start = i
                while i < n, b[i] &- 0x30 < 10 { i += 1 }
                guard i > start else { return false }
            }
        }
        if i == n { return true }
        if b[i] == UInt8(ascii: "Z") || b[i] == UInt8(ascii: "z") { return i + 1 == n }
        guard b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-"), i + 3 <= n, isOffset(twoDigits(b, i + 1), 0)
        else { return false }
        i += 3
        if i == n { return true }
        if b[i] == UInt8(ascii: ":") { i += 1 }
        return i + 2 == n && isOffset(0, twoDigits(b, i))
    }

    /// `[Day, ]D[D] Mon YYYY HH:MM[:SS] zone`, single spaces, names in any ASCII case.
    static func isRFC2822(_ b: UnsafeRawBufferPointer) -> Bool {
        let n = b.count
        guard n >= 18, n <= 40 else { return false }
        var i = 0
        if b[0] &- 0x30 >= 10 {
            guard dayNames.contains(lowercased3(b, 0)), b[3] == UInt8(ascii: ","), b[4] == UInt8(ascii: " ") else {
                return false
            }
            i = 5
        }
        // Day, month name, year: at least "D Mon YYYY " (11 bytes) remain, and n >= 18 leaves room for a time.
        guard i + 11 <= n, b[i] &- 0x30 < 10 else { return false }
        var day = Int(b[i] &- 0x30)
        i += 1
        if b[i] &- 0x30 < 10 {
            day = day * 10 + Int(b[i] &- 0x30)
            i += 1
        }
        guard b[i] == UInt8(ascii: " "), i + 11 <= n, let month = monthNames.firstIndex(of: lowercased3(b, i + 1)),
            b[i + 4] == UInt8(ascii: " "), b[i + 9] == UInt8(ascii: " ")
        else { return false }
        let year = fourDigits(b, i + 5)
        guard year >= 1, isDate(year: year, month: month + 1, day: day) else { return false }
        i += 10
        guard i + 5 <= n, b[i + 2] == UInt8(ascii: ":"),
            isTime(hour: twoDigits(b, i), minute: twoDigits(b, i + 3), second: 0)
        else { return false }
        i += 5
        if i < n, b[i] == UInt8(ascii: ":") {
            guard i + 3 <= n, isTime(hour: 0, minute: 0, second: twoDigits(b, i + 1)) else { return false }
            i += 3
        }
        guard i + 1 < n, b[i] == UInt8(ascii: " ") else { return false }
        i += 1
        let zone = n - i
        if b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") {
            return zone == 5 && isOffset(twoDigits(b, i + 1), twoDigits(b, i + 3))
        }
        switch zone {
        case 1: return b[i] | 0x20 == UInt8(ascii: "z")
        case 2: return b[i] | 0x20 == UInt8(ascii: "u") && b[i + 1] | 0x20 == UInt8(ascii: "t")
        case 3: return zoneNames.contains(lowercased3(b, i))
        default: return false
        }
    }

    /// Three bytes packed little-endian with ASCII letters lowercased (`0x20` set: only letters map onto the
    /// lowercase letters this is compared with).
    @inline(__always)
    private static func lowercased3(_ b: UnsafeRawBufferPointer, _ i: Int) -> UInt32 {
        (UInt32(b[i]) | UInt32(b[i + 1]) << 8 | UInt32(b[i + 2]) << 16) | 0x20_2020
    }

    private static func packed(_ name: StaticString) -> UInt32 {
        let p = name.utf8Start
        return UInt32(p[0]) | UInt32(p[1]) << 8 | UInt32(p[2]) << 16
    }

    private static let dayNames: [UInt32] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"].map(packed)
    private static let monthNames: [UInt32] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ].map(packed)
    private static let zoneNames: [UInt32] = ["utc", "gmt", "est", "edt", "cst", "cdt", "mst", "mdt", "pst", "pdt"]
        .map(packed)

    /// The two digits at `i` as a number, or -1.
    @inline(__always)
    private static func twoDigits(_ b: UnsafeRawBufferPointer, _ i: Int) -> Int {
        let high = b[i] &- 0x30
        let low = b[i + 1] &- 0x30
        return high < 10 && low < 10 ? Int(high) * 10 + Int(low) : -1
    }

    /// The four digits at `i` as a number, or -1.
    @inline(__always)
    private static func fourDigits(_ b: UnsafeRawBufferPointer, _ i: Int) -> Int {
        let high = twoDigits(b, i)
        let low = twoDigits(b, i + 2)
        return high >= 0 && low >= 0 ? high * 100 + low : -1
    }

    @inline(__always)
    private static func isTime(hour: Int, minute: Int, second: Int) -> Bool {
        (0..<24).contains(hour) && (0..<60).contains(minute) && (0...60).contains(second)
    }

    @inline(__always)
    private static func isOffset(_ hours: Int, _ minutes: Int) -> Bool {
        (0..<24).contains(hours) && (0..<60).contains(minutes)
    }

    /// Whether the date exists in the proleptic Gregorian calendar.
    @inline(__always)
    static func isDate(year: Int, month: Int, day: Int) -> Bool {
        guard (1...12).contains(month), day >= 1 else { return false }
        if day <= 28 { return true }
        switch month {
        case 2: return day == 29 && year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
        case 4, 6, 9, 11: return day <= 30
        default: return day <= 31
        }
    }
}
