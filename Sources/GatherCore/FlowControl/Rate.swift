/// A request-rate budget for a token bucket: `count` requests per `period`, with a burst allowance.
///
/// Written as `20/s`, `300/m`, `5000/h` or `100/d`; a burst can follow after a colon: `20/s:5`.
/// Without one, the burst is 1: requests are spaced evenly at `period / count`.
///
/// ```swift
/// let rate = try Rate(parsing: "5000/h")
/// rate.interval   // 0.72 s between requests
/// ```
public struct Rate: Sendable, Hashable, CustomStringConvertible {
    /// How many requests may start per ``period``.
    public var count: Double
    /// The period over which ``count`` applies.
    public var period: Duration
    /// How many requests may start back to back before spacing applies (at least 1).
    public var burst: Int

    /// Creates a rate of `count` requests per `period`.
    public init(count: Double, per period: Duration, burst: Int = 1) {
        self.count = count
        self.period = period
        self.burst = max(1, burst)
    }

    /// Parses `N/unit` with unit `s`, `m`, `h` or `d` (also `sec`, `min`, `hour`, `day`), and an optional `:burst`.
    /// - Throws: ``ConfigurationError`` naming the text and the accepted forms.
    public init(parsing text: String) throws(ConfigurationError) {
        let help = "write requests per unit, like 20/s, 300/m or 5000/h (optionally with a burst: 20/s:5)"
        var spec = Substring(text.trimmingWhitespace())
        var burst = 1
        if let colon = spec.firstIndex(of: ":") {
            guard let b = Int(spec[spec.index(after: colon)...]), b >= 1 else {
                throw ConfigurationError(
                    "invalid rate \"\(text)\": the burst after ':' must be a whole number ≥ 1; \(help)")
            }
            burst = b
            spec = spec[..<colon]
        }
        let parts = spec.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let count = Double(parts[0]), count > 0, count.isFinite else {
            throw ConfigurationError("invalid rate \"\(text)\": \(help)")
        }
        let period: Duration
        switch parts[1].lowercased() {
        case "s", "sec", "second": period = .seconds(1)
        case "m", "min", "minute": period = .seconds(60)
        case "h", "hour": period = .seconds(3600)
        case "d", "day": period = .seconds(86400)
        default: throw ConfigurationError("invalid rate \"\(text)\": unknown unit \"\(parts[1])\"; \(help)")
        }
        self.init(count: count, per: period, burst: burst)
    }

    /// The even spacing between requests: `period / count`.
    public var interval: Duration { self.period / self.count }

    public var description: String {
        let unit: String
        switch self.period {
        case .seconds(1): unit = "s"
        case .seconds(60): unit = "m"
        case .seconds(3600): unit = "h"
        case .seconds(86400): unit = "d"
        default: unit = "\(self.period)"
        }
        let n = self.count == self.count.rounded() ? String(Int(self.count)) : String(self.count)
        return self.burst > 1 ? "\(n)/\(unit):\(self.burst)" : "\(n)/\(unit)"
    }
}
