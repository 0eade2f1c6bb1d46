public import GatherCore
import GatherSQLite

/// Where `gather load --into` writes: a SQLite database, or a JSON Lines or CSV file.
public enum LoadDestination: Sendable, Hashable {
    case sqlite(path: String)
    case jsonLines(path: String)
    case csv(path: String)

    /// Parses `sqlite:x.db`, `x.db` / `x.sqlite` / `x.sqlite3`, `out.jsonl` / `out.ndjson`, `out.csv`.
    /// - Throws: ``FileError`` saying which forms are accepted.
    public init(_ text: String) throws {
        let lower = text.lowercased()
        if lower.hasPrefix("sqlite:") {
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
                    + ".sqlite3), FILE.jsonl or FILE.csv")
        }
    }

    /// Opens the destination's sink (blocking work runs off the cooperative pool).
    public func open() async throws -> any Sink {
        switch self {
        case .sqlite(let path):
            return try await BlockingIO.run { try SQLiteStore(path: path) }
        case .jsonLines(let path):
            return try await BlockingIO.run { try FileSink(path: path, format: .jsonLines) }
        case .csv(let path):
            return try await BlockingIO.run { try FileSink(path: path, format: .csv) }
        }
    }

    /// Flushes and closes `sink` if it needs it.
    public func close(_ sink: any Sink) async throws {
        if let file = sink as? FileSink { try await BlockingIO.run { try file.close() } }
    }
}
