import GatherCore
import GatherServer
import Hummingbird
import HummingbirdHTTP2
import Logging
import NIOCore
public import NIOSSL
import ServiceLifecycle

/// A real HTTP server on `127.0.0.1:0` with the misbehaviours fetch tests need, and counters to assert on.
///
/// The routes are ``routeList`` (`GET /` lists them; `gather fixture --routes`).
///
/// ```swift
/// try await FixtureServer.withServer { server in
///     let url = server.url("/delay/50")
///     …
///     #expect(server.stats.highWater("/delay/50") <= 8)
/// }
/// ```
public struct FixtureServer: Sendable {
    /// The port the server listens on.
    public let port: Int
    /// The address it listens on (127.0.0.1 unless told otherwise).
    public let host: String
    /// What the server saw.
    public let stats: FixtureStats

    /// `http://HOST:PORT` (`http://127.0.0.1:PORT` by default).
    public var baseURL: String { "http://\(self.host):\(self.port)" }

    /// The absolute URL of `path` on this server.
    public func url(_ path: String) -> String { self.baseURL + path }

    /// The absolute URL of `path` with another scheme (`https` for a server started with TLS), by host name
    /// `localhost` so that certificates for localhost match.
    public func url(_ path: String, scheme: String) -> String { "\(scheme)://localhost:\(self.port)\(path)" }

    /// Starts a server, runs `body`, and stops the server however `body` ends.
    ///
    /// With `tls`, the server speaks HTTPS and offers HTTP/2 by ALPN (HTTP/1.1 otherwise); ``baseURL`` is still
    /// `http://…`, so use ``url(_:scheme:)`` with `"https"`. `host` is the address to listen on: another one
    /// than loopback lets other hosts in (the scale-out tests' network namespaces reach the bridge's address).
    public static func withServer<T: Sendable>(
        tls: TLSConfiguration? = nil, host: String = "127.0.0.1",
        _ body: (FixtureServer) async throws -> T
    ) async throws -> T {
        let stats = FixtureStats()
        let router = Router()
        router.add(middleware: StatsMiddleware(stats: stats))
        Self.addRoutes(to: router, stats: stats)
        Self.routeList.addIndex(to: router)
        return try await HTTPServer.run(
            router: router, server: try tls.map { try .http2Upgrade(tlsConfiguration: $0) } ?? .http1(),
            host: host, name: "fixture"
        ) { port in
            try await body(FixtureServer(port: port, host: host, stats: stats))
        }
    }

    private static func json(_ text: String, status: HTTPResponse.Status = .ok) -> Response {
        Response(
            status: status,
            headers: [.contentType: "application/json"],
            body: ResponseBody(byteBuffer: ByteBuffer(string: text))
        )
    }

    private static func item(_ id: String) -> Response {
        let escaped = id.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
        return Self.json(#"{"id":"\#(escaped)","name":"item \#(escaped)","price":12.5,"tags":["a","b"],"ok":true}"#)
    }

    private static func addRoutes(to router: Router<BasicRequestContext>, stats: FixtureStats) {
        router.get("/json/:id") { request, context in
            if let delay = request.uri.queryParameters.get("delay_ms", as: Int.self) {
                try await Task.sleep(for: .milliseconds(delay))
            }
            return Self.item(context.parameters.get("id") ?? "")
        }
        router.get("/delay/:ms") { _, context in
            let ms = context.parameters.get("ms", as: Int.self) ?? 0
            try await Task.sleep(for: .milliseconds(ms))
            return Self.item("delay-\(ms)")
        }
        let flaky: @Sendable (Request, BasicRequestContext) async throws -> Response = { request, context in
            let key = context.parameters.get("key") ?? ""
            let fail = request.uri.queryParameters.get("fail", as: Int.self) ?? 1
            let status = request.uri.queryParameters.get("status", as: Int.self) ?? 503
            if stats.bump("flaky/\(key)") <= fail {
                if request.uri.queryParameters.get("html") == "1" {
                    return Response(
                        status: .init(code: status),
                        headers: [.contentType: "text/html; charset=utf-8"],
                        body: ResponseBody(
                            byteBuffer: ByteBuffer(
                                string: "<!doctype html><html><head><title>\(status) Internal Server Error</title>"
                                    + "</head><body><h1>Internal Server Error</h1></body></html>"))
                    )
                }
                return Self.json(#"{"error":"try again"}"#, status: .init(code: status))
            }
            return Self.item(key)
        }
        router.get("/flaky/:key", use: flaky)
        router.post("/flaky/:key") { request, context in
            _ = try await request.body.collect(upTo: 1 << 20)
            return try await flaky(request, context)
        }
        router.get("/says/:key") { request, context in
            let key = context.parameters.get("key") ?? ""
            let fail = request.uri.queryParameters.get("fail", as: Int.self) ?? 1
            let text = request.uri.queryParameters.get("text") ?? "rate limit exceeded"
            if stats.bump("says/\(key)") <= fail { return Self.json(#"{"error":\#(Self.quote(text))}"#) }
            return Self.item(key)
        }
        router.get("/redirect-to") { request, _ in
            let target = request.uri.queryParameters.get("url") ?? "/json/none"
            let status = request.uri.queryParameters.get("status", as: Int.self) ?? 302
            return Response(status: .init(code: status), headers: [.location: target])
        }
        router.post("/redirect-to") { request, _ in
            // Read the body first, as servers do: answering a POST before its body is in races AsyncHTTPClient's
            // connection pool (an early response is a different test).
            _ = try await request.body.collect(upTo: 1 << 20)
            let target = request.uri.queryParameters.get("url") ?? "/json/none"
            let status = request.uri.queryParameters.get("status", as: Int.self) ?? 302
            return Response(status: .init(code: status), headers: [.location: target])
        }
        router.get("/ratelimit/:key") { request, context in
            let key = context.parameters.get("key") ?? ""
            let n = request.uri.queryParameters.get("n", as: Int.self) ?? 1
            let retryAfter = request.uri.queryParameters.get("retry_after") ?? "1"
            if stats.bump("ratelimit/\(key)") <= n {
                var response = Self.json(#"{"error":"slow down"}"#, status: .tooManyRequests)
                response.headers[.retryAfter] = retryAfter
                return response
            }
            return Self.item(key)
        }
        router.get("/status/:code") { _, context in
            let code = context.parameters.get("code", as: Int.self) ?? 500
            return Self.json(#"{"status":\#(code)}"#, status: .init(code: code))
        }
        router.get("/reset/:key") { request, context in
            let key = context.parameters.get("key") ?? ""
            let times = request.uri.queryParameters.get("times", as: Int.self) ?? 1
            if stats.bump("reset/\(key)") <= times {
                return Response(
                    status: .ok,
                    headers: [.contentType: "application/json"],
                    body: ResponseBody(contentLength: 1000) { writer in
                        try await writer.write(ByteBuffer(string: #"{"partial":"#))
                        throw FixtureError(message: "connection dropped on purpose")
                    }
                )
            }
            return Self.item(key)
        }
        router.get("/trickle") { request, _ in
            let chunks = request.uri.queryParameters.get("chunks", as: Int.self) ?? 10
            let interval = request.uri.queryParameters.get("interval_ms", as: Int.self) ?? 100
            return Response(
                status: .ok,
                headers: [.contentType: "text/plain"],
                body: ResponseBody { writer in
                    for _ in 0..<chunks {
                        try await writer.write(ByteBuffer(string: "tick\n"))
                        try await Task.sleep(for: .milliseconds(interval))
                    }
                    try await writer.finish(nil)
                }
            )
        }
        router.get("/stall") { _, _ in
            Response(
                status: .ok,
                headers: [.contentType: "application/json"],
                body: ResponseBody { writer in
                    try await writer.write(ByteBuffer(string: "["))
                    try await Task.sleep(for: .seconds(60))
                    try await writer.finish(nil)
                }
            )
        }
        router.get("/huge") { request, _ in
            let total = request.uri.queryParameters.get("bytes", as: Int.self) ?? (100 << 20)
            let declare = request.uri.queryParameters.get("declare", as: Int.self) == 1
            let chunk = ByteBuffer(repeating: UInt8(ascii: "x"), count: 64 << 10)
            return Response(
                status: .ok,
                headers: [.contentType: "application/octet-stream"],
                body: ResponseBody(contentLength: declare ? total : nil) { writer in
                    var sent = 0
                    while sent < total {
                        let n = min(chunk.readableBytes, total - sent)
                        try await writer.write(chunk.getSlice(at: 0, length: n)!)
                        sent += n
                    }
                    try await writer.finish(nil)
                }
            )
        }
        router.get("/gzip") { request, _ in
            let size = request.uri.queryParameters.get("bytes", as: Int.self) ?? 10_000
            var text = "["
            var i = 0
            while text.utf8.count < size {
                text += (i == 0 ? "" : ",") + #"{"n":\#(i),"word":"gather"}"#
                i += 1
            }
            text += "]"
            return Response(
                status: .ok,
                headers: [.contentType: "application/json", .contentEncoding: "gzip"],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: gzipCompress(Array(text.utf8))))
            )
        }
        router.get("/gzip-bomb") { request, _ in
            let size = request.uri.queryParameters.get("bytes", as: Int.self) ?? (100 << 20)
            return Response(
                status: .ok,
                headers: [.contentType: "application/octet-stream", .contentEncoding: "gzip"],
                body: ResponseBody(
                    byteBuffer: ByteBuffer(bytes: gzipCompress([UInt8](repeating: 0, count: size), level: 9))
                )
            )
        }
        router.get("/binary") { _, _ in
            Response(
                status: .ok,
                headers: [.contentType: "application/octet-stream"],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: [0xFF, 0xFE, 0x00, 0x80]))
            )
        }
        router.get("/invalid-json") { _, _ in Self.json(#"{"a": 1,, "b": tru}"#) }
        router.get("/text") { _, _ in
            Response(
                status: .ok,
                headers: [.contentType: "text/plain; charset=utf-8"],
                body: ResponseBody(byteBuffer: ByteBuffer(string: "plain text, not JSON\n"))
            )
        }
        router.get("/redirect/:n") { _, context in
            let n = context.parameters.get("n", as: Int.self) ?? 0
            if n <= 0 { return Self.item("redirected") }
            return Response(status: .found, headers: [.location: "/redirect/\(n - 1)"])
        }
        router.get("/redirect-loop") { _, _ in
            Response(status: .found, headers: [.location: "/redirect-loop"])
        }
        router.on("/echo", method: .get, use: Self.echo)
        router.on("/echo", method: .post, use: Self.echo)
        router.on("/echo", method: .put, use: Self.echo)
    }

    @Sendable private static func echo(request: Request, context: BasicRequestContext) async throws -> Response {
        let body = try await request.body.collect(upTo: 1 << 20)
        var fields: [String] = []
        for field in request.headers {
            fields.append("\(quote(field.name.canonicalName)):\(quote(field.value))")
        }
        let text =
            #"{"method":\#(quote(request.method.rawValue)),"headers":{\#(fields.joined(separator: ","))},"#
            + #""body":\#(quote(String(buffer: body)))}"#
        return Self.json(text)
    }

    /// The text as a JSON string literal (GatherCore's writer does the escaping).
    private static func quote(_ text: String) -> String {
        var bytes: [UInt8] = []
        JSONWriter.writeString(text, into: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// Counts every request in the fixture's stats, keyed by path.
struct StatsMiddleware: RouterMiddleware {
    typealias Context = BasicRequestContext
    let stats: FixtureStats

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        let path = request.uri.path
        self.stats.begin(path: path, headers: request.headers.map { ($0.name.canonicalName, $0.value) })
        defer { self.stats.end(path: path) }
        return try await next(request, context)
    }
}

/// A failure of the fixture server itself.
public struct FixtureError: Error, Sendable, CustomStringConvertible {
    /// What went wrong.
    public var message: String
    /// Creates an error with a message.
    public init(message: String) { self.message = message }
    public var description: String { self.message }
}
