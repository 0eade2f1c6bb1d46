import Foundation
import GatherCore
import GatherPostgres
import GatherSQLite
import GatherStore
import GatherTesting
import Testing

/// `gather run`, `validate`, `help` and `demo` as child processes, the examples, and the SIGKILL resume test.
@Suite struct PipelineCommandTests {
    static let examples: URL = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("examples")

    /// Every data table's rows (all columns but Gather's own `_gather_*` ones), sorted, as text.
    static func snapshot(_ path: String) throws -> [String: [String]] {
        let db = try SQLiteDatabase(path: path)
        var tables: [String: [String]] = [:]
        for row in try db.query(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '\\_gather%' ESCAPE '\\'")
        {
            guard let table = row.first?.stringValue else { continue }
            let columns = try db.query("SELECT name FROM pragma_table_info('\(table)')").compactMap {
                $0.first?.stringValue
            }
            .filter { !$0.hasPrefix("_gather_") }
            let list = columns.map(quoteIdentifier).joined(separator: ", ")
            tables[table] = try db.query("SELECT \(list) FROM \(quoteIdentifier(table))").map { "\($0)" }.sorted()
        }
        return tables
    }

    static let killPipeline = """
        name: killtest
        destination: ${OUT_DB}
        defaults:
          http:
            base_url: ${SAMPLE_API}
            retry: { attempts: 6, initial_delay: 10ms, max_delay: 50ms }
        limits:
          127.0.0.1: { concurrency: 8 }
        resources:
          - name: items
            http:
              path: /offset/items
              paginate: { type: offset, limit: 20, total: "$.total" }
            select: "$.items[*]"
            write: append
          - name: repos
            for_each: { org: [org-a, org-b] }
            http:
              path: /orgs/{org}/repos
              params: { per_page: 5 }
              paginate: link_header
            primary_key: id
            write: merge
          - name: contributors
            from: repos
            fan_out: 4
            http:
              path: /repos/{repos.id}/contributors
              params: { per_page: 4 }
              paginate: link_header
            include: { repo_id: repos.id }
            write: append
            transform:
              - fields: { repo_id: repo_id, login: login, commits: contributions, big: "contributions >= 20" }
        """

    /// SIGKILL at seeded points, then runs to completion: the database equals a clean run's, with no duplicates.
    @Test(.timeLimit(.minutes(15))) func killedRunsResumeToExactlyTheCleanResult() async throws {
        let folder = try ScratchFolder()
        defer { folder.remove() }
        try await Self.killTest(
            folder: folder, destination: { "sqlite:" + folder.file("\($0).db") },
            snapshot: { try Self.snapshot(String($0.dropFirst("sqlite:".count))) },
            errorRows: {
                try SQLiteDatabase(path: String($0.dropFirst("sqlite:".count))).query(
                    "SELECT count(*) FROM _gather_errors"
                ).first?.first?.intValue ?? -1
            },
            completed: { try lastRunCompleted(String($0.dropFirst("sqlite:".count))) })
    }

    /// The same kill test with a PostgreSQL destination (a database per scenario on the test cluster).
    @Test(.timeLimit(.minutes(15))) func killedRunsIntoPostgresResumeToExactlyTheCleanResult() async throws {
        let folder = try ScratchFolder()
        defer { folder.remove() }
        // One database per scenario, named after the scenario; the URL carries a password (the test cluster
        // trusts local connections), which must never be printed.
        let base = try TestPostgres.serverURL()
        let prefix = "kill_run_" + String(UInt32.random(in: 0...UInt32.max), radix: 36) + "_"
        func url(_ name: String) -> String {
            "postgres://gather:pw-secret-1@\(base.host):\(base.port)/\(prefix)\(name.replacingOccurrences(of: "-", with: "_"))"
        }
        func parse(_ text: String) throws -> PostgresURL { try PostgresURL(text) }
        try await Self.killTest(
            folder: folder, destination: { url($0) },
            snapshot: { try await TestPostgres.snapshot(parse($0)) },
            errorRows: { text in
                try await TestPostgres.withServer(parse(text)) { server in
                    try await server.query("SELECT count(*) FROM _gather_errors").first?.first?.intValue ?? -1
                }
            },
            completed: { try await lastRunCompleted(parse($0)) },
            prepare: { text in
                let database = try parse(text).database
                try await TestPostgres.withServer(base) { server in
                    try await server.execute("CREATE DATABASE \(quoteIdentifier(database))")
                }
            },
            forbidden: "pw-secret-1")
    }

    /// Runs the kill pipeline clean into `destination("clean")`, then SIGKILLs runs into
    /// `destination("killed-N")` at seeded points and compares each with the clean result.
    static func killTest(
        folder: ScratchFolder, destination: (String) -> String,
        snapshot: (String) async throws -> [String: [String]], errorRows: (String) async throws -> Int64,
        completed: @escaping (String) async throws -> Bool,
        prepare: @escaping (String) async throws -> Void = { _ in }, forbidden: String? = nil
    ) async throws {
        try await oneKillTestAtATime {
            var prepared = Set<String>()
            let pipeline = try folder.write("kill.yaml", Self.killPipeline)
            let configuration = SampleAPI.Configuration(
                itemCount: 1600, repoCount: 40, latency: .milliseconds(12), transientFailureEvery: 11)
            try await SampleAPI.withServer(configuration) { api in
                func run(_ db: String, killAfter: Duration? = nil) async throws -> ProcessResult {
                    if prepared.insert(db).inserted { try await prepare(db) }
                    var environment = ProcessInfo.processInfo.environment
                    environment["SAMPLE_API"] = api.baseURL
                    environment["OUT_DB"] = db
                    let result = try await runGather(["run", pipeline], environment: environment) { process in
                        guard let killAfter else { return }
                        try await Task.sleep(for: killAfter)
                        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
                    }
                    if let forbidden {
                        #expect(!result.stdout.contains(forbidden) && !result.stderr.contains(forbidden))
                    }
                    return result
                }
                let clean = destination("clean")
                let started = ContinuousClock.now
                let cleanRun = try await run(clean)
                let cleanDuration = started.duration(to: .now)
                #expect(cleanRun.status == 0, "\(cleanRun.stderr)")
                let expected = try await snapshot(clean)
                let total = expected.values.reduce(0) { $0 + $1.count }
                #expect(total >= 2000)
                #expect(expected["items"]?.count == 1600)
                #expect(try await errorRows(clean) == 0)

                let killed = try await killAndResume(
                    seed: 20261123, cleanDuration: cleanDuration, earliest: 0.1,
                    destination: { destination("killed-\($0)") }, run: { try await run($0, killAfter: $1) },
                    completed: completed
                ) { db, scenario in
                    let got = try await snapshot(db)
                    #expect(Set(got.keys) == Set(expected.keys), "scenario \(scenario)")
                    for (table, rows) in expected {
                        let have = got[table] ?? []
                        let missing = Set(rows).subtracting(have).count
                        let duplicates = have.count - Set(have).count
                        let same = have == rows
                        #expect(
                            same,
                            "scenario \(scenario), \(table): \(have.count) rows, expected \(rows.count); \(missing) missing, \(duplicates) duplicated"
                        )
                    }
                    #expect(try await errorRows(db) == 0)
                }
                #expect(killed == 10, "only \(killed) runs were killed before finishing")
            }
        }
    }

    @Test func examplesRunAgainstTheSampleAPI() async throws {
        let folder = try ScratchFolder()
        defer { folder.remove() }
        try await SampleAPI.withServer(.init(itemCount: 300, repoCount: 10, transientFailureEvery: 7)) { api in
            for (file, tables) in [
                ("github-style.yaml", ["repos", "contributors"]), ("catalog-oauth.yaml", ["products", "tags"]),
                ("orders-nested.yaml", ["orders", "orders__lines", "items"]),
            ] {
                var environment = ProcessInfo.processInfo.environment
                environment["SAMPLE_API"] = api.baseURL
                environment["OUT_DB"] = folder.file(file + ".db")
                let path = Self.examples.appendingPathComponent(file).path
                let validate = try await runGather(["validate", path], environment: environment)
                #expect(validate.status == 0, "\(file): \(validate.stdout)\(validate.stderr)")
                let result = try await runGather(["run", path], environment: environment)
                #expect(result.status == 0, "\(file): \(result.stderr)")
                #expect(result.stderr.contains("completed"), "\(file): \(result.stderr)")
                let db = try SQLiteDatabase(path: folder.file(file + ".db"))
                for table in tables {
                    let count =
                        try db.query("SELECT count(*) FROM \(quoteIdentifier(table))").first?.first?.intValue ?? 0
                    #expect(count > 0, "\(file): \(table) is empty")
                }
            }
        }
    }

    /// The README's PostgreSQL example: the sample API into the test cluster, then a SQL resource per order.
    @Test func postgresExampleRunsAsTheREADMESays() async throws {
        let url = try await TestPostgres.freshDatabase("example")
        try await SampleAPI.withServer(.init(itemCount: 50, repoCount: 5)) { api in
            var environment = ProcessInfo.processInfo.environment
            environment["SAMPLE_API"] = api.baseURL
            environment["PGHOST"] = url.host
            environment["PGPORT"] = String(url.port)
            environment["PGUSER"] = url.user
            environment["PGDATABASE"] = url.database
            let path = Self.examples.appendingPathComponent("orders-postgres.yaml").path
            let result = try await runGather(["run", path], environment: environment)
            #expect(result.status == 0, "\(result.stderr)")
            #expect(result.stderr.contains("gather run orders-pg: completed"), "\(result.stderr)")
        }
        let (orders, totals) = try await TestPostgres.withServer(url) { server in
            (
                try await server.query("SELECT count(*) FROM orders"),
                try await server.query(
                    "SELECT count(*), sum(t.lines) = (SELECT count(*) FROM orders__lines) FROM order_totals t")
            )
        }
        #expect(orders == [[30]])
        #expect(totals == [[30, true]])
    }

    @Test func validateReportsEveryErrorWithPositionAndSuggestion() async throws {
        let folder = try ScratchFolder()
        defer { folder.remove() }
        let path = try folder.write(
            "bad.yaml",
            """
            name: bad
            destination: sqlite:bad.db
            resources:
              - name: items
                http:
                  path: /items
                  paginatr: link_header
                  timeout: soon
                write: merge
                transform:
                  - filter: "price >> 3"
              - name: children
                from: itemz
                http: { path: "/items/{items.id}" }
            """)
        let result = try await runGather(["validate", path])
        #expect(result.status == 2)
        #expect(result.stderr.contains("bad.yaml:7:7"), "\(result.stderr)")
        #expect(result.stderr.contains("did you mean 'paginate'"), "\(result.stderr)")
        #expect(result.stderr.contains("bad.yaml:8:16"), "\(result.stderr)")
        #expect(result.stderr.contains("merge needs a primary_key"), "\(result.stderr)")
        #expect(result.stderr.contains("did you mean 'items'"), "\(result.stderr)")
        #expect(
            result.stderr.contains("bad.yaml:11:25") || result.stderr.contains("bad.yaml:11:26"), "\(result.stderr)")
    }

    /// What a run would reject, validate rejects: placeholders and includes naming fields the parent's records
    /// do not have, a primary key the fields transform does not make; every error at once, even with unset
    /// variables; and a warning (exit 0) where the parent's fields cannot be known.
    @Test func validateChecksWhatChildrenReadFromParents() async throws {
        let folder = try ScratchFolder()
        defer { folder.remove() }
        let path = try folder.write(
            "v.yaml",
            """
            name: v
            destination: sqlite:${OUT_DB}
            resources:
              - name: repos
                http:
                  url: ${API}/repos
                primary_key: idd
                transform:
                  - fields: { id: id, full_name: name }
              - name: contributors
                from: repos
                http:
                  path: /repos/{repos.idd}/contributors
                include: { repo_id: repos.id, repo: full_nme }
                write: merge
            """)
        let result = try await runGather(["validate", path], environment: ["PATH": "/usr/bin:/bin"])
        #expect(result.status == 2)
        let errors = result.stderr
        #expect(errors.contains("v.yaml:2:14: environment variable OUT_DB is not set"), "\(errors)")
        #expect(errors.contains("v.yaml:6:12: environment variable API is not set"), "\(errors)")
        #expect(!errors.contains("{API}"), "an unset variable was reported twice: \(errors)")
        #expect(errors.contains("v.yaml:7:18: primary_key 'idd' is not a field"), "\(errors)")
        #expect(
            errors.contains("v.yaml:13:7: {repos.idd} reads 'idd'") && errors.contains("did you mean 'id'"), "\(errors)"
        )
        #expect(errors.contains("include repo: full_nme reads 'full_nme'"), "\(errors)")
        #expect(errors.contains("did you mean 'full_name'"), "\(errors)")
        #expect(!errors.contains("repo_id: repos.id reads"), "\(errors)")
        #expect(errors.contains("merge needs a primary_key"), "\(errors)")

        // Without a fields transform the parent's fields cannot be known: a warning, and validate passes.
        let loose = try folder.write(
            "w.yaml",
            """
            name: w
            destination: sqlite:w.db
            resources:
              - name: repos
                http: { url: "http://127.0.0.1:1/repos" }
                primary_key: id
              - name: contributors
                from: repos
                http: { path: "/repos/{repos.idd}/contributors" }
            """)
        let warned = try await runGather(["validate", loose])
        #expect(warned.status == 0, "\(warned.stderr)")
        #expect(warned.stderr.contains("warning: "), "\(warned.stderr)")
        #expect(warned.stderr.contains("w.yaml:9:") && warned.stderr.contains("did you mean 'id'"), "\(warned.stderr)")
        #expect(warned.stdout.contains("OK"))
    }

    @Test func environmentAndDotEnvFillVariablesAndSecretsAreRedacted() async throws {
        let folder = try ScratchFolder()
        defer { folder.remove() }
        try await SampleAPI.withServer(.init(itemCount: 30)) { api in
            _ = try folder.write(".env", "API_TOKEN=not-the-right-token-123\nexport BASE=\(api.baseURL)\n")
            let path = try folder.write(
                "p.yaml",
                """
                name: secrets
                destination: sqlite:out.db
                defaults:
                  http:
                    base_url: ${BASE}
                    auth: { type: bearer, token: "${API_TOKEN}" }
                resources:
                  - name: items
                    http: { path: "/auth/bearer/items?echo=${API_TOKEN}" }
                """)
            let result = try await runGather(["run", path])
            #expect(result.status == 1, "\(result.stderr)")
            #expect(!result.stderr.contains("not-the-right-token-123"))
            let db = try SQLiteDatabase(path: folder.file("out.db"))
            let dump =
                try db.query("SELECT * FROM _gather_errors") + db.query("SELECT * FROM _gather_state")
                + db.query("SELECT * FROM _gather_runs")
            #expect(try db.query("SELECT count(*) FROM _gather_errors") == [[1]])
            #expect(!"\(dump)".contains("not-the-right-token-123"))
            #expect("\(dump)".contains("***"))
        }
    }

    @Test func helpForComponentsAndTheGeneratedReferenceIsCurrent() async throws {
        let help = try await runGather(["help", "offset"])
        #expect(help.status == 0)
        #expect(help.stdout.contains("limit_param"))
        let unknown = try await runGather(["help", "ofset"])
        #expect(unknown.status == 2)
        #expect(unknown.stderr.contains("did you mean 'offset'"))
        let markdown = try await runGather(["help", "--markdown"])
        let committed = try String(
            contentsOf: Self.examples.deletingLastPathComponent().appendingPathComponent("docs/reference.md"),
            encoding: .utf8)
        #expect(markdown.stdout == committed, "docs/reference.md is stale: run scripts/gen-docs")
        let expressions = try await runGather(["help", "expressions", "--markdown"])
        let committedExpressions = try String(
            contentsOf: Self.examples.deletingLastPathComponent().appendingPathComponent("docs/expressions.md"),
            encoding: .utf8)
        #expect(expressions.stdout == committedExpressions, "docs/expressions.md is stale: run scripts/gen-docs")
        let plain = try await runGather(["help", "expressions"])
        #expect(plain.status == 0)
        #expect(plain.stdout.contains("round(x) or round(x, digits)"))
        #expect(plain.stdout.contains("in ['open', 'new']"))
        // `gather help` alone lists the commands, then the topics and components.
        let topics = try await runGather(["help"])
        #expect(topics.status == 0)
        #expect(topics.stdout.contains("SUBCOMMANDS"), "\(topics.stdout)")
        #expect(topics.stdout.contains("expressions"), "\(topics.stdout)")
        #expect(topics.stdout.contains("paginator") || topics.stdout.contains("offset"), "\(topics.stdout)")
    }

    @Test func demoRunsAndShowsRows() async throws {
        let folder = try ScratchFolder()
        defer { folder.remove() }
        let result = try await runGather(["demo", "--into", folder.file("demo.db")])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("Top contributors"))
        #expect(result.stderr.contains("completed"))
        // The database is checkpointed and closed: no -wal or -shm is left, so the .db file alone holds it all.
        #expect(!FileManager.default.fileExists(atPath: folder.file("demo.db-wal")))
        #expect(!FileManager.default.fileExists(atPath: folder.file("demo.db-shm")))
        let db = try SQLiteDatabase(path: folder.file("demo.db"))
        #expect(try db.query("SELECT count(*) FROM items") == [[2000]])
        #expect(try db.query("SELECT count(*) FROM _gather_errors") == [[0]])
    }
}

/// A small deterministic generator (SplitMix64) for seeded kill points.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { self.state = seed }
    mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        var z = self.state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
