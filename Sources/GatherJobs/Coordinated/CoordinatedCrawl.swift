public import GatherCoordinator
public import GatherCore
public import GatherCrawl
public import GatherPostgres
import GatherStore

/// `gather crawl` spread over many hosts through a ``Coordinator``: the frontier is the run's queue. The process
/// that starts the run enqueues the start URLs (and the sitemaps' URLs) as units; it and every `gather worker`
/// claim URLs, fetch and extract each page with their own ``Crawler``, and commit the page's record, its error
/// row and counts together with its fenced completion and the links it found, enqueued as new units unless the
/// run has seen them before (``Coordinator/enqueueNew(run:keyed:limit:in:)``). So every page is recorded once,
/// whoever fetched it, and a worker that dies or stalls past its lease loses its pages to the others.
///
/// The run stores the crawl's own command-line arguments (its scope, extraction, limits), and each worker builds
/// its crawler from them; files they name (`--extract`) must be at the same path on every host. Each worker reads
/// robots.txt itself; a `Crawl-delay` and `--rate` hold for the fleet together (``FleetBudget``), `--per-host`
/// and `--concurrency` per worker. `--max-pages` caps the URLs the run ever enqueues (pages robots.txt disallows
/// count towards it, unlike on one machine).
public enum CoordinatedCrawl {
    /// What a worker needs to crawl a run's pages, as the run stores it.
    public struct Spec: Sendable, Equatable {
        /// The `gather crawl` arguments that shape the crawl (not those naming this process's outputs).
        public var arguments: [String]
        public var maxPages: Int?
        /// The Gather version that started the run: workers of another version refuse to join.
        public var version = GatherVersion.current

        public init(arguments: [String], maxPages: Int?) {
            self.arguments = arguments
            self.maxPages = maxPages
        }

        public init(_ value: Value) throws {
            guard case .object(let spec) = value, case .array(let arguments)? = spec["arguments"] else {
                throw CoordinatorError("the run's spec is not a crawl spec")
            }
            self.arguments = arguments.compactMap(\.stringValue)
            self.maxPages = spec["max_pages"]?.intValue.map { Int($0) }
            self.version = spec["gather_version"]?.stringValue ?? ""
        }

        var value: Value {
            var fields: [(String, Value)] = [
                ("arguments", .array(self.arguments.map(Value.string))), ("gather_version", .string(self.version)),
            ]
            if let maxPages = self.maxPages { fields.append(("max_pages", .int(Int64(maxPages)))) }
            return .object(Record(fields))
        }
    }

    /// The run of the crawl `arguments` describe (named by `name`, the crawl's name, and a hash of them): the same
    /// crawl again is the same run.
    public static func plan(name: String, arguments: [String], maxPages: Int?) -> RunInfo {
        let spec = Spec(arguments: arguments, maxPages: maxPages)
        let hash = UnitLoop.hash(JSONWriter.string(spec.value))
        return RunInfo(id: "crawl-\(name)-\(hash)", kind: "crawl", spec: spec.value, configHash: hash)
    }

    /// Registers `run` and enqueues `crawler`'s start pages as its first units, once (``Seeder``); they are
    /// marked seen first, so a page that links back to them adds nothing.
    public static func register(
        _ run: RunInfo, crawler: Crawler, coordinator: Coordinator, outage: Outage = Outage()
    ) async throws {
        let registration = try await outage.run("registering \(run.id)") {
            try await coordinator.register(run: run.id, kind: "crawl", configHash: run.configHash, spec: run.spec)
        }
        guard var seeder = Seeder(coordinator: coordinator, run: run.id, registration: registration, outage: outage)
        else { return }
        var seeds = await crawler.seedURLs()
        if let limit = try Spec(run.spec).maxPages { seeds = Array(seeds.prefix(max(0, limit))) }
        _ = try await outage.run("recording the start pages of \(run.id)") {
            try await coordinator.markSeen(run: run.id, keys: seeds)
        }
        for url in seeds { try await seeder.add(Self.payload(url: url, depth: 0)) }
        try await seeder.finish()
    }

    /// Works on `run` until no page is left (or `stop` fires): claims pages (`capacity` in hand), fetches and
    /// extracts them with `crawler`, and commits each page with its fenced completion and the new links it found.
    public static func work(
        run: RunInfo, crawler: Crawler, coordinator: Coordinator, store: PostgresStore, worker: String,
        capacity: Int, lease: Duration = .seconds(30), stop: StopSignal = StopSignal(), outage: Outage = Outage()
    ) async throws -> CoordinatedSummary {
        let spec = try Spec(run.spec)
        try UnitLoop.requireSameVersion(spec.version, run: run.id)
        try await outage.run("joining \(run.id)") { try await coordinator.join(worker: worker) }
        return try await UnitLoop.run(
            run, coordinator: coordinator, store: store, worker: worker, capacity: max(1, capacity), lease: lease,
            stop: stop, outage: outage
        ) { lease in
            guard case .object(let unit) = lease.payload, let url = unit["url"]?.stringValue else {
                throw CoordinatorError("unit \(lease.unit) of \(run.id) is not a page")
            }
            let entry = FrontierEntry(seq: lease.unit, url: url, depth: Int(unit["depth"]?.intValue ?? 0))
            guard var (write, _) = await crawler.page(entry, runID: run.id) else {
                throw CoordinatorError("the crawler of \(run.id) was stopped with \(url) in hand")
            }
            var found: [(key: String, payload: Value)] = []
            for change in write.frontier {
                if case .discover(_, let url, let depth) = change {
                    found.append((url, Self.payload(url: url, depth: depth)))
                }
            }
            write.frontier = []
            let counts = write.counts.first
            return UnitLoop.Outcome(
                write: write, tasks: 1, results: counts?.rows ?? 0, errors: counts?.errors ?? 0, followUps: found,
                followUpLimit: spec.maxPages.map(Int64.init))
        }
    }

    static func payload(url: String, depth: Int) -> Value {
        .object(Record([("url", .string(url)), ("depth", .int(Int64(depth)))]))
    }
}
