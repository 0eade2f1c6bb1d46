import GatherCore
public import GatherStore
import Logging
import NIOCore
import PostgresNIO
import Synchronization

/// The PostgreSQL sink of pipelines, loads and fetches: the same inferred, evolving schemas, child tables,
/// append / replace / merge and Gather tables as `SQLiteStore` (the statements come from ``SQLDialect``), each
/// ``SinkBatch`` in one PostgreSQL transaction, rows and the state that covers them together.
///
/// - Rows go in with `COPY … FROM STDIN` (text format, built by ``CopyText`` straight from a ``RowBlock``'s
///   cells or from normalized records).
/// - `merge` copies rows into a temporary staging table, then `INSERT … SELECT DISTINCT ON (key) … ON CONFLICT
///   (key) DO UPDATE`; the last row of a key in the batch wins, and its child rows replace the old ones.
/// - New fields add columns (`ALTER TABLE … ADD COLUMN`); a column that widens changes type in place
///   (`ALTER COLUMN … TYPE … USING`): booleans become 1/0 or `true`/`false`, numbers their decimal text.
/// - Types: `bigint`, `double precision`, `boolean`, `timestamptz` (UTC), `jsonb`, `text`.
///
/// Commits are serialized (one transaction at a time, so schema changes never race); reads use the pool.
public final class PostgresStore: Sink {
    public let server: PostgresServer
    private let catalog: Mutex<SinkCatalog>
    private let commits = AsyncLock()
    private static let dialect = SQLDialect.postgres
    /// COPY data is sent in pieces of about this size.
    private static let copyChunk = 256 << 10

    private init(server: PostgresServer, catalog: SinkCatalog) {
        self.server = server
        self.catalog = Mutex(catalog)
    }

    /// Connects (a pool of up to `maxConnections`), creates Gather's tables if needed, and reads the schemas the
    /// database already holds.
    public static func open(_ url: PostgresURL, maxConnections: Int = 4) async throws -> PostgresStore {
        let server = try await PostgresServer.connect(url, maxConnections: maxConnections)
        do {
            let catalog = try await server.withConnection { connection in
                try await Self.transaction(connection, server: server) { connection in
                    // Two processes creating Gather's tables at once would collide on the catalog; one lock
                    // (held to the end of this transaction) orders them.
                    try await Self.run("SELECT pg_advisory_xact_lock(7224066537)", on: connection, server: server)
                    for sql in Self.dialect.metaTables { try await Self.run(sql, on: connection, server: server) }
                }
                return try await Self.catalog(on: connection, server: server)
            }
            return PostgresStore(server: server, catalog: catalog)
        } catch {
            await server.close()
            throw PostgresError("preparing Gather's tables in \(url) failed: \(describe(error))")
        }
    }

    /// The schemas of Gather's tables as the database holds them now.
    static func catalog(on connection: PostgresConnection, server: PostgresServer) async throws -> SinkCatalog {
        let tables = try await Self.rows(Self.dialect.selectTables, on: connection, server: server).map {
            (table: $0[0].stringValue ?? "", root: $0[1].stringValue ?? "", key: $0[2].stringValue)
        }
        let columns = try await Self.rows(Self.dialect.selectColumns, on: connection, server: server).map {
            (
                table: $0[0].stringValue ?? "", column: $0[1].stringValue ?? "", source: $0[2].stringValue ?? "",
                type: $0[3].stringValue
            )
        }
        return SinkCatalog(tables: tables, columns: columns)
    }

    /// Commits, in one transaction, the batch that `prepare` returns after running in that transaction: a
    /// coordinator checks its fences there and returns the results of the accepted units only. Nothing commits
    /// when `prepare` throws.
    ///
    /// Several processes may commit to the same tables this way (the workers of a scaled-out run), so the commit
    /// takes the schema lock and reads the tables' schemas again first: one process's new table or column is
    /// never created twice by another. That orders these commits; it suits units that take far longer than a
    /// commit.
    ///
    /// An error `prepare` throws that is a ``CommitRefusal`` (a lost fence, say) reaches the caller as it is;
    /// any other failure becomes a ``PostgresError``.
    public func commit(preparing prepare: (PostgresTransaction) async throws -> SinkBatch) async throws {
        let started = ContinuousClock.now
        var committed = SinkBatch()
        do {
            let after = try await self.server.withConnection { connection in
                var catalog = SinkCatalog()
                try await Self.transaction(connection, server: self.server) { connection in
                    try await Self.run("SELECT pg_advisory_xact_lock(7224066537)", on: connection, server: self.server)
                    catalog = try await Self.catalog(on: connection, server: self.server)
                    let batch = try await prepare(PostgresTransaction(connection: connection, server: self.server))
                    if !batch.isEmpty { try await self.write(batch, catalog: &catalog, on: connection) }
                    committed = batch
                }
                return catalog
            }
            self.catalog.withLock { $0 = after }
        } catch let refusal as any CommitRefusal {
            throw refusal
        } catch {
            throw PostgresError(
                "committing a batch to \(self.server.url) failed: \(describe(error))", transient: isTransient(error))
        }
        SinkMetrics.committed(committed, sink: "postgres", duration: ContinuousClock.now - started)
    }

    /// Closes the pool.
    public func close() async {
        await self.server.close()
    }

    /// The schema Gather keeps for `table`, if it exists.
    public func schema(of table: String) -> TableSchema? {
        self.catalog.withLock { $0.schemas[table] }
    }

    // MARK: - Sink

    public func commit(_ batch: SinkBatch) async throws {
        guard !batch.isEmpty else { return }
        let started = ContinuousClock.now
        try await self.commits.withLock {
            let before = self.catalog.withLock { $0 }
            do {
                let after = try await self.server.withConnection { connection in
                    var catalog = before
                    try await Self.transaction(connection, server: self.server) { connection in
                        try await self.write(batch, catalog: &catalog, on: connection)
                    }
                    return catalog
                }
                self.catalog.withLock { $0 = after }
            } catch {
                throw PostgresError("committing a batch to \(self.server.url) failed: \(describe(error))")
            }
        }
        SinkMetrics.committed(batch, sink: "postgres", duration: ContinuousClock.now - started)
    }

    public func state(scopePrefix: String) async throws -> [StateEntry] {
        try await self.server.query(Self.dialect.selectState, [.string(scopePrefix)]).map {
            StateEntry(scope: $0[0].stringValue ?? "", key: $0[1].stringValue ?? "", value: $0[2].stringValue ?? "")
        }
    }

    public func lastRun(pipeline: String) async throws -> RunRow? {
        guard let row = try await self.server.query(Self.dialect.selectLastRun, [.string(pipeline)]).first else {
            return nil
        }
        func text(_ index: Int) -> String { row[index].stringValue ?? "" }
        func count(_ index: Int) -> Int { Int(row[index].intValue ?? 0) }
        return RunRow(
            runID: text(0), pipeline: text(1), startedAt: text(2), finishedAt: row[3].stringValue, outcome: text(4),
            requests: count(5), pages: count(6), rowsWritten: count(7), filtered: count(8), errors: count(9),
            retries: count(10), summary: row[11].stringValue ?? "{}")
    }

    public func counts(runID: String) async throws -> [ResourceCounts] {
        try await self.server.query(Self.dialect.selectCounts, [.string(runID)]).map { row in
            func count(_ index: Int) -> Int { Int(row[index].intValue ?? 0) }
            var counts = ResourceCounts(runID: runID, resource: row[0].stringValue ?? "")
            counts.requests = count(1)
            counts.pages = count(2)
            counts.records = count(3)
            counts.written = count(4)
            counts.rows = count(5)
            counts.filtered = count(6)
            counts.errors = count(7)
            counts.retries = count(8)
            return counts
        }
    }

    public func frontier(scope: String, after: Int64, limit: Int) async throws -> [FrontierEntry] {
        try await self.server.query(
            Self.dialect.pendingFrontier, [.string(scope), .int(after), Self.number(limit)]
        ).map { row in
            FrontierEntry(
                seq: row[0].intValue ?? 0, url: row[1].stringValue ?? "", depth: Int(row[2].intValue ?? 0))
        }
    }

    private static func number(_ value: Int) -> Value { .int(Int64(value)) }

    // MARK: - One batch

    private func write(_ batch: SinkBatch, catalog: inout SinkCatalog, on connection: PostgresConnection)
        async throws
    {
        let server = self.server
        for table in batch.truncate {
            let family = catalog.family(of: table)
            if !family.isEmpty {
                try await Self.run(
                    "TRUNCATE \(family.map(quoteIdentifier).joined(separator: ", "))", on: connection, server: server)
            }
        }
        for (position, write) in batch.writes.enumerated() where !write.isEmpty {
            if !write.rows.isEmpty {
                try await self.apply(write, stage: position, catalog: &catalog, on: connection)
            }
            if let block = write.block, block.rowCount > 0 {
                try await self.apply(block, of: write, stage: position, catalog: &catalog, on: connection)
            }
        }
        if !batch.errors.isEmpty {
            let types = [ColumnType?](repeating: .text, count: SQLDialect.errorColumns.count)
            try await Self.copy(
                into: "_gather_errors", columns: SQLDialect.errorColumns, count: batch.errors.count, on: connection,
                server: server
            ) { range, out in
                for error in batch.errors[range] {
                    CopyText.append(
                        [
                            .string(error.runID), .string(error.resource), .string(error.request), .string(error.code),
                            .string(error.message), error.payload.map(Value.string) ?? .null, .string(error.at),
                        ], types: types, to: &out)
                }
            }
        }
        for change in batch.state {
            switch change {
            case .put(let scope, let key, let value):
                try await Self.run(
                    Self.dialect.putState, [.string(scope), .string(key), .string(value)], on: connection,
                    server: server)
            case .delete(let scope, let key):
                try await Self.run(
                    Self.dialect.deleteState, [.string(scope), .string(key)], on: connection, server: server)
            case .clear(let scope):
                try await Self.run(Self.dialect.clearState, [.string(scope)], on: connection, server: server)
            case .clearPrefix(let prefix):
                try await Self.run(Self.dialect.clearStatePrefix, [.string(prefix)], on: connection, server: server)
            }
        }
        for change in batch.frontier {
            switch change {
            case .discover(let scope, let url, let depth):
                try await Self.run(
                    Self.dialect.discover, [.string(scope), .string(url), Self.number(depth)], on: connection,
                    server: server)
            case .done(let scope, let url):
                try await Self.run(
                    Self.dialect.markDone, [.string(scope), .string(url)], on: connection, server: server)
            case .reset(let scope):
                try await Self.run(Self.dialect.resetFrontier, [.string(scope)], on: connection, server: server)
            }
        }
        for counts in batch.counts {
            try await Self.run(
                Self.dialect.addCounts,
                [
                    .string(counts.runID), .string(counts.resource), Self.number(counts.requests),
                    Self.number(counts.pages),
                    Self.number(counts.records), Self.number(counts.written), Self.number(counts.rows),
                    Self.number(counts.filtered),
                    Self.number(counts.errors), Self.number(counts.retries),
                ], on: connection, server: server)
        }
        if let run = batch.run {
            try await Self.run(
                Self.dialect.upsertRun,
                [
                    .string(run.runID), .string(run.pipeline), .string(run.startedAt),
                    run.finishedAt.map(Value.string) ?? .null, .string(run.outcome), Self.number(run.requests),
                    Self.number(run.pages), Self.number(run.rowsWritten), Self.number(run.filtered),
                    Self.number(run.errors), Self.number(run.retries),
                    .string(run.summary),
                ], on: connection, server: server)
        }
    }

    /// Normalized records: tables evolve, then each table's rows are copied (merge: through staging).
    private func apply(
        _ write: TableWrite, stage: Int, catalog: inout SinkCatalog, on connection: PostgresConnection
    ) async throws {
        let tables = write.rowsByTable()
        for (table, rows) in tables {
            try await self.evolve(
                table: table, root: write.table, primaryKey: table == write.table ? write.primaryKey : [],
                catalog: &catalog, on: connection
            ) { schema in rows.map { schema.absorb($0) } }
        }
        for (table, rows) in tables {
            guard let schema = catalog.schemas[table] else { continue }
            let isRoot = table == write.table
            let target = write.mode == .merge && isRoot ? "_gather_stage_\(stage)" : table
            if target != table { try await self.createStage(target, like: table, on: connection) }
            let types = schema.columns.map(\.type)
            try await Self.copy(
                into: target, columns: schema.columns.map(\.name), count: rows.count, on: connection,
                server: self.server
            ) { range, out in
                var values = [Value?](repeating: nil, count: schema.columns.count)
                for row in rows[range] {
                    for index in values.indices { values[index] = nil }
                    for (key, value) in row {
                        if let index = schema.columnIndex(forField: key) { values[index] = value }
                    }
                    CopyText.append(values, types: types, to: &out)
                }
            }
            if target != table {
                try await self.mergeStage(target, into: schema, on: connection)
                for child in catalog.family(of: table).dropFirst() {
                    try await Self.run(
                        "DELETE FROM \(quoteIdentifier(child)) WHERE \(quoteIdentifier(Normalizer.rootKeyColumn))::text "
                            + "IN (SELECT \(quoteIdentifier(Normalizer.keyColumn))::text FROM \(target))",
                        on: connection, server: self.server)
                }
            }
        }
    }

    /// A bulk load's block: the schema evolves once, then the block's cells are copied as they were read.
    private func apply(
        _ block: RowBlock, of write: TableWrite, stage: Int, catalog: inout SinkCatalog,
        on connection: PostgresConnection
    ) async throws {
        try await self.evolve(
            table: write.table, root: write.table, primaryKey: write.primaryKey, catalog: &catalog, on: connection
        ) { schema in [schema.absorb(fields: block.fields, types: block.types)] }
        guard let schema = catalog.schemas[write.table] else { return }
        let fieldIndex = Dictionary(block.fields.enumerated().map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
        let columns = schema.columns.map { fieldIndex[$0.sourceName] }
        let types = schema.columns.map(\.type)
        let target = write.mode == .merge ? "_gather_stage_\(stage)" : write.table
        if target != write.table { try await self.createStage(target, like: write.table, on: connection) }
        try await Self.copy(
            into: target, columns: schema.columns.map(\.name), count: block.rowCount, on: connection,
            server: self.server
        ) { range, out in
            CopyText.append(block, rows: range, columns: columns, types: types, to: &out)
        }
        if target != write.table { try await self.mergeStage(target, into: schema, on: connection) }
    }

    // MARK: - Merge through staging

    private func createStage(_ stage: String, like table: String, on connection: PostgresConnection) async throws {
        try await Self.run(
            "CREATE TEMP TABLE \(stage) (LIKE \(quoteIdentifier(table))) ON COMMIT DROP", on: connection,
            server: self.server)
    }

    /// Upserts the staged rows: the last staged row of each key wins (rows with a NULL key are all inserted, as
    /// they never conflict).
    private func mergeStage(_ stage: String, into schema: TableSchema, on connection: PostgresConnection)
        async throws
    {
        let names = schema.columns.map { quoteIdentifier($0.name) }.joined(separator: ", ")
        let keys = Self.dialect.keyColumns(schema).map(quoteIdentifier)
        let keyList = keys.joined(separator: ", ")
        let anyNull = keys.map { "\($0) IS NULL" }.joined(separator: " OR ")
        let sql = """
            INSERT INTO \(quoteIdentifier(schema.name)) (\(names))
            SELECT \(names) FROM (SELECT DISTINCT ON (\(keyList)) * FROM \(stage) WHERE NOT (\(anyNull))
              ORDER BY \(keyList), ctid DESC) AS latest
            UNION ALL SELECT \(names) FROM \(stage) WHERE \(anyNull)
            """ + Self.dialect.conflictClause(schema)
        try await Self.run(sql, on: connection, server: self.server)
    }

    // MARK: - Schema

    private func evolve(
        table: String, root: String, primaryKey: [String], catalog: inout SinkCatalog,
        on connection: PostgresConnection, absorb: (inout TableSchema) -> [SchemaChange]
    ) async throws {
        let change = try catalog.evolve(table: table, root: root, primaryKey: primaryKey, absorb: absorb)
        let schema = change.schema
        let server = self.server
        if change.created {
            try await Self.run(Self.dialect.forgetColumns, [.string(table)], on: connection, server: server)
            try await Self.run(Self.dialect.createTable(schema), on: connection, server: server)
            if let index = Self.dialect.index(for: schema, isChild: change.isChild) {
                try await Self.run(index, on: connection, server: server)
            }
            try await Self.run(
                Self.dialect.recordTable,
                [.string(table), .string(root), .string(JSONWriter.string(.array(primaryKey.map(Value.string))))],
                on: connection, server: server)
        } else {
            for column in change.added {
                try await Self.run(Self.dialect.addColumn(column, to: table), on: connection, server: server)
            }
            if !change.widened.isEmpty {
                let alterations = change.widened.map { Self.alteration($0) }.joined(separator: ", ")
                try await Self.run(
                    "ALTER TABLE \(quoteIdentifier(table)) \(alterations)", on: connection, server: server)
            }
        }
        for column in change.columnsToRecord {
            let position = schema.columns.firstIndex { $0.name == column.name } ?? 0
            try await Self.run(
                Self.dialect.recordColumn,
                [
                    .string(table), .string(column.name), .string(column.sourceName),
                    column.type.map { .string($0.rawValue) } ?? .null, Self.number(position),
                ], on: connection, server: server)
        }
    }

    /// `ALTER COLUMN … TYPE … USING …` for a widened column; every old value keeps its meaning.
    static func alteration(_ widening: SchemaEvolution.Widening) -> String {
        let name = quoteIdentifier(widening.column.name)
        let type = Self.dialect.type(widening.column.type)
        let using: String
        switch (widening.from, widening.column.type) {
        case (.boolean?, .text?): using = "CASE WHEN \(name) THEN 'true' ELSE 'false' END"
        case (.boolean?, _): using = "\(name)::int::\(type)"
        default: using = "\(name)::\(type)"
        }
        return "ALTER COLUMN \(name) TYPE \(type) USING \(using)"
    }

    // MARK: - Statements

    /// Runs `body` between `BEGIN` and `COMMIT`; any error rolls back.
    static func transaction(
        _ connection: PostgresConnection, server: PostgresServer,
        _ body: (PostgresConnection) async throws -> Void
    ) async throws {
        try await Self.run("BEGIN", on: connection, server: server)
        do {
            try await body(connection)
        } catch {
            try? await Self.run("ROLLBACK", on: connection, server: server)
            throw error
        }
        try await Self.run("COMMIT", on: connection, server: server)
    }

    static func run(_ sql: String, _ binds: [Value] = [], on connection: PostgresConnection, server: PostgresServer)
        async throws
    {
        try await connection.query(PostgresServer.query(sql, binds), logger: server.logger)
    }

    static func rows(_ sql: String, on connection: PostgresConnection, server: PostgresServer) async throws
        -> [[Value]]
    {
        var rows: [[Value]] = []
        for try await row in try await connection.query(PostgresServer.query(sql, []), logger: server.logger) {
            rows.append(try PostgresValues.values(of: row))
        }
        return rows
    }

    /// `COPY table (columns) FROM STDIN` of `count` rows, which `produce(range, &out)` encodes a slice at a time:
    /// each slice is sent as soon as it is encoded, so the server parses one while the next is being built.
    static func copy(
        into table: String, columns: [String], count: Int, on connection: PostgresConnection,
        server: PostgresServer, produce: (Range<Int>, inout [UInt8]) -> Void
    ) async throws {
        guard count > 0 else { return }
        // PostgresNIO wraps names in double quotes without escaping those inside: double them here.
        func escaped(_ name: String) -> String { String(name.flatMap { $0 == "\"" ? ["\"", "\""] : [$0] }) }
        try await connection.copyFrom(
            table: escaped(table), columns: columns.map(escaped), logger: server.logger
        ) { writer in
            var data: [UInt8] = []
            data.reserveCapacity(Self.copyChunk + Self.copyChunk / 4)
            var start = 0
            while start < count {
                let end = min(count, start + Self.copySlice)
                produce(start..<end, &data)
                start = end
                if data.count >= Self.copyChunk || start == count {
                    try await writer.write(ByteBuffer(bytes: data))
                    data.removeAll(keepingCapacity: true)
                }
            }
        }
    }

    /// Rows encoded per slice of a COPY.
    private static let copySlice = 2048
}

/// An error that a ``PostgresStore/commit(preparing:)`` closure throws to refuse its commit on purpose (the
/// transaction rolls back): passed to the caller unchanged, where any other error is a database failure.
public protocol CommitRefusal: Error {}
