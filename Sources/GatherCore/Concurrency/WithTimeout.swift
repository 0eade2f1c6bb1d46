/// Thrown by ``withTimeout(_:operation:)`` when the operation did not finish in time.
public struct TimeoutError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The timeout that passed.
    public var timeout: Duration
    public var description: String { "timed out after \(self.timeout)" }
}

/// Runs `operation`, and cancels it if it has not finished within `timeout`.
///
/// ```swift
/// let page = try await withTimeout(.seconds(5)) { try await download(url) }
/// ```
/// - Throws: ``TimeoutError`` when the time passes first (after the operation has wound down from its
///   cancellation), or what `operation` throws.
public func withTimeout<T: Sendable>(
    _ timeout: Duration,
    operation: @escaping @Sendable () async throws -> T
) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await operation() }
        group.addTask {
            try await Task.sleep(for: timeout)
            return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next(), let value = first else {
            throw TimeoutError(timeout: timeout)
        }
        return value
    }
}
