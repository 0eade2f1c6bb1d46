public import GatherCore
import GatherHTTP

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

    /// The placeholder's path when the template is exactly one placeholder (`{repos.id}`), else `nil`.
    public var soleField: [String]? {
        guard self.parts.count == 1, case .field(let path) = self.parts[0] else { return nil }
        return path
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
