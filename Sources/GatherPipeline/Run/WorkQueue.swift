import GatherConfig
import GatherCore
import GatherExpressions
import GatherHTTP
import GatherStore
import Synchronization

/// The work items of a dependent resource: saved ones from an interrupted run first, then one per parent record
/// as the parent's pages commit. Finished when the parent resource is done.
final class WorkQueue: Sendable {
    private let stream: AsyncStream<WorkItem>
    private let continuation: AsyncStream<WorkItem>.Continuation

    init() {
        (self.stream, self.continuation) = AsyncStream.makeStream(of: WorkItem.self)
    }

    var items: AsyncStream<WorkItem> { self.stream }

    func push(_ item: WorkItem) {
        self.continuation.yield(item)
    }

    func finish() {
        self.continuation.finish()
    }
}

/// What every resource of a run shares.
final class RunShared: Sendable {
    let runID: String
    let pipeline: String
    let sink: any Sink
    let fetcher: GatherHTTP.Fetcher
    let expressionContext: ExpressionContext
    let progress: RunProgress
    /// Incremental cursors committed by earlier runs: resource → item key → cursor.
    let incrementalCursors: [String: [String: Value]]
    /// Hides the pipeline's secrets (and their percent-encoded forms) in error rows and messages.
    private let redactor: Redactor
    /// Fired by the first SIGINT/SIGTERM: no new request starts; what is in flight finishes and commits.
    let stop: StopSignal
    /// Retries by cause in this process (`http_500`, `connection_reset`…), for the summary.
    let retryCauses = Mutex<[String: Int]>([:])
    /// The workers of the run's `process` stages.
    let pools: ProcessPools
    /// A run shared through a coordinator: dependent resources' items go into each page's batch
    /// (``SinkBatch/discovered``) for the coordinator's queue, not into this process's queues.
    let sharesWork: Bool

    init(
        runID: String, pipeline: String, sink: any Sink, fetcher: GatherHTTP.Fetcher, secrets: [String],
        incrementalCursors: [String: [String: Value]], progress: RunProgress, now: String,
        pools: ProcessPools = ProcessPools(), stop: StopSignal = StopSignal(), sharesWork: Bool = false
    ) {
        self.sharesWork = sharesWork
        self.pools = pools
        self.stop = stop
        self.runID = runID
        self.pipeline = pipeline
        self.sink = sink
        self.fetcher = fetcher
        self.redactor = Redactor(secrets: secrets)
        self.incrementalCursors = incrementalCursors
        self.progress = progress
        self.expressionContext = ExpressionContext(now: now)
    }

    /// Adds a request's retries by cause to the run's tally.
    func countRetries(_ causes: [String: Int]) {
        guard !causes.isEmpty else { return }
        self.retryCauses.withLock { tally in for (cause, count) in causes { tally[cause, default: 0] += count } }
    }

    /// Set by the first SIGINT/SIGTERM: no new request starts; what is in flight finishes and commits.
    var stopping: Bool { self.stop.isStopped }

    /// `text` with every secret replaced by `***`.
    func redact(_ text: String) -> String {
        self.redactor.redact(text)
    }
}
