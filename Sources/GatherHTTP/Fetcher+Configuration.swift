public import GatherCore

extension Fetcher {
    /// Everything the fetcher does by default, as documented `var`s; change a copy.
    ///
    /// ```swift
    /// var configuration = Fetcher.Configuration()
    /// configuration.limits = FlowLimits(maxConcurrency: 8, rate: try Rate(parsing: "20/s"))
    /// configuration.timeouts.request = .seconds(10)
    /// configuration.retry.maxAttempts = 5
    /// ```
    public struct Configuration: Sendable {
        /// The four timeouts of a request.
        public struct Timeouts: Sendable, Hashable {
            /// Establishing a connection (TCP and TLS). Default 10 s.
            public var connect: Duration = .seconds(10)
            /// The longest silence while waiting for response bytes (idle read). Default 30 s.
            public var read: Duration = .seconds(30)
            /// One attempt from start to the last body byte. Default 60 s.
            public var request: Duration = .seconds(60)
            /// Waiting for a permit from the flow controller, per attempt; `nil` waits as long as it takes.
            public var admission: Duration? = nil
            /// The defaults above.
            public init() {}
        }

        /// Which HTTP versions to speak.
        public struct HTTPVersion: Sendable, Hashable, CustomStringConvertible {
            private enum Backing: Sendable, Hashable { case http1Only, automatic }
            private let backing: Backing
            /// HTTP/1.1 only.
            public static let http1Only = HTTPVersion(backing: .http1Only)
            /// HTTP/2 where the server offers it over TLS (ALPN), HTTP/1.1 otherwise. Cleartext h2c is not offered.
            public static let automatic = HTTPVersion(backing: .automatic)
            var isHTTP1Only: Bool { self.backing == .http1Only }
            public var description: String { self.backing == .http1Only ? "http1" : "automatic" }
        }

        /// Credentials sent with every request. Never logged or printed.
        public struct Authorization: Sendable, Hashable {
            let headerValue: String
            /// `Authorization: Bearer TOKEN`.
            public static func bearer(_ token: String) -> Authorization {
                Authorization(headerValue: "Bearer \(token)")
            }
            /// `Authorization: Basic base64(user:password)`.
            public static func basic(user: String, password: String) -> Authorization {
                Authorization(headerValue: "Basic " + Base64.encode(Array("\(user):\(password)".utf8)))
            }
        }

        /// Limits per flow key (the host by default); see ``FlowController``.
        public var limits = FlowLimits()
        /// Limits for particular keys, replacing ``limits`` for them.
        public var limitOverrides: [String: FlowLimits] = [:]
        /// A rate budget shared with other processes (a fleet of workers): each request to a key with a `rate`
        /// takes a token from it after its local admission, and `Retry-After` pauses are passed on to it.
        public var sharedBudget: (any SharedBudget)? = nil
        /// The flow key of a request; the lower-cased host by default.
        public var flowKey: @Sendable (_ host: String, _ url: String) -> String = { host, _ in host }
        /// When and how to retry.
        public var retry = RetryPolicy()
        /// Rules that turn a response into ignore, retry or fail before its status decides; see ``ResponseAction``.
        public var responseActions: [ResponseAction] = []
        /// Timeouts.
        public var timeouts = Timeouts()
        /// Redirects followed before giving up (0 returns 3xx responses as they are). Each hop passes the flow
        /// control of its own host; credentials are not sent to another origin.
        public var maxRedirects = 10
        /// The largest body accepted, after decompression; checked while streaming. Default 64 MiB.
        public var maxBodyBytes = 64 << 20
        /// HTTP versions to speak.
        public var httpVersion = HTTPVersion.automatic
        /// Connections kept per host; `nil` sizes the pool from ``limits`` (or 64 without a cap).
        public var connectionsPerHost: Int? = nil
        /// Headers sent with every request (a request's own header of the same name wins).
        public var headers: [(name: String, value: String)] = [
            ("User-Agent", "gather/0.1"), ("Accept-Encoding", "gzip, deflate"),
        ]
        /// Credentials sent with every request.
        public var authorization: Authorization? = nil
        /// Proxies; read from `HTTPS_PROXY`, `HTTP_PROXY` and `NO_PROXY` by default.
        public var proxy = ProxySettings.fromEnvironment()
        /// Verify TLS certificates and host names. Turning this off makes every https request open to
        /// interception.
        public var verifyTLS = true

        /// The defaults documented on each property.
        public init() {}
    }
}
