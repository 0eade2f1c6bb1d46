import GatherCore
import GatherFiles
import GatherFormats
import GatherHTTP
import GatherPostgres
import GatherSQLite
import GatherStore
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Runs a ``PipelineDefinition``: every resource concurrently (dependent ones as their parents' records commit),
/// one ``FlowController`` over all hosts, each page's rows committed with the state that covers them.
///
/// A run that was interrupted (a signal, a crash, SIGKILL) is continued by the next run of the same pipeline into
/// the same destination: finished work items and pages are skipped, sequential pages resume at the saved next URL,
/// and nothing committed is fetched or written twice. `fresh` discards that state, and the incremental cursors too.
public struct PipelineRunner: Sendable {
    public struct Options: Sendable {
        /// Run only these resources (and the parents they need).
        public var resources: [String] = []
        /// Discard saved state (resume positions and incremental cursors) first.
        public var fresh = false
        /// Show progress on standard error.
        public var progress = false
        /// Stream resources stop after this long without an event (`--idle-exit`); default: at SIGINT/SIGTERM.
        public var idleExit: Duration?
        /// Stream resources close every open window when they stop (`--flush-windows`).
        public var flushWindows = false
        /// Where the lines that `process` workers write to stderr go, with the stage and worker; default: nowhere.
        public var workerStderr: (@Sendable (_ stage: String, _ worker: Int, _ line: String) -> Void)?
        public init() {}
    }

    public let pipeline: PipelineDefinition
    public let options: Options

    public init(_ pipeline: PipelineDefinition, options: Options = Options()) {
        self.pipeline = pipeline
        self.options = options
    }

    /// Runs the pipeline to the end (or until `stop` is set), and returns what it did.
    public func run(stop: StopSignal = StopSignal()) async throws -> RunSummary {
        let clock = ContinuousClock()
        let started = clock.now
        // Worker processes start first: a command that cannot run is an error before any request or commit.
        let stages = try self.selectedResources().flatMap { TransformChain($0.transforms).processStages }
        return try await ProcessPools.with(stages, stderr: self.options.workerStderr) { pools in
            try await withSink({ try await self.openSink() }) { destination in
                let sink = DigestingSink(destination)
                var summary = try await self.run(into: sink, pools: pools, stop: stop, started: started, clock: clock)
                summary.errorDigest = sink.digest
                let statistics = pools.statistics
                summary.workers = stages.map {
                    RunSummary.StageWorkers(stage: $0.id, statistics: statistics[$0.id] ?? .init())
                }
                return summary
            }
        }
    }

    /// The destination's sink. A PostgreSQL pool is sized from the pipeline's limits: the `*` concurrency
    /// (default 4), between 2 and 16 connections; commits use one at a time, `sql` resources the rest.
    private func openSink() async throws -> any Sink {
        let connections = min(16, max(2, (self.pipeline.limits["*"]?.maxConcurrency ?? 4)))
        guard case .postgres = self.pipeline.destination else {
            return try await self.pipeline.destination.open(connections: connections)
        }
        do {
            return try await self.pipeline.destination.open(connections: connections)
        } catch {
            throw PipelineError("\(error)")
        }
    }

    private func run(
        into sink: any Sink, pools: ProcessPools, stop: StopSignal, started: ContinuousClock.Instant,
        clock: ContinuousClock
    ) async throws -> RunSummary {
        let selected = try self.selectedResources()
        let now = Timestamp.now()
        // A new run forgets the previous run's positions and empties `replace` tables (`fresh` also forgets the
        // incremental cursors), in the transaction that records it running.
        var newRun = SinkBatch()
        if self.options.fresh { newRun.state.append(.clearPrefix("")) }
        newRun.state += [.clearPrefix("work:"), .clearPrefix("pages:"), .clearPrefix("files:")]
        newRun.truncate = selected.filter { $0.write == .replace }.map(\.table)
        let ledger = try await RunLedger.begin(sink: sink, pipeline: self.pipeline.name, fresh: self.options.fresh) {
            [newRun] in
            newRun
        }
        let (runID, resumed) = (ledger.runID, ledger.resumed)

        let cursors = try await Self.incrementalCursors(in: sink)
        var saved: [String: [String: ItemState]] = [:]
        for entry in try await sink.state(scopePrefix: "work:") {
            let resource = String(entry.scope.dropFirst("work:".count))
            if let state = ItemState(json: entry.value) { saved[resource, default: [:]][entry.key] = state }
        }

        let configuration = Self.fetcherConfiguration(self.pipeline)
        let progress = RunProgress(enabled: self.options.progress)
        let secrets = self.pipeline.secrets
        let pipeline = self.pipeline
        let outcome: (String, [String: Int]) = try await Fetcher.withFetcher(configuration: configuration) { fetcher in
            let shared = RunShared(
                runID: runID, pipeline: pipeline.name, sink: sink, fetcher: fetcher, secrets: secrets,
                incrementalCursors: cursors, progress: progress, now: now, pools: pools, stop: stop)
            var runs: [String: ResourceRun] = [:]
            var queues: [String: WorkQueue] = [:]
            for resource in selected where resource.parent != nil { queues[resource.name] = WorkQueue() }
            var readers: [SQLReader] = []
            // Endpoints and queries run as work items (and may have children); the other sources run on their own.
            for resource in selected {
                let reader: SQLReader?
                switch resource.source {
                case .files, .crawl, .stream: continue
                case .http: reader = nil
                case .sql(let source):
                    do {
                        reader = try await SQLReader.open(
                            source, destination: pipeline.destination, connections: max(1, resource.fanOut))
                    } catch {
                        throw PipelineError("resource '\(resource.name)': \(error)")
                    }
                    readers.append(reader!)
                }
                let children = selected.filter { $0.parent == resource.name }.map {
                    ResourceRun.ChildLink(definition: $0, queue: queues[$0.name]!)
                }
                runs[resource.name] = try ResourceRun(
                    definition: resource, defaults: pipeline.defaults, shared: shared, children: children,
                    sqlReader: reader)
            }
            let ordered = selected.compactMap { runs[$0.name] }
            progress.attach { ordered.map { run in run.counts.withLock { $0 } } }
            let openedReaders = readers
            func closeReaders() async { for reader in openedReaders { await reader.close() } }
            let streamOptions = StreamResourceRun.Options(
                idleExit: self.options.idleExit, flushWindows: self.options.flushWindows)
            do {
                try await Self.runResources(
                    selected, runs: ordered, queues: queues, saved: saved, shared: shared, resumed: resumed,
                    streams: streamOptions)
            } catch {
                await closeReaders()
                throw error
            }
            await closeReaders()
            return (shared.stopping ? "interrupted" : "completed", shared.retryCauses.withLock { $0 })
        }
        var summary = try await self.finish(
            outcome: outcome.0, ledger: ledger, selected: selected,
            progress: progress, started: started, clock: clock)
        summary.retryCauses = outcome.1
        summary.streams = progress.streamStatistics
        return summary
    }

    /// Runs every selected resource at once: files resources, root resources over their items, and dependent
    /// resources over their parents' records (saved unfinished items first).
    private static func runResources(
        _ selected: [ResourceDefinition], runs ordered: [ResourceRun], queues: [String: WorkQueue],
        saved: [String: [String: ItemState]], shared: RunShared, resumed: Bool, streams: StreamResourceRun.Options
    ) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            for resource in selected {
                switch resource.source {
                case .stream:
                    group.addTask { try await StreamResourceRun.run(resource, shared: shared, options: streams) }
                case .files: group.addTask { try await FilesResourceRun.run(resource, shared: shared) }
                case .crawl:
                    group.addTask { try await CrawlResourceRun.run(resource, shared: shared, resumed: resumed) }
                case .http, .sql: break  // their ResourceRuns, below
                }
            }
            for run in ordered {
                let savedItems = saved[run.name] ?? [:]
                if let queue = queues[run.name] {
                    // Saved, unfinished items of a dependent resource go first; the parent adds the rest.
                    let pending = savedItems.filter { !$0.value.done }.sorted { $0.key < $1.key }.map {
                        WorkItem(key: $0.key, context: $0.value.context, included: $0.value.included)
                    }
                    let items = PrefixedSequence(prefix: pending, rest: queue.items)
                    group.addTask {
                        try await run.run(items: items, concurrency: run.definition.fanOut, saved: savedItems)
                        for child in run.children { child.queue.finish() }
                    }
                } else {
                    let items = try Self.rootItems(run.definition)
                    group.addTask {
                        try await run.run(
                            items: AsyncElements(items), concurrency: max(1, run.definition.fanOut),
                            saved: savedItems)
                        for child in run.children { child.queue.finish() }
                    }
                }
            }
            try await group.waitForAll()
        }
    }

    /// Records the run's outcome and summary; a run that ended drops its resume positions with it.
    private func finish(
        outcome: String, ledger: RunLedger, selected: [ResourceDefinition], progress: RunProgress,
        started: ContinuousClock.Instant, clock: ContinuousClock
    ) async throws -> RunSummary {
        progress.finish()
        let counts = try await ledger.sink.counts(runID: ledger.runID)
        let byName = Dictionary(counts.map { ($0.resource, $0) }, uniquingKeysWith: { a, _ in a })
        var summary = RunSummary(
            runID: ledger.runID, pipeline: self.pipeline.name, destination: self.pipeline.destination.description,
            outcome: outcome, resumed: ledger.resumed,
            resources: selected.map { byName[$0.name] ?? ResourceCounts(runID: ledger.runID, resource: $0.name) },
            elapsed: started.duration(to: clock.now))
        let stopped = outcome == RunOutcome.interrupted.rawValue
        var closing = SinkBatch()
        if !stopped { closing.state = [.clearPrefix("work:"), .clearPrefix("pages:")] }
        summary.outcome = try await ledger.finish(stopped: stopped, summary: summary.json, closing: closing).rawValue
        return summary
    }

    /// The selected resources plus the parents they need, in file order.
    func selectedResources() throws -> [ResourceDefinition] {
        guard !self.options.resources.isEmpty else { return self.pipeline.resources }
        var wanted = Set<String>()
        for name in self.options.resources {
            guard var resource = self.pipeline.resource(named: name) else {
                throw PipelineError(
                    "there is no resource '\(name)'; the pipeline has "
                        + self.pipeline.resources.map { "'\($0.name)'" }.joined(separator: ", "))
            }
            wanted.insert(resource.name)
            while let parent = resource.parent, let next = self.pipeline.resource(named: parent) {
                wanted.insert(parent)
                resource = next
            }
        }
        return self.pipeline.resources.filter { wanted.contains($0.name) }
    }

    /// One work item per combination of `for_each` values (one item when there are none).
    static func rootItems(_ resource: ResourceDefinition) throws -> [WorkItem] {
        var combinations: [Record] = [Record()]
        for (name, values) in resource.forEach {
            combinations = combinations.flatMap { base in
                values.map { value in
                    var next = base
                    next[name] = value
                    return next
                }
            }
        }
        return combinations.map { context in
            let key =
                context.isEmpty ? "_" : context.map { "\($0.key)=\(Template.text($0.value))" }.joined(separator: "&")
            return WorkItem(key: key, context: context)
        }
    }

    /// The HTTP client's settings for `pipeline`: its `limits` (`*` the default for every host, 16 at once
    /// without it) and its `defaults` (timeout, retry, response actions).
    static func fetcherConfiguration(_ pipeline: PipelineDefinition) -> Fetcher.Configuration {
        var configuration = Fetcher.Configuration()
        configuration.limits = pipeline.limits["*"] ?? FlowLimits(maxConcurrency: 16)
        configuration.limitOverrides = pipeline.limits.filter { $0.key != "*" }
        if let timeout = pipeline.defaults.timeout { configuration.timeouts.request = timeout }
        if let retry = pipeline.defaults.retry { configuration.retry = retry }
        if let actions = pipeline.defaults.responseActions { configuration.responseActions = actions }
        return configuration
    }

    /// The incremental cursors earlier runs left in `sink`: resource, then item key, to the cursor value.
    static func incrementalCursors(in sink: any Sink) async throws -> [String: [String: Value]] {
        var cursors: [String: [String: Value]] = [:]
        for entry in try await sink.state(scopePrefix: "incremental:") {
            let resource = String(entry.scope.dropFirst("incremental:".count))
            cursors[resource, default: [:]][entry.key] = (try? JSONReader.parse(entry.value)) ?? .null
        }
        return cursors
    }
}

/// A failure of the pipeline as a whole (not of one item).
public struct PipelineError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { self.message }
}

/// Saved items first, then live ones.
struct PrefixedSequence: AsyncSequence, Sendable {
    typealias Element = WorkItem
    let prefix: [WorkItem]
    let rest: AsyncStream<WorkItem>

    /// How many of the latest live keys are remembered to drop repeats (overlapping pages of a parent).
    static let recentKeys = 65_536

    struct AsyncIterator: AsyncIteratorProtocol {
        var prefix: IndexingIterator<[WorkItem]>
        var rest: AsyncStream<WorkItem>.AsyncIterator
        /// The saved items' keys: a parent that emits one of them again is not run twice.
        let saved: Set<String>
        /// The latest live keys (at most ``recentKeys``, oldest first in `order`): a parent record repeated by
        /// overlapping pages is run once. Memory is bounded by the saved items and this window, not by the
        /// parent's record count.
        var recent: Set<String> = []
        var order: [String] = []
        var oldest = 0

        mutating func next() async -> WorkItem? {
            if let item = self.prefix.next() { return item }
            while let item = await self.rest.next() {
                guard !self.saved.contains(item.key), self.recent.insert(item.key).inserted else { continue }
                if self.order.count < PrefixedSequence.recentKeys {
                    self.order.append(item.key)
                } else {
                    self.recent.remove(self.order[self.oldest])
                    self.order[self.oldest] = item.key
                    self.oldest = (self.oldest + 1) % self.order.count
                }
                return item
            }
            return nil
        }

        /// Keys held in memory now (for the bound's test).
        var keysHeld: Int { self.saved.count + self.recent.count }
    }

    func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(
            prefix: self.prefix.makeIterator(), rest: self.rest.makeAsyncIterator(),
            saved: Set(self.prefix.map(\.key)))
    }
}
