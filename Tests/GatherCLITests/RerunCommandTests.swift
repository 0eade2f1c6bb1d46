import Foundation
import GatherCore
import GatherSQLite
import GatherTesting
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Running a finished command again does not duplicate data (load, crawl, fetch --into), an interrupted
/// `fetch --into` continues where it stopped, and every command says why records failed.
@Suite struct RerunCommandTests {
    static func count(_ db: String, _ sql: String) throws -> [[Value]] {
        try SQLiteDatabase(path: db).query(sql)
    }

    @Test func loadTwiceIsANoOpAndAChangedFileLoadsByMode() async throws {
        let folder = try ScratchFolder()
        defer { folder.remove() }
        let file = try folder.write("people.csv", "id,name\n1,a\n2,b\n3,c\n")
        let db = folder.file("out.db")
        #expect(try await runGather(["load", file, "--into", db, "-q"]).status == 0)
        let again = try await runGather(["load", file, "--into", db])
        #expect(again.status == 0)
        #expect(again.stderr.contains("already loaded"), "\(again.stderr)")
        #expect(again.stderr.contains("1 file, 3 rows, 0 error rows"), "\(again.stderr)")
        #expect(try Self.count(db, "SELECT count(*) FROM people") == [[3]])
        // The file changes: --mode replace loads it again in place of the old rows.
        _ = try folder.write("people.csv", "id,name\n1,a\n2,b\n3,c\n4,d\n")
        #expect(try await runGather(["load", file, "--into", db, "--mode", "replace", "-q"]).status == 0)
        #expect(try Self.count(db, "SELECT count(*) FROM people") == [[4]])
    }

    @Test func crawlTwiceFetchesNothingNewAndAWiderRunOnlyTheRest() async throws {
        let folder = try ScratchFolder()
        defer { folder.remove() }
        try await CrawlSite.withServer(.init(pageCount: 30)) { site in
            let db = folder.file("crawl.db")
            let first = try await runGather(["crawl", site.baseURL + "/", "--into", db, "--max-pages", "10", "-q"])
            #expect(first.status == 0, "\(first.stderr)")
            let afterFirst = site.stats.all().values.reduce(0, +)
            // Cut short by --max-pages: the next run continues the frontier and fetches only pages not seen.
            let second = try await runGather(["crawl", site.baseURL + "/", "--into", db, "-q"])
            #expect(second.status == 0, "\(second.stderr)")
            let urls = try Self.count(db, "SELECT count(*), count(DISTINCT url) FROM pages")
            #expect(urls[0][0] == urls[0][1], "a page was written twice: \(urls)")
            #expect(
                Set(try Self.count(db, "SELECT url FROM pages").compactMap { $0[0].stringValue }) == site.expectedURLs()
            )
            // Finished: the same command does nothing, fetches nothing, and says so.
            let fetched = site.stats.all().values.reduce(0, +)
            #expect(fetched > afterFirst)
            let third = try await runGather(["crawl", site.baseURL + "/", "--into", db])
            #expect(third.status == 0, "\(third.stderr)")
            #expect(third.stderr.contains("already crawled"), "\(third.stderr)")
            // robots.txt at most
            #expect(site.stats.all().values.reduce(0, +) - fetched <= 1, "a finished crawl fetched pages again")
            #expect(try Self.count(db, "SELECT count(*) FROM pages") == [[.int(Int64(site.expectedURLs().count))]])
            // --fresh crawls again from the start.
            let fresh = try await runGather(["crawl", site.baseURL + "/", "--into", db, "--fresh", "-q"])
            #expect(fresh.status == 0, "\(fresh.stderr)")
            #expect(try Self.count(db, "SELECT count(*) FROM pages") == [[.int(Int64(2 * site.expectedURLs().count))]])
        }
    }

    @Test(.timeLimit(.minutes(2))) func fetchIntoContinuesAfterAnInterruptAndSkipsAFinishedInput() async throws {
        let folder = try ScratchFolder()
        defer { folder.remove() }
        try await FixtureServer.withServer { server in
            let urls = (1...200).map { server.url("/json/\($0)?delay_ms=60") }
            let input = try folder.write("urls.txt", urls.joined(separator: "\n") + "\n")
            let db = folder.file("f.db")
            let interrupted = try await runGather(["fetch", input, "--into", db, "-c", "8", "--grace", "5s"]) {
                process in
                for _ in 0..<300 {
                    try await Task.sleep(for: .milliseconds(20))
                    if server.stats.count() >= 40 { break }
                }
                kill(process.processIdentifier, SIGINT)
            }
            #expect(interrupted.status == 130, "\(interrupted.stderr)")
            #expect(interrupted.stderr.contains("run the same command again to continue"), "\(interrupted.stderr)")
            let partial = try Self.count(db, "SELECT count(*) FROM fetch_results")[0][0].intValue ?? 0
            #expect(partial >= 40 && partial < 200, "\(partial)")

            let resumed = try await runGather(["fetch", input, "--into", db, "-c", "16"])
            #expect(resumed.status == 0, "\(resumed.stderr)")
            #expect(resumed.stderr.contains("resumed run"), "\(resumed.stderr)")
            #expect(resumed.stderr.contains("\(partial) lines done before were skipped"), "\(resumed.stderr)")
            // Every line once, all in one run, and no URL was requested twice.
            let rows = try Self.count(
                db,
                "SELECT count(*), count(DISTINCT line), count(DISTINCT run_id), min(line), max(line) FROM fetch_results"
            )
            #expect(rows == [[200, 200, 1, 1, 200]])
            #expect(server.stats.count() == 200, "some URLs were fetched twice")

            let again = try await runGather(["fetch", input, "--into", db])
            #expect(again.status == 0, "\(again.stderr)")
            #expect(again.stderr.contains("already fetched"), "\(again.stderr)")
            #expect(server.stats.count() == 200)
            #expect(try Self.count(db, "SELECT count(*) FROM fetch_results") == [[200]])

            // JSON Lines records carry their input line.
            let lines = try await runGather(["fetch", input, "-q", "-c", "4"], stdin: nil)
            let records = try parseJSONLines(lines.stdout)
            #expect(Set(records.compactMap { $0["line"] as? Int }) == Set(1...200))
            for record in records {
                let line = try #require(record["line"] as? Int)
                #expect(record["url"] as? String == urls[line - 1])
            }
        }
    }

    @Test func everyCommandSaysWhyRecordsFailed() async throws {
        let folder = try ScratchFolder()
        defer { folder.remove() }
        // run: a division by zero in a field turns every record into an error row; the summary says so once.
        try await SampleAPI.withServer(.init(itemCount: 30)) { api in
            let path = try folder.write(
                "p.yaml",
                """
                name: why
                destination: sqlite:why.db
                resources:
                  - name: items
                    http:
                      url: \(api.baseURL)/offset/items
                      paginate: { type: offset, limit: 10, total: "$.total" }
                    select: "$.items[*]"
                    transform:
                      - fields: { id: id, ratio: "price / 0" }
                """)
            let run = try await runGather(["run", path])
            #expect(run.status == 1, "\(run.stderr)")
            // Into a pipe, a run this short draws no progress line: nothing stale above the summary.
            #expect(!run.stderr.contains("records written"), "\(run.stderr)")
            #expect(run.stderr.contains("why records failed"), "\(run.stderr)")
            #expect(run.stderr.contains("30 × items [transform]"), "\(run.stderr)")
            #expect(run.stderr.contains("division by zero"), "\(run.stderr)")
            #expect(run.stderr.contains("_gather_errors (WHERE run_id = '"), "\(run.stderr)")
            #expect(run.stderr.contains("e.g. "), "\(run.stderr)")
        }
        // load: ragged rows.
        let csv = try folder.write("r.csv", "a,b\n1,2\n3\n4\n5,6\n")
        let load = try await runGather(["load", csv, "--into", folder.file("r.db")])
        #expect(load.status == 1)
        #expect(load.stderr.contains("2 × r [csv.ragged_row]"), "\(load.stderr)")
        #expect(load.stderr.contains("e.g. \(csv):3"), "\(load.stderr)")
        // crawl and fetch: a page that is not there.
        try await FixtureServer.withServer { server in
            let crawl = try await runGather(["crawl", server.url("/status/404"), "--into", folder.file("c.db")])
            #expect(crawl.status == 1, "\(crawl.stderr)")
            #expect(crawl.stderr.contains("1 page fetched"), "\(crawl.stderr)")
            #expect(crawl.stderr.contains("[http_status]"), "\(crawl.stderr)")
            let input = try folder.write(
                "u.txt",
                [server.url("/status/404"), server.url("/json/1"), server.url("/status/404")].joined(separator: "\n"))
            let fetch = try await runGather(["fetch", input, "-q"])
            #expect(fetch.status == 1)
            let loud = try await runGather(["fetch", input])
            #expect(loud.stderr.contains("why items failed"), "\(loud.stderr)")
            #expect(loud.stderr.contains("2 × [http_status] HTTP 404 from URL"), "\(loud.stderr)")
            #expect(
                loud.stderr.contains("e.g. input line 1: \(server.url("/status/404"))")
                    || loud.stderr.contains("e.g. input line 3: \(server.url("/status/404"))"), "\(loud.stderr)")
        }
    }
}
