import DequeModule

/// A mutual-exclusion lock for async code: waiters queue in FIFO order and suspend (never block a thread).
///
/// ```swift
/// let lock = AsyncLock()
/// try await lock.withLock { try await database.commit(batch) }   // one commit at a time
/// ```
public actor AsyncLock {
    private var locked = false
    private var waiters: Deque<CheckedContinuation<Void, Never>> = []

    public init() {}

    /// Waits until the lock is free and takes it.
    public func lock() async {
        guard self.locked else {
            self.locked = true
            return
        }
        await withCheckedContinuation { self.waiters.append($0) }
    }

    /// Hands the lock to the next waiter, or frees it.
    public func unlock() {
        if let next = self.waiters.popFirst() { next.resume() } else { self.locked = false }
    }

    /// Runs `body` holding the lock; the lock is released however `body` ends.
    public nonisolated func withLock<T: Sendable>(_ body: @Sendable () async throws -> T) async throws -> T {
        await self.lock()
        do {
            let result = try await body()
            await self.unlock()
            return result
        } catch {
            await self.unlock()
            throw error
        }
    }
}
