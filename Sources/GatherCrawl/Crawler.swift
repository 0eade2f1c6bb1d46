public import GatherCore
public import GatherHTML
public import GatherHTTP
public import GatherStore
import NIOCore
import Synchronization

/// What a crawl starts from, what it follows, what it keeps, and how politely.
public struct CrawlOptions: Sendable {
    /// Start URLs (depth 0).
    public var start: [String]
    /// Sitemaps (`urlset` or `sitemapindex`) whose URLs are added at depth 0.
    public var sitemaps: [String] = []
    /// Fields taken from every page (default: none; records still carry `url`, `depth`, `status`, `fetched_at`).
    public var extraction = ExtractionSpec(fields: [])
    /// Links to follow (default: every `a[href]`). The selector selects `href` values or elements with one.
    public var follow: Selector?
    public var scope = CrawlScope()
    /// Pages deeper than this are not fetched (start URLs are depth 0).
    public var maxDepth: Int?
    /// Stop after fetching this many pages.
    public var maxPages: Int?
    /// Pages in flight at once.
    public var concurrency = 16
    /// Requests in flight per host (the flow controller's limit; `Crawl-delay` tightens it).
    public var perHost: Int?
    /// Obey robots.txt (RFC 9309): disallowed URLs are never fetched; `Crawl-delay` paces the host.
    public var obeyRobots = true
    /// Follow `<link rel="canonical">` instead of the fetched URL when recording a page.
    public var useCanonical = false
    /// The table (or file) records go to.
    public var table = "pages"
    /// The crawl's name: its runs are `_gather_runs` rows of pipeline `crawl:NAME`, its frontier scope `NAME`.
    public var name = "crawl"
    /// Start over instead of continuing an unfinished crawl.
    public var fresh = false
    /// The product token robots.txt groups are matched against.
    public var userAgent = "gather"
    /// Run inside a pipeline's run (its id, and whether that run is being resumed): the crawl keeps no run row of
    /// its own and counts under the pipeline's run.
    public var pipelineRun: (runID: String, resumed: Bool)?

    public init(start: [String]) {
        self.start = start
    }
}

/// What a crawl did.
public struct CrawlSummary: Sendable {
    public var runID: String
    public var outcome: String
    public var resumed: Bool
    /// Pages fetched (any status).
    public var pages = 0
    /// Records written.
    public var records = 0
    /// Failed pages (error rows).
    public var errors = 0
    /// URLs robots.txt disallowed.
    public var disallowed = 0
    public var elapsed: Duration = .zero
    /// The outcome of a re-run of a finished crawl whose frontier holds nothing new: nothing was fetched.
    public static let alreadyCrawled = "already crawled"

    /// The summary as a JSON object (`--summary-json`).
    public var value: Value {
        .object(
            Record([
                ("command", "crawl"), ("run_id", .string(self.runID)), ("outcome", .string(self.outcome)),
                ("resumed", .bool(self.resumed)), ("pages", .int(Int64(self.pages))),
                ("records", .int(Int64(self.records))), ("errors", .int(Int64(self.errors))),
                ("disallowed", .int(Int64(self.disallowed))), ("elapsed_s", .double(self.elapsed.seconds)),
            ]))
    }
}

/// A polite, resumable crawler: a frontier and seen-set on disk (the destination's `_gather_frontier`), each
/// page's record committed in one transaction with the links it discovered and its own "done" mark, so a
/// crawl killed at any point continues where it stopped, fetching again at most the pages that were in flight.
///
/// Pages are fetched through the ``Fetcher`` (its flow controller holds each host to `perHost` requests and to
/// any `Crawl-delay`, pauses on `Retry-After`, and backs off on 429/503), parsed with libxml2 and extracted with
/// an ``ExtractionSpec``. Memory holds only the pages in flight and a window of the queue, however large the
/// crawl.
public final class Crawler: Sendable {
    let sink: any Sink
    let fetcher: Fetcher
    let options: CrawlOptions
    let stop: StopSignal
    let robots: RobotsCache
    let normalizer: Normalizer
    let links: Selector
    let startHosts: Set<String>
    private let tally = Mutex(CrawlSummary(runID: "", outcome: "running", resumed: false))

    public init(
        sink: any Sink, fetcher: Fetcher, options: CrawlOptions, stop: StopSignal = StopSignal()
    ) throws {
        self.sink = sink
        self.fetcher = fetcher
        self.options = options
        self.stop = stop
        self.robots = RobotsCache(fetcher: fetcher, userAgent: options.userAgent, perHost: options.perHost)
        self.normalizer = Normalizer(table: options.table, lists: .json)
        self.links = try options.follow ?? Selector("css:a::attr(href)")
        self.startHosts = Set(options.start.compactMap { URLParts($0).host })
    }

    /// What the crawl has done so far (for progress).
    public var current: CrawlSummary { self.tally.withLock { $0 } }

    var scope: String { self.options.name }
    var pipeline: String { "crawl:" + self.options.name }

    /// Crawls until the frontier is empty, `maxPages` is reached, or `stop` fires.
    public func run() async throws -> CrawlSummary {
        let clock = ContinuousClock()
        let started = clock.now
        // On its own the crawl keeps its runs in the ledger; inside a pipeline, the pipeline's run is its run.
        let runID: String
        let resumed: Bool
        var ledger: RunLedger?
        if let embedded = self.options.pipelineRun {
            (runID, resumed) = (embedded.runID, embedded.resumed)
            if !resumed { try await self.sink.commit(try await self.seeds()) }
        } else {
            // After a finished crawl the frontier is kept: a re-run fetches only URLs it has not seen (new start
            // URLs, pages beyond an earlier --max-pages), and when there are none it does nothing.
            let previous = try await self.sink.lastRun(pipeline: self.pipeline)
            let incremental =
                !self.options.fresh && previous.flatMap { RunOutcome(rawValue: $0.outcome) }?.isFinished == true
            if incremental, let previous {
                try await self.sink.commit(try await self.seeds(reset: false))
                if try await self.sink.frontier(scope: self.scope, after: 0, limit: 1).isEmpty {
                    var summary = CrawlSummary(
                        runID: previous.runID, outcome: CrawlSummary.alreadyCrawled, resumed: false)
                    summary.pages = previous.pages
                    summary.records = previous.rowsWritten
                    summary.errors = previous.errors
                    summary.disallowed = previous.filtered
                    summary.elapsed = started.duration(to: clock.now)
                    return summary
                }
            }
            let begun = try await RunLedger.begin(sink: self.sink, pipeline: self.pipeline, fresh: self.options.fresh) {
                try await self.seeds(reset: !incremental)
            }
            (runID, resumed, ledger) = (begun.runID, begun.resumed, begun)
        }
        let already = try await self.sink.counts(runID: runID).first { $0.resource == self.options.name }
        self.tally.withLock {
            $0.runID = runID
            $0.resumed = resumed
            $0.pages = already?.pages ?? 0
            $0.records = already?.rows ?? 0
            $0.errors = already?.errors ?? 0
            $0.disallowed = already?.filtered ?? 0
        }

        try await self.crawl(runID: runID)

        var summary = self.tally.withLock { $0 }
        let stopped = self.stop.isStopped
        summary.elapsed = started.duration(to: clock.now)
        if let ledger {
            summary.outcome = try await ledger.finish(stopped: stopped).rawValue
        } else {
            summary.outcome = stopped ? "interrupted" : summary.errors > 0 ? "completed_with_errors" : "completed"
        }
        return summary
    }

    /// A new crawl's first batch: the frontier emptied (unless `reset` is false: a re-run of a finished crawl
    /// keeps what it has seen), then the start URLs and the sitemaps' URLs at depth 0.
    private func seeds(reset: Bool = true) async throws -> SinkBatch {
        var batch = SinkBatch()
        if reset { batch.frontier.append(.reset(scope: self.scope)) }
        for url in await self.seedURLs() {
            batch.frontier.append(.discover(scope: self.scope, url: url, depth: 0))
        }
        return batch
    }

    /// The pages a crawl starts from (depth 0): the start URLs, then the sitemaps' URLs, canonical, each once.
    public func seedURLs() async -> [String] {
        var seeds = self.options.start
        for sitemap in self.options.sitemaps { seeds += await self.sitemapURLs(sitemap) }
        var seen = Set<String>()
        return seeds.compactMap { self.options.scope.canonical($0) }.filter { seen.insert($0).inserted }
    }

    /// The scheduler: reads the queue from disk a window at a time, keeps `concurrency` pages in flight, and
    /// ends when nothing is in flight and nothing is queued.
    private func crawl(runID: String) async throws {
        let window = max(64, self.options.concurrency * 4)
        var cursor: Int64 = 0
        var queue: [FrontierEntry] = []
        var next = 0
        try await withThrowingTaskGroup(of: Bool.self) { group in
            var inFlight = 0
            var scheduled = self.tally.withLock { $0.pages }
            while true {
                if self.stop.isStopped { break }
                if next >= queue.count {
                    queue = try await self.sink.frontier(scope: self.scope, after: cursor, limit: window)
                    next = 0
                    if let last = queue.last { cursor = last.seq }
                }
                let limitReached = self.options.maxPages.map { scheduled >= $0 } ?? false
                while !limitReached, inFlight < self.options.concurrency, next < queue.count,
                    self.options.maxPages.map({ scheduled < $0 }) ?? true
                {
                    let entry = queue[next]
                    next += 1
                    inFlight += 1
                    scheduled += 1
                    group.addTask { try await self.visit(entry, runID: runID) }
                }
                if inFlight == 0 {
                    // Nothing in flight: the queue window is exhausted; read once more before ending, since the
                    // last commits may have discovered pages after the cursor.
                    if next >= queue.count {
                        let more = try await self.sink.frontier(scope: self.scope, after: cursor, limit: window)
                        if more.isEmpty || limitReached { break }
                        queue = more
                        next = 0
                        cursor = more.last?.seq ?? cursor
                    } else if limitReached {
                        break
                    }
                    continue
                }
                // A URL robots.txt disallowed was not fetched: it does not count towards maxPages.
                if try await group.next() == false { scheduled -= 1 }
                inFlight -= 1
            }
            try await group.waitForAll()
        }
    }

    /// Fetches one page (robots first), extracts its record and links, and commits them with its done mark.
    /// Returns whether it fetched (robots.txt may say no).
    ///
    /// A redirect is not followed here: its target is discovered like a link (same depth), so a page reached
    /// both directly and through a redirect is fetched once. Give the crawler a fetcher with `maxRedirects = 0`;
    /// one that follows redirects records each page under the URL that led to it.
    private func visit(_ entry: FrontierEntry, runID: String) async throws -> Bool {
        // In flight at a stop: fetched again next time.
        guard let (batch, fetched) = await self.page(entry, runID: runID) else { return true }
        try await self.sink.commit(batch)
        let counts = batch.counts.first ?? ResourceCounts(runID: runID, resource: self.options.name)
        self.tally.withLock {
            if fetched {
                $0.pages += 1
                $0.records += counts.rows
                $0.errors += counts.errors
            } else {
                $0.disallowed += 1
            }
        }
        return fetched
    }

    /// One page as the batch that commits it: its record, error row, counts, its `done` mark and the links it
    /// discovered (frontier changes), and whether it was fetched (`false`: robots.txt said no). `nil` when the
    /// fetch was cut off by a stop: the page is to be fetched again.
    public func page(_ entry: FrontierEntry, runID: String) async -> (batch: SinkBatch, fetched: Bool)? {
        var batch = SinkBatch()
        var counts = ResourceCounts(runID: runID, resource: self.options.name)
        batch.frontier.append(.done(scope: self.scope, url: entry.url))
        if self.options.obeyRobots, await !self.robots.allows(entry.url) {
            counts.filtered = 1
            batch.counts = [counts]
            return (batch, false)
        }
        let result = await self.fetcher.fetch(FetchRequest(url: entry.url), stop: self.stop)
        if self.stop.isStopped, result.error?.code == .cancelled { return nil }
        counts.requests = result.attempts
        counts.retries = max(0, result.attempts - 1)
        counts.pages = 1
        let fetchedAt = Timestamp.now()
        if let error = result.error {
            counts.errors = 1
            batch.errors.append(
                ErrorRow(
                    runID: runID, resource: self.options.name, request: entry.url, code: error.code.description,
                    message: error.message, payload: nil, at: fetchedAt))
        } else if let response = result.response, (300..<400).contains(response.status) {
            if let location = response.header("location"),
                let target = self.options.scope.canonical(URLEncoding.resolve(location, against: entry.url)),
                self.options.scope.contains(target, startHosts: self.startHosts)
            {
                batch.frontier.append(.discover(scope: self.scope, url: target, depth: entry.depth))
            }
        } else if let response = result.response {
            var body = response.body
            let bytes = body.readBytes(length: body.readableBytes) ?? []
            let media = response.mediaType ?? "text/html"
            var records: [Record] = []
            var discovered: [(String, Int)] = []
            if media.contains("html") || media.contains("xml") {
                do {
                    let document = try HTMLDocument(
                        bytes: bytes, url: entry.url, contentType: response.header("content-type"))
                    var pageURL = entry.url
                    if self.options.useCanonical,
                        let canonical = try? document.select(xpath: "//link[@rel='canonical'][1]/@href").first?.text,
                        let resolved = self.options.scope.canonical(URLEncoding.resolve(canonical, against: entry.url))
                    {
                        pageURL = resolved
                    }
                    for var record in self.options.extraction.records(in: document) {
                        record["url"] = .string(pageURL)
                        record["depth"] = .int(Int64(entry.depth))
                        record["status"] = .int(Int64(response.status))
                        record["fetched_at"] = .string(fetchedAt)
                        records.append(record)
                    }
                    if self.options.maxDepth.map({ entry.depth < $0 }) ?? true {
                        discovered = self.discover(in: document, depth: entry.depth + 1)
                    }
                } catch {
                    counts.errors = 1
                    batch.errors.append(
                        ErrorRow(
                            runID: runID, resource: self.options.name, request: entry.url, code: "html",
                            message: "\(error)", payload: nil, at: fetchedAt))
                }
            } else {
                records.append([
                    "url": .string(entry.url), "depth": .int(Int64(entry.depth)),
                    "status": .int(Int64(response.status)),
                    "fetched_at": .string(fetchedAt),
                ])
            }
            var rows: [NormalizedRow] = []
            for (index, record) in records.enumerated() {
                self.normalizer.normalize(record, key: "\(entry.url)#\(index)", into: &rows)
            }
            if !rows.isEmpty {
                batch.writes = [TableWrite(table: self.options.table, mode: .append, primaryKey: [], rows: rows)]
            }
            counts.records = records.count
            counts.written = records.count
            counts.rows = records.count
            for (url, depth) in discovered {
                batch.frontier.append(.discover(scope: self.scope, url: url, depth: depth))
            }
        }
        batch.counts = [counts]
        return (batch, true)
    }

    /// The in-scope links of `document`, canonical, without duplicates.
    func discover(in document: HTMLDocument, depth: Int) -> [(String, Int)] {
        let base = document.baseURL
        let scope = self.options.scope.matcher()  // patterns compiled once per page, not once per link
        var seen = Set<String>()
        var out: [(String, Int)] = []
        for node in self.links.select(in: document) {
            let href = node.isElement ? (node.attribute("href") ?? "") : node.text
            let trimmed = href.trimmingWhitespace()
            guard !trimmed.isEmpty, !trimmed.hasPrefix("#") else { continue }
            guard let url = self.options.scope.canonical(URLEncoding.resolve(trimmed, against: base)),
                scope.contains(url, startHosts: self.startHosts), seen.insert(url).inserted
            else { continue }
            out.append((url, depth))
        }
        return out
    }

    /// The page URLs of a sitemap (following a sitemap index one level down per nested index, at most 1,000).
    func sitemapURLs(_ url: String, nesting: Int = 0) async -> [String] {
        let result = await self.fetcher.fetch(FetchRequest(url: url))
        guard result.error == nil, var body = result.response?.body,
            let document = try? HTMLDocument(bytes: body.readBytes(length: body.readableBytes) ?? [], url: url)
        else { return [] }
        let nested = (try? document.select(xpath: "//sitemap/loc/text()"))?.map(\.text) ?? []
        var urls = (try? document.select(xpath: "//url/loc/text()"))?.map { $0.text.trimmingWhitespace() } ?? []
        if nesting < 3 {
            for child in nested.prefix(1000) {
                urls += await self.sitemapURLs(child.trimmingWhitespace(), nesting: nesting + 1)
            }
        }
        return urls
    }
}

/// robots.txt per host, fetched once (concurrent first requests share one fetch) and kept for the crawl. A 4xx
/// answer allows everything; a 5xx or a failed fetch disallows everything (RFC 9309 §2.3.1). A `Crawl-delay`
/// sets the host's flow limits to one request at a time, one per delay.
actor RobotsCache {
    let fetcher: Fetcher
    let userAgent: String
    let perHost: Int?
    private var entries: [String: Task<RobotsTxt, Never>] = [:]

    init(fetcher: Fetcher, userAgent: String, perHost: Int?) {
        self.fetcher = fetcher
        self.userAgent = userAgent
        self.perHost = perHost
    }

    func allows(_ url: String) async -> Bool {
        let parts = URLParts(url)
        guard let scheme = parts.scheme, let authority = parts.authority else { return false }
        let origin = scheme + "://" + authority
        let robots: RobotsTxt
        if let task = self.entries[origin] {
            robots = await task.value
        } else {
            let fetcher = self.fetcher
            let userAgent = self.userAgent
            let host = parts.host ?? authority
            let task = Task {
                await Self.fetch(origin + "/robots.txt", host: host, fetcher: fetcher, userAgent: userAgent)
            }
            self.entries[origin] = task
            robots = await task.value
        }
        return robots.allows(parts.path.isEmpty ? "/" : parts.path + (parts.query.map { "?" + $0 } ?? ""))
    }

    private static func fetch(_ url: String, host: String, fetcher: Fetcher, userAgent: String) async -> RobotsTxt {
        var request = FetchRequest(url: url)
        var retry = RetryPolicy()
        retry.maxAttempts = 2
        request.retry = retry
        let result = await fetcher.fetch(request)
        guard let response = result.response else { return .disallowAll }
        if response.status >= 500 { return .disallowAll }
        if response.status >= 400 { return .allowAll }
        var body = response.body
        let text = String(decoding: body.readBytes(length: min(body.readableBytes, 512 << 10)) ?? [], as: UTF8.self)
        let robots = RobotsTxt(parsing: text, userAgent: userAgent)
        if let delay = robots.crawlDelay, delay > .zero {
            var limits = fetcher.flow.limits(for: host)
            limits.maxConcurrency = 1
            limits.rate = Rate(count: 1, per: delay)
            fetcher.flow.setLimits(limits, for: host)
        }
        return robots
    }
}
