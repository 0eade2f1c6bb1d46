import GatherCore

/// A compiled RFC 9535 JSONPath query.
///
/// Parsing validates the whole expression up front, including the types of filter expressions
/// and function arguments (RFC 9535 §2.4.3), so a `JSONPath` that exists always runs.
///
/// ```swift
/// let doc = try JSONReader.parse(#"{"store": {"book": [{"price": 8}, {"price": 23}]}}"#)
/// let cheap = try JSONPath("$.store.book[?@.price < 10]")
/// cheap.select(in: doc)   // [{"price":8}]
/// cheap.paths(in: doc)    // ["$['store']['book'][0]"]
/// ```
///
/// Supported: `$`, `@`, child and descendant segments (`.name`, `['name']`, `..name`, `..[…]`),
/// name, wildcard, index and slice selectors, filters with comparisons, `&&`, `||`, `!`,
/// parentheses and existence tests, and the functions `length()`, `count()`, `match()`,
/// `search()` and `value()` (I-Regexp, RFC 9485, for the last two but one).
///
/// Objects are read with lookup semantics: when a key repeats in a ``Record``, only its last
/// occurrence is a member. Selection is deterministic: members come in record order.
public struct JSONPath: Sendable, Hashable, CustomStringConvertible {
    /// The expression as written.
    public let expression: String
    private let query: PathQuery

    /// Parses and validates a JSONPath expression.
    ///
    /// - Parameter expression: An RFC 9535 query starting with `$`, without surrounding whitespace.
    /// - Throws: ``JSONPathError`` saying what is wrong, what to write instead, and the offset.
    ///
    /// ```swift
    /// let path = try JSONPath("$..author")
    /// ```
    public init(_ expression: String) throws(JSONPathError) {
        var parser = JSONPathParser(expression)
        self.query = try parser.parseQuery()
        self.expression = expression
    }

    /// The values of the nodes the query selects from `value`, in nodelist order.
    ///
    /// - Parameter value: The document (the root node `$`).
    /// - Returns: The selected values; empty when nothing matches.
    ///
    /// ```swift
    /// try JSONPath("$[1:]").select(in: [1, 2, 3])   // [2, 3]
    /// ```
    public func select(in value: Value) -> [Value] {
        JSONPathEvaluator(root: value, tracksPaths: false).evaluate(query, current: value).map(\.value)
    }

    /// The normalized paths (RFC 9535 §2.7) of the nodes the query selects, in nodelist order.
    ///
    /// - Parameter value: The document (the root node `$`).
    /// - Returns: Paths such as `$['a'][0]`; names use single quotes and escapes.
    ///
    /// ```swift
    /// try JSONPath("$..b").paths(in: ["a": ["b": 1]])   // ["$['a']['b']"]
    /// ```
    public func paths(in value: Value) -> [String] {
        JSONPathEvaluator(root: value, tracksPaths: true).evaluate(query, current: value).map {
            Self.normalizedPath($0.path)
        }
    }

    /// The expression as written.
    public var description: String { expression }

    /// Two paths are equal when their expressions are identical.
    public static func == (lhs: JSONPath, rhs: JSONPath) -> Bool {
        lhs.expression == rhs.expression
    }

    /// Hashes the expression.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(expression)
    }

    static func normalizedPath(_ elements: [JSONPathEvaluator.PathElement]) -> String {
        var out = "$"
        for element in elements {
            switch element {
            case .index(let i):
                out += "[\(i)]"
            case .name(let name):
                out += "['"
                for c in name.unicodeScalars {
                    switch c {
                    case "\u{08}": out += "\\b"
                    case "\u{0C}": out += "\\f"
                    case "\n": out += "\\n"
                    case "\r": out += "\\r"
                    case "\t": out += "\\t"
                    case "'": out += "\\'"
                    case "\\": out += "\\\\"
                    default:
                        if c.value < 0x20 {
                            let hex = String(c.value, radix: 16)
                            out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                        } else {
                            out.unicodeScalars.append(c)
                        }
                    }
                }
                out += "']"
            }
        }
        return out
    }
}
