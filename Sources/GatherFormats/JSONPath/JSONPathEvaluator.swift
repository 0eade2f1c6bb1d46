import GatherCore

/// Runs a parsed ``PathQuery`` against a document (RFC 9535 §2.3–§2.4).
///
/// Each segment maps the current nodelist to the next one, so the work is proportional to the
/// number of nodes visited times the size of the filters; descendant segments walk the tree
/// with an explicit stack, never recursion. Objects are read with lookup semantics: when a key
/// repeats, only its last occurrence is a member.
struct JSONPathEvaluator {
    /// One step of a normalized path.
    enum PathElement {
        case name(String)
        case index(Int)
    }

    /// A node: a value and, when paths are tracked, where it is.
    struct Node {
        var value: Value
        var path: [PathElement]
    }

    let root: Value
    let tracksPaths: Bool
    private let regexCache = RegexCache()

    init(root: Value, tracksPaths: Bool) {
        self.root = root
        self.tracksPaths = tracksPaths
    }

    // MARK: - Queries

    func evaluate(_ query: PathQuery, current: Value) -> [Node] {
        var nodes = [Node(value: query.isRelative ? current : root, path: [])]
        for segment in query.segments {
            var next: [Node] = []
            for node in nodes {
                if segment.isDescendant {
                    var stack = [node]
                    while let visited = stack.popLast() {
                        apply(segment.selectors, to: visited, into: &next)
                        let children = self.children(of: visited)
                        stack.append(contentsOf: children.reversed())
                    }
                } else {
                    apply(segment.selectors, to: node, into: &next)
                }
            }
            nodes = next
            if nodes.isEmpty { break }
        }
        return nodes
    }

    private func child(_ node: Node, _ value: Value, _ element: @autoclosure () -> PathElement) -> Node {
        if tracksPaths {
            var path = node.path
            path.append(element())
            return Node(value: value, path: path)
        }
        return Node(value: value, path: [])
    }

    private func children(of node: Node) -> [Node] {
        switch node.value {
        case .array(let elements):
            return elements.enumerated().map { child(node, $0.element, .index($0.offset)) }
        case .object(let record):
            return Self.members(of: record).map { child(node, $0.value, .name($0.key)) }
        default:
            return []
        }
    }

    /// The members of an object under lookup semantics: each key once, at its last occurrence.
    static func members(of record: Record) -> [(key: String, value: Value)] {
        if record.count <= 1 { return Array(record) }
        var seen = Set<String>()
        var reversed: [(key: String, value: Value)] = []
        reversed.reserveCapacity(record.count)
        var i = record.count - 1
        while i >= 0 {
            let field = record[i]
            if seen.insert(field.key).inserted { reversed.append(field) }
            i -= 1
        }
        return reversed.reversed()
    }

    private func apply(_ selectors: [PathSelector], to node: Node, into output: inout [Node]) {
        for selector in selectors {
            switch selector {
            case .name(let name):
                if case .object(let record) = node.value, let value = record[name] {
                    output.append(child(node, value, .name(name)))
                }
            case .wildcard:
                output.append(contentsOf: children(of: node))
            case .index(let index):
                if case .array(let elements) = node.value {
                    let count = Int64(elements.count)
                    let i = index >= 0 ? index : count + index
                    if i >= 0 && i < count {
                        output.append(child(node, elements[Int(i)], .index(Int(i))))
                    }
                }
            case .slice(let start, let end, let step):
                if case .array(let elements) = node.value {
                    for i in Self.sliceIndices(count: elements.count, start: start, end: end, step: step) {
                        output.append(child(node, elements[i], .index(i)))
                    }
                }
            case .filter(let expression):
                switch node.value {
                case .array(let elements):
                    for (i, element) in elements.enumerated() where test(expression, current: element) {
                        output.append(child(node, element, .index(i)))
                    }
                case .object(let record):
                    for member in Self.members(of: record) where test(expression, current: member.value) {
                        output.append(child(node, member.value, .name(member.key)))
                    }
                default:
                    break
                }
            }
        }
    }

    /// The indexes an array slice selects, in order (RFC 9535 §2.3.4.2.2).
    static func sliceIndices(count: Int, start: Int64?, end: Int64?, step: Int64?) -> [Int] {
        let step = step ?? 1
        guard step != 0, count > 0 else { return [] }
        let n = Int64(count)
        func normalize(_ i: Int64) -> Int64 { i >= 0 ? i : n + i }
        var indices: [Int] = []
        if step > 0 {
            let lower = min(max(normalize(start ?? 0), 0), n)
            let upper = min(max(normalize(end ?? n), 0), n)
            var i = lower
            while i < upper {
                indices.append(Int(i))
                i += step
            }
        } else {
            let upper = min(max(normalize(start ?? n - 1), -1), n - 1)
            let lower = min(max(normalize(end ?? -n - 1), -1), n - 1)
            var i = upper
            while lower < i {
                indices.append(Int(i))
                i += step
            }
        }
        return indices
    }

    // MARK: - Filters

    private func test(_ expression: LogicalExpression, current: Value) -> Bool {
        switch expression {
        case .or(let operands):
            return operands.contains { test($0, current: current) }
        case .and(let operands):
            return operands.allSatisfy { test($0, current: current) }
        case .not(let operand):
            return !test(operand, current: current)
        case .exists(let query):
            return !evaluate(query, current: current).isEmpty
        case .function(let call):
            switch call.function.result {
            case .logical: return callLogical(call, current: current)
            case .nodes, .value: return !callNodes(call, current: current).isEmpty
            }
        case .comparison(let lhs, let op, let rhs):
            let l = value(of: lhs, current: current)
            let r = value(of: rhs, current: current)
            switch op {
            case .equal: return Self.equal(l, r)
            case .notEqual: return !Self.equal(l, r)
            case .less: return Self.less(l, r)
            case .lessOrEqual: return Self.less(l, r) || Self.equal(l, r)
            case .greater: return Self.less(r, l)
            case .greaterOrEqual: return Self.less(r, l) || Self.equal(l, r)
            }
        }
    }

    /// The value of a ValueType expression; `nil` is "Nothing".
    private func value(of expression: ComparableExpression, current: Value) -> Value? {
        switch expression {
        case .literal(let value):
            return value
        case .query(let query):
            let nodes = evaluate(query, current: current)
            return nodes.count == 1 ? nodes[0].value : Optional.none
        case .function(let call):
            return callValue(call, current: current)
        }
    }

    private func nodes(of expression: NodesExpression, current: Value) -> [Node] {
        switch expression {
        case .query(let query): return evaluate(query, current: current)
        case .function(let call): return callNodes(call, current: current)
        }
    }

    private func argumentValue(_ argument: FunctionArgument, current: Value) -> Value? {
        if case .value(let expression) = argument { return value(of: expression, current: current) }
        return Optional.none
    }

    private func argumentNodes(_ argument: FunctionArgument, current: Value) -> [Node] {
        if case .nodes(let expression) = argument { return nodes(of: expression, current: current) }
        return []
    }

    private func callValue(_ call: FunctionCall, current: Value) -> Value? {
        switch call.function {
        case .length:
            switch argumentValue(call.arguments[0], current: current) {
            case .string(let s): return .int(Int64(s.unicodeScalars.count))
            case .array(let a): return .int(Int64(a.count))
            case .object(let r): return .int(Int64(Set(r.keys).count))
            default: return Optional.none
            }
        case .count:
            return .int(Int64(argumentNodes(call.arguments[0], current: current).count))
        case .value:
            let nodes = argumentNodes(call.arguments[0], current: current)
            return nodes.count == 1 ? nodes[0].value : Optional.none
        case .match, .search:
            return Optional.none
        }
    }

    private func callLogical(_ call: FunctionCall, current: Value) -> Bool {
        switch call.function {
        case .match, .search:
            guard case .string(let subject)? = argumentValue(call.arguments[0], current: current),
                case .string(let pattern)? = argumentValue(call.arguments[1], current: current),
                let regex = regexCache.regex(for: pattern)
            else { return false }
            if call.function == .match {
                return (try? regex.wholeMatch(in: subject)) != nil
            }
            return (try? regex.firstMatch(in: subject)) != nil
        case .length, .count, .value:
            return callValue(call, current: current) != Optional.none
        }
    }

    private func callNodes(_ call: FunctionCall, current: Value) -> [Node] {
        // None of the built-in functions returns NodesType.
        []
    }

    // MARK: - Comparison (RFC 9535 §2.3.5.2.2)

    static func equal(_ lhs: Value?, _ rhs: Value?) -> Bool {
        switch (lhs, rhs) {
        case (.none, .none): return true
        case (.none, .some), (.some, .none): return false
        case (.some(let l), .some(let r)): return equal(l, r)
        }
    }

    static func equal(_ lhs: Value, _ rhs: Value) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null): return true
        case (.bool(let l), .bool(let r)): return l == r
        case (.string(let l), .string(let r)): return l == r
        case (.int(let l), .int(let r)): return l == r
        case (.int, .double), (.double, .int), (.double, .double):
            return compareNumbers(lhs, rhs) == 0
        case (.array(let l), .array(let r)):
            guard l.count == r.count else { return false }
            return zip(l, r).allSatisfy { equal($0, $1) }
        case (.object(let l), .object(let r)):
            let lm = members(of: l)
            let rm = members(of: r)
            guard lm.count == rm.count else { return false }
            for member in lm {
                guard let other = r[member.key], equal(member.value, other) else { return false }
            }
            return true
        default:
            return false
        }
    }

    static func less(_ lhs: Value?, _ rhs: Value?) -> Bool {
        guard let lhs, let rhs else { return false }
        switch (lhs, rhs) {
        case (.string(let l), .string(let r)):
            return l.unicodeScalars.lexicographicallyPrecedes(r.unicodeScalars)
        case (.int, .int), (.int, .double), (.double, .int), (.double, .double):
            return compareNumbers(lhs, rhs) == -1
        default:
            return false
        }
    }

    /// -1, 0 or 1 for two numbers; `nil` when either is NaN.
    private static func compareNumbers(_ lhs: Value, _ rhs: Value) -> Int? {
        switch (lhs, rhs) {
        case (.int(let l), .int(let r)):
            return l < r ? -1 : (l == r ? 0 : 1)
        case (.int(let l), .double(let r)):
            return compareNumbers(.double(r), .int(l)).map { -$0 }
        case (.double(let l), .int(let r)):
            if l.isNaN { return nil }
            if l == l.rounded(), let exact = Int64(exactly: l) {
                return exact < r ? -1 : (exact == r ? 0 : 1)
            }
            let d = Double(r)
            return l < d ? -1 : (l == d ? 0 : 1)
        case (.double(let l), .double(let r)):
            if l.isNaN || r.isNaN { return nil }
            return l < r ? -1 : (l == r ? 0 : 1)
        default:
            return nil
        }
    }
}

/// Compiled I-Regexp patterns for one evaluation, so a filter over many nodes compiles each
/// pattern once. Lives only for the duration of a single `select`/`paths` call.
final class RegexCache {
    private var compiled: [String: Regex<AnyRegexOutput>?] = [:]

    func regex(for pattern: String) -> Regex<AnyRegexOutput>? {
        if let cached = compiled[pattern] { return cached }
        var regex: Regex<AnyRegexOutput>?
        if let source = IRegexp.translate(pattern) {
            regex = (try? Regex(source))?.matchingSemantics(.unicodeScalar)
        }
        if compiled.count < 256 { compiled[pattern] = regex }
        return regex
    }
}
