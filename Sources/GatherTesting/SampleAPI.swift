public import GatherCore
import GatherServer
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

/// A small, deterministic REST API on `127.0.0.1:0` with every common pagination style, authentication scheme and
/// incremental-load hook, for pipeline tests and `gather demo`.
///
/// Every list endpoint takes `?since=TS` (only records with `updated_at` later than TS, by id; `YYYY-MM-DD`,
/// `YYYY-MM-DDTHH:MM:SSZ`, fractions and `±HH:MM` offsets accepted) and defaults to
/// ``Configuration/pageSize`` records a page (at most 1000). Pages past the end are empty.
///
/// The routes are ``routeList`` (`GET /` lists them; `gather fixture --sample-api --routes`).
///
/// Records: items `{"id","name","category","price","in_stock","tags","dimensions":{"w","h"},"updated_at"}`
/// (item i starts at 2024-01-01T00:00:00Z plus i minutes); repos `{"id","name","full_name","org","stars",
/// "updated_at"}`; contributors `{"login","contributions","repo"}`. ``Configuration/latency`` and
/// ``Configuration/transientFailureEvery`` apply to every `GET` outside `/admin`.
///
/// ```swift
/// try await SampleAPI.withServer(.init(transientFailureEvery: 3)) { api in
///     let url = api.url("/link/items?per_page=50")
///     …
///     #expect(api.stats.requestCount(pathPrefix: "/link/") == 5 + api.stats.injectedFailures())
/// }
/// ```
public struct SampleAPI: Sendable {
    /// The port the server listens on.
    public let port: Int
    /// What the server serves.
    public let configuration: Configuration
    /// What the server saw.
    public let stats: SampleAPIStats
    let store: SampleStore

    /// `http://127.0.0.1:PORT`.
    public var baseURL: String { "http://127.0.0.1:\(self.port)" }

    /// The absolute URL of `path` (with its query) on this server.
    public func url(_ path: String) -> String { self.baseURL + path }

    /// Starts the API, runs `body`, and stops the server however `body` ends.
    public static func withServer<T: Sendable>(
        _ configuration: Configuration = .init(),
        _ body: (SampleAPI) async throws -> T
    ) async throws -> T {
        let stats = SampleAPIStats()
        let store = SampleStore(configuration: configuration)
        let router = Router()
        router.add(middleware: SampleMiddleware(store: store, stats: stats))
        Self.addRoutes(to: router, store: store, stats: stats)
        Self.routeList.addIndex(to: router)
        return try await HTTPServer.run(router: router, server: .http1(), name: "sample-api") { port in
            store.baseURL = "http://127.0.0.1:\(port)"
            return try await body(SampleAPI(port: port, configuration: configuration, stats: stats, store: store))
        }
    }

    // MARK: Data, as the server would serve it now

    /// Every item by id, with its current `updated_at`.
    public func items() -> [Value] {
        self.store.itemStamps().map { SampleData.item($0.id, updatedAt: $0.updatedAt) }
    }

    /// The item with `id`, or `nil`.
    public func item(id: Int) -> Value? {
        let stamps = self.store.itemStamps()
        guard id >= 1, id <= stamps.count else { return nil }
        return SampleData.item(id, updatedAt: stamps[id - 1].updatedAt)
    }

    /// The items whose `updated_at` is later than `since` (same rules as `?since=`), by id.
    public func items(updatedAfter since: String) -> [Value] {
        guard let after = SampleTime.parse(since) else { return [] }
        return self.store.itemStamps().filter { $0.updatedAt > after }.map {
            SampleData.item($0.id, updatedAt: $0.updatedAt)
        }
    }

    /// The latest `updated_at` of any item (`YYYY-MM-DDTHH:MM:SSZ`).
    public var latestItemUpdatedAt: String {
        SampleTime.format(self.store.itemStamps().map(\.updatedAt).max() ?? SampleTime.base)
    }

    /// Every repo by id.
    public func repos() -> [Value] {
        self.configuration.repoCount > 0 ? (1...self.configuration.repoCount).map(SampleData.repo) : []
    }

    /// The repos of `org` (`org-a`: even ids, `org-b`: odd ids).
    public func repos(org: String) -> [Value] {
        self.repos().filter { $0["org"]?.stringValue == org }
    }

    /// The two organisations, `org-a` and `org-b`.
    public static var orgs: [String] { SampleData.orgs }

    /// The contributors of repo `id` (empty for an unknown repo).
    public func contributors(repo id: Int) -> [Value] {
        guard id >= 1, id <= self.configuration.repoCount else { return [] }
        let count = self.configuration.contributorsPerRepo(id)
        return count > 0 ? (1...count).map { SampleData.contributor(repo: id, $0) } : []
    }

    /// The 30 orders of `/nested/orders`.
    public func orders() -> [Value] {
        (1...SampleData.orderCount).map(SampleData.order)
    }

    /// The records of `/hostile/items`.
    public func hostileRecords() -> [Value] {
        SampleData.hostile()
    }

    // MARK: Changes, as the admin endpoints make them

    /// Gives the existing items among `ids` newer timestamps (as `POST /admin/touch?ids=…`); returns them, sorted.
    @discardableResult
    public func touch(ids: [Int]) -> [Int] {
        self.store.touch(ids: ids)
    }

    /// Touches `count` items spread over the id range (as `POST /admin/touch?n=count`); returns their ids.
    @discardableResult
    public func touch(count: Int) -> [Int] {
        self.store.touch(ids: self.store.spreadIDs(count: count))
    }

    /// Revokes every OAuth2 token (as `POST /admin/revoke-tokens`).
    public func revokeTokens() {
        self.store.revokeTokens()
    }

    /// Whether the first request for `pathAndQuery` (as sent, e.g. `/pages/items?page=3`) gets an injected 503.
    public func failsFirst(_ pathAndQuery: String) -> Bool {
        guard let every = self.configuration.transientFailureEvery else { return false }
        return SampleStore.isFailing(url: pathAndQuery, every: every)
    }
}

/// What a ``SampleAPI`` saw. Path prefixes match the request path (no query); `"/"` matches everything.
public final class SampleAPIStats: Sendable {
    /// One request the server answered (or is answering).
    public struct RecordedRequest: Sendable, Hashable {
        /// `GET`, `POST`, …
        public var method: String
        /// The path, without the query.
        public var path: String
        /// The raw query, if any.
        public var query: String?
        /// The decoded `since` parameter, if any.
        public var since: String?
        /// The response status; `nil` while in flight.
        public var status: Int?
        /// Whether the status was an injected transient 503.
        public var injected: Bool
    }

    private struct Event {
        var path: String
        var delta: Int
    }

    private struct State {
        var requests: [RecordedRequest] = []
        var events: [Event] = []
    }

    private let state = Mutex(State())

    init() {}

    func begin(method: String, path: String, query: String?, since: String?) -> Int {
        let request = RecordedRequest(
            method: method, path: path, query: query, since: since, status: nil, injected: false)
        return self.state.withLock { state in
            state.requests.append(request)
            state.events.append(Event(path: path, delta: 1))
            return state.requests.count - 1
        }
    }

    func end(_ index: Int, status: Int, injected: Bool = false) {
        self.state.withLock { state in
            state.requests[index].status = status
            state.requests[index].injected = injected
            state.events.append(Event(path: state.requests[index].path, delta: -1))
        }
    }

    /// The requests under `pathPrefix`, in arrival order.
    public func requests(pathPrefix: String = "/") -> [RecordedRequest] {
        self.state.withLock { $0.requests.filter { $0.path.hasPrefix(pathPrefix) } }
    }

    /// How many requests arrived under `pathPrefix`, injected failures included.
    public func requestCount(pathPrefix: String = "/") -> Int {
        self.state.withLock { $0.requests.count(where: { $0.path.hasPrefix(pathPrefix) }) }
    }

    /// How many requests under `pathPrefix` were answered with `status`.
    public func statusCount(_ status: Int, pathPrefix: String = "/") -> Int {
        self.state.withLock { $0.requests.count(where: { $0.status == status && $0.path.hasPrefix(pathPrefix) }) }
    }

    /// How many transient 503s were injected under `pathPrefix`.
    public func injectedFailures(pathPrefix: String = "/") -> Int {
        self.state.withLock { $0.requests.count(where: { $0.injected && $0.path.hasPrefix(pathPrefix) }) }
    }

    /// The most requests under `pathPrefix` that were in flight at once.
    public func maxInFlight(pathPrefix: String = "/") -> Int {
        self.state.withLock { state in
            var current = 0
            var high = 0
            for event in state.events where event.path.hasPrefix(pathPrefix) {
                current += event.delta
                high = max(high, current)
            }
            return high
        }
    }

    /// The distinct `since` values received under `pathPrefix`.
    public func sinceValues(pathPrefix: String = "/") -> Set<String> {
        self.state.withLock { Set($0.requests.lazy.filter { $0.path.hasPrefix(pathPrefix) }.compactMap(\.since)) }
    }

    /// Requests per exact path.
    public func countsByPath() -> [String: Int] {
        self.state.withLock { state in
            state.requests.reduce(into: [:]) { $0[$1.path, default: 0] += 1 }
        }
    }
}

/// Records every request in the stats, then applies the configured latency and transient failures to data requests.
struct SampleMiddleware: RouterMiddleware {
    typealias Context = BasicRequestContext
    let store: SampleStore
    let stats: SampleAPIStats

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        let path = request.uri.path
        let index = self.stats.begin(
            method: request.method.rawValue,
            path: path,
            query: request.uri.query,
            since: request.uri.queryParameters.get("since")
        )
        do {
            if request.method == .get, !path.hasPrefix("/admin/") {
                let latency = self.store.configuration.latency
                if latency > .zero { try await Task.sleep(for: latency) }
                if self.store.shouldFail(url: request.uri.string) {
                    let status = self.store.configuration.transientFailureStatus
                    self.stats.end(index, status: status, injected: true)
                    if status == 503 {
                        var response = SampleAPI.json(
                            ["error": "temporarily unavailable, try again"], status: .serviceUnavailable)
                        response.headers[.retryAfter] = "0"
                        return response
                    }
                    return Response(
                        status: .init(code: status),
                        headers: [.contentType: "text/html; charset=utf-8"],
                        body: ResponseBody(
                            byteBuffer: ByteBuffer(
                                string: "<html><head><title>\(status) Internal Server Error</title></head>"
                                    + "<body><h1>Internal Server Error</h1></body></html>")))
                }
            }
            let response = try await next(request, context)
            self.stats.end(index, status: response.status.code)
            return response
        } catch {
            self.stats.end(index, status: (error as? any HTTPResponseError)?.status.code ?? 500)
            throw error
        }
    }
}
