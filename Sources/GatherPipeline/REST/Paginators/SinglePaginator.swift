public import GatherConfig

/// `paginate: single`: one request, no pages (the default).
public struct SinglePaginator: PaginatorKind {
    public static let spec = ComponentSpec(
        name: "single", kind: "paginator", summary: "One request, no pages (the default).", fields: [],
        examples: ["paginate: single"])

    public init() {}

    public init(_ settings: ConfigObject, errors: inout [ConfigError]) {}

    public func pages(first: String) -> PagePlan { .single }
}
