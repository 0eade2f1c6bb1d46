import GatherCore
public import GatherFormats
public import NIOCore

/// A rule for responses that a status list cannot express, in the spirit of dlt's `response_actions`:
/// "404 means no data", "a 200 whose body says `rate limit exceeded` means retry", "401 means stop".
///
/// A rule matches when every condition it has holds: the status is one of ``statuses``, the body contains
/// ``content``, and ``jsonPath`` selects something in the JSON body. The first matching rule of a request wins;
/// when none matches, the status decides as usual (2xx/3xx succeed, the retry policy's statuses are retried).
///
/// ```swift
/// var configuration = Fetcher.Configuration()
/// configuration.responseActions = [
///     try ResponseAction(parsing: "404=ignore"),
///     try ResponseAction(parsing: "content:rate limit exceeded=retry"),
///     try ResponseAction(parsing: "401,403=fail"),
/// ]
/// ```
public struct ResponseAction: Sendable, Hashable, CustomStringConvertible {
    /// What to do with a matching response.
    public enum Action: String, Sendable, Hashable, CaseIterable {
        /// A success without data: no records and no error (the item counts as ignored).
        case ignore
        /// Try again with the retry policy's backoff and attempt cap, whatever the status.
        case retry
        /// Fail the item and stop the resource (`gather fetch`: stop reading input) with a clear message.
        case fail
    }

    /// The statuses this rule is for; empty means any status.
    public var statuses: Set<Int>
    /// A substring the body must contain.
    public var content: String?
    /// A JSONPath that must select at least one value of the JSON body (`$.error`,
    /// `$[?@.error == 'rate limited']`; a filter at the top tests the body itself too, as people mean it). A body
    /// that is not JSON never matches.
    public var jsonPath: JSONPath?
    /// What to do.
    public var action: Action

    /// Creates a rule.
    public init(statuses: Set<Int> = [], content: String? = nil, jsonPath: JSONPath? = nil, action: Action) {
        self.statuses = statuses
        self.content = content
        self.jsonPath = jsonPath
        self.action = action
    }

    /// Parses the command-line form `CONDITION=ACTION`: `404=ignore`, `401,403=fail`, `500-599=retry`,
    /// `content:rate limit exceeded=retry`, `json:$.error=retry`, or `429+content:slow down=retry` (both).
    ///
    /// - Throws: ``ConfigurationError`` that says what to write.
    public init(parsing argument: String) throws {
        guard let equals = argument.lastIndex(of: "="), equals != argument.startIndex else {
            throw ConfigurationError(
                "--response-action \"\(argument)\": write CONDITION=ACTION, like 404=ignore, "
                    + "'content:rate limit exceeded=retry' or 401,403=fail")
        }
        let actionText = argument[argument.index(after: equals)...].lowercased()
        guard let action = Action(rawValue: actionText) else {
            throw ConfigurationError(
                "--response-action \"\(argument)\": the action \"\(actionText)\" is not one of ignore, retry, fail")
        }
        self.init(action: action)
        var conditions = Substring(argument[..<equals])
        // `STATUSES+content:…` or `STATUSES+json:…`: the status part ends at the first `+` before a keyword.
        if let plus = conditions.firstIndex(of: "+"),
            conditions[conditions.index(after: plus)...].hasPrefix("content:")
                || conditions[conditions.index(after: plus)...].hasPrefix("json:")
        {
            self.statuses = try RetryPolicy.parseStatuses(String(conditions[..<plus]))
            conditions = conditions[conditions.index(after: plus)...]
        }
        if conditions.hasPrefix("content:") {
            self.content = String(conditions.dropFirst("content:".count))
            if self.content?.isEmpty ?? true {
                throw ConfigurationError("--response-action \"\(argument)\": content: needs the text to look for")
            }
        } else if conditions.hasPrefix("json:") {
            do {
                self.jsonPath = try JSONPath(String(conditions.dropFirst("json:".count)))
            } catch {
                throw ConfigurationError("--response-action \"\(argument)\": \(error)")
            }
        } else if self.statuses.isEmpty {
            self.statuses = try RetryPolicy.parseStatuses(String(conditions))
        } else {
            throw ConfigurationError(
                "--response-action \"\(argument)\": after STATUSES+ write content:TEXT or json:PATH")
        }
    }

    /// Whether this rule matches a response.
    public func matches(status: Int, body: ByteBuffer) -> Bool {
        if !self.statuses.isEmpty && !self.statuses.contains(status) { return false }
        if let content = self.content {
            let found = body.withUnsafeReadableBytes { bytes in Self.contains(bytes, Array(content.utf8)) }
            if !found { return false }
        }
        if let path = self.jsonPath {
            guard let value = body.withUnsafeReadableBytes({ bytes in try? JSONReader.parse(bytes) }) else {
                return false
            }
            // A filter at the top (`$[?@.error == 'quota']`) looks at the root's children; people mean the body
            // itself, so the body wrapped in a list is tried too.
            if path.select(in: value).isEmpty && path.select(in: .array([value])).isEmpty { return false }
        }
        return true
    }

    /// The first rule of `rules` that matches.
    public static func first(in rules: [ResponseAction], status: Int, body: ByteBuffer) -> ResponseAction? {
        for rule in rules where rule.matches(status: status, body: body) { return rule }
        return nil
    }

    public var description: String {
        var parts: [String] = []
        if !self.statuses.isEmpty {
            parts.append("status " + self.statuses.sorted().map(String.init).joined(separator: ","))
        }
        if let content = self.content { parts.append("content \"\(content)\"") }
        if let path = self.jsonPath { parts.append("json \(path)") }
        return (parts.isEmpty ? "any response" : parts.joined(separator: " and ")) + " → \(self.action.rawValue)"
    }

    private static func contains(_ haystack: UnsafeRawBufferPointer, _ needle: [UInt8]) -> Bool {
        guard !needle.isEmpty else { return true }
        guard haystack.count >= needle.count else { return false }
        let first = needle[0]
        var index = 0
        let last = haystack.count - needle.count
        while index <= last {
            if haystack[index] == first {
                var matched = 1
                while matched < needle.count && haystack[index + matched] == needle[matched] { matched += 1 }
                if matched == needle.count { return true }
            }
            index += 1
        }
        return false
    }
}
