import GatherCore
import GatherCrawl
import GatherFiles
import GatherHTML
import GatherHTTP
import GatherSQLite
import GatherTesting
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// A fresh temporary folder.
func temporaryFolder() -> String {
    ScratchFolder.untilExit("crawl")
}

/// Crawls `site` from `/` into a new SQLite database, returning the summary and the database.
func crawl(
    _ site: CrawlSite, database: String? = nil, configure: (inout CrawlOptions) throws -> Void = { _ in }
) async throws -> (CrawlSummary, SQLiteDatabase) {
    let path = database ?? temporaryFolder() + "/crawl.db"
    var options = CrawlOptions(start: [site.baseURL + "/"])
    options.extraction = ExtractionSpec(fields: [
        try ExtractionField(argument: "title=css:title::text"),
        try ExtractionField(argument: "price=css:span.price::text"),
    ])
    options.scope.sameHost = true
    options.concurrency = 8
    try configure(&options)
    let store = try SQLiteStore(path: path)
    var configuration = Fetcher.Configuration()
    configuration.retry.initialBackoff = .milliseconds(5)
    configuration.maxRedirects = 0
    let summary = try await Fetcher.withFetcher(configuration: configuration) { fetcher in
        try await Crawler(sink: store, fetcher: fetcher, options: options).run()
    }
    return (summary, try SQLiteDatabase(path: path))
}

@Suite struct CrawlerTests {
    /// Every allowed page exactly once, never a disallowed one, quirks handled, fields extracted.
    @Test func crawlsEveryAllowedPageOnceAndExtractsFields() async throws {
        try await CrawlSite.withServer(.init(pageCount: 60)) { site in
            let (summary, db) = try await crawl(site)
            #expect(summary.outcome == "completed", "\(summary)")
            let urls = try db.query("SELECT url FROM pages").compactMap { $0.first?.stringValue }
            #expect(Set(urls) == site.expectedURLs(), "\(Set(urls).symmetricDifference(site.expectedURLs()))")
            #expect(urls.count == Set(urls).count, "a page was recorded twice")
            for n in 1...60 { #expect(site.stats.requests("/p/\(n)") == 1, "page \(n)") }
            let forbidden = site.stats.all().keys.filter { $0.hasPrefix("/private") || $0.hasSuffix(".secret") }
            #expect(forbidden.isEmpty, "fetched disallowed paths: \(forbidden)")
            #expect(site.stats.requests("/robots.txt") == 1)
            #expect(site.stats.requests("/p/99999") == 0)  // the commented-out link
            let page7 = try db.query("SELECT title, price, depth, status FROM pages WHERE url LIKE '%/p/7'")
            #expect(page7 == [["Page 7 & co", "7.99", 3, 200]])
            #expect(try db.query("SELECT title FROM pages WHERE url LIKE '%/latin1'") == [["Café"]])
            #expect(summary.disallowed > 0)
            #expect(try db.query("SELECT count(*) FROM _gather_errors") == [[0]])
        }
    }

    @Test func depthPagesAndScopeLimits() async throws {
        try await CrawlSite.withServer(.init(pageCount: 60)) { site in
            let (_, shallow) = try await crawl(site) { $0.maxDepth = 2 }
            let depths = try shallow.query("SELECT max(depth) FROM pages")
            #expect(depths == [[2]])
            let (limited, _) = try await crawl(site) { $0.maxPages = 10 }
            #expect(limited.pages == 10)
            let (scoped, db) = try await crawl(site) { $0.scope.deny = ["/p/[0-9]*[02468]$"] }
            let urls = try db.query("SELECT url FROM pages").compactMap { $0.first?.stringValue }
            #expect(!urls.contains { $0.hasSuffix("/p/2") })
            #expect(urls.contains { $0.hasSuffix("/p/3") })
            #expect(scoped.outcome == "completed")
        }
    }

    @Test func sitemapsAddPagesNoLinkReaches() async throws {
        try await CrawlSite.withServer(.init(pageCount: 20)) { site in
            let (_, db) = try await crawl(site) { $0.sitemaps = [site.baseURL + "/sitemap.xml"] }
            let urls = Set(try db.query("SELECT url FROM pages").compactMap { $0.first?.stringValue })
            #expect(urls == site.expectedURLs(withSitemap: true))
        }
    }

    /// `Crawl-delay` paces the host: 20 pages at 50 ms take at least ~1 s even with 8 in flight.
    @Test func crawlDelayPacesTheHost() async throws {
        try await CrawlSite.withServer(.init(pageCount: 12, crawlDelay: 0.05)) { site in
            let clock = ContinuousClock()
            let start = clock.now
            let (summary, _) = try await crawl(site)
            let elapsed = start.duration(to: clock.now)
            #expect(summary.pages >= 14)
            #expect(elapsed >= .milliseconds(50 * (summary.pages - 2)), "\(elapsed) for \(summary.pages) pages")
        }
    }

    @Test func canonicalURLs() {
        var scope = CrawlScope()
        #expect(scope.canonical("HTTP://Example.COM:80/a/./b/../c?x=1#frag") == "http://example.com/a/c?x=1")
        #expect(scope.canonical("https://example.com:443") == "https://example.com/")
        #expect(scope.canonical("https://example.com:8443/p?") == "https://example.com:8443/p")
        #expect(scope.canonical("mailto:someone@example.com") == nil)
        #expect(scope.canonical("javascript:void(0)") == nil)
        scope.sortQuery = true
        #expect(scope.canonical("http://h/p?b=2&a=1") == "http://h/p?a=1&b=2")
        #expect(URLEncoding.resolve("../c/./d?q#f", against: "http://h/a/b/e") == "http://h/a/c/d?q#f")
        #expect(URLEncoding.resolve("//other/x", against: "https://h/a") == "https://other/x")
        #expect(URLEncoding.resolve("?y=2", against: "http://h/a/b?x=1") == "http://h/a/b?y=2")
    }
}
