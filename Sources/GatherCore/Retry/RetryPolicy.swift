/// When to try a failed request again, and how long to wait first.
///
/// Exponential backoff with full jitter: before retry *n* (1-based) it waits a random time in
/// `0 … min(maxBackoff, initialBackoff × multiplier^(n-1))`, but never less than the server's `Retry-After`.
/// It stops after `maxAttempts` attempts in all, or when the next wait would pass `maxElapsed` since the first try.
///
/// By default it retries connection errors, timeouts, resets and the statuses 429, 502, 503 and 504, and only
/// for idempotent methods (GET, HEAD, OPTIONS, PUT, DELETE, TRACE).
///
/// ```swift
/// var retry = RetryPolicy.default
/// retry.maxAttempts = 6
/// switch retry.decide(attempt: 1, elapsed: .seconds(1), failure: .status(503), method: "GET", retryAfter: nil) {
/// case .retry(let wait): try await Task.sleep(for: wait)
/// case .stop(let reason): print(reason)
/// }
/// ```
public struct RetryPolicy: Sendable, Hashable {
    /// Attempts in all, the first one included (1 = never retry).
    public var maxAttempts: Int
    /// The cap on backoff before the first retry.
    public var initialBackoff: Duration
    /// The growth of the cap per retry.
    public var multiplier: Double
    /// The largest backoff cap.
    public var maxBackoff: Duration
    /// No retry starts later than this after the first attempt began; `nil` for no cap.
    public var maxElapsed: Duration?
    /// HTTP statuses worth retrying.
    public var retryableStatuses: Set<Int>
    /// Retry POST and PATCH too (only safe when the server deduplicates, e.g. with an idempotency key).
    public var retryNonIdempotent: Bool

    /// 4 attempts, 200 ms initial backoff doubling to at most 30 s, at most 2 minutes in all.
    public init() {
        self.maxAttempts = 4
        self.initialBackoff = .milliseconds(200)
        self.multiplier = 2
        self.maxBackoff = .seconds(30)
        self.maxElapsed = .seconds(120)
        self.retryableStatuses = [429, 502, 503, 504]
        self.retryNonIdempotent = false
    }

    /// The defaults described on ``init()``.
    public static var `default`: RetryPolicy { RetryPolicy() }

    /// Never retry.
    public static var none: RetryPolicy {
        var policy = RetryPolicy()
        policy.maxAttempts = 1
        return policy
    }

    /// What went wrong with an attempt, as far as retrying is concerned.
    public enum Failure: Sendable, Hashable {
        /// The server answered with this status.
        case status(Int)
        /// Connecting failed, the connection was reset or closed early, or a timeout fired.
        case transport
        /// Something retrying cannot fix (a bad URL, a body over the cap, TLS verification).
        case permanent
    }

    /// The verdict for one failed attempt.
    public enum Decision: Sendable, Hashable {
        /// Try again after this wait.
        case retry(after: Duration)
        /// Give up, for this reason (a sentence for the error record).
        case stop(reason: String)
    }

    /// Decides whether to retry after attempt number `attempt` (1-based) failed with `failure`.
    ///
    /// - Parameters:
    ///   - elapsed: Time since the first attempt began.
    ///   - method: The HTTP method, upper-case.
    ///   - retryAfter: The server's `Retry-After`, if any: the wait is never shorter.
    ///   - random: The source of jitter (inject a seeded generator in tests).
    public func decide(
        attempt: Int,
        elapsed: Duration,
        failure: Failure,
        method: String,
        retryAfter: Duration?,
        using random: inout some RandomNumberGenerator
    ) -> Decision {
        switch failure {
        case .permanent:
            return .stop(reason: "not retryable")
        case .status(let status) where !self.retryableStatuses.contains(status):
            return .stop(reason: "status \(status) is not retryable")
        default:
            break
        }
        if !self.retryNonIdempotent && !Self.idempotentMethods.contains(method.uppercased()) {
            return .stop(reason: "\(method) is not idempotent, so it is not retried (allow it with retryNonIdempotent)")
        }
        if attempt >= self.maxAttempts {
            return .stop(reason: "gave up after \(attempt) attempt\(attempt == 1 ? "" : "s")")
        }
        let cap = min(self.maxBackoff, self.initialBackoff * pow(self.multiplier, attempt - 1))
        var wait = Duration.nanoseconds(Int64.random(in: 0...max(0, cap.nanosecondsClamped), using: &random))
        if let retryAfter, retryAfter > wait { wait = retryAfter }
        if let maxElapsed = self.maxElapsed, elapsed + wait > maxElapsed {
            return .stop(
                reason: "gave up after \(attempt) attempt\(attempt == 1 ? "" : "s"): the next wait (\(wait)) "
                    + "would pass the retry time cap of \(maxElapsed)"
            )
        }
        return .retry(after: wait)
    }

    /// The same, with the system's random generator.
    public func decide(attempt: Int, elapsed: Duration, failure: Failure, method: String, retryAfter: Duration?)
        -> Decision
    {
        var generator = SystemRandomNumberGenerator()
        return self.decide(
            attempt: attempt,
            elapsed: elapsed,
            failure: failure,
            method: method,
            retryAfter: retryAfter,
            using: &generator
        )
    }

    static let idempotentMethods: Set<String> = ["GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"]

    private func pow(_ base: Double, _ exponent: Int) -> Double {
        var result = 1.0
        for _ in 0..<max(0, min(exponent, 64)) { result *= base }
        return result
    }
}

extension Duration {
    /// The duration in whole nanoseconds, clamped to `Int64`.
    public var nanosecondsClamped: Int64 {
        let (seconds, attoseconds) = self.components
        if seconds >= Int64.max / 1_000_000_000 { return .max }
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}
