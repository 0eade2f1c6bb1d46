extension Duration {
    /// Parses a human duration: a number and a unit, as in `500ms`, `1s`, `1.5s`, `2m`, `1h`, `250us`.
    ///
    /// A bare number is read as seconds. Units: `ns`, `us`, `ms`, `s`, `m`, `h`, `d`.
    ///
    /// ```swift
    /// let timeout = try Duration(parsing: "500ms")   // .milliseconds(500)
    /// ```
    /// - Throws: ``ConfigurationError`` naming the text and the accepted forms.
    public init(parsing text: String) throws(ConfigurationError) {
        let trimmed = text.trimmingWhitespace()
        var numberEnd = trimmed.startIndex
        while numberEnd < trimmed.endIndex, trimmed[numberEnd].isNumber || trimmed[numberEnd] == "." {
            numberEnd = trimmed.index(after: numberEnd)
        }
        let unit = trimmed[numberEnd...].trimmingWhitespace().lowercased()
        guard let number = Double(trimmed[..<numberEnd]), number >= 0, number.isFinite else {
            throw ConfigurationError(
                "invalid duration \"\(text)\": write a number with a unit, like 500ms, 30s, 2m or 1h"
            )
        }
        let scale: Double
        switch unit {
        case "ns": scale = 1e-9
        case "us", "µs": scale = 1e-6
        case "ms": scale = 1e-3
        case "", "s", "sec", "secs": scale = 1
        case "m", "min", "mins": scale = 60
        case "h", "hr", "hour", "hours": scale = 3600
        case "d", "day", "days": scale = 86400
        default:
            throw ConfigurationError(
                "invalid duration \"\(text)\": unknown unit \"\(unit)\"; use ns, us, ms, s, m, h or d (e.g. 30s)"
            )
        }
        self = .nanoseconds(Int64((number * scale * 1e9).rounded()))
    }

    /// The duration in seconds, as a `Double`.
    public var seconds: Double {
        let (s, attos) = self.components
        return Double(s) + Double(attos) / 1e18
    }

    /// The duration in milliseconds, as a `Double`.
    public var milliseconds: Double { self.seconds * 1000 }
}

extension StringProtocol {
    /// The text without leading and trailing spaces, tabs and line breaks (as `String`).
    public func trimmingWhitespace() -> String {
        var start = self.startIndex
        var end = self.endIndex
        while start < end, self[start].isWhitespace { start = self.index(after: start) }
        while end > start, self[self.index(before: end)].isWhitespace { end = self.index(before: end) }
        return String(self[start..<end])
    }
}
