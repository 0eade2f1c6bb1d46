public import GatherConfig
import GatherCore
public import GatherFormats

/// `paginate: offset`: sends `offset` and `limit` parameters. With `total`, every page after the first is
/// fetched in parallel; without it, pages are fetched until one is empty.
public struct OffsetPaginator: PaginatorKind {
    public static let spec = ComponentSpec(
        name: "offset", kind: "paginator",
        summary: "Sends `offset` and `limit` parameters. With `total`, every page after the first is fetched in "
            + "parallel (within the host's limits); without it, pages are fetched until one is empty.",
        fields: [
            FieldSpec("limit", .int, default: "100", description: "Records per page.", example: "100"),
            FieldSpec("offset_param", .string, default: "offset", description: "The offset parameter's name."),
            FieldSpec("limit_param", .string, default: "limit", description: "The limit parameter's name."),
            FieldSpec("total", .jsonPath, description: "Where the total number of records is.", example: "$.total"),
        ] + Paginator.stopFields,
        examples: ["paginate: { type: offset, limit: 100, total: \"$.total\" }"])

    /// Records per page.
    public var limit: Int
    public var offsetParam: String
    public var limitParam: String
    /// Where the total number of records is.
    public var total: JSONPath?

    public init(limit: Int, offsetParam: String = "offset", limitParam: String = "limit", total: JSONPath? = nil) {
        self.limit = limit
        self.offsetParam = offsetParam
        self.limitParam = limitParam
        self.total = total
    }

    public init(_ settings: ConfigObject, errors: inout [ConfigError]) {
        let limit = settings.int(defaulted: "limit")
        if limit < 1 { errors.append(settings.error(at: "limit", "limit must be at least 1")) }
        self.init(
            limit: max(1, limit), offsetParam: settings.string(defaulted: "offset_param"),
            limitParam: settings.string(defaulted: "limit_param"), total: settings.jsonPath("total"))
    }

    public func pages(first: String) -> PagePlan {
        let (limit, offsetParam, limitParam) = (self.limit, self.offsetParam, self.limitParam)
        // An offset already in the URL (a parameter the user set) is where the pages start.
        let start = Self.queryInt(offsetParam, in: first) ?? 0
        var count: (@Sendable (Value) -> Int?)?
        if let total = self.total {
            count = { json in
                guard let records = Paginator.number(at: total, in: json) else { return nil }
                return max(0, (records - start + limit - 1) / limit)
            }
        }
        return .numbered(
            url: { page in
                URLEncoding.setting(
                    offsetParam, to: String(start + page * limit),
                    in: URLEncoding.setting(limitParam, to: String(limit), in: first))
            }, count: count, pageSize: limit)
    }

    /// The integer value of the query parameter `name` in `url`.
    static func queryInt(_ name: String, in url: String) -> Int? {
        guard let query = url.split(separator: "?", maxSplits: 1).dropFirst().first else { return nil }
        for pair in query.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1)
            if parts.count == 2, URLEncoding.decode(parts[0]) == name { return Int(URLEncoding.decode(parts[1])) }
        }
        return nil
    }
}
