import GatherCore
import GatherPostgres
import GatherStore
import PostgresNIO
import Synchronization

/// Rows of a PostgreSQL outbox table, read as they are written: `LISTEN` on a channel wakes the reader, and a
/// catch-up query reads the table after the committed cursor on every (re)connect, after every notification and
/// at least every `catchUpInterval`.
///
/// The table is the source, the notification only a bell: `NOTIFY` delivers nothing to a listener that is not
/// connected, and its payload stops at 8,000 bytes, so a reader that trusted payloads would lose what was sent
/// while it was away. Reading the table by a growing cursor (an identity column, a sequence) after the committed
/// one is exact across drops and kills.
///
/// One limit, the outbox pattern's own: rows are read in cursor order, so a transaction that took a cursor value
/// and committed after a later one was read would be skipped. Give the cursor from one writer, or have writers
/// take it under a lock (or in commit order, say from a trigger that serialises on the table).
public struct PostgresNotifySource: StreamSource {
    public var url: PostgresURL
    public var channel: String
    public var table: String
    public var cursor: String
    public var batch: Int
    public var catchUpInterval: Duration

    public init(
        url: PostgresURL, channel: String, table: String, cursor: String = "id", batch: Int = 1_000,
        catchUpInterval: Duration = .seconds(5)
    ) {
        self.url = url
        self.channel = channel
        self.table = table
        self.cursor = cursor
        self.batch = batch
        self.catchUpInterval = catchUpInterval
    }

    public var description: String { "postgres_notify \(self.channel) on \(self.url)" }

    public func run(from position: Value?, into buffer: EventBuffer, status: SourceStatus) async throws {
        var newest = position?.stringValue
        try await ReconnectBackoff.reconnecting(
            status: status, permanent: { ($0 as? StreamSourceError)?.permanent == true }
        ) { attempt in
            let server = try await PostgresServer.connect(self.url, maxConnections: 2)
            do {
                try await self.listen(server, after: &newest, attempt, buffer, status)
            } catch let error as PSQLError {
                await server.close()
                // PostgresNIO's own text hides the server's message; this one names it.
                throw StreamSourceError(describe(error), permanent: Self.isPermanent(error))
            } catch {
                await server.close()
                throw error
            }
            await server.close()
            return nil
        }
    }

    /// One connection's life: LISTEN, then catch up after `newest` whenever the bell rings, until the buffer is
    /// finished (the attempt stopped) or the connection fails (thrown).
    private func listen(
        _ server: PostgresServer, after newest: inout String?, _ attempt: ConnectionAttempt, _ buffer: EventBuffer,
        _ status: SourceStatus
    ) async throws {
        let query = self.catchUpQuery
        let bell = Doorbell()
        var last = newest
        defer { newest = last }
        try await server.withConnection { connection in
            try await connection.listen(on: self.channel) { notifications in
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        for try await _ in notifications { bell.ring() }
                        throw StreamSourceError("the listening connection closed")
                    }
                    status.connected()
                    while !Task.isCancelled {
                        // Everything after the committed cursor, a batch at a time.
                        while true {
                            // The cursor goes as untyped text: the server reads it as the column's type.
                            var events: [SourceEvent] = []
                            try await server.forEachRecord(
                                last == nil ? query.first : query.next,
                                (last.map { [Value.string($0)] } ?? []) + [.int(Int64(self.batch))]
                            ) { record in
                                guard let payload = record["payload"]?.stringValue,
                                    let cursor = record["position"]?.stringValue
                                else { return }
                                last = cursor
                                events.append(SourceEvent(payload: payload, position: .string(cursor)))
                            }
                            if !events.isEmpty {
                                attempt.delivered()
                                guard await buffer.send(events) else {
                                    attempt.stop()
                                    group.cancelAll()
                                    return
                                }
                            }
                            if events.count < self.batch { break }
                        }
                        await bell.wait(timeout: self.catchUpInterval)
                    }
                    group.cancelAll()
                }
            }
        }
    }

    /// A failure that retrying cannot fix: the server refused the login or the database, or the table or the
    /// cursor column does not exist (SQLSTATE classes 28 and 3D, 42P01, 42703, 42501).
    static func isPermanent(_ error: PSQLError) -> Bool {
        guard let state = error.serverInfo?[.sqlState] else { return false }
        return state.hasPrefix("28") || state.hasPrefix("3D") || ["42P01", "42703", "42501"].contains(state)
    }

    /// The catch-up queries: from the start, and after a cursor value (`$1`); `LIMIT` is the last parameter.
    var catchUpQuery: (first: String, next: String) {
        let table = Self.quoted(self.table)
        let cursor = Self.quoted(self.cursor)
        let select = "SELECT row_to_json(t)::text AS payload, t.\(cursor)::text AS position FROM \(table) AS t"
        return (
            "\(select) ORDER BY t.\(cursor) LIMIT $1",
            "\(select) WHERE t.\(cursor) > $1 ORDER BY t.\(cursor) LIMIT $2"
        )
    }

    /// A name quoted for SQL, each part of `schema.table` on its own.
    static func quoted(_ name: String) -> String {
        name.split(separator: ".").map { quoteIdentifier(String($0)) }.joined(separator: ".")
    }
}
