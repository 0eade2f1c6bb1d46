import Testing

@testable import GatherCore

/// A deterministic generator (SplitMix64) so backoff bounds can be checked exactly.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        var z = self.state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

@Suite struct RetryPolicyTests {
    @Test func fullJitterStaysUnderTheGrowingCap() {
        let policy = RetryPolicy()
        var random = SeededGenerator(state: 42)
        for attempt in 1...3 {
            let cap = Duration.milliseconds(200) * (1 << (attempt - 1))
            var maxSeen = Duration.zero
            for _ in 0..<500 {
                guard
                    case .retry(let wait) = policy.decide(
                        attempt: attempt, elapsed: .zero, failure: .status(503), method: "GET", retryAfter: nil,
                        using: &random)
                else {
                    Issue.record("expected a retry at attempt \(attempt)")
                    return
                }
                #expect(wait >= .zero && wait <= cap)
                maxSeen = max(maxSeen, wait)
            }
            // Full jitter spreads over the whole range, not just a corner of it.
            #expect(maxSeen > cap / 2)
        }
    }

    @Test func backoffNeverGoesBelowRetryAfter() {
        var random = SeededGenerator(state: 7)
        for _ in 0..<100 {
            let decision = RetryPolicy().decide(
                attempt: 1, elapsed: .zero, failure: .status(429), method: "GET", retryAfter: .seconds(3),
                using: &random)
            #expect(decision == .retry(after: .seconds(3)))
        }
    }

    @Test func stopsAtTheAttemptCap() {
        var policy = RetryPolicy()
        policy.maxAttempts = 3
        #expect(
            policy.decide(attempt: 2, elapsed: .zero, failure: .transport, method: "GET", retryAfter: nil)
                != .stop(reason: ""))
        guard
            case .stop(let reason) = policy.decide(
                attempt: 3, elapsed: .zero, failure: .transport, method: "GET", retryAfter: nil)
        else {
            Issue.record("expected to stop after 3 attempts")
            return
        }
        #expect(reason.contains("3 attempts"))
    }

    @Test func stopsAtTheTimeCap() {
        var policy = RetryPolicy()
        policy.maxElapsed = .seconds(10)
        let decision = policy.decide(
            attempt: 1, elapsed: .seconds(9), failure: .status(503), method: "GET", retryAfter: .seconds(5))
        guard case .stop(let reason) = decision else {
            Issue.record("expected a stop, got \(decision)")
            return
        }
        #expect(reason.contains("time cap"))
    }

    @Test(arguments: [408, 429, 500, 502, 503, 504])
    func retriesTheDefaultStatuses(status: Int) {
        guard
            case .retry = RetryPolicy().decide(
                attempt: 1, elapsed: .zero, failure: .status(status), method: "GET", retryAfter: nil)
        else {
            Issue.record("\(status) should be retried")
            return
        }
    }

    @Test(arguments: [400, 401, 403, 404, 409, 422, 501, 505])
    func doesNotRetryOtherStatuses(status: Int) {
        guard
            case .stop = RetryPolicy().decide(
                attempt: 1, elapsed: .zero, failure: .status(status), method: "GET", retryAfter: nil)
        else {
            Issue.record("\(status) should not be retried")
            return
        }
    }

    @Test func onlyIdempotentMethodsByDefault() {
        guard
            case .stop(let reason) = RetryPolicy().decide(
                attempt: 1, elapsed: .zero, failure: .transport, method: "POST", retryAfter: nil)
        else {
            Issue.record("POST should not be retried by default")
            return
        }
        #expect(reason.contains("idempotent"))
        var policy = RetryPolicy()
        policy.retryableMethods.insert("POST")
        guard
            case .retry = policy.decide(
                attempt: 1, elapsed: .zero, failure: .transport, method: "POST", retryAfter: nil)
        else {
            Issue.record("POST should be retried when listed")
            return
        }
    }

    @Test func anIdempotencyKeyMakesPOSTRetryable() {
        guard
            case .retry = RetryPolicy().decide(
                attempt: 1, elapsed: .zero, failure: .status(503), method: "POST", idempotencyKey: true,
                retryAfter: nil)
        else {
            Issue.record("a POST with an Idempotency-Key should be retried")
            return
        }
    }

    @Test func aStatusListReplacesTheDefaults() throws {
        var policy = RetryPolicy()
        policy.retryableStatuses = try RetryPolicy.parseStatuses("500,502-504, 429")
        #expect(policy.retryableStatuses == [429, 500, 502, 503, 504])
        if case .retry = policy.decide(
            attempt: 1, elapsed: .zero, failure: .status(408), method: "GET", retryAfter: nil)
        {
            Issue.record("408 is not in the list, so it must not be retried")
        }
        #expect(throws: ConfigurationError.self) { try RetryPolicy.parseStatuses("5xx") }
        #expect(throws: ConfigurationError.self) { try RetryPolicy.parseStatuses("504-502") }
        #expect(throws: ConfigurationError.self) { try RetryPolicy.parseStatuses("") }
    }

    @Test func aResponseActionRetriesWhateverTheStatus() {
        guard
            case .retry = RetryPolicy().decide(
                attempt: 1, elapsed: .zero, failure: .action, method: "GET", retryAfter: nil)
        else {
            Issue.record("a retry action should be retried")
            return
        }
    }

    @Test func permanentFailuresStopAtOnce() {
        guard
            case .stop = RetryPolicy().decide(
                attempt: 1, elapsed: .zero, failure: .permanent, method: "GET", retryAfter: nil)
        else {
            Issue.record("a permanent failure must not be retried")
            return
        }
    }
}
