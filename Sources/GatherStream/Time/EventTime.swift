import GatherCore

/// Reads an event's time, in milliseconds since the Unix epoch, from one of its fields: RFC 3339 text
/// (`2024-05-01T12:00:00.250Z`, `+02:00` offsets), or a number of epoch seconds or milliseconds (numbers above
/// 10¹¹ are milliseconds: that is the year 5138 in seconds and 1973 in milliseconds). Without a field, the
/// time of arrival is the event time.
public struct EventTime: Sendable, Hashable {
    /// The field (a dotted path into nested objects); `nil` means arrival time.
    public var field: String?

    public init(field: String?) {
        self.field = field
    }

    /// The event times Gather takes: ±100 million days around 1970 (JavaScript's `Date` range), so window
    /// arithmetic can never overflow.
    public static let range: ClosedRange<Int64> = -8_640_000_000_000_000...8_640_000_000_000_000

    /// The event's time in epoch milliseconds.
    public func millis(of record: Record, arrival: Int64) throws(StreamEventError) -> Int64 {
        let millis = try self.unchecked(record, arrival: arrival)
        guard Self.range.contains(millis) else {
            throw StreamEventError(
                code: "bad_event_time",
                message: "field '\(self.field ?? "")' is \(millis) ms from 1970, outside the times gather takes")
        }
        return millis
    }

    private func unchecked(_ record: Record, arrival: Int64) throws(StreamEventError) -> Int64 {
        guard let field = self.field else { return arrival }
        guard let value = Self.lookup(field, in: record), !value.isNull else {
            throw StreamEventError(
                code: "no_event_time", message: "the event has no '\(field)' field for its event time")
        }
        switch value {
        case .int(let n): return Self.fromNumber(Double(n), exact: n)
        case .double(let d) where d.isFinite: return Self.fromNumber(d, exact: nil)
        case .string(let text):
            if let millis = Self.parse(text) { return millis }
            if let number = Double(text), number.isFinite { return Self.fromNumber(number, exact: Int64(text)) }
            throw StreamEventError(
                code: "bad_event_time",
                message: "field '\(field)' is \"\(text.prefix(40))\", not an RFC 3339 time or epoch seconds/ms")
        default:
            throw StreamEventError(
                code: "bad_event_time", message: "field '\(field)' is \(value.typeName), not a time")
        }
    }

    /// A field by dotted path (`a.b`), or the field literally named so.
    static func lookup(_ path: String, in record: Record) -> Value? {
        if let value = record[path] { return value }
        var current: Value = .object(record)
        for part in path.split(separator: ".") {
            guard let next = current[String(part)] else { return nil }
            current = next
        }
        return current
    }

    private static func fromNumber(_ number: Double, exact: Int64?) -> Int64 {
        // Far outside the range: a sentinel the caller rejects (converting would trap).
        guard abs(number) < 9e15 else { return .max }
        if abs(number) >= 1e11 { return exact ?? Int64(number.rounded()) }
        return exact.map { $0 * 1000 } ?? Int64((number * 1000).rounded())
    }

    /// Epoch milliseconds from RFC 3339 / ISO 8601 text (`T` or a space between date and time, `Z` or an offset;
    /// a date alone is midnight UTC); `nil` if it is not such a time.
    public static func parse(_ text: String) -> Int64? {
        var bytes = Array(text.utf8)
        while bytes.last == 0x20 { bytes.removeLast() }
        func digits(_ start: Int, _ count: Int) -> Int64? {
            guard start + count <= bytes.count else { return nil }
            var value: Int64 = 0
            for index in start..<(start + count) {
                let b = bytes[index]
                guard b >= 0x30, b <= 0x39 else { return nil }
                value = value * 10 + Int64(b - 0x30)
            }
            return value
        }
        guard bytes.count >= 10, bytes[4] == 0x2D, bytes[7] == 0x2D, let year = digits(0, 4),
            let month = digits(5, 2), let day = digits(8, 2), (1...12).contains(month), (1...31).contains(day)
        else { return nil }
        var millis = CivilDate.days(year: year, month: month, day: day) * 86_400_000
        guard bytes.count > 10 else { return millis }
        guard bytes[10] == 0x54 || bytes[10] == 0x74 || bytes[10] == 0x20, let hour = digits(11, 2),
            bytes.count >= 16, bytes[13] == 0x3A, let minute = digits(14, 2), hour < 24, minute < 60
        else { return nil }
        var index = 16
        var second: Int64 = 0
        if index < bytes.count, bytes[index] == 0x3A {
            guard let s = digits(17, 2), s <= 60 else { return nil }
            second = s
            index = 19
        }
        millis += (hour * 3600 + minute * 60 + second) * 1000
        if index < bytes.count, bytes[index] == 0x2E || bytes[index] == 0x2C {
            index += 1
            var scale: Int64 = 100
            var fraction: Int64 = 0
            let start = index
            while index < bytes.count, bytes[index] >= 0x30, bytes[index] <= 0x39 {
                fraction += Int64(bytes[index] - 0x30) * scale
                scale /= 10
                index += 1
            }
            guard index > start else { return nil }
            millis += fraction
        }
        guard index < bytes.count else { return millis }  // no zone: UTC
        switch bytes[index] {
        case 0x5A, 0x7A:
            return index + 1 == bytes.count ? millis : nil
        case 0x2B, 0x2D:
            let sign: Int64 = bytes[index] == 0x2B ? 1 : -1
            guard let hours = digits(index + 1, 2) else { return nil }
            var minutes: Int64 = 0
            var end = index + 3
            if end < bytes.count, bytes[end] == 0x3A { end += 1 }
            if end < bytes.count {
                guard let m = digits(end, 2), end + 2 == bytes.count else { return nil }
                minutes = m
            }
            return millis - sign * (hours * 60 + minutes) * 60_000
        default:
            return nil
        }
    }

    /// `YYYY-MM-DDTHH:MM:SSZ`, with `.mmm` when the milliseconds are not zero: how window bounds are written.
    public static func format(_ millis: Int64) -> String { CivilDate.timestamp(millis: millis) }
}
