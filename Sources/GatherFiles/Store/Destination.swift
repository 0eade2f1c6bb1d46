import GatherCore
public import GatherPostgres
import GatherSQLite
public import GatherStore

/// Where a command writes: a SQLite database, a PostgreSQL database, or a JSON Lines or CSV file. Every command
/// parses its destination here (`gather run`'s `destination:`, `--into` of fetch, load, crawl and map), so one
/// spelling means the same thing everywhere.
///
/// ```swift
/// let destination = try Destination("sqlite:shop.db")
/// try await destination.withSink { sink in … }
/// ```
public enum Destination: Sendable, Hashable, CustomStringConvertible {
    case sqlite(path: String)
    case postgres(PostgresURL)
    case jsonLines(path: String)
    case csv(path: String)

    /// The kinds of destination a command can write to.
    public struct Kinds: OptionSet, Sendable {
        public let rawValue: Int
        public init(rawValue: Int) { self.rawValue = rawValue }

        /// SQLite and PostgreSQL: tables, with run state kept beside the rows.
        public static let databases = Kinds(rawValue: 1)
        /// JSON Lines and CSV files.
        public static let files = Kinds(rawValue: 2)
        public static let all: Kinds = [.databases, .files]
    }

    /// Parses `sqlite:x.db` (or `sqlite://x.db`), `x.db` / `x.sqlite` / `x.sqlite3`, `postgres://user@host:port/db`,
    /// `out.jsonl` / `out.ndjson` and `out.csv`.
    /// - Parameter kinds: What the command can write to; a destination of another kind is refused with the reason.
    /// - Throws: ``DestinationError`` saying which forms are accepted, or ``PostgresError`` for a bad PostgreSQL URL.
    public init(_ text: String, accepting kinds: Kinds = .all) throws {
        let lower = text.lowercased()
        let parsed: Destination
        if PostgresURL.matches(text) {
            parsed = .postgres(try PostgresURL(text))
        } else if lower.hasPrefix("sqlite:") {
            let path = String(text.dropFirst("sqlite:".count))
            let trimmed = path.hasPrefix("//") ? String(path.dropFirst(2)) : path
            guard !trimmed.isEmpty else { throw DestinationError("sqlite: needs a path, e.g. sqlite:data.db") }
            parsed = .sqlite(path: trimmed)
        } else if [".db", ".sqlite", ".sqlite3"].contains(where: lower.hasSuffix) {
            parsed = .sqlite(path: text)
        } else if kinds.contains(.files), lower.hasSuffix(".jsonl") || lower.hasSuffix(".ndjson") {
            parsed = .jsonLines(path: text)
        } else if kinds.contains(.files), lower.hasSuffix(".csv") {
            parsed = .csv(path: text)
        } else if lower.hasSuffix(".jsonl") || lower.hasSuffix(".ndjson") || lower.hasSuffix(".csv") {
            throw DestinationError(
                "\(text) is a file, but this writes to a database (its run state is kept beside the rows); use "
                    + Self.forms(.databases))
        } else {
            throw DestinationError("cannot tell what kind of destination \(text) is; use " + Self.forms(kinds))
        }
        self = parsed
    }

    /// The accepted spellings of `kinds`, for messages.
    static func forms(_ kinds: Kinds) -> String {
        var forms = ["sqlite:FILE (or a name ending in .db, .sqlite, .sqlite3)", "postgres://USER@HOST:PORT/DATABASE"]
        if kinds.contains(.files) { forms += ["FILE.jsonl", "FILE.csv"] }
        return forms.dropLast().joined(separator: ", ") + " or " + forms.last!
    }

    /// Whether rows land in database tables (with run state beside them), not in a file.
    public var isDatabase: Bool {
        switch self {
        case .sqlite, .postgres: true
        case .jsonLines, .csv: false
        }
    }

    /// The destination with a relative file path taken relative to `directory` (a pipeline file's folder).
    public func relative(to directory: String) -> Destination {
        guard directory != "." else { return self }
        func resolve(_ path: String) -> String { path.hasPrefix("/") ? path : directory + "/" + path }
        switch self {
        case .sqlite(let path): return .sqlite(path: resolve(path))
        case .jsonLines(let path): return .jsonLines(path: resolve(path))
        case .csv(let path): return .csv(path: resolve(path))
        case .postgres: return self
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
        try await GatherStore.withSink({ try await self.open(connections: connections) }, body)
    }
}

/// A destination that cannot be parsed or that the command cannot write to.
public struct DestinationError: Error, Sendable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
