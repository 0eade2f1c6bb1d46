import GatherCore

/// Hides secret values in text: every occurrence of a secret becomes `***`.
///
/// Validation collects the secrets (``ConfigObject/secrets``):
/// - the values of fields marked ``FieldSpec/secret`` (and everything inside them), including any `${VAR}`
///   expansions they contain;
/// - the values of map keys that look secret (`Authorization`, `X-API-Key`, `access_token`), e.g. in headers;
/// - the expansion of every variable whose name looks secret (`GITHUB_TOKEN`, `DB_PASSWORD`), wherever it
///   was used.
///
/// Every non-empty secret is redacted, however short (a one-character password is still a password; the cost is
/// that short secrets also hide unrelated text). The percent-encoded form of each secret is redacted too, so
/// secrets sent as query parameters are hidden in logged URLs. The longest match wins where secrets overlap.
///
/// ```swift
/// let redactor = Redactor(secrets: ["s3cr3t-token"])
/// redactor.redact("GET /x?key=s3cr3t-token")   // "GET /x?key=***"
/// ```
public struct Redactor: Sendable {
    /// The secrets, unique, longest first.
    public private(set) var secrets: [String]
    private var patterns: [[UInt8]]

    /// A redactor for the given secrets (empty strings are ignored).
    public init(secrets: some Sequence<String>) {
        self.secrets = []
        self.patterns = []
        add(contentsOf: secrets)
    }

    /// A redactor for every secret found while validating `object`.
    public init(_ object: ConfigObject) {
        self.init(secrets: object.secrets)
    }

    /// Adds a secret (and its percent-encoded form); an empty string is ignored.
    public mutating func add(_ secret: String) {
        add(contentsOf: [secret])
    }

    /// Adds secrets (and their percent-encoded forms); empty strings are ignored.
    public mutating func add(contentsOf newSecrets: some Sequence<String>) {
        var all = secrets
        for secret in newSecrets where !secret.isEmpty {
            all.append(secret)
            let encoded = PercentEncoding.component(secret)
            if encoded != secret { all.append(encoded) }
        }
        secrets = Self.normalize(all)
        patterns = secrets.map { Array($0.utf8) }
    }

    /// `text` with every secret replaced by `***`.
    public func redact(_ text: String) -> String {
        guard !patterns.isEmpty else { return text }
        let bytes = Array(text.utf8)
        var output: [UInt8] = []
        var changed = false
        var i = 0
        scan: while i < bytes.count {
            for pattern in patterns where bytes[i] == pattern[0] && i + pattern.count <= bytes.count {
                if bytes[i..<(i + pattern.count)].elementsEqual(pattern) {
                    if !changed {
                        output.reserveCapacity(bytes.count)
                        output.append(contentsOf: bytes[..<i])
                        changed = true
                    }
                    output.append(contentsOf: Self.mask)
                    i += pattern.count
                    continue scan
                }
            }
            if changed { output.append(bytes[i]) }
            i += 1
        }
        return changed ? String(decoding: output, as: UTF8.self) : text
    }

    private static let mask = Array("***".utf8)

    /// Unique, non-empty, longest first (ties in byte order), so results are deterministic.
    static func normalize(_ secrets: some Sequence<String>) -> [String] {
        Set(secrets.filter { !$0.isEmpty }).sorted {
            $0.utf8.count != $1.utf8.count ? $0.utf8.count > $1.utf8.count : $0 < $1
        }
    }

    /// Whether a variable or key name looks like it holds a secret: it has a word such as `token`, `secret`,
    /// `password`, `passwd`, `apikey`, `api`+`key`, `private`+`key`, `access`+`key`, `auth`, `authorization`,
    /// `credential(s)`, `cookie` or `bearer`, and does not end in a word naming something else (`url`, `uri`,
    /// `endpoint`, `type`, `name`, `header`, `param`, `path`, `file`, `dir`, `location`, `expiry`, `expires`,
    /// `ttl`).
    ///
    /// ```swift
    /// Redactor.looksSecret("GITHUB_TOKEN")   // true
    /// Redactor.looksSecret("X-API-Key")      // true
    /// Redactor.looksSecret("max_tokens")     // false
    /// Redactor.looksSecret("TOKEN_URL")      // false
    /// ```
    public static func looksSecret(_ name: String) -> Bool {
        let words = Self.words(name)
        guard let last = words.last, !notSecretEndings.contains(last) else { return false }
        if words.contains(where: secretWords.contains) { return true }
        for (a, b) in zip(words, words.dropFirst()) where b == "key" && (a == "api" || a == "private" || a == "access")
        {
            return true
        }
        return false
    }

    private static let secretWords: Set<String> = [
        "token", "secret", "password", "passwd", "apikey", "auth", "authorization", "credential", "credentials",
        "cookie", "bearer",
    ]
    private static let notSecretEndings: Set<String> = [
        "url", "uri", "endpoint", "type", "name", "header", "param", "path", "file", "dir", "location", "expiry",
        "expires", "ttl",
    ]

    /// Lower-cased words split at non-alphanumerics and at lower→upper case changes (`clientSecret`).
    private static func words(_ name: String) -> [String] {
        var words: [String] = []
        var current = ""
        var previousWasLower = false
        for c in name {
            guard c.isLetter || c.isNumber else {
                if !current.isEmpty { words.append(current) }
                current = ""
                previousWasLower = false
                continue
            }
            if c.isUppercase, previousWasLower, !current.isEmpty {
                words.append(current)
                current = ""
            }
            current += c.lowercased()
            previousWasLower = c.isLowercase
        }
        if !current.isEmpty { words.append(current) }
        return words
    }
}
