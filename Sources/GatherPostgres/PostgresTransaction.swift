public import GatherCore
import PostgresNIO

/// One connection inside `BEGIN … COMMIT` (``PostgresServer/withTransaction(_:)``): statements run in order, and
/// everything commits together or not at all.
public struct PostgresTransaction: Sendable {
    let connection: PostgresConnection
    let server: PostgresServer

    /// Runs `sql` with `binds` and returns its rows as values. Text binds are untyped when `untypedText` is set
    /// (the server reads them as the column's type, as for a literal).
    public func query(_ sql: String, _ binds: [Value] = [], untypedText: Bool = false) async throws -> [[Value]] {
        var rows: [[Value]] = []
        let query = PostgresServer.query(sql, binds, untypedText: untypedText)
        for try await row in try await self.connection.query(query, logger: self.server.logger) {
            rows.append(try PostgresValues.values(of: row))
        }
        return rows
    }

    /// Runs a statement and discards any rows.
    public func execute(_ sql: String, _ binds: [Value] = []) async throws {
        _ = try await self.connection.query(PostgresServer.query(sql, binds), logger: self.server.logger)
    }
}

extension PostgresServer {
    /// Runs `body` in one transaction on a connection of the pool: committed when `body` returns, rolled back when
    /// it throws (and the error rethrown).
    public func withTransaction<T: Sendable>(_ body: (PostgresTransaction) async throws -> T) async throws -> T {
        try await self.withConnection { connection in
            var result: T?
            try await PostgresStore.transaction(connection, server: self) { connection in
                result = try await body(PostgresTransaction(connection: connection, server: self))
            }
            return result!
        }
    }
}
