import AsyncHTTPClient
import NIOCore
import NIOSSL

/// The fetcher's HTTP clients: one direct, and one per proxy route (`HTTP_PROXY`, `HTTPS_PROXY`), each with
/// its own connection pool sized from the limits.
struct HTTPClients: Sendable {
    private let direct: HTTPClient
    private let viaHTTPProxy: HTTPClient?
    private let viaHTTPSProxy: HTTPClient?
    private let proxy: ProxySettings

    init(configuration: Fetcher.Configuration) {
        self.proxy = configuration.proxy
        self.direct = Self.makeClient(configuration, proxy: nil)
        self.viaHTTPProxy = configuration.proxy.http.map { Self.makeClient(configuration, proxy: $0) }
        self.viaHTTPSProxy = configuration.proxy.https.map { Self.makeClient(configuration, proxy: $0) }
    }

    /// The client for a URL with this scheme and host (through a proxy unless `NO_PROXY` says otherwise).
    func client(scheme: String, host: String) -> HTTPClient {
        guard self.proxy.server(scheme: scheme, host: host) != nil else { return self.direct }
        return (scheme == "https" ? self.viaHTTPSProxy : self.viaHTTPProxy) ?? self.direct
    }

    func shutdown() async {
        for client in [self.direct, self.viaHTTPProxy, self.viaHTTPSProxy].compactMap({ $0 }) {
            try? await client.shutdown()
        }
    }

    private static func makeClient(_ configuration: Fetcher.Configuration, proxy: ProxySettings.Server?) -> HTTPClient {
        var config = HTTPClient.Configuration()
        // No distributed tracing: with no tracer bootstrapped it only costs time per request.
        config.tracing.tracer = nil
        // The fetcher follows redirects itself, so each hop passes its own host's flow control and a hop to
        // another origin sheds credentials.
        config.redirectConfiguration = .disallow
        config.timeout = .init(
            connect: TimeAmount(configuration.timeouts.connect),
            read: TimeAmount(configuration.timeouts.read)
        )
        let perHost = configuration.connectionsPerHost ?? configuration.limits.maxConcurrency ?? 64
        config.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: perHost)
        // Gather retries by its own policy, through admission; the pool must surface connect errors at once.
        config.connectionPool.retryConnectionEstablishment = false
        config.decompression = .enabled(limit: .size(configuration.maxBodyBytes))
        config.httpVersion = configuration.httpVersion.isHTTP1Only ? .http1Only : .automatic
        if !configuration.verifyTLS {
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.certificateVerification = .none
            config.tlsConfiguration = tls
        }
        if let proxy {
            let authorization = proxy.user.map {
                HTTPClient.Authorization.basic(username: $0, password: proxy.password ?? "")
            }
            config.proxy = .server(host: proxy.host, port: proxy.port, authorization: authorization)
        }
        return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: config)
    }
}
