import GatherCore
import Synchronization

/// One event as a source read it: its raw payload, and the source position just after it.
public struct SourceEvent: Sendable {
    /// The payload text (an SSE event's data, a WebSocket message, a line of a file).
    public var payload: String
    /// Where the source resumes to read the next event (JSON: an SSE id, a file's inode and offset…); `nil` when
    /// this event does not move the position (an SSE event without an id).
    public var position: Value?
    /// The partition it came from (for per-partition watermarks).
    public var partition: String
    /// Wall-clock arrival, in epoch ms.
    public var arrival: Int64

    public init(payload: String, position: Value?, partition: String = "", arrival: Int64 = Timestamp.epochMillis()) {
        self.payload = payload
        self.position = position
        self.partition = partition
        self.arrival = arrival
    }
}

/// A live source of events: it reads from `position` (its own saved form, or `nil` for the start) into `buffer`
/// until `stop` is set or the task is cancelled, reconnecting by itself; it throws only for what a retry cannot
/// fix (a configuration error).
public protocol StreamSource: Sendable {
    /// What the source is, for messages: `sse http://…`, `tail /var/log/x.jsonl`.
    var description: String { get }
    func run(from position: Value?, into buffer: EventBuffer, status: SourceStatus) async throws
    /// Called after a commit covered every event up to `position` (brokers ack here).
    func committed(through position: Value) async
    /// Called once when the job ends, to close what ``committed(through:)`` keeps open.
    func close() async
}

extension StreamSource {
    public func committed(through position: Value) async {}
    public func close() async {}
}

/// What a source reports while it runs: connection state and counters, for progress lines and the summary.
public final class SourceStatus: Sendable {
    private struct State {
        var connected = false
        var reconnects = 0
        var duplicates = 0
        var lastError: String?
    }
    private let state = Mutex(State())

    public init() {}

    public func connected() { self.state.withLock { $0.connected = true } }

    /// The connection dropped or could not be made; the source retries after a backoff.
    public func disconnected(_ error: String?) {
        self.state.withLock {
            if $0.connected || error != nil { $0.reconnects += 1 }
            $0.connected = false
            $0.lastError = error
        }
    }

    public func duplicate() { self.state.withLock { $0.duplicates += 1 } }

    public var isConnected: Bool { self.state.withLock { $0.connected } }
    public var reconnects: Int { self.state.withLock { $0.reconnects } }
    public var duplicates: Int { self.state.withLock { $0.duplicates } }
    public var lastError: String? { self.state.withLock { $0.lastError } }
}

/// A bounded hand-off from a source to the run loop. A source that gets ahead of the commits waits in
/// ``send(_:)``, so a push source stops reading its socket and TCP pushes back; memory holds at most `capacity`
/// events and `byteCapacity` bytes of payload (plus one batch being sent), whichever fills first, so a feed of
/// large events is bounded by bytes, not by their number.
public final class EventBuffer: Sendable {
    private struct State {
        var items: [SourceEvent] = []
        var head = 0
        var bytes = 0
        var finished = false
        var consumer: CheckedContinuation<Void, Never>?
        var producers: [CheckedContinuation<Void, Never>] = []
        /// The number of the latest ``EventBuffer/wait(timeout:)``, and of the latest whose timer has fired.
        var waits: UInt64 = 0
        var expired: UInt64 = 0
        var count: Int { self.items.count - self.head }
    }
    private let state = Mutex(State())
    public let capacity: Int
    public let byteCapacity: Int

    public init(capacity: Int = 65_536, byteCapacity: Int = 64 << 20) {
        self.capacity = capacity
        self.byteCapacity = byteCapacity
    }

    /// `true` while the buffer can take more.
    private func hasRoom(_ state: State) -> Bool {
        state.count < self.capacity && state.bytes < self.byteCapacity
    }

    /// Adds events, waiting while the buffer is full. Returns `false` once the buffer is finished.
    @discardableResult
    public func send(_ events: [SourceEvent]) async -> Bool {
        guard !events.isEmpty else { return true }
        while true {
            enum Step {
                case done(CheckedContinuation<Void, Never>?)
                case closed
                case wait
            }
            let step: Step = self.state.withLock { state in
                if state.finished { return .closed }
                guard self.hasRoom(state) else { return .wait }
                state.items += events
                state.bytes += events.reduce(0) { $0 + $1.payload.utf8.count }
                let consumer = state.consumer
                state.consumer = nil
                return .done(consumer)
            }
            switch step {
            case .closed: return false
            case .done(let consumer):
                consumer?.resume()
                return true
            case .wait:
                await withCheckedContinuation { continuation in
                    let resumeNow = self.state.withLock { state -> Bool in
                        if state.finished || self.hasRoom(state) { return true }
                        state.producers.append(continuation)
                        return false
                    }
                    if resumeNow { continuation.resume() }
                }
            }
        }
    }

    /// Up to `max` events, without waiting.
    public func take(max: Int) -> [SourceEvent] {
        let (taken, producers) = self.state.withLock { state -> ([SourceEvent], [CheckedContinuation<Void, Never>]) in
            let n = Swift.min(max, state.count)
            guard n > 0 else { return ([], []) }
            let taken = Array(state.items[state.head..<(state.head + n)])
            state.bytes -= taken.reduce(0) { $0 + $1.payload.utf8.count }
            state.head += n
            if state.head == state.items.count {
                state.items.removeAll(keepingCapacity: true)
                state.head = 0
            } else if state.head > 4096 && state.head * 2 > state.items.count {
                state.items.removeFirst(state.head)
                state.head = 0
            }
            let producers = state.producers
            state.producers = []
            return (taken, producers)
        }
        for producer in producers { producer.resume() }
        return taken
    }

    /// Waits until there are events, the buffer is finished, or `timeout` passes.
    public func wait(timeout: Duration) async {
        // Each wait has a number, and its timer marks that number as expired before it wakes the waiter. A timer
        // that fires before the waiter has parked (a short timeout on a busy machine) leaves the mark, and the
        // parking sees it: the wake-up is never lost.
        let ticket: UInt64? = self.state.withLock { state in
            guard state.count == 0, !state.finished else { return nil }
            state.waits += 1
            return state.waits
        }
        guard let ticket else { return }
        let timer = Task {
            do {
                try await Task.sleep(for: timeout)
            } catch {
                return  // cancelled: the events came first
            }
            let consumer = self.state.withLock { state -> CheckedContinuation<Void, Never>? in
                state.expired = max(state.expired, ticket)
                let consumer = state.consumer
                state.consumer = nil
                return consumer
            }
            consumer?.resume()
        }
        await withCheckedContinuation { continuation in
            let resumeNow = self.state.withLock { state -> Bool in
                if state.count > 0 || state.finished || state.expired >= ticket { return true }
                let previous = state.consumer
                state.consumer = continuation
                previous?.resume()
                return false
            }
            if resumeNow { continuation.resume() }
        }
        timer.cancel()
    }

    /// No more events will come (the sources ended): waiters wake, senders give up.
    public func finish() {
        let (consumer, producers) = self.state.withLock { state in
            state.finished = true
            let result = (state.consumer, state.producers)
            state.consumer = nil
            state.producers = []
            return result
        }
        consumer?.resume()
        for producer in producers { producer.resume() }
    }

    /// `true` once finished and empty.
    public var isDrained: Bool { self.state.withLock { $0.finished && $0.count == 0 } }
    public var count: Int { self.state.withLock { $0.count } }
}

/// Reconnect delays: exponential with full jitter (a uniformly random delay up to the exponential bound, so
/// clients that lost one server do not all come back at once), never below the server's own `retry:` floor.
public struct ReconnectBackoff: Sendable {
    public var initial: Duration = .milliseconds(100)
    public var maximum: Duration = .seconds(30)
    private var attempt = 0

    public init(initial: Duration = .milliseconds(100), maximum: Duration = .seconds(30)) {
        self.initial = initial
        self.maximum = maximum
    }

    /// The next delay; `floor` is the server's requested reconnection time, if any.
    public mutating func next(floor: Duration? = nil) -> Duration {
        let bound = min(self.maximum, self.initial * (1 << min(self.attempt, 20)))
        self.attempt += 1
        let jittered = bound * Double.random(in: 0...1)
        return max(floor ?? .zero, jittered)
    }

    /// A connection that delivered events starts the sequence over.
    public mutating func reset() { self.attempt = 0 }

    /// The reconnect loop of a live source: runs `connect` until it stops the attempt (the job is stopping) or
    /// the task is cancelled. A connection that ends (with the reason `connect` returns: `nil` for a clean end) or
    /// fails is reported to `status`, and the next waits out a backoff with full jitter, never below `floor()` (the
    /// server's own retry time), reset by a connection that delivered events.
    ///
    /// - Throws: an error for which `permanent` is `true` (a wrong URL, a missing table, a refused password):
    ///   retrying cannot fix it, so the run stops and says why instead of retrying forever.
    public static func reconnecting(
        status: SourceStatus, floor: () -> Duration? = { nil }, permanent: (any Error) -> Bool = { _ in false },
        _ connect: (ConnectionAttempt) async throws -> String?
    ) async throws {
        var backoff = ReconnectBackoff()
        while !Task.isCancelled {
            let attempt = ConnectionAttempt()
            do {
                let reason = try await connect(attempt)
                if attempt.isStopped { return }
                status.disconnected(reason)
            } catch is CancellationError {
                return
            } catch {
                if Task.isCancelled || attempt.isStopped { return }
                if permanent(error) { throw error }
                status.disconnected("\(error)")
            }
            if attempt.hasDelivered { backoff.reset() }
            do {
                try await Task.sleep(for: backoff.next(floor: floor()))
            } catch {
                return
            }
        }
    }
}

/// One connection of a reconnecting source (``ReconnectBackoff/reconnecting(status:floor:_:)``): whether it
/// delivered events, and whether the job stopped it.
public final class ConnectionAttempt: Sendable {
    private let state = Mutex((delivered: false, stopped: false))

    /// Events went out on this connection.
    public func delivered() { self.state.withLock { $0.delivered = true } }
    /// The buffer is finished: no reconnect.
    public func stop() { self.state.withLock { $0.stopped = true } }

    public var hasDelivered: Bool { self.state.withLock { $0.delivered } }
    public var isStopped: Bool { self.state.withLock { $0.stopped } }
}

/// Why a source could not go on: a server's wrong answer, a bad URL. Its text is the progress line's reason;
/// a `permanent` one ends the run (``ReconnectBackoff/reconnecting(status:floor:permanent:_:)``).
struct StreamSourceError: Error, CustomStringConvertible {
    var description: String
    var permanent = false
    init(_ description: String, permanent: Bool = false) {
        self.description = description
        self.permanent = permanent
    }
}
