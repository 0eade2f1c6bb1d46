/// A destination that rows, errors, run records and state are committed to, one ``SinkBatch`` per transaction.
///
/// Implementations keep their own schemas (``TableSchema``) and evolve them as batches arrive. They never block
/// Swift's cooperative pool: database calls run on the sink's own queue.
public protocol Sink: Sendable {
    /// Writes everything in `batch` in one transaction.
    func commit(_ batch: SinkBatch) async throws
    /// Every state entry whose scope starts with `scopePrefix`.
    func state(scopePrefix: String) async throws -> [StateEntry]
    /// The most recent `_gather_runs` row of `pipeline`, if any.
    func lastRun(pipeline: String) async throws -> RunRow?
    /// The per-resource counters committed for `runID` so far.
    func counts(runID: String) async throws -> [ResourceCounts]
}

/// One entry of the state store.
public struct StateEntry: Sendable, Hashable {
    public var scope: String
    public var key: String
    public var value: String

    public init(scope: String, key: String, value: String) {
        self.scope = scope
        self.key = key
        self.value = value
    }
}
