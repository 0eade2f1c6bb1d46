public import GatherCore
import GatherFormats
import GatherHTTP
public import GatherStore

/// A pipeline's endpoint resources, run one work item at a time on someone else's schedule: how the workers of
/// a run shared through a coordinator run it. Each item runs as ``PipelineRunner`` runs it (its pages, transforms
/// and `process` stages, each page committed with the item's state through `sink`), except that the items of
/// dependent resources go into each page's batch (``SinkBatch/discovered``) for the coordinator to enqueue,
/// instead of into this process's queues.
public final class PipelineItems: Sendable {
    private let runs: [String: ResourceRun]
    private let roots: [ResourceDefinition]

    private init(runs: [String: ResourceRun], roots: [ResourceDefinition]) {
        self.runs = runs
        self.roots = roots
    }

    /// The resources `resources` select (all when empty, plus the parents they need), ready for `body`: their
    /// `process` workers started and one HTTP client for all, sharing `budget` for rates that hold across hosts.
    /// Rows, errors and counts are recorded under `runID`.
    ///
    /// - Throws: ``PipelineError`` for a resource that is not an endpoint (files, SQL, crawl and stream resources
    ///   are not shared this way).
    public static func with<T: Sendable>(
        _ pipeline: PipelineDefinition, resources: [String], sink: any Sink, runID: String,
        budget: (any SharedBudget)?, _ body: (PipelineItems) async throws -> T
    ) async throws -> T {
        var options = PipelineRunner.Options()
        options.resources = resources
        let selected = try PipelineRunner(pipeline, options: options).selectedResources()
        for resource in selected {
            guard case .http = resource.source else {
                throw PipelineError(
                    "resource '\(resource.name)' is not an http endpoint: a run shared through a coordinator runs "
                        + "endpoints only (run the others without --coordinator, or leave them out with --resource)")
            }
        }
        var cursors: [String: [String: Value]] = [:]
        for entry in try await sink.state(scopePrefix: "incremental:") {
            let resource = String(entry.scope.dropFirst("incremental:".count))
            cursors[resource, default: [:]][entry.key] = (try? JSONReader.parse(entry.value)) ?? .null
        }
        var configuration = Fetcher.Configuration()
        configuration.limits = pipeline.limits["*"] ?? FlowLimits(maxConcurrency: 16)
        configuration.limitOverrides = pipeline.limits.filter { $0.key != "*" }
        if let timeout = pipeline.defaults.timeout { configuration.timeouts.request = timeout }
        if let retry = pipeline.defaults.retry { configuration.retry = retry }
        if let actions = pipeline.defaults.responseActions { configuration.responseActions = actions }
        configuration.sharedBudget = budget
        let stages = selected.flatMap { TransformChain($0.transforms).processStages }
        let run = try await ProcessPools.with(stages, stderr: nil) { pools in
            try await Fetcher.withFetcher(configuration: configuration) { fetcher in
                let shared = RunShared(
                    runID: runID, pipeline: pipeline.name, sink: sink, fetcher: fetcher, secrets: pipeline.secrets,
                    incrementalCursors: cursors, progress: RunProgress(enabled: false), now: Timestamp.now(),
                    pools: pools, sharesWork: true)
                var runs: [String: ResourceRun] = [:]
                for resource in selected {
                    let children = selected.filter { $0.parent == resource.name }.map {
                        ResourceRun.ChildLink(definition: $0, queue: WorkQueue())
                    }
                    runs[resource.name] = try ResourceRun(
                        definition: resource, defaults: pipeline.defaults, shared: shared, children: children)
                }
                return try await body(PipelineItems(runs: runs, roots: selected.filter { $0.parent == nil }))
            }
        }
        return run
    }

    /// The first work: every root resource's items (one per `for_each` combination), as (resource, item).
    public func rootItems() throws -> [(resource: String, item: WorkItem)] {
        try self.roots.flatMap { resource in
            try PipelineRunner.rootItems(resource).map { (resource.name, $0) }
        }
    }

    /// Runs `item` of `resource` to its end, from `saved` (the item's state as a run left it, `_gather_state`
    /// scope `work:RESOURCE`), committing each page through the sink.
    public func run(resource: String, item: WorkItem, saved: String?) async throws {
        guard let run = self.runs[resource] else {
            throw PipelineError("the pipeline has no resource '\(resource)' (has the file changed?)")
        }
        try await run.runItem(item, saved: saved.flatMap(ItemState.init(json:)))
    }

    /// The `_gather_state` scope an item's saved state is kept under.
    public static func stateScope(of resource: String) -> String { "work:\(resource)" }
}
