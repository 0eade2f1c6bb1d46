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
        guard let schemeEnd = base.firstRange(of: "://") else { return reference }
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
