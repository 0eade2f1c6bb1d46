public import GatherCore
import GatherFormats
import GatherHTTP
public import GatherStore

/// A pipeline's endpoint resources, run one work item at a time on someone else's schedule: how the workers of
/// a run shared through a coordinator run it. Each item runs as ``PipelineRunner`` runs it (its pages, transforms
/// and `process` stages, each page committed with the item's state through `sink`), except that the items of
/// dependent resources go into each page's batch (``SinkBatch/discovered``) for the coordinator to enqueue,
/// instead of into this process's queues, and so do the pages after the first of a counted, numbered paginator
/// (each page a ``PipelineUnit``). Pages that follow a link or cursor stay with their item: each page's address
/// comes from the page before, so one worker at a time walks the chain, its position committed with each page.
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
        let cursors = try await PipelineRunner.incrementalCursors(in: sink)
        var configuration = PipelineRunner.fetcherConfiguration(pipeline)
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

    /// Does `unit`: runs its item to its end from `saved` (the item's state as a run left it, `_gather_state`
    /// scope ``stateScope(of:)``), or fetches its one page, committing each page through the sink.
    ///
    /// Returns `true` when the item may be complete only now that this unit is done: its pages are units (a
    /// counted, numbered paginator hands out the pages after the first as units in the first page's commit), and
    /// ``completion(of:state:marks:)`` says when the last is in.
    public func run(_ unit: PipelineUnit, saved: String?) async throws -> Bool {
        let run = try self.resource(unit.resource)
        let state = saved.flatMap(ItemState.init(json:))
        guard let page = unit.page else { return try await run.runItem(unit.item, saved: state) }
        guard let state else {
            throw PipelineError("page \(page) of \(unit.resource) \(unit.item.key) has no saved item state")
        }
        try await run.runPage(unit.item, index: page, state: state)
        return true
    }

    /// The commit that completes `unit`'s item, given its saved state and its page marks (`_gather_state` scope
    /// ``pageScope(of:)``, key and value); `nil` while a page is missing or when it is complete already.
    public func completion(of unit: PipelineUnit, saved: String?, marks: [(key: String, value: String)]) throws
        -> SinkBatch?
    {
        guard let state = saved.flatMap(ItemState.init(json:)) else { return nil }
        var pages: [Int: Value] = [:]
        for mark in marks {
            if let index = Int(mark.key) { pages[index] = (try? JSONReader.parse(mark.value)) ?? .null }
        }
        return try self.resource(unit.resource).completion(of: unit.item, state: state, marks: pages)
    }

    private func resource(_ name: String) throws -> ResourceRun {
        guard let run = self.runs[name] else {
            throw PipelineError("the pipeline has no resource '\(name)' (has the file changed?)")
        }
        return run
    }

    /// The `_gather_state` scope an item's saved state is kept under.
    public static func stateScope(of resource: String) -> String { "work:\(resource)" }

    /// The `_gather_state` scope of the marks of an item's pages that are done (key: the page's index).
    public static func pageScope(of unit: PipelineUnit) -> String { "pages:\(unit.resource):\(unit.item.key)" }
}

/// A unit of a pipeline run shared through a coordinator: one work item of a resource, or one page of an item
/// whose pages are units (``PipelineItems/run(_:saved:)``).
public struct PipelineUnit: Sendable {
    public var resource: String
    public var item: WorkItem
    /// The page's index; `nil` for the whole item.
    public var page: Int?

    public init(resource: String, item: WorkItem, page: Int? = nil) {
        self.resource = resource
        self.item = item
        self.page = page
    }

    /// The unit as JSON (its payload in the queue).
    public var value: Value {
        var record = Record([("resource", .string(self.resource)), ("item", self.item.value)])
        if let page { record["page"] = .int(Int64(page)) }
        return .object(record)
    }

    /// The unit ``value`` wrote; `nil` if `value` is not one.
    public init?(_ value: Value) {
        guard case .object(let unit) = value, let resource = unit["resource"]?.stringValue,
            let item = unit["item"].flatMap(WorkItem.init)
        else { return nil }
        self.init(resource: resource, item: item, page: unit["page"]?.intValue.map { Int($0) })
    }

    /// The key, unique in the resource, of page `page` of the item keyed `item`.
    static func pageKey(item: String, page: Int) -> String { item + "\u{1F}page \(page)" }
}
