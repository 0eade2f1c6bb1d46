public import GatherCoordinator
import GatherCore
import GatherFiles
public import GatherPostgres
public import GatherProcess
import GatherStore

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
        let hash = UnitLoop.hash(
            JSONWriter.string(spec.value) + "|\(stamp.path)|\(stamp.size)|\(stamp.modifiedNanoseconds)")
        return RunInfo(id: "map-\(spec.table)-\(hash)", kind: "map", spec: spec.value, configHash: hash)
    }

    /// Registers `run` (from ``plan(_:)``) and enqueues the tasks of `input` as its units, once: a run that exists
    /// already is joined, not enqueued again, and one whose registrar stopped before all its units were enqueued
    /// is enqueued on from where it stopped (``Seeder``).
    public static func register(
        _ run: RunInfo, input: String, batch: Int, coordinator: Coordinator, outage: Outage = Outage()
    ) async throws {
        let registration = try await outage.run("registering \(run.id)") {
            try await coordinator.register(run: run.id, kind: "map", configHash: run.configHash, spec: run.spec)
        }
        guard
            var seeder = Seeder(
                coordinator: coordinator, run: run.id, registration: registration, batch: 500, outage: outage)
        else { return }
        let reader = try LineReader(path: input)
        let tasks = MapInput(reader: reader, batch: max(1, batch), skip: [], stop: StopSignal())
        for try await batch in tasks { try await seeder.add(Self.payload(batch)) }
        try await seeder.finish()
    }

    /// ``plan(_:)`` and ``register(_:input:batch:coordinator:)`` together.
    public static func start(_ options: MapJob.Options, coordinator: Coordinator) async throws -> RunInfo {
        let run = try Self.plan(options)
        try await Self.register(run, input: options.input, batch: options.batch, coordinator: coordinator)
        return run
    }

    /// Works on `run` with `workers` worker processes until no unit is left (or `stop` fires): claims units,
    /// runs them, and commits each unit's rows with its fenced completion into `store`. Leases last `lease` and
    /// are renewed every third of it while their units run; an unreachable coordinator is waited for by `outage`.
    /// `onceStarted` runs when the worker processes are up,
    /// before the first claim (`gather map` registers its run there, so a command that cannot start leaves none).
    public static func work(
        run: RunInfo, coordinator: Coordinator, store: PostgresStore, worker: String, workers: Int,
        lease: Duration = .seconds(30), stop: StopSignal = StopSignal(), outage: Outage = Outage(),
        stderrLine: @escaping @Sendable (Int, String) -> Void = { _, _ in },
        onceStarted: (@Sendable () async throws -> Void)? = nil
    ) async throws -> CoordinatedSummary {
        let spec = try Spec(run.spec)
        try UnitLoop.requireSameVersion(spec.version, run: run.id)
        var poolConfiguration = spec.pool(workers: workers)
        poolConfiguration.stderrLine = stderrLine
        let normalizer = Normalizer(table: spec.table, lists: .json)
        try await outage.run("joining \(run.id)") { try await coordinator.join(worker: worker) }
        do {
            return try await ProcessPool.withPool(poolConfiguration) { pool in
                // The workers are up (a command that cannot start has thrown by now): what the caller does only then.
                try await onceStarted?()
                // One unit per worker process in hand keeps every process busy.
                return try await UnitLoop.run(
                    run, coordinator: coordinator, store: store, worker: worker,
                    capacity: max(1, pool.configuration.workers), lease: lease, stop: stop,
                    outage: outage
                ) { lease in
                    let batch = Self.batch(lease.payload)
                    let outcomes = batch.tasks.isEmpty ? [] : try await pool.process(batch.tasks.map(\.value))
                    var (write, counts) = MapJob.commit(
                        batch, outcomes: outcomes, runID: run.id, table: spec.table, scope: "map:" + spec.table,
                        file: spec.input, normalizer: normalizer)
                    // The unit's completion is its resume mark here: no per-line state.
                    write.state = []
                    return UnitLoop.Outcome(
                        write: write, tasks: counts.records, results: counts.written, errors: counts.errors)
                }
            }
        } catch let error as ProcessPoolError {
            // The worker command cannot start here (not installed on this host, say): say which, as map does.
            throw JobError.usage(error.message)
        }
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
}
