import GatherCore
import GatherFormats
import GatherPostgres
import GatherTesting
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// `gather crawl --coordinator` and `gather worker` sharing one crawl through a real PostgreSQL and a real site:
/// the frontier is the run's queue, every page is fetched and recorded once whichever process found its link
/// first, robots.txt holds on both, and `--max-pages` caps the whole run.
@Suite struct CoordinatedCrawlCommandTests {
    @Test(.timeLimit(.minutes(3)))
    func twoProcessesCrawlOneSiteAndRecordEveryPageOnce() async throws {
        let scratch = try ScratchFolder()
        defer { scratch.remove() }
        try await CrawlSite.withServer(.init(pageCount: 150, latency: .milliseconds(5))) { site in
            let url = try await TestPostgres.freshDatabase("coordinated_crawl")
            let summary = scratch.file("helper.json")
            let crawl = [
                "crawl", site.baseURL + "/", "--same-host", "-e", "title=css:title::text", "-c", "4",
                "--into", url.description, "--coordinator", url.description, "--lease", "5s",
            ]
            async let helper = runGather(
                ["worker", url.description, "--name", "helper", "--wait", "--quiet", "--summary-json", summary]
            ) { process in
                let started = try await runGather(crawl + ["--summary-json", scratch.file("starter.json")])
                #expect(started.status == 0, "\(started.stderr)")
                #expect(started.stderr.contains("0 left"), "\(started.stderr)")
                kill(process.processIdentifier, SIGTERM)
            }
            let worker = try await helper
            #expect([0, 130].contains(worker.status), "\(worker.stderr)")
            let expected = site.expectedURLs()
            try await TestPostgres.withServer(url) { db in
                let rows = try await db.query("SELECT url FROM pages")
                let urls = rows.compactMap { $0.first?.stringValue }
                #expect(urls.count == expected.count, "\(urls.count) rows for \(expected.count) pages")
                #expect(Set(urls) == expected)
                let titles = try await db.query("SELECT count(*) FROM pages WHERE title LIKE 'Page % & co'")
                #expect(titles == [[.int(150)]])
                #expect(try await db.query("SELECT state FROM gather_runs") == [[.string("done")]])
                #expect(try await db.query("SELECT count(*) FROM gather_units") == [[.int(0)]])
            }
            // Each page was requested once in all, and robots.txt kept both away from /private/.
            let requests = site.stats.all()
            let pages = requests.filter { $0.key.hasPrefix("/p/") }
            #expect(pages.count == 150, "\(pages.count) pages requested")
            #expect(pages.values.allSatisfy { $0 == 1 }, "\(pages.filter { $0.value > 1 })")
            #expect(requests.keys.allSatisfy { !$0.hasPrefix("/private/") })
            // Both processes crawled pages.
            let helped = try String(contentsOfFile: summary, encoding: .utf8)
            let units = (try? JSONReader.parse(helped))?["runs"]?.arrayValue?.first?["units"]?.intValue ?? 0
            #expect(units >= 1, "\(helped)")
            // The same crawl again (another summary file) is the same run, already done: nothing is fetched.
            let before = site.stats.all().values.reduce(0, +)
            let again = try await runGather(crawl + ["--summary-json", scratch.file("again.json")])
            #expect(again.status == 0 && again.stderr.contains("0 units"), "\(again.stderr)")
            #expect(site.stats.all().values.reduce(0, +) == before)
        }
    }

    @Test(.timeLimit(.minutes(2)))
    func maxPagesCapsTheWholeRun() async throws {
        try await CrawlSite.withServer(.init(pageCount: 300)) { site in
            let url = try await TestPostgres.freshDatabase("coordinated_crawl_cap").description
            let crawl = try await runGather([
                "crawl", site.baseURL + "/", "--same-host", "--max-pages", "40", "--into", url, "--coordinator", url,
                "--quiet",
            ])
            #expect(crawl.status == 0, "\(crawl.stderr)")
            try await TestPostgres.withServer(try PostgresURL(url)) { db in
                // 40 units in all; redirects and pages robots.txt disallows are among them, and record no row.
                #expect(try await db.query("SELECT total FROM gather_runs") == [[.int(40)]])
                let rows = try await db.query("SELECT count(*), count(DISTINCT url) FROM pages")
                let count = rows.first?.first?.intValue ?? 0
                #expect(count >= 1 && count <= 40 && rows.first?[1].intValue == count, "\(rows)")
            }
            let pages = site.stats.all().filter { $0.key.hasPrefix("/p/") }
            #expect(pages.count <= 40 && pages.values.allSatisfy { $0 == 1 }, "\(site.stats.all())")
        }
    }
}
