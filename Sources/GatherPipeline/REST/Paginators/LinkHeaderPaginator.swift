public import GatherConfig
import GatherCore

/// `paginate: link_header`: follows the `rel="next"` URL of each response's `Link` header (RFC 8288), as GitHub
/// does.
public struct LinkHeaderPaginator: PaginatorKind {
    public static let spec = ComponentSpec(
        name: "link_header", kind: "paginator",
        summary: "Follows the `rel=\"next\"` URL of the response's `Link` header (RFC 8288), as GitHub does.",
        fields: Paginator.stopFields,
        examples: ["paginate: link_header", "paginate: { type: link_header, max_pages: 5 }"])

    public init() {}

    public init(_ settings: ConfigObject, errors: inout [ConfigError]) {}

    public func pages(first: String) -> PagePlan {
        .chained { page in
            page.header("link").flatMap(LinkHeader.next(in:)).map { URLEncoding.resolve($0, against: page.url) }
        }
    }
}

/// Reads RFC 8288 `Link` headers: `<https://api.example.com/items?page=2>; rel="next", <…>; rel="last"`.
public enum LinkHeader {
    /// The target of the first link whose `rel` includes `next`.
    public static func next(in header: String) -> String? {
        self.target(rel: "next", in: header)
    }

    /// The target of the first link whose `rel` (a space-separated list) includes `rel`.
    public static func target(rel wanted: String, in header: String) -> String? {
        var rest = Substring(header)
        while let open = rest.firstIndex(of: "<") {
            guard let close = rest[open...].firstIndex(of: ">") else { return nil }
            let target = String(rest[rest.index(after: open)..<close])
            let afterTarget = rest[rest.index(after: close)...]
            // Parameters run to the next link, which starts with "<" after a comma.
            var end = afterTarget.endIndex
            var inQuotes = false
            var index = afterTarget.startIndex
            while index < afterTarget.endIndex {
                let c = afterTarget[index]
                if c == "\"" { inQuotes.toggle() }
                if c == ",", !inQuotes {
                    end = index
                    break
                }
                index = afterTarget.index(after: index)
            }
            for parameter in afterTarget[..<end].split(separator: ";") {
                let pair = parameter.split(separator: "=", maxSplits: 1)
                guard pair.count == 2, pair[0].trimmingWhitespace().lowercased() == "rel" else { continue }
                var value = pair[1].trimmingWhitespace()
                if value.hasPrefix("\""), value.hasSuffix("\""), value.count >= 2 {
                    value = String(value.dropFirst().dropLast())
                }
                if value.lowercased().split(separator: " ").contains(where: { $0 == wanted }) { return target }
            }
            rest = end < afterTarget.endIndex ? afterTarget[afterTarget.index(after: end)...] : ""
        }
        return nil
    }
}
