public import GatherConfig
import GatherCore
public import GatherFormats

/// `paginate: json_link`: follows a next-page URL found in each response's body.
public struct JSONLinkPaginator: PaginatorKind {
    public static let spec = ComponentSpec(
        name: "json_link", kind: "paginator",
        summary: "Follows a next-page URL found in the response body.",
        fields: [
            FieldSpec(
                "next", .jsonPath, default: "$.next", description: "Where the next URL is.", example: "$.links.next")
        ] + Paginator.stopFields,
        examples: ["paginate: { type: json_link, next: \"$.paging.next\" }"])

    /// Where the next URL is.
    public var next: JSONPath

    public init(next: JSONPath) {
        self.next = next
    }

    public init(_ settings: ConfigObject, errors: inout [ConfigError]) {
        // The spec's default is a valid JSONPath: every test that loads a json_link paginator reads it.
        self.next = settings.jsonPath(defaulted: "next")!
    }

    public func pages(first: String) -> PagePlan {
        let path = self.next
        return .chained { page in
            guard case .string(let link) = path.select(in: page.json).first, !link.isEmpty else { return nil }
            if page.records == 0 && page.stopOnEmpty { return nil }
            return URLEncoding.resolve(link, against: page.url)
        }
    }
}
