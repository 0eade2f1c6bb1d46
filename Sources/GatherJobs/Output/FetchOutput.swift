import GatherCore
import GatherFiles
import GatherPostgres
import GatherSQLite
import GatherStore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Where `gather fetch` puts its records. Records arrive one at a time from one task; ``finish()`` flushes.
protocol FetchOutput: AnyObject {
    /// Takes one record (and its JSON line, already serialized by the worker that fetched it).
    func write(_ record: FetchRecord, line: [UInt8]) async throws
    /// Flushes and closes. Runs even when the job was cancelled.
    func finish() async throws
}

/// A table of fetch records whose rows carry their run: a resumed run reads back the input lines it has done.
protocol FetchTableOutput: FetchOutput {
    /// The input lines run `runID` has rows for.
    func doneLines(runID: String) async throws -> LineSet
}

/// JSON Lines to a file or standard output, buffered and written in 256 KiB blocks off the cooperative pool.
final class JSONLinesOutput: FetchOutput {
    private let descriptor: Int32
    private let ownsDescriptor: Bool
    private let path: String
    private var buffer: [UInt8] = []
    private let flushThreshold = 256 << 10

    /// Opens `path` (truncating it), or standard output for `-`.
    init(path: String) throws {
        self.path = path
        if path == "-" {
            self.descriptor = 1
            self.ownsDescriptor = false
        } else {
            let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
            guard fd >= 0 else {
                throw JobError.usage(
                    "cannot write \(path): \(String(cString: strerror(errno))); check the folder exists")
            }
            self.descriptor = fd
            self.ownsDescriptor = true
        }
        self.buffer.reserveCapacity(self.flushThreshold + (64 << 10))
    }

    deinit {
        if self.ownsDescriptor { close(self.descriptor) }
    }

    func write(_ record: FetchRecord, line: [UInt8]) async throws {
        self.buffer.append(contentsOf: line)
        if self.buffer.count >= self.flushThreshold { try await self.flush() }
    }

    func finish() async throws {
        try await self.flush()
    }

    private func flush() async throws {
        guard !self.buffer.isEmpty else { return }
        let bytes = self.buffer
        self.buffer.removeAll(keepingCapacity: true)
        let fd = self.descriptor
        let path = self.path
        try await BlockingIO.run {
            var offset = 0
            while offset < bytes.count {
                let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + offset, bytes.count - offset) }
                if n < 0 {
                    if errno == EINTR { continue }
                    throw JobError.fatal("writing \(path) failed: \(String(cString: strerror(errno)))")
                }
                offset += n
            }
        }
    }
}

/// Rows in a SQLite table (`fetch_results` by default), inserted in transactions of up to 1,000 rows.
///
/// Columns: `line`, `id`, `url`, `status`, `elapsed_ms`, `attempts`, `data` (JSON text), `text`, `body_base64`, `file`,
/// `error_code`, `error_message`, `fetched_at`, `run_id`.
final class SQLiteFetchOutput: FetchTableOutput {
    static let columns: [SQLiteColumn] = [
        .init("line", .integer), .init("id", .any), .init("url", .text), .init("status", .integer),
        .init("elapsed_ms", .real), .init("attempts", .integer), .init("data", .text), .init("text", .text),
        .init("body_base64", .text), .init("file", .text), .init("error_code", .text), .init("error_message", .text),
        .init("fetched_at", .text), .init("run_id", .text),
    ]
    private let database: SQLiteDatabase
    private let table: String
    private let runID: String
    private var pending: [[Value]] = []
    private let batchSize = 1000

    init(path: String, table: String, runID: String) async throws {
        self.table = table
        self.runID = runID
        self.database = try await BlockingIO.run { try SQLiteDatabase(path: path) }
        let database = self.database
        try await BlockingIO.run { try database.createTable(table, columns: Self.columns) }
    }

    func write(_ record: FetchRecord, line: [UInt8]) async throws {
        self.pending.append(Self.row(record, runID: self.runID))
        if self.pending.count >= self.batchSize { try await self.flush() }
    }

    func doneLines(runID: String) async throws -> LineSet {
        let database = self.database
        let sql = "SELECT line FROM \(quoteIdentifier(self.table)) WHERE run_id = ?"
        return try await BlockingIO.run {
            var lines = LineSet()
            try database.forEachRecord(sql, arguments: [.string(runID)]) { record in
                if let line = record["line"]?.intValue { lines.insert(Int(line)) }
            }
            return lines
        }
    }

    /// A record's values, in ``columns`` order (shared with ``PostgresFetchOutput``).
    static func row(_ record: FetchRecord, runID: String) -> [Value] {
        [
            .int(Int64(record.line)), record.id ?? .null, .string(record.url),
            record.status.map { .int(Int64($0)) } ?? .null, .double(record.elapsedMs), .int(Int64(record.attempts)),
            record.dataJSON.map { .string(String(decoding: $0, as: UTF8.self)) } ?? .null,
            record.text.map(Value.string) ?? .null,
            record.bodyBase64.map(Value.string) ?? .null, record.file.map(Value.string) ?? .null,
            record.failure.map { .string($0.code) } ?? .null,
            record.failure.map { .string($0.message) } ?? .null, .string(Timestamp.nowWithMilliseconds()),
            .string(runID),
        ]
    }

    func finish() async throws {
        try await self.flush()
        let database = self.database
        try await BlockingIO.run { try database.close() }
    }

    private func flush() async throws {
        guard !self.pending.isEmpty else { return }
        let rows = self.pending
        self.pending.removeAll(keepingCapacity: true)
        let database = self.database
        let table = self.table
        let columns = Self.columns.map(\.name)
        try await BlockingIO.run { try database.insert(into: table, columns: columns, rows: rows) }
    }
}

/// Rows in a PostgreSQL table (`fetch_results` by default): the same columns as ``SQLiteFetchOutput``, typed
/// `bigint` / `text` / `double precision` / `jsonb` / `timestamptz`, copied in (`COPY`) 1,000 rows per
/// transaction. An `id` that is not a string is stored as its JSON text.
final class PostgresFetchOutput: FetchTableOutput {
    private static let types: [ColumnType?] = [
        .integer, .text, .text, .integer, .real, .integer, .json, .text, .text, .text, .text, .text, .timestamp, .text,
    ]
    private let server: PostgresServer
    private let table: String
    private let runID: String
    private var pending: [[Value]] = []
    private let batchSize = 1000

    init(url: PostgresURL, table: String, runID: String) async throws {
        self.table = table
        self.runID = runID
        self.server = try await PostgresServer.connect(url, maxConnections: 1)
        let dialect = SQLDialect.postgres
        let columns = zip(SQLiteFetchOutput.columns, Self.types).map { column, type in
            "\(quoteIdentifier(column.name)) \(dialect.type(type))"
        }
        do {
            try await self.server.execute(
                "CREATE TABLE IF NOT EXISTS \(quoteIdentifier(table)) (\(columns.joined(separator: ", ")))")
            // A table an older version made has no run column.
            try await self.server.execute("ALTER TABLE \(quoteIdentifier(table)) ADD COLUMN IF NOT EXISTS run_id text")
        } catch {
            await self.server.close()
            throw PostgresError("cannot create \(table) in \(url): \(describe(error))")
        }
    }

    func write(_ record: FetchRecord, line: [UInt8]) async throws {
        var row = SQLiteFetchOutput.row(record, runID: self.runID)
        if !row[1].isNull, row[1].stringValue == nil { row[1] = .string(JSONWriter.string(row[1])) }  // id as text
        self.pending.append(row)
        if self.pending.count >= self.batchSize { try await self.flush() }
    }

    func doneLines(runID: String) async throws -> LineSet {
        var lines = LineSet()
        for row in try await self.server.query(
            "SELECT line FROM \(quoteIdentifier(self.table)) WHERE run_id = $1", [.string(runID)])
        {
            if let line = row.first?.intValue { lines.insert(Int(line)) }
        }
        return lines
    }

    func finish() async throws {
        do {
            try await self.flush()
        } catch {
            await self.server.close()
            throw error
        }
        await self.server.close()
    }

    private func flush() async throws {
        guard !self.pending.isEmpty else { return }
        let rows = self.pending
        self.pending.removeAll(keepingCapacity: true)
        do {
            try await self.server.copy(
                into: self.table, columns: SQLiteFetchOutput.columns.map(\.name), rows: rows, types: Self.types)
        } catch {
            throw JobError.fatal("writing to \(self.table) in \(self.server.url) failed: \(describe(error))")
        }
    }
}
