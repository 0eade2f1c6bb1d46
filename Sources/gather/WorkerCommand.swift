import ArgumentParser
import Gather
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// `gather worker postgres://…`: joins the runs a coordinator database holds and works on their units.
struct WorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract:
            "Join the runs of a coordinator database (`gather run`, `map`, `fetch`, `load` or `crawl` with --coordinator) and work on them.",
        discussion: """
            The worker claims units of every running run (FOR UPDATE SKIP LOCKED), runs them (map units on its \
            own worker processes, fetch units with its own HTTP client, load units by parsing their file block), \
            and commits each unit's results together with its completion, fenced by the unit's epoch: \
            a worker whose lease ran out (killed, paused, cut off) writes nothing, and another redoes its units. \
            Without --wait it exits when no run is left; with --wait it waits for new runs.

            Today the coordinator runs `gather map` units (the run stores the worker command, its environment and \
            the results table), `gather fetch` units (input lines; a host's --rate holds for the whole fleet, \
            taken from one budget in the database in small grants) and `gather load` units (blocks of files that \
            start and end at record boundaries; every host must see the files at the same paths). \
            --concurrency (else --workers) is the number of blocks a worker parses at once. Crawl units are pages: the run keeps the crawl's \
            arguments, and each page's new links are enqueued with its record. Pipeline units are work items \
            and the pages of counted paginators (`gather run --coordinator`): each page commits with the item's \
            state, its fence checked, and the dependent items it found; the pipeline file must be the same on \
            every host.

            Exit codes: 0 done; 1 units failed; 2 usage error; 3 fatal error; 130 interrupted.
            """
    )

    @Argument(help: "The coordinator database, postgres://…")
    var coordinator: String

    @Option(name: .long, help: "This worker's name (default: HOST-PID).")
    var name: String?

    @Option(name: [.short, .long], help: "Worker processes: a number, or auto for one per core.")
    var workers: String = "auto"

    @Option(
        name: [.short, .long],
        help: ArgumentHelp(
            "Work in flight on this worker: requests at once for fetch runs, items in hand for pipeline runs, "
                + "pages for crawl runs, blocks at once for load runs (default: what the run was started with; "
                + "load: --workers). Map runs use --workers.",
            discussion:
                "Limits the run sets per host, and the fleet's shared rates, still hold; a pipeline's own `*` "
                + "concurrency limit too (else --concurrency is also its requests per host)."))
    var concurrency: Int?

    @Option(name: .long, help: "How long a claimed unit stays this worker's without a heartbeat.")
    var lease: String = "30s"

    @Flag(name: .long, help: "Keep waiting for new runs instead of exiting when none is left.")
    var wait = false

    @Flag(name: [.short, .long], help: "No summary on stderr.")
    var quiet = false

    @OptionGroup(title: "Watching")
    var observability: ObservabilityOptions

    static var defaultName: String {
        var buffer = [CChar](repeating: 0, count: 256)
        gethostname(&buffer, buffer.count - 1)
        let host = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return "\(host)-\(getpid())"
    }

    func run() async throws {
        let url = try Self.url(self.coordinator)
        var processes = ProcessPool.Configuration(command: ["true"]).workers
        if self.workers != "auto" {
            guard let count = Int(self.workers), count >= 1 else {
                throw JobError.usage("--workers \(self.workers): give a number of processes, or auto")
            }
            processes = count
        }
        let workers = processes
        let lease: Duration
        do {
            lease = try Duration(parsing: self.lease)
        } catch {
            throw JobError.usage("--lease: \(error)")
        }
        if let concurrency = self.concurrency, concurrency < 1 {
            throw JobError.usage("--concurrency \(concurrency): give a number of 1 or more")
        }
        let concurrency = self.concurrency
        let name = self.name ?? Self.defaultName
        let wait = self.wait
        let quiet = self.quiet
        let outcome = try await self.observability.run(
            {
                try await Self.withCoordinator(url) { coordinator, store in
                    try await Self.work(
                        coordinator: coordinator, store: store, url: url, name: name, workers: workers,
                        concurrency: concurrency, lease: lease, wait: wait, quiet: quiet)
                }
            }, summary: { Self.value($0.summaries, worker: name) })
        if outcome.stopped { throw ExitCode(130) }
        if outcome.failed { throw ExitCode(1) }
    }

    /// The kinds of run a worker joins.
    static let kinds: Set<String> = ["map", "fetch", "load", "crawl", "pipeline"]

    /// The runs' summaries as JSON (`--summary-json`).
    static func value(_ summaries: [CoordinatedSummary], worker: String) -> Value {
        .object(Record([("worker", .string(worker)), ("runs", .array(summaries.map(\.value)))]))
    }

    /// Works on every open run until none is left (or, with `wait`, until a signal).
    static func work(
        coordinator: Coordinator, store: PostgresStore, url: PostgresURL, name: String, workers: Int,
        concurrency: Int? = nil, lease: Duration, wait: Bool, quiet: Bool
    ) async throws -> (failed: Bool, stopped: Bool, summaries: [CoordinatedSummary]) {
        let stop = StopSignal()
        let outage = Self.outage(name: "gather worker \(name)", quiet: quiet)
        // A signal also rings the doorbell, so an idle worker (`--wait`) stops at once, not at its next look.
        let idle = Mutex<Doorbell?>(nil)
        return try await GracefulStop.run(
            message: "no new units; units in hand finish and are saved (the others go back to the queue)",
            stop: {
                stop.stop()
                idle.withLock { $0 }?.ring()
            }
        ) {
            try await coordinator.withWakeups { bell in
                idle.withLock { $0 = bell }
                var failed = false
                var summaries: [CoordinatedSummary] = []
                while !stop.isStopped {
                    let runs = try await outage.run("looking for runs") {
                        try await coordinator.openRuns().filter { Self.kinds.contains($0.kind) }
                    }
                    if runs.isEmpty {
                        if !wait { break }
                        // A new run enqueues its units, which rings the doorbell.
                        await bell.wait(timeout: .seconds(5))
                        continue
                    }
                    for run in runs where !stop.isStopped {
                        let summary: CoordinatedSummary
                        switch run.kind {
                        case "fetch":
                            summary = try await CoordinatedFetch.work(
                                run: run, coordinator: coordinator, store: store, worker: name,
                                concurrency: concurrency, lease: lease, stop: stop, outage: outage)
                        case "pipeline":
                            summary = try await RunCommand.work(
                                run: run,
                                pipeline: try await RunCommand.pipeline(of: run, coordinator: url.description),
                                coordinator: coordinator, store: store, worker: name, concurrency: concurrency,
                                lease: lease, stop: stop, outage: outage)
                        case "crawl":
                            let (options, fetcher) = try CrawlCommand.options(of: run, concurrency: concurrency)
                            summary = try await CrawlCommand.work(
                                run: run, options: options, fetcher: fetcher, coordinator: coordinator,
                                store: store, worker: name, lease: lease, stop: stop, outage: outage)
                        case "load":
                            summary = try await CoordinatedLoad.work(
                                run: run, coordinator: coordinator, store: store, worker: name,
                                capacity: concurrency ?? workers, lease: lease, stop: stop, outage: outage)
                        default:
                            summary = try await CoordinatedMap.work(
                                run: run, coordinator: coordinator, store: store, worker: name, workers: workers,
                                lease: lease, stop: stop, outage: outage)
                        }
                        let progress = try await Self.finish(run.id, coordinator: coordinator, name: name, outage)
                        if !quiet {
                            Terminal.error(Self.render(summary, worker: name, run: run.id, progress: progress))
                        }
                        failed = failed || progress.failed > 0 || summary.errors > 0
                        summaries.append(summary)
                    }
                }
                return (failed, stop.isStopped, summaries)
            }
        }
    }

    /// What `gather fetch`, `load` and `crawl` do with `--coordinator`: connect, then `body` (which registers the
    /// run and works on it like any `gather worker`, until no unit is left or a signal stops it), then hand back
    /// what this process still holds. Returns `body`'s result, where the run stands, and whether it was stopped.
    static func shareRun<T: Sendable>(
        _ command: String, run: RunInfo, url: PostgresURL, name: String, quiet: Bool,
        observability: ObservabilityOptions, summary: @escaping @Sendable (T) -> CoordinatedSummary,
        _ body: @escaping @Sendable (Coordinator, PostgresStore, StopSignal, Outage) async throws -> T
    ) async throws -> (result: T, progress: QueueProgress, stopped: Bool) {
        try await observability.run(
            {
                try await Self.withCoordinator(url) { coordinator, store in
                    let outage = Self.outage(name: "gather \(command)", quiet: quiet)
                    if !quiet {
                        Terminal.error("gather \(command): run \(run.id) on \(url); `gather worker \(url)` joins it")
                    }
                    let stop = StopSignal()
                    return try await GracefulStop.run(
                        message: "no new units; units in hand finish and are saved (the others go back to the queue)",
                        stop: { stop.stop() }
                    ) {
                        let result = try await body(coordinator, store, stop, outage)
                        let progress = try await Self.finish(run.id, coordinator: coordinator, name: name, outage)
                        return (result, progress, stop.isStopped)
                    }
                }
            }, summary: { Self.value([summary($0.0)], worker: name) })
    }

    /// The whole run's counts so far: every worker's, committed with their units.
    static func totals(of run: String, store: PostgresStore, _ outage: Outage) async throws -> ResourceCounts {
        var totals = ResourceCounts(runID: run, resource: "")
        let counts = try await outage.run("reading the counts of \(run)") { try await store.counts(runID: run) }
        for part in counts { totals.add(part) }
        return totals
    }

    /// How a shared run whose rows are counted (`load`, `run`) ends: this process's summary and the run's counts
    /// (`lead` says what was read), then exit 130 when stopped, 1 when any unit failed or wrote error rows.
    static func end(
        _ outcome: (result: (CoordinatedSummary, ResourceCounts), progress: QueueProgress, stopped: Bool),
        worker: String, run: String, url: PostgresURL, quiet: Bool, lead: (ResourceCounts) -> String
    ) throws {
        let (summary, totals) = outcome.result
        if !quiet {
            Terminal.error(Self.render(summary, worker: worker, progress: outcome.progress))
            Terminal.error(
                "the run so far: \(lead(totals)), \(totals.rows) rows, \(totals.errors) error rows in \(url) "
                    + "(error rows in _gather_errors, run \(run))")
        }
        if outcome.stopped { throw ExitCode(130) }
        if outcome.progress.failed > 0 || totals.errors > 0 { throw ExitCode(1) }
    }

    /// The worker's way through an unreachable coordinator: retried for a minute, with a line on stderr when it
    /// stops answering and one when it is back (unless `quiet`).
    static func outage(name: String, quiet: Bool) -> Outage {
        Outage(report: { line in if !quiet { Terminal.error("\(name): \(line)") } })
    }

    /// After working on run `id`: hands back what this worker still holds, and says where the run stands.
    static func finish(_ id: String, coordinator: Coordinator, name: String, _ outage: Outage) async throws
        -> QueueProgress
    {
        try await outage.run("handing back the units of \(id)") {
            try await coordinator.release(run: id, worker: name)
        }
        return try await outage.run("reading the progress of \(id)") { try await coordinator.progress(run: id) }
    }

    /// A coordinator URL, or a usage error that says what is wrong with it.
    static func url(_ text: String) throws -> PostgresURL {
        do {
            return try PostgresURL(text)
        } catch {
            throw JobError.usage("\(error)")
        }
    }

    /// Connects to the coordinator database (its tables created if missing) and a store on the same database
    /// for the results, runs `body`, and closes both however it ends.
    static func withCoordinator<T: Sendable>(
        _ url: PostgresURL, _ body: (Coordinator, PostgresStore) async throws -> T
    ) async throws -> T {
        let server: PostgresServer
        do {
            server = try await PostgresServer.connect(url)
        } catch {
            throw JobError.usage("\(error)")
        }
        let coordinator = Coordinator(server: server)
        let store: PostgresStore
        do {
            try await coordinator.install()
            store = try await PostgresStore.open(url)
        } catch {
            await server.close()
            throw error
        }
        do {
            let result = try await body(coordinator, store)
            await store.close()
            await server.close()
            return result
        } catch {
            await store.close()
            await server.close()
            throw error
        }
    }

    static func render(
        _ summary: CoordinatedSummary, worker: String, run: String? = nil, progress: QueueProgress
    ) -> String {
        let place = run.map { " on \($0)" } ?? ""
        let here =
            "\(TextTable.count(summary.units, "unit")) (\(summary.tasks) tasks, \(summary.results) results, "
            + "\(summary.errors) error rows) here"
        var lost = summary.fenced > 0 ? ", \(summary.fenced) lost to others after the lease ran out" : ""
        if summary.unsure > 0 {
            lost += ", \(summary.unsure) whose commit lost its reply (written here, or by another after the lease)"
        }
        let left = progress.ready + progress.leased + progress.expired
        let whole =
            "the run: \(progress.done) of \(progress.total) units done, \(progress.failed) failed, \(left) left"
        return "gather worker \(worker)\(place): \(here)\(lost); \(whole)"
    }
}

/// `gather status postgres://…`: the runs of a coordinator database and its workers.
struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract:
            "Show the runs of a coordinator database, their units by state, the workers' last heartbeats, and the "
            + "fleet's rate limits per host.")

    @Argument(help: "The coordinator database, postgres://…")
    var coordinator: String

    func run() async throws {
        let url = try WorkerCommand.url(self.coordinator)
        try await WorkerCommand.withCoordinator(url) { coordinator, _ in
            var runs = [["run", "kind", "state", "total", "done", "ready", "leased", "expired", "failed"]]
            for row in try await coordinator.server.query(
                "SELECT run_id, kind, state FROM gather_runs ORDER BY created_at")
            {
                let id = row[0].stringValue ?? ""
                let progress = try await coordinator.progress(run: id)
                runs.append([
                    id, row[1].stringValue ?? "", row[2].stringValue ?? "", "\(progress.total)", "\(progress.done)",
                    "\(progress.ready)", "\(progress.leased)", "\(progress.expired)", "\(progress.failed)",
                ])
            }
            print("runs:\n" + TextTable.render(runs).joined(separator: "\n"))
            var workers = [["worker", "last heartbeat", "units held"]]
            for row in try await coordinator.server.query(
                """
                SELECT w.name, round(extract(epoch FROM now() - w.heartbeat_at))::bigint,
                    (SELECT count(*) FROM gather_units AS u WHERE u.owner = w.name AND u.state = 'leased')
                FROM gather_workers AS w ORDER BY w.heartbeat_at DESC
                """)
            {
                workers.append([row[0].stringValue ?? "", "\(row[1].intValue ?? 0) s ago", "\(row[2].intValue ?? 0)"])
            }
            print("workers:\n" + TextTable.render(workers).joined(separator: "\n"))
            let budgets = try await coordinator.budgets()
            if !budgets.isEmpty {
                var limits = [["host", "rate", "granted", "paused"]]
                for budget in budgets {
                    let rate = budget.rate == budget.rate.rounded() ? "\(Int(budget.rate))" : "\(budget.rate)"
                    limits.append([
                        budget.key, rate + "/s", "\(budget.granted)",
                        budget.pausedFor.map { "\(Int(($0.seconds).rounded(.up))) s more" } ?? "",
                    ])
                }
                print(
                    "limits (one budget per host, shared by every worker):\n"
                        + TextTable.render(limits).joined(separator: "\n"))
            }
        }
    }
}
