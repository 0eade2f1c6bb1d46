import CoreMetrics
public import GatherCoordinator
import GatherCore
import GatherFiles
public import GatherPostgres
public import GatherProcess
import GatherStore
import Synchronization

/// `gather map` spread over many hosts through a ``Coordinator``: the process that starts the run enqueues its
/// tasks as units (a batch of input lines each), and it and every `gather worker` claim units, run them on their
/// own worker processes, and commit each unit's result rows together with its fenced completion. A worker that
/// dies (or stalls past its lease) loses its units to the others, and its late results are never written.
///
/// The results go to the coordinator's own database: the fence and the rows must commit in one transaction.
public enum CoordinatedMap {
    /// What a worker needs to do the units of a map run, as the run stores it.
    public struct Spec: Sendable, Equatable {
        public var input: String
        public var command: [String]
        public var environment: [String: String]
        public var workingDirectory: String?
        public var timeout: Duration?
        public var batch: Int
        public var table: String
        /// The Gather version that started the run: workers of another version refuse to join.
        public var version = GatherVersion.current

        public init(options: MapJob.Options) {
            self.input = options.input
            self.command = options.pool.command
            self.environment = options.pool.environment
            self.workingDirectory = options.pool.workingDirectory
            self.timeout = options.pool.timeout
            self.batch = options.batch
            self.table = options.table
        }

        init(_ value: Value) throws {
            guard case .object(let spec) = value, case .array(let command)? = spec["command"],
                let table = spec["table"]?.stringValue
            else { throw CoordinatorError("the run's spec is not a map spec") }
            self.input = spec["input"]?.stringValue ?? ""
            self.command = command.compactMap(\.stringValue)
            var environment: [String: String] = [:]
            if case .object(let variables)? = spec["environment"] {
                for (name, value) in variables { environment[name] = value.stringValue ?? "" }
            }
            self.environment = environment
            self.workingDirectory = spec["working_directory"]?.stringValue
            self.timeout = spec["timeout_ms"]?.intValue.map { .milliseconds($0) }
            self.batch = Int(spec["batch"]?.intValue ?? 1)
            self.table = table
            self.version = spec["gather_version"]?.stringValue ?? ""
        }

        var value: Value {
            var fields: [(String, Value)] = [
                ("input", .string(self.input)), ("command", .array(self.command.map(Value.string))),
                (
                    "environment",
                    .object(Record(self.environment.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) }))
                ),
                ("batch", .int(Int64(self.batch))), ("table", .string(self.table)),
                ("gather_version", .string(self.version)),
            ]
            if let directory = self.workingDirectory { fields.append(("working_directory", .string(directory))) }
            if let timeout = self.timeout {
                fields.append(("timeout_ms", .int(Int64(timeout.components.seconds * 1000))))
            }
            return .object(Record(fields))
        }

        /// The worker pool for this spec, with `workers` processes.
        public func pool(workers: Int) -> ProcessPool.Configuration {
            var pool = ProcessPool.Configuration(command: self.command)
            pool.workers = max(1, workers)
            pool.environment = self.environment
            pool.workingDirectory = self.workingDirectory
            pool.timeout = self.timeout
            return pool
        }
    }

    /// The run `options` make, named by a hash of the input (path, size, modification time) and the settings:
    /// the same map run again is the same run.
    public static func plan(_ options: MapJob.Options) throws -> RunInfo {
        let spec = Spec(options: options)
        guard let stamp = FileStamp(options.input) else {
            throw JobError.usage("cannot read the input \(options.input)")
        }
        let hash = Self.hash(
            JSONWriter.string(spec.value) + "|\(stamp.path)|\(stamp.size)|\(stamp.modifiedNanoseconds)")
        return RunInfo(id: "map-\(spec.table)-\(hash)", kind: "map", spec: spec.value, configHash: hash)
    }

    /// Registers `run` (from ``plan(_:)``) and enqueues the tasks of `input` as its units, once: a run that exists
    /// already is joined, not enqueued again.
    public static func register(_ run: RunInfo, input: String, batch: Int, coordinator: Coordinator) async throws {
        let registration = try await coordinator.register(
            run: run.id, kind: "map", configHash: run.configHash, spec: run.spec)
        guard registration == .created else { return }
        let reader = try LineReader(path: input)
        let tasks = MapInput(reader: reader, batch: max(1, batch), skip: [], stop: StopSignal())
        var units: [Value] = []
        for try await batch in tasks {
            units.append(Self.payload(batch))
            if units.count >= 500 {
                try await coordinator.enqueue(run: run.id, payloads: units)
                units = []
            }
        }
        try await coordinator.enqueue(run: run.id, payloads: units)
    }

    /// ``plan(_:)`` and ``register(_:input:batch:coordinator:)`` together.
    public static func start(_ options: MapJob.Options, coordinator: Coordinator) async throws -> RunInfo {
        let run = try Self.plan(options)
        try await Self.register(run, input: options.input, batch: options.batch, coordinator: coordinator)
        return run
    }

    /// What one worker did on one run.
    public struct Summary: Sendable {
        public var run = ""
        public var units = 0
        public var tasks = 0
        public var results = 0
        public var errors = 0
        /// Units whose lease was lost before their results were committed (the results were dropped).
        public var fenced = 0

        /// The same figures as JSON (`--summary-json`).
        public var value: Value {
            .object(
                Record([
                    ("run", .string(self.run)), ("units", .int(Int64(self.units))), ("tasks", .int(Int64(self.tasks))),
                    ("results", .int(Int64(self.results))), ("errors", .int(Int64(self.errors))),
                    ("fenced", .int(Int64(self.fenced))),
                ]))
        }
    }

    /// What a worker records through swift-metrics (Prometheus with `--metrics`):
    /// - `gather_worker_units_total{run, outcome}`: units committed (`done`) or lost to another worker after the
    ///   lease ran out (`fenced`);
    /// - `gather_worker_tasks_total{run}`: tasks in the committed units;
    /// - `gather_worker_claims_total{run}`: claim queries that returned units;
    /// - `gather_worker_leases_held`: units this worker holds now.
    struct Metrics: Sendable {
        let done: Counter
        let fenced: Counter
        let tasks: Counter
        let claims: Counter
        let held = Gauge(label: "gather_worker_leases_held")

        init(run: String) {
            self.done = Counter(label: "gather_worker_units_total", dimensions: [("run", run), ("outcome", "done")])
            self.fenced = Counter(
                label: "gather_worker_units_total", dimensions: [("run", run), ("outcome", "fenced")])
            self.tasks = Counter(label: "gather_worker_tasks_total", dimensions: [("run", run)])
            self.claims = Counter(label: "gather_worker_claims_total", dimensions: [("run", run)])
        }
    }

    /// Works on `run` with `workers` worker processes until no unit is left (or `stop` fires): claims units,
    /// runs them, and commits each unit's rows with its fenced completion into `store`. Leases last `lease` and
    /// are renewed every third of it while their units run. `onceStarted` runs when the worker processes are up,
    /// before the first claim (`gather map` registers its run there, so a command that cannot start leaves none).
    public static func work(
        run: RunInfo, coordinator: Coordinator, store: PostgresStore, worker: String, workers: Int,
        lease: Duration = .seconds(30), stop: StopSignal = StopSignal(),
        stderrLine: @escaping @Sendable (Int, String) -> Void = { _, _ in },
        onceStarted: (@Sendable () async throws -> Void)? = nil
    ) async throws -> Summary {
        let spec = try Spec(run.spec)
        guard spec.version == GatherVersion.current else {
            throw JobError.usage(
                "run \(run.id) was started by Gather \(spec.version.isEmpty ? "of unknown version" : spec.version); "
                    + "this worker is \(GatherVersion.current): run the same version on every host")
        }
        var poolConfiguration = spec.pool(workers: workers)
        poolConfiguration.stderrLine = stderrLine
        let normalizer = Normalizer(table: spec.table, lists: .json)
        let held = HeldLeases()
        let metrics = Metrics(run: run.id)
        var summary = Summary()
        summary.run = run.id
        try await coordinator.join(worker: worker)
        do {
            try await ProcessPool.withPool(poolConfiguration) { pool in
                // The workers are up (a command that cannot start has thrown by now): what the caller does only then.
                try await onceStarted?()
                let capacity = max(1, pool.configuration.workers)
                let heartbeat = Task {
                    while !Task.isCancelled {
                        try? await Task.sleep(for: lease / 3)
                        let leases = held.all
                        _ = try? await coordinator.heartbeat(worker: worker, leases: leases, lease: lease)
                    }
                }
                defer { heartbeat.cancel() }
                try await coordinator.withWakeups { bell in
                    try await withThrowingTaskGroup(of: (Lease, MapBatch, [RecordOutcome]).self) { group in
                        var inFlight = 0
                        while true {
                            // Keep every worker process busy.
                            while inFlight < capacity, !stop.isStopped {
                                let leases = try await coordinator.claim(
                                    run: run.id, worker: worker, count: capacity - inFlight, lease: lease)
                                if leases.isEmpty { break }
                                held.add(leases)
                                metrics.claims.increment()
                                metrics.held.record(held.count)
                                for lease in leases {
                                    inFlight += 1
                                    let batch = Self.batch(lease.payload)
                                    group.addTask {
                                        (
                                            lease, batch,
                                            batch.tasks.isEmpty ? [] : try await pool.process(batch.tasks.map(\.value))
                                        )
                                    }
                                }
                            }
                            guard let (lease, batch, outcomes) = try await group.next() else {
                                if stop.isStopped { break }
                                if try await coordinator.finishIfDone(run: run.id) { break }
                                // Others hold the rest: wait for new units (the doorbell) or for a lease to run out.
                                await bell.wait(timeout: min(lease / 2, .seconds(1)))
                                continue
                            }
                            inFlight -= 1
                            var (write, counts) = MapJob.commit(
                                batch, outcomes: outcomes, runID: run.id, table: spec.table, scope: "map:" + spec.table,
                                file: spec.input, normalizer: normalizer)
                            write.state = []
                            var accepted = false
                            try await store.commit { tx in
                                accepted = try await !Coordinator.fence([lease], worker: worker, in: tx).isEmpty
                                return accepted ? write : SinkBatch()
                            }
                            held.remove(lease)
                            metrics.held.record(held.count)
                            if accepted {
                                summary.units += 1
                                summary.tasks += counts.records
                                summary.results += counts.written
                                summary.errors += counts.errors
                                metrics.done.increment()
                                metrics.tasks.increment(by: counts.records)
                            } else {
                                summary.fenced += 1
                                metrics.fenced.increment()
                            }
                        }
                    }
                }
            }
        } catch let error as ProcessPoolError {
            // The worker command cannot start here (not installed on this host, say): say which, as map does.
            throw JobError.usage(error.message)
        }
        return summary
    }

    static func payload(_ batch: MapBatch) -> Value {
        .object(
            Record([
                (
                    "tasks",
                    .array(batch.tasks.map { .object(Record([("line", .int(Int64($0.line))), ("value", $0.value)])) })
                ),
                (
                    "problems",
                    .array(
                        batch.problems.map {
                            .object(
                                Record([
                                    ("line", .int(Int64($0.line))), ("message", .string($0.message)),
                                    ("excerpt", $0.excerpt.map(Value.string) ?? .null),
                                ]))
                        })
                ),
            ]))
    }

    static func batch(_ payload: Value) -> MapBatch {
        var batch = MapBatch()
        guard case .object(let unit) = payload else { return batch }
        if case .array(let tasks)? = unit["tasks"] {
            for case .object(let task) in tasks {
                batch.tasks.append(MapTask(line: Int(task["line"]?.intValue ?? 0), value: task["value"] ?? .null))
            }
        }
        if case .array(let problems)? = unit["problems"] {
            for case .object(let problem) in problems {
                batch.problems.append(
                    MapProblem(
                        line: Int(problem["line"]?.intValue ?? 0), message: problem["message"]?.stringValue ?? "",
                        excerpt: problem["excerpt"]?.stringValue))
            }
        }
        return batch
    }

    /// FNV-1a, 64 bits, as hex: a stable name for a configuration.
    static func hash(_ text: String) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash &*= 0x100_0000_01b3
        }
        return String(hash, radix: 16)
    }
}

/// The leases a worker holds while their units run, for its heartbeats.
private final class HeldLeases: Sendable {
    private let leases = Mutex<[Int64: Lease]>([:])

    var all: [Lease] { self.leases.withLock { Array($0.values) } }
    var count: Int { self.leases.withLock { $0.count } }
    func add(_ leases: [Lease]) { self.leases.withLock { for lease in leases { $0[lease.unit] = lease } } }
    func remove(_ lease: Lease) { self.leases.withLock { _ = $0.removeValue(forKey: lease.unit) } }
}
