public import GatherCoordinator
public import GatherCore
import GatherFiles
public import GatherPipeline
public import GatherPostgres
public import GatherStore
import Synchronization

/// `gather run` spread over many hosts through a ``Coordinator``: each work item of each endpoint resource (a
/// `for_each` combination, or a parent record of a dependent resource) is a unit, and so is each page after the
/// first of an item with a counted, numbered paginator (``PipelineUnit``). A worker runs an item as `gather run`
/// does, page by page, and commits each page's rows with the item's state, its fence checked in the same
/// transaction (``Coordinator/holds(_:worker:in:)``), and the dependent items and pages it found enqueued as new
/// units (unless the run had them already). A worker that dies mid-item loses the item to another, which goes on
/// from the last page committed; one whose lease ran out commits nothing more. The item whose pages are units is
/// completed by whoever commits its last page.
///
/// Every host reads the pipeline file at the path the run was started with; the run stores a hash of its text,
/// and a host whose file differs refuses to join. The rows go to the coordinator's database, which must be the
/// pipeline's destination.
public enum CoordinatedPipeline {
    /// What a worker needs to run a pipeline's items, as the run stores it.
    public struct Spec: Sendable, Equatable {
        /// The pipeline file's absolute path.
        public var path: String
        /// A hash of the file's text.
        public var textHash: String
        /// The resources selected (`--resource`); empty for all.
        public var resources: [String]
        /// The Gather version that started the run: workers of another version refuse to join.
        public var version = GatherVersion.current

        public init(_ value: Value) throws {
            guard case .object(let spec) = value, let path = spec["path"]?.stringValue,
                let hash = spec["text_hash"]?.stringValue
            else { throw CoordinatorError("the run's spec is not a pipeline spec") }
            self.path = path
            self.textHash = hash
            self.resources = spec["resources"]?.arrayValue?.compactMap(\.stringValue) ?? []
            self.version = spec["gather_version"]?.stringValue ?? ""
        }

        init(path: String, textHash: String, resources: [String]) {
            self.path = path
            self.textHash = textHash
            self.resources = resources
        }

        var value: Value {
            .object(
                Record([
                    ("path", .string(self.path)), ("text_hash", .string(self.textHash)),
                    ("resources", .array(self.resources.map(Value.string))),
                    ("gather_version", .string(self.version)),
                ]))
        }
    }

    /// The run of pipeline `name` in the file at `path`, with `resources` selected: named by the pipeline and a
    /// hash of the file's text and the selection, so the same file run again is the same run.
    public static func plan(path: String, name: String, resources: [String]) async throws -> RunInfo {
        let text = try await Self.text(of: path)
        let spec = Spec(path: FileStamp.absolute(path), textHash: UnitLoop.hash(text), resources: resources)
        let hash = UnitLoop.hash(JSONWriter.string(spec.value))
        return RunInfo(id: "pipeline-\(name)-\(hash)", kind: "pipeline", spec: spec.value, configHash: hash)
    }

    /// The pipeline file a worker of `run` reads: its path, once its text is checked against the run's hash.
    ///
    /// - Throws: a usage error when the file is missing here or differs from the one the run was started with.
    public static func file(of run: RunInfo) async throws -> String {
        let spec = try Spec(run.spec)
        try UnitLoop.requireSameVersion(spec.version, run: run.id)
        let here = UnitLoop.hash(try await Self.text(of: spec.path))
        guard here == spec.textHash else {
            throw JobError.usage(
                "\(spec.path) on this host differs from the file run \(run.id) was started with (hash \(here), not "
                    + "\(spec.textHash)): every host must run the same pipeline file")
        }
        return spec.path
    }

    /// Registers `run` and enqueues the root resources' items as its first units, once (``Seeder``). A new run
    /// first forgets the item positions of earlier runs of the pipeline and empties its `replace` tables.
    public static func register(
        _ run: RunInfo, items: PipelineItems, pipeline: PipelineDefinition, coordinator: Coordinator,
        store: PostgresStore, outage: Outage = Outage()
    ) async throws {
        let registration = try await outage.run("registering \(run.id)") {
            try await coordinator.register(run: run.id, kind: "pipeline", configHash: run.configHash, spec: run.spec)
        }
        guard var seeder = Seeder(coordinator: coordinator, run: run.id, registration: registration, outage: outage)
        else { return }
        if registration == .created {
            var fresh = SinkBatch()
            fresh.state = [.clearPrefix("work:"), .clearPrefix("pages:")]
            let spec = try Spec(run.spec)
            fresh.truncate = pipeline.resources.filter {
                $0.write == .replace && (spec.resources.isEmpty || spec.resources.contains($0.name))
            }.map(\.table)
            try await store.commit(fresh)
        }
        let roots = try items.rootItems()
        _ = try await outage.run("recording the first items of \(run.id)") {
            try await coordinator.markSeen(run: run.id, keys: roots.map { Self.key($0.resource, $0.item.key) })
        }
        for (resource, item) in roots { try await seeder.add(PipelineUnit(resource: resource, item: item).value) }
        try await seeder.finish()
    }

    /// Works on `run` until no item is left (or `stop` fires): claims items (`capacity` in hand) and runs each
    /// with `items`, whose sink must be ``sink(store:worker:outage:)``'s.
    public static func work(
        run: RunInfo, items: PipelineItems, coordinator: Coordinator, store: PostgresStore, worker: String,
        capacity: Int, lease: Duration = .seconds(30), stop: StopSignal = StopSignal(), outage: Outage = Outage()
    ) async throws -> CoordinatedSummary {
        try await outage.run("joining \(run.id)") { try await coordinator.join(worker: worker) }
        return try await UnitLoop.run(
            run, coordinator: coordinator, store: store, worker: worker, capacity: max(1, capacity), lease: lease,
            stop: stop, outage: outage
        ) { lease in
            guard let unit = PipelineUnit(lease.payload) else {
                throw CoordinatorError("unit \(lease.unit) of \(run.id) is not a pipeline item")
            }
            let what = "\(unit.resource) \(unit.item.key)" + (unit.page.map { " page \($0)" } ?? "")
            // Where an earlier holder left the item (pages committed, the next URL), and whether this page is in.
            let (saved, pageDone) = try await outage.run("reading the state of \(what)") {
                let saved = try await store.server.query(
                    "SELECT value FROM _gather_state WHERE scope = $1 AND key = $2",
                    [.string(PipelineItems.stateScope(of: unit.resource)), .string(unit.item.key)]
                ).first?.first?.stringValue
                guard let page = unit.page else { return (saved, false) }
                let mark = try await store.server.query(
                    "SELECT 1 FROM _gather_state WHERE scope = $1 AND key = $2",
                    [.string(PipelineItems.pageScope(of: unit)), .string(String(page))])
                return (saved, !mark.isEmpty)
            }
            do {
                try await FencedSink.$lease.withValue(lease) {
                    let completes = pageDone ? true : try await items.run(unit, saved: saved)
                    if completes {
                        try await Self.complete(
                            unit, items: items, store: store, worker: worker, lease: lease, outage: outage)
                    }
                }
            } catch is LeaseLost {
                return UnitLoop.Outcome(write: SinkBatch(), tasks: 1, results: 0, errors: 0, leaseLost: true)
            }
            return UnitLoop.Outcome(write: SinkBatch(), tasks: 1, results: 0, errors: 0)
        }
    }

    /// Completes `unit`'s item if its pages are all in: reads the item's state (locked, so two last pages that
    /// finish together do not both miss the other's mark) and its page marks, and commits the completion, fenced.
    static func complete(
        _ unit: PipelineUnit, items: PipelineItems, store: PostgresStore, worker: String, lease: Lease,
        outage: Outage
    ) async throws {
        try await outage.run("completing \(unit.resource) \(unit.item.key)") {
            try await store.commit { tx in
                guard try await Coordinator.holds(lease, worker: worker, in: tx) else { throw LeaseLost() }
                let saved = try await tx.query(
                    "SELECT value FROM _gather_state WHERE scope = $1 AND key = $2 FOR UPDATE",
                    [.string(PipelineItems.stateScope(of: unit.resource)), .string(unit.item.key)]
                ).first?.first?.stringValue
                let marks = try await tx.query(
                    "SELECT key, value FROM _gather_state WHERE scope = $1",
                    [.string(PipelineItems.pageScope(of: unit))]
                ).map { (key: $0[0].stringValue ?? "", value: $0[1].stringValue ?? "null") }
                return try items.completion(of: unit, saved: saved, marks: marks) ?? SinkBatch()
            }
        }
    }

    /// The sink a worker's ``PipelineItems`` commits through: `store`, each commit fenced by the lease of the item
    /// it belongs to, and the dependent items it found enqueued with it.
    public static func sink(store: PostgresStore, worker: String, outage: Outage) -> any Sink {
        FencedSink(store: store, worker: worker, outage: outage)
    }

    static func key(_ resource: String, _ item: String) -> String { resource + "\u{1F}" + item }

    static func text(of path: String) async throws -> String {
        var bytes: [UInt8] = []
        do {
            let reader = try await ChunkReader(path: path)
            while let chunk = try await reader.next() { bytes += chunk }
        } catch {
            throw JobError.usage("cannot read the pipeline file \(path): \(error)")
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// The lease of the unit a commit belongs to was lost (claimed by another worker): the item stops here.
struct LeaseLost: CommitRefusal {}

/// ``PostgresStore`` for a coordinated pipeline's items: a commit made while a unit runs (``lease`` is set, a
/// task local) first checks that its worker still holds the lease, in the same transaction, and enqueues the
/// dependent items the batch found (``SinkBatch/discovered``) unless the run had them. Commits with no lease (a
/// new run's reset) go straight through.
///
/// A commit whose connection was lost is tried again once the coordinator answers; if the lost one went through
/// after all, the second finds the unit's progress mark (the page's mark, or else the item's state) already
/// holding the value it would write, and writes nothing. That needs a unit's commits to be made one after
/// another, as an item's pages are.
final class FencedSink: Sink {
    @TaskLocal static var lease: Lease?

    let store: PostgresStore
    let worker: String
    let outage: Outage

    init(store: PostgresStore, worker: String, outage: Outage) {
        self.store = store
        self.worker = worker
        self.outage = outage
    }

    func commit(_ batch: SinkBatch) async throws {
        try await self.commit(batch, retried: false)
    }

    /// `retried`: as if an earlier attempt lost its connection (the tests' way to try the check that follows).
    func commit(_ batch: SinkBatch, retried: Bool) async throws {
        guard let lease = Self.lease else { return try await self.store.commit(batch) }
        let (store, worker) = (self.store, self.worker)
        let found = batch.discovered.map { (key: CoordinatedPipeline.key($0.kind, $0.key), payload: $0.payload) }
        var rest = batch
        rest.discovered = []
        let marker = PipelineUnit(lease.payload).flatMap { Self.progress(of: $0, in: rest) }
        let attempts = Mutex(retried ? 1 : 0)
        try await self.outage.run("committing a page of \(lease.run)") {
            let again = attempts.withLock {
                $0 += 1; return $0 > 1
            }
            try await store.commit { tx in
                guard try await Coordinator.holds(lease, worker: worker, in: tx) else { throw LeaseLost() }
                if again, let marker {
                    let stored = try await tx.query(
                        "SELECT value FROM _gather_state WHERE scope = $1 AND key = $2",
                        [.string(marker.scope), .string(marker.key)]
                    ).first?.first?.stringValue
                    if stored == marker.value { return SinkBatch() }  // the lost commit went through
                }
                if !found.isEmpty { try await Coordinator.enqueueNew(run: lease.run, keyed: found, in: tx) }
                return rest
            }
        }
    }

    /// The state `batch` records `unit`'s progress with: a page's mark if it writes one (only that page's commit
    /// does), or else the item's state (whose next URL and page count differ after every page).
    static func progress(of unit: PipelineUnit, in batch: SinkBatch) -> (scope: String, key: String, value: String)? {
        var itemState: (scope: String, key: String, value: String)?
        for change in batch.state {
            guard case .put(let scope, let key, let value) = change else { continue }
            if scope == PipelineItems.pageScope(of: unit) { return (scope, key, value) }
            if scope == PipelineItems.stateScope(of: unit.resource), key == unit.item.key {
                itemState = (scope, key, value)
            }
        }
        return itemState
    }

    func state(scopePrefix: String) async throws -> [StateEntry] {
        try await self.store.state(scopePrefix: scopePrefix)
    }
    func lastRun(pipeline: String) async throws -> RunRow? { try await self.store.lastRun(pipeline: pipeline) }
    func counts(runID: String) async throws -> [ResourceCounts] { try await self.store.counts(runID: runID) }
    func frontier(scope: String, after: Int64, limit: Int) async throws -> [FrontierEntry] {
        try await self.store.frontier(scope: scope, after: after, limit: limit)
    }
    func close() async throws {}
}
