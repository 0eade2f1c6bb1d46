#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Which proxy, if any, carries a request: `HTTP_PROXY` for http URLs, `HTTPS_PROXY` for https URLs (through
/// CONNECT), and none for hosts matched by `NO_PROXY`.
///
/// `NO_PROXY` is a comma-separated list: `*` matches every host; `example.com` and `.example.com` match that
/// domain and its subdomains; an IP address matches itself. Lower-case variable names are read too.
public struct ProxySettings: Sendable, Hashable {
    /// A proxy server.
    public struct Server: Sendable, Hashable {
        /// Host name or address.
        public var host: String
        /// Port.
        public var port: Int
        /// `user:password` for Basic proxy authentication, if the URL had one. Never printed.
        public var credentials: (user: String, password: String)? {
            get { self.user.map { ($0, self.password ?? "") } }
            set {
                self.user = newValue?.user
                self.password = newValue?.password
            }
        }
        var user: String?
        var password: String?

        /// Parses `http://[user:password@]host[:port]` (the scheme is optional; the port defaults to 80, or 443
        /// for `https://`). Returns `nil` when there is no host.
        public init?(url: String) {
            var rest = Substring(url.trimmingCharacters(in: " \t"))
            var defaultPort = 80
            if let range = rest.firstRange(of: "://") {
                if rest[..<range.lowerBound].lowercased() == "https" { defaultPort = 443 }
                rest = rest[range.upperBound...]
            }
            if let slash = rest.firstIndex(of: "/") { rest = rest[..<slash] }
            if let at = rest.lastIndex(of: "@") {
                let userInfo = rest[..<at].split(separator: ":", maxSplits: 1).map(String.init)
                self.user = userInfo.first
                self.password = userInfo.count > 1 ? userInfo[1] : nil
                rest = rest[rest.index(after: at)...]
            }
            var host = String(rest)
            var port = defaultPort
            if let colon = rest.lastIndex(of: ":"), !rest.hasSuffix("]"), let p = Int(rest[rest.index(after: colon)...])
            {
                host = String(rest[..<colon])
                port = p
            }
            guard !host.isEmpty else { return nil }
            self.host = host
            self.port = port
        }

        public static func == (a: Server, b: Server) -> Bool {
            a.host == b.host && a.port == b.port && a.user == b.user && a.password == b.password
        }
        public func hash(into hasher: inout Hasher) {
            hasher.combine(self.host)
            hasher.combine(self.port)
        }
    }

    /// The proxy for `http://` URLs.
    public var http: Server?
    /// The proxy for `https://` URLs.
    public var https: Server?
    /// Host patterns that bypass the proxies.
    public var noProxy: [String]

    /// No proxies.
    public init(http: Server? = nil, https: Server? = nil, noProxy: [String] = []) {
        self.http = http
        self.https = https
        self.noProxy = noProxy
    }

    /// No proxies at all.
    public static var none: ProxySettings { ProxySettings() }

    /// Reads `HTTP_PROXY`, `HTTPS_PROXY` and `NO_PROXY` (or their lower-case forms) from `environment`.
    public static func fromEnvironment(_ environment: [String: String]? = nil) -> ProxySettings {
        let env = environment ?? Self.processEnvironment()
        func value(_ name: String) -> String? {
            let v = env[name] ?? env[name.lowercased()]
            return (v?.isEmpty ?? true) ? nil : v
        }
        return ProxySettings(
            http: value("HTTP_PROXY").flatMap(Server.init(url:)),
            https: value("HTTPS_PROXY").flatMap(Server.init(url:)),
            noProxy: (value("NO_PROXY") ?? "").split(separator: ",").map {
                String($0).trimmingCharacters(in: " \t").lowercased()
            }
            .filter { !$0.isEmpty }
        )
    }

    /// The proxy for a URL with this scheme and host, or `nil` to connect directly.
    public func server(scheme: String, host: String) -> Server? {
        let server = scheme == "https" ? self.https : self.http
        guard let server else { return nil }
        let host = host.lowercased()
        for pattern in self.noProxy {
            if pattern == "*" { return nil }
            var domain = Substring(pattern)
            if domain.hasPrefix(".") { domain = domain.dropFirst() }
            if let colon = domain.lastIndex(of: ":"), !domain.contains("]") { domain = domain[..<colon] }
            if host == domain || host.hasSuffix("." + domain) { return nil }
        }
        return server
    }

    private static func processEnvironment() -> [String: String] {
        var result: [String: String] = [:]
        for name in ["HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy"] {
            if let value = getenv(name) { result[name] = String(cString: value) }
        }
        return result
    }
}
