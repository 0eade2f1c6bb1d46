import GatherCore

/// A robots.txt (RFC 9309) as it applies to one crawler: which paths it may fetch, how long to wait between
/// requests, and the sitemaps the file lists.
///
/// The group for the crawler's product token applies (several groups for it are merged); the `*` group only
/// when no group names the crawler. Among the `allow` / `disallow` rules of that group the longest matching
/// pattern wins, `allow` on a tie; no match means allowed. Patterns may use `*` (any sequence) and a final `$`
/// (end of the path and query). Paths and patterns are compared after percent-encoding normalization, so
/// `/%7Efoo` and `/~foo` are the same path while `/a%2Fb` and `/a/b` are not.
public struct RobotsTxt: Sendable, Hashable {
    /// The largest prefix of a robots.txt that is parsed (500 KiB, the RFC's minimum); a line cut at the limit
    /// is dropped.
    static let parseLimit = 500 * 1024

    /// The rules of the group that applies.
    private var rules: [Rule]
    /// `Crawl-delay` of the group that applies (non-standard; the largest, if it says so more than once).
    public private(set) var crawlDelay: Duration?
    /// `Sitemap:` URLs as written, in file order without repeats, from any group or none.
    public private(set) var sitemaps: [String]

    private init(rules: [Rule], crawlDelay: Duration? = nil, sitemaps: [String] = []) {
        self.rules = rules
        self.crawlDelay = crawlDelay
        self.sitemaps = sitemaps
    }

    /// Everything allowed: what a robots.txt answering 4xx (or an empty one) means.
    public static let allowAll = RobotsTxt(rules: [])
    /// Everything disallowed but `/robots.txt` itself: what a 5xx or unreachable robots.txt means
    /// (RFC 9309 §2.3.1.4).
    public static let disallowAll = RobotsTxt(rules: [Rule(allow: false, pattern: Array("/".utf8))])

    /// Parses `text` (its first 500 KiB) for the crawler whose product token is `userAgent` (`gather`; from a
    /// full User-Agent such as `Gather/1.0 (+https://…)` only the leading token counts). Tokens compare
    /// case-insensitively and exactly: a `gather-bot` group does not apply to `gather`. Keys are
    /// case-insensitive and a few common misspellings are accepted (`useragent`, `user agent`, `dissallow`,
    /// `disalow`, `site-map`, …); unknown keys, lines without a colon and rules before the first `user-agent`
    /// line are ignored.
    public init(parsing text: String, userAgent: String) {
        let ourToken = Self.productToken(Array(userAgent.utf8)[...]).map(Self.lowercased)
        var parser = Parser(token: ourToken ?? [])
        for line in Self.lines(of: text) { parser.consume(line) }
        let rules = parser.sawSpecific ? parser.specificRules : parser.globalRules
        let delay = parser.sawSpecific ? parser.specificDelay : parser.globalDelay
        self.init(rules: rules, crawlDelay: delay, sitemaps: parser.sitemaps)
    }

    /// Whether the crawler may fetch `pathAndQuery` (`/shop/item?id=3`; `""` means `/`, a fragment is ignored).
    /// `/robots.txt` is always allowed.
    public func allows(_ pathAndQuery: String) -> Bool {
        if self.rules.isEmpty { return true }
        var raw = Array(pathAndQuery.utf8)
        if let hash = raw.firstIndex(of: UInt8(ascii: "#")) { raw.removeSubrange(hash...) }
        if raw.first != UInt8(ascii: "/") { raw.insert(UInt8(ascii: "/"), at: 0) }
        let path = Self.normalized(raw[...])
        let pathOnly = path.prefix { $0 != UInt8(ascii: "?") }
        if pathOnly.elementsEqual("/robots.txt".utf8) { return true }
        var best: Rule?
        for rule in self.rules where rule.matches(path) {
            if let current = best, current.length > rule.length || (current.length == rule.length && current.allow) {
                continue
            }
            best = rule
        }
        return best?.allow ?? true
    }
}

// MARK: - Rules

extension RobotsTxt {
    /// One `allow` / `disallow` line: the pattern split at `*`, each piece percent-normalized.
    struct Rule: Sendable, Hashable {
        var allow: Bool
        var pieces: [[UInt8]]
        /// The pattern ended in `$`: the last piece must end the path.
        var anchored: Bool
        /// Octets of the normalized pattern (with its `*` and `$`): the longest matching rule wins.
        var length: Int

        init(allow: Bool, pattern: [UInt8]) {
            var pattern = pattern[...]
            self.anchored = pattern.last == UInt8(ascii: "$")
            if self.anchored { pattern = pattern.dropLast() }
            self.allow = allow
            self.pieces = pattern.split(separator: UInt8(ascii: "*"), omittingEmptySubsequences: false).map {
                RobotsTxt.normalized($0)
            }
            self.length = self.pieces.reduce(self.pieces.count - 1) { $0 + $1.count } + (self.anchored ? 1 : 0)
        }

        /// Whether the pattern matches a prefix of `path` (all of it when anchored). Each `*` takes the
        /// shortest stretch that lets the next piece match, which finds a match whenever there is one.
        func matches(_ path: [UInt8]) -> Bool {
            let first = self.pieces[0]
            guard path.starts(with: first) else { return false }
            if self.pieces.count == 1 { return !self.anchored || path.count == first.count }
            var position = first.count
            for piece in self.pieces.dropFirst().dropLast() {
                guard let found = Self.find(piece, in: path, from: position) else { return false }
                position = found + piece.count
            }
            let last = self.pieces[self.pieces.count - 1]
            if self.anchored {
                return path.count - last.count >= position && path.suffix(last.count).elementsEqual(last)
            }
            return Self.find(last, in: path, from: position) != nil
        }

        /// The first index at or after `start` where `needle` occurs in `haystack`.
        private static func find(_ needle: [UInt8], in haystack: [UInt8], from start: Int) -> Int? {
            if needle.isEmpty { return start }
            guard haystack.count - needle.count >= start else { return nil }
            for index in start...(haystack.count - needle.count)
            where haystack[index..<index + needle.count].elementsEqual(needle) {
                return index
            }
            return nil
        }
    }
}

// MARK: - Parsing

extension RobotsTxt {
    /// The group state while reading lines in order.
    private struct Parser {
        let token: [UInt8]
        /// No rule since the last `user-agent` line, so another one joins the same group.
        var readingAgents = false
        /// The current group names our token / `*`.
        var inSpecific = false
        var inGlobal = false
        /// Some group names our token, so the `*` groups do not apply (even if that group is empty).
        var sawSpecific = false
        var specificRules: [Rule] = []
        var globalRules: [Rule] = []
        var specificDelay: Duration?
        var globalDelay: Duration?
        var sitemaps: [String] = []

        init(token: [UInt8]) { self.token = token }

        mutating func consume(_ line: ArraySlice<UInt8>) {
            guard let (key, value) = RobotsTxt.keyAndValue(line) else { return }
            switch key {
            case "user-agent", "useragent", "user agent":
                if !self.readingAgents {
                    self.readingAgents = true
                    self.inSpecific = false
                    self.inGlobal = false
                }
                if value.first == UInt8(ascii: "*"), value.count == 1 || RobotsTxt.isSpace(value[value.startIndex + 1])
                {
                    self.inGlobal = true
                } else if let token = RobotsTxt.productToken(value), !self.token.isEmpty,
                    RobotsTxt.lowercased(token) == self.token
                {
                    self.inSpecific = true
                    self.sawSpecific = true
                }
            case "allow", "disallow", "dissallow", "dissalow", "disalow", "diasllow", "disallaw":
                self.readingAgents = false
                // An empty pattern matches nothing: `Disallow:` allows everything.
                guard !value.isEmpty else { return }
                let rule = Rule(allow: key == "allow", pattern: Array(value))
                if self.inSpecific { self.specificRules.append(rule) }
                if self.inGlobal { self.globalRules.append(rule) }
            case "crawl-delay", "crawldelay", "crawl delay":
                self.readingAgents = false
                guard let seconds = Double(String(decoding: value, as: UTF8.self)), seconds.isFinite, seconds >= 0
                else { return }
                let delay = Duration.seconds(seconds)
                if self.inSpecific { self.specificDelay = max(self.specificDelay ?? delay, delay) }
                if self.inGlobal { self.globalDelay = max(self.globalDelay ?? delay, delay) }
            case "sitemap", "site-map":
                let url = String(decoding: value, as: UTF8.self)
                if !url.isEmpty, !self.sitemaps.contains(url) { self.sitemaps.append(url) }
            default:
                break
            }
        }
    }

    /// The lines of the first 500 KiB of `text` (a line cut at the limit dropped), without a leading BOM, split
    /// at CR, LF or CRLF.
    private static func lines(of text: String) -> [ArraySlice<UInt8>] {
        var bytes = Array(text.utf8.prefix(Self.parseLimit + 1))
        if bytes.count > Self.parseLimit {
            let cutAtBreak = Self.isLineBreak(bytes[Self.parseLimit])
            bytes.removeSubrange(Self.parseLimit...)
            if !cutAtBreak {
                let end = bytes.lastIndex(where: Self.isLineBreak).map { $0 + 1 } ?? 0
                bytes.removeSubrange(end...)
            }
        }
        let body = bytes.starts(with: [0xEF, 0xBB, 0xBF]) ? bytes.dropFirst(3) : bytes[...]
        return body.split(whereSeparator: Self.isLineBreak)
    }

    /// The lowercased key and the value of a `key: value` line, both trimmed, with any `#` comment removed; `nil`
    /// for a line without a colon or with an empty key.
    private static func keyAndValue(_ line: ArraySlice<UInt8>) -> (String, ArraySlice<UInt8>)? {
        let content = line.prefix { $0 != UInt8(ascii: "#") }
        guard let colon = content.firstIndex(of: UInt8(ascii: ":")) else { return nil }
        let key = Self.trimmed(content[..<colon])
        guard !key.isEmpty else { return nil }
        let lowercasedKey = String(decoding: Self.lowercased(key), as: UTF8.self)
        return (lowercasedKey, Self.trimmed(content[(colon + 1)...]))
    }

    /// The product token a `user-agent` value or our User-Agent starts with (letters, `-` and `_`), if any.
    private static func productToken(_ value: ArraySlice<UInt8>) -> ArraySlice<UInt8>? {
        let token = value.drop(while: Self.isSpace).prefix {
            switch $0 {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "-"),
                UInt8(ascii: "_"):
                true
            default: false
            }
        }
        return token.isEmpty ? nil : token
    }

    private static func trimmed(_ bytes: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        var bytes = bytes.drop(while: Self.isSpace)
        while let last = bytes.last, Self.isSpace(last) { bytes = bytes.dropLast() }
        return bytes
    }

    private static func lowercased(_ bytes: ArraySlice<UInt8>) -> [UInt8] {
        bytes.map { (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains($0) ? $0 + 32 : $0 }
    }

    private static func isSpace(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") || byte == 0x0B || byte == 0x0C
    }

    private static func isLineBreak(_ byte: UInt8) -> Bool { byte == 0x0A || byte == 0x0D }
}

// MARK: - Percent-encoding

extension RobotsTxt {
    /// `bytes` in the one form paths and patterns are compared in: `%XX` of an unreserved character decoded,
    /// other `%XX` with uppercase hex, and octets that may not appear in a URI (non-ASCII, controls, space,
    /// `"<>\^`{|}`) percent-encoded.
    static func normalized(_ bytes: ArraySlice<UInt8>) -> [UInt8] {
        let hex = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var index = bytes.startIndex
        while index < bytes.endIndex {
            let byte = bytes[index]
            if byte == UInt8(ascii: "%"), index + 2 < bytes.endIndex, let high = URLEncoding.hexValue(bytes[index + 1]),
                let low = URLEncoding.hexValue(bytes[index + 2])
            {
                let decoded = high << 4 | low
                if Self.isUnreserved(decoded) {
                    out.append(decoded)
                } else {
                    out += [UInt8(ascii: "%"), hex[Int(high)], hex[Int(low)]]
                }
                index += 3
                continue
            }
            if Self.isUnreserved(byte) || Self.isReserved(byte) || byte == UInt8(ascii: "%") {
                out.append(byte)
            } else {
                out += [UInt8(ascii: "%"), hex[Int(byte >> 4)], hex[Int(byte & 0xF)]]
            }
            index += 1
        }
        return out
    }

    /// RFC 3986 unreserved: `A-Z a-z 0-9 - . _ ~`.
    private static func isUnreserved(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
            UInt8(ascii: "~"):
            true
        default: false
        }
    }

    /// RFC 3986 reserved: `:/?#[]@` and `!$&'()*+,;=`.
    private static func isReserved(_ byte: UInt8) -> Bool {
        ":/?#[]@!$&'()*+,;=".utf8.contains(byte)
    }
}
