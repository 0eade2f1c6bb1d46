import GatherCore

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
    /// Up to `limit` frontier entries of `scope` not yet done, with a sequence number above `after`, in the
    /// order they were discovered (the crawler's queue, read a window at a time from disk).
    func frontier(scope: String, after: Int64, limit: Int) async throws -> [FrontierEntry]
    /// Finishes what was committed and lets go of the destination: a SQLite database is checkpointed and its
    /// `-wal` file removed (so a copied file holds every table), files are flushed, a pool's connections close.
    /// The sink is not used afterwards. ``withSink(_:_:)`` calls it however the work ends.
    func close() async throws
}

/// Opens a sink with `open`, hands it to `body`, and closes it however `body` ends. When `body` throws, that
/// error is the one reported (a failure to close after it is secondary).
///
/// ```swift
/// let summary = try await withSink({ try await destination.open() }) { sink in
///     try await loader.run(into: sink)
/// }
/// ```
public func withSink<Result: Sendable>(
    _ open: () async throws -> any Sink, _ body: (any Sink) async throws -> Result
) async throws -> Result {
    let sink = try await open()
    let result: Result
    do {
        result = try await body(sink)
    } catch {
        try? await sink.close()
        throw error
    }
    try await sink.close()
    return result
}

/// A URL a crawl has discovered: its place in the queue, its depth, and where it was found.
public struct FrontierEntry: Sendable, Hashable {
    /// Discovery order, unique within the store.
    public var seq: Int64
    public var url: String
    public var depth: Int

    public init(seq: Int64, url: String, depth: Int) {
        self.seq = seq
        self.url = url
        self.depth = depth
    }
}

/// A change to a crawl's frontier (`_gather_frontier`), committed with the page rows that caused it. The table is
/// also the crawl's seen-set: a URL is discovered at most once per scope, so memory does not grow with it.
public enum FrontierChange: Sendable, Hashable {
    /// Adds `url` unless the scope has seen it.
    case discover(scope: String, url: String, depth: Int)
    /// Marks `url` fetched (or skipped).
    case done(scope: String, url: String)
    /// Forgets the scope's frontier (a new crawl).
    case reset(scope: String)
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
