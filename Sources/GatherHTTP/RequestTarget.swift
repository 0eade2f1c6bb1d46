/// The scheme and host of a URL, read in one pass over its bytes (the HTTP client parses the URL fully later).
struct RequestTarget: Sendable, Hashable {
    var scheme: String
    var host: String
    /// The port, the scheme's default (80 or 443) when the URL names none.
    var port: Int

    /// Whether `other` is the same origin (scheme, host and port, RFC 6454): credentials go only there.
    func sameOrigin(as other: RequestTarget) -> Bool {
        self.scheme == other.scheme && self.host == other.host && self.port == other.port
    }

    /// Reads `scheme://[userinfo@]host[:port]/…`; `nil` unless the scheme is http or https and a host is present.
    init?(url: String) {
        var utf8 = Array(url.utf8)
        // The scheme: up to "://", case-insensitive.
        guard let colon = utf8.firstIndex(of: UInt8(ascii: ":")), colon + 2 < utf8.count,
            utf8[colon + 1] == UInt8(ascii: "/"), utf8[colon + 2] == UInt8(ascii: "/")
        else { return nil }
        for index in 0..<colon where utf8[index] >= UInt8(ascii: "A") && utf8[index] <= UInt8(ascii: "Z") {
            utf8[index] |= 0x20
        }
        let scheme = String(decoding: utf8[0..<colon], as: UTF8.self)
        guard scheme == "http" || scheme == "https" else { return nil }
        // The authority: up to "/", "?" or "#"; the host is what follows any "@" and precedes any ":port".
        var start = colon + 3
        var end = start
        while end < utf8.count, utf8[end] != UInt8(ascii: "/"), utf8[end] != UInt8(ascii: "?"),
            utf8[end] != UInt8(ascii: "#")
        {
            if utf8[end] == UInt8(ascii: "@") { start = end + 1 }
            end += 1
        }
        var hostEnd = end
        if start < end, utf8[start] == UInt8(ascii: "[") {
            guard let close = utf8[start..<end].firstIndex(of: UInt8(ascii: "]")) else { return nil }
            hostEnd = close + 1
        } else if let portColon = utf8[start..<end].lastIndex(of: UInt8(ascii: ":")) {
            hostEnd = portColon
        }
        var port = scheme == "https" ? 443 : 80
        if hostEnd + 1 < end, utf8[hostEnd] == UInt8(ascii: ":") {
            var value = 0
            for byte in utf8[(hostEnd + 1)..<end] {
                guard byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9"), value < 100_000 else { return nil }
                value = value * 10 + Int(byte - UInt8(ascii: "0"))
            }
            port = value
        }
        self.port = port
        guard start < hostEnd else { return nil }
        for index in start..<hostEnd {
            let byte = utf8[index]
            if byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") { return nil }
            if byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") { utf8[index] = byte | 0x20 }
        }
        self.scheme = scheme
        self.host = String(decoding: utf8[start..<hostEnd], as: UTF8.self)
    }
}
