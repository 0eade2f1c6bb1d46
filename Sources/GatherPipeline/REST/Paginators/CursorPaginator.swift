public import GatherConfig
import GatherCore
public import GatherFormats

/// `paginate: cursor`: sends back a cursor read from the body (`next`) or from a response header (`header`).
public struct CursorPaginator: PaginatorKind {
    public static let spec = ComponentSpec(
        name: "cursor", kind: "paginator",
        summary: "Sends back a cursor from the body (`next`) or from a response header (`header`). The next "
            + "request goes out as soon as the cursor is read, while the current page is still being processed.",
        fields: [
            FieldSpec("param", .string, default: "cursor", description: "The cursor parameter's name."),
            FieldSpec(
                "next", .jsonPath, description: "Where the next cursor is in the body.", example: "$.meta.next_cursor"),
            FieldSpec(
                "header", .string, description: "The response header holding the next cursor.", example: "X-Next-Cursor"
            ),
        ] + Paginator.stopFields,
        examples: ["paginate: { type: cursor, param: cursor, next: \"$.meta.next_cursor\" }"])

    /// The cursor parameter's name.
    public var param: String
    /// Where the next cursor is in the body.
    public var next: JSONPath?
    /// The response header holding the next cursor (read instead of the body when set).
    public var header: String?

    public init(param: String = "cursor", next: JSONPath? = nil, header: String? = nil) {
        self.param = param
        self.next = next
        self.header = header
    }

    public init(_ settings: ConfigObject, errors: inout [ConfigError]) {
        if !settings.has("next"), !settings.has("header") {
            errors.append(
                settings.error("a cursor paginator needs next: \"$.path.to.cursor\" or header: X-Next-Cursor"))
        }
        self.init(
            param: settings.string(defaulted: "param"), next: settings.jsonPath("next"),
            header: settings.string("header"))
    }

    public func pages(first: String) -> PagePlan {
        let (param, path, header) = (self.param, self.next, self.header)
        return .chained { page in
            var cursor: String?
            if let header {
                cursor = page.header(header)
            } else if let path, let value = path.select(in: page.json).first, !value.isNull {
                cursor = Template.text(value)
            }
            guard let cursor, !cursor.isEmpty else { return nil }
            if page.records == 0 && page.stopOnEmpty { return nil }
            return URLEncoding.setting(param, to: cursor, in: page.url)
        }
    }
}
