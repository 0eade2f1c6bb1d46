import Dispatch
import GRDB
import GRDBSQLite
public import GatherCore
import Synchronization

/// The SQLite sink of pipelines and loads: inferred, evolving schemas, child tables, append / replace / merge,
/// and Gather's own tables, each ``SinkBatch`` in one transaction.
///
/// Gather's tables (all names start with `_gather_`):
///
/// | table | holds |
/// |---|---|
/// | `_gather_runs` | one row per run: id, pipeline, times, counts, outcome, per-resource summary (JSON) |
/// | `_gather_errors` | one row per failed item: run, resource, request, code, message, payload excerpt |
/// | `_gather_resource_runs` | per run and resource: requests, pages, records, rows written, filtered, errors, retries |
/// | `_gather_state` | resume and incremental state: `(scope, key) → JSON`, written with the rows it covers |
/// | `_gather_columns` | each column's source field and logical type (``ColumnType``), after widening |
/// | `_gather_tables` | each data table's top-level table, for child tables |
///
/// Column types are declared from the first batch that creates them (`INTEGER`, `REAL`, `TEXT`, `BOOLEAN`,
/// `TIMESTAMP`, `JSON`). SQLite cannot change a column's declared type, so when a column widens (see
/// ``ColumnType``) the new logical type is recorded in `_gather_columns` and each value keeps its own storage
/// class: nothing is converted or lost. Booleans are stored as 0/1, timestamps as the text received, arrays and
/// objects as JSON text.
public final class SQLiteStore: Sink {
    /// The database file.
    public let database: SQLiteDatabase
    private let dispatch = DispatchQueue(label: "gather.sqlite.store")
    /// Known tables by name. Read and replaced only inside `queue.write` (which GRDB serializes), so a
    /// failed transaction leaves the cache as it was.
    private let catalog: Mutex<Catalog>

    struct Catalog: Sendable {
        var schemas: [String: TableSchema] = [:]
        /// Top-level table → its child tables.
        var children: [String: [String]] = [:]
    }

    /// Opens (creating if needed) the database at `path` and reads the schemas it already holds.
    public init(path: String) throws(SQLiteError) {
        self.database = try SQLiteDatabase(path: path)
        var catalog = Catalog()
        try self.database.write("preparing Gather's tables") { db in
            try Self.createMetaTables(db)
            catalog = try Self.readCatalog(db)
        }
        self.catalog = Mutex(catalog)
    }

    public func commit(_ batch: SinkBatch) async throws {
        try await self.onQueue { try self.commitNow(batch) }
    }

    public func state(scopePrefix: String) async throws -> [StateEntry] {
        try await self.onQueue { try self.stateNow(scopePrefix: scopePrefix) }
    }

    public func lastRun(pipeline: String) async throws -> RunRow? {
        try await self.onQueue {
            try self.database.read("reading _gather_runs") { db in
                try Row.fetchOne(
                    db,
                    sql: """
                        SELECT run_id, pipeline, started_at, finished_at, outcome, requests, pages, rows_written,
                        filtered, errors, retries, summary FROM _gather_runs WHERE pipeline = ?
                        ORDER BY started_at DESC, rowid DESC LIMIT 1
                        """,
                    arguments: [pipeline]
                ).map { row in
                    RunRow(
                        runID: row[0], pipeline: row[1], startedAt: row[2], finishedAt: row[3], outcome: row[4],
                        requests: row[5], pages: row[6], rowsWritten: row[7], filtered: row[8], errors: row[9],
                        retries: row[10], summary: row[11])
                }
            }
        }
    }

    public func counts(runID: String) async throws -> [ResourceCounts] {
        try await self.onQueue {
            try self.database.read("reading _gather_resource_runs") { db in
                try Row.fetchAll(
                    db,
                    sql: """
                        SELECT resource, requests, pages, records, written, rows, filtered, errors, retries
                        FROM _gather_resource_runs WHERE run_id = ?
                        """,
                    arguments: [runID]
                ).map { row in
                    var counts = ResourceCounts(runID: runID, resource: row[0])
                    counts.requests = row[1]
                    counts.pages = row[2]
                    counts.records = row[3]
                    counts.written = row[4]
                    counts.rows = row[5]
                    counts.filtered = row[6]
                    counts.errors = row[7]
                    counts.retries = row[8]
                    return counts
                }
            }
        }
    }

    /// The schema Gather keeps for `table`, if it exists.
    public func schema(of table: String) -> TableSchema? {
        self.catalog.withLock { $0.schemas[table] }
    }

    /// State entries, synchronously (blocks: call off the cooperative pool).
    public func stateNow(scopePrefix: String) throws(SQLiteError) -> [StateEntry] {
        try self.database.read("reading _gather_state") { db in
            try Row.fetchAll(
                db,
                sql: "SELECT scope, key, value FROM _gather_state WHERE substr(scope, 1, ?) = ? ORDER BY scope, key",
                arguments: [scopePrefix.count, scopePrefix]
            ).map { StateEntry(scope: $0[0], key: $0[1], value: $0[2]) }
        }
    }

    /// Commits `batch` in one transaction, synchronously (blocks: call off the cooperative pool).
    public func commitNow(_ batch: SinkBatch) throws(SQLiteError) {
        guard !batch.isEmpty else { return }
        var catalog = self.catalog.withLock { $0 }
        try self.database.write("committing a batch") { db in
            for table in batch.truncate {
                for name in [table] + (catalog.children[table] ?? []) where catalog.schemas[name] != nil {
                    try db.execute(sql: "DELETE FROM \(quoteIdentifier(name))")
                }
            }
            for write in batch.writes where !write.isEmpty {
                if !write.rows.isEmpty { try Self.apply(write, catalog: &catalog, db: db) }
                if let block = write.block, block.rowCount > 0 {
                    try Self.apply(block, of: write, catalog: &catalog, db: db)
                }
            }
            for error in batch.errors {
                try db.execute(
                    sql: """
                        INSERT INTO _gather_errors (run_id, resource, request, code, message, payload, created_at)
                        VALUES (?, ?, ?, ?, ?, ?, ?)
                        """,
                    arguments: [
                        error.runID, error.resource, error.request, error.code, error.message, error.payload, error.at,
                    ])
            }
            for change in batch.state {
                switch change {
                case .put(let scope, let key, let value):
                    try db.execute(
                        sql: "INSERT OR REPLACE INTO _gather_state (scope, key, value) VALUES (?, ?, ?)",
                        arguments: [scope, key, value])
                case .delete(let scope, let key):
                    try db.execute(
                        sql: "DELETE FROM _gather_state WHERE scope = ? AND key = ?", arguments: [scope, key])
                case .clear(let scope):
                    try db.execute(sql: "DELETE FROM _gather_state WHERE scope = ?", arguments: [scope])
                case .clearPrefix(let prefix):
                    try db.execute(
                        sql: "DELETE FROM _gather_state WHERE substr(scope, 1, ?) = ?",
                        arguments: [prefix.count, prefix])
                }
            }
            for counts in batch.counts {
                try db.execute(
                    sql: """
                        INSERT INTO _gather_resource_runs (run_id, resource, requests, pages, records, written, rows,
                        filtered, errors, retries) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                        ON CONFLICT (run_id, resource) DO UPDATE SET requests = requests + excluded.requests,
                        pages = pages + excluded.pages, records = records + excluded.records,
                        written = written + excluded.written, rows = rows + excluded.rows,
                        filtered = filtered + excluded.filtered, errors = errors + excluded.errors,
                        retries = retries + excluded.retries
                        """,
                    arguments: [
                        counts.runID, counts.resource, counts.requests, counts.pages, counts.records, counts.written,
                        counts.rows, counts.filtered, counts.errors, counts.retries,
                    ])
            }
            if let run = batch.run {
                try db.execute(
                    sql: """
                        INSERT OR REPLACE INTO _gather_runs (run_id, pipeline, started_at, finished_at, outcome,
                        requests, pages, rows_written, filtered, errors, retries, summary)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                        """,
                    arguments: [
                        run.runID, run.pipeline, run.startedAt, run.finishedAt, run.outcome, run.requests, run.pages,
                        run.rowsWritten, run.filtered, run.errors, run.retries, run.summary,
                    ])
            }
        }
        self.catalog.withLock { $0 = catalog }
    }

    // MARK: - Writing rows

    private static func apply(_ write: TableWrite, catalog: inout Catalog, db: Database) throws {
        // Split into segments: a top-level row followed by its child rows.
        var segments: [Range<Int>] = []
        var start = 0
        for index in write.rows.indices.dropFirst() where !write.rows[index].isChild {
            segments.append(start..<index)
            start = index
        }
        segments.append(start..<write.rows.count)
        if write.mode == .merge {
            // The last occurrence of a key wins, with its own children only.
            var seen = Set<String>()
            segments = segments.reversed().filter { seen.insert(Self.key(of: write.rows[$0.lowerBound])).inserted }
                .reversed()
        }
        var rowsByTable: [String: [GatherCore.Record]] = [:]
        var tableOrder: [String] = []
        for segment in segments {
            for row in write.rows[segment] {
                if rowsByTable[row.table] == nil { tableOrder.append(row.table) }
                rowsByTable[row.table, default: []].append(row.values)
            }
        }
        for table in tableOrder {
            try Self.evolve(
                table: table, root: write.table, primaryKey: table == write.table ? write.primaryKey : [],
                rows: rowsByTable[table] ?? [], catalog: &catalog, db: db)
        }
        if write.mode == .merge {
            let roots = rowsByTable[write.table] ?? []
            try Self.insert(roots, into: write.table, upsert: true, catalog: catalog, db: db)
            for child in catalog.children[write.table] ?? [] where catalog.schemas[child] != nil {
                let sql = "DELETE FROM \(quoteIdentifier(child)) WHERE \(quoteIdentifier(Normalizer.rootKeyColumn)) = ?"
                let statement = try db.cachedStatement(sql: sql).sqliteStatement
                defer { sqlite3_reset(statement) }
                for root in roots {
                    sqlite3_reset(statement)
                    Self.bind(root[Normalizer.keyColumn] ?? .null, to: statement, at: 1)
                    let code = sqlite3_step(statement)
                    guard code == SQLITE_DONE else {
                        throw DatabaseError(
                            resultCode: ResultCode(rawValue: code),
                            message: String(cString: sqlite3_errmsg(db.sqliteConnection)), sql: sql)
                    }
                }
            }
            for table in tableOrder where table != write.table {
                try Self.insert(rowsByTable[table] ?? [], into: table, upsert: false, catalog: catalog, db: db)
            }
        } else {
            for table in tableOrder {
                try Self.insert(rowsByTable[table] ?? [], into: table, upsert: false, catalog: catalog, db: db)
            }
        }
    }

    private static func key(of row: NormalizedRow) -> String {
        row.values[Normalizer.keyColumn]?.stringValue ?? ""
    }

    /// Creates the table or adds its new columns, and records types in `_gather_columns`.
    private static func evolve(
        table: String, root: String, primaryKey: [String], rows: [GatherCore.Record], catalog: inout Catalog,
        db: Database
    ) throws {
        try Self.evolve(table: table, root: root, primaryKey: primaryKey, catalog: &catalog, db: db) { schema in
            rows.map { schema.absorb($0) }
        }
    }

    /// Creates the table or adds its new columns, rebuilds it when a column widens to text, and records types
    /// in `_gather_columns`. `absorb` adds the batch's fields and types to the schema.
    private static func evolve(
        table: String, root: String, primaryKey: [String], catalog: inout Catalog, db: Database,
        absorb: (inout TableSchema) -> [SchemaChange]
    ) throws {
        let existing = catalog.schemas[table]
        var schema = existing ?? TableSchema(name: table, primaryKey: primaryKey)
        var added: [ColumnSchema] = []
        var widened: [ColumnSchema] = []
        for change in absorb(&schema) {
            added.append(contentsOf: change.added)
            for column in change.widened where !added.contains(where: { $0.sourceName == column.sourceName }) {
                widened.removeAll { $0.sourceName == column.sourceName }
                widened.append(column)
            }
        }
        // Types of columns added in this batch are final after the whole batch.
        added = added.map { schema.column(forField: $0.sourceName) ?? $0 }
        widened = widened.map { schema.column(forField: $0.sourceName) ?? $0 }
        if existing == nil {
            let missing = primaryKey.filter { schema.column(forField: $0) == nil }
            guard missing.isEmpty else {
                throw SQLiteError(
                    message:
                        "the primary key \(missing.map { "'\($0)'" }.joined(separator: ", ")) is not a field of the "
                        + "records for table \(table); check primary_key")
            }
            let definitions = schema.columns.map { "\(quoteIdentifier($0.name)) \(Self.sqlType($0.type))" }
            try db.execute(
                sql: "CREATE TABLE IF NOT EXISTS \(quoteIdentifier(table)) (\(definitions.joined(separator: ", ")))")
            if !primaryKey.isEmpty {
                let columns = primaryKey.compactMap { schema.column(forField: $0)?.name }.map(quoteIdentifier)
                try db.execute(
                    sql: "CREATE UNIQUE INDEX IF NOT EXISTS \(quoteIdentifier(table + "__gather_pk")) ON "
                        + "\(quoteIdentifier(table)) (\(columns.joined(separator: ", ")))")
            } else if table != root {
                try db.execute(
                    sql: "CREATE INDEX IF NOT EXISTS \(quoteIdentifier(table + "__gather_root")) ON "
                        + "\(quoteIdentifier(table)) (\(quoteIdentifier(Normalizer.rootKeyColumn)))")
            }
            try db.execute(
                sql: "INSERT OR REPLACE INTO _gather_tables (table_name, root, primary_key) VALUES (?, ?, ?)",
                arguments: [table, root, JSONWriter.string(.array(primaryKey.map(Value.string)))])
            if table != root { catalog.children[root, default: []].append(table) }
        } else {
            for column in added {
                try db.execute(
                    sql: "ALTER TABLE \(quoteIdentifier(table)) ADD COLUMN \(quoteIdentifier(column.name)) "
                        + Self.sqlType(column.type))
            }
            let toText = widened.filter { $0.type == .text }.compactMap { column in
                existing?.column(forField: column.sourceName).map { (column.name, $0.type) }
            }
            if !toText.isEmpty {
                try Self.rebuild(table, retyping: Dictionary(toText, uniquingKeysWith: { a, _ in a }), db: db)
            }
        }
        let columnsToRecord = existing == nil ? schema.columns : added + widened
        for column in columnsToRecord {
            try db.execute(
                sql: """
                    INSERT OR REPLACE INTO _gather_columns (table_name, column_name, source_name, type, position)
                    VALUES (?, ?, ?, ?, ?)
                    """,
                arguments: [
                    table, column.name, column.sourceName, column.type?.rawValue,
                    schema.columns.firstIndex { $0.name == column.name },
                ])
        }
        catalog.schemas[table] = schema
    }

    private static func insert(
        _ rows: [GatherCore.Record], into table: String, upsert: Bool, catalog: Catalog, db: Database
    ) throws {
        guard !rows.isEmpty, let schema = catalog.schemas[table] else { return }
        let sql = Self.insertSQL(schema: schema, upsert: upsert)
        // Rows are bound straight through SQLite's C API: GRDB's StatementArguments costs more per row than
        // SQLite's own insert (profiled: half the commit time went to building arguments).
        let statement = try db.cachedStatement(sql: sql).sqliteStatement
        defer { sqlite3_reset(statement) }
        for row in rows {
            sqlite3_reset(statement)
            sqlite3_clear_bindings(statement)
            for (key, value) in row {
                guard let index = schema.columnIndex(forField: key) else { continue }
                Self.bind(value, to: statement, at: Int32(index + 1))
            }
            let code = sqlite3_step(statement)
            guard code == SQLITE_DONE else {
                throw DatabaseError(
                    resultCode: ResultCode(rawValue: code),
                    message: String(cString: sqlite3_errmsg(db.sqliteConnection)), sql: sql)
            }
        }
    }

    /// `INSERT` of every column of `schema`; with `upsert`, rows with an existing key update it.
    private static func insertSQL(schema: TableSchema, upsert: Bool) -> String {
        let names = schema.columns.map { quoteIdentifier($0.name) }
        let marks = Array(repeating: "?", count: names.count).joined(separator: ", ")
        var sql = "INSERT INTO \(quoteIdentifier(schema.name)) (\(names.joined(separator: ", "))) VALUES (\(marks))"
        if upsert {
            let keys = Set(schema.primaryKey.compactMap { schema.column(forField: $0)?.name })
            let updates = schema.columns.filter { !keys.contains($0.name) }.map {
                "\(quoteIdentifier($0.name)) = excluded.\(quoteIdentifier($0.name))"
            }
            let target = schema.primaryKey.compactMap { schema.column(forField: $0)?.name }.map(quoteIdentifier)
            sql += " ON CONFLICT (\(target.joined(separator: ", "))) DO "
            sql += updates.isEmpty ? "NOTHING" : "UPDATE SET " + updates.joined(separator: ", ")
        }
        return sql
    }

    /// SQLite copies bound text and blobs before `bind` returns.
    private static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

    private static func bind(_ value: Value, to statement: OpaquePointer, at index: Int32) {
        switch value {
        case .null: sqlite3_bind_null(statement, index)
        case .bool(let b): sqlite3_bind_int64(statement, index, b ? 1 : 0)
        case .int(let i): sqlite3_bind_int64(statement, index, i)
        case .double(let d):
            if d.isFinite { sqlite3_bind_double(statement, index, d) } else { sqlite3_bind_null(statement, index) }
        case .string(var s):
            s.withUTF8 { bytes in
                guard let base = bytes.baseAddress, bytes.count > 0 else {
                    sqlite3_bind_text(statement, index, "", 0, Self.transient)
                    return
                }
                base.withMemoryRebound(to: CChar.self, capacity: bytes.count) { chars in
                    _ = sqlite3_bind_text(statement, index, chars, Int32(bytes.count), Self.transient)
                }
            }
        case .array, .object:
            Self.bind(.string(JSONWriter.string(value)), to: statement, at: index)
        }
    }

    // MARK: - Widening to text

    /// Rebuilds `table` with the `retyping` columns (name → logical type before widening) declared `TEXT`.
    ///
    /// SQLite cannot change a declared type, and a column declared `INTEGER` or `REAL` converts numeric-looking
    /// text on insert (`"007"` would become 7). So when a column widens to text the table is copied into one
    /// where that column is `TEXT`, each old value written as the text it came from: integers in decimal, reals
    /// in their shortest exact form, booleans as `true`/`false`. Indexes are recreated. It costs one pass over
    /// the table, once per widening, inside the batch's transaction.
    private static func rebuild(_ table: String, retyping: [String: ColumnType?], db: Database) throws {
        Self.registerTextFunction(db)
        let info = try Row.fetchAll(db, sql: "PRAGMA table_info(\(quoteIdentifier(table)))")
        let columns: [(name: String, type: String)] = info.map { ($0["name"], $0["type"]) }
        let indexes = try String.fetchAll(
            db, sql: "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL",
            arguments: [table])
        let scratch = quoteIdentifier("_gather_rebuild_" + table)
        let definitions = columns.map { column in
            "\(quoteIdentifier(column.name)) \(retyping[column.name] != nil ? "TEXT" : column.type)"
        }
        let selections = columns.map { column -> String in
            guard let old = retyping[column.name] else { return quoteIdentifier(column.name) }
            return "gather_text(\(quoteIdentifier(column.name)), '\(old?.rawValue ?? "")')"
        }
        try db.execute(sql: "CREATE TABLE \(scratch) (\(definitions.joined(separator: ", ")))")
        try db.execute(
            sql: "INSERT INTO \(scratch) SELECT \(selections.joined(separator: ", ")) FROM \(quoteIdentifier(table))")
        try db.execute(sql: "DROP TABLE \(quoteIdentifier(table))")
        try db.execute(sql: "ALTER TABLE \(scratch) RENAME TO \(quoteIdentifier(table))")
        for index in indexes { try db.execute(sql: index) }
    }

    /// `gather_text(value, oldType)`: a value as the text it was read from (see ``rebuild(_:retyping:db:)``).
    private static func registerTextFunction(_ db: Database) {
        let function = DatabaseFunction("gather_text", argumentCount: 2, pure: true) { values in
            let old = String.fromDatabaseValue(values[1]) ?? ""
            switch values[0].storage {
            case .null: return nil
            case .int64(let n): return old == ColumnType.boolean.rawValue ? (n != 0 ? "true" : "false") : String(n)
            case .double(let d): return d.description
            case .string(let s): return s
            case .blob(let data): return data
            }
        }
        db.add(function: function)
    }

    // MARK: - Writing blocks

    /// Writes a bulk load's block: evolves the schema once for the block, then binds cells from its arena.
    private static func apply(_ block: RowBlock, of write: TableWrite, catalog: inout Catalog, db: Database) throws {
        try Self.evolve(
            table: write.table, root: write.table, primaryKey: write.primaryKey, catalog: &catalog, db: db
        ) { schema in
            [schema.absorb(fields: block.fields, types: block.types)]
        }
        guard let schema = catalog.schemas[write.table] else { return }
        let sql = Self.insertSQL(schema: schema, upsert: write.mode == .merge)
        let statement = try db.cachedStatement(sql: sql).sqliteStatement
        defer { sqlite3_reset(statement) }
        sqlite3_clear_bindings(statement)  // columns the block lacks stay NULL
        let width = block.fields.count
        let parameters = block.fields.map { Int32(schema.columnIndex(forField: $0)! + 1) }
        let asText = block.fields.map { field in
            let type = schema.column(forField: field)?.type
            return type == .text || type == .json
        }
        try block.bytes.withUnsafeBytes { arena in
            let base = arena.baseAddress?.assumingMemoryBound(to: CChar.self)
            try block.cells.withUnsafeBufferPointer { cells in
                var index = 0
                for _ in 0..<block.rowCount {
                    sqlite3_reset(statement)
                    for column in 0..<width {
                        let cell = cells[index &+ column]
                        let parameter = parameters[column]
                        switch cell.kind {
                        case .null:
                            sqlite3_bind_null(statement, parameter)
                        case .integer where !asText[column], .boolean where !asText[column]:
                            sqlite3_bind_int64(statement, parameter, cell.number)
                        case .real where !asText[column]:
                            sqlite3_bind_double(statement, parameter, cell.real)
                        default:
                            if let base, cell.length > 0 {
                                // The arena outlives the step: SQLite may use the bytes in place (SQLITE_STATIC).
                                sqlite3_bind_text(
                                    statement, parameter, base + Int(cell.offset), Int32(cell.length), nil)
                            } else {
                                sqlite3_bind_text(statement, parameter, "", 0, Self.transient)
                            }
                        }
                    }
                    index &+= width
                    let code = sqlite3_step(statement)
                    guard code == SQLITE_DONE else {
                        throw DatabaseError(
                            resultCode: ResultCode(rawValue: code),
                            message: String(cString: sqlite3_errmsg(db.sqliteConnection)), sql: sql)
                    }
                }
            }
        }
        sqlite3_clear_bindings(statement)  // no pointers into the arena survive this call
    }

    private static func sqlType(_ type: ColumnType?) -> String {
        switch type {
        case .boolean: "BOOLEAN"
        case .integer: "INTEGER"
        case .real: "REAL"
        case .timestamp: "TIMESTAMP"
        case .text: "TEXT"
        case .json: "JSON"
        case nil: ""
        }
    }

    // MARK: - Gather's tables

    private static func createMetaTables(_ db: Database) throws {
        try db.execute(
            sql: """
                CREATE TABLE IF NOT EXISTS _gather_runs (run_id TEXT PRIMARY KEY, pipeline TEXT, started_at TEXT,
                  finished_at TEXT, outcome TEXT, requests INTEGER, pages INTEGER, rows_written INTEGER,
                  filtered INTEGER, errors INTEGER, retries INTEGER, summary JSON);
                CREATE TABLE IF NOT EXISTS _gather_errors (id INTEGER PRIMARY KEY, run_id TEXT, resource TEXT,
                  request TEXT, code TEXT, message TEXT, payload TEXT, created_at TEXT);
                CREATE TABLE IF NOT EXISTS _gather_state (scope TEXT NOT NULL, key TEXT NOT NULL, value TEXT,
                  PRIMARY KEY (scope, key));
                CREATE TABLE IF NOT EXISTS _gather_columns (table_name TEXT NOT NULL, column_name TEXT NOT NULL,
                  source_name TEXT, type TEXT, position INTEGER, PRIMARY KEY (table_name, column_name));
                CREATE TABLE IF NOT EXISTS _gather_resource_runs (run_id TEXT NOT NULL, resource TEXT NOT NULL,
                  requests INTEGER, pages INTEGER, records INTEGER, written INTEGER, rows INTEGER,
                  filtered INTEGER, errors INTEGER, retries INTEGER, PRIMARY KEY (run_id, resource));
                CREATE TABLE IF NOT EXISTS _gather_tables (table_name TEXT PRIMARY KEY, root TEXT, primary_key JSON);
                """)
    }

    private static func readCatalog(_ db: Database) throws -> Catalog {
        var catalog = Catalog()
        var keys: [String: [String]] = [:]
        for row in try Row.fetchAll(db, sql: "SELECT table_name, root, primary_key FROM _gather_tables") {
            let table: String = row[0]
            let root: String = row[1]
            let keyJSON: String = row[2] ?? "[]"
            keys[table] = (try? JSONReader.parse(keyJSON))?.arrayValue?.compactMap(\.stringValue) ?? []
            if table != root { catalog.children[root, default: []].append(table) }
        }
        var columns: [String: [ColumnSchema]] = [:]
        for row in try Row.fetchAll(
            db,
            sql: "SELECT table_name, column_name, source_name, type FROM _gather_columns ORDER BY table_name, position")
        {
            let type: String? = row[3]
            columns[row[0], default: []].append(
                ColumnSchema(name: row[1], sourceName: row[2], type: type.flatMap(ColumnType.init(rawValue:))))
        }
        for (table, primaryKey) in keys {
            catalog.schemas[table] = TableSchema(name: table, columns: columns[table] ?? [], primaryKey: primaryKey)
        }
        return catalog
    }

    private func onQueue<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            self.dispatch.async { continuation.resume(with: Result { try body() }) }
        }
    }
}
