import GatherConfig
import GatherCore
import GatherPipeline
import GatherPostgres
import GatherSQLite
import GatherTesting
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// `sql` resources: queries against PostgreSQL (the test cluster) and SQLite, streamed, per parent record,
/// incremental, and failing queries as error rows.
@Suite struct SQLResourceTests {
    /// Runs `yaml` (with `${SOURCE}` and `${OUT}` filled in).
    static func run(_ yaml: String, source: String, out: String, folder: String) async throws -> RunSummary {
        let pipeline = try PipelineLoader.parse(
            text: yaml, file: folder + "/p.yaml", environment: ["SOURCE": source, "OUT": out])
        return try await PipelineRunner(pipeline, options: .init()).run()
    }

    @Test func postgresQueriesPerParentRecordAndIncrementally() async throws {
        let source = try await TestPostgres.freshDatabase("sql_source")
        let out = try await TestPostgres.freshDatabase("sql_out")
        try await TestPostgres.withServer(source) { server in
            try await server.execute(
                "CREATE TABLE customers AS SELECT g AS id, 'customer ' || g AS name FROM generate_series(1, 30) g")
            try await server.execute(
                """
                CREATE TABLE orders AS SELECT g AS id, 1 + g % 30 AS customer_id, (g * 1.5)::numeric(10,2) AS amount,
                  timestamptz '2024-01-01' + g * interval '1 hour' AS updated_at, jsonb_build_object('n', g) AS doc
                FROM generate_series(1, 3000) g
                """)
        }
        let yaml = """
            name: sqlsource
            destination: ${OUT}
            resources:
              - name: customers
                sql: { connection: "${SOURCE}", query: "SELECT id, name FROM customers ORDER BY id", batch_rows: 7 }
                primary_key: id
                write: merge
              - name: orders
                from: customers
                fan_out: 4
                sql:
                  connection: ${SOURCE}
                  query: >-
                    SELECT id, amount, updated_at, doc FROM orders WHERE customer_id = $1 AND updated_at > $2
                    ORDER BY id
                  params: ["{customers.id}", "{cursor}"]
                include: { customer: customers.name }
                incremental: { cursor: updated_at, initial: "2000-01-01T00:00:00Z" }
                primary_key: id
                write: merge
            """
        let folder = temporaryDirectory()
        let first = try await Self.run(yaml, source: source.description, out: out.description, folder: folder)
        #expect(first.outcome == "completed", "\(first)")
        let (customers, orders, sample) = try await TestPostgres.withServer(out) { server in
            (
                try await server.query("SELECT count(*) FROM customers"),
                try await server.query("SELECT count(*), count(DISTINCT id) FROM orders"),
                try await server.query("SELECT customer, amount, updated_at::text, doc__n FROM orders WHERE id = 31")
            )
        }
        #expect(customers == [[30]])
        #expect(orders == [[3000, 3000]])
        #expect(sample == [["customer 2", 46.5, "2024-01-02 07:00:00+00", 31]])
        #expect(first.resources.first { $0.resource == "customers" }?.pages == 5)  // 30 rows, 7 per commit
        // New rows after the cursor: the second run reads only those.
        try await TestPostgres.withServer(source) { server in
            try await server.execute(
                "INSERT INTO orders SELECT g, 1 + g % 30, 1, timestamptz '2030-01-01' + g * interval '1 second', "
                    + "'{}'::jsonb FROM generate_series(3001, 3010) g")
        }
        let second = try await Self.run(yaml, source: source.description, out: out.description, folder: folder)
        #expect(second.resources.first { $0.resource == "orders" }?.records == 10)
        let total = try await TestPostgres.withServer(out) { server in
            try await server.query("SELECT count(*) FROM orders")
        }
        #expect(total == [[3010]])
    }

    @Test func sqliteQueriesAndFailingQueriesBecomeErrorRows() async throws {
        let folder = temporaryDirectory()
        let source = try SQLiteDatabase(path: folder + "/source.db")
        try source.createTable("events", columns: [.init("id", .integer), .init("kind", .text), .init("v", .real)])
        try source.insert(
            into: "events", columns: ["id", "kind", "v"],
            rows: (1...2500).map { [.int(Int64($0)), .string($0 % 2 == 0 ? "even" : "odd"), .double(Double($0) / 4)] })
        let yaml = """
            name: sqlite-source
            destination: sqlite:${OUT}
            resources:
              - name: events
                for_each: { kind: [even, odd] }
                sql: { connection: "sqlite:${SOURCE}", query: "SELECT * FROM events WHERE kind = ?1 ORDER BY id", params: ["{kind}"] }
                transform:
                  - filter: "v >= 1"
              - name: broken
                sql: { connection: "sqlite:${SOURCE}", query: "SELECT * FROM no_such_table" }
            """
        let summary = try await Self.run(yaml, source: folder + "/source.db", out: folder + "/out.db", folder: folder)
        #expect(summary.outcome == "completed_with_errors")
        let out = try SQLiteDatabase(path: folder + "/out.db")
        #expect(try out.query("SELECT count(*), min(id), max(id), sum(v) FROM events") == [[2497, 4, 2500, 781_561.0]])
        let errors = try out.query("SELECT resource, request, code, message FROM _gather_errors")
        #expect(errors.count == 1)
        #expect(errors.first?[2] == "sql")
        #expect(errors.first?[3].stringValue?.contains("no such table: no_such_table") == true, "\(errors)")
    }

    @Test func queriesWithPlaceholdersAreRefused() throws {
        let yaml = """
            name: bad
            destination: sqlite:out.db
            resources:
              - name: t
                sql: { query: "SELECT * FROM t WHERE id = {parent.id}" }
            """
        #expect(throws: ConfigErrors.self) { try PipelineLoader.parse(text: yaml, file: "/tmp/p.yaml") }
        do {
            _ = try PipelineLoader.parse(text: yaml, file: "/tmp/p.yaml")
        } catch {
            #expect("\(error)".contains("pass values as params"))
        }
    }
}
