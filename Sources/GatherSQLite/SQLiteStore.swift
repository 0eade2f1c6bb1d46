import Dispatch
import GRDB
import GRDBSQLite
import GatherCore
public import GatherStore
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
    private let catalog: Mutex<SinkCatalog>
    private static let dialect = SQLDialect.sqlite

    /// Opens (creating if needed) the database at `path` and reads the schemas it already holds.
    public init(path: String) throws(SQLiteError) {
        self.database = try SQLiteDatabase(path: path)
        var catalog = SinkCatalog()
        try self.database.write("preparing Gather's tables") { db in
            try Self.createMetaTables(db)
            catalog = try Self.readCatalog(db)
        }
        self.catalog = Mutex(catalog)
    }

    public func commit(_ batch: SinkBatch) async throws {
        let started = ContinuousClock.now
        try await self.onQueue { try self.commitNow(batch) }
        SinkMetrics.committed(batch, sink: "sqlite", duration: ContinuousClock.now - started)
    }

    public func close() async throws {
        try await self.onQueue { try self.database.close() }
    }

    public func state(scopePrefix: String) async throws -> [StateEntry] {
        try await self.onQueue { try self.stateNow(scopePrefix: scopePrefix) }
    }

    public func lastRun(pipeline: String) async throws -> RunRow? {
        try await self.onQueue {
            try self.database.read("reading _gather_runs") { db in
                try Row.fetchOne(db, sql: Self.dialect.selectLastRun, arguments: [pipeline]).map { row in
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
                try Row.fetchAll(db, sql: Self.dialect.selectCounts, arguments: [runID]).map { row in
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

    public func frontier(scope: String, after: Int64, limit: Int) async throws -> [FrontierEntry] {
        try await self.onQueue { try self.frontierNow(scope: scope, after: after, limit: limit) }
    }

    /// Pending frontier entries, synchronously (blocks: call off the cooperative pool).
    public func frontierNow(scope: String, after: Int64, limit: Int) throws(SQLiteError) -> [FrontierEntry] {
        try self.database.read("reading _gather_frontier") { db in
            try Row.fetchAll(db, sql: Self.dialect.pendingFrontier, arguments: [scope, after, limit]).map {
                FrontierEntry(seq: $0[0], url: $0[1], depth: $0[2])
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
            try Row.fetchAll(db, sql: Self.dialect.selectState, arguments: [scopePrefix]).map {
                StateEntry(scope: $0[0], key: $0[1], value: $0[2])
            }
        }
    }

    /// Commits `batch` in one transaction, synchronously (blocks: call off the cooperative pool).
    public func commitNow(_ batch: SinkBatch) throws(SQLiteError) {
        guard !batch.isEmpty else { return }
        var catalog = self.catalog.withLock { $0 }
        try self.database.write("committing a batch") { db in
            for table in batch.truncate {
                for name in catalog.family(of: table) {
                    try db.execute(sql: "DELETE FROM \(quoteIdentifier(name))")
                }
            }
            for write in batch.writes where !write.isEmpty {
                if !write.rows.isEmpty { try Self.apply(write, catalog: &catalog, db: db) }
                if let block = write.block, block.rowCount > 0 {
                    try Self.apply(block, of: write, catalog: &catalog, db: db)
                }
            }
            // Error rows, state and frontier changes can be many per batch (a stream's open windows, a crawl
            // page's links): each statement is prepared once per connection and bound through SQLite's C API.
            for error in batch.errors {
                try Self.step(
                    Self.dialect.insertError,
                    [
                        .string(error.runID), .string(error.resource), .string(error.request), .string(error.code),
                        .string(error.message), error.payload.map(Value.string) ?? .null, .string(error.at),
                    ], db: db)
            }
            for change in batch.state {
                switch change {
                case .put(let scope, let key, let value):
                    try Self.step(Self.dialect.putState, [.string(scope), .string(key), .string(value)], db: db)
                case .delete(let scope, let key):
                    try Self.step(Self.dialect.deleteState, [.string(scope), .string(key)], db: db)
                case .clear(let scope):
                    try Self.step(Self.dialect.clearState, [.string(scope)], db: db)
                case .clearPrefix(let prefix):
                    try Self.step(Self.dialect.clearStatePrefix, [.string(prefix)], db: db)
                }
            }
            for change in batch.frontier {
                switch change {
                case .discover(let scope, let url, let depth):
                    try Self.step(Self.dialect.discover, [.string(scope), .string(url), .int(Int64(depth))], db: db)
                case .done(let scope, let url):
                    try Self.step(Self.dialect.markDone, [.string(scope), .string(url)], db: db)
                case .reset(let scope):
                    try Self.step(Self.dialect.resetFrontier, [.string(scope)], db: db)
                }
            }
            for counts in batch.counts {
                try db.execute(
                    sql: Self.dialect.addCounts,
                    arguments: [
                        counts.runID, counts.resource, counts.requests, counts.pages, counts.records, counts.written,
                        counts.rows, counts.filtered, counts.errors, counts.retries,
                    ])
            }
            if let run = batch.run {
                try db.execute(
                    sql: Self.dialect.upsertRun,
                    arguments: [
                        run.runID, run.pipeline, run.startedAt, run.finishedAt, run.outcome, run.requests, run.pages,
                        run.rowsWritten, run.filtered, run.errors, run.retries, run.summary,
                    ])
            }
        }
        self.catalog.withLock { $0 = catalog }
    }

    // MARK: - Writing rows

    private static func apply(_ write: TableWrite, catalog: inout SinkCatalog, db: Database) throws {
        let tables = write.rowsByTable()
        for (table, rows) in tables {
            try Self.evolve(
                table: table, root: write.table, primaryKey: table == write.table ? write.primaryKey : [],
                catalog: &catalog, db: db
            ) { schema in rows.map { schema.absorb($0) } }
        }
        if write.mode == .merge {
            let roots = tables.first { $0.table == write.table }?.rows ?? []
            try Self.insert(roots, into: write.table, upsert: true, catalog: catalog, db: db)
            for child in catalog.family(of: write.table).dropFirst() {
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
            for (table, rows) in tables where table != write.table {
                try Self.insert(rows, into: table, upsert: false, catalog: catalog, db: db)
            }
        } else {
            for (table, rows) in tables {
                try Self.insert(rows, into: table, upsert: false, catalog: catalog, db: db)
            }
        }
    }

    /// Creates the table or adds its new columns, rebuilds it when a column widens to text, and records types
    /// in `_gather_columns`. `absorb` adds the batch's fields and types to the schema.
    private static func evolve(
        table: String, root: String, primaryKey: [String], catalog: inout SinkCatalog, db: Database,
        absorb: (inout TableSchema) -> [SchemaChange]
    ) throws {
        let change = try catalog.evolve(table: table, root: root, primaryKey: primaryKey, absorb: absorb)
        let schema = change.schema
        if change.created {
            try db.execute(sql: Self.dialect.forgetColumns, arguments: [table])
            try db.execute(sql: Self.dialect.createTable(schema))
            if let index = Self.dialect.index(for: schema, isChild: change.isChild) { try db.execute(sql: index) }
            try db.execute(
                sql: Self.dialect.recordTable,
                arguments: [table, root, JSONWriter.string(.array(primaryKey.map(Value.string)))])
        } else {
            for column in change.added { try db.execute(sql: Self.dialect.addColumn(column, to: table)) }
            let toText = change.widened.filter { $0.column.type == .text }.map { ($0.column.name, $0.from) }
            if !toText.isEmpty {
                try Self.rebuild(table, retyping: Dictionary(toText, uniquingKeysWith: { a, _ in a }), db: db)
            }
        }
        for column in change.columnsToRecord {
            try db.execute(
                sql: Self.dialect.recordColumn,
                arguments: [
                    table, column.name, column.sourceName, column.type?.rawValue,
                    schema.columns.firstIndex { $0.name == column.name },
                ])
        }
    }

    private static func insert(
        _ rows: [GatherCore.Record], into table: String, upsert: Bool, catalog: SinkCatalog, db: Database
    ) throws {
        guard !rows.isEmpty, let schema = catalog.schemas[table] else { return }
        let sql = Self.dialect.insert(schema, upsert: upsert)
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

    /// SQLite copies bound text and blobs before `bind` returns.
    private static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

    /// Runs `sql` once with `values` bound, on the connection's cached statement.
    private static func step(_ sql: String, _ values: [Value], db: Database) throws {
        let statement = try db.cachedStatement(sql: sql).sqliteStatement
        defer { sqlite3_reset(statement) }
        sqlite3_reset(statement)
        for (index, value) in values.enumerated() { Self.bind(value, to: statement, at: Int32(index + 1)) }
        let code = sqlite3_step(statement)
        guard code == SQLITE_DONE || code == SQLITE_ROW else {
            throw DatabaseError(
                resultCode: ResultCode(rawValue: code), message: String(cString: sqlite3_errmsg(db.sqliteConnection)),
                sql: sql)
        }
    }

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
    private static func apply(_ block: RowBlock, of write: TableWrite, catalog: inout SinkCatalog, db: Database) throws
    {
        try Self.evolve(
            table: write.table, root: write.table, primaryKey: write.primaryKey, catalog: &catalog, db: db
        ) { schema in
            [schema.absorb(fields: block.fields, types: block.types)]
        }
        guard let schema = catalog.schemas[write.table] else { return }
        let sql = Self.dialect.insert(schema, upsert: write.mode == .merge)
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

    // MARK: - Gather's tables

    private static func createMetaTables(_ db: Database) throws {
        for sql in Self.dialect.metaTables { try db.execute(sql: sql) }
    }

    private static func readCatalog(_ db: Database) throws -> SinkCatalog {
        let tables = try Row.fetchAll(db, sql: Self.dialect.selectTables).map { row in
            (table: row[0] as String, root: row[1] as String, key: row[2] as String?)
        }
        let columns = try Row.fetchAll(db, sql: Self.dialect.selectColumns).map { row in
            (table: row[0] as String, column: row[1] as String, source: row[2] as String, type: row[3] as String?)
        }
        return SinkCatalog(tables: tables, columns: columns)
    }

    private func onQueue<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            self.dispatch.async { continuation.resume(with: Result { try body() }) }
        }
    }
}
