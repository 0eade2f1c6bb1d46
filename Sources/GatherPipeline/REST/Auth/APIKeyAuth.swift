public import GatherConfig
import GatherCore
public import GatherHTTP

/// `auth: api_key`: a key in a header or a query parameter.
public struct APIKeyAuth: AuthScheme {
    public static let spec = ComponentSpec(
        name: "api_key", kind: "auth", summary: "Sends a key in a header or a query parameter.",
        fields: [
            FieldSpec("name", .string, default: "X-API-Key", description: "The header or parameter name."),
            FieldSpec(
                "value", .string, required: true, description: "The key.", example: "${API_KEY}", secret: true,
                synonyms: ["key"]),
            FieldSpec(
                "location", .enumeration(Location.allCases.map(\.rawValue)), default: "header",
                description: "Where the key goes.", synonyms: ["in"]),
        ],
        examples: ["auth: { type: api_key, name: api_key, value: \"${KEY}\", location: query }"])

    /// Where an API key goes.
    public enum Location: String, Sendable, Hashable, CaseIterable {
        case header, query
    }

    /// The header or parameter name.
    public var name: String
    public var value: String
    public var location: Location

    public init(name: String, value: String, location: Location) {
        self.name = name
        self.value = value
        self.location = location
    }

    public init(_ settings: ConfigObject, errors: inout [ConfigError]) {
        self.init(
            name: settings.string(defaulted: "name"), value: settings.string("value") ?? "",
            location: settings.enumeration(defaulted: "location") ?? .header)
    }

    /// A key in a header is a secret the fetcher must not log, whatever the header's name.
    public var credentialHeaders: Set<String> { self.location == .header ? [self.name.lowercased()] : [] }

    public func authorize(_ request: inout FetchRequest, fetcher: Fetcher, tokens: TokenCache) async throws(AuthError) {
        switch self.location {
        case .header: request.headers.append((self.name, self.value))
        case .query: request.url = URLEncoding.setting(self.name, to: self.value, in: request.url)
        }
    }
}
