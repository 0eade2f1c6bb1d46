public import GatherCore
public import GatherStore
import Logging
import NIOCore
import NIOSSL
public import PostgresNIO

/// A pool of connections to one PostgreSQL database (PostgresNIO's `PostgresClient`), with Gather's error
/// messages: each failure names the URL (without its password), the server's own message, and what to do.
///
/// Sessions run with `TimeZone=UTC` and `application_name=gather`.
///
/// ```swift
/// let server = try await PostgresServer.connect(url, maxConnections: 4)
/// defer { Task { await server.close() } }
/// let rows = try await server.query("SELECT count(*) FROM items")
/// ```
public final class PostgresServer: Sendable {
    public let url: PostgresURL
    let client: PostgresClient
    private let runner: Task<Void, Never>
    let logger: Logger

    private init(url: PostgresURL, client: PostgresClient, runner: Task<Void, Never>, logger: Logger) {
        self.url = url
        self.client = client
        self.runner = runner
        self.logger = logger
    }

    /// Opens a pool of up to `maxConnections` and checks that the server answers.
    /// - Throws: ``PostgresError`` saying why the server cannot be reached and what to check.
    public static func connect(_ url: PostgresURL, maxConnections: Int = 4) async throws(PostgresError)
        -> PostgresServer
    {
        var tls = TLSConfiguration.makeClientConfiguration()
        if url.tls != .verifyFull { tls.certificateVerification = .none }  // as libpq's prefer/require
        var configuration: PostgresClient.Configuration
        if let directory = url.socketDirectory {
            configuration = .init(
                unixSocketPath: "\(directory)/.s.PGSQL.\(url.port)", username: url.user, password: url.password,
                database: url.database)
        } else {
            let mode: PostgresClient.Configuration.TLS
            switch url.tls {
            case .disable: mode = .disable
            case .prefer: mode = .prefer(tls)
            case .require, .verifyFull: mode = .require(tls)
            }
            configuration = .init(
                host: url.host, port: url.port, username: url.user, password: url.password, database: url.database,
                tls: mode)
        }
        configuration.options.maximumConnections = max(1, maxConnections)
        configuration.options.connectTimeout = .seconds(10)
        // TCP keepalives on the server's side of every connection: a client cut off by the network (a host
        // partitioned, or gone without closing) is noticed in about 25 s instead of hours, so its open
        // transaction ends and the row locks it held (units it was completing) are released for the others.
        configuration.options.additionalStartupParameters = [
            ("TimeZone", "UTC"), ("application_name", "gather"), ("tcp_keepalives_idle", "10"),
            ("tcp_keepalives_interval", "5"), ("tcp_keepalives_count", "3"),
        ]
        var logger = Logger(label: "gather.postgres")
        logger.logLevel = .critical
        // One direct connection first: the pool retries a refused connection with backoff, so a wrong URL would
        // wait instead of failing; this fails at once, with the server's reason.
        do {
            let first = try await PostgresConnection.connect(
                configuration: try Self.connectionConfiguration(url, tls: tls), id: 0, logger: logger)
            try await first.close()
        } catch {
            throw PostgresError(
                "cannot connect to \(url): \(describe(error)); check that the server is running, the URL, and the "
                    + "password (URL, PGPASSWORD or ~/.pgpass)")
        }
        let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        let runner = Task { await client.run() }
        return PostgresServer(url: url, client: client, runner: runner, logger: logger)
    }

    /// The same settings for a single connection.
    private static func connectionConfiguration(_ url: PostgresURL, tls: TLSConfiguration) throws
        -> PostgresConnection.Configuration
    {
        var configuration: PostgresConnection.Configuration
        if let directory = url.socketDirectory {
            configuration = .init(
                unixSocketPath: "\(directory)/.s.PGSQL.\(url.port)", username: url.user, password: url.password,
                database: url.database)
        } else {
            let mode: PostgresConnection.Configuration.TLS
            switch url.tls {
            case .disable: mode = .disable
            case .prefer: mode = .prefer(try NIOSSLContext(configuration: tls))
            case .require, .verifyFull: mode = .require(try NIOSSLContext(configuration: tls))
            }
            configuration = .init(
                host: url.host, port: url.port, username: url.user, password: url.password, database: url.database,
                tls: mode)
        }
        configuration.options.connectTimeout = .seconds(10)
        // TCP keepalives on the server's side of every connection: a client cut off by the network (a host
        // partitioned, or gone without closing) is noticed in about 25 s instead of hours, so its open
        // transaction ends and the row locks it held (units it was completing) are released for the others.
        configuration.options.additionalStartupParameters = [
            ("TimeZone", "UTC"), ("application_name", "gather"), ("tcp_keepalives_idle", "10"),
            ("tcp_keepalives_interval", "5"), ("tcp_keepalives_count", "3"),
        ]
        return configuration
    }

    /// Closes every connection.
    public func close() async {
        self.runner.cancel()
        await self.runner.value
    }

    /// Runs `body` with a connection of the pool.
    public func withConnection<T: Sendable>(_ body: (PostgresConnection) async throws -> T) async throws -> T {
        try await self.client.withConnection { connection in try await body(connection) }
    }

    /// Runs `sql` with `binds` and returns every row as values (for small results: checks, state, tests).
    public func query(_ sql: String, _ binds: [Value] = []) async throws -> [[Value]] {
        try await self.withConnection { connection in
            var rows: [[Value]] = []
            for try await row in try await connection.query(Self.query(sql, binds), logger: self.logger) {
                rows.append(try PostgresValues.values(of: row))
            }
            return rows
        }
    }

    /// Runs a statement and discards any rows.
    public func execute(_ sql: String, _ binds: [Value] = []) async throws {
        try await self.withConnection { connection in
            _ = try await connection.query(Self.query(sql, binds), logger: self.logger)
        }
    }

    /// Runs a query and hands its rows to `body` one at a time, as records (column name → value), in constant
    /// memory: PostgresNIO reads from the socket only as fast as `body` consumes rows (back-pressure), so a
    /// query over millions of rows never holds more than a few buffers. Text parameters are sent untyped (the
    /// server infers their type from the query, as for a literal), so `WHERE at > $1` takes `"2024-05-01"`.
    public func forEachRecord(
        _ sql: String, _ binds: [Value] = [], _ body: (Record) async throws -> Void
    ) async throws {
        try await self.withConnection { connection in
            let rows = try await connection.query(Self.query(sql, binds, untypedText: true), logger: self.logger)
            for try await row in rows { try await body(try PostgresValues.record(of: row)) }
        }
    }

    /// Copies `rows` (values in `columns` order, of logical `types`) into `table` in one transaction.
    public func copy(into table: String, columns: [String], rows: [[Value]], types: [ColumnType?]) async throws {
        try await self.withConnection { connection in
            try await PostgresStore.transaction(connection, server: self) { connection in
                try await PostgresStore.copy(
                    into: table, columns: columns, count: rows.count, on: connection, server: self
                ) { range, out in
                    for row in rows[range] { CopyText.append(row.map { $0 }, types: types, to: &out) }
                }
            }
        }
    }

    /// A query with `binds` as parameters (`$1`…): integers, reals, booleans and text as themselves, arrays and
    /// objects as JSON text. With `untypedText`, text goes without a type, for the server to infer.
    static func query(_ sql: String, _ binds: [Value], untypedText: Bool = false) -> PostgresQuery {
        var bindings = PostgresBindings(capacity: binds.count)
        for value in binds {
            switch value {
            case .null: bindings.appendNull()
            case .bool(let b): bindings.append(b)
            case .int(let n): bindings.append(n)
            case .double(let d): bindings.append(d)
            case .string(let s): if untypedText { bindings.append(UntypedText(s)) } else { bindings.append(s) }
            case .array, .object: bindings.append(JSONWriter.string(value))
            }
        }
        return PostgresQuery(unsafeSQL: sql, binds: bindings)
    }
}

/// A text parameter with no declared type (OID 0): the server infers it from the query, as for a literal.
struct UntypedText: PostgresDynamicTypeEncodable {
    var text: String
    init(_ text: String) { self.text = text }
    var psqlType: PostgresDataType { PostgresDataType(0) }
    var psqlFormat: PostgresFormat { .text }
    func encode<JSONEncoder: PostgresJSONEncoder>(
        into byteBuffer: inout ByteBuffer, context: PostgresEncodingContext<JSONEncoder>
    ) {
        byteBuffer.writeString(self.text)
    }
}

/// The server's message, detail and hint for a PostgresNIO error (whose own description hides them).
public func describe(_ error: any Error) -> String {
    if let transaction = error as? PostgresTransactionError {
        if let inner = transaction.closureError { return describe(inner) }
        if let inner = transaction.commitError { return describe(inner) }
        if let inner = transaction.beginError { return describe(inner) }
    }
    if let error = error as? PostgresError { return error.message }
    guard let error = error as? PSQLError else { return String(describing: error) }
    if let info = error.serverInfo {
        var text = info[.message] ?? "the server reported an error"
        if let detail = info[.detail] { text += " (\(detail))" }
        if let hint = info[.hint] { text += "; hint: \(hint)" }
        if let code = info[.sqlState] { text += " [SQLSTATE \(code)]" }
        return text
    }
    if let underlying = error.underlying { return String(describing: underlying) }
    return String(describing: error.code)
}

/// `true` when `error` says the connection or the server went away for a while, so the same statement may
/// succeed once it is back: the connection was closed or never opened, the pool gave up connecting for now (its
/// circuit breaker), the server is shutting down or starting up (SQLSTATE classes 08 and 57P0x), has too many
/// connections (53300), or cancelled a transaction for a serialization failure or a deadlock (40001, 40P01). A
/// query or constraint error is not transient.
public func isTransient(_ error: any Error) -> Bool {
    if let error = error as? PostgresError { return error.transient }
    if let transaction = error as? PostgresTransactionError {
        for inner in [transaction.closureError, transaction.commitError, transaction.beginError] {
            if let inner { return isTransient(inner) }
        }
        return false
    }
    // The pool's own "cannot connect" (its circuit breaker trips after connection attempts fail for a while; then
    // it fails requests at once instead of queueing them). Its type lives in PostgresNIO's internal pool module,
    // so it is known by name.
    if String(reflecting: error).contains("connectionCreationCircuitBreakerTripped") { return true }
    guard let error = error as? PSQLError else { return false }
    if let state = error.serverInfo?[.sqlState] {
        return state.hasPrefix("08") || state.hasPrefix("57P") || ["53300", "40001", "40P01"].contains(state)
    }
    switch error.code {
    case .serverClosedConnection, .connectionError, .uncleanShutdown, .clientClosedConnection: return true
    default: return false
    }
}
