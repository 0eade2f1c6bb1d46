import Synchronization

/// Tells a running job to stop taking new work while the work in flight finishes: the first SIGINT or SIGTERM,
/// `--fail-fast`, or a test. Every command and job takes this one type: fetch, map, worker, run, crawl, load,
/// streams and serve.
///
/// Checking is one relaxed atomic load, cheap enough for every request and every record; ``wait()`` suspends
/// until the stop, for a job that has nothing else to do (a server that drains when told).
public final class StopSignal: Sendable {
    private let stopped = Atomic<Bool>(false)
    private let interrupted = Atomic<Bool>(false)
    private let waiters = Mutex<[CheckedContinuation<Void, Never>]>([])

    /// Creates a signal that has not fired.
    public init() {}

    /// Stop: no new input, no new requests. `interrupted` marks a stop from outside (a signal), which a summary
    /// reports, as opposed to `--fail-fast`.
    public func stop(interrupted: Bool = true) {
        if interrupted { self.interrupted.store(true, ordering: .relaxed) }
        // Set under the lock that `wait` checks under, so no waiter is left behind.
        let waiting = self.waiters.withLock { waiters in
            self.stopped.store(true, ordering: .relaxed)
            defer { waiters = [] }
            return waiters
        }
        for waiter in waiting { waiter.resume() }
    }

    /// Whether ``stop(interrupted:)`` was called.
    public var isStopped: Bool { self.stopped.load(ordering: .relaxed) }

    /// Whether the stop came from outside (a signal).
    public var wasInterrupted: Bool { self.interrupted.load(ordering: .relaxed) }

    /// Returns once ``stop(interrupted:)`` is called (at once if it was).
    public func wait() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let alreadyStopped = self.waiters.withLock { waiters in
                if self.stopped.load(ordering: .relaxed) { return true }
                waiters.append(continuation)
                return false
            }
            if alreadyStopped { continuation.resume() }
        }
    }
}
