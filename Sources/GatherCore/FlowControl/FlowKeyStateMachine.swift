import DequeModule

/// The admission state of one key, with no I/O and no clock of its own: every event carries `now`.
///
/// Three limits combine here:
/// - a concurrency cap: at most `maxConcurrency` permits out at once; further waiters queue in FIFO order;
/// - a rate budget, as the generic cell rate algorithm (a token bucket with `burst` tokens): each admission
///   reserves its own start time, so waiters never stampede;
/// - a pause imposed by the server (`Retry-After`, `RateLimit-Reset`): nothing starts before it ends.
///
/// ``FlowController`` runs this machine under a lock and carries out the actions it returns.
struct FlowKeyStateMachine<Instant: InstantProtocol>: Sendable where Instant.Duration == Duration {
    /// What to do with a request for a permit.
    enum AcquireAction: Equatable {
        /// The permit is granted; the holder may start at `startAt` (now, or later to keep the rate or a pause).
        case admitted(startAt: Instant)
        /// The concurrency cap is reached; the waiter is queued until a permit is released.
        case enqueued
    }

    /// What to do after a permit is released.
    enum ReleaseAction: Equatable {
        case none
        /// Hand the permit to this queued waiter, to start at `startAt`.
        case admit(waiter: UInt64, startAt: Instant)
    }

    var limits: FlowLimits
    private(set) var inFlight = 0
    private(set) var queue = Deque<UInt64>()
    /// The GCRA's theoretical arrival time: when the bucket would next be full-spaced.
    private(set) var theoreticalArrival: Instant?
    /// The same algorithm over actual starts: a holder that woke late does not let the next ones bunch up.
    private(set) var actualArrival: Instant?
    /// No permit starts before this instant.
    private(set) var pausedUntil: Instant?

    init(limits: FlowLimits) {
        self.limits = limits
    }

    /// A waiter asks for a permit at `now`; it is queued if none is free.
    mutating func acquire(waiter: UInt64, now: Instant) -> AcquireAction {
        if let startAt = self.tryAcquire(now: now) { return .admitted(startAt: startAt) }
        self.queue.append(waiter)
        return .enqueued
    }

    /// Grants a permit if one is free and nobody is queued ahead; returns its start time, or `nil`.
    mutating func tryAcquire(now: Instant) -> Instant? {
        if let cap = self.limits.maxConcurrency, self.inFlight >= cap || !self.queue.isEmpty {
            return nil
        }
        self.inFlight += 1
        return self.reserveStart(now: now)
    }

    /// A permit holder is done at `now`.
    mutating func release(now: Instant) -> ReleaseAction {
        precondition(self.inFlight > 0, "release without a permit")
        self.inFlight -= 1
        if let cap = self.limits.maxConcurrency, self.inFlight < cap, let next = self.queue.popFirst() {
            self.inFlight += 1
            return .admit(waiter: next, startAt: self.reserveStart(now: now))
        }
        return .none
    }

    /// A queued waiter gave up (cancelled or timed out). Returns whether it was still queued.
    mutating func cancel(waiter: UInt64) -> Bool {
        guard let index = self.queue.firstIndex(of: waiter) else { return false }
        self.queue.remove(at: index)
        return true
    }

    /// A permit holder gave up before starting (its reserved start was past its deadline, or it was cancelled):
    /// its rate reservation is handed back when it was the latest one, so giving up does not push everyone
    /// else's start further out.
    mutating func abandon(reservedStart: Instant, now: Instant) -> ReleaseAction {
        if let rate = self.limits.rate, let arrival = self.theoreticalArrival {
            let tolerance = rate.interval * (rate.burst - 1)
            // The latest reservation started at arrival - interval - tolerance (or later, for a pause).
            if arrival.advanced(by: .zero - rate.interval - tolerance) <= reservedStart {
                self.theoreticalArrival = arrival.advanced(by: .zero - rate.interval)
            }
        }
        return self.release(now: now)
    }

    /// The server asked for a pause until `instant` (a later pause wins over an earlier one).
    mutating func pause(until instant: Instant) {
        if let current = self.pausedUntil, current >= instant { return }
        self.pausedUntil = instant
    }

    /// Called by a holder when its reserved start has come: returns a later start if a pause arrived meanwhile,
    /// or if starting now would break the rate (by more than a quarter interval) because earlier holders woke
    /// late and started just before (the holder sleeps again); `nil` if it may go now, which counts the start against the rate.
    mutating func recheck(now: Instant) -> Instant? {
        if let paused = self.pausedUntil, paused > now {
            return self.reserveStart(now: now)
        }
        guard let rate = self.limits.rate else { return nil }
        let (allowed, next) = Self.cellRate(rate, arrival: self.actualArrival, earliest: now)
        // A quarter interval of slack: a holder that wakes on time right behind a late one may go up to T/4 early
        // by the actual clock, so one late wake-up (a loaded machine) does not push every later start back. The
        // reservations above still space starts by the full interval, so the average rate never rises.
        let slack = rate.interval / 4
        if allowed.advanced(by: .zero - slack) > now { return allowed.advanced(by: .zero - slack) }
        self.actualArrival = next
        return nil
    }

    /// True when the machine holds nothing that a fresh one would not: it may be dropped.
    func isIdle(now: Instant) -> Bool {
        self.inFlight == 0 && self.queue.isEmpty
            && (self.theoreticalArrival.map { $0 <= now } ?? true)
            && (self.actualArrival.map { $0 <= now } ?? true)
            && (self.pausedUntil.map { $0 <= now } ?? true)
    }

    /// Reserves the next start time allowed by the pause and the rate budget.
    private mutating func reserveStart(now: Instant) -> Instant {
        var earliest = now
        if let paused = self.pausedUntil, paused > earliest { earliest = paused }
        guard let rate = self.limits.rate else { return earliest }
        let (allowed, next) = Self.cellRate(rate, arrival: self.theoreticalArrival, earliest: earliest)
        self.theoreticalArrival = next
        return max(allowed, earliest)
    }

    /// One step of the generic cell rate algorithm: given the theoretical arrival time so far, when the next
    /// cell may go (`allowed`, possibly before `earliest` when burst credit is left) and the arrival time after
    /// it goes.
    private static func cellRate(_ rate: Rate, arrival: Instant?, earliest: Instant) -> (
        allowed: Instant, next: Instant
    ) {
        let tolerance = rate.interval * (rate.burst - 1)
        var arrival = arrival ?? earliest
        if arrival < earliest { arrival = earliest }
        return (arrival.advanced(by: .zero - tolerance), arrival.advanced(by: rate.interval))
    }
}
