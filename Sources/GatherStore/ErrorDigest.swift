import GatherCore
import Synchronization
import Tracing

/// The distinct reasons records and requests failed, each with its count and one example, so that a summary can
/// say why and not only how many.
///
/// Errors are grouped by resource, code and message. Memory is bounded: at most ``capacity`` distinct reasons are
/// kept; errors with a reason beyond them are only counted (``unlisted``).
///
/// ```swift
/// var digest = ErrorDigest()
/// for row in batch.errors { digest.add(row) }
/// lines += digest.render(rows: "_gather_errors (run_id = 'r1')")
/// ```
public struct ErrorDigest: Sendable, Hashable {
    /// One reason: where, what, how often, and the first record or request it hit.
    public struct Reason: Sendable, Hashable {
        public var resource: String
        public var code: String
        public var message: String
        public var count: Int
        /// The record key, file:line or URL of its first occurrence.
        public var example: String
    }

    /// How many distinct reasons are kept.
    public static let capacity = 64

    /// The reasons in the order they were first seen.
    public private(set) var reasons: [Reason] = []
    /// Every error added.
    public private(set) var total = 0
    /// Errors whose reason did not fit among the ``capacity`` kept.
    public private(set) var unlisted = 0
    private var index: [ReasonKey: Int] = [:]

    private struct ReasonKey: Hashable, Sendable {
        var resource: String
        var code: String
        var message: String
    }

    public init() {}

    /// Counts one error.
    public mutating func add(resource: String, code: String, message: String, example: String) {
        self.total += 1
        let key = ReasonKey(resource: resource, code: code, message: message)
        if let position = self.index[key] {
            self.reasons[position].count += 1
        } else if self.reasons.count < Self.capacity {
            self.index[key] = self.reasons.count
            self.reasons.append(
                Reason(resource: resource, code: code, message: message, count: 1, example: example))
        } else {
            self.unlisted += 1
        }
    }

    /// Counts one error row.
    public mutating func add(_ row: ErrorRow) {
        self.add(resource: row.resource, code: row.code, message: row.message, example: row.request)
    }

    /// The most frequent reasons (up to `limit`), one line each, and where the rest are: `rows` names the table
    /// or file that holds every error row. Empty when there were no errors.
    /// `what` names the failed things (records, items, pages).
    public func render(limit: Int = 5, rows: String, what: String = "records") -> [String] {
        guard self.total > 0 else { return [] }
        let top = self.reasons.enumerated().sorted { ($0.element.count, -$0.offset) > ($1.element.count, -$1.offset) }
            .prefix(limit).map(\.element)
        var lines = ["  why \(what) failed (most frequent first; all of them are in \(rows)):"]
        for reason in top {
            let message = (reason.message.count > 300 ? String(reason.message.prefix(300)) + "…" : reason.message)
                .split(separator: "\n", omittingEmptySubsequences: false).joined(separator: "\n        ")
            let resource = reason.resource.isEmpty ? "" : reason.resource + " "
            lines.append("    \(reason.count) × \(resource)[\(reason.code)] \(message)")
            lines.append("        e.g. \(reason.example)")
        }
        let shown = top.reduce(0) { $0 + $1.count }
        if shown < self.total {
            let others = self.reasons.count - top.count + (self.unlisted > 0 ? 1 : 0)
            lines.append(
                "    … and \(self.total - shown) more"
                    + (others > 0 ? " with other reasons" : ""))
        }
        return lines
    }
}

/// A sink that passes everything to `base` and keeps an ``ErrorDigest`` of the error rows it commits.
public final class DigestingSink: Sink {
    public let base: any Sink
    private let tally = Mutex(ErrorDigest())

    public init(_ base: any Sink) {
        self.base = base
    }

    /// The error rows committed through this sink so far, by reason.
    public var digest: ErrorDigest { self.tally.withLock { $0 } }

    public func commit(_ batch: SinkBatch) async throws {
        if Traces.isOn {
            let rows = batch.writes.reduce(0) { $0 + $1.rows.count + ($1.block?.rowCount ?? 0) }
            let attributes: SpanAttributes = [
                "gather.commit.rows": .int64(Int64(rows)), "gather.commit.errors": .int64(Int64(batch.errors.count)),
                "gather.commit.tables": .stringArray(batch.writes.map(\.table)),
            ]
            try await Traces.span("commit", attributes: attributes) { _ in try await self.base.commit(batch) }
        } else {
            try await self.base.commit(batch)
        }
        guard !batch.errors.isEmpty else { return }
        self.tally.withLock { digest in
            for row in batch.errors { digest.add(row) }
        }
    }

    public func state(scopePrefix: String) async throws -> [StateEntry] {
        try await self.base.state(scopePrefix: scopePrefix)
    }

    public func lastRun(pipeline: String) async throws -> RunRow? {
        try await self.base.lastRun(pipeline: pipeline)
    }

    public func counts(runID: String) async throws -> [ResourceCounts] {
        try await self.base.counts(runID: runID)
    }

    public func frontier(scope: String, after: Int64, limit: Int) async throws -> [FrontierEntry] {
        try await self.base.frontier(scope: scope, after: after, limit: limit)
    }

    public func close() async throws {
        try await self.base.close()
    }
}
