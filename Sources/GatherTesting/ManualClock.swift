import Synchronization

/// A clock that moves only when a test moves it, so rules about time (rates, pauses, timeouts) are tested exactly,
/// without real waits and without the timing slack a busy machine needs:
///
/// ```swift
/// let clock = ManualClock()
/// let flow = FlowController(limits: FlowLimits(rate: Rate(count: 5, per: .seconds(1))), clock: clock)
/// let second = Task { try await flow.acquire(key: "h") }
/// try await clock.waitForSleepers(1)      // the task has parked on the clock
/// clock.advance(by: .milliseconds(199))   // not yet
/// clock.advance(by: .milliseconds(1))     // now it runs
/// ```
///
/// `sleep(until:)` returns at once for a deadline already reached, and throws `CancellationError` when its task is
/// cancelled, as `ContinuousClock`'s does.
public final class ManualClock: Clock, Sendable {
    /// A point on the clock's timeline; also usable alone, to drive a state machine without any clock.
    public struct Instant: InstantProtocol, Sendable, CustomStringConvertible {
        /// Time since the clock was made.
        public var offset: Duration

        public init(offset: Duration) {
            self.offset = offset
        }

        /// The instant `milliseconds` after the start.
        public static func at(_ milliseconds: Int) -> Instant { Instant(offset: .milliseconds(milliseconds)) }

        public var description: String { "t+\(self.offset)" }

        public func advanced(by duration: Duration) -> Instant { Instant(offset: self.offset + duration) }
        public func duration(to other: Instant) -> Duration { other.offset - self.offset }
        public static func < (a: Instant, b: Instant) -> Bool { a.offset < b.offset }
    }

    private struct State {
        var now = Instant(offset: .zero)
        var sleepers: [Int: (deadline: Instant, continuation: CheckedContinuation<Void, any Error>)] = [:]
        var nextID = 0
        /// Sleeps cancelled before they parked.
        var cancelled: Set<Int> = []
    }
    private let state = Mutex(State())

    public init() {}

    public var now: Instant { self.state.withLock { $0.now } }
    public var minimumResolution: Duration { .zero }

    /// How many tasks sleep on this clock right now.
    public var sleepers: Int { self.state.withLock { $0.sleepers.count } }

    /// The earliest deadline a task sleeps until, if any.
    public var nextDeadline: Instant? { self.state.withLock { $0.sleepers.values.map(\.deadline).min() } }

    public func sleep(until deadline: Instant, tolerance: Duration? = nil) async throws {
        let id = self.state.withLock { state in
            state.nextID += 1
            return state.nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let now: Result<Void, any Error>? = self.state.withLock { state in
                    if state.cancelled.remove(id) != nil { return .failure(CancellationError()) }
                    if deadline <= state.now { return .success(()) }
                    state.sleepers[id] = (deadline, continuation)
                    return nil
                }
                if let now { continuation.resume(with: now) }
            }
        } onCancel: {
            let parked = self.state.withLock { state -> CheckedContinuation<Void, any Error>? in
                if let sleeper = state.sleepers.removeValue(forKey: id) { return sleeper.continuation }
                state.cancelled.insert(id)
                return nil
            }
            parked?.resume(throwing: CancellationError())
        }
    }

    /// Moves the clock on by `duration` and wakes every task whose deadline it reached.
    public func advance(by duration: Duration) {
        let due = self.state.withLock { state -> [CheckedContinuation<Void, any Error>] in
            state.now = state.now.advanced(by: duration)
            let now = state.now
            let ids = state.sleepers.filter { $0.value.deadline <= now }.map(\.key)
            return ids.compactMap { state.sleepers.removeValue(forKey: $0)?.continuation }
        }
        for continuation in due { continuation.resume() }
    }

    /// Waits until at least `count` tasks sleep on this clock. It polls in real time, briefly: other tasks need
    /// real time to reach their sleep. Throws when they have not after `timeout` (real time).
    public func waitForSleepers(_ count: Int, timeout: Duration = .seconds(10)) async throws {
        try await Self.waitUntil(timeout: timeout) {
            self.sleepers >= count
        } orSay: {
            "\(count) task(s) should sleep on the manual clock, but \(self.sleepers) did after \(timeout)"
        }
    }

    /// Waits in real time, polling every millisecond, until `condition` holds (what other tasks do on their way to
    /// the clock takes real time); throws `message()` when it has not after `timeout`.
    public static func waitUntil(
        timeout: Duration = .seconds(10), _ condition: () -> Bool, orSay message: () -> String
    ) async throws {
        let deadline = ContinuousClock.now.advanced(by: timeout)
        while !condition() {
            guard ContinuousClock.now < deadline else { throw ManualClockError(message()) }
            try await Task.sleep(for: .milliseconds(1))
        }
    }
}

/// A test's expectation about sleepers on a ``ManualClock`` that did not come true.
public struct ManualClockError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
