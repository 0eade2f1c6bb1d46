public import GatherConfig
public import GatherHTTP

/// `auth: bearer`: sends `Authorization: Bearer TOKEN`.
public struct BearerAuth: AuthScheme {
    public static let spec = ComponentSpec(
        name: "bearer", kind: "auth", summary: "Sends `Authorization: Bearer TOKEN`.",
        fields: [
            FieldSpec(
                "token", .string, required: true, description: "The token.", example: "${API_TOKEN}", secret: true)
        ],
        examples: ["auth: { type: bearer, token: \"${GITHUB_TOKEN}\" }"])

    public var token: String

    public init(token: String) {
        self.token = token
    }

    public init(_ settings: ConfigObject, errors: inout [ConfigError]) {
        self.init(token: settings.string("token") ?? "")
    }

    public func authorize(_ request: inout FetchRequest, fetcher: Fetcher, tokens: TokenCache) async throws(AuthError) {
        request.headers.append(("Authorization", "Bearer \(self.token)"))
    }
}
