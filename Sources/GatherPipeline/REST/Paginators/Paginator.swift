public import GatherConfig
public import GatherCore
import GatherFormats

/// How a resource pages through an endpoint: a kind (one file each: its spec, how it is read, how it pages) and
/// the stop rules every kind shares.
///
/// A new kind is a type conforming to ``PaginatorKind`` in a file of its own, listed in ``kinds``: the loader,
/// `gather validate`, `gather help` and the generated reference all take it from there.
public struct Paginator: Sendable {
    public var kind: any PaginatorKind
    /// Stop after this many pages.
    public var maxPages: Int?
    /// Stop after this many records.
    public var maxItems: Int?
    /// Stop at the first page with no records (on by default for offset and page-number pagination without a total).
    public var stopOnEmpty: Bool

    public init(kind: any PaginatorKind, maxPages: Int? = nil, maxItems: Int? = nil, stopOnEmpty: Bool = true) {
        self.kind = kind
        self.maxPages = maxPages
        self.maxItems = maxItems
        self.stopOnEmpty = stopOnEmpty
    }

    /// Every kind, in the order the reference lists them.
    public static let kinds: [any PaginatorKind.Type] = [
        LinkHeaderPaginator.self, JSONLinkPaginator.self, OffsetPaginator.self, PageNumberPaginator.self,
        CursorPaginator.self, SinglePaginator.self,
    ]

    /// The stop rules every kind takes.
    static let stopFields: [FieldSpec] = [
        FieldSpec("max_pages", .int, description: "Stop after this many pages.", example: "10"),
        FieldSpec("max_items", .int, description: "Stop after this many records.", example: "1000"),
        FieldSpec(
            "stop_on_empty", .bool, default: "true",
            description: "Stop at the first page without records. Always on for offset and page-number "
                + "pagination without a total."),
    ]

    /// Reads `paginate:` of the kind named `type` (the spec has checked the name and the fields already).
    static func parse(_ type: String, _ settings: ConfigObject, errors: inout [ConfigError]) -> Paginator {
        let kind = Self.kinds.first { $0.spec.name == type }?.init(settings, errors: &errors) ?? SinglePaginator()
        // `single` has no pages, so no stop rules to read.
        guard Swift.type(of: kind).spec.field(named: "max_pages") != nil else { return Paginator(kind: kind) }
        return Paginator(
            kind: kind, maxPages: settings.int("max_pages"), maxItems: settings.int("max_items"),
            stopOnEmpty: settings.bool(defaulted: "stop_on_empty"))
    }
}

/// One kind of pagination: its spec, how it is read from `paginate:`, and how it addresses pages.
public protocol PaginatorKind: Sendable {
    /// The name, fields, defaults and docs (`paginate: { type: NAME, … }`).
    static var spec: ComponentSpec { get }
    /// Reads the kind from its settings, reporting what the spec cannot check to `errors`.
    init(_ settings: ConfigObject, errors: inout [ConfigError])
    /// How the pages after `first` (the endpoint's URL, parameters and cursor applied) are addressed.
    func pages(first: String) -> PagePlan
}

/// How a paginator's pages are addressed.
public enum PagePlan: Sendable {
    /// One request, no pages.
    case single
    /// Numbered pages (0 is `first`). With `count` (the number of pages, read from the first page's body), the
    /// pages after the first go out in parallel; without it, pages are fetched in turn until one is empty.
    /// `pageSize` is the records per page, where known, for `max_items`.
    case numbered(url: @Sendable (Int) -> String, count: (@Sendable (Value) -> Int?)?, pageSize: Int?)
    /// Each page's URL is read from the response before it (nil: that was the last page). The next request goes
    /// out as soon as its URL is known, while the current page is still being processed.
    case chained(next: @Sendable (PageResponse) -> String?)
}

/// What a chained paginator reads the next page's URL from.
public struct PageResponse: Sendable {
    /// The parsed body.
    public var json: Value
    public var headers: [(name: String, value: String)]
    /// The URL this page was fetched from (relative next links resolve against it).
    public var url: String
    /// The records taken from the page.
    public var records: Int
    /// The paginator's `stop_on_empty`.
    public var stopOnEmpty: Bool

    /// The value of the header `name` (case-insensitive), if present.
    public func header(_ name: String) -> String? {
        let wanted = name.lowercased()
        return self.headers.first { $0.name.lowercased() == wanted }?.value
    }
}

extension Paginator {
    /// The whole number at `path` in a page's body (a count or a total), also when it is written as a string.
    static func number(at path: JSONPath, in json: Value) -> Int? {
        guard let value = path.select(in: json).first else { return nil }
        if let i = value.intValue { return Int(i) }
        if let d = value.doubleValue { return Int(d) }
        return value.stringValue.flatMap { Int($0) }
    }
}
