/// The limits a ``FlowController`` enforces for one key (a host, an API, a tenant).
///
/// ```swift
/// var limits = FlowLimits()
/// limits.maxConcurrency = 8
/// limits.rate = try Rate(parsing: "20/s")
/// ```
public struct FlowLimits: Sendable, Hashable {
    /// At most this many permits held at once for the key; `nil` means no cap.
    public var maxConcurrency: Int?
    /// A token-bucket budget for starting requests; `nil` means no rate limit.
    public var rate: Rate?
    /// Whether `Retry-After` and `RateLimit-*` feedback pauses the key. On by default.
    public var obeyServerHints: Bool
    /// The longest pause a server hint may impose; a longer `Retry-After` is clamped to this (default 1 hour).
    public var maxServerPause: Duration

    /// No cap, no rate limit, server hints obeyed.
    public init(maxConcurrency: Int? = nil, rate: Rate? = nil) {
        self.maxConcurrency = maxConcurrency
        self.rate = rate
        self.obeyServerHints = true
        self.maxServerPause = .seconds(3600)
    }

    /// No cap and no rate limit.
    public static var unlimited: FlowLimits { FlowLimits() }
}
