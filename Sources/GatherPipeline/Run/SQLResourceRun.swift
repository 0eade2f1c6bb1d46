import Dispatch
import GatherCore
import GatherFiles
import GatherPostgres
import GatherSQLite
import Synchronization

/// Where a `sql` resource's query runs: a pool of its own on a PostgreSQL server (never the sink's, so readers
/// holding connections cannot starve commits), or a SQLite file (WAL: it reads while the sink writes).
enum SQLReader: Sendable {
    case postgres(PostgresServer)
    case sqlite(SQLiteDatabase)

    /// Opens `source`'s connection; `.destination` reads the pipeline's destination.
    static func open(_ source: SQLSource, destination: Destination, connections: Int) async throws -> SQLReader {
        switch (source.connection, destination) {
        case (.postgres(let url), _), (.destination, .postgres(let url)):
            return .postgres(try await PostgresServer.connect(url, maxConnections: connections))
        case (.sqlite(let path), _), (.destination, .sqlite(let path)):
            return .sqlite(try await BlockingIO.run { try SQLiteDatabase(path: path) })
        case (.destination, .jsonLines), (.destination, .csv):
            throw PipelineError("a sql resource reads the destination only when it is a database, not \(destination)")
        }
    }

    func close() async {
        if case .postgres(let server) = self { await server.close() }
    }

    /// Streams the query's rows to `body`, in constant memory.
    func forEachRecord(_ sql: String, _ binds: [Value], _ body: (Record) async throws -> Void) async throws {
        switch self {
        case .postgres(let server):
            try await server.forEachRecord(sql, binds, body)
        case .sqlite(let database):
            try await Self.forEachRecord(database, sql, binds, body)
        }
    }

    /// SQLite steps a cursor on a blocking thread; rows cross to the async side 1,000 at a time, and the reader
    /// waits until each chunk is consumed (so at most one chunk is in memory).
    private static func forEachRecord(
        _ database: SQLiteDatabase, _ sql: String, _ binds: [Value], _ body: (Record) async throws -> Void
    ) async throws {
        let (chunks, continuation) = AsyncStream<[Record]>.makeStream()
        let consumed = DispatchSemaphore(value: 0)
        let abandoned = Atomic<Bool>(false)
        let reader = Task {
            try await BlockingIO.run {
                defer { continuation.finish() }
                var chunk: [Record] = []
                chunk.reserveCapacity(1000)
                func hand() throws {
                    continuation.yield(chunk)
                    chunk.removeAll(keepingCapacity: true)
                    consumed.wait()
                    if abandoned.load(ordering: .relaxed) { throw CancellationError() }
                }
                try database.forEachRecord(sql, arguments: binds) { record in
                    chunk.append(record)
                    if chunk.count == 1000 { try hand() }
                }
                if !chunk.isEmpty { try hand() }
            }
        }
        do {
            for await chunk in chunks {
                for record in chunk { try await body(record) }
                consumed.signal()
            }
        } catch {
            abandoned.store(true, ordering: .relaxed)
            consumed.signal()
            _ = try? await reader.value
            throw error
        }
        try await reader.value
    }
}

/// The run was asked to stop while rows were streaming.
private struct StopReading: Error {}

extension ResourceRun {
    /// Runs a `sql` resource's query for one work item: rows stream in, `batchRows` at a time go through the same
    /// processing and commit as a page of an API (transforms, keys, child tables, child work items, counts), and
    /// the item's state records how many rows are committed. A killed run resumes by skipping that many rows, so
    /// the query must return its rows in a stable order (give it an `ORDER BY`). The incremental cursor is saved
    /// when the item completes.
    func runQuery(_ item: WorkItem, state initial: ItemState, source: SQLSource) async throws {
        guard let reader = self.sqlReader else { return }
        var state = initial
        let request = "sql:\(self.name)"
        var context = state.context
        for (key, value) in state.included where context[key] == nil { context[key] = value }
        context["cursor"] = state.since
        var binds: [Value] = []
        do {
            for text in source.params {
                let template = try Template(text)
                if let path = template.soleField {
                    binds.append(Template.lookup(path, in: context) ?? .null)
                } else {
                    binds.append(.string(try template.render(context)))
                }
            }
        } catch {
            let failure = PageFailure(
                code: "config", message: self.shared.redact("\(error)"), url: request, payload: nil)
            try await self.commit(page: nil, failure: failure, item: item, state: state, complete: true)
            return
        }
        let skip = state.items
        var seen = 0
        var chunk: [Value] = []
        chunk.reserveCapacity(source.batchRows)
        func flush(last: Bool) async throws {
            state.done = last
            let body = PageBody(
                json: .array(chunk), headers: [], url: request, requests: state.page == 0 ? 1 : 0, retries: 0)
            chunk.removeAll(keepingCapacity: true)
            do {
                state = try await self.commitPage(
                    .success(body), index: state.page, item: item, state: state, parallel: false)
            } catch {
                throw SinkFailureError(underlying: error)
            }
        }
        do {
            try await reader.forEachRecord(source.query, binds) { record in
                seen += 1
                if seen <= skip { return }
                if self.shared.stopping { throw StopReading() }
                chunk.append(.object(record))
                if chunk.count >= source.batchRows { try await flush(last: false) }
            }
            try await flush(last: true)
        } catch is StopReading {
            return
        } catch let error as SinkFailureError {
            throw error.underlying
        } catch {
            // The query failed (bad SQL, a lost connection): the rows committed so far stay, and the item ends
            // with an error row naming the server's reason.
            let failure = PageFailure(
                code: "sql", message: self.shared.redact("the query failed: \(describe(error))"), url: request,
                payload: String(source.query.prefix(512)))
            try await self.commit(page: nil, failure: failure, item: item, state: state, complete: true)
        }
    }
}

/// A commit that failed while rows were streaming: the run's failure, not the query's.
struct SinkFailureError: Error {
    var underlying: any Error
}
