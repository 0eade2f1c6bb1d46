import GatherCore

/// How a run ended, as `_gather_runs.outcome` stores it.
public enum RunOutcome: String, Sendable, Hashable {
    case running
    case completed
    case completedWithErrors = "completed_with_errors"
    case interrupted
    case abandoned
    case failed

    /// The run may be continued (it did not finish).
    public var isUnfinished: Bool { self == .running || self == .interrupted }
    /// The run finished (with or without error rows).
    public var isFinished: Bool { self == .completed || self == .completedWithErrors }
}

/// Starts, resumes, abandons and finishes one job's runs in a sink's `_gather_runs`: the one place that decides
/// whether a command continues an unfinished run.
///
/// ```swift
/// let run = try await RunLedger.begin(sink: sink, pipeline: "map:results", fresh: false)
/// if run.resumed { … read the run's state … }
/// let outcome = try await run.finish(stopped: false)
/// ```
public struct RunLedger: Sendable {
    public let sink: any Sink
    public let pipeline: String
    public let runID: String
    public let startedAt: String
    /// This run continues an unfinished one.
    public let resumed: Bool
    /// The newest run before this one, as it was found.
    public let previous: RunRow?

    /// Begins a run of `pipeline`: continues the newest one if it is unfinished (unless `fresh`, which marks it
    /// abandoned), or starts a new one, and commits its `running` row. A new run commits what `newRun` builds
    /// (the old run's state cleared, `replace` tables emptied, a crawl's seeds) in the same transaction as that
    /// row, so a kill can never leave a new run beside the old run's state.
    public static func begin(
        sink: any Sink, pipeline: String, fresh: Bool,
        newRun: @Sendable () async throws -> SinkBatch = { SinkBatch() }
    ) async throws -> RunLedger {
        let previous = try await sink.lastRun(pipeline: pipeline)
        let unfinished = previous.flatMap { RunOutcome(rawValue: $0.outcome) }?.isUnfinished ?? false
        let ledger: RunLedger
        if let previous, unfinished, !fresh {
            ledger = RunLedger(
                sink: sink, pipeline: pipeline, runID: previous.runID, startedAt: previous.startedAt, resumed: true,
                previous: previous)
        } else {
            if let previous, unfinished {
                var abandoned = previous
                abandoned.outcome = RunOutcome.abandoned.rawValue
                abandoned.finishedAt = Timestamp.now()
                try await sink.commit(SinkBatch(run: abandoned))
            }
            ledger = RunLedger(
                sink: sink, pipeline: pipeline, runID: RunRow.newID(), startedAt: Timestamp.now(), resumed: false,
                previous: previous)
        }
        var opening = ledger.resumed ? SinkBatch() : try await newRun()
        opening.run = RunRow(
            runID: ledger.runID, pipeline: pipeline, startedAt: ledger.startedAt, outcome: RunOutcome.running.rawValue)
        try await sink.commit(opening)
        return ledger
    }

    /// Records the end of the run from its committed counters: `interrupted` when `stopped`, else `completed`
    /// or `completed_with_errors`; `closing` (state the finished run no longer needs) commits with it.
    public func finish(stopped: Bool, summary: String = "{}", closing: SinkBatch = SinkBatch()) async throws
        -> RunOutcome
    {
        let counts = try await self.sink.counts(runID: self.runID)
        var total = ResourceCounts(runID: self.runID, resource: "total")
        for resource in counts { total.add(resource) }
        let outcome: RunOutcome = stopped ? .interrupted : total.errors > 0 ? .completedWithErrors : .completed
        var closing = closing
        closing.run = RunRow(
            runID: self.runID, pipeline: self.pipeline, startedAt: self.startedAt,
            finishedAt: stopped ? nil : Timestamp.now(), outcome: outcome.rawValue, requests: total.requests,
            pages: total.pages, rowsWritten: total.rows, filtered: total.filtered, errors: total.errors,
            retries: total.retries, summary: summary)
        try await self.sink.commit(closing)
        return outcome
    }
}

extension SinkBatch {
    /// A batch that only writes a run row.
    init(run: RunRow) {
        self.init()
        self.run = run
    }
}
