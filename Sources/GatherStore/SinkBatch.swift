public import GatherCore

/// How a resource's rows meet the rows already in its table.
public enum WriteMode: String, Sendable, Hashable, CaseIterable {
    /// Add every row.
    case append
    /// Empty the table (and its child tables) when the run first writes to it, then add rows.
    case replace
    /// Insert, or update the row with the same primary key (an upsert); its child rows are replaced.
    case merge
}

/// Rows of one resource for one top-level table, already normalized.
public struct TableWrite: Sendable {
    /// The top-level table.
    public var table: String
    /// How rows meet existing rows.
    public var mode: WriteMode
    /// The primary key's field names (required for ``WriteMode/merge``).
    public var primaryKey: [String]
    /// Top-level rows and their child rows, in the order ``Normalizer`` produced them.
    public var rows: [NormalizedRow]
    /// Flat rows for bulk loads (no child tables), written after ``rows``.
    public var block: RowBlock?

    public init(table: String, mode: WriteMode, primaryKey: [String], rows: [NormalizedRow]) {
        self.table = table
        self.mode = mode
        self.primaryKey = primaryKey
        self.rows = rows
    }

    /// Flat rows of a bulk load, typed by the reader.
    public init(table: String, mode: WriteMode, primaryKey: [String], block: RowBlock) {
        self.init(table: table, mode: mode, primaryKey: primaryKey, rows: [])
        self.block = block
    }

    /// `true` when there are no rows to write.
    public var isEmpty: Bool { rows.isEmpty && (block?.rowCount ?? 0) == 0 }
}

/// A failed item, stored in `_gather_errors`.
public struct ErrorRow: Sendable, Hashable {
    public var runID: String
    public var resource: String
    /// The request (URL) or record that failed.
    public var request: String
    /// A stable code, such as `http_status`, `timeout`, `invalid_json`, `expression`.
    public var code: String
    /// What happened and what to do.
    public var message: String
    /// The first bytes of the response or record, for diagnosis.
    public var payload: String?
    /// ISO 8601 UTC time.
    public var at: String

    public init(
        runID: String, resource: String, request: String, code: String, message: String, payload: String?,
        at: String
    ) {
        self.runID = runID
        self.resource = resource
        self.request = request
        self.code = code
        self.message = message
        self.payload = payload
        self.at = at
    }
}

/// A change to the key/value state store (`_gather_state`), committed with the rows it describes.
public enum StateChange: Sendable, Hashable {
    /// Sets `key` in `scope` to `value` (JSON text).
    case put(scope: String, key: String, value: String)
    /// Removes `key` from `scope`.
    case delete(scope: String, key: String)
    /// Removes every key of `scope`.
    case clear(scope: String)
    /// Removes every key of every scope that starts with `prefix`.
    case clearPrefix(String)
}

/// Everything one commit writes, in one transaction: rows, error rows, state, and tables to empty first.
///
/// This is how Gather keeps its crash guarantee: a page's rows and the state that says "this page is done"
/// are written together or not at all.
public struct SinkBatch: Sendable {
    /// Top-level tables (with their child tables) to empty before the writes, for ``WriteMode/replace``.
    public var truncate: [String] = []
    public var writes: [TableWrite] = []
    public var errors: [ErrorRow] = []
    public var state: [StateChange] = []
    /// A `_gather_runs` row to insert or update.
    public var run: RunRow?
    /// Counters to add to `_gather_resource_runs` (added, so concurrent batches commute).
    public var counts: [ResourceCounts] = []
    /// Crawl frontier changes.
    public var frontier: [FrontierChange] = []
    /// Work this batch found for others to do (a dependent resource's items, in a run shared through a
    /// coordinator): a coordinated sink enqueues it in the same transaction. Other sinks have no queue and ignore
    /// it; the runs that use them keep such work in memory instead.
    public var discovered: [DiscoveredWork] = []

    public init() {}

    /// `true` when committing would change nothing.
    public var isEmpty: Bool {
        truncate.isEmpty && writes.allSatisfy(\.isEmpty) && errors.isEmpty && state.isEmpty && run == nil
            && counts.isEmpty && frontier.isEmpty && discovered.isEmpty
    }
}

/// A piece of work a batch found: which kind (a resource's name), its key (unique within the kind, so work found
/// twice is done once), and what doing it needs.
public struct DiscoveredWork: Sendable {
    public var kind: String
    public var key: String
    public var payload: Value

    public init(kind: String, key: String, payload: Value) {
        self.kind = kind
        self.key = key
        self.payload = payload
    }
}

/// What one resource did in one run (or, in a batch, the increments to add).
public struct ResourceCounts: Sendable, Hashable, Codable {
    public var runID: String
    public var resource: String
    /// HTTP requests sent, retries included.
    public var requests = 0
    /// Pages processed.
    public var pages = 0
    /// Records taken from responses.
    public var records = 0
    /// Records written as rows (after transforms).
    public var written = 0
    /// Top-level rows written (explode can make several per record).
    public var rows = 0
    /// Records a filter removed.
    public var filtered = 0
    /// Error rows (failed requests and failed records).
    public var errors = 0
    /// Retries.
    public var retries = 0

    public init(runID: String, resource: String) {
        self.runID = runID
        self.resource = resource
    }

    /// The counters as a JSON object (in `_gather_runs.summary` and `--summary-json`).
    public var value: Value {
        .object(
            Record([
                ("requests", .int(Int64(self.requests))), ("pages", .int(Int64(self.pages))),
                ("records", .int(Int64(self.records))), ("written", .int(Int64(self.written))),
                ("rows", .int(Int64(self.rows))), ("filtered", .int(Int64(self.filtered))),
                ("errors", .int(Int64(self.errors))), ("retries", .int(Int64(self.retries))),
            ]))
    }

    /// Adds `other`'s counters.
    public mutating func add(_ other: ResourceCounts) {
        self.requests += other.requests
        self.pages += other.pages
        self.records += other.records
        self.written += other.written
        self.rows += other.rows
        self.filtered += other.filtered
        self.errors += other.errors
        self.retries += other.retries
    }
}

/// A row of `_gather_runs`: one pipeline run, its times, counts and outcome.
public struct RunRow: Sendable, Hashable {
    /// A new run id: the UTC time plus a random suffix (`20261123T101530Z-3f9a`).
    public static func newID() -> String {
        let stamp = Timestamp.now().filter { $0 != "-" && $0 != ":" }
        return stamp + "-" + String(UInt16.random(in: 0...UInt16.max), radix: 16)
    }

    public var runID: String
    public var pipeline: String
    public var startedAt: String
    public var finishedAt: String?
    /// `running`, `completed`, `completed_with_errors`, `failed`, `interrupted` or `abandoned`.
    public var outcome: String
    public var requests: Int
    public var pages: Int
    public var rowsWritten: Int
    public var filtered: Int
    public var errors: Int
    public var retries: Int
    /// The per-resource summary as JSON.
    public var summary: String

    public init(
        runID: String, pipeline: String, startedAt: String, finishedAt: String? = nil, outcome: String,
        requests: Int = 0, pages: Int = 0, rowsWritten: Int = 0, filtered: Int = 0, errors: Int = 0,
        retries: Int = 0, summary: String = "{}"
    ) {
        self.runID = runID
        self.pipeline = pipeline
        self.startedAt = startedAt
        self.finishedAt = finishedAt
        self.outcome = outcome
        self.requests = requests
        self.pages = pages
        self.rowsWritten = rowsWritten
        self.filtered = filtered
        self.errors = errors
        self.retries = retries
        self.summary = summary
    }
}
