import GatherCore
import GatherFormats
import GatherHTTP
import GatherStore
import Synchronization
import Tracing

/// Runs one resource: its work items, their pages, transforms, and the commits that write rows and state together.
final class ResourceRun: Sendable {
    let definition: ResourceDefinition
    let http: HTTPSettings
    let shared: RunShared
    let authenticator: Authenticator
    let chain: TransformChain
    let normalizer: Normalizer
    /// Resources fed by this one's records.
    let children: [ChildLink]
    /// What this process has committed for the resource (for progress and the summary).
    let counts: Mutex<ResourceCounts>
    /// The endpoint's path (an `http` resource; a `sql` resource runs its query instead and has none).
    let pathTemplate: Template?
    let paramTemplates: [(name: String, value: Template)]
    let headerTemplates: [(name: String, value: Template)]
    /// Where a `sql` resource's query runs.
    let sqlReader: SQLReader?
    /// Set when a response action said `fail`: the message; every page not yet fetched becomes an error row
    /// with it instead of a request.
    let halted = Mutex<String?>(nil)

    struct ChildLink: Sendable {
        var definition: ResourceDefinition
        var queue: WorkQueue
    }

    /// Parallel page requests in flight per work item; the host's limits still bound what is sent.
    static let pageWindow = 32

    init(
        definition: ResourceDefinition, defaults: HTTPSettings, shared: RunShared, children: [ChildLink],
        sqlReader: SQLReader? = nil
    ) throws {
        self.sqlReader = sqlReader
        self.definition = definition
        self.http = definition.http.layered(over: defaults)
        self.shared = shared
        self.authenticator = Authenticator(self.http.auth)
        self.chain = TransformChain(definition.transforms, pools: shared.pools)
        self.normalizer = Normalizer(table: definition.table, lists: definition.lists)
        self.children = children
        self.counts = Mutex(ResourceCounts(runID: shared.runID, resource: definition.name))
        if case .sql = definition.source {
            self.pathTemplate = nil
        } else {
            guard let path = self.http.path ?? self.http.baseURL else {
                throw PipelineError(
                    "resource '\(definition.name)' has no http.path; write the endpoint, like path: /items")
            }
            self.pathTemplate = try Template(path)
        }
        self.paramTemplates = try self.http.params.map { ($0.name, try Template($0.value)) }
        self.headerTemplates = try self.http.headers.map { ($0.name, try Template($0.value)) }
    }

    var name: String { self.definition.name }
    var stateScope: String { "work:\(self.definition.name)" }
    func pageScope(_ item: WorkItem) -> String { "pages:\(self.definition.name):\(item.key)" }
    var incrementalScope: String { "incremental:\(self.definition.name)" }

    // MARK: - Work items

    /// Runs `items` with at most `concurrency` at once; `saved` is the state left by an interrupted run.
    func run<Items: AsyncSequence & Sendable>(items: Items, concurrency: Int, saved: [String: ItemState]) async throws
    where Items.Element == WorkItem {
        try await forEachConcurrently(items, maxConcurrency: max(1, concurrency)) { item in
            try await self.runItem(item, saved: saved[item.key])
        } consume: { _ in
        }
    }

    /// Runs `item` from `saved` to its end. Returns `true` when the item's pages went out as units of a shared run
    /// instead (a counted, numbered paginator): the item completes with its last page (``completion(of:state:marks:)``).
    @discardableResult
    func runItem(_ item: WorkItem, saved: ItemState?) async throws -> Bool {
        if saved?.done == true || self.shared.stopping { return false }
        var state: ItemState
        if let saved {
            state = saved
            if saved.page == 0, saved.next == nil, saved.pageCount == nil {
                state.since = await self.startingCursor(for: item)
            }
        } else {
            state = ItemState(item: item, since: await self.startingCursor(for: item))
        }
        if let source = self.definition.sql {
            try await self.runQuery(item, state: state, source: source)
            return false
        }
        let first: String
        do {
            first = try self.firstURL(state)
        } catch {
            var failure = PageFailure(
                code: "config", message: "\(error)", url: self.pathTemplate?.source ?? "", payload: nil)
            failure.message = self.shared.redact(failure.message)
            state.done = true
            try await self.commit(page: nil, failure: failure, item: item, state: state, complete: true)
            return false
        }
        switch self.http.paginator?.kind.pages(first: first) ?? .single {
        case .single:
            try await self.chainPages(item, state: state, first: first, next: nil)
        case .numbered(let url, let count, let pageSize):
            return try await self.indexed(item, state: state, url: url, count: count, limit: pageSize)
        case .chained(let next):
            try await self.chainPages(item, state: state, first: first, next: next)
        }
        return false
    }

    /// Page `index` of `item`, a unit of a shared run (see ``runItem(_:saved:)``): fetched and committed with its
    /// mark, as a run on one machine does each page after the first. `state` is the item's, as its first page left
    /// it.
    func runPage(_ item: WorkItem, index: Int, state: ItemState) async throws {
        guard !state.done, !self.shared.stopping else { return }
        let first: String
        do {
            first = try self.firstURL(state)
        } catch {
            let failure = PageFailure(
                code: "config", message: self.shared.redact("\(error)"), url: self.pathTemplate?.source ?? "",
                payload: nil)
            try await self.commit(
                page: nil, failure: failure, item: item, state: state, complete: false, pageIndex: index)
            return
        }
        guard case .numbered(let url, _, let limit) = self.http.paginator?.kind.pages(first: first) else {
            throw PipelineError("resource '\(self.name)' has no numbered pages (has the pipeline file changed?)")
        }
        let page = await self.fetchPage(url(index), state: state)
        try await self.commitPage(
            page, index: index, item: item, state: state, parallel: true, itemsBefore: limit.map { index * $0 })
    }

    /// The commit that completes `item` once each of its pages has its mark (`marks`: page index to the largest
    /// cursor on that page); `nil` while a page is missing, or when the item is complete already.
    func completion(of item: WorkItem, state: ItemState, marks: [Int: Value]) -> SinkBatch? {
        guard !state.done, let pageCount = state.pageCount, marks.count >= pageCount else { return nil }
        var done = state
        done.maxCursor = marks.values.reduce(state.maxCursor) { cursorIsGreater($1, than: $0) ? $1 : $0 }
        var batch = SinkBatch()
        self.complete(item, state: done, into: &batch)
        return batch
    }

    /// The cursor value this item sends: the last run's, or `initial`.
    private func startingCursor(for item: WorkItem) async -> Value {
        guard let incremental = self.definition.incremental else { return .null }
        if let stored = self.shared.incrementalCursors[self.name]?[item.key] { return stored }
        return incremental.initial ?? .null
    }

    private func firstURL(_ state: ItemState) throws -> String {
        var context = state.context
        for (key, value) in state.included where context[key] == nil { context[key] = value }
        guard let pathTemplate = self.pathTemplate else {
            throw PipelineError("resource '\(self.name)' reads a query and has no endpoint")
        }
        let path = try pathTemplate.render(context, escape: URLEncoding.pathValue)
        var url =
            path.contains("://") ? path : (self.http.baseURL ?? "").trimmingSuffix("/") + "/" + path.trimmingPrefix("/")
        for (name, template) in self.paramTemplates {
            url = URLEncoding.setting(name, to: try template.render(context), in: url)
        }
        if let incremental = self.definition.incremental, let param = incremental.param, !state.since.isNull {
            url = URLEncoding.setting(param, to: Template.text(state.since), in: url)
        }
        return url
    }

    // MARK: - Pages

    /// Offset and page-number pagination: with a known count, pages after the first go out in parallel.
    /// In a shared run, the pages after the first go out as units in the first page's commit instead (returns
    /// `true`).
    private func indexed(
        _ item: WorkItem, state initial: ItemState, url: @escaping @Sendable (Int) -> String,
        count: (@Sendable (Value) -> Int?)?, limit: Int?
    ) async throws -> Bool {
        var state = initial
        let maxPages = self.http.paginator?.maxPages
        guard let count, self.definition.parallelPages else {
            // No count: one page after another until an empty page.
            try await self.chainPages(item, state: state, first: url(0), next: nil, indexedURL: url)
            return false
        }
        let done = try await self.completedPages(item)
        if state.pageCount == nil || !done.keys.contains(0) {
            guard !self.shared.stopping else { return false }
            let page = await self.fetchPage(url(0), state: state)
            var pages: Int?
            if case .success(let body) = page { pages = count(body.json) }
            state.pageCount = max(1, min(pages ?? 1, maxPages ?? Int.max))
            if let maxItems = self.http.paginator?.maxItems, let limit {
                state.pageCount = min(state.pageCount ?? 1, max(1, (maxItems + limit - 1) / limit))
            }
            let units =
                self.shared.sharesWork
                ? (1..<max(1, state.pageCount ?? 1)).map { index in
                    DiscoveredWork(
                        kind: self.name, key: PipelineUnit.pageKey(item: item.key, page: index),
                        payload: PipelineUnit(resource: self.name, item: item, page: index).value)
                } : []
            try await self.commitPage(
                page, index: 0, item: item, state: state, parallel: true, itemsBefore: 0, units: units)
        }
        // Shared: the other pages are units now (enqueued with the first page), done by whoever claims them.
        if self.shared.sharesWork { return true }
        let pageCount = state.pageCount ?? 1
        let remaining = (1..<max(1, pageCount)).filter { !done.keys.contains($0) }
        let snapshot = state
        try await forEachConcurrently(AsyncElements(remaining), maxConcurrency: Self.pageWindow) { index in
            guard !self.shared.stopping else { return }
            let page = await self.fetchPage(url(index), state: snapshot)
            try await self.commitPage(
                page, index: index, item: item, state: snapshot, parallel: true, itemsBefore: limit.map { index * $0 })
        } consume: { _ in
        }
        guard !self.shared.stopping else { return false }
        // Complete: the item is done, its page marks go, and the incremental cursor moves on.
        let marks = try await self.completedPages(item)
        if let batch = self.completion(of: item, state: state, marks: marks) {
            try await self.shared.sink.commit(batch)
        }
        return false
    }

    /// Link-header, JSON-link and cursor pagination (and index pagination without a count): one page after
    /// another, the next request sent as soon as its URL is known, while the current page is processed.
    private func chainPages(
        _ item: WorkItem, state initial: ItemState, first: String,
        next nextPage: (@Sendable (PageResponse) -> String?)?,
        indexedURL: (@Sendable (Int) -> String)? = nil
    ) async throws {
        var state = initial
        var url = state.next ?? first
        if state.page > 0, state.next == nil, let indexedURL { url = indexedURL(state.page) }
        var prefetched: Task<Result<PageBody, PageFailure>, Never>?
        defer { prefetched?.cancel() }
        let paginator = self.http.paginator
        while true {
            if self.shared.stopping { return }
            let page: Result<PageBody, PageFailure>
            if let task = prefetched {
                page = await task.value
                prefetched = nil
            } else {
                page = await self.fetchPage(url, state: state)
            }
            var next: String?
            if case .success(let body) = page {
                let records = self.records(in: body.json)
                let stopOnEmpty = paginator?.stopOnEmpty ?? true
                if let indexedURL {
                    // Numbered pages without a count: on until an empty page.
                    next = records.isEmpty && stopOnEmpty ? nil : indexedURL(state.page + 1)
                } else {
                    next = nextPage?(
                        PageResponse(
                            json: body.json, headers: body.headers, url: url, records: records.count,
                            stopOnEmpty: stopOnEmpty))
                }
                if let limit = paginator?.maxPages, state.page + 1 >= limit { next = nil }
                if let limit = paginator?.maxItems, state.items + records.count >= limit { next = nil }
            }
            if let next, !self.shared.stopping {
                let snapshot = state
                prefetched = Task { await self.fetchPage(next, state: snapshot) }
            }
            state.next = next
            let complete = next == nil
            state.done = complete
            state = try await self.commitPage(page, index: state.page, item: item, state: state, parallel: false)
            if complete { return }
            url = next!
        }
    }

    private func completedPages(_ item: WorkItem) async throws -> [Int: Value] {
        var pages: [Int: Value] = [:]
        for entry in try await self.shared.sink.state(scopePrefix: self.pageScope(item))
        where entry.scope == self.pageScope(item) {
            if let index = Int(entry.key) { pages[index] = (try? JSONReader.parse(entry.value)) ?? .null }
        }
        return pages
    }

    // MARK: - Fetching

    struct PageBody: Sendable {
        var json: Value
        var headers: [(name: String, value: String)]
        var url: String
        var requests: Int
        var retries: Int
    }

    struct PageFailure: Error, Sendable {
        var code: String
        var message: String
        var url: String
        var payload: String?
        var requests = 0
        var retries = 0
    }

    /// Fetches and parses one page; renews OAuth credentials once on a 401.
    func fetchPage(_ url: String, state: ItemState) async -> Result<PageBody, PageFailure> {
        var requests = 0
        var retries = 0
        if let reason = self.halted.withLock({ $0 }) {
            return .failure(
                PageFailure(
                    code: "response_action", message: "not fetched: the resource stopped after \(reason)",
                    url: self.shared.redact(url), payload: nil))
        }
        for attempt in 0..<2 {
            var request = FetchRequest(url: url, method: self.http.method ?? (self.http.json == nil ? "GET" : "POST"))
            request.timeout = self.http.timeout
            request.retry = self.http.retry
            request.responseActions = self.http.responseActions
            var context = state.context
            for (key, value) in state.included where context[key] == nil { context[key] = value }
            for (name, template) in self.headerTemplates {
                request.headers.append((name, (try? template.render(context)) ?? template.source))
            }
            if let json = self.http.json {
                request.headers.append(("Content-Type", "application/json"))
                request.body = Array(JSONWriter.string(Self.fill(json, context: context)).utf8)
            }
            do {
                try await self.authenticator.authorize(&request, fetcher: self.shared.fetcher)
            } catch {
                return .failure(
                    PageFailure(
                        code: "auth", message: self.shared.redact(error.message), url: self.shared.redact(url),
                        payload: nil, requests: requests, retries: retries))
            }
            let result = await self.shared.fetcher.fetch(request, stop: self.shared.stop)
            requests += result.attempts
            retries += max(0, result.attempts - 1)
            self.shared.countRetries(result.retryCauses)
            if attempt == 0, result.response?.status == 401, self.authenticator.renewsOnUnauthorized {
                self.authenticator.invalidate(after: request)
                continue
            }
            if result.stopsResource, let error = result.error {
                self.halted.withLock { if $0 == nil { $0 = self.shared.redact(error.message) } }
            }
            if result.ignored {
                // A response action said: no data here (a 404 for "none yet", say). No records, no error.
                return .success(PageBody(json: .null, headers: [], url: url, requests: requests, retries: retries))
            }
            guard let response = result.response, result.error == nil else {
                let error = result.error ?? FetchError(.httpStatus, "no response from \(url)")
                let payload = result.response.map { Self.excerpt($0.body.readableBytesView) }
                return .failure(
                    PageFailure(
                        code: error.code.description, message: self.shared.redact(error.message),
                        url: self.shared.redact(url), payload: payload.map(self.shared.redact),
                        requests: requests, retries: retries))
            }
            let json: Value
            do {
                json = try response.body.withUnsafeReadableBytes { bytes in try JSONReader.parse(bytes) }
            } catch {
                return .failure(
                    PageFailure(
                        code: "invalid_json",
                        message: "the response from \(self.shared.redact(url)) is not JSON: \(error); check the "
                            + "endpoint or its Accept header",
                        url: self.shared.redact(url),
                        payload: self.shared.redact(Self.excerpt(response.body.readableBytesView)),
                        requests: requests, retries: retries))
            }
            let headers = response.headers.map { (name: $0.name, value: $0.value) }
            return .success(PageBody(json: json, headers: headers, url: url, requests: requests, retries: retries))
        }
        return .failure(
            PageFailure(
                code: "auth",
                message: "still 401 from \(self.shared.redact(url)) after renewing the token; check the "
                    + "client's permissions", url: self.shared.redact(url), payload: nil, requests: requests,
                retries: retries))
    }

    static func excerpt<Bytes: Collection>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        String(decoding: bytes.prefix(512), as: UTF8.self)
    }

    /// Fills `{placeholders}` in the strings of a JSON body.
    static func fill(_ value: Value, context: Record) -> Value {
        switch value {
        case .string(let text):
            guard text.contains("{"), let template = try? Template(text), template.hasPlaceholders else { return value }
            if template.parts.count == 1, case .field(let path) = template.parts[0],
                let whole = Template.lookup(path, in: context)
            {
                return whole
            }
            return (try? template.render(context)).map(Value.string) ?? value
        case .array(let elements): return .array(elements.map { fill($0, context: context) })
        case .object(let record): return .object(Record(record.map { ($0.key, fill($0.value, context: context)) }))
        default: return value
        }
    }

    /// The records of a response: `select`, or the response itself when it is a list, or its first list field.
    func records(in json: Value) -> [Value] {
        if let select = self.definition.select { return select.select(in: json) }
        switch json {
        case .array(let elements): return elements
        case .object(let record):
            for (_, value) in record { if case .array(let elements) = value { return elements } }
            return [json]
        case .null: return []
        default: return [json]
        }
    }

    // MARK: - Processing and committing

    /// Processes a page and commits its rows with the item's new state; returns the state after the page.
    @discardableResult
    func commitPage(
        _ page: Result<PageBody, PageFailure>, index: Int, item: WorkItem, state: ItemState, parallel: Bool,
        itemsBefore: Int? = nil, units: [DiscoveredWork] = []
    ) async throws -> ItemState {
        guard Traces.isOn else {
            return try await self.processAndCommit(
                page, index: index, item: item, state: state, parallel: parallel, itemsBefore: itemsBefore,
                units: units)
        }
        let attributes: SpanAttributes = [
            "gather.resource": .string(self.definition.name), "gather.page.index": .int64(Int64(index)),
            "gather.item": .string(item.key),
        ]
        return try await Traces.span("page", attributes: attributes) { span in
            if case .failure(let failure) = page { span?.setStatus(SpanStatus(code: .error, message: failure.message)) }
            return try await self.processAndCommit(
                page, index: index, item: item, state: state, parallel: parallel, itemsBefore: itemsBefore,
                units: units)
        }
    }

    /// `units`: work for a shared run's coordinator, committed with the page (the item's other pages).
    private func processAndCommit(
        _ page: Result<PageBody, PageFailure>, index: Int, item: WorkItem, state: ItemState, parallel: Bool,
        itemsBefore: Int?, units: [DiscoveredWork]
    ) async throws -> ItemState {
        var state = state
        switch page {
        case .failure(let failure):
            // A failed page ends a chain (there is no next link); a parallel page is marked done with its error.
            state.done = parallel ? state.done : true
            state.next = parallel ? state.next : nil
            try await self.commit(
                page: nil, failure: failure, item: item, state: state, complete: !parallel,
                pageIndex: parallel ? index : nil, units: units)
        case .success(let body):
            var processed = try await self.process(
                body, index: index, item: item, state: state, itemsBefore: itemsBefore)
            if !parallel {
                state.page += 1
                state.items += processed.counts.records
            }
            if cursorIsGreater(processed.maxCursor, than: state.maxCursor) { state.maxCursor = processed.maxCursor }
            processed.counts.requests = body.requests
            processed.counts.retries = body.retries
            try await self.commit(
                processed: processed, item: item, state: state, parallelIndex: parallel ? index : nil, units: units)
        }
        return state
    }

    struct Processed: Sendable {
        var rows: [NormalizedRow] = []
        var errors: [ErrorRow] = []
        var childItems: [(link: Int, item: WorkItem)] = []
        var counts: ResourceCounts
        var maxCursor: Value = .null
    }

    private func process(
        _ body: PageBody, index: Int, item: WorkItem, state: ItemState, itemsBefore: Int?
    ) async throws -> Processed {
        var out = Processed(counts: ResourceCounts(runID: self.shared.runID, resource: self.name))
        out.counts.pages = 1
        var records = self.records(in: body.json)
        if let maxItems = self.http.paginator?.maxItems {
            let already = itemsBefore ?? state.items
            if already + records.count > maxItems { records = Array(records.prefix(max(0, maxItems - already))) }
        }
        out.counts.records = records.count
        let incremental = self.definition.incremental
        let cursorPath = incremental.map { $0.cursor.split(separator: ".").map(String.init) }
        let filterClientSide = incremental != nil && incremental?.param == nil && !state.since.isNull
        // The page's records (with their positions on the page, which make the default keys), then the
        // transforms over all of them at once: a `process` stage sends them to its workers in batches.
        var positions: [Int] = []
        var inputs: [Record] = []
        for (position, value) in records.enumerated() {
            var record: Record
            if case .object(let object) = value { record = object } else { record = ["value": value] }
            for (key, value) in item.included { record[key] = value }
            if let cursorPath, let cursor = Template.lookup(cursorPath, in: record) {
                if filterClientSide, !cursorIsGreater(cursor, than: state.since) {
                    out.counts.filtered += 1
                    continue
                }
                if cursorIsGreater(cursor, than: out.maxCursor) { out.maxCursor = cursor }
            }
            positions.append(position)
            inputs.append(record)
        }
        let outcomes = try await self.chain.apply(page: inputs, context: self.shared.expressionContext)
        for (position, outcome) in zip(positions, outcomes) {
            // A record whose every part failed is one error; parts that failed next to parts that were written
            // are errors of their own.
            for failure in outcome.failures {
                out.counts.errors += 1
                out.errors.append(
                    self.errorRow(
                        code: failure.code, message: failure.message, request: body.url,
                        payload: JSONWriter.string(.object(failure.record))))
            }
            if outcome.records.isEmpty {
                if outcome.failures.isEmpty { out.counts.filtered += 1 }
                continue
            }
            let outputs = outcome.records
            var wrote = false
            for (sub, output) in outputs.enumerated() {
                let key: String
                if self.definition.primaryKey.isEmpty {
                    key = "\(item.key)|\(index)|\(position)" + (outputs.count > 1 ? "|\(sub)" : "")
                } else {
                    var parts: [Value] = []
                    for field in self.definition.primaryKey {
                        guard let part = output[field], !part.isNull else { break }
                        parts.append(part)
                    }
                    guard parts.count == self.definition.primaryKey.count else {
                        out.counts.errors += 1
                        out.errors.append(
                            self.errorRow(
                                code: "missing_key",
                                message: "the record has no value for primary key "
                                    + "\(self.definition.primaryKey.joined(separator: ", ")); check primary_key or "
                                    + "the transforms", request: body.url,
                                payload: JSONWriter.string(.object(output))))
                        continue
                    }
                    key = JSONWriter.string(.array(parts))
                }
                self.normalizer.normalize(output, key: key, into: &out.rows)
                out.counts.rows += 1
                wrote = true
                for (link, child) in self.children.enumerated() {
                    var context = output
                    context[self.name] = .object(output)
                    var included = Record()
                    for (name, path) in child.definition.include {
                        let parts = path.split(separator: ".").map(String.init)
                        included[name] = Template.lookup(parts, in: context) ?? .null
                    }
                    out.childItems.append((link, WorkItem(key: key, context: context, included: included)))
                }
            }
            if wrote { out.counts.written += 1 }
        }
        return out
    }

    func errorRow(code: String, message: String, request: String, payload: String?) -> ErrorRow {
        ErrorRow(
            runID: self.shared.runID, resource: self.name, request: self.shared.redact(request), code: code,
            message: self.shared.redact(message), payload: payload.map { self.shared.redact(String($0.prefix(512))) },
            at: self.shared.expressionContext.now)
    }

    private func commit(
        processed: Processed, item: WorkItem, state: ItemState, parallelIndex: Int?, units: [DiscoveredWork]
    ) async throws {
        var batch = SinkBatch()
        batch.discovered = units
        if !processed.rows.isEmpty {
            batch.writes.append(
                TableWrite(
                    table: self.definition.table, mode: self.definition.write, primaryKey: self.definition.primaryKey,
                    rows: processed.rows))
        }
        batch.errors = processed.errors
        for (link, child) in processed.childItems {
            let resource = self.children[link].definition.name
            if self.shared.sharesWork {
                // The unit carries the item; its state starts when it first runs. (Written here, it would reset
                // the progress of a child found again, by another page, while another worker runs it.)
                batch.discovered.append(
                    DiscoveredWork(
                        kind: resource, key: child.key, payload: PipelineUnit(resource: resource, item: child).value))
            } else {
                let childState = ItemState(item: child, since: .null)
                batch.state.append(.put(scope: "work:\(resource)", key: child.key, value: childState.json))
            }
        }
        if let parallelIndex {
            batch.state.append(
                .put(
                    scope: self.pageScope(item), key: String(parallelIndex),
                    value: JSONWriter.string(processed.maxCursor)))
            if parallelIndex == 0 {
                batch.state.append(.put(scope: self.stateScope, key: item.key, value: state.json))
            }
        } else {
            batch.state.append(.put(scope: self.stateScope, key: item.key, value: state.json))
            if state.done { self.completeIncremental(item: item, state: state, into: &batch) }
        }
        batch.counts = [processed.counts]
        try await self.shared.sink.commit(batch)
        self.counts.withLock { $0.add(processed.counts) }
        if !self.shared.sharesWork {
            for (link, child) in processed.childItems { self.children[link].queue.push(child) }
        }
        self.shared.progress.changed()
    }

    /// Commits a failure or a completion (no rows).
    func commit(
        page: PageBody?, failure: PageFailure?, item: WorkItem, state: ItemState, complete: Bool, pageIndex: Int? = nil,
        units: [DiscoveredWork] = []
    ) async throws {
        var batch = SinkBatch()
        batch.discovered = units
        var counts = ResourceCounts(runID: self.shared.runID, resource: self.name)
        if let failure {
            counts.errors = 1
            counts.requests = failure.requests
            counts.retries = failure.retries
            batch.errors.append(
                self.errorRow(
                    code: failure.code, message: failure.message, request: failure.url, payload: failure.payload))
        }
        if let pageIndex {
            batch.state.append(.put(scope: self.pageScope(item), key: String(pageIndex), value: "null"))
            if pageIndex == 0 { batch.state.append(.put(scope: self.stateScope, key: item.key, value: state.json)) }
        }
        if complete { self.complete(item, state: state, into: &batch) }
        batch.counts = [counts]
        try await self.shared.sink.commit(batch)
        self.counts.withLock { $0.add(counts) }
        self.shared.progress.changed()
    }

    /// Adds what completes `item` to `batch`: its state, done; its page marks cleared (on one machine); the
    /// incremental cursor on.
    ///
    /// A shared run keeps the marks until the pipeline's next run starts: a page unit's holder that died after
    /// its commit, or a commit tried again after a lost reply, must still find its page's mark after another
    /// worker completed the item.
    private func complete(_ item: WorkItem, state: ItemState, into batch: inout SinkBatch) {
        var done = state
        done.done = true
        batch.state.append(.put(scope: self.stateScope, key: item.key, value: done.json))
        if !self.shared.sharesWork { batch.state.append(.clear(scope: self.pageScope(item))) }
        self.completeIncremental(item: item, state: done, into: &batch)
    }

    private func completeIncremental(item: WorkItem, state: ItemState, into batch: inout SinkBatch) {
        guard self.definition.incremental != nil, !state.maxCursor.isNull,
            cursorIsGreater(state.maxCursor, than: state.since)
        else { return }
        batch.state.append(.put(scope: self.incrementalScope, key: item.key, value: JSONWriter.string(state.maxCursor)))
    }
}

extension String {
    func trimmingSuffix(_ suffix: String) -> String {
        var s = self
        while s.hasSuffix(suffix) { s.removeLast(suffix.count) }
        return s
    }

    func trimmingPrefix(_ prefix: String) -> String {
        var s = Substring(self)
        while s.hasPrefix(prefix) { s = s.dropFirst(prefix.count) }
        return String(s)
    }
}
