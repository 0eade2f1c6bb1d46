import GatherCore

/// The parsed form of a JSONPath expression (RFC 9535), produced by ``JSONPathParser`` and run by
/// ``JSONPathEvaluator``. Every expression in it has already been type-checked (RFC 9535 §2.4.3).

/// A query: `$` or `@` followed by segments.
struct PathQuery: Sendable {
    /// `true` for `@…` (relative to the current node), `false` for `$…`.
    var isRelative: Bool
    /// The segments in order.
    var segments: [PathSegment]

    /// `true` when every segment is a child segment with a single name or index selector
    /// (RFC 9535 §2.3.5.1), so the query yields at most one node.
    var isSingular: Bool {
        segments.allSatisfy { segment in
            guard !segment.isDescendant, segment.selectors.count == 1 else { return false }
            switch segment.selectors[0] {
            case .name, .index: return true
            default: return false
            }
        }
    }
}

/// A child (`[…]`, `.name`) or descendant (`..[…]`, `..name`) segment.
struct PathSegment: Sendable {
    /// `true` for a descendant segment.
    var isDescendant: Bool
    /// The selectors, applied in order.
    var selectors: [PathSelector]
}

/// One selector of a segment.
enum PathSelector: Sendable {
    /// `'name'` or `.name`.
    case name(String)
    /// `*`.
    case wildcard
    /// `3`, `-1`.
    case index(Int64)
    /// `start:end:step`, each part optional.
    case slice(start: Int64?, end: Int64?, step: Int64?)
    /// `?expr`.
    case filter(LogicalExpression)
}

/// An expression of LogicalType.
indirect enum LogicalExpression: Sendable {
    case or([LogicalExpression])
    case and([LogicalExpression])
    case not(LogicalExpression)
    /// An existence test: true when the query selects at least one node.
    case exists(PathQuery)
    /// A function whose result is LogicalType, or NodesType converted to LogicalType.
    case function(FunctionCall)
    case comparison(ComparableExpression, ComparisonOperator, ComparableExpression)
}

/// An expression of ValueType: a literal, a singular query or a ValueType function.
indirect enum ComparableExpression: Sendable {
    case literal(Value)
    case query(PathQuery)
    case function(FunctionCall)
}

/// An expression of NodesType.
indirect enum NodesExpression: Sendable {
    case query(PathQuery)
    case function(FunctionCall)
}

/// `==`, `!=`, `<`, `<=`, `>`, `>=`.
enum ComparisonOperator: Sendable {
    case equal, notEqual, less, lessOrEqual, greater, greaterOrEqual
}

/// A call of a function extension with type-checked arguments.
struct FunctionCall: Sendable {
    var function: JSONPathFunction
    var arguments: [FunctionArgument]
}

/// One argument, already converted to its parameter's declared type.
indirect enum FunctionArgument: Sendable {
    case value(ComparableExpression)
    case logical(LogicalExpression)
    case nodes(NodesExpression)
}

/// The declared types of RFC 9535 §2.4.1.
enum JSONPathType: Sendable {
    case value, logical, nodes

    var name: String {
        switch self {
        case .value: return "ValueType"
        case .logical: return "LogicalType"
        case .nodes: return "NodesType"
        }
    }
}

/// The function extensions of RFC 9535 §2.4.4–§2.4.8.
enum JSONPathFunction: String, Sendable, CaseIterable {
    case length, count, match, search, value

    var parameters: [JSONPathType] {
        switch self {
        case .length: return [.value]
        case .count: return [.nodes]
        case .match, .search: return [.value, .value]
        case .value: return [.nodes]
        }
    }

    var result: JSONPathType {
        switch self {
        case .length, .count, .value: return .value
        case .match, .search: return .logical
        }
    }

    /// The signature for error messages, e.g. `match(string, regex)`.
    var signature: String {
        switch self {
        case .length: return "length(value)"
        case .count: return "count(query)"
        case .match: return "match(string, regex)"
        case .search: return "search(string, regex)"
        case .value: return "value(query)"
        }
    }
}
