import GatherServer
import Hummingbird
import NIOCore
import Synchronization

/// A generated web site for crawl tests, on `127.0.0.1:0`: `pageCount` pages in a binary tree with extra links
/// that make loops, and the quirks real sites have.
///
/// | path | what |
/// |---|---|
/// | `/` | the index: links to `/p/1` (and quirks: `mailto:`, `javascript:`, a fragment, a commented-out link) |
/// | `/p/N` | page N: `<title>Page N &amp; co</title>`, `<span class="price"> N.99 </span>` (padded), an unclosed `<p>`, a `<script>` with `<` and `&&`; links to `2N`, `2N+1` (relative, absolute-path and full-URL forms, one with `#frag`), to `(7N mod count)+1` (loops), to `/private/N` (disallowed), to `/redirect/N`, and to another host |
/// | `/redirect/N` | 301 to `/p/N` (a crawl records `/p/N` once, not the redirect) |
/// | `/private/…` | disallowed by robots.txt (a crawl must never fetch it) |
/// | `/p/N.secret` | disallowed by the `$` rule |
/// | `/busy/N` | 429 with `Retry-After: 0` on its first request, then a page (linked from page 3) |
/// | `/robots.txt` | `Disallow: /private/` and `/*.secret$` for `gather`, a `Crawl-delay` when configured, the sitemap |
/// | `/sitemap.xml` | a `urlset` listing `/orphan/1…3`, pages no link reaches |
/// | `/latin1` | a page in ISO-8859-1, declared in the `Content-Type` header (linked from the index) |
public struct CrawlSite: Sendable {
    public struct Configuration: Sendable {
        public var pageCount: Int
        /// `Crawl-delay` in robots.txt, in seconds (none when `nil`).
        public var crawlDelay: Double?
        /// Per-request latency.
        public var latency: Duration
        public init(pageCount: Int = 60, crawlDelay: Double? = nil, latency: Duration = .zero) {
            self.pageCount = pageCount
            self.crawlDelay = crawlDelay
            self.latency = latency
        }
    }

    public let port: Int
    public let configuration: Configuration
    /// Requests per path.
    public let stats: CrawlSiteStats

    /// `http://127.0.0.1:PORT`.
    public var baseURL: String { "http://127.0.0.1:\(self.port)" }

    /// Every URL a complete crawl from `/` (and the sitemap) must record, with robots.txt obeyed.
    public func expectedURLs(withSitemap: Bool = false) -> Set<String> {
        var urls: Set<String> = [self.baseURL + "/", self.baseURL + "/latin1"]
        for n in 1...self.configuration.pageCount { urls.insert(self.baseURL + "/p/\(n)") }
        for n in 1...self.configuration.pageCount where n % 10 == 3 { urls.insert(self.baseURL + "/busy/\(n)") }
        if withSitemap { for n in 1...3 { urls.insert(self.baseURL + "/orphan/\(n)") } }
        return urls
    }

    /// Starts the site, runs `body`, and stops the server however `body` ends.
    public static func withServer<T: Sendable>(
        _ configuration: Configuration = .init(), _ body: (CrawlSite) async throws -> T
    ) async throws -> T {
        let stats = CrawlSiteStats()
        let router = Router()
        let count = configuration.pageCount
        let latency = configuration.latency
        @Sendable func page(_ html: String, contentType: String = "text/html; charset=utf-8") -> Response {
            Response(
                status: .ok, headers: [.contentType: contentType],
                body: ResponseBody(byteBuffer: ByteBuffer(string: html)))
        }
        @Sendable func wait() async { if latency > .zero { try? await Task.sleep(for: latency) } }
        router.get("/") { request, _ in
            stats.record(request.uri.path)
            await wait()
            return page(
                """
                <!DOCTYPE html><html><head><title>Home</title></head><body>
                <a href="/p/1">first</a> <a href="p/1#top">again</a> <a href="mailto:x@example.com">mail</a>
                <a href="javascript:void(0)">js</a> <a name="anchor">no href</a> <a href="/latin1">latin</a>
                <!-- <a href="/p/99999">commented out</a> -->
                </body></html>
                """)
        }
        router.get("/latin1") { request, _ in
            stats.record(request.uri.path)
            var buffer = ByteBuffer()
            buffer.writeBytes(Array("<html><head><title>Caf".utf8) + [0xE9] + Array("</title></head></html>".utf8))
            return Response(
                status: .ok, headers: [.contentType: "text/html; charset=iso-8859-1"],
                body: ResponseBody(byteBuffer: buffer))
        }
        router.get("/p/:n") { request, context in
            stats.record(request.uri.path)
            await wait()
            let raw = context.parameters.get("n") ?? ""
            guard let n = Int(raw), n >= 1, n <= count else { return Response(status: .notFound) }
            return page(Self.page(n, count: count, base: request.head.authority.map { "http://\($0)" } ?? ""))
        }
        router.get("/busy/:n") { request, context in
            let first = stats.record(request.uri.path) == 1
            if first { return Response(status: .tooManyRequests, headers: [.retryAfter: "0"]) }
            let n = Int(context.parameters.get("n") ?? "") ?? 0
            return page("<html><head><title>Busy \(n)</title></head><body><span class=price>\(n)</span></body></html>")
        }
        router.get("/redirect/:n") { request, context in
            stats.record(request.uri.path)
            let n = context.parameters.get("n") ?? "1"
            return Response(status: .movedPermanently, headers: [.location: "/p/\(n)"])
        }
        router.get("/private/**") { request, _ in
            stats.record(request.uri.path)
            return page("<html><title>private</title></html>")
        }
        router.get("/orphan/:n") { request, context in
            stats.record(request.uri.path)
            let n = context.parameters.get("n") ?? ""
            return page("<html><head><title>Orphan \(n)</title></head><body><a href=\"/p/1\">home</a></body></html>")
        }
        router.get("/robots.txt") { request, _ in
            stats.record(request.uri.path)
            var text = "User-agent: *\nDisallow: /\n\nUser-agent: Gather\nDisallow: /private/\nDisallow: /*.secret$\n"
            if let delay = configuration.crawlDelay { text += "Crawl-delay: \(delay)\n" }
            text += "\nSitemap: \(request.head.authority.map { "http://\($0)" } ?? "")/sitemap.xml\n"
            return Response(
                status: .ok, headers: [.contentType: "text/plain"],
                body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
        }
        router.get("/sitemap.xml") { request, _ in
            stats.record(request.uri.path)
            let base = request.head.authority.map { "http://\($0)" } ?? ""
            let urls = (1...3).map { "<url><loc>\(base)/orphan/\($0)</loc></url>" }.joined()
            return Response(
                status: .ok, headers: [.contentType: "application/xml"],
                body: ResponseBody(
                    byteBuffer: ByteBuffer(
                        string: "<?xml version=\"1.0\"?><urlset xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">"
                            + urls + "</urlset>")))
        }
        return try await HTTPServer.run(router: router, server: .http1(), name: "crawl-site") { port in
            try await body(CrawlSite(port: port, configuration: configuration, stats: stats))
        }
    }

    /// Page `n`'s HTML.
    static func page(_ n: Int, count: Int, base: String) -> String {
        var links: [String] = []
        if 2 * n <= count { links.append("<a href=\"\(2 * n)\">child</a>") }  // relative
        if 2 * n + 1 <= count { links.append("<a href=\"/p/\(2 * n + 1)#reviews\">child</a>") }  // absolute path
        links.append("<a href=\"\(base)/p/\((7 * n) % count + 1)\">loop</a>")  // full URL
        links.append("<a href=\"../p/\(n)\">self</a>")
        links.append("<a href=\"/private/\(n)\">private</a> <a href=\"/p/\(n).secret\">secret</a>")
        links.append("<a href=\"http://other.invalid/p/\(n)\">elsewhere</a>")
        if n % 5 == 0 { links.append("<a href=\"/redirect/\(n)\">moved</a>") }
        if n % 10 == 3 { links.append("<a href=\"/busy/\(n)\">busy</a>") }
        return """
            <html><head><title>Page \(n) &amp; co</title>
            <script>if (a < b && b > c) { document.write("<p>"); }</script></head>
            <body><p>intro<p>price: <span class="price">
              \(n).99 </span>
            \(links.joined(separator: "\n"))
            </body></html>
            """
    }
}

/// What a ``CrawlSite`` served: requests per path.
public final class CrawlSiteStats: Sendable {
    private let counts = Mutex<[String: Int]>([:])

    /// Counts a request; returns how many requests `path` has had, this one included.
    @discardableResult
    func record(_ path: String) -> Int {
        self.counts.withLock { counts in
            counts[path, default: 0] += 1
            return counts[path]!
        }
    }

    /// Requests for `path`.
    public func requests(_ path: String) -> Int { self.counts.withLock { $0[path] ?? 0 } }

    /// Every path requested, with its count.
    public func all() -> [String: Int] { self.counts.withLock { $0 } }
}
