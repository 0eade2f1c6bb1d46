public import GatherConfig
public import GatherHTTP
import Synchronization

/// How a resource authenticates: one scheme per file (its spec, how it is read from `auth:`, how it adds the
/// credentials to a request), listed in ``Authenticator/schemes``.
public protocol AuthScheme: Sendable {
    /// The name, fields and docs (`auth: { type: NAME, … }`).
    static var spec: ComponentSpec { get }
    /// Reads the scheme from its settings (the spec has checked them), reporting other mistakes to `errors`.
    init(_ settings: ConfigObject, errors: inout [ConfigError])
    /// Adds the credentials to `request`. A scheme that fetches a token keeps it in `tokens`, the run's cache.
    func authorize(_ request: inout FetchRequest, fetcher: Fetcher, tokens: TokenCache) async throws(AuthError)
    /// Request headers, besides `Authorization`, that carry a secret (lowercased): never logged or traced.
    var credentialHeaders: Set<String> { get }
    /// `true` when a 401 should drop the cached token and try once more.
    var renewsOnUnauthorized: Bool { get }
}

extension AuthScheme {
    public var credentialHeaders: Set<String> { [] }
    public var renewsOnUnauthorized: Bool { false }
}

/// A resource's authentication during one run: its scheme and the token the scheme fetched, if any.
public final class Authenticator: Sendable {
    /// Every scheme, in the order the reference lists them.
    public static let schemes: [any AuthScheme.Type] = [
        BearerAuth.self, BasicAuth.self, APIKeyAuth.self, OAuth2ClientCredentials.self,
    ]

    /// Reads `auth:` of the scheme named `type` (nil for a name the spec rejected already).
    static func parse(_ type: String, _ settings: ConfigObject, errors: inout [ConfigError]) -> (any AuthScheme)? {
        Self.schemes.first { $0.spec.name == type }?.init(settings, errors: &errors)
    }

    public let scheme: (any AuthScheme)?
    private let tokens = TokenCache()

    public init(_ scheme: (any AuthScheme)?) {
        self.scheme = scheme
    }

    /// `true` when a 401 should renew the credentials and try once more.
    public var renewsOnUnauthorized: Bool { self.scheme?.renewsOnUnauthorized ?? false }

    /// Adds the credentials to `request` (fetching a token first when the scheme needs one).
    public func authorize(_ request: inout FetchRequest, fetcher: Fetcher) async throws(AuthError) {
        guard let scheme else { return }
        request.credentialHeaders.formUnion(scheme.credentialHeaders)
        try await scheme.authorize(&request, fetcher: fetcher, tokens: self.tokens)
    }

    /// Forgets the cached token after a 401, unless another request already replaced it.
    public func invalidate(after request: FetchRequest) {
        self.tokens.invalidate(used: request.headers.last { $0.name == "Authorization" }?.value)
    }
}

/// A bearer token fetched by a scheme, cached until shortly before it expires; concurrent requests share one
/// fetch.
public final class TokenCache: Sendable {
    public struct Token: Sendable {
        public var value: String
        public var expires: ContinuousClock.Instant?

        public init(value: String, expires: ContinuousClock.Instant?) {
            self.value = value
            self.expires = expires
        }
    }

    private let token = Mutex<Token?>(nil)
    private let refreshing = TokenRefresh()

    public init() {}

    /// The cached token while it is valid, else the one `fetch` gets (one fetch at a time; the others wait).
    public func current(
        fetch: @escaping @Sendable () async -> Result<Token, AuthError>
    ) async throws(AuthError) -> String {
        let now = ContinuousClock.now
        if let cached = self.token.withLock({ $0 }), cached.expires.map({ now < $0 }) ?? true {
            return cached.value
        }
        let result = await self.refreshing.refresh {
            let fetched = await fetch()
            if case .success(let token) = fetched { self.token.withLock { $0 = token } }
            return fetched
        }
        return try result.get().value
    }

    /// Forgets the token if `used` (the `Authorization` value a refused request sent) is still the cached one.
    func invalidate(used: String?) {
        self.token.withLock { cached in
            if let current = cached, "Bearer \(current.value)" == used { cached = nil }
        }
    }
}

/// Single flight: concurrent callers share one in-flight token request.
actor TokenRefresh {
    private var inFlight: Task<Result<TokenCache.Token, AuthError>, Never>?

    func refresh(
        _ fetch: @escaping @Sendable () async -> Result<TokenCache.Token, AuthError>
    ) async -> Result<TokenCache.Token, AuthError> {
        if let inFlight { return await inFlight.value }
        let task = Task { await fetch() }
        self.inFlight = task
        let result = await task.value
        self.inFlight = nil
        return result
    }
}

/// Credentials could not be obtained.
public struct AuthError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public var description: String { self.message }

    public init(message: String) {
        self.message = message
    }
}
