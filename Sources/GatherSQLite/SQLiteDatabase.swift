import GRDB
public import GatherCore
import GatherStore
import Synchronization

/// A SQLite database file that tables of ``Value`` rows are written to, in WAL mode, one transaction per batch.
///
/// Identifiers are always quoted (a column named `"; DROP TABLE x; --` is just a strange column name); values
/// are always bound, never interpolated. Arrays and objects are stored as JSON text.
///
/// ```swift
/// let db = try SQLiteDatabase(path: "results.db")
/// try db.createTable("items", columns: [.init("id", .integer), .init("name", .text)])
/// try db.insert(into: "items", columns: ["id", "name"], rows: [[1, "one"], [2, "two"]])
/// ```
/// Calls block while SQLite works: call them off Swift's cooperative pool (GatherJobs uses its `BlockingIO`).
public final class SQLiteDatabase: Sendable {
    /// The file path.
    public let path: String
    private let connection: DatabaseQueue
    /// Set by ``close()``. GRDB treats any use of a closed queue as a programming error (it crashes), so every
    /// call checks it first and throws instead. `close()` is the owner's last call, after its work has ended.
    private let isClosed = Atomic<Bool>(false)

    /// The open connection.
    var queue: DatabaseQueue {
        get throws(SQLiteError) {
            guard !self.isClosed.load(ordering: .acquiring) else {
                throw SQLiteError(message: "the SQLite database \(self.path) was closed; open it again to use it")
            }
            return self.connection
        }
    }

    /// Opens (creating if needed) the database at `path`.
    /// - Throws: ``SQLiteError`` naming the path and SQLite's reason.
    public init(path: String) throws(SQLiteError) {
        self.path = path
        do {
            var configuration = Configuration()
            configuration.journalMode = .wal
            configuration.busyMode = .timeout(10)
            configuration.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous = NORMAL") }
            self.connection = try DatabaseQueue(path: path, configuration: configuration)
        } catch {
            throw SQLiteError(
                message: "cannot open the SQLite database \(path): \(Self.reason(error)); check the path and its folder"
            )
        }
    }

    /// Closes the connection: SQLite checkpoints the write-ahead log into the file and removes `-wal` and
    /// `-shm`, so the `.db` file alone holds everything. Later calls fail with a clear error.
    public func close() throws(SQLiteError) {
        guard !self.isClosed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        do {
            try self.connection.close()
        } catch {
            throw SQLiteError(message: "cannot close the SQLite database \(self.path): \(Self.reason(error))")
        }
    }

    /// Creates `table` with `columns` unless it exists; a table that exists gets the columns it lacks (a table an
    /// older version made).
    public func createTable(_ table: String, columns: [SQLiteColumn]) throws(SQLiteError) {
        let definitions = columns.map { "\(quoteIdentifier($0.name)) \($0.type.sql)" }.joined(separator: ", ")
        try self.run("creating table \(table)") { db in
            try db.execute(sql: "CREATE TABLE IF NOT EXISTS \(quoteIdentifier(table)) (\(definitions))")
            let existing = Set(
                try String.fetchAll(db, sql: "SELECT name FROM pragma_table_info(?)", arguments: [table]))
            for column in columns where !existing.contains(column.name) {
                try db.execute(
                    sql:
                        "ALTER TABLE \(quoteIdentifier(table)) ADD COLUMN \(quoteIdentifier(column.name)) \(column.type.sql)"
                )
            }
        }
    }

    /// Inserts `rows` (each with one value per column, in order) in one transaction.
    public func insert(into table: String, columns: [String], rows: [[Value]]) throws(SQLiteError) {
        guard !rows.isEmpty else { return }
        let names = columns.map(quoteIdentifier).joined(separator: ", ")
        let marks = Array(repeating: "?", count: columns.count).joined(separator: ", ")
        let sql = "INSERT INTO \(quoteIdentifier(table)) (\(names)) VALUES (\(marks))"
        try self.run("inserting into \(table)") { db in
            let statement = try db.cachedStatement(sql: sql)
            for row in rows {
                try statement.execute(arguments: StatementArguments(row.map(Self.databaseValue)))
            }
        }
    }

    /// Runs a read-only query and returns its rows as values (for tests and checks).
    public func query(_ sql: String) throws(SQLiteError) -> [[Value]] {
        do {
            return try self.queue.read { db in
                try Row.fetchAll(db, sql: sql).map { row in
                    (0..<row.count).map { index in Self.value(row[index] as DatabaseValue) }
                }
            }
        } catch {
            throw SQLiteError(message: "query failed on \(self.path): \(Self.reason(error))")
        }
    }

    /// Runs a read-only query and hands its rows to `body` one at a time, as records (column name → value), in
    /// constant memory (a SQLite cursor; blocks: call off the cooperative pool). `arguments` bind `?` / `?1`
    /// parameters.
    public func forEachRecord(
        _ sql: String, arguments: [Value] = [], _ body: (GatherCore.Record) throws -> Void
    ) throws {
        do {
            try self.queue.read { db in
                let cursor = try Row.fetchCursor(
                    db, sql: sql, arguments: StatementArguments(arguments.map(Self.databaseValue)))
                while let row = try cursor.next() {
                    var record = GatherCore.Record()
                    for (column, value) in row { record[column] = Self.value(value) }
                    try body(record)
                }
            }
        } catch let error as DatabaseError {
            throw SQLiteError(message: "the query on \(self.path) failed: \(Self.reason(error))")
        }
    }

    /// Runs `body` in one write transaction; any error rolls it back and is reported as `what` failing.
    func write(_ what: String, _ body: (Database) throws -> Void) throws(SQLiteError) {
        try self.run(what, body)
    }

    /// Runs `body` as a read.
    func read<T>(_ what: String, _ body: (Database) throws -> T) throws(SQLiteError) -> T {
        do {
            return try self.queue.read { db in try body(db) }
        } catch {
            throw SQLiteError(message: "\(what) in \(self.path) failed: \(Self.reason(error))")
        }
    }

    private func run(_ what: String, _ body: (Database) throws -> Void) throws(SQLiteError) {
        do {
            try self.queue.write { db in try body(db) }
        } catch {
            throw SQLiteError(message: "\(what) in \(self.path) failed: \(Self.reason(error))")
        }
    }

    private static func reason(_ error: any Error) -> String {
        (error as? DatabaseError)?.message ?? String(describing: error)
    }

    static func databaseValue(_ value: Value) -> DatabaseValue {
        sqliteValue(value)
    }

    static func value(_ value: DatabaseValue) -> Value {
        gatherValue(value)
    }
}

/// The SQLite value stored for `value`: booleans as 0/1, non-finite doubles as NULL, arrays and objects as JSON.
func sqliteValue(_ value: Value) -> DatabaseValue {
    switch value {
    case .null: return .null
    case .bool(let b): return (b ? 1 : 0).databaseValue
    case .int(let i): return i.databaseValue
    case .double(let d): return d.isFinite ? d.databaseValue : .null
    case .string(let s): return s.databaseValue
    case .array, .object: return JSONWriter.string(value).databaseValue
    }
}

/// The value read back from SQLite (blobs as base64 text).
func gatherValue(_ value: DatabaseValue) -> Value {
    switch value.storage {
    case .null: return .null
    case .int64(let i): return .int(i)
    case .double(let d): return .double(d)
    case .string(let s): return .string(s)
    case .blob(let data): return .string(Base64.encode(Array(data)))
    }
}

/// A column of a table created by ``SQLiteDatabase/createTable(_:columns:)``.
public struct SQLiteColumn: Sendable, Hashable {
    /// SQLite's column affinities.
    public enum ColumnType: Sendable, Hashable {
        case integer, real, text, blob, any
        var sql: String {
            switch self {
            case .integer: "INTEGER"
            case .real: "REAL"
            case .text: "TEXT"
            case .blob: "BLOB"
            case .any: ""
            }
        }
    }
    /// The column name (any text; it is quoted).
    public var name: String
    /// The declared type.
    public var type: ColumnType
    /// Creates a column.
    public init(_ name: String, _ type: ColumnType) {
        self.name = name
        self.type = type
    }
}

/// A SQLite failure, with the database path and SQLite's own reason.
public struct SQLiteError: Error, Sendable, CustomStringConvertible {
    /// What failed, where, and why.
    public var message: String
    public var description: String { self.message }
}
