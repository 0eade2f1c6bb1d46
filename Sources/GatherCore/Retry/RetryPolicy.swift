/// When to try a failed request again, and how long to wait first.
///
/// Exponential backoff with full jitter: before retry *n* (1-based) it waits a random time in
/// `0 … min(maxBackoff, initialBackoff × multiplier^(n-1))`, but never less than the server's `Retry-After`.
/// It stops after `maxAttempts` attempts in all, or when the next wait would pass `maxElapsed` since the first try.
///
/// By default it retries connection errors, timeouts, resets and the statuses 408, 429, 500, 502, 503 and 504
/// (as curl `--retry-all-errors` minus 501/505, urllib3's `Retry`, AWS SDKs and dlt do), and only for idempotent
/// methods (GET, HEAD, OPTIONS, PUT, DELETE, TRACE), or for a request that carries an `Idempotency-Key` header.
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
    /// Methods (upper-case) worth retrying. POST and PATCH are not in the default set: add them only when the
    /// server deduplicates. A request with an `Idempotency-Key` header is retried whatever its method.
    public var retryableMethods: Set<String>

    /// 4 attempts, 200 ms initial backoff doubling to at most 30 s, at most 2 minutes in all.
    public init() {
        self.maxAttempts = 4
        self.initialBackoff = .milliseconds(200)
        self.multiplier = 2
        self.maxBackoff = .seconds(30)
        self.maxElapsed = .seconds(120)
        self.retryableStatuses = Self.defaultStatuses
        self.retryableMethods = Self.idempotentMethods
    }

    /// The statuses retried by default: 408, 429, 500, 502, 503 and 504. Not 501 or 505 (the server will not
    /// change its mind) and no other 4xx.
    public static let defaultStatuses: Set<Int> = [408, 429, 500, 502, 503, 504]

    /// The methods retried by default: the idempotent ones of RFC 9110 §9.2.2.
    public static let idempotentMethods: Set<String> = ["GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"]

    /// Parses a status list as `--retry-on` and `retry.statuses` take it: `500,502-504,429` (codes and ranges,
    /// 100 to 599).
    ///
    /// - Throws: ``ConfigurationError`` naming the part that is not a status or a range.
    public static func parseStatuses(_ text: String) throws -> Set<Int> {
        var statuses: Set<Int> = []
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            statuses.formUnion(try Self.parseStatusRange(String(part)))
        }
        return statuses
    }

    /// Applies the command-line forms: `statuses` (`500,502-504,429`) replaces ``retryableStatuses``; `methods`
    /// (`POST,PATCH`) adds to ``retryableMethods``.
    ///
    /// - Throws: ``ConfigurationError`` for a status list that does not parse.
    public mutating func apply(statuses: String?, methods: String?) throws {
        if let statuses { self.retryableStatuses = try Self.parseStatuses(statuses) }
        if let methods {
            for method in methods.split(separator: ",") {
                let name = method.filter { $0 != " " }.uppercased()
                guard !name.isEmpty, name.allSatisfy({ $0 >= "A" && $0 <= "Z" }) else {
                    throw ConfigurationError("\"\(method)\" is not an HTTP method: write methods like POST,PATCH")
                }
                self.retryableMethods.insert(name)
            }
        }
    }

    /// One code (`503`) or range (`502-504`) of a status list.
    public static func parseStatusRange(_ part: String) throws -> ClosedRange<Int> {
        let trimmed = part.filter { $0 != " " }
        let bounds = trimmed.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
        guard let low = bounds.first.flatMap({ Int($0) }), (100...599).contains(low) else {
            throw ConfigurationError(
                "\"\(part)\" is not an HTTP status or range: write codes and ranges like 500,502-504,429")
        }
        guard bounds.count == 2 else { return low...low }
        guard let high = Int(bounds[1]), (low...599).contains(high) else {
            throw ConfigurationError(
                "\"\(part)\" is not a range of HTTP statuses: write it low-high, like 502-504")
        }
        return low...high
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
        /// A response action said to retry (a 200 whose body says "rate limited", say), whatever the status.
        case action
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
    ///   - idempotencyKey: The request carries an `Idempotency-Key` header, so any method may be retried.
    ///   - retryAfter: The server's `Retry-After`, if any: the wait is never shorter.
    ///   - random: The source of jitter (inject a seeded generator in tests).
    public func decide(
        attempt: Int,
        elapsed: Duration,
        failure: Failure,
        method: String,
        idempotencyKey: Bool = false,
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
        if !idempotencyKey && !self.retryableMethods.contains(method.uppercased()) {
            return .stop(
                reason: "\(method) is not retried (not idempotent): list it in the retry methods, or send an "
                    + "Idempotency-Key header")
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
    public func decide(
        attempt: Int, elapsed: Duration, failure: Failure, method: String, idempotencyKey: Bool = false,
        retryAfter: Duration?
    ) -> Decision {
        var generator = SystemRandomNumberGenerator()
        return self.decide(
            attempt: attempt,
            elapsed: elapsed,
            failure: failure,
            method: method,
            idempotencyKey: idempotencyKey,
            retryAfter: retryAfter,
            using: &generator
        )
    }

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
