import Synchronization

/// Wakes one waiting loop when something happened (a PostgreSQL notification, say), or after a timeout. Rings while
/// nobody waits are kept as one, so a ring during the loop's work causes one more turn, never a missed one.
public final class Doorbell: Sendable {
    private struct State {
        var rung = false
        var waiter: CheckedContinuation<Void, Never>?
    }
    private let state = Mutex(State())

    public init() {}

    /// Wakes the waiter, or the next one to wait.
    public func ring() {
        let waiter = self.state.withLock { state -> CheckedContinuation<Void, Never>? in
            defer { state.waiter = nil }
            if state.waiter == nil { state.rung = true }
            return state.waiter
        }
        waiter?.resume()
    }

    /// Returns after a ring, `timeout`, or the task's cancellation.
    public func wait(timeout: Duration) async {
        // Only a timeout that ran out rings. A timer cancelled because a ring ended the wait must not ring: it
        // did, and then every wait ended at once and cancelled its timer, which rang again, so an idle
        // `gather worker --wait` spun on its database after one ring (DoorbellTests).
        let timer = Task {
            guard (try? await Task.sleep(for: timeout)) != nil else { return }
            self.ring()
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let now = self.state.withLock { state -> Bool in
                    if state.rung {
                        state.rung = false
                        return true
                    }
                    state.waiter = continuation
                    return false
                }
                if now { continuation.resume() }
            }
        } onCancel: {
            self.ring()
        }
        timer.cancel()
    }
}
