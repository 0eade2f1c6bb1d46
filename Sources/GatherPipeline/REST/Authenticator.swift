import GatherCore
import GatherFormats
public import GatherHTTP
import Synchronization

/// Applies a resource's ``Auth`` to requests; for OAuth 2 client credentials it fetches, caches and renews the
/// token (on expiry, 30 s early, or when the API answers 401).
public final class Authenticator: Sendable {
    public let auth: Auth?
    private let token: Mutex<CachedToken?>
    private let refreshing: TokenRefresh

    struct CachedToken: Sendable {
        var value: String
        var expires: ContinuousClock.Instant?
    }

    public init(_ auth: Auth?) {
        self.auth = auth
        self.token = Mutex(nil)
        self.refreshing = TokenRefresh()
    }

    /// `true` when a 401 should renew the credentials and try once more.
    public var renewsOnUnauthorized: Bool {
        if case .oauth2ClientCredentials = self.auth { return true }
        return false
    }

    /// Adds the credentials to `request` (fetching an OAuth token first when needed).
    public func authorize(_ request: inout FetchRequest, fetcher: Fetcher) async throws(AuthError) {
        switch self.auth {
        case nil: return
        case .bearer(let token):
            request.headers.append(("Authorization", "Bearer \(token)"))
        case .basic(let username, let password):
            request.headers.append(("Authorization", "Basic " + Base64.encode(Array("\(username):\(password)".utf8))))
        case .apiKey(let name, let value, .header):
            request.headers.append((name, value))
        case .apiKey(let name, let value, .query):
            request.url = URLEncoding.setting(name, to: value, in: request.url)
        case .oauth2ClientCredentials:
            let token = try await self.currentToken(fetcher: fetcher)
            request.headers.append(("Authorization", "Bearer \(token)"))
        }
    }

    /// Forgets the cached token after a 401, unless another request already replaced it.
    public func invalidate(after request: FetchRequest) {
        let used = request.headers.last { $0.name == "Authorization" }?.value
        self.token.withLock { cached in
            if let current = cached, "Bearer \(current.value)" == used { cached = nil }
        }
    }

    private func currentToken(fetcher: Fetcher) async throws(AuthError) -> String {
        let now = ContinuousClock.now
        if let cached = self.token.withLock({ $0 }), cached.expires.map({ now < $0 }) ?? true {
            return cached.value
        }
        // One request fetches the token; the others wait for it.
        let result = await self.refreshing.refresh {
            let fetched = await self.fetchToken(fetcher: fetcher)
            if case .success(let token) = fetched { self.token.withLock { $0 = token } }
            return fetched
        }
        return try result.get().value
    }

    private func fetchToken(fetcher: Fetcher) async -> Result<CachedToken, AuthError> {
        guard
            case .oauth2ClientCredentials(let tokenURL, let clientID, let clientSecret, let scope, let audience) = self
                .auth
        else { return .failure(AuthError(message: "no OAuth 2 configuration")) }
        var form = [
            ("grant_type", "client_credentials"), ("client_id", clientID), ("client_secret", clientSecret),
        ]
        if let scope { form.append(("scope", scope)) }
        if let audience { form.append(("audience", audience)) }
        let body = form.map { URLEncoding.component($0.0) + "=" + URLEncoding.component($0.1) }.joined(separator: "&")
        let request = FetchRequest(
            url: tokenURL, method: "POST",
            headers: [("Content-Type", "application/x-www-form-urlencoded"), ("Accept", "application/json")],
            body: Array(body.utf8))
        let started = ContinuousClock.now
        let result = await fetcher.fetch(request)
        guard let response = result.response, result.error == nil else {
            return .failure(
                AuthError(
                    message: "the OAuth 2 token request to \(tokenURL) failed: "
                        + (result.error?.message ?? "no response") + "; check client_id, client_secret and token_url"))
        }
        let json = try? JSONReader.parse(Array(response.body.readableBytesView))
        guard let token = json?["access_token"]?.stringValue, !token.isEmpty else {
            return .failure(
                AuthError(
                    message: "the OAuth 2 token response from \(tokenURL) has no access_token (HTTP \(response.status))"
                ))
        }
        let lifetime = json?["expires_in"].flatMap { $0.doubleValue ?? $0.stringValue.flatMap(Double.init) }
        let expires = lifetime.map { started + .seconds(max(0, $0 - min(30, $0 / 10))) }
        return .success(CachedToken(value: token, expires: expires))
    }
}

/// Single flight: concurrent callers share one in-flight token request.
actor TokenRefresh {
    private var inFlight: Task<Result<Authenticator.CachedToken, AuthError>, Never>?

    func refresh(
        _ fetch: @escaping @Sendable () async -> Result<Authenticator.CachedToken, AuthError>
    ) async -> Result<Authenticator.CachedToken, AuthError> {
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
}
