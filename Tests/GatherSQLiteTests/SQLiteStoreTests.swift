import GatherCore
import GatherSQLite
import GatherStore
import GatherTesting
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// A fresh database path in a temporary folder.
func temporaryDatabase(_ name: String = "test.db") -> String {
    ScratchFolder.untilExit("sqlite") + "/" + name
}

private func write(_ table: String, _ mode: WriteMode, key: [String] = [], _ records: [(String, Record)]) -> SinkBatch {
    var rows: [NormalizedRow] = []
    let normalizer = Normalizer(table: table)
    for (k, record) in records { normalizer.normalize(record, key: k, into: &rows) }
    var batch = SinkBatch()
    batch.writes = [TableWrite(table: table, mode: mode, primaryKey: key, rows: rows)]
    return batch
}

@Suite struct SQLiteStoreTests {
    @Test func createsTablesWithInferredTypesAndEvolves() async throws {
        let store = try SQLiteStore(path: temporaryDatabase())
        try await store.commit(
            write("items", .append, [("1", ["id": 1, "name": "a", "at": "2024-01-01T00:00:00Z", "ok": true])]))
        try await store.commit(write("items", .append, [("2", ["id": 2.5, "name": "b", "extra": ["x": 1]])]))
        let columns = try store.database.query(
            "SELECT column_name, type FROM _gather_columns WHERE table_name = 'items' ORDER BY position")
        #expect(
            columns == [
                ["_gather_key", "text"], ["id", "real"], ["name", "text"], ["at", "timestamp"], ["ok", "boolean"],
                ["extra__x", "integer"],
            ])
        let declared = try store.database.query("SELECT name, type FROM pragma_table_info('items') ORDER BY cid")
        #expect(declared.map { $0[1] } == ["TEXT", "INTEGER", "TEXT", "TIMESTAMP", "BOOLEAN", "INTEGER"])
        // The widened column keeps each value as it came: nothing converted or lost.
        #expect(
            try store.database.query("SELECT id, ok, extra__x FROM items ORDER BY _gather_key") == [
                [1, 1, nil], [2.5, nil, 1],
            ])
        // A reopened store knows the schema.
        let reopened = try SQLiteStore(path: store.database.path)
        #expect(reopened.schema(of: "items")?.columns.count == 6)
    }

    @Test func mergeUpsertsAndReplacesChildRows() async throws {
        let store = try SQLiteStore(path: temporaryDatabase())
        try await store.commit(
            write(
                "orders", .merge, key: ["id"],
                [
                    ("[1]", ["id": 1, "total": 10, "lines": [["sku": "a"], ["sku": "b"]]]),
                    ("[2]", ["id": 2, "total": 20, "lines": [["sku": "c"]]]),
                ]))
        try await store.commit(
            write("orders", .merge, key: ["id"], [("[1]", ["id": 1, "total": 11, "lines": [["sku": "z"]]])]))
        #expect(try store.database.query("SELECT id, total FROM orders ORDER BY id") == [[1, 11], [2, 20]])
        #expect(
            try store.database.query(
                "SELECT _gather_root_key, sku FROM orders__lines ORDER BY _gather_root_key, _gather_pos")
                == [["[1]", "z"], ["[2]", "c"]])
        // The same key twice in one batch: the last one wins, with its own children only.
        try await store.commit(
            write(
                "orders", .merge, key: ["id"],
                [
                    ("[3]", ["id": 3, "total": 1, "lines": [["sku": "p"]]]),
                    ("[3]", ["id": 3, "total": 2, "lines": [["sku": "q"]]]),
                ]))
        #expect(try store.database.query("SELECT total FROM orders WHERE id = 3") == [[2]])
        #expect(try store.database.query("SELECT sku FROM orders__lines WHERE _gather_root_key = '[3]'") == [["q"]])
    }

    @Test func compositeKeysMerge() async throws {
        let store = try SQLiteStore(path: temporaryDatabase())
        try await store.commit(
            write(
                "c", .merge, key: ["repo", "login"],
                [("a", ["repo": 1, "login": "x", "n": 1]), ("b", ["repo": 2, "login": "x", "n": 2])]))
        try await store.commit(write("c", .merge, key: ["repo", "login"], [("a", ["repo": 1, "login": "x", "n": 5])]))
        #expect(try store.database.query("SELECT repo, login, n FROM c ORDER BY repo") == [[1, "x", 5], [2, "x", 2]])
    }

    @Test func replaceTruncatesTableAndChildren() async throws {
        let store = try SQLiteStore(path: temporaryDatabase())
        try await store.commit(write("r", .replace, [("1", ["id": 1, "tags": ["a", "b"]])]))
        var batch = write("r", .replace, [("2", ["id": 2, "tags": ["c"]])])
        batch.truncate = ["r"]
        try await store.commit(batch)
        #expect(try store.database.query("SELECT id FROM r") == [[2]])
        #expect(try store.database.query("SELECT value FROM r__tags") == [["c"]])
    }

    @Test func hostileNamesAreHarmlessColumns() async throws {
        let store = try SQLiteStore(path: temporaryDatabase())
        let hostile = "\"; DROP TABLE x; --"
        try await store.commit(
            write("weird \"table\"", .append, [("1", [hostile: "boom", "Name": "a", "name": "b", "": 2])]))
        let names = try store.database.query("SELECT name FROM pragma_table_info('weird \"table\"') ORDER BY cid")
        #expect(names == [["_gather_key"], [.string(hostile)], ["Name"], ["name_2"], ["_"]])
        #expect(
            try store.database.query("SELECT \"\"\"; DROP TABLE x; --\", Name, name_2, _ FROM \"weird \"\"table\"\"\"")
                == [["boom", "a", "b", 2]])
    }

    @Test func aFailedBatchWritesNothing() async throws {
        let store = try SQLiteStore(path: temporaryDatabase())
        var batch = write("k", .merge, key: ["id"], [("1", ["name": "no id"])])
        batch.state = [.put(scope: "work:k", key: "_", value: "{}")]
        await #expect(throws: SQLiteError.self) { try await store.commit(batch) }
        #expect(try await store.state(scopePrefix: "").isEmpty)
        #expect(store.schema(of: "k") == nil)
        #expect(try store.database.query("SELECT count(*) FROM sqlite_master WHERE name = 'k'") == [[0]])
    }
}
