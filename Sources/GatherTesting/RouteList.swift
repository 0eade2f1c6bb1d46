import Hummingbird
import NIOCore

/// The routes a test server answers, as a table: `GET /` on the server lists them, and `gather fixture --routes`
/// prints them.
public struct RouteList: Sendable {
    public var title: String
    public var routes: [(path: String, behaviour: String)]

    public init(_ title: String, _ routes: [(path: String, behaviour: String)]) {
        self.title = title
        self.routes = routes
    }

    /// The table as text: the title, then one route a line, paths aligned.
    public var text: String {
        let width = self.routes.map(\.path.count).max() ?? 0
        return
            ([self.title, ""]
            + self.routes.map {
                "  " + $0.path + String(repeating: " ", count: width - $0.path.count) + "  " + $0.behaviour
            })
            .joined(separator: "\n") + "\n"
    }

    /// `GET /` answering with ``text``.
    func addIndex(to router: Router<BasicRequestContext>) {
        let text = self.text
        router.get("/") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "text/plain; charset=utf-8"],
                body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
        }
    }
}

extension FixtureServer {
    /// What `gather fixture` serves.
    public static let routeList = RouteList(
        "gather fixture: a test server for fetch (every route answers GET; /echo also POST and PUT)",
        [
            ("/json/ID", "a small JSON object naming ID; ?delay_ms=N waits first"),
            ("/delay/MS", "JSON after MS milliseconds (for concurrency caps)"),
            ("/flaky/KEY?fail=N&status=S&html=1", "status S (503) for the first N requests per KEY, then JSON"),
            ("/says/KEY?fail=N&text=T", "200 with {\"error\": T} for the first N requests per KEY, then JSON"),
            ("/ratelimit/KEY?n=N&retry_after=S", "429 with Retry-After: S for the first N requests per KEY, then JSON"),
            ("/status/CODE", "that status, with a small JSON body"),
            ("/reset/KEY?times=N", "the first N requests per KEY drop the connection mid-body, then JSON"),
            ("/trickle?chunks=N&interval_ms=M", "N small chunks, M ms apart"),
            ("/stall", "starts a body, then goes silent for a minute"),
            ("/huge?bytes=N&declare=1", "N bytes, streamed (with Content-Length when declare=1)"),
            ("/gzip?bytes=N", "a gzip-encoded JSON array of about N bytes"),
            ("/gzip-bomb?bytes=N", "N zero bytes, gzipped"),
            ("/invalid-json", "application/json that does not parse"),
            ("/text", "text/plain"),
            ("/binary", "four bytes that are not UTF-8"),
            ("/redirect/N", "N redirects, then JSON"),
            ("/redirect-loop", "redirects to itself"),
            ("/redirect-to?url=U&status=S", "a redirect (S, default 302) to U, which may be on another host"),
            ("/echo", "the method, headers and body as JSON"),
        ])
}

extension SampleAPI {
    /// What `gather fixture --sample-api` (and `gather demo`) serves.
    public static let routeList = RouteList(
        "gather fixture --sample-api: a REST API with every common pagination style and auth scheme; list endpoints "
            + "take ?since=TIMESTAMP",
        [
            ("GET /offset/items?offset=O&limit=L", "{\"total\":N,\"offset\":O,\"items\":[…]}"),
            ("GET /pages/items?page=P&per_page=S", "{\"page\":P,\"total_pages\":T,\"data\":[…]} (P from 1)"),
            (
                "GET /cursor/items?cursor=C&limit=L",
                "{\"data\":[…],\"meta\":{\"next_cursor\":C'}}, C' also in X-Next-Cursor"
            ),
            (
                "GET /jsonlink/items?page=P&per_page=S",
                "{\"results\":[…],\"next\":\"http://…?page=P+1\"} (null at the end)"
            ),
            ("GET /link/items?page=P&per_page=S", "bare array; Link: <…>; rel=\"next\" while there is more"),
            ("GET /repos?page=P&per_page=S", "all repos, bare array, Link header"),
            ("GET /orgs/ORG/repos?page=P&per_page=S", "repos of org-a (even ids) or org-b (odd), Link; else 404"),
            ("GET /repos/ID/contributors?page=P&per_page=S", "contributors of repo ID, Link; 404 for an unknown repo"),
            ("GET /auth/bearer/items", "like /offset/items, with Authorization: Bearer demo-token; else 401"),
            ("GET /auth/basic/items", "like /offset/items, with basic auth demo:s3cret-pass; else 401"),
            ("GET /auth/apikey/items", "like /offset/items, with X-API-Key: k-123456 or ?api_key=k-123456; else 401"),
            ("POST /oauth/token", "client credentials → {\"access_token\",\"token_type\",\"expires_in\"}"),
            ("GET /oauth/items", "like /offset/items, with a live token from /oauth/token; else 401"),
            ("POST /admin/revoke-tokens", "revokes every OAuth2 token"),
            ("POST /admin/touch?ids=1,5,9 or ?n=K", "gives those items a newer updated_at (for incremental loads)"),
            ("GET /admin/stats", "requests per path, injected failures, most requests in flight"),
            ("GET /hostile/items", "3 records with keys like \"; DROP TABLE x; --\", \"\" and ünïcødé"),
            ("GET /nested/orders?page=P&per_page=S", "30 orders with customer/address objects and line arrays"),
        ])
}
