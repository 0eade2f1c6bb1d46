public import GatherConfig
import GatherCore
import GatherFormats
public import GatherHTTP

/// `auth: oauth2_client_credentials`: the token is fetched from `token_url` (RFC 6749 §4.4), cached, and fetched
/// again 30 s before it expires or when the API answers 401.
public struct OAuth2ClientCredentials: AuthScheme {
    public static let spec = ComponentSpec(
        name: "oauth2_client_credentials", kind: "auth",
        summary: "OAuth 2 client credentials: the token is fetched from `token_url`, cached, and fetched again "
            + "30 s before it expires or when the API answers 401.",
        fields: [
            FieldSpec(
                "token_url", .string, required: true, description: "The token endpoint.",
                example: "https://auth.example.com/oauth/token"),
            FieldSpec("client_id", .string, required: true, description: "The client id."),
            FieldSpec(
                "client_secret", .string, required: true, description: "The client secret.",
                example: "${CLIENT_SECRET}", secret: true),
            FieldSpec("scope", .string, description: "Scopes to ask for, space-separated."),
            FieldSpec("audience", .string, description: "The audience, for providers that want one."),
        ],
        examples: [
            "auth: { type: oauth2_client_credentials, token_url: https://auth.example.com/token, client_id: me, client_secret: \"${SECRET}\" }"
        ])

    /// The token endpoint.
    public var tokenURL: String
    public var clientID: String
    public var clientSecret: String
    /// Scopes to ask for, space-separated.
    public var scope: String?
    public var audience: String?

    public init(tokenURL: String, clientID: String, clientSecret: String, scope: String? = nil, audience: String? = nil)
    {
        self.tokenURL = tokenURL
        self.clientID = clientID
        self.clientSecret = clientSecret
        self.scope = scope
        self.audience = audience
    }

    public init(_ settings: ConfigObject, errors: inout [ConfigError]) {
        self.init(
            tokenURL: settings.string("token_url") ?? "", clientID: settings.string("client_id") ?? "",
            clientSecret: settings.string("client_secret") ?? "", scope: settings.string("scope"),
            audience: settings.string("audience"))
    }

    public var renewsOnUnauthorized: Bool { true }

    public func authorize(_ request: inout FetchRequest, fetcher: Fetcher, tokens: TokenCache) async throws(AuthError) {
        let token = try await tokens.current { await self.fetchToken(fetcher: fetcher) }
        request.headers.append(("Authorization", "Bearer \(token)"))
    }

    private func fetchToken(fetcher: Fetcher) async -> Result<TokenCache.Token, AuthError> {
        var form = [
            ("grant_type", "client_credentials"), ("client_id", self.clientID), ("client_secret", self.clientSecret),
        ]
        if let scope { form.append(("scope", scope)) }
        if let audience { form.append(("audience", audience)) }
        let body = form.map { URLEncoding.component($0.0) + "=" + URLEncoding.component($0.1) }.joined(separator: "&")
        let request = FetchRequest(
            url: self.tokenURL, method: "POST",
            headers: [("Content-Type", "application/x-www-form-urlencoded"), ("Accept", "application/json")],
            body: Array(body.utf8))
        let started = ContinuousClock.now
        let result = await fetcher.fetch(request)
        guard let response = result.response, result.error == nil else {
            return .failure(
                AuthError(
                    message: "the OAuth 2 token request to \(self.tokenURL) failed: "
                        + (result.error?.message ?? "no response") + "; check client_id, client_secret and token_url"))
        }
        let json = try? JSONReader.parse(Array(response.body.readableBytesView))
        guard let token = json?["access_token"]?.stringValue, !token.isEmpty else {
            return .failure(
                AuthError(
                    message:
                        "the OAuth 2 token response from \(self.tokenURL) has no access_token (HTTP \(response.status))"
                ))
        }
        let lifetime = json?["expires_in"].flatMap { $0.doubleValue ?? $0.stringValue.flatMap(Double.init) }
        let expires = lifetime.map { started + .seconds(max(0, $0 - min(30, $0 / 10))) }
        return .success(TokenCache.Token(value: token, expires: expires))
    }
}
