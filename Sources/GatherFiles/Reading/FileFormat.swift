/// The record formats `gather load` and `files` resources read.
public enum FileFormat: String, Sendable, Hashable, CaseIterable {
    /// RFC 4180 CSV (delimiter, quote and header configurable; see `CSVOptions`).
    case csv
    /// One JSON value per line (JSON Lines / NDJSON).
    case jsonl
    /// A JSON document: a top-level array of records, or an array selected by a path.
    case json

    /// The format a file name implies, looking through a compression suffix (`.csv.gz`, `.jsonl.zst`):
    /// `.csv`/`.tsv` → csv, `.jsonl`/`.ndjson` → jsonl, `.json` → json; `nil` when it implies none.
    public static func implied(byPath path: String) -> FileFormat? {
        let name = Self.withoutCompression(path)
        if name.hasSuffix(".csv") || name.hasSuffix(".tsv") { return .csv }
        if name.hasSuffix(".jsonl") || name.hasSuffix(".ndjson") { return .jsonl }
        if name.hasSuffix(".json") { return .json }
        return nil
    }

    /// `true` for `.tsv` files (compressed or not): their default delimiter is a tab.
    public static func isTabSeparated(_ path: String) -> Bool {
        withoutCompression(path).hasSuffix(".tsv")
    }

    private static func withoutCompression(_ path: String) -> Substring {
        var name = Substring(path.lowercased())
        for suffix in [".gz", ".gzip", ".zst", ".zstd"] where name.hasSuffix(suffix) {
            name = name.dropLast(suffix.count)
        }
        return name
    }
}
