import GatherCore

/// Which URLs a crawl may visit, and the one canonical form each URL is known by.
public struct CrawlScope: Sendable {
    /// Only the hosts of the start URLs.
    public var sameHost = false
    /// Only these domains (and their subdomains), when not empty.
    public var domains: [String] = []
    /// Only URLs starting with one of these prefixes, when not empty (`http://127.0.0.1:18080/site/`).
    public var prefixes: [String] = []
    /// Only URLs matching one of these patterns, when not empty.
    public var allow: [String] = []
    /// Never URLs matching one of these patterns.
    public var deny: [String] = []
    /// Sort query parameters in the canonical form (`?b=2&a=1` and `?a=1&b=2` are one page).
    public var sortQuery = false

    public init() {}

    /// `url` in canonical form, or `nil` when it is not an http(s) URL: scheme and host lowercased, the default
    /// port and the fragment dropped, dot segments removed, an empty path as `/`, query parameters sorted when
    /// asked.
    public func canonical(_ url: String) -> String? {
        var parts = URLParts(URLEncoding.resolve(url, against: url))  // an absolute URL: dot segments removed
        guard let scheme = parts.scheme, scheme == "http" || scheme == "https", let host = parts.host,
            !host.isEmpty
        else { return nil }
        var authority = host
        if let full = parts.authority, let colon = full.lastIndex(of: ":"), !full.hasSuffix("]") {
            let port = full[full.index(after: colon)...]
            if !port.isEmpty, !(scheme == "http" && port == "80"), !(scheme == "https" && port == "443") {
                authority += ":" + port
            }
        }
        parts.authority = authority
        parts.fragment = nil
        if parts.path.isEmpty { parts.path = "/" }
        if self.sortQuery, let query = parts.query {
            parts.query = query.split(separator: "&").sorted().joined(separator: "&")
        }
        if parts.query == "" { parts.query = nil }
        return parts.text
    }

    /// Whether the canonical `url` is in scope for a crawl that started at `startHosts`.
    public func contains(_ url: String, startHosts: Set<String>) -> Bool {
        self.matcher().contains(url, startHosts: startHosts)
    }

    /// The scope with its patterns compiled, for checking many URLs (a page's links) in a row.
    public func matcher() -> Matcher {
        Matcher(
            scope: self, allow: self.allow.compactMap { try? Regex($0) }, deny: self.deny.compactMap { try? Regex($0) })
    }

    /// A ``CrawlScope`` with compiled patterns (not `Sendable`, as `Regex` is not: make one per task).
    public struct Matcher {
        let scope: CrawlScope
        let allow: [Regex<AnyRegexOutput>]
        let deny: [Regex<AnyRegexOutput>]

        /// Whether the canonical `url` is in scope for a crawl that started at `startHosts`.
        public func contains(_ url: String, startHosts: Set<String>) -> Bool {
            let host = URLParts(url).host ?? ""
            if self.scope.sameHost, !startHosts.contains(host) { return false }
            if !self.scope.domains.isEmpty,
                !self.scope.domains.contains(where: { host == $0.lowercased() || host.hasSuffix("." + $0.lowercased()) }
                )
            {
                return false
            }
            if !self.scope.prefixes.isEmpty, !self.scope.prefixes.contains(where: { url.hasPrefix($0) }) {
                return false
            }
            if !self.allow.isEmpty, !self.allow.contains(where: { (try? $0.firstMatch(in: url)) != nil }) {
                return false
            }
            return !self.deny.contains { (try? $0.firstMatch(in: url)) != nil }
        }
    }
}
