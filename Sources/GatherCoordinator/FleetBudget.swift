public import GatherCore

/// The fleet's rate budget, kept by a ``Coordinator``: every worker's requests to a rate-limited host draw on one
/// token bucket per host in PostgreSQL (``Coordinator/grant(key:rate:burst:want:)``), so `rate` holds for the
/// fleet together.
///
/// Tokens come in small grants: a slice of the rate (50 ms of it by default, 10 requests at 200/s), so the
/// database sees one statement per grant, not per request. A grant not spent within one slice is dropped, and the
/// bucket holds at most one grant's worth, so over any second the fleet starts at most `rate` plus two slices'
/// worth of requests. A `Retry-After` one worker sees pauses the host for all of them.
///
/// A coordinator that cannot be reached is retried by `outage` (``Outage``: with backoff, for up to a minute by
/// default), which says why meanwhile (for a progress line); after that `take` throws.
public actor FleetBudget: SharedBudget {
    private let coordinator: Coordinator
    private let slice: Duration
    private let outage: Outage
    private var hands: [String: Hand] = [:]

    private struct Hand {
        var tokens = 0
        var grantedAt = ContinuousClock.now
        /// The grant being asked for: the other requests for the key wait for it instead of asking too.
        var refill: Task<Void, any Error>?
    }

    public init(coordinator: Coordinator, slice: Duration = .milliseconds(50), outage: Outage = Outage()) {
        self.coordinator = coordinator
        self.slice = slice
        self.outage = outage
    }

    public func take(key: String, rate: Rate) async throws {
        while true {
            try Task.checkCancellation()
            var hand = self.hands[key, default: Hand()]
            if hand.tokens > 0, hand.grantedAt.duration(to: .now) > self.slice { hand.tokens = 0 }
            if hand.tokens > 0 {
                hand.tokens -= 1
                self.hands[key] = hand
                return
            }
            if let refill = hand.refill {
                try await refill.value
                continue
            }
            // The task clears itself before it completes, so a taker woken by it never finds it again (and never
            // spins on a finished task while the actor is busy).
            let refill = Task {
                do {
                    try await self.refill(key: key, rate: rate)
                    self.finishRefill(key)
                } catch {
                    self.finishRefill(key)
                    throw error
                }
            }
            hand.refill = refill
            self.hands[key] = hand
            try await refill.value
        }
    }

    private func finishRefill(_ key: String) {
        self.hands[key]?.refill = nil
    }

    public func pause(key: String, for duration: Duration) async {
        self.hands[key]?.tokens = 0
        // Best effort: a pause that cannot be shared still holds here (the fetcher's own controller has it).
        try? await self.coordinator.pause(key: key, for: duration)
    }

    /// Asks for the next grant for `key` until one comes: waits out an empty bucket or a pause, retries an
    /// unreachable coordinator (``Outage``).
    private func refill(key: String, rate: Rate) async throws {
        let perSecond = rate.count / max(rate.period.seconds, 1e-9)
        let want = max(1, Int((perSecond * self.slice.seconds).rounded(.down)))
        while true {
            try Task.checkCancellation()
            let answer = try await self.outage.run("asking for the fleet's rate for \(key)") {
                try await self.coordinator.grant(key: key, rate: perSecond, burst: Double(want), want: want)
            }
            if answer.granted > 0 {
                self.hands[key, default: Hand()].tokens += answer.granted
                self.hands[key, default: Hand()].grantedAt = .now
                return
            }
            // Nothing to hand out yet: wait for a slice of the rate to come back (or for the pause to end).
            try await Task.sleep(for: answer.pausedFor.map { max($0, self.slice) } ?? self.slice)
        }
    }
}
