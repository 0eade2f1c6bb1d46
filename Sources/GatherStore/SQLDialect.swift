import GatherCore

/// The SQL that Gather's database sinks issue, in each database's dialect: column types, DDL for inferred
/// schemas, the merge (upsert) clause, and Gather's own tables. One module, two dialects: `SQLiteStore` and
/// `PostgresStore` both build their statements here, so a schema evolves the same way on either.
///
/// | logical type | SQLite | PostgreSQL |
/// |---|---|---|
/// | boolean | `BOOLEAN` (0/1) | `boolean` |
/// | integer | `INTEGER` | `bigint` |
/// | real | `REAL` | `double precision` |
/// | timestamp | `TIMESTAMP` (the text received) | `timestamptz` (normalised to UTC) |
/// | text | `TEXT` | `text` |
/// | json | `JSON` (text) | `jsonb` |
///
/// Identifiers are always quoted with ``quoteIdentifier(_:)``; values are always bound or sent as COPY data.
public enum SQLDialect: Sendable, Hashable {
    case sqlite
    case postgres

    /// The column type declared for a logical type (`nil`: only nulls seen so far).
    public func type(_ type: ColumnType?) -> String {
        switch (self, type) {
        case (.sqlite, .boolean?): "BOOLEAN"
        case (.sqlite, .integer?): "INTEGER"
        case (.sqlite, .real?): "REAL"
        case (.sqlite, .timestamp?): "TIMESTAMP"
        case (.sqlite, .text?): "TEXT"
        case (.sqlite, .json?): "JSON"
        case (.sqlite, nil): ""
        case (.postgres, .boolean?): "boolean"
        case (.postgres, .integer?): "bigint"
        case (.postgres, .real?): "double precision"
        case (.postgres, .timestamp?): "timestamptz"
        case (.postgres, .json?): "jsonb"
        // A column of nulls so far is text in PostgreSQL (it needs a type); it widens like any other column.
        case (.postgres, .text?), (.postgres, nil): "text"
        }
    }

    /// The `n`th (1-based) bound parameter.
    public func parameter(_ n: Int) -> String {
        self == .sqlite ? "?" : "$\(n)"
    }

    /// `count` parameters separated by commas, numbered from `first`.
    public func parameters(_ count: Int, from first: Int = 1) -> String {
        (first..<(first + count)).map(self.parameter).joined(separator: ", ")
    }

    // MARK: - Data tables

    /// `CREATE TABLE` for `schema`'s columns.
    public func createTable(_ schema: TableSchema) -> String {
        let definitions = schema.columns.map { "\(quoteIdentifier($0.name)) \(self.type($0.type))" }
        return "CREATE TABLE IF NOT EXISTS \(quoteIdentifier(schema.name)) (\(definitions.joined(separator: ", ")))"
    }

    /// `ALTER TABLE … ADD COLUMN` for a new column.
    public func addColumn(_ column: ColumnSchema, to table: String) -> String {
        "ALTER TABLE \(quoteIdentifier(table)) ADD COLUMN \(quoteIdentifier(column.name)) \(self.type(column.type))"
    }

    /// The index a new table gets: unique over the merge key, or over `_gather_root_key` for a child table.
    public func index(for schema: TableSchema, isChild: Bool) -> String? {
        let table = quoteIdentifier(schema.name)
        if !schema.primaryKey.isEmpty {
            let columns = self.keyColumns(schema).map(quoteIdentifier).joined(separator: ", ")
            return "CREATE UNIQUE INDEX IF NOT EXISTS \(quoteIdentifier(schema.name + "__gather_pk")) ON \(table) "
                + "(\(columns))"
        }
        guard isChild else { return nil }
        return "CREATE INDEX IF NOT EXISTS \(quoteIdentifier(schema.name + "__gather_root")) ON \(table) "
            + "(\(quoteIdentifier(Normalizer.rootKeyColumn)))"
    }

    /// The database column names of the merge key.
    public func keyColumns(_ schema: TableSchema) -> [String] {
        schema.primaryKey.compactMap { schema.column(forField: $0)?.name }
    }

    /// ` ON CONFLICT (key) DO UPDATE SET c = excluded.c, …` (or `DO NOTHING` when every column is the key).
    public func conflictClause(_ schema: TableSchema) -> String {
        let keys = self.keyColumns(schema)
        let updates = schema.columns.filter { !keys.contains($0.name) }.map {
            "\(quoteIdentifier($0.name)) = excluded.\(quoteIdentifier($0.name))"
        }
        return " ON CONFLICT (\(keys.map(quoteIdentifier).joined(separator: ", "))) DO "
            + (updates.isEmpty ? "NOTHING" : "UPDATE SET " + updates.joined(separator: ", "))
    }

    /// `INSERT` of every column of `schema` with bound values; with `upsert`, a row with an existing key updates it.
    public func insert(_ schema: TableSchema, upsert: Bool) -> String {
        let names = schema.columns.map { quoteIdentifier($0.name) }.joined(separator: ", ")
        return
            "INSERT INTO \(quoteIdentifier(schema.name)) (\(names)) VALUES (\(self.parameters(schema.columns.count)))"
            + (upsert ? self.conflictClause(schema) : "")
    }

    // MARK: - Gather's tables

    /// `CREATE TABLE IF NOT EXISTS` for each of Gather's own tables (see `SQLiteStore` for what each holds).
    public var metaTables: [String] {
        let integer = self == .sqlite ? "INTEGER" : "bigint"
        let json = self == .sqlite ? "JSON" : "jsonb"
        let id = self == .sqlite ? "id INTEGER PRIMARY KEY" : "id bigserial PRIMARY KEY"
        let counters = ["requests", "pages", "records", "written", "rows", "filtered", "errors", "retries"]
            .map { "\($0) \(integer)" }.joined(separator: ", ")
        return [
            """
            CREATE TABLE IF NOT EXISTS _gather_runs (run_id TEXT PRIMARY KEY, pipeline TEXT, started_at TEXT,
              finished_at TEXT, outcome TEXT, requests \(integer), pages \(integer), rows_written \(integer),
              filtered \(integer), errors \(integer), retries \(integer), summary \(json))
            """,
            """
            CREATE TABLE IF NOT EXISTS _gather_errors (\(id), run_id TEXT, resource TEXT, request TEXT, code TEXT,
              message TEXT, payload TEXT, created_at TEXT)
            """,
            """
            CREATE TABLE IF NOT EXISTS _gather_state (scope TEXT NOT NULL, key TEXT NOT NULL, value TEXT,
              PRIMARY KEY (scope, key))
            """,
            """
            CREATE TABLE IF NOT EXISTS _gather_columns (table_name TEXT NOT NULL, column_name TEXT NOT NULL,
              source_name TEXT, type TEXT, position \(integer), PRIMARY KEY (table_name, column_name))
            """,
            """
            CREATE TABLE IF NOT EXISTS _gather_resource_runs (run_id TEXT NOT NULL, resource TEXT NOT NULL,
              \(counters), PRIMARY KEY (run_id, resource))
            """,
            "CREATE TABLE IF NOT EXISTS _gather_tables (table_name TEXT PRIMARY KEY, root TEXT, primary_key \(json))",
            """
            CREATE TABLE IF NOT EXISTS _gather_frontier (\(self == .sqlite ? "seq INTEGER" : "seq bigserial") PRIMARY KEY,
              scope TEXT NOT NULL, url TEXT NOT NULL, depth \(integer) NOT NULL, done \(integer) NOT NULL DEFAULT 0,
              UNIQUE (scope, url))
            """,
            "CREATE INDEX IF NOT EXISTS _gather_frontier_pending ON _gather_frontier (scope, done, seq)",
        ]
    }

    /// Adds a URL to a frontier unless seen (parameters: scope, url, depth).
    public var discover: String {
        "INSERT INTO _gather_frontier (scope, url, depth) VALUES (\(self.parameters(3))) "
            + "ON CONFLICT (scope, url) DO NOTHING"
    }

    /// Marks a frontier URL done (parameters: scope, url).
    public var markDone: String {
        "UPDATE _gather_frontier SET done = 1 WHERE scope = \(self.parameter(1)) AND url = \(self.parameter(2))"
    }

    /// Forgets a frontier (parameter: scope).
    public var resetFrontier: String { "DELETE FROM _gather_frontier WHERE scope = \(self.parameter(1))" }

    /// Pending entries after a sequence number (parameters: scope, after, limit).
    public var pendingFrontier: String {
        "SELECT seq, url, depth FROM _gather_frontier WHERE scope = \(self.parameter(1)) AND done = 0 "
            + "AND seq > \(self.parameter(2)) ORDER BY seq LIMIT \(self.parameter(3))"
    }

    /// The columns of `_gather_errors` that ``insertError`` binds, in order.
    public static let errorColumns = ["run_id", "resource", "request", "code", "message", "payload", "created_at"]

    /// Inserts an error row (parameters in ``errorColumns`` order).
    public var insertError: String {
        "INSERT INTO _gather_errors (\(Self.errorColumns.joined(separator: ", "))) VALUES (\(self.parameters(7)))"
    }

    /// Sets a state entry (parameters: scope, key, value).
    public var putState: String {
        "INSERT INTO _gather_state (scope, key, value) VALUES (\(self.parameters(3))) "
            + "ON CONFLICT (scope, key) DO UPDATE SET value = excluded.value"
    }

    /// Removes one state entry (parameters: scope, key).
    public var deleteState: String {
        "DELETE FROM _gather_state WHERE scope = \(self.parameter(1)) AND key = \(self.parameter(2))"
    }

    /// Removes a scope's entries (parameter: scope).
    public var clearState: String { "DELETE FROM _gather_state WHERE scope = \(self.parameter(1))" }

    /// Removes the entries of every scope starting with a prefix (parameter: prefix).
    public var clearStatePrefix: String {
        self == .sqlite
            ? "DELETE FROM _gather_state WHERE substr(scope, 1, length(?1)) = ?1"
            : "DELETE FROM _gather_state WHERE starts_with(scope, $1)"
    }

    /// State entries whose scope starts with a prefix (parameter: prefix).
    public var selectState: String {
        self == .sqlite
            ? "SELECT scope, key, value FROM _gather_state WHERE substr(scope, 1, length(?1)) = ?1 ORDER BY scope, key"
            : "SELECT scope, key, value FROM _gather_state WHERE starts_with(scope, $1) ORDER BY scope, key"
    }

    /// Adds a resource's counters (parameters: run id, resource, then ``ResourceCounts`` in declaration order).
    public var addCounts: String {
        let names = ["requests", "pages", "records", "written", "rows", "filtered", "errors", "retries"]
        let sums = names.map { "\($0) = _gather_resource_runs.\($0) + excluded.\($0)" }.joined(separator: ", ")
        return "INSERT INTO _gather_resource_runs (run_id, resource, \(names.joined(separator: ", "))) "
            + "VALUES (\(self.parameters(10))) ON CONFLICT (run_id, resource) DO UPDATE SET \(sums)"
    }

    /// Inserts or replaces a run row (parameters in ``RunRow`` order: id, pipeline, started, finished, outcome,
    /// requests, pages, rows written, filtered, errors, retries, summary).
    public var upsertRun: String {
        let names = [
            "run_id", "pipeline", "started_at", "finished_at", "outcome", "requests", "pages", "rows_written",
            "filtered", "errors", "retries", "summary",
        ]
        let updates = names.dropFirst().map { "\($0) = excluded.\($0)" }.joined(separator: ", ")
        let summary = self == .postgres ? "$12::jsonb" : "?"
        return
            "INSERT INTO _gather_runs (\(names.joined(separator: ", "))) VALUES (\(self.parameters(11)), \(summary)) "
            + "ON CONFLICT (run_id) DO UPDATE SET \(updates)"
    }

    /// The latest run of a pipeline (parameter: pipeline).
    public var selectLastRun: String {
        """
        SELECT run_id, pipeline, started_at, finished_at, outcome, requests, pages, rows_written, filtered, errors,
        retries, summary\(self == .postgres ? "::text" : "") FROM _gather_runs WHERE pipeline = \(self.parameter(1))
        ORDER BY started_at DESC, \(self == .sqlite ? "rowid" : "run_id") DESC LIMIT 1
        """
    }

    /// A run's counters per resource (parameter: run id).
    public var selectCounts: String {
        """
        SELECT resource, requests, pages, records, written, rows, filtered, errors, retries
        FROM _gather_resource_runs WHERE run_id = \(self.parameter(1))
        """
    }

    /// Records a column's source field and logical type (parameters: table, column, source, type, position).
    public var recordColumn: String {
        "INSERT INTO _gather_columns (table_name, column_name, source_name, type, position) "
            + "VALUES (\(self.parameters(5))) ON CONFLICT (table_name, column_name) DO UPDATE SET "
            + "source_name = excluded.source_name, type = excluded.type, position = excluded.position"
    }

    /// Records a data table's top-level table and merge key (parameters: table, root, key as JSON).
    public var recordTable: String {
        let key = self == .postgres ? "$3::jsonb" : "?"
        return "INSERT INTO _gather_tables (table_name, root, primary_key) VALUES (\(self.parameters(2)), \(key)) "
            + "ON CONFLICT (table_name) DO UPDATE SET root = excluded.root, primary_key = excluded.primary_key"
    }

    /// Every table's root and key, for ``SinkCatalog/init(tables:columns:)``: only tables that still exist, so a
    /// table dropped outside Gather is created afresh by the next load.
    public var selectTables: String {
        self == .sqlite
            ? "SELECT table_name, root, primary_key FROM _gather_tables "
                + "WHERE table_name IN (SELECT name FROM sqlite_master WHERE type = 'table')"
            : "SELECT table_name, root, primary_key::text FROM _gather_tables "
                + "WHERE to_regclass(quote_ident(table_name)) IS NOT NULL"
    }

    /// Forgets a table's recorded columns (parameter: table), before a table of that name is created again.
    public var forgetColumns: String { "DELETE FROM _gather_columns WHERE table_name = \(self.parameter(1))" }

    /// Every column, in position order, for ``SinkCatalog/init(tables:columns:)``.
    public var selectColumns: String {
        "SELECT table_name, column_name, source_name, type FROM _gather_columns ORDER BY table_name, position"
    }
}

/// Quotes an SQL identifier: wraps it in double quotes and doubles any inside (SQLite and PostgreSQL alike).
public func quoteIdentifier(_ name: String) -> String {
    "\"" + String(name.flatMap { $0 == "\"" ? ["\"", "\""] : [$0] }) + "\""
}
