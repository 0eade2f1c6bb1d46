public import GatherCore
public import GatherPostgres
import GatherSQLite

/// Where `gather load --into` writes: a SQLite database, a PostgreSQL database, or a JSON Lines or CSV file.
public enum LoadDestination: Sendable, Hashable, CustomStringConvertible {
    case sqlite(path: String)
    case postgres(PostgresURL)
    case jsonLines(path: String)
    case csv(path: String)

    /// Parses `sqlite:x.db`, `x.db` / `x.sqlite` / `x.sqlite3`, `postgres://user@host:port/db`, `out.jsonl` /
    /// `out.ndjson`, `out.csv`.
    /// - Throws: ``FileError`` saying which forms are accepted, or ``PostgresError`` for a bad PostgreSQL URL.
    public init(_ text: String) throws {
        let lower = text.lowercased()
        if PostgresURL.matches(text) {
            self = .postgres(try PostgresURL(text))
        } else if lower.hasPrefix("sqlite:") {
            let path = String(text.dropFirst("sqlite:".count))
            guard !path.isEmpty else { throw FileError("sqlite: needs a path, e.g. sqlite:data.db") }
            self = .sqlite(path: path.hasPrefix("//") ? String(path.dropFirst(2)) : path)
        } else if [".db", ".sqlite", ".sqlite3"].contains(where: lower.hasSuffix) {
            self = .sqlite(path: text)
        } else if lower.hasSuffix(".jsonl") || lower.hasSuffix(".ndjson") {
            self = .jsonLines(path: text)
        } else if lower.hasSuffix(".csv") {
            self = .csv(path: text)
        } else {
            throw FileError(
                "cannot tell what kind of destination \(text) is; use sqlite:FILE (or a name ending in .db, .sqlite, "
                    + ".sqlite3), postgres://USER@HOST:PORT/DATABASE, FILE.jsonl or FILE.csv")
        }
    }

    /// The destination as it may be printed (a PostgreSQL password shows as `***`).
    public var description: String {
        switch self {
        case .sqlite(let path): "sqlite:\(path)"
        case .postgres(let url): url.description
        case .jsonLines(let path), .csv(let path): path
        }
    }

    /// Where the error rows of run `runID` are, for a summary to point at.
    public func errorRows(runID: String) -> String {
        switch self {
        case .sqlite, .postgres: "_gather_errors (WHERE run_id = '\(runID)')"
        case .jsonLines(let path), .csv(let path): FileSink.errorsPath(for: path)
        }
    }

    /// Opens the destination's sink (blocking work runs off the cooperative pool); a PostgreSQL pool has up to
    /// `connections` connections.
    public func open(connections: Int = 4) async throws -> any Sink {
        switch self {
        case .postgres(let url):
            return try await PostgresStore.open(url, maxConnections: connections)
        case .sqlite(let path):
            return try await BlockingIO.run { try SQLiteStore(path: path) }
        case .jsonLines(let path):
            return try await BlockingIO.run { try FileSink(path: path, format: .jsonLines) }
        case .csv(let path):
            return try await BlockingIO.run { try FileSink(path: path, format: .csv) }
        }
    }

    /// Opens the destination's sink, hands it to `body` and closes it however `body` ends (see ``withSink(_:_:)``).
    public func withSink<Result: Sendable>(
        connections: Int = 4, _ body: (any Sink) async throws -> Result
    ) async throws -> Result {
        try await GatherCore.withSink({ try await self.open(connections: connections) }, body)
    }
}
