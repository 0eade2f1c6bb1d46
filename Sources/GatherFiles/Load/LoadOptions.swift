public import GatherCore
public import GatherFormats
public import GatherStore

/// How `gather load` (and a pipeline's `files` resource) reads files and writes their rows.
public struct LoadOptions: Sendable {
    /// The format of every file; `nil` means each file's extension decides (`.csv`/`.tsv`, `.jsonl`/`.ndjson`,
    /// `.json`, looking through `.gz` and `.zst`).
    public var format: FileFormat?
    /// The table every file loads into; `nil` means each file's name decides (see ``LoadFile/defaultTable(for:)``).
    public var table: String?
    /// How rows meet rows already in the table.
    public var mode: WriteMode = .append
    /// The merge key's field names (required for ``WriteMode/merge``).
    public var key: [String] = []
    /// CSV dialect and policies (ragged rows, invalid UTF-8).
    public var csv = CSVOptions()
    /// Guess the CSV delimiter and header from the first 64 KiB of each file.
    public var sniff = false
    /// For JSON documents: the path of the array of records (`$.data.items`); `nil` for a top-level array.
    public var jsonPath: String?
    /// Add `source_file` and `source_line` columns to every row.
    public var sourceColumns = false
    /// Files read at the same time (each holds one open descriptor and up to three blocks of rows).
    public var maxOpenFiles = 4
    /// Rows per committed block: each block is one transaction with its file's checkpoint.
    public var blockRows = 16_384
    /// A block is also committed once its values hold this many bytes.
    public var blockBytes = 8 << 20
    /// Start over instead of continuing an interrupted load.
    public var fresh = false
    /// Nested lists in JSON records: child tables or JSON text.
    public var lists: Normalizer.NestedLists = .tables
    /// Replace invalid UTF-8 in JSON Lines with U+FFFD instead of reporting the line (CSV: `csv.replaceInvalidUTF8`).
    public var replaceInvalidUTF8: Bool {
        get { csv.replaceInvalidUTF8 }
        set { csv.replaceInvalidUTF8 = newValue }
    }

    public init() {}

    /// The names of the extra columns ``sourceColumns`` adds.
    public static let sourceFileColumn = "source_file"
    public static let sourceLineColumn = "source_line"
}

/// One file of a load: where it is, its format, and the table it goes to.
public struct LoadFile: Sendable, Hashable {
    /// The path as given (shown in messages and stored in `source_file`).
    public var path: String
    /// Where its bytes are read: `path`, unless the input was copied first (standard input, `-`, is spooled to a
    /// temporary file so that it can be read by offset like any other file).
    public var location: String
    /// The key of its checkpoint: the absolute path.
    public var identity: String
    public var format: FileFormat
    public var table: String

    public init(path: String, location: String? = nil, identity: String, format: FileFormat, table: String) {
        self.path = path
        self.location = location ?? path
        self.identity = identity
        self.format = format
        self.table = table
    }

    /// The table a file loads into when none is given: its name without directories, extensions and a trailing
    /// part number, so `data/orders.csv.gz` → `orders` and `part-0001.csv`, `part-0002.csv` → `part`.
    public static func defaultTable(for path: String) -> String {
        var name = Substring(path.split(separator: "/").last ?? Substring(path))
        while let dot = name.lastIndex(of: "."), dot != name.startIndex { name = name[..<dot] }
        let trimmed = name.reversed().drop(while: { $0.isNumber }).drop(while: { "-_.".contains($0) })
        let stem = trimmed.isEmpty ? name : Substring(String(trimmed.reversed()))
        return stem.isEmpty ? "data" : String(stem)
    }
}

/// Where a load's bookkeeping goes: its run, its checkpoints' state scope, the name its counts and error rows
/// carry, and an optional transform (records mode: CSV rows become records instead of typed blocks).
public struct LoadContext: Sendable {
    public var runID: String
    /// The `_gather_state` scope of the files' checkpoints.
    public var scope: String
    /// The name counts and error rows are recorded under; `nil` means each file's table (`gather load`).
    public var resource: String?
    public var transform: (@Sendable (Record) -> RecordTransformResult)?

    public init(
        runID: String, scope: String = LoadCheckpoint.scope, resource: String? = nil,
        transform: (@Sendable (Record) -> RecordTransformResult)? = nil
    ) {
        self.runID = runID
        self.scope = scope
        self.resource = resource
        self.transform = transform
    }
}
