import Synchronization

/// Per-key admission: a concurrency cap, a token-bucket rate, and pauses the server asks for, in one place.
///
/// Every request (and every retry) takes a permit for its key before it starts and gives it back when it ends.
/// Keys are whatever the caller chooses; the fetcher uses the host. The rules live in
/// `FlowKeyStateMachine`; this class only runs it under a lock, parks waiters and sleeps on the injected clock.
///
/// ```swift
/// let flow = FlowController(limits: FlowLimits(maxConcurrency: 8, rate: try Rate(parsing: "20/s")))
/// let permit = try await flow.acquire(key: "api.example.com")
/// defer { flow.release(permit) }
/// // … send the request; on a 429:
/// flow.pause(key: permit.key, for: .seconds(30))
/// ```
public final class FlowController<C: Clock>: Sendable where C.Duration == Duration {
    /// The clock that reserved start times and pauses are measured on.
    public let clock: C
    private let defaultLimits: FlowLimits
    private let storage: Mutex<Storage>

    private struct Storage: ~Copyable {
        /// Per-key limits that replace the defaults (set at creation or by ``FlowController/setLimits(_:for:)``).
        var overrides: [String: FlowLimits]
        var keys: [String: FlowKeyStateMachine<C.Instant>] = [:]
        var waiters: [UInt64: Waiter] = [:]
        var nextWaiter: UInt64 = 0
        /// Releases since the last sweep of idle keys.
        var releasesSinceSweep = 0
    }

    /// A slow-path waiter's state. Only touched under `storage`'s lock; its entry is removed once it is resumed.
    private enum Waiter {
        /// Registered, not yet parked.
        case pending
        /// Parked in the key's queue.
        case waiting(CheckedContinuation<C.Instant, any Error>)
        /// Failed (cancelled or timed out) before it parked: it fails as soon as it tries to park.
        case failedEarly(any Error)
    }

    /// Creates a controller that applies `limits` to every key, or `overrides[key]` where given.
    public init(limits: FlowLimits, overrides: [String: FlowLimits] = [:], clock: C) {
        self.clock = clock
        self.defaultLimits = limits
        self.storage = Mutex(Storage(overrides: overrides))
    }

    /// The limits that apply to `key`.
    public func limits(for key: String) -> FlowLimits {
        self.storage.withLock { $0.overrides[key] } ?? self.defaultLimits
    }

    /// Replaces `key`'s limits from now on (a crawler learns a host's `Crawl-delay` from its robots.txt).
    /// Permits already out stay out; waiting and later requests follow the new limits.
    public func setLimits(_ limits: FlowLimits, for key: String) {
        self.storage.withLock { storage in
            storage.overrides[key] = limits
            storage.keys[key]?.limits = limits
        }
    }

    /// Waits for a permit for `key`, then until its reserved start time.
    ///
    /// - Parameters:
    ///   - key: The key to admit against (for HTTP, the host).
    ///   - timeout: The longest wait for admission; `nil` waits as long as it takes.
    /// - Returns: A permit to hand back with ``release(_:)``.
    /// - Throws: ``FlowControlError`` when `timeout` passes first, `CancellationError` when the task is cancelled.
    @_specialize(exported:true,where C == ContinuousClock)
    public func acquire(key: String, timeout: Duration? = nil) async throws -> FlowPermit {
        let began = self.clock.now
        let deadline = timeout.map { began.advanced(by: $0) }
        let defaults = self.defaultLimits

        // Fast path: no queue. Slow path: park until a release hands this waiter the permit.
        // One lock for both the key's limits and the permit.
        let (limits, fast): (FlowLimits, C.Instant?) = self.storage.withLock { storage in
            let limits = storage.overrides.isEmpty ? defaults : storage.overrides[key] ?? defaults
            return (limits, storage.keys[key, default: FlowKeyStateMachine(limits: limits)].tryAcquire(now: began))
        }
        var startAt: C.Instant
        if let fast {
            // Admitted to start at once with no rate to check: the re-check below could only see a pause that
            // arrived in the last microseconds, which is the same as one arriving just after this start.
            if fast <= began, limits.rate == nil { return FlowPermit(key: key) }
            startAt = fast
        } else {
            startAt = try await self.waitInQueue(key: key, limits: limits, deadline: deadline, began: began)
        }

        // Holding the permit: sleep until the reserved start, re-checking for pauses that arrived meanwhile.
        while true {
            let now = self.clock.now
            if startAt > now {
                if let deadline, startAt > deadline {
                    self.abandon(key: key, reservedStart: startAt)
                    throw FlowControlError(key: key, waited: began.duration(to: now))
                }
                do {
                    try await self.clock.sleep(until: startAt, tolerance: nil)
                } catch {
                    self.abandon(key: key, reservedStart: startAt)
                    throw error
                }
            }
            let later: C.Instant? = self.storage.withLock { $0.keys[key]?.recheck(now: self.clock.now) }
            guard let later else { break }
            startAt = later
        }
        return FlowPermit(key: key)
    }

    /// Gives a permit back; the next queued waiter for its key (if any) gets it.
    @_specialize(exported:true,where C == ContinuousClock)
    public func release(_ permit: FlowPermit) {
        self.abandon(key: permit.key)
    }

    /// Runs `body` holding a permit for `key`, and releases it however `body` ends.
    public func withPermit<T: Sendable>(
        key: String,
        timeout: Duration? = nil,
        _ body: () async throws -> T
    ) async throws -> T {
        let permit = try await self.acquire(key: key, timeout: timeout)
        defer { self.release(permit) }
        return try await body()
    }

    /// Holds back every new start for `key` until `duration` from now (a later pause wins).
    public func pause(key: String, for duration: Duration) {
        let limits = self.limits(for: key)
        guard limits.obeyServerHints else { return }
        let clamped = min(duration, limits.maxServerPause)
        let until = self.clock.now.advanced(by: clamped)
        self.storage.withLock { storage in
            storage.keys[key, default: FlowKeyStateMachine(limits: limits)].pause(until: until)
        }
    }

    /// Applies what a response said: pauses `key` when the hints ask for a pause.
    public func observe(_ hints: ServerHints, key: String) {
        if let pause = hints.pause, pause > .zero {
            self.pause(key: key, for: pause)
        }
    }

    /// Until when `key` is paused by a server hint, or `nil` when it is not paused (for displays and tests).
    public func pausedUntil(key: String) -> C.Instant? {
        let now = self.clock.now
        return self.storage.withLock { $0.keys[key]?.pausedUntil }.flatMap { $0 > now ? $0 : nil }
    }

    /// How many permits are out for `key` right now (for progress displays and tests).
    public func inFlight(key: String) -> Int {
        self.storage.withLock { $0.keys[key]?.inFlight ?? 0 }
    }

    // MARK: - Executor internals

    private func waitInQueue(key: String, limits: FlowLimits, deadline: C.Instant?, began: C.Instant) async throws
        -> C.Instant
    {
        let id = self.storage.withLock { storage in
            storage.nextWaiter += 1
            storage.waiters[storage.nextWaiter] = .pending
            return storage.nextWaiter
        }
        let timer: Task<Void, Never>? = deadline.map { deadline in
            Task { [self] in
                do { try await self.clock.sleep(until: deadline, tolerance: nil) } catch { return }
                self.failWaiter(
                    id: id, key: key, error: FlowControlError(key: key, waited: began.duration(to: deadline)))
            }
        }
        defer { timer?.cancel() }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<C.Instant, any Error>) in
                let immediate: Result<C.Instant, any Error>? = self.storage.withLock { storage in
                    if case .failedEarly(let error) = storage.waiters[id] {
                        storage.waiters[id] = nil
                        return .failure(error)
                    }
                    let action = storage.keys[key, default: FlowKeyStateMachine(limits: limits)].acquire(
                        waiter: id,
                        now: self.clock.now
                    )
                    switch action {
                    case .admitted(let startAt):
                        storage.waiters[id] = nil
                        return .success(startAt)
                    case .enqueued:
                        storage.waiters[id] = .waiting(continuation)
                        return nil
                    }
                }
                if let immediate { continuation.resume(with: immediate) }
            }
        } onCancel: {
            self.failWaiter(id: id, key: key, error: CancellationError())
        }
    }

    /// Fails a queued waiter (timeout or cancellation). If it has not parked yet, marks it so it fails on arrival;
    /// if it was already admitted, does nothing.
    private func failWaiter(id: UInt64, key: String, error: any Error) {
        let continuation: CheckedContinuation<C.Instant, any Error>? = self.storage.withLock { storage in
            switch storage.waiters[id] {
            case .waiting(let continuation):
                storage.waiters[id] = nil
                _ = storage.keys[key]?.cancel(waiter: id)
                return continuation
            case .pending:
                storage.waiters[id] = .failedEarly(error)
                return nil
            case .failedEarly, nil:
                return nil
            }
        }
        continuation?.resume(throwing: error)
    }

    /// Gives back a permit (used, or unused with its reserved start) and hands it to the next waiter.
    private func abandon(key: String, reservedStart: C.Instant? = nil) {
        let now = self.clock.now
        let next: (CheckedContinuation<C.Instant, any Error>, C.Instant)? = self.storage.withLock { storage in
            // One hash lookup: the key's machine is changed in place through its index.
            guard let index = storage.keys.index(forKey: key) else { return nil }
            var handOff: (CheckedContinuation<C.Instant, any Error>, C.Instant)?
            var action =
                reservedStart.map { storage.keys.values[index].abandon(reservedStart: $0, now: now) }
                ?? storage.keys.values[index].release(now: now)
            while case .admit(let waiter, let startAt) = action {
                if case .waiting(let continuation) = storage.waiters.removeValue(forKey: waiter) {
                    handOff = (continuation, startAt)
                    break
                }
                // The waiter is gone (it cannot be, as waiters leave the queue under this lock); pass it on.
                action = storage.keys.values[index].release(now: now)
            }
            if storage.keys.values[index].isIdle(now: now) { storage.keys.remove(at: index) }
            // A key kept for its rate or pause is dropped here only when it is released again: sweep now and
            // then, so memory does not grow with the number of distinct keys over a long run.
            storage.releasesSinceSweep += 1
            if storage.releasesSinceSweep >= 4096 {
                storage.releasesSinceSweep = 0
                storage.keys = storage.keys.filter { !$0.value.isIdle(now: now) }
            }
            return handOff
        }
        if let (continuation, startAt) = next { continuation.resume(returning: startAt) }
    }
}

extension FlowController where C == ContinuousClock {
    /// Creates a controller on the continuous clock.
    public convenience init(limits: FlowLimits, overrides: [String: FlowLimits] = [:]) {
        self.init(limits: limits, overrides: overrides, clock: ContinuousClock())
    }
}

/// Proof of admission for one key; give it back with ``FlowController/release(_:)`` exactly once.
public struct FlowPermit: Sendable, Hashable {
    /// The key the permit was granted for.
    public let key: String
}
