import Foundation
import GatherConfig
import GatherCore
import GatherPostgres
import GatherTesting
import Testing

/// `gather fetch` and `gather load` into PostgreSQL (the test cluster), as child processes.
@Suite struct PostgresCommandTests {
    /// The URL of a fresh database with a password in it (the cluster trusts local connections, so any works),
    /// to check that no output ever shows it.
    static func urlWithPassword(_ label: String) async throws -> (text: String, url: PostgresURL) {
        let url = try await TestPostgres.freshDatabase(label)
        let text = "postgres://\(url.user):Sup3r-s3cret@\(url.host):\(url.port)/\(url.database)?sslmode=disable"
        return (text, try PostgresURL(text))
    }

    @Test func fetchIntoPostgres() async throws {
        let (text, url) = try await Self.urlWithPassword("fetch")
        try await FixtureServer.withServer { server in
            let input = (0..<20).map { server.url("/json/\($0)") }.joined(separator: "\n")
            let result = try await runGather(["fetch", "-", "--into", text, "--table", "pages"], stdin: input)
            #expect(result.status == 0, "\(result.stderr)")
            #expect(!result.stderr.contains("Sup3r-s3cret") && !result.stdout.contains("Sup3r-s3cret"))
        }
        let rows = try await TestPostgres.withServer(url) { server in
            try await server.query("SELECT count(*), min(status), max(status), count(data) FROM pages")
        }
        #expect(rows == [[20, 200, 200, 20]])
        let types = try await TestPostgres.withServer(url) { server in
            try await server.query(
                "SELECT data_type::text FROM information_schema.columns WHERE table_name = 'pages' "
                    + "AND column_name IN ('line', 'data', 'fetched_at') ORDER BY ordinal_position")
        }
        #expect(types == [["bigint"], ["jsonb"], ["timestamp with time zone"]])
    }

    /// Types inferred from the file, bad rows as error rows naming file:line, a summary without the password.
    @Test func loadIntoPostgresTypesErrorRowsAndRedaction() async throws {
        let folder = try ScratchFolder()
        defer { folder.remove() }
        let (text, url) = try await Self.urlWithPassword("load")
        let file = try folder.write(
            "people.csv",
            """
            id,name,score,active,joined
            1,Ann,1.5,true,2024-05-01
            2,"Bob ""B"", Jr.",2,false,2024/05/02 10:00:00
            3,Cé,,true,"Mon, 02 Jan 2006 15:04:05 GMT"
            4,short
            5,Eve,007,false,"2024-05-03T12:30:00,5Z"

            """)
        let result = try await runGather(["load", file, "--into", text])
        #expect(result.status == 1, "\(result.stderr)")
        #expect(!result.stderr.contains("Sup3r-s3cret"), "\(result.stderr)")
        #expect(result.stderr.contains("postgres://gather:***@"), "\(result.stderr)")
        let (types, rows, errors) = try await TestPostgres.withServer(url) { server in
            (
                try await server.query(
                    "SELECT column_name::text, data_type::text FROM information_schema.columns "
                        + "WHERE table_name = 'people' ORDER BY ordinal_position"),
                try await server.query("SELECT id, name, score, active, joined::text FROM people ORDER BY id"),
                try await server.query("SELECT request, code FROM _gather_errors")
            )
        }
        #expect(
            types == [
                ["id", "bigint"], ["name", "text"], ["score", "text"], ["active", "boolean"],
                ["joined", "timestamp with time zone"],
            ])
        // `007` made the score column text: every score keeps the text it was written as.
        #expect(
            rows == [
                [1, "Ann", "1.5", true, "2024-05-01 00:00:00+00"],
                [2, "Bob \"B\", Jr.", "2", false, "2024-05-02 10:00:00+00"],
                [3, "Cé", nil, true, "2006-01-02 15:04:05+00"], [5, "Eve", "007", false, "2024-05-03 12:30:00.5+00"],
            ])
        #expect(errors.count == 1)
        #expect(errors.first?.first?.stringValue?.hasSuffix("people.csv:5:1") == true, "\(errors)")
        // The same load again, the file unchanged: nothing is written, and the summary says so (exit 0).
        let again = try await runGather(["load", file, "--into", text])
        #expect(again.status == 0, "\(again.stderr)")
        #expect(again.stderr.contains("already loaded"), "\(again.stderr)")
        #expect(!again.stderr.contains("Sup3r-s3cret"), "\(again.stderr)")
        let unchanged = try await TestPostgres.withServer(url) { server in
            (
                try await server.query("SELECT count(*) FROM people"),
                try await server.query("SELECT count(*) FROM _gather_errors")
            )
        }
        #expect(unchanged.0 == [[4]] && unchanged.1 == [[1]], "\(unchanged)")
        // --fresh starts over: a new load, which appends (the default --mode); the same error row again.
        let fresh = try await runGather(["load", file, "--into", text, "--fresh", "--quiet"])
        #expect(fresh.status == 1, "\(fresh.stderr)")
        let count = try await TestPostgres.withServer(url) { try await $0.query("SELECT count(*) FROM people") }
        #expect(count == [[8]])
    }

    /// A crawl into PostgreSQL: records and the frontier in the database, then a second run with nothing left.
    @Test func crawlIntoPostgres() async throws {
        let (text, url) = try await Self.urlWithPassword("crawl")
        try await CrawlSite.withServer(.init(pageCount: 20)) { site in
            let result = try await runGather([
                "crawl", site.baseURL + "/", "--same-host", "-e", "title=css:title::text", "--into", text,
            ])
            #expect(result.status == 0, "\(result.stderr)")
            #expect(!result.stderr.contains("Sup3r-s3cret"))
            let (urls, pending) = try await TestPostgres.withServer(url) { server in
                (
                    try await server.query("SELECT url FROM pages").compactMap { $0.first?.stringValue },
                    try await server.query("SELECT count(*) FROM _gather_frontier WHERE done = 0")
                )
            }
            #expect(Set(urls) == site.expectedURLs())
            #expect(urls.count == Set(urls).count)
            #expect(pending == [[0]])
        }
    }

    @Test func unreachableServerIsAFatalErrorWithoutThePassword() async throws {
        let folder = try ScratchFolder()
        defer { folder.remove() }
        let file = try folder.write("t.csv", "id\n1\n")
        let result = try await runGather(
            ["load", file, "--into", "postgres://ann:Sup3r-s3cret@127.0.0.1:1/db?sslmode=disable"])
        #expect(result.status == 3, "\(result.stderr)")
        #expect(result.stderr.contains("cannot connect to postgres://ann:***@127.0.0.1:1/db"), "\(result.stderr)")
        #expect(!result.stderr.contains("Sup3r-s3cret"))
        let badMode = try await runGather(["load", file, "--into", "postgres://ann@h/db?sslmode=sometimes"])
        #expect(badMode.status == 2)
        #expect(badMode.stderr.contains("sslmode"), "\(badMode.stderr)")
    }
}
