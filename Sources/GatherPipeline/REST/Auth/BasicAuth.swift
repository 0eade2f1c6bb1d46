public import GatherConfig
import GatherCore
public import GatherHTTP

/// `auth: basic`: HTTP basic authentication (RFC 7617).
public struct BasicAuth: AuthScheme {
    public static let spec = ComponentSpec(
        name: "basic", kind: "auth", summary: "Sends HTTP basic authentication.",
        fields: [
            FieldSpec("username", .string, required: true, description: "The user name.", synonyms: ["user"]),
            FieldSpec(
                "password", .string, required: true, description: "The password.", example: "${API_PASSWORD}",
                secret: true),
        ],
        examples: ["auth: { type: basic, username: me, password: \"${API_PASSWORD}\" }"])

    public var username: String
    public var password: String

    public init(username: String, password: String) {
        self.username = username
        self.password = password
    }

    public init(_ settings: ConfigObject, errors: inout [ConfigError]) {
        self.init(username: settings.string("username") ?? "", password: settings.string("password") ?? "")
    }

    public func authorize(_ request: inout FetchRequest, fetcher: Fetcher, tokens: TokenCache) async throws(AuthError) {
        let credentials = Base64.encode(Array("\(self.username):\(self.password)".utf8))
        request.headers.append(("Authorization", "Basic " + credentials))
    }
}
