import CLibXML2

/// Chooses the character set of an HTML page's bytes (see ``HTMLDocument`` for the order of the rules).
enum Charset {
    static func detect(bytes: [UInt8], contentType: String?) -> String {
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { return "UTF-8" }
        if bytes.starts(with: [0xFF, 0xFE]) { return "UTF-16LE" }
        if bytes.starts(with: [0xFE, 0xFF]) { return "UTF-16BE" }
        if let declared = contentType.flatMap(Self.parameter), Self.isKnown(declared) { return declared }
        if let declared = Self.meta(in: bytes.prefix(1024)), Self.isKnown(declared) { return declared }
        return Self.isValidUTF8(bytes) ? "UTF-8" : "windows-1252"
    }

    /// `charset=…` in a `Content-Type` value.
    static func parameter(_ contentType: String) -> String? {
        let lower = contentType.lowercased()
        guard let range = lower.firstRange(of: "charset=") else { return nil }
        let rest = lower[range.upperBound...]
        let stops: Set<Character> = [";", " ", "\"", "'", ">"]
        var value = rest.prefix { !stops.contains($0) }
        if value.isEmpty, let quote = rest.first, quote == "\"" || quote == "'" {
            value = rest.dropFirst().prefix { $0 != quote }
        }
        return value.isEmpty ? nil : String(value)
    }

    /// The charset a `<meta>` tag in the first bytes declares.
    static func meta(in head: ArraySlice<UInt8>) -> String? {
        let text = String(decoding: head, as: UTF8.self).lowercased()
        var search = text[...]
        while let start = search.firstRange(of: "<meta") {
            let tagEnd = search[start.upperBound...].firstIndex(of: ">") ?? search.endIndex
            let tag = String(search[start.upperBound..<tagEnd])
            if let range = tag.firstRange(of: "charset") {
                var rest = tag[range.upperBound...].drop { $0 == " " }
                if rest.first == "=" {
                    rest = rest.dropFirst().drop { $0 == " " || $0 == "\"" || $0 == "'" }
                    let value = rest.prefix { !" \"';/>".contains($0) }
                    if !value.isEmpty { return String(value) }
                }
            }
            search = search[tagEnd...]
        }
        return nil
    }

    /// Whether libxml2 can decode `name` (an unknown or misspelt declaration is skipped).
    static func isKnown(_ name: String) -> Bool {
        LibXML2.initialize()
        guard let handler = xmlFindCharEncodingHandler(name) else { return false }
        xmlCharEncCloseFunc(handler)
        return true
    }

    static func isValidUTF8(_ bytes: [UInt8]) -> Bool {
        var iterator = bytes.makeIterator()
        var decoder = UTF8()
        while true {
            switch decoder.decode(&iterator) {
            case .scalarValue: continue
            case .emptyInput: return true
            case .error: return false
            }
        }
    }
}
