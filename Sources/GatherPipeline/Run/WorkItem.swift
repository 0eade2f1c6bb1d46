public import GatherCore
import GatherFormats

/// One unit of a resource's work: the endpoint for one `for_each` combination or one parent record, with all its
/// pages. Its progress is kept in the state store under `work:RESOURCE` / ``key``.
public struct WorkItem: Sendable, Hashable {
    /// Unique within the resource and stable across runs (`org=apple`, or the parent record's key).
    public var key: String
    /// What `{placeholders}` read: `for_each` variables, or the parent's fields (also as `PARENT.field`).
    public var context: Record
    /// Parent fields copied into every record (`include`).
    public var included: Record

    public init(key: String, context: Record, included: Record = Record()) {
        self.key = key
        self.context = context
        self.included = included
    }

    /// The item as JSON (a coordinator unit's payload).
    public var value: Value {
        .object(Record([("key", .string(self.key)), ("ctx", .object(self.context)), ("inc", .object(self.included))]))
    }

    /// An item written by ``value``; `nil` if `value` is not one.
    public init?(_ value: Value) {
        guard case .object(let item) = value, let key = item["key"]?.stringValue else { return nil }
        self.init(
            key: key, context: item["ctx"]?.objectValue ?? Record(), included: item["inc"]?.objectValue ?? Record())
    }
}

/// The saved progress of a ``WorkItem`` (JSON in `_gather_state`).
struct ItemState: Sendable {
    var context: Record
    var included: Record
    /// The incremental cursor sent with this item's requests (fixed for the item's whole run).
    var since: Value
    /// The next URL of a sequential chain.
    var next: String?
    /// Pages done so far (sequential chains), or the first page's index for parallel ones.
    var page: Int
    /// The number of pages, once known (parallel pages).
    var pageCount: Int?
    /// Records taken so far (for `max_items`).
    var items: Int
    /// The largest incremental cursor value seen so far.
    var maxCursor: Value
    var done: Bool

    init(item: WorkItem, since: Value) {
        self.context = item.context
        self.included = item.included
        self.since = since
        self.next = nil
        self.page = 0
        self.pageCount = nil
        self.items = 0
        self.maxCursor = .null
        self.done = false
    }

    var json: String {
        var r = Record()
        r["ctx"] = .object(self.context)
        r["inc"] = .object(self.included)
        r["since"] = self.since
        r["next"] = self.next.map(Value.string) ?? .null
        r["page"] = .int(Int64(self.page))
        r["pages"] = self.pageCount.map { .int(Int64($0)) } ?? .null
        r["items"] = .int(Int64(self.items))
        r["max"] = self.maxCursor
        r["done"] = .bool(self.done)
        return JSONWriter.string(.object(r))
    }

    init?(json: String) {
        guard let value = try? JSONReader.parse(json), case .object(let r) = value else { return nil }
        self.context = r["ctx"]?.objectValue ?? Record()
        self.included = r["inc"]?.objectValue ?? Record()
        self.since = r["since"] ?? .null
        self.next = r["next"]?.stringValue
        self.page = Int(r["page"]?.intValue ?? 0)
        self.pageCount = r["pages"]?.intValue.map { Int($0) }
        self.items = Int(r["items"]?.intValue ?? 0)
        self.maxCursor = r["max"] ?? .null
        self.done = r["done"]?.boolValue ?? false
    }
}

/// Orders cursor values: numbers numerically, strings (ISO timestamps) by their text, `null` lowest.
func cursorIsGreater(_ a: Value, than b: Value) -> Bool {
    switch (a, b) {
    case (.null, _): return false
    case (_, .null): return true
    case (.string(let x), .string(let y)): return x > y
    default:
        if let x = a.doubleValue, let y = b.doubleValue { return x > y }
        return JSONWriter.string(a) > JSONWriter.string(b)
    }
}
