/// A rate budget shared beyond this process: every worker of a fleet draws on it, so a host's `rate` holds for
/// the fleet together and not per process (GatherCoordinator's `FleetBudget` keeps it in PostgreSQL). A fetcher
/// that has one takes a token from it for every request to a rate-limited key, after its own admission, and tells
/// it of every pause a server asked for.
public protocol SharedBudget: Sendable {
    /// Returns once one request to `key` may start under `rate`, counted across the fleet.
    ///
    /// - Throws: `CancellationError` when the task is cancelled while waiting; an error of the budget's store
    ///   when it cannot be reached for longer than the budget retries.
    func take(key: String, rate: Rate) async throws
    /// Holds back every worker's requests to `key` for `duration` (a `Retry-After` this worker saw).
    func pause(key: String, for duration: Duration) async
}
