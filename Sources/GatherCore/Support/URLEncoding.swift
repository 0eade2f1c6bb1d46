/// Percent-encoding for URL components (RFC 3986 unreserved characters stay as they are).
public enum URLEncoding {
    /// Encodes everything but `A-Z a-z 0-9 - . _ ~`.
    public static func component(_ text: String) -> String {
        PercentEncoding.component(text)
    }

    /// Encodes a path placeholder's value: like ``component(_:)`` but keeps `/` (so `{full_name}` = `a/b` works).
    public static func pathValue(_ text: String) -> String {
        text.split(separator: "/", omittingEmptySubsequences: false).map { component(String($0)) }.joined(
            separator: "/")
    }

    /// Decodes `%XX` escapes and `+` (as a space, for form values).
    public static func decode(_ text: Substring) -> String {
        var bytes: [UInt8] = []
        var iterator = Array(text.utf8)[...]
        while let byte = iterator.popFirst() {
            if byte == UInt8(ascii: "%"), iterator.count >= 2,
                let high = hexValue(iterator[iterator.startIndex]),
                let low = hexValue(iterator[iterator.startIndex + 1])
            {
                bytes.append(high << 4 | low)
                iterator = iterator.dropFirst(2)
            } else if byte == UInt8(ascii: "+") {
                bytes.append(UInt8(ascii: " "))
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The value of one hexadecimal digit (`0-9`, `a-f`, `A-F`), or `nil`.
    public static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    /// Sets query parameter `name` to `value` in `url`, replacing an existing one.
    public static func setting(_ name: String, to value: String, in url: String) -> String {
        let (base, fragment) = Self.split(url, at: "#")
        let (path, query) = Self.split(base, at: "?")
        var pairs = query.map { $0.split(separator: "&", omittingEmptySubsequences: true).map(String.init) } ?? []
        pairs.removeAll { decode($0.split(separator: "=", maxSplits: 1).first ?? "") == name }
        pairs.append(component(name) + "=" + component(value))
        return path + "?" + pairs.joined(separator: "&") + (fragment.map { "#" + $0 } ?? "")
    }

    private static func split(_ text: String, at separator: Character) -> (String, String?) {
        guard let index = text.firstIndex(of: separator) else { return (text, nil) }
        return (String(text[..<index]), String(text[text.index(after: index)...]))
    }

    /// Resolves `reference` against `base` as RFC 3986 §5.2 does: absolute URLs (any scheme) as they are,
    /// `//host/…`, `/path`, `?query`, `#fragment` and relative paths, with `.` and `..` segments removed.
    public static func resolve(_ reference: String, against base: String) -> String {
        let r = URLParts(reference)
        if r.scheme != nil { return r.with(path: Self.removeDotSegments(r.path)).text }
        let b = URLParts(base)
        var t = URLParts()
        t.scheme = b.scheme
        if r.authority != nil {
            t.authority = r.authority
            t.path = Self.removeDotSegments(r.path)
            t.query = r.query
        } else {
            t.authority = b.authority
            if r.path.isEmpty {
                t.path = b.path
                t.query = r.query ?? b.query
            } else {
                if r.path.hasPrefix("/") {
                    t.path = Self.removeDotSegments(r.path)
                } else if b.authority != nil && b.path.isEmpty {
                    t.path = Self.removeDotSegments("/" + r.path)
                } else {
                    let directory = b.path.lastIndex(of: "/").map { String(b.path[...$0]) } ?? ""
                    t.path = Self.removeDotSegments(directory + r.path)
                }
                t.query = r.query
            }
        }
        t.fragment = r.fragment
        return t.text
    }

    /// RFC 3986 §5.2.4: removes `.` and `..` segments from a path.
    static func removeDotSegments(_ path: String) -> String {
        guard path.contains(".") else { return path }
        var output: [Substring] = []
        let segments = path.split(separator: "/", omittingEmptySubsequences: false)
        for (index, segment) in segments.enumerated() {
            let last = index == segments.count - 1
            if segment == "." {
                if last { output.append("") }
            } else if segment == ".." {
                if output.count > 1 { output.removeLast() }
                if last { output.append("") }
            } else {
                output.append(segment)
            }
        }
        let joined = output.joined(separator: "/")
        return path.hasPrefix("/") && !joined.hasPrefix("/") ? "/" + joined : joined
    }
}

/// The five parts of a URL reference (RFC 3986 §3): `scheme://authority/path?query#fragment`.
public struct URLParts: Sendable, Hashable {
    public var scheme: String?
    public var authority: String?
    public var path = ""
    public var query: String?
    public var fragment: String?

    public init() {}

    /// Splits `text` (absolute or relative) into its parts.
    public init(_ text: String) {
        var rest = Substring(text)
        if let hash = rest.firstIndex(of: "#") {
            self.fragment = String(rest[rest.index(after: hash)...])
            rest = rest[..<hash]
        }
        if let mark = rest.firstIndex(of: "?") {
            self.query = String(rest[rest.index(after: mark)...])
            rest = rest[..<mark]
        }
        if let colon = rest.firstIndex(of: ":"), let first = rest.first, first.isLetter,
            rest[..<colon].allSatisfy({ $0.isLetter || $0.isNumber || $0 == "+" || $0 == "-" || $0 == "." }),
            !rest[..<colon].contains("/")
        {
            self.scheme = rest[..<colon].lowercased()
            rest = rest[rest.index(after: colon)...]
        }
        if rest.hasPrefix("//") {
            rest = rest.dropFirst(2)
            let end = rest.firstIndex(of: "/") ?? rest.endIndex
            self.authority = String(rest[..<end])
            rest = rest[end...]
        }
        self.path = String(rest)
    }

    /// The parts joined back into a URL.
    public var text: String {
        var out = ""
        if let scheme { out += scheme + ":" }
        if let authority { out += "//" + authority }
        out += self.path
        if let query { out += "?" + query }
        if let fragment { out += "#" + fragment }
        return out
    }

    func with(path: String) -> URLParts {
        var copy = self
        copy.path = path
        return copy
    }

    /// The host, lowercased, without user info or port.
    public var host: String? {
        guard var authority else { return nil }
        if let at = authority.lastIndex(of: "@") { authority = String(authority[authority.index(after: at)...]) }
        if authority.hasPrefix("["), let close = authority.firstIndex(of: "]") {
            return String(authority[...close]).lowercased()
        }
        if let colon = authority.lastIndex(of: ":") { authority = String(authority[..<colon]) }
        return authority.lowercased()
    }
}
