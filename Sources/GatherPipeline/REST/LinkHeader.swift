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
