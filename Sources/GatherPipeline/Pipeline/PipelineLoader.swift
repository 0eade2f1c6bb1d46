import GatherConfig
import GatherCore
import GatherCrawl
import GatherExpressions
import GatherFiles
import GatherFormats
import GatherHTML
import GatherHTTP
import GatherPostgres
import GatherStore
import GatherStream

/// Reads a pipeline file into a ``PipelineDefinition``: YAML with positions, `${VAR}` from the environment and a
/// `.env` beside the file, validation against ``PipelineSpecs``, and the checks specs cannot make (placeholders,
/// expressions, parent resources, merge keys). Every problem is reported, each with `file:line:column`.
public enum PipelineLoader {
    /// Loads and checks the pipeline at `path`.
    public static func load(path: String, environment: [String: String]) throws(ConfigErrors) -> PipelineDefinition {
        let (node, expansion) = try ConfigLoader.loadKeepingErrors(path: path, environment: environment)
        return try self.build(node, directory: Self.directory(of: path), expansion: expansion)
    }

    /// Loads and checks pipeline `text` (reported as `file`).
    public static func parse(
        text: String, file: String, environment: [String: String] = [:], directory: String? = nil
    ) throws(ConfigErrors) -> PipelineDefinition {
        let (node, expansion) = try ConfigLoader.parseKeepingErrors(
            text: text, file: file, environment: environment, dotEnvDirectory: directory)
        return try self.build(node, directory: directory ?? Self.directory(of: file), expansion: expansion)
    }

    static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return String(path[..<slash])
    }

    /// Checks the expanded tree. `expansion` holds the problems found expanding variables (an unset one): they
    /// are reported with everything else, and what the unexpanded value would make fail is not reported again.
    static func build(_ node: ConfigNode, directory: String, expansion: ConfigErrors = ConfigErrors())
        throws(ConfigErrors)
        -> PipelineDefinition
    {
        let (root, specErrors) = PipelineSpecs.pipeline.check(node)
        var errors = expansion.errors
        let unexpanded = Set(expansion.errors.compactMap(\.location))
        var builder = Builder()
        let pipeline = builder.pipeline(root, directory: directory)
        errors += (specErrors + builder.errors).filter { $0.location.map { !unexpanded.contains($0) } ?? true }
        try ConfigErrors(errors).throwIfAny()
        guard let pipeline else {
            throw ConfigErrors([ConfigError(location: root.location, message: "the pipeline is incomplete")])
        }
        return pipeline
    }

    struct Builder {
        var errors: [ConfigError] = []
        var warnings: [ConfigError] = []

        mutating func pipeline(_ root: ConfigObject, directory: String) -> PipelineDefinition? {
            let name = root.string("name") ?? "pipeline"
            var destination = Destination.sqlite(path: "gather.db")
            if let text = root.string("destination") {
                do {
                    // A pipeline keeps its state (pages, positions, windows) beside its rows: a database.
                    destination = try Destination(text, accepting: .databases).relative(to: directory)
                } catch {
                    errors.append(root.error(at: "destination", "\(error)"))
                }
            }
            var defaults = HTTPSettings()
            if let http = root.object("defaults")?.object("http") { defaults = self.http(http) }
            var limits: [String: FlowLimits] = [:]
            for (host, _, value) in root.map("limits") {
                guard let object = value.objectValue else { continue }
                var limit = FlowLimits(maxConcurrency: object.int("concurrency"), rate: object.rate("rate"))
                if let concurrency = object.int("concurrency"), concurrency < 1 {
                    errors.append(object.error(at: "concurrency", "concurrency must be at least 1"))
                    limit.maxConcurrency = 1
                }
                if let obey = object.bool("obey_server_hints") { limit.obeyServerHints = obey }
                if let pause = object.duration("max_pause") { limit.maxServerPause = pause }
                limits[host] = limit
            }
            let resourceObjects = root.objects("resources")
            let resources = resourceObjects.map { self.resource($0, directory: directory) }
            // Cross-resource checks: unique names, known parents, no cycles.
            var seen: [String: ConfigObject] = [:]
            for (object, resource) in zip(resourceObjects, resources) {
                if seen[resource.name] != nil {
                    errors.append(
                        object.error(at: "name", "a second resource is called '\(resource.name)'; names must be unique")
                    )
                }
                seen[resource.name] = object
            }
            let names = resources.map(\.name)
            for (object, resource) in zip(resourceObjects, resources) {
                guard let parent = resource.parent else { continue }
                if !names.contains(parent) {
                    errors.append(
                        object.error(
                            at: "from",
                            "there is no resource '\(parent)'\(Suggestions.didYouMean(parent, among: names).map { "; did you mean '\($0)'?" } ?? "; the resources are \(names.joined(separator: ", "))")"
                        ))
                } else if parent == resource.name || Self.hasCycle(from: resource.name, in: resources) {
                    errors.append(
                        object.error(at: "from", "resource '\(resource.name)' depends on itself through 'from'"))
                }
            }
            if resources.isEmpty, root.has("resources") {
                errors.append(root.error(at: "resources", "add at least one resource"))
            }
            for index in resources.indices
            where resources[index].source.isHTTP && resources[index].http.path == nil && defaults.path == nil {
                errors.append(
                    resourceObjects[index].error(
                        at: "http",
                        "resource '\(resources[index].name)' needs http.path, like path: /items (or files: to read "
                            + "files, or sql: to run a query)"))
            }
            for (object, resource) in zip(resourceObjects, resources) where resource.crawl != nil {
                if object.has("http") || resource.parent != nil || !resource.forEach.isEmpty || object.has("select") {
                    errors.append(
                        object.error(at: "crawl", "a crawl resource takes no http, from, for_each or select"))
                }
                if resources.contains(where: { $0.parent == resource.name }) {
                    errors.append(object.error(at: "crawl", "a crawl resource cannot be another resource's parent"))
                }
            }
            for (object, resource) in zip(resourceObjects, resources) where resource.sql != nil {
                if object.has("http") || object.has("select") {
                    errors.append(object.error(at: "sql", "a sql resource takes no http or select; split it in two"))
                }
                let identifier = { (name: String) in
                    name.allSatisfy { $0.isLetter || $0.isNumber || $0 == "_" || $0 == "." }
                }
                if let sql = resource.sql, let template = try? Template(sql.query),
                    template.placeholders.contains(where: identifier)
                {
                    errors.append(
                        object.error(
                            at: "sql",
                            "the query has {placeholders}; pass values as params and write $1, $2 (PostgreSQL) or "
                                + "?1, ?2 (SQLite) in the query, so they are bound, never pasted into SQL"))
                }
            }
            for (object, resource) in zip(resourceObjects, resources) where resource.stream != nil {
                let others = ["http", "select", "for_each", "from", "incremental"]
                if let other = others.first(where: { object.has($0) }) {
                    errors.append(object.error(at: other, "a stream resource takes no \(other); split it in two"))
                }
                if resources.contains(where: { $0.parent == resource.name }) {
                    errors.append(object.error(at: "stream", "a stream resource cannot be another resource's parent"))
                }
                if resource.transforms.contains(where: { if case .process = $0 { true } else { false } }) {
                    errors.append(
                        object.error(at: "transform", "process stages run in http and sql resources, not streams yet"))
                }
            }
            for (object, resource) in zip(resourceObjects, resources) where resource.stream == nil {
                for key in ["event_time", "watermark", "window"] where object.has(key) {
                    errors.append(
                        object.error(at: key, "\(key) belongs to stream resources; add stream: { type: sse, url: … }"))
                }
            }
            for (object, resource) in zip(resourceObjects, resources) where resource.files != nil {
                if object.has("http") || resource.parent != nil || !resource.forEach.isEmpty {
                    errors.append(
                        object.error(at: "files", "a files resource takes no http, from or for_each; split it in two"))
                }
                if resources.contains(where: { $0.parent == resource.name }) {
                    errors.append(object.error(at: "files", "a files resource cannot be another resource's parent"))
                }
            }
            // Check placeholders against what each resource can read.
            for (object, resource) in zip(resourceObjects, resources) {
                let available = Set(resource.forEach.map(\.name))
                let merged = resource.http.layered(over: defaults)
                var texts = [merged.path ?? ""] + merged.params.map(\.value) + merged.headers.map(\.value)
                if let json = merged.json { texts += Self.strings(in: json) }
                for text in texts {
                    guard let template = try? Template(text) else {
                        errors.append(
                            object.error(at: "http", "'\(text)' has an unbalanced '{'; write {{ for a literal brace"))
                        continue
                    }
                    for placeholder in template.placeholders {
                        let head = String(placeholder.split(separator: ".").first ?? "")
                        if available.contains(head) || (resource.parent != nil) { continue }
                        errors.append(
                            object.error(
                                at: "http",
                                "{\(placeholder)} in '\(text)' names nothing: "
                                    + (available.isEmpty
                                        ? "add for_each: { \(head): [...] } or from: PARENT"
                                        : "the variables are \(available.sorted().map { "{\($0)}" }.joined(separator: ", "))")
                            ))
                    }
                }
            }
            self.checkParentFields(resourceObjects, resources, defaults: defaults)
            return PipelineDefinition(
                name: name, destination: destination, defaults: defaults, limits: limits, resources: resources,
                secrets: root.secrets, warnings: self.warnings)
        }

        /// The fields a resource's records have as far as its definition says: `complete` when a `fields` transform
        /// (not keeping the others) decides them, else the ones named (primary key, fields made) without a claim
        /// that there are no others.
        static func shape(of resource: ResourceDefinition) -> (fields: Set<String>, complete: Bool) {
            var fields: Set<String> = []
            var complete = false
            for transform in resource.transforms {
                switch transform {
                case .record(let step): step.shape(&fields, complete: &complete)
                case .process:
                    complete = false
                    fields = []
                }
            }
            if !complete { fields.formUnion(resource.primaryKey) }
            return (fields, complete)
        }

        /// The field of the parent record a placeholder or include path reads: `repos.id` and bare `id` both read
        /// `id` of parent `repos`; `nil` for a name the child has from elsewhere (its for_each variables).
        static func parentField(_ path: String, parent: String, own: Set<String>) -> String? {
            var parts = path.split(separator: ".").map(String.init)
            if parts.count > 1, parts[0] == parent { parts.removeFirst() }
            guard var field = parts.first else { return nil }
            if let bracket = field.firstIndex(of: "[") { field = String(field[..<bracket]) }
            return own.contains(field) || field.isEmpty ? nil : field
        }

        /// Checks what children read from their parents, and primary keys against the fields a transform makes:
        /// an error where the parent's fields are known; where they are not, a warning for a name that is not
        /// declared but is close to one that is (`idd` when the primary key is `id`).
        mutating func checkParentFields(
            _ objects: [ConfigObject], _ resources: [ResourceDefinition], defaults: HTTPSettings
        ) {
            for (object, resource) in zip(objects, resources) {
                let own = Self.shape(of: resource)
                if own.complete {
                    for key in resource.primaryKey where !own.fields.contains(key) {
                        errors.append(
                            object.error(
                                at: "primary_key",
                                "primary_key '\(key)' is not a field of the records: the fields transform makes "
                                    + own.fields.sorted().joined(separator: ", ")
                                    + (Suggestions.didYouMean(key, among: Array(own.fields)).map {
                                        "; did you mean '\($0)'?"
                                    } ?? "")))
                    }
                }
                guard let parentName = resource.parent,
                    let parent = resources.first(where: { $0.name == parentName })
                else { continue }
                let shape = Self.shape(of: parent)
                let variables = Set(resource.forEach.map(\.name))
                let merged = resource.http.layered(over: defaults)
                var reads: [(key: String, text: String, path: String)] = []
                var texts = [merged.path ?? ""] + merged.params.map(\.value) + merged.headers.map(\.value)
                if let json = merged.json { texts += Self.strings(in: json) }
                for text in texts {
                    for placeholder in (try? Template(text))?.placeholders ?? [] {
                        reads.append(("http", "{\(placeholder)}", placeholder))
                    }
                }
                for (name, path) in resource.include { reads.append(("include", "include \(name): \(path)", path)) }
                for read in reads {
                    guard let field = Self.parentField(read.path, parent: parentName, own: variables),
                        !shape.fields.contains(field)
                    else { continue }
                    let known = shape.fields.sorted()
                    let suggestion = Suggestions.didYouMean(field, among: known).map { "; did you mean '\($0)'?" } ?? ""
                    if shape.complete {
                        errors.append(
                            object.error(
                                at: read.key,
                                "\(read.text) reads '\(field)', which the records of \(parentName) do not have: "
                                    + "its fields transform makes \(known.joined(separator: ", "))\(suggestion)"))
                    } else if !suggestion.isEmpty {
                        // Unknown fields may well be there; one a letter or two from a declared one is likely a typo.
                        warnings.append(
                            object.error(
                                at: read.key,
                                "\(read.text) reads '\(field)', which \(parentName) does not declare (it declares "
                                    + "\(known.joined(separator: ", ")))\(suggestion) If its records lack it, it is null at "
                                    + "run time"))
                    }
                }
            }
        }

        static func hasCycle(from start: String, in resources: [ResourceDefinition]) -> Bool {
            var current = start
            var visited: Set<String> = [start]
            while let parent = resources.first(where: { $0.name == current })?.parent {
                if !visited.insert(parent).inserted { return true }
                current = parent
            }
            return false
        }

        /// Statuses as YAML gives them: `404`, `"502-504"`, `"500,502-504"` or a list of those.
        static func statuses(_ value: Value) throws -> Set<Int> {
            switch value {
            case .int(let code): return try RetryPolicy.parseStatuses(String(code))
            case .string(let text): return try RetryPolicy.parseStatuses(text)
            case .array(let items):
                var all: Set<Int> = []
                for item in items { all.formUnion(try statuses(item)) }
                return all
            default:
                throw ConfigurationError("write statuses as codes and ranges, like [500, \"502-504\", 429]")
            }
        }

        static func strings(in value: Value) -> [String] {
            switch value {
            case .string(let s): return [s]
            case .array(let a): return a.flatMap(strings)
            case .object(let r): return r.values.flatMap(strings)
            default: return []
            }
        }

        mutating func http(_ object: ConfigObject) -> HTTPSettings {
            var http = HTTPSettings()
            http.baseURL = object.string("base_url")
            http.path = object.string("path")
            http.method = object.string("method")
            http.headers = object.stringMap("headers").map { (name: $0.key, value: $0.value) }
            http.params = object.stringMap("params").map { (name: $0.key, value: $0.value) }
            if let json = object.value("json") { http.json = json.value }
            http.timeout = object.duration("timeout")
            if let retry = object.object("retry") {
                var policy = RetryPolicy()
                if let attempts = retry.int("attempts") {
                    if attempts < 1 {
                        errors.append(retry.error(at: "attempts", "attempts must be at least 1 (1 = no retry)"))
                    }
                    policy.maxAttempts = max(1, attempts)
                }
                if let delay = retry.duration("initial_delay") { policy.initialBackoff = delay }
                if let delay = retry.duration("max_delay") { policy.maxBackoff = delay }
                if let elapsed = retry.duration("max_elapsed") { policy.maxElapsed = elapsed }
                if let statuses = retry.value("statuses") {
                    do {
                        policy.retryableStatuses = try Self.statuses(statuses.value)
                    } catch {
                        errors.append(retry.error(at: "statuses", "\(error)"))
                    }
                }
                do {
                    try policy.apply(
                        statuses: nil, methods: retry.list("methods").compactMap(\.stringValue).joined(separator: ","))
                } catch {
                    errors.append(retry.error(at: "methods", "\(error)"))
                }
                http.retry = policy
            }
            for rule in object.objects("response_actions") {
                guard let action = rule.string("action").flatMap(ResponseAction.Action.init(rawValue:)) else {
                    continue
                }
                var parsed = ResponseAction(action: action)
                if let status = rule.value("status") {
                    do {
                        parsed.statuses = try Self.statuses(status.value)
                    } catch {
                        errors.append(rule.error(at: "status", "\(error)"))
                    }
                }
                parsed.content = rule.string("content")
                parsed.jsonPath = rule.jsonPath("json_path")
                if parsed.statuses.isEmpty && parsed.content == nil && parsed.jsonPath == nil {
                    errors.append(
                        rule.error("a response action needs a condition: add status, content or json_path"))
                }
                http.responseActions = (http.responseActions ?? []) + [parsed]
            }
            if let (type, settings) = object.variant("auth") {
                http.auth = Authenticator.parse(type, settings, errors: &errors)
            }
            if let (type, settings) = object.variant("paginate") {
                http.paginator = Paginator.parse(type, settings, errors: &errors)
            }
            return http
        }

        mutating func resource(_ object: ConfigObject, directory: String) -> ResourceDefinition {
            var resource = ResourceDefinition(name: object.string("name") ?? "resource")
            resource.table = object.string("table") ?? resource.name
            if let http = object.object("http") { resource.http = self.http(http) }
            // One source a resource: a second one is an error, not a second run of the same resource.
            let sourceKeys = ["sql", "files", "crawl", "stream"].filter { object.value($0) != nil }
            if sourceKeys.count > 1 {
                errors.append(
                    object.error(
                        at: sourceKeys[1],
                        "a resource reads from one source, but this one has \(sourceKeys.joined(separator: " and ")); "
                            + "split it into one resource each"))
            }
            if let sql = object.object("sql") {
                resource.source = .sql(self.sql(sql, directory: directory))
            } else if let files = object.object("files") {
                resource.source = .files(self.files(files, directory: directory))
            } else if let crawl = object.object("crawl") {
                resource.source = .crawl(self.crawl(crawl, resource: resource))
            } else if let stream = StreamDefinition(resource: object, directory: directory, errors: &self.errors) {
                resource.source = .stream(stream)
            }
            resource.forEach = object.map("for_each").map { entry in
                (name: entry.key, values: (entry.value.listValue ?? [entry.value]).map { $0.value })
            }
            resource.parent = object.string("from")
            if resource.parent != nil, !resource.forEach.isEmpty {
                errors.append(object.error(at: "for_each", "a resource takes for_each or from, not both"))
            }
            resource.fanOut = max(1, object.int(defaulted: "fan_out"))
            resource.select = object.jsonPath("select")
            resource.include = object.stringMap("include").map { (name: $0.key, path: $0.value) }
            if !resource.include.isEmpty, resource.parent == nil {
                errors.append(object.error(at: "include", "include copies parent fields; add from: PARENT"))
            }
            resource.primaryKey = object.strings("primary_key")
            resource.write = object.enumeration(defaulted: "write", as: WriteMode.self) ?? .append
            if resource.stream?.window != nil {
                // Window rows are keyed by their key fields and window_start: a late event updates its row.
                if object.value("write")?.isDefault == false, resource.write != .merge {
                    errors.append(
                        object.error(
                            at: "write", "window rows are merged on (key, window_start); write: merge or leave it out"))
                }
                resource.write = .merge
            } else if resource.write == .merge, resource.primaryKey.isEmpty {
                errors.append(object.error(at: "write", "merge needs a primary_key, like primary_key: id"))
            }
            if let incremental = object.object("incremental") {
                resource.incremental = Incremental(
                    cursor: incremental.string("cursor") ?? "", param: incremental.string("param"),
                    initial: incremental.value("initial").map { $0.value })
            }
            resource.lists = object.string("lists") == "json" ? .json : .tables
            resource.parallelPages = object.bool(defaulted: "parallel_pages")
            for step in object.variants("transform") {
                if step.name == "process" {
                    let id = "\(resource.name).transform[\(resource.transforms.count + 1)]"
                    if resource.files != nil || resource.crawl != nil {
                        errors.append(
                            step.object.error(
                                "process stages run in http and sql resources; for a file's records use "
                                    + "gather map FILE --command '…' (resumable per batch)"))
                    } else if let stage = ProcessStage.build(
                        step.object, id: id, directory: directory, errors: &self.errors)
                    {
                        resource.transforms.append(.process(stage))
                    }
                    continue
                }
                if let transform = Transform.parse(step.name, step.object, errors: &self.errors) {
                    resource.transforms.append(transform)
                }
            }
            return resource
        }

        mutating func crawl(_ object: ConfigObject, resource: ResourceDefinition) -> CrawlOptions {
            var options = CrawlOptions(start: object.strings("start"))
            options.sitemaps = object.strings("sitemaps")
            if let extract = object.object("extract") {
                options.extraction = ExtractionConfig.build(extract, errors: &self.errors)
            }
            if let follow = object.string("follow") {
                do {
                    options.follow = try Selector(follow)
                } catch {
                    self.errors.append(object.error(at: "follow", "\(error)"))
                }
            }
            for url in options.start where options.scope.canonical(url) == nil {
                self.errors.append(object.error(at: "start", "\(url) is not an http(s) URL"))
            }
            options.scope.sameHost = object.bool(defaulted: "same_host")
            options.scope.domains = object.strings("domains")
            options.scope.prefixes = object.strings("prefixes")
            options.scope.allow = object.strings("allow")
            options.scope.deny = object.strings("deny")
            for key in ["allow", "deny"] {
                for pattern in object.strings(key) where (try? Regex(pattern)) == nil {
                    self.errors.append(object.error(at: key, "'\(pattern)' is not a valid regular expression"))
                }
            }
            options.scope.sortQuery = object.bool(defaulted: "sort_query")
            options.maxDepth = object.int("max_depth")
            options.maxPages = object.int("max_pages")
            options.concurrency = max(1, object.int(defaulted: "concurrency"))
            options.obeyRobots = object.bool(defaulted: "robots")
            options.useCanonical = object.bool(defaulted: "canonical")
            options.table = resource.table
            options.name = resource.name
            return options
        }

        mutating func sql(_ object: ConfigObject, directory: String) -> SQLSource {
            var source = SQLSource(query: object.string("query") ?? "")
            if let text = object.string("connection") {
                do {
                    switch try Destination(text, accepting: .databases).relative(to: directory) {
                    case .postgres(let url): source.connection = .postgres(url)
                    case .sqlite(let path): source.connection = .sqlite(path: path)
                    case .jsonLines, .csv: break  // not accepted above
                    }
                } catch {
                    errors.append(object.error(at: "connection", "\(error)"))
                }
            }
            source.params = object.strings("params")
            source.batchRows = max(1, object.int(defaulted: "batch_rows"))
            return source
        }

        mutating func files(_ object: ConfigObject, directory: String) -> FilesSource {
            var options = LoadOptions()
            options.format = object.enumeration("format", as: FileFormat.self)
            if let delimiter = object.string("delimiter") {
                let bytes = delimiter == "tab" || delimiter == "\t" ? [UInt8(ascii: "\t")] : Array(delimiter.utf8)
                if bytes.count == 1 {
                    options.csv.delimiter = bytes[0]
                } else {
                    errors.append(object.error(at: "delimiter", "the delimiter is one ASCII character, or tab"))
                }
            }
            if let quote = object.string("quote") {
                if quote.utf8.count == 1 {
                    options.csv.quote = quote.utf8.first!
                } else {
                    errors.append(object.error(at: "quote", "the quote is one ASCII character"))
                }
            }
            options.csv.hasHeader = object.bool(defaulted: "header")
            switch object.string("ragged") {
            case "pad": options.csv.raggedRows = .pad
            case "skip": options.csv.raggedRows = .skip
            default: options.csv.raggedRows = .error
            }
            options.replaceInvalidUTF8 = object.bool(defaulted: "replace_invalid_utf8")
            options.jsonPath = object.string("json_path")
            options.sourceColumns = object.bool(defaulted: "source_columns")
            options.maxOpenFiles = max(1, object.int(defaulted: "max_open"))
            let paths = object.strings("paths").map { path in
                path.hasPrefix("/") || directory == "." ? path : directory + "/" + path
            }
            return FilesSource(paths: paths, options: options)
        }
    }
}
