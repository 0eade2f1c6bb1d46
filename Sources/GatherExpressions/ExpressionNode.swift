import GatherCore

/// The syntax tree of a parsed ``Expression``.
///
/// Nodes that can fail at evaluation time carry the 1-based column of their operator or function
/// name, so evaluation errors point at the right place.
indirect enum ExpressionNode: Sendable {
    /// A constant: a literal, or a list of literals folded at parse time.
    case literal(Value)
    /// A top-level field of the record (`name`, `` `odd name` ``).
    case field(String)
    /// A field of an object (`base.name`); `null` when `base` is not an object or has no such field.
    case member(ExpressionNode, String)
    /// An element of a list (`base[0]`, negative from the end) or a field of an object (`base['key']`).
    case index(ExpressionNode, ExpressionNode)
    /// A list literal with at least one non-constant element (`[a, b + 1]`).
    case list([ExpressionNode])
    /// Unary minus.
    case negate(ExpressionNode, column: Int)
    /// `not x` / `!x`.
    case not(ExpressionNode, column: Int)
    /// `a and b` / `a && b`, short-circuit.
    case and(ExpressionNode, ExpressionNode, column: Int)
    /// `a or b` / `a || b`, short-circuit.
    case or(ExpressionNode, ExpressionNode, column: Int)
    /// `+ - * / %`.
    case arithmetic(ExpressionArithmetic, ExpressionNode, ExpressionNode, column: Int)
    /// `== != < <= > >=`.
    case comparison(ExpressionComparison, ExpressionNode, ExpressionNode)
    /// `x is null` / `x is not null` (`negated`).
    case isNull(ExpressionNode, negated: Bool)
    /// `x in list` / `x not in list` (`negated`).
    case membership(ExpressionNode, ExpressionNode, negated: Bool, column: Int)
    /// A function call.
    case call(ExpressionFunction, [ExpressionNode], column: Int)
}

/// The arithmetic operators.
enum ExpressionArithmetic: String, Sendable {
    case add = "+"
    case subtract = "-"
    case multiply = "*"
    case divide = "/"
    case remainder = "%"
}

/// The comparison operators (`=` and `<>` parse as `==` and `!=`).
enum ExpressionComparison: String, Sendable {
    case equal = "=="
    case notEqual = "!="
    case less = "<"
    case lessOrEqual = "<="
    case greater = ">"
    case greaterOrEqual = ">="
}

extension ExpressionNode {
    /// Appends the names of the top-level fields this node reads, first occurrence first.
    func collectFields(into names: inout [String]) {
        switch self {
        case .literal:
            break
        case .field(let name):
            if !names.contains(name) { names.append(name) }
        case .member(let base, _):
            base.collectFields(into: &names)
        case .index(let base, let index):
            base.collectFields(into: &names)
            index.collectFields(into: &names)
        case .list(let elements), .call(_, let elements, _):
            for element in elements { element.collectFields(into: &names) }
        case .negate(let operand, _), .not(let operand, _), .isNull(let operand, _):
            operand.collectFields(into: &names)
        case .and(let lhs, let rhs, _), .or(let lhs, let rhs, _), .arithmetic(_, let lhs, let rhs, _),
            .comparison(_, let lhs, let rhs), .membership(let lhs, let rhs, _, _):
            lhs.collectFields(into: &names)
            rhs.collectFields(into: &names)
        }
    }
}
