public import GatherConfig
import GatherCore
public import GatherFormats

/// `paginate: page_number`: sends a page number. With `total_pages` (or `total` and `page_size`), every page
/// after the first is fetched in parallel; without them, pages are fetched until one is empty.
public struct PageNumberPaginator: PaginatorKind {
    public static let spec = ComponentSpec(
        name: "page_number", kind: "paginator",
        summary: "Sends a page number. With `total_pages` (or `total` and `page_size`), every page after the first "
            + "is fetched in parallel; without them, pages are fetched until one is empty.",
        fields: [
            FieldSpec("param", .string, default: "page", description: "The page parameter's name."),
            FieldSpec("start", .int, default: "1", description: "The first page's number."),
            FieldSpec("total_pages", .jsonPath, description: "Where the number of pages is.", example: "$.total_pages"),
            FieldSpec(
                "total", .jsonPath, description: "Where the number of records is (with `page_size`).",
                example: "$.total"),
            FieldSpec(
                "page_size", .int, description: "Records per page, sent as `page_size_param` when that is set.",
                example: "50"),
            FieldSpec("page_size_param", .string, description: "The page-size parameter's name.", example: "per_page"),
        ] + Paginator.stopFields,
        examples: ["paginate: { type: page_number, param: page, start: 1, total_pages: \"$.total_pages\" }"])

    /// The page parameter's name.
    public var param: String
    /// The first page's number.
    public var start: Int
    /// Where the number of pages is.
    public var totalPages: JSONPath?
    /// Where the number of records is (with `pageSize`).
    public var total: JSONPath?
    /// Records per page.
    public var pageSize: Int?
    /// The page-size parameter's name.
    public var pageSizeParam: String?

    public init(
        param: String = "page", start: Int = 1, totalPages: JSONPath? = nil, total: JSONPath? = nil,
        pageSize: Int? = nil, pageSizeParam: String? = nil
    ) {
        self.param = param
        self.start = start
        self.totalPages = totalPages
        self.total = total
        self.pageSize = pageSize
        self.pageSizeParam = pageSizeParam
    }

    public init(_ settings: ConfigObject, errors: inout [ConfigError]) {
        if settings.has("total"), !settings.has("page_size") {
            errors.append(
                settings.error(at: "total", "with total, give page_size too (records per page), or use total_pages"))
        }
        self.init(
            param: settings.string(defaulted: "param"), start: settings.int(defaulted: "start"),
            totalPages: settings.jsonPath("total_pages"), total: settings.jsonPath("total"),
            pageSize: settings.int("page_size"), pageSizeParam: settings.string("page_size_param"))
    }

    public func pages(first: String) -> PagePlan {
        let (param, start, pageSize, pageSizeParam) = (self.param, self.start, self.pageSize, self.pageSizeParam)
        var count: (@Sendable (Value) -> Int?)?
        if let totalPages = self.totalPages {
            count = { json in Paginator.number(at: totalPages, in: json) }
        } else if let total = self.total, let pageSize {
            count = { json in Paginator.number(at: total, in: json).map { ($0 + pageSize - 1) / pageSize } }
        }
        return .numbered(
            url: { page in
                var url = URLEncoding.setting(param, to: String(start + page), in: first)
                if let pageSizeParam, let pageSize {
                    url = URLEncoding.setting(pageSizeParam, to: String(pageSize), in: url)
                }
                return url
            }, count: count, pageSize: pageSize)
    }
}
