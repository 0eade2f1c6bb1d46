public import GatherCoordinator
public import GatherCore
import GatherFiles
import GatherFormats
import GatherHTTP
public import GatherPostgres
import GatherStore

/// `gather fetch` spread over many hosts through a ``Coordinator``: the process that starts the run enqueues its
/// input lines as units (`unitSize` lines each), and it and every `gather worker` claim units, fetch their
/// requests, and commit each unit's records together with its fenced completion. A worker that dies, or stalls
/// past its lease, loses its units to the others, and its late records are never written: a request may be sent
/// again after a kill, but its record is committed exactly once.
///
/// A host's `rate` holds for the fleet together (``FleetBudget``); its per-host concurrency and `--concurrency`
/// hold per worker. Credentials (`--bearer`, `--user`) are not stored in the run: each worker reads its own
/// (`GATHER_BEARER_TOKEN`).
///
/// The records go to the coordinator's own database, in the fetch table's columns: the fence and the rows must
/// commit in one transaction.
public enum CoordinatedFetch {
    /// What a worker needs to do the units of a fetch run, as the run stores it.
    public struct Spec: Sendable, Equatable {
        public var input: String
        public var table: String
        /// `nil`: plain URL or JSON request lines; else the URL template each line's value fills.
        public var template: String?
        public var method: String
        /// Requests in flight on each worker.
        public var concurrency: Int
        /// Requests in flight per host on each worker.
        public var perHost: Int?
        /// Requests per second per host, for the whole fleet.
        public var rate: Rate?
        public var timeout: Duration
        /// Headers every request sends (not credentials).
        public var headers: [String]
        /// Input lines per unit.
        public var unitSize: Int
        /// The Gather version that started the run: workers of another version refuse to join.
        public var version = GatherVersion.current

        public init(options: FetchJob.Options, unitSize: Int = 50) {
            self.input = options.input
            self.table = options.table
            if case .template(let template) = options.format { self.template = template }
            self.method = options.method
            self.concurrency = max(1, options.concurrency)
            self.perHost = options.fetcher.limits.maxConcurrency
            self.rate = options.fetcher.limits.rate
            self.timeout = options.fetcher.timeouts.request
            self.headers = options.fetcher.headers.map { "\($0.name): \($0.value)" }
            self.unitSize = max(1, unitSize)
        }

        init(_ value: Value) throws {
            guard case .object(let spec) = value, let table = spec["table"]?.stringValue else {
                throw CoordinatorError("the run's spec is not a fetch spec")
            }
            self.input = spec["input"]?.stringValue ?? ""
            self.table = table
            self.template = spec["template"]?.stringValue
            self.method = spec["method"]?.stringValue ?? "GET"
            self.concurrency = Int(spec["concurrency"]?.intValue ?? 64)
            self.perHost = spec["per_host"]?.intValue.map { Int($0) }
            if let count = spec["rate_count"]?.doubleValue, let period = spec["rate_period_ms"]?.intValue {
                self.rate = Rate(
                    count: count, per: .milliseconds(period), burst: Int(spec["rate_burst"]?.intValue ?? 1))
            }
            self.timeout = .milliseconds(spec["timeout_ms"]?.intValue ?? 30_000)
            if case .array(let headers)? = spec["headers"] {
                self.headers = headers.compactMap(\.stringValue)
            } else {
                self.headers = []
            }
            self.unitSize = Int(spec["unit_size"]?.intValue ?? 50)
            self.version = spec["gather_version"]?.stringValue ?? ""
        }

        var value: Value {
            var fields: [(String, Value)] = [
                ("input", .string(self.input)), ("table", .string(self.table)), ("method", .string(self.method)),
                ("concurrency", .int(Int64(self.concurrency))),
                ("timeout_ms", .int(Int64(self.timeout.seconds * 1000))),
                ("headers", .array(self.headers.map(Value.string))), ("unit_size", .int(Int64(self.unitSize))),
                ("gather_version", .string(self.version)),
            ]
            if let template = self.template { fields.append(("template", .string(template))) }
            if let perHost = self.perHost { fields.append(("per_host", .int(Int64(perHost)))) }
            if let rate = self.rate {
                fields += [
                    ("rate_count", .double(rate.count)), ("rate_period_ms", .int(Int64(rate.period.seconds * 1000))),
                    ("rate_burst", .int(Int64(rate.burst))),
                ]
            }
            return .object(Record(fields))
        }

        /// The fetcher a worker runs this spec with; `budget` shares the rate with the fleet.
        func fetcher(budget: (any SharedBudget)?) -> Fetcher.Configuration {
            var configuration = Fetcher.Configuration()
            configuration.limits = FlowLimits(maxConcurrency: self.perHost ?? self.concurrency, rate: self.rate)
            configuration.connectionsPerHost = self.perHost ?? self.concurrency
            configuration.timeouts.request = self.timeout
            configuration.sharedBudget = budget
            configuration.headers = self.headers.map { header in
                let parts = header.split(separator: ":", maxSplits: 1)
                return (String(parts[0]), parts.count > 1 ? parts[1].trimmingWhitespace() : "")
            }
            if let bearer = ProcessEnvironment.value("GATHER_BEARER_TOKEN") {
                configuration.authorization = .bearer(bearer)
            }
            return configuration
        }
    }

    /// The run `options` make, named by a hash of the input (path, size, modification time) and the settings:
    /// the same fetch run again is the same run.
    public static func plan(_ options: FetchJob.Options, unitSize: Int = 50) throws -> RunInfo {
        let spec = Spec(options: options, unitSize: unitSize)
        guard options.input != "-", let stamp = FileStamp(options.input) else {
            throw JobError.usage(
                "cannot read the input \(options.input): with --coordinator the input must be a file (its lines "
                    + "become the run's units)")
        }
        let hash = UnitLoop.hash(
            JSONWriter.string(spec.value) + "|\(stamp.path)|\(stamp.size)|\(stamp.modifiedNanoseconds)")
        return RunInfo(id: "fetch-\(spec.table)-\(hash)", kind: "fetch", spec: spec.value, configHash: hash)
    }

    /// Registers `run` (from ``plan(_:unitSize:)``) and enqueues its input lines as units, once: a run that
    /// exists already is joined, not enqueued again, and one whose registrar stopped before all its lines were
    /// enqueued is enqueued on from where it stopped (``Seeder``).
    public static func register(_ run: RunInfo, coordinator: Coordinator, outage: Outage = Outage()) async throws {
        let spec = try Spec(run.spec)
        let registration = try await outage.run("registering \(run.id)") {
            try await coordinator.register(run: run.id, kind: "fetch", configHash: run.configHash, spec: run.spec)
        }
        guard var seeder = Seeder(coordinator: coordinator, run: run.id, registration: registration, outage: outage)
        else { return }
        let reader = try LineReader(path: spec.input)
        var lines: [Value] = []
        while let line = try await reader.next() {
            switch line {
            case .text(let number, let bytes):
                lines.append(.array([.int(Int64(number)), .string(String(decoding: bytes, as: UTF8.self))]))
            case .tooLong(let number, let length):
                lines.append(.array([.int(Int64(number)), .null, .int(Int64(length))]))
            }
            if lines.count >= spec.unitSize {
                try await seeder.add(.object(["lines": .array(lines)]))
                lines = []
            }
        }
        if !lines.isEmpty { try await seeder.add(.object(["lines": .array(lines)])) }
        try await seeder.finish()
    }

    /// Works on `run` until no unit is left (or `stop` fires): claims units, fetches their requests (at most
    /// the spec's concurrency in flight on this worker, the fleet's rate per host), and commits each unit's
    /// records with its fenced completion into `store`. Leases last `lease`; an unreachable coordinator is waited
    /// for by `outage`.
    ///
    /// `concurrency`: this worker's requests in flight, in place of the run's (`gather worker --concurrency`).
    public static func work(
        run: RunInfo, coordinator: Coordinator, store: PostgresStore, worker: String, concurrency: Int? = nil,
        lease: Duration = .seconds(30), stop: StopSignal = StopSignal(), outage: Outage = Outage()
    ) async throws -> CoordinatedSummary {
        var own = try Spec(run.spec)
        if let concurrency { own.concurrency = max(1, concurrency) }
        let spec = own
        try UnitLoop.requireSameVersion(spec.version, run: run.id)
        let budget = spec.rate == nil ? nil : FleetBudget(coordinator: coordinator, outage: outage)
        let input = FetchInput(
            path: spec.input, format: spec.template.map(FetchInputFormat.template) ?? .lines, method: spec.method,
            stop: stop)
        // Every unit in hand shares the worker's `concurrency` requests in flight.
        let slots = FlowController(limits: FlowLimits(maxConcurrency: spec.concurrency), clock: ContinuousClock())
        try await outage.run("joining \(run.id)") { try await coordinator.join(worker: worker) }
        return try await Fetcher.withFetcher(configuration: spec.fetcher(budget: budget)) { fetcher in
            // Two units' worth of requests in hand keeps the slots full while a unit commits.
            let capacity = max(2, (2 * spec.concurrency + spec.unitSize - 1) / spec.unitSize)
            return try await UnitLoop.run(
                run, coordinator: coordinator, store: store, worker: worker, capacity: capacity, lease: lease,
                stop: stop, outage: outage
            ) { lease in
                let items = Self.items(lease.payload, input: input)
                let records = try await withThrowingTaskGroup(of: FetchRecord.self) { group in
                    for item in items {
                        group.addTask {
                            var result: FetchResult?
                            if let request = item.request {
                                result = try await slots.withPermit(key: "requests") {
                                    await fetcher.fetch(request, stop: stop)
                                }
                            }
                            return FetchRecord(
                                item: item, result: result, jsonConfiguration: JSONReader.Configuration())
                        }
                    }
                    var records: [FetchRecord] = []
                    for try await record in group { records.append(record) }
                    return records.sorted { $0.line < $1.line }
                }
                return Self.outcome(records, runID: run.id, table: spec.table)
            }
        }
    }

    /// The items of a unit's payload, as `gather fetch` reads its input lines (blank and `#` lines skipped).
    static func items(_ payload: Value, input: FetchInput) -> [FetchItem] {
        guard case .object(let unit) = payload, case .array(let lines)? = unit["lines"] else { return [] }
        return lines.compactMap { line -> FetchItem? in
            guard case .array(let parts) = line, parts.count >= 2, let number = parts[0].intValue else { return nil }
            guard let text = parts[1].stringValue else {
                let length = parts.count > 2 ? Int(parts[2].intValue ?? 0) : 0
                return FetchItem.tooLong(line: Int(number), length: length, path: input.path)
            }
            return input.item(line: Int(number), bytes: Array(text.utf8), path: input.path)
        }
    }

    /// A unit's records as rows of the fetch table (the columns `gather fetch --into` writes).
    static func outcome(_ records: [FetchRecord], runID: String, table: String) -> UnitLoop.Outcome {
        let normalizer = Normalizer(table: table, lists: .json)
        let names = SQLiteFetchOutput.columns.map(\.name)
        var rows: [NormalizedRow] = []
        var errors = 0
        for record in records {
            var values = SQLiteFetchOutput.row(record, runID: runID)
            if !values[1].isNull, values[1].stringValue == nil { values[1] = .string(JSONWriter.string(values[1])) }
            normalizer.normalize(Record(zip(names, values).map { ($0, $1) }), key: "\(record.line)", into: &rows)
            if record.failed { errors += 1 }
        }
        var write = SinkBatch()
        if !rows.isEmpty { write.writes = [TableWrite(table: table, mode: .append, primaryKey: [], rows: rows)] }
        return UnitLoop.Outcome(write: write, tasks: records.count, results: records.count, errors: errors)
    }
}
