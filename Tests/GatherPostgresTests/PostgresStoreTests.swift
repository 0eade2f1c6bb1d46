import GatherCore
import GatherPostgres
import GatherStore
import GatherTesting
import Testing

/// A batch writing `records` (key, record) to `table`.
private func write(
    _ table: String, _ mode: WriteMode, key: [String] = [], lists: Normalizer.NestedLists = .tables,
    _ records: [(String, Record)]
) -> SinkBatch {
    var rows: [NormalizedRow] = []
    let normalizer = Normalizer(table: table, lists: lists)
    for (k, record) in records { normalizer.normalize(record, key: k, into: &rows) }
    var batch = SinkBatch()
    batch.writes = [TableWrite(table: table, mode: mode, primaryKey: key, rows: rows)]
    return batch
}

/// A block of CSV-like text cells, typed as `gather load` types them.
private func block(_ fields: [String], _ rows: [[String]]) -> RowBlock {
    var block = RowBlock(fields: fields)
    for row in rows {
        for text in row { block.append(FieldSyntax.parse(text), text: Array(text.utf8)) }
        block.endRow()
    }
    return block
}

/// A store on a new database of the test cluster; closed after `body`.
private func withStore(_ label: String, _ body: (PostgresStore) async throws -> Void) async throws {
    let url = try await TestPostgres.freshDatabase(label)
    let store = try await PostgresStore.open(url)
    do {
        try await body(store)
        await store.close()
    } catch {
        await store.close()
        throw error
    }
}

/// The PostgreSQL sink against a real PostgreSQL 15 server (`scripts/test` starts one).
@Suite struct PostgresStoreTests {
    /// Every connection asks the server for TCP keepalives (10 s idle, then 3 probes 5 s apart), so a client the
    /// network cut off mid-transaction loses its session, and its row locks, in about 25 s.
    @Test func connectionsAskTheServerForTCPKeepalives() async throws {
        try await withStore("keepalive") { store in
            let settings = try await store.server.query(
                "SELECT current_setting('tcp_keepalives_idle'), current_setting('tcp_keepalives_interval'), "
                    + "current_setting('tcp_keepalives_count'), current_setting('application_name')")
            // Over a Unix socket the server ignores them (and shows 0); over TCP they are what was asked.
            let expected: [[Value]] =
                ProcessEnvironment.value("GATHER_PG_URL")?.contains("@127.0.0.1") == true
                ? [[.string("10"), .string("5"), .string("3"), .string("gather")]]
                : [[.string("0"), .string("0"), .string("0"), .string("gather")]]
            #expect(settings == expected)
        }
    }

    @Test func typesMapToPostgresNativesAndEvolve() async throws {
        try await withStore("types") { store in
            try await store.commit(
                write(
                    "items", .append, lists: .json,
                    [("1", ["id": 1, "name": "a", "at": "2024-01-01T00:00:00Z", "ok": true, "doc": ["k": [1, 2]]])]))
            let declared = try await store.server.query(
                "SELECT column_name::text, data_type::text FROM information_schema.columns WHERE table_name = 'items' "
                    + "ORDER BY ordinal_position")
            #expect(
                declared == [
                    ["_gather_key", "text"], ["id", "bigint"], ["name", "text"], ["at", "timestamp with time zone"],
                    ["ok", "boolean"], ["doc__k", "jsonb"],
                ])
            // Widening in place: integer → real, boolean → integer; a new column is added.
            try await store.commit(write("items", .append, [("2", ["id": 2.5, "ok": 7, "extra": "x"])]))
            let after = try await store.server.query(
                "SELECT column_name::text, data_type::text FROM information_schema.columns WHERE table_name = 'items' "
                    + "AND column_name IN ('id', 'ok', 'extra') ORDER BY ordinal_position")
            #expect(after == [["id", "double precision"], ["ok", "bigint"], ["extra", "text"]])
            #expect(
                try await store.server.query("SELECT id, ok, extra, at::text, doc__k::text FROM items ORDER BY id") == [
                    [1.0, 1, nil, "2024-01-01 00:00:00+00", "[1, 2]"], [2.5, 7, "x", nil, nil],
                ])
            // Widening to text keeps every old value as the text it came from.
            try await store.commit(write("items", .append, [("3", ["id": "007", "ok": "yes"])]))
            #expect(
                try await store.server.query("SELECT id, ok FROM items ORDER BY _gather_key") == [
                    ["1", "1"], ["2.5", "7"], ["007", "yes"],
                ])
            // A reopened store knows the schema.
            let reopened = try await PostgresStore.open(store.server.url)
            #expect(reopened.schema(of: "items")?.column(forField: "id")?.type == .text)
            await reopened.close()
        }
    }

    @Test func blocksCopyExactTextAndWidenBooleansToText() async throws {
        try await withStore("blocks") { store in
            var batch = SinkBatch()
            batch.writes = [
                TableWrite(
                    table: "b", mode: .append, primaryKey: [],
                    block: block(
                        ["n", "flag", "when", "note"],
                        [
                            ["1", "true", "2024/05/01", "tab\there"],
                            ["2", "False", "Mon, 02 Jan 2006 15:04:05 GMT", ""],
                            ["3", "true", "2024-05-01T12:30:00,5+02:00", "back\\slash\nline"],
                        ]))
            ]
            try await store.commit(batch)
            #expect(
                try await store.server.query("SELECT n, flag, \"when\"::text, note FROM b ORDER BY n") == [
                    [1, true, "2024-05-01 00:00:00+00", "tab\there"], [2, false, "2006-01-02 15:04:05+00", nil],
                    [3, true, "2024-05-01 10:30:00.5+00", "back\\slash\nline"],
                ])
            batch.writes = [TableWrite(table: "b", mode: .append, primaryKey: [], block: block(["flag"], [["maybe"]]))]
            try await store.commit(batch)
            #expect(
                try await store.server.query("SELECT flag FROM b ORDER BY n NULLS LAST") == [
                    ["true"], ["false"], ["true"], ["maybe"],
                ])
        }
    }

    @Test func mergeUpsertsThroughStagingAndReplacesChildRows() async throws {
        try await withStore("merge") { store in
            try await store.commit(
                write(
                    "orders", .merge, key: ["id"],
                    [
                        ("[1]", ["id": 1, "total": 10, "lines": [["sku": "a"], ["sku": "b"]]]),
                        ("[2]", ["id": 2, "total": 20, "lines": [["sku": "c"]]]),
                    ]))
            try await store.commit(
                write("orders", .merge, key: ["id"], [("[1]", ["id": 1, "total": 11, "lines": [["sku": "z"]]])]))
            #expect(try await store.server.query("SELECT id, total FROM orders ORDER BY id") == [[1, 11], [2, 20]])
            #expect(
                try await store.server.query(
                    "SELECT _gather_root_key, sku FROM orders__lines ORDER BY _gather_root_key, _gather_pos")
                    == [["[1]", "z"], ["[2]", "c"]])
            try await store.commit(
                write(
                    "orders", .merge, key: ["id"],
                    [
                        ("[3]", ["id": 3, "total": 1, "lines": [["sku": "p"]]]),
                        ("[3]", ["id": 3, "total": 2, "lines": [["sku": "q"]]]),
                    ]))
            #expect(try await store.server.query("SELECT total FROM orders WHERE id = 3") == [[2]])
            #expect(
                try await store.server.query("SELECT sku FROM orders__lines WHERE _gather_root_key = '[3]'") == [["q"]])
            // Blocks merge too; within a block the last row of a key wins.
            var batch = SinkBatch()
            batch.writes = [
                TableWrite(
                    table: "orders", mode: .merge, primaryKey: ["id"],
                    block: block(["id", "total"], [["2", "21"], ["4", "40"], ["2", "22"]]))
            ]
            try await store.commit(batch)
            #expect(
                try await store.server.query("SELECT id, total FROM orders ORDER BY id") == [
                    [1, 11], [2, 22], [3, 2], [4, 40],
                ])
        }
    }

    @Test func compositeKeysReplaceAndHostileNames() async throws {
        try await withStore("misc") { store in
            try await store.commit(
                write(
                    "c", .merge, key: ["repo", "login"],
                    [("a", ["repo": 1, "login": "x", "n": 1]), ("b", ["repo": 2, "login": "x", "n": 2])]))
            try await store.commit(
                write("c", .merge, key: ["repo", "login"], [("a", ["repo": 1, "login": "x", "n": 5])]))
            #expect(
                try await store.server.query("SELECT repo, login, n FROM c ORDER BY repo") == [
                    [1, "x", 5], [2, "x", 2],
                ])

            try await store.commit(write("r", .replace, [("1", ["id": 1, "tags": ["a", "b"]])]))
            var batch = write("r", .replace, [("2", ["id": 2, "tags": ["c"]])])
            batch.truncate = ["r"]
            try await store.commit(batch)
            #expect(try await store.server.query("SELECT id FROM r") == [[2]])
            #expect(try await store.server.query("SELECT value FROM r__tags") == [["c"]])

            let hostile = "\"; DROP TABLE x; --"
            try await store.commit(
                write("weird \"table\"", .append, [("1", [hostile: "boom", "Name": "a", "name": "b", "": 2])]))
            let names = try await store.server.query(
                "SELECT column_name::text FROM information_schema.columns WHERE table_name = 'weird \"table\"' "
                    + "ORDER BY ordinal_position")
            #expect(names == [["_gather_key"], [.string(hostile)], ["Name"], ["name_2"], ["_"]])
            #expect(
                try await store.server.query(
                    "SELECT \"\"\"; DROP TABLE x; --\", \"Name\", name_2, _ FROM \"weird \"\"table\"\"\"")
                    == [["boom", "a", "b", 2]])
        }
    }

    @Test func aFailedBatchWritesNothingAndTheStoreGoesOn() async throws {
        try await withStore("failed") { store in
            var batch = write("ok", .append, [("1", ["id": 1])])
            batch.writes += write("k", .merge, key: ["id"], [("1", ["name": "no id"])]).writes
            batch.state = [.put(scope: "work:k", key: "_", value: "{}")]
            await #expect(throws: PostgresError.self) { try await store.commit(batch) }
            #expect(try await store.state(scopePrefix: "").isEmpty)
            #expect(store.schema(of: "k") == nil && store.schema(of: "ok") == nil)
            #expect(
                try await store.server.query("SELECT count(*) FROM information_schema.tables WHERE table_name = 'ok'")
                    == [[0]])
            try await store.commit(write("ok", .append, [("1", ["id": 1])]))
            #expect(try await store.server.query("SELECT id FROM ok") == [[1]])
        }
    }

    /// A table dropped outside Gather is created afresh by the next store (with the new rows' columns).
    @Test func aDroppedTableIsCreatedAgain() async throws {
        try await withStore("dropped") { store in
            try await store.commit(write("gone", .append, [("1", ["id": 1, "old": "x"])]))
            try await store.server.execute("DROP TABLE gone")
            let reopened = try await PostgresStore.open(store.server.url)
            #expect(reopened.schema(of: "gone") == nil)
            try await reopened.commit(write("gone", .append, [("2", ["id": 2.5, "new": true])]))
            #expect(try await reopened.server.query("SELECT id, new FROM gone") == [[2.5, true]])
            #expect(reopened.schema(of: "gone")?.columns.map(\.name) == ["_gather_key", "id", "new"])
            await reopened.close()
        }
    }

    @Test func unreachableServersAreNamedWithoutThePassword() async throws {
        let url = try PostgresURL("postgres://gather:hush-now@127.0.0.1:1/nowhere?sslmode=disable", environment: [:])
        do {
            _ = try await PostgresStore.open(url)
            Issue.record("a closed port accepted a connection")
        } catch {
            let text = "\(error)"
            #expect(text.contains("cannot connect to postgres://gather:***@127.0.0.1:1/nowhere"), "\(text)")
            #expect(!text.contains("hush-now"))
        }
    }
}
