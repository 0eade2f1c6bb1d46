public import GatherCore

/// Text with `{name}` and `{parent.field}` placeholders, filled from a context record per request.
///
/// `{org}` reads a `for_each` variable; `{repos.full_name}` reads field `full_name` of the parent resource
/// `repos`'s record (dotted paths go deeper); `{{` and `}}` write literal braces. A placeholder that names nothing
/// is an error, so a typo does not silently fetch the wrong URL.
public struct Template: Sendable, Hashable {
    enum Part: Sendable, Hashable {
        case text(String)
        case field([String])
    }

    let parts: [Part]
    /// The template as written.
    public let source: String

    /// Parses `source`.
    public init(_ source: String) throws(ConfigurationError) {
        self.source = source
        var parts: [Part] = []
        var text = ""
        var index = source.startIndex
        while index < source.endIndex {
            let c = source[index]
            let next = source.index(after: index)
            if c == "{", next < source.endIndex, source[next] == "{" {
                text.append("{")
                index = source.index(after: next)
            } else if c == "}", next < source.endIndex, source[next] == "}" {
                text.append("}")
                index = source.index(after: next)
            } else if c == "{" {
                guard let close = source[next...].firstIndex(of: "}") else {
                    throw ConfigurationError(
                        "'\(source)' has a '{' without a closing '}'; write {{ for a literal brace")
                }
                let name = String(source[next..<close]).trimmingWhitespace()
                guard !name.isEmpty else {
                    throw ConfigurationError("'\(source)' has an empty placeholder {}; name a variable, like {id}")
                }
                if !text.isEmpty { parts.append(.text(text)) }
                text = ""
                parts.append(.field(name.split(separator: ".").map(String.init)))
                index = source.index(after: close)
            } else {
                text.append(c)
                index = next
            }
        }
        if !text.isEmpty { parts.append(.text(text)) }
        self.parts = parts
    }

    /// `true` when the template has placeholders.
    public var hasPlaceholders: Bool {
        self.parts.contains { if case .field = $0 { true } else { false } }
    }

    /// The placeholder names, as written (`org`, `repos.full_name`).
    public var placeholders: [String] {
        self.parts.compactMap { if case .field(let path) = $0 { path.joined(separator: ".") } else { nil } }
    }

    /// Fills the placeholders from `context`; `escape` is applied to each filled-in value (for URL paths).
    public func render(_ context: Record, escape: (String) -> String = { $0 }) throws(ConfigurationError) -> String {
        var out = ""
        for part in self.parts {
            switch part {
            case .text(let text): out += text
            case .field(let path):
                guard let value = Self.lookup(path, in: context), !value.isNull else {
                    throw ConfigurationError(
                        "'\(self.source)': {\(path.joined(separator: "."))} has no value here; the available "
                            + "names are \(context.keys.map { "{\($0)}" }.joined(separator: ", "))")
                }
                out += escape(Self.text(value))
            }
        }
        return out
    }

    /// A value as text in a URL or header: strings as they are, other scalars as JSON.
    public static func text(_ value: Value) -> String {
        if case .string(let s) = value { return s }
        return JSONWriter.string(value)
    }

    /// Follows a dotted path through nested records.
    public static func lookup(_ path: [String], in record: Record) -> Value? {
        guard let first = path.first else { return nil }
        // A context key may itself contain dots (`repos.id` stored flat): try the longest match first.
        for length in stride(from: path.count, through: 1, by: -1) {
            let key = path[0..<length].joined(separator: ".")
            if let value = record[key] {
                if length == path.count { return value }
                guard case .object(let nested) = value else { return nil }
                return Self.lookup(Array(path[length...]), in: nested)
            }
        }
        _ = first
        return nil
    }
}

/// Percent-encoding for URL components (RFC 3986 unreserved characters stay as they are).
public enum URLEncoding {
    /// Encodes everything but `A-Z a-z 0-9 - . _ ~`.
    public static func component(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
                UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                let hex = Array("0123456789ABCDEF".utf8)
                out.unicodeScalars.append("%")
                out.unicodeScalars.append(Unicode.Scalar(hex[Int(byte >> 4)]))
                out.unicodeScalars.append(Unicode.Scalar(hex[Int(byte & 0xF)]))
            }
        }
        return out
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

    private static func hexValue(_ byte: UInt8) -> UInt8? {
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

    /// Resolves `reference` against `base` (absolute URLs, `/path`, `?query` and relative paths).
    public static func resolve(_ reference: String, against base: String) -> String {
        if reference.contains("://") { return reference }
        guard let schemeEnd = base.range(of: "://") else { return reference }
        let afterScheme = base[schemeEnd.upperBound...]
        let hostEnd = afterScheme.firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) ?? afterScheme.endIndex
        let origin = String(base[..<hostEnd])
        if reference.hasPrefix("//") { return String(base[..<schemeEnd.lowerBound]) + ":" + reference }
        if reference.hasPrefix("/") { return origin + reference }
        let pathAndQuery = base[hostEnd...]
        let path = pathAndQuery.prefix { $0 != "?" && $0 != "#" }
        if reference.hasPrefix("?") { return origin + path + reference }
        let directory = path.lastIndex(of: "/").map { String(path[...$0]) } ?? "/"
        return origin + directory + reference
    }
}
