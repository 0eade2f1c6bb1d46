public import GatherConfig
public import GatherCore
public import GatherCrawl
import GatherExpressions
public import GatherFiles
public import GatherFormats
public import GatherHTTP
public import GatherPostgres
public import GatherStore
public import GatherStream

/// A whole pipeline: where rows go, HTTP defaults, per-host limits, and the resources, as a YAML file declares
/// them (``PipelineLoader``) or as Swift code builds them.
///
/// ```swift
/// var items = ResourceDefinition(name: "items")
/// items.http.path = "/items"
/// items.http.paginator = Paginator(kind: OffsetPaginator(limit: 100, total: try JSONPath("$.total")))
/// items.primaryKey = ["id"]
/// items.write = .merge
/// var pipeline = PipelineDefinition(name: "shop", destination: .sqlite(path: "shop.db"), resources: [items])
/// pipeline.defaults.baseURL = "https://api.example.com"
/// let summary = try await PipelineRunner(pipeline).run()
/// ```
public struct PipelineDefinition: Sendable {
    /// The pipeline's name (also the key of its runs and state in the destination).
    public var name: String
    /// Where rows go.
    public var destination: Destination
    /// HTTP settings every resource starts from.
    public var defaults: HTTPSettings
    /// Per-host limits (`api.github.com: { concurrency: 8, rate: 5000/h }`); `*` sets the default for other hosts.
    public var limits: [String: FlowLimits]
    /// The resources, in file order.
    public var resources: [ResourceDefinition]
    /// Secrets to redact from every log line, summary, error row and state row.
    public var secrets: [String]
    /// What the loader could not check but looks wrong (a placeholder naming a field a parent may not have):
    /// `gather validate` and `gather run` print them; they do not stop a run.
    public var warnings: [ConfigError] = []

    public init(
        name: String, destination: Destination, defaults: HTTPSettings = HTTPSettings(),
        limits: [String: FlowLimits] = [:], resources: [ResourceDefinition], secrets: [String] = [],
        warnings: [ConfigError] = []
    ) {
        self.warnings = warnings
        self.name = name
        self.destination = destination
        self.defaults = defaults
        self.limits = limits
        self.resources = resources
        self.secrets = secrets
    }

    /// The resource called `name`.
    public func resource(named name: String) -> ResourceDefinition? {
        self.resources.first { $0.name == name }
    }
}

/// HTTP settings of a resource, layered over the pipeline's `defaults.http`.
public struct HTTPSettings: Sendable {
    /// Prefix of relative paths (`https://api.github.com`).
    public var baseURL: String?
    /// The path (or absolute URL) with `{placeholders}`.
    public var path: String?
    /// The method (`GET`).
    public var method: String?
    /// Headers; values may hold `{placeholders}`.
    public var headers: [(name: String, value: String)]
    /// Query parameters; values may hold `{placeholders}`.
    public var params: [(name: String, value: String)]
    /// A JSON body (POST searches); string values may hold `{placeholders}`.
    public var json: Value?
    /// Authentication.
    public var auth: (any AuthScheme)?
    /// The whole-request timeout.
    public var timeout: Duration?
    /// Retries.
    public var retry: RetryPolicy?
    /// Rules applied to responses before their status decides.
    public var responseActions: [ResponseAction]?
    /// How to get the next page.
    public var paginator: Paginator?

    public init() {
        self.headers = []
        self.params = []
    }

    /// `self` over `base`: each setting given here wins; headers and params are merged by name.
    public func layered(over base: HTTPSettings) -> HTTPSettings {
        var merged = base
        if let baseURL { merged.baseURL = baseURL }
        if let path { merged.path = path }
        if let method { merged.method = method }
        for header in self.headers {
            merged.headers.removeAll { $0.name.lowercased() == header.name.lowercased() }
            merged.headers.append(header)
        }
        for param in self.params {
            merged.params.removeAll { $0.name == param.name }
            merged.params.append(param)
        }
        if let json { merged.json = json }
        if let auth { merged.auth = auth }
        if let timeout { merged.timeout = timeout }
        if let retry { merged.retry = retry }
        if let responseActions { merged.responseActions = responseActions }
        if let paginator { merged.paginator = paginator }
        return merged
    }
}

/// One resource: an endpoint (per `for_each` value, or per record of a parent resource), what to take from its
/// responses, how to transform it, and how to write it.
public struct ResourceDefinition: Sendable {
    public var name: String
    /// The table (default: the resource name).
    public var table: String
    /// HTTP settings, over the pipeline defaults.
    public var http: HTTPSettings
    /// Variables and their values; the endpoint is fetched once per combination.
    public var forEach: [(name: String, values: [Value])]
    /// The parent resource: the endpoint is fetched once per parent record.
    public var parent: String?
    /// How many parent records are fetched for at once (default 8; the host's limits still apply).
    public var fanOut: Int
    /// Where the records are in each response (default: the response if it is a list, else its first list field).
    public var select: JSONPath?
    /// Parent fields copied into each record: output name → field of the parent (`repos.id` or `id`).
    public var include: [(name: String, path: String)]
    /// The primary key fields (merge key).
    public var primaryKey: [String]
    public var write: WriteMode
    public var incremental: Incremental?
    public var transforms: [Transform]
    /// Lists as child tables or JSON columns.
    public var lists: Normalizer.NestedLists
    /// Fetch known pages in parallel (on by default).
    public var parallelPages: Bool
    /// Where the records come from: an HTTP endpoint (the default), a query, files, web pages or a live stream.
    public var source: ResourceSource

    /// The query of a `sql` resource.
    public var sql: SQLSource? { if case .sql(let source) = self.source { source } else { nil } }
    /// The files of a `files` resource.
    public var files: FilesSource? { if case .files(let source) = self.source { source } else { nil } }
    /// The crawl of a `crawl` resource.
    public var crawl: CrawlOptions? { if case .crawl(let options) = self.source { options } else { nil } }
    /// The live stream of a `stream` resource, with its windows, if any.
    public var stream: StreamDefinition? { if case .stream(let stream) = self.source { stream } else { nil } }

    public init(name: String) {
        self.name = name
        self.table = name
        self.http = HTTPSettings()
        self.forEach = []
        self.parent = nil
        self.fanOut = 8
        self.select = nil
        self.include = []
        self.primaryKey = []
        self.write = .append
        self.incremental = nil
        self.transforms = []
        self.lists = .tables
        self.parallelPages = true
        self.source = .http
    }
}

/// Where a resource's records come from. One resource has one source; the runner takes each kind its own way
/// (pages of an endpoint or rows of a query through work items, files through the loader, pages through the
/// crawler, events through a stream job).
public enum ResourceSource: Sendable {
    /// An HTTP endpoint (`http.path`): pages, paginators, auth.
    case http
    /// A query (`sql:`) against PostgreSQL or SQLite.
    case sql(SQLSource)
    /// Files (`files:`): CSV, JSON, JSON Lines, compressed or not.
    case files(FilesSource)
    /// Web pages (`crawl:`).
    case crawl(CrawlOptions)
    /// A live stream (`stream:`), with its windows, if any.
    case stream(StreamDefinition)

    /// An endpoint (the default source).
    public var isHTTP: Bool { if case .http = self { true } else { false } }
}

/// A `sql` resource's query: run against PostgreSQL or SQLite (by default the pipeline's destination), its rows
/// streamed in constant memory and committed `batchRows` at a time. Once per work item: once, once per
/// `for_each` combination, or once per parent record (`from`), with `params` bound as `$1`, `$2`… (PostgreSQL)
/// or `?1`, `?2`… (SQLite).
public struct SQLSource: Sendable {
    /// Where the query runs.
    public enum Connection: Sendable, Hashable, CustomStringConvertible {
        /// The pipeline's destination.
        case destination
        case postgres(PostgresURL)
        case sqlite(path: String)

        public var description: String {
            switch self {
            case .destination: "the destination"
            case .postgres(let url): url.description
            case .sqlite(let path): "sqlite:\(path)"
            }
        }
    }

    public var connection: Connection
    public var query: String
    /// Templates of the bound parameters: `{parent.field}`, `{for_each variable}`, `{cursor}` (the incremental
    /// cursor). A template that is one placeholder binds the value with its type.
    public var params: [String]
    /// Rows per commit.
    public var batchRows: Int

    public init(connection: Connection = .destination, query: String, params: [String] = [], batchRows: Int = 5000) {
        self.connection = connection
        self.query = query
        self.params = params
        self.batchRows = batchRows
    }
}

/// A `files` resource's input: paths or globs (relative to the pipeline file) and how to read them. The reader
/// is `gather load`'s: records then pass through the resource's transforms.
public struct FilesSource: Sendable {
    public var paths: [String]
    public var options: LoadOptions

    public init(paths: [String], options: LoadOptions) {
        self.paths = paths
        self.options = options
    }
}

/// Incremental loading: the largest `cursor` value seen is kept per resource (and per `for_each` value or parent),
/// and sent as `param` next time so the API returns only newer records.
public struct Incremental: Sendable {
    /// The record field holding the cursor (`updated_at`); a dotted path reaches nested fields.
    public var cursor: String
    /// The query parameter it is sent as (`since`).
    public var param: String?
    /// The value for the first run.
    public var initial: Value?

    public init(cursor: String, param: String?, initial: Value?) {
        self.cursor = cursor
        self.param = param
        self.initial = initial
    }
}
