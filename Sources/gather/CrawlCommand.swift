import ArgumentParser
import Gather
import Synchronization

/// `gather crawl URL...`: a polite, resumable crawl that extracts fields from every page.
struct CrawlCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "crawl",
        abstract: "Crawl web pages politely and resumably, extracting fields with CSS or XPath selectors.",
        discussion: """
            From the start URLs (and --sitemap), every page's links are followed (all a[href], or --follow) while \
            they stay in scope (--same-host, --domain, --prefix, --allow, --deny, --max-depth). robots.txt is \
            obeyed (RFC 9309; Crawl-delay paces the host) unless --ignore-robots. Each host gets at most \
            --per-host requests at once; 429/503 and Retry-After slow it down.

            Every page answered becomes a record (or, with a spec's list selector, one record per match) with \
            url, depth, status, fetched_at and the fields of --extract FILE.yaml and -e:
              -e 'title=css:title::text' -e 'price=css:span.price::text' -e 'links[]=xpath://a/@href'
            (NAME[]= keeps all matches as a list). Failed pages become error rows.

            The frontier and the seen-set live in the destination (--into DB, or beside --out FILE.jsonl), \
            committed with each page's record: a crawl that was killed continues where it stopped, fetching \
            again at most the pages that were in flight. A finished crawl keeps its frontier: the same command \
            again fetches only URLs not seen yet (a new start URL, the rest of a crawl cut short by --max-pages, \
            which then caps this run's new pages) and, when there are none, does nothing and says so. --fresh \
            forgets the frontier and crawls again from the start.

            Exit codes: 0 done; 1 done with error rows; 2 usage error; 3 fatal error; 130 interrupted.
            """
    )

    @Argument(help: "Start URLs.")
    var urls: [String] = []

    @Option(
        name: [.customShort("e"), .customLong("field")],
        help: "A field: NAME=css:SELECTOR or NAME=xpath:EXPR (repeatable).")
    var fields: [String] = []

    @Option(name: .long, help: "A YAML extraction spec (fields, list); see `gather help extract`.")
    var extract: String?

    @Option(name: .long, help: "Follow only the links this selector finds (elements with href, or href values).")
    var follow: String?

    @Option(name: .long, help: "A sitemap whose URLs start the crawl too (repeatable).")
    var sitemap: [String] = []

    @Flag(name: .long, help: "Stay on the start URLs' hosts.")
    var sameHost = false

    @Option(name: .long, help: "Stay on this domain and its subdomains (repeatable).")
    var domain: [String] = []

    @Option(name: .long, help: "Only URLs starting with this prefix (repeatable).")
    var prefix: [String] = []

    @Option(name: .long, help: "Only URLs matching this regular expression (repeatable).")
    var allow: [String] = []

    @Option(name: .long, help: "Never URLs matching this regular expression (repeatable).")
    var deny: [String] = []

    @Option(name: .long, help: "The deepest page to fetch (start URLs are depth 0).")
    var maxDepth: Int?

    @Option(name: .long, help: "Stop after fetching this many pages.")
    var maxPages: Int?

    @Option(name: [.short, .long], help: "Pages in flight in all.")
    var concurrency: Int = 16

    @OptionGroup(title: "Limits")
    var http: HTTPOptions

    @Flag(name: .long, help: "Do not read or obey robots.txt.")
    var ignoreRobots = false

    @Flag(name: .long, help: "Record a page under its <link rel=canonical> URL.")
    var canonical = false

    @Flag(name: .long, help: "Treat URLs that differ only in query parameter order as one page.")
    var sortQuery = false

    @Option(name: .long, help: "Write records to this database (x.db, postgres://…) or file (x.jsonl, x.csv).")
    var into: String?

    @Option(name: .long, help: "Write records as JSON Lines to this file (same as --into FILE.jsonl).")
    var out: String?

    @Option(name: .long, help: "The table for --into.")
    var table: String = "pages"

    @Option(name: .long, help: "The crawl's name: its state is kept under it in the destination.")
    var name: String = "crawl"

    @OptionGroup(title: "Retries")
    var retry: RetryOptions

    @Flag(name: .long, help: "Start over: forget the frontier of an unfinished or finished crawl.")
    var fresh = false

    @Flag(name: [.short, .long], help: "No progress and no summary on stderr.")
    var quiet = false

    @OptionGroup(title: "Scale-out")
    var scale: CoordinatorLink

    @OptionGroup(title: "Watching")
    var observability: ObservabilityOptions

    /// The crawl these flags describe, and the HTTP client it needs.
    func makeCrawl() throws -> (CrawlOptions, Fetcher.Configuration) {
        guard !self.urls.isEmpty || !self.sitemap.isEmpty else {
            throw JobError.usage("give at least one start URL (or --sitemap URL)")
        }
        var options = CrawlOptions(start: self.urls)
        options.sitemaps = self.sitemap
        do {
            if let path = self.extract { options.extraction = try ExtractionConfig.load(path: path) }
            options.extraction.fields += try self.fields.map { try ExtractionField(argument: $0) }
            options.follow = try self.follow.map { try Selector($0) }
            for pattern in self.allow + self.deny { _ = try Regex(pattern) }
        } catch {
            throw JobError.usage("\(error)")
        }
        for url in self.urls where options.scope.canonical(url) == nil {
            throw JobError.usage("\(url) is not an http(s) URL")
        }
        options.scope.sameHost = self.sameHost
        options.scope.domains = self.domain
        options.scope.prefixes = self.prefix
        options.scope.allow = self.allow
        options.scope.deny = self.deny
        options.scope.sortQuery = self.sortQuery
        options.maxDepth = self.maxDepth
        options.maxPages = self.maxPages
        options.concurrency = max(1, self.concurrency)
        options.perHost = self.http.perHost
        options.obeyRobots = !self.ignoreRobots
        options.useCanonical = self.canonical
        options.table = self.table
        options.name = self.name
        options.fresh = self.fresh
        var fetcher = Fetcher.Configuration()
        do {
            try self.http.apply(to: &fetcher, concurrency: options.concurrency, capPerHost: true)
            try self.retry.apply(to: &fetcher.retry)
        } catch {
            throw JobError.usage("\(error)")
        }
        fetcher.maxRedirects = 0  // the crawler follows redirects itself, through the frontier
        fetcher.headers.removeAll { $0.name.lowercased() == "accept" }
        fetcher.headers.append((name: "Accept", value: "text/html,application/xhtml+xml;q=0.9,*/*;q=0.5"))
        return (options, fetcher)
    }

    func run() async throws {
        let (options, fetcher) = try self.makeCrawl()
        let target = self.into ?? self.out
        guard let target else { throw JobError.usage("give --into DEST or --out FILE.jsonl") }
        let destination: Destination
        do {
            destination = try Destination(target)
        } catch {
            throw JobError.usage("--into: \(error)")
        }
        if let url = try self.scale.url(into: destination) {
            try await self.runCoordinated(options, fetcher: fetcher, url: url)
            return
        }

        let stop = StopSignal()
        let quiet = self.quiet
        let configuration = fetcher
        let crawlOptions = options
        let summary: CrawlSummary
        let digest = Mutex(ErrorDigest())
        do {
            summary = try await destination.withSink(connections: 2) { opened in
                let sink = DigestingSink(opened)
                defer { digest.withLock { $0 = sink.digest } }
                return try await self.observability.run(
                    {
                        try await GracefulStop.run(
                            message: "stopping; pages being fetched are dropped and fetched again next time "
                                + "(signal again to stop now; `gather crawl` continues where this stopped)",
                            stop: { stop.stop() }
                        ) {
                            try await Fetcher.withFetcher(configuration: configuration) { fetcher in
                                let crawler = try Crawler(
                                    sink: sink, fetcher: fetcher, options: crawlOptions, stop: stop)
                                let progress = quiet ? nil : CrawlProgress(crawler: crawler)
                                defer { progress?.stop() }
                                return try await crawler.run()
                            }
                        }
                    }, summary: { $0.value })
            }
        } catch let error as ExitCode {
            throw error
        } catch {
            throw JobError.fatal("\(error) (run the same command again to continue)")
        }
        if summary.outcome == CrawlSummary.alreadyCrawled {
            if !quiet {
                Terminal.error(
                    "gather crawl: already crawled (run \(summary.runID) fetched \(TextTable.count(summary.pages, "page"))"
                        + ", \(TextTable.count(summary.records, "record"))) into \(destination.description); nothing new "
                        + "in the frontier; --fresh crawls again from the start")
            }
            return
        }
        if !quiet {
            Terminal.error(
                "gather crawl: \(summary.outcome)\(summary.resumed ? " (resumed)" : "") in "
                    + "\(TextTable.decimal(Double(summary.elapsed.components.seconds) + Double(summary.elapsed.components.attoseconds) / 1e18)) s → \(destination.description) (run \(summary.runID))\n"
                    + "  \(TextTable.count(summary.pages, "page")) fetched, \(TextTable.count(summary.records, "record")), "
                    + "\(TextTable.count(summary.errors, "error row")), \(summary.disallowed) disallowed by robots.txt"
                    + digest.withLock { $0 }.render(rows: destination.errorRows(runID: summary.runID)).map {
                        "\n" + $0
                    }.joined())
        }
        if summary.outcome == "interrupted" { throw ExitCode(130) }
        if summary.errors > 0 { throw ExitCode(1) }
    }
}

extension CrawlCommand {
    /// `gather crawl --coordinator URL`: registers the crawl (its start pages become units; the run keeps the
    /// crawl's arguments for the workers), then crawls like any `gather worker` until no page is left.
    func runCoordinated(_ options: CrawlOptions, fetcher: Fetcher.Configuration, url: PostgresURL) async throws {
        let (lease, name, quiet) = (try self.scale.leaseDuration(), WorkerCommand.defaultName, self.quiet)
        let run = CoordinatedCrawl.plan(
            name: options.name, arguments: Self.definingArguments(Self.ownArguments()), maxPages: options.maxPages)
        let outcome = try await WorkerCommand.shareRun(
            "crawl", run: run, url: url, name: name, quiet: quiet, observability: self.observability,
            summary: { $0 }
        ) { coordinator, store, stop, outage in
            try await Self.work(
                run: run, options: options, fetcher: fetcher, coordinator: coordinator, store: store, worker: name,
                lease: lease, stop: stop, outage: outage, registering: true)
        }
        if !quiet {
            Terminal.error(WorkerCommand.render(outcome.result, worker: name, progress: outcome.progress))
            Terminal.error("records: \(url), table \(options.table) (error rows in _gather_errors, run \(run.id))")
        }
        if outcome.stopped { throw ExitCode(130) }
        if outcome.progress.failed > 0 || outcome.result.errors > 0 { throw ExitCode(1) }
    }

    /// Crawls `run`'s pages with a crawler made of `options` (registering the run first when `registering`):
    /// what `gather crawl --coordinator` and `gather worker` both do. A host's `--rate` and any `Crawl-delay`
    /// hold for the fleet.
    static func work(
        run: RunInfo, options: CrawlOptions, fetcher: Fetcher.Configuration, coordinator: Coordinator,
        store: PostgresStore, worker: String, lease: Duration, stop: StopSignal, outage: Outage,
        registering: Bool = false
    ) async throws -> CoordinatedSummary {
        var configuration = fetcher
        configuration.sharedBudget = FleetBudget(coordinator: coordinator, outage: outage)
        return try await Fetcher.withFetcher(configuration: configuration) { fetcher in
            // Its own stop signal: a page in hand is fetched to its end and saved.
            let crawler = try Crawler(sink: store, fetcher: fetcher, options: options)
            if registering {
                try await CoordinatedCrawl.register(run, crawler: crawler, coordinator: coordinator, outage: outage)
            }
            return try await CoordinatedCrawl.work(
                run: run, crawler: crawler, coordinator: coordinator, store: store, worker: worker,
                capacity: options.concurrency, lease: lease, stop: stop, outage: outage)
        }
    }

    /// `gather worker`'s side: the crawl the run's stored arguments describe.
    /// The crawl `run` describes, as this worker runs it: `concurrency` (`gather worker --concurrency`) in place of
    /// the run's.
    static func options(of run: RunInfo, concurrency: Int? = nil) throws -> (CrawlOptions, Fetcher.Configuration) {
        let spec = try CoordinatedCrawl.Spec(run.spec)
        do {
            var command = try Self.parse(spec.arguments)
            if let concurrency { command.concurrency = concurrency }
            return try command.makeCrawl()
        } catch let error as JobError {
            throw error
        } catch {
            throw JobError.usage("run \(run.id): its crawl arguments do not parse here: \(error)")
        }
    }

    /// This process's arguments after `crawl`.
    static func ownArguments() -> [String] {
        let all = Array(CommandLine.arguments.dropFirst())
        guard let index = all.firstIndex(of: "crawl") else { return all }
        return Array(all[(index + 1)...])
    }

    /// `arguments` without those that name this process's outputs and coordinator rather than the crawl (so two
    /// hosts starting the same crawl with other `--summary-json` files join one run).
    static func definingArguments(_ arguments: [String]) -> [String] {
        let valued: Set<String> = [
            "--coordinator", "--lease", "--into", "--out", "--metrics", "--metrics-linger", "--summary-json",
            "--otlp-endpoint",
        ]
        let flags: Set<String> = ["--quiet", "-q", "--fresh"]
        var kept: [String] = []
        var skipNext = false
        for argument in arguments {
            if skipNext {
                skipNext = false
                continue
            }
            let name = String(argument.split(separator: "=", maxSplits: 1).first ?? "")
            if flags.contains(argument) { continue }
            if valued.contains(name) {
                skipNext = !argument.contains("=")
                continue
            }
            kept.append(argument)
        }
        return kept
    }
}

/// A progress line on stderr every 2 seconds while a crawl runs.
final class CrawlProgress: Sendable {
    private let task: Task<Void, Never>

    init(crawler: Crawler) {
        self.task = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(2))
                if Task.isCancelled { break }
                let now = crawler.current
                Terminal.error(
                    "[crawl] \(TextTable.count(now.pages, "page")), \(TextTable.count(now.records, "record")), "
                        + "\(TextTable.count(now.errors, "error")), "
                        + "\(now.disallowed) disallowed")
            }
        }
    }

    func stop() { self.task.cancel() }
}
