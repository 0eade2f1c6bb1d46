#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// What a response says about when to send the next request: `Retry-After`, and the rate-limit headers.
///
/// Understood headers (names are case-insensitive):
/// - `Retry-After`: delay-seconds or an HTTP-date (RFC 9110 §10.2.3);
/// - `RateLimit-Remaining` / `RateLimit-Reset` (IETF draft), and GitHub's `X-RateLimit-Remaining` /
///   `X-RateLimit-Reset`, where a reset above 10⁹ is read as a Unix time, otherwise as seconds from now;
/// - the structured `RateLimit: limit=100, remaining=0, reset=50`.
///
/// ```swift
/// let hints = ServerHints(headers: [("Retry-After", "2")])
/// hints.pause   // 2 seconds
/// ```
public struct ServerHints: Sendable, Hashable {
    /// The server's `Retry-After`, as a delay from now.
    public var retryAfter: Duration?
    /// Requests left in the server's current window, if it said.
    public var rateLimitRemaining: Int?
    /// Time until the server's window resets, if it said.
    public var rateLimitReset: Duration?

    /// Hints with nothing in them.
    public init() {}

    /// Reads the hints from response headers. `now` is the wall-clock time used to turn HTTP-dates and
    /// Unix times into delays; it defaults to the current time (read only when such a header is present).
    public init(headers: some Sequence<(String, String)>, now: Date? = nil) {
        var nowEpoch: Double { (now ?? Date()).timeIntervalSince1970 }
        for (name, value) in headers {
            // Every header understood here starts with "r" or "x": skip the rest without lower-casing them.
            guard let first = name.utf8.first, first | 0x20 == UInt8(ascii: "r") || first | 0x20 == UInt8(ascii: "x")
            else { continue }
            switch name.lowercased() {
            case "retry-after":
                self.retryAfter = Self.parseRetryAfter(value, nowEpoch: nowEpoch)
            case "ratelimit-remaining", "x-ratelimit-remaining":
                self.rateLimitRemaining = Int(value.trimmingWhitespace())
            case "ratelimit-reset", "x-ratelimit-reset":
                if let reset = Double(value.trimmingWhitespace()) {
                    self.rateLimitReset = Self.resetDelay(reset, nowEpoch: nowEpoch)
                }
            case "ratelimit":
                for item in value.split(separator: ",") {
                    let pair = item.split(separator: "=", maxSplits: 1).map { $0.trimmingWhitespace() }
                    guard pair.count == 2 else { continue }
                    switch pair[0].lowercased() {
                    case "remaining": self.rateLimitRemaining = Int(pair[1])
                    case "reset": self.rateLimitReset = Double(pair[1]).map { Self.resetDelay($0, nowEpoch: nowEpoch) }
                    default: break
                    }
                }
            default:
                break
            }
        }
    }

    /// The pause the server asked for: its `Retry-After`, or the time to its window reset when no requests remain.
    public var pause: Duration? {
        if let retryAfter = self.retryAfter { return retryAfter }
        if self.rateLimitRemaining == 0, let reset = self.rateLimitReset { return reset }
        return nil
    }

    private static func resetDelay(_ value: Double, nowEpoch: Double) -> Duration {
        Self.delay(seconds: value > 1e9 ? value - nowEpoch : value)
    }

    /// A delay from a number of seconds a server sent: negative or NaN is no delay, anything past ten years is
    /// clamped there (the flow controller clamps further), so no header value can overflow.
    static func delay(seconds: Double) -> Duration {
        guard !seconds.isNaN, seconds > 0 else { return .zero }
        let clamped = min(max(0, seconds), 10 * 365 * 86400)
        return .milliseconds(Int64(clamped * 1000))
    }

    /// Parses delay-seconds or an IMF-fixdate / RFC 850 / asctime HTTP-date.
    static func parseRetryAfter(_ text: String, nowEpoch: Double) -> Duration? {
        let value = text.trimmingWhitespace()
        if let seconds = Double(value) {
            return seconds >= 0 && !seconds.isNaN ? Self.delay(seconds: seconds) : nil
        }
        guard let epoch = HTTPDate.epochSeconds(value) else { return nil }
        return Self.delay(seconds: Double(epoch) - nowEpoch)
    }
}

/// A parser for the three HTTP-date forms of RFC 9110 §5.6.7, without locale-dependent formatters.
enum HTTPDate {
    private static let months = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]

    /// Seconds since 1970 for `Sun, 06 Nov 1994 08:49:37 GMT`, `Sunday, 06-Nov-94 08:49:37 GMT`
    /// or `Sun Nov  6 08:49:37 1994`; `nil` if the text is none of these.
    static func epochSeconds(_ text: String) -> Int? {
        let tokens = text.split(whereSeparator: { $0 == " " || $0 == "," || $0 == "-" }).map(String.init)
        var day: Int?
        var month: Int?
        var year: Int?
        var time: [Int]?
        for token in tokens {
            if token.contains(":") {
                let parts = token.split(separator: ":").compactMap { Int($0) }
                if parts.count == 3 { time = parts }
            } else if let number = Int(token) {
                if day == nil, number <= 31, token.count <= 2 { day = number } else { year = number }
            } else if let index = Self.months.firstIndex(of: String(token.prefix(3)).lowercased()), token.count == 3 {
                month = index + 1
            }
        }
        guard let d = day, let m = month, var y = year, let t = time else { return nil }
        if y < 100 { y += y < 70 ? 2000 : 1900 }
        guard (1900...9999).contains(y), (1...31).contains(d), t[0] < 24, t[1] < 60, t[2] <= 60 else { return nil }
        return Int(CivilDate.days(year: Int64(y), month: Int64(m), day: Int64(d))) * 86400 + t[0] * 3600 + t[1] * 60
            + t[2]
    }

}
