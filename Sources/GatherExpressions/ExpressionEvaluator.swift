import GatherCore

/// Evaluates an ``ExpressionNode`` tree against one record (see ``Expression`` for the semantics).
struct ExpressionEvaluator {
    let source: String
    let record: Record
    let context: ExpressionContext

    func error(_ message: String, at column: Int) -> ExpressionError {
        ExpressionError(message: message, column: column, source: source)
    }

    func evaluate(_ node: ExpressionNode) throws(ExpressionError) -> Value {
        switch node {
        case .literal(let value):
            return value
        case .field(let name):
            return record[name] ?? .null
        case .member(let base, let key):
            if case .object(let object) = try evaluate(base) { return object[key] ?? .null }
            return .null
        case .index(let base, let index):
            return Self.subscriptValue(try evaluate(base), try evaluate(index))
        case .list(let elements):
            var values: [Value] = []
            values.reserveCapacity(elements.count)
            for element in elements { values.append(try evaluate(element)) }
            return .array(values)
        case .negate(let operand, let column):
            return try negate(try evaluate(operand), column: column)
        case .not(let operand, let column):
            return .bool(!(try truth(try evaluate(operand), of: "not", column: column)))
        case .and(let lhs, let rhs, let column):
            guard try truth(try evaluate(lhs), of: "and", column: column) else { return .bool(false) }
            return .bool(try truth(try evaluate(rhs), of: "and", column: column))
        case .or(let lhs, let rhs, let column):
            if try truth(try evaluate(lhs), of: "or", column: column) { return .bool(true) }
            return .bool(try truth(try evaluate(rhs), of: "or", column: column))
        case .arithmetic(let op, let lhs, let rhs, let column):
            return try arithmetic(op, try evaluate(lhs), try evaluate(rhs), column: column)
        case .comparison(let op, let lhs, let rhs):
            return .bool(Self.compare(op, try evaluate(lhs), try evaluate(rhs)))
        case .isNull(let operand, let negated):
            return .bool(try evaluate(operand).isNull != negated)
        case .membership(let element, let list, let negated, let column):
            let needle = try evaluate(element)
            switch try evaluate(list) {
            case .array(let values):
                return .bool(values.contains { Self.looselyEqual(needle, $0) } != negated)
            case .null:
                return .bool(negated)
            case let other:
                throw error(
                    "'in' needs a list on its right, like x in [1, 2], but got \(Self.describe(other))", at: column)
            }
        case .call(let function, let arguments, let column):
            return try call(function, arguments, column: column)
        }
    }

    // MARK: - Paths

    /// `base[index]`: a list element (negative positions count from the end) or an object field.
    static func subscriptValue(_ base: Value, _ index: Value) -> Value {
        switch (base, index) {
        case (.array(let elements), .int(let i)):
            return element(of: elements, at: i)
        case (.array(let elements), .double(let d)):
            guard let i = Int64(exactly: d) else { return .null }
            return element(of: elements, at: i)
        case (.object(let object), .string(let key)):
            return object[key] ?? .null
        default:
            return .null
        }
    }

    private static func element(of elements: [Value], at i: Int64) -> Value {
        let position = i < 0 ? Int64(elements.count) + i : i
        guard position >= 0 && position < Int64(elements.count) else { return .null }
        return elements[Int(position)]
    }

    // MARK: - Booleans

    /// Only `true` is true; `null` and `false` are false; anything else is an error.
    func truth(_ value: Value, of op: String, column: Int) throws(ExpressionError) -> Bool {
        switch value {
        case .bool(let b): return b
        case .null: return false
        default:
            throw error(
                "expected a boolean for '\(op)' but got \(Self.describe(value)): "
                    + "compare it explicitly, e.g. 'x != 0', 'x != \"\"' or 'x is not null'",
                at: column)
        }
    }

    // MARK: - Arithmetic

    func negate(_ value: Value, column: Int) throws(ExpressionError) -> Value {
        switch value {
        case .null: return .null
        case .int(let i):
            let (result, overflow) = Int64(0).subtractingReportingOverflow(i)
            if overflow { throw error("integer overflow in '-': use float(x) for numbers this large", at: column) }
            return .int(result)
        case .double(let d): return .double(-d)
        default:
            throw error(
                "'-' needs a number but got \(Self.describe(value))\(Self.conversionHint(value))", at: column)
        }
    }

    func arithmetic(_ op: ExpressionArithmetic, _ lhs: Value, _ rhs: Value, column: Int) throws(ExpressionError)
        -> Value
    {
        switch (lhs, rhs) {
        case (.int(let a), .int(let b)):
            return try integerArithmetic(op, a, b, column: column)
        case (.int(let a), .double(let b)):
            return try doubleArithmetic(op, Double(a), b, column: column)
        case (.double(let a), .int(let b)):
            return try doubleArithmetic(op, a, Double(b), column: column)
        case (.double(let a), .double(let b)):
            return try doubleArithmetic(op, a, b, column: column)
        case (.null, _), (_, .null):
            return .null
        case (.string, _), (_, .string):
            guard op == .add else { break }
            return .string(Self.text(lhs)! + Self.text(rhs)!)
        case (.array(let a), .array(let b)):
            guard op == .add else { break }
            return .array(a + b)
        default:
            break
        }
        let culprit: Value
        if case .int = lhs {
            culprit = rhs
        } else if case .double = lhs {
            culprit = rhs
        } else {
            culprit = lhs
        }
        let what = op == .add ? "numbers, strings or two lists" : "numbers"
        throw error(
            "'\(op.rawValue)' needs \(what) but got \(Self.describe(lhs)) and \(Self.describe(rhs))"
                + Self.conversionHint(culprit),
            at: column)
    }

    private func integerArithmetic(_ op: ExpressionArithmetic, _ a: Int64, _ b: Int64, column: Int)
        throws(ExpressionError) -> Value
    {
        let result: (partialValue: Int64, overflow: Bool)
        switch op {
        case .add: result = a.addingReportingOverflow(b)
        case .subtract: result = a.subtractingReportingOverflow(b)
        case .multiply: result = a.multipliedReportingOverflow(by: b)
        case .divide:
            guard b != 0 else { throw divisionByZero(op, column: column) }
            if b == -1 {
                result = Int64(0).subtractingReportingOverflow(a)  // Int64.min / -1 overflows
            } else if a % b != 0 {
                return .double(Double(a) / Double(b))
            } else {
                return .int(a / b)
            }
        case .remainder:
            guard b != 0 else { throw divisionByZero(op, column: column) }
            return .int(b == -1 ? 0 : a % b)
        }
        if result.overflow {
            throw error(
                "integer overflow in '\(op.rawValue)': convert an operand with float(x) for numbers this large",
                at: column)
        }
        return .int(result.partialValue)
    }

    private func doubleArithmetic(_ op: ExpressionArithmetic, _ a: Double, _ b: Double, column: Int)
        throws(ExpressionError) -> Value
    {
        switch op {
        case .add: return .double(a + b)
        case .subtract: return .double(a - b)
        case .multiply: return .double(a * b)
        case .divide:
            guard b != 0 else { throw divisionByZero(op, column: column) }
            return .double(a / b)
        case .remainder:
            guard b != 0 else { throw divisionByZero(op, column: column) }
            return .double(a.truncatingRemainder(dividingBy: b))
        }
    }

    private func divisionByZero(_ op: ExpressionArithmetic, column: Int) -> ExpressionError {
        error(
            "\(op == .divide ? "division" : "modulo") by zero: guard it, e.g. if(d != 0, n \(op.rawValue) d, null)",
            at: column)
    }

    // MARK: - Comparisons

    static func compare(_ op: ExpressionComparison, _ lhs: Value, _ rhs: Value) -> Bool {
        switch op {
        case .equal: return looselyEqual(lhs, rhs)
        case .notEqual: return !looselyEqual(lhs, rhs)
        case .less: return order(lhs, rhs) == .some(-1)
        case .lessOrEqual: return order(lhs, rhs).map { $0 <= 0 } ?? false
        case .greater: return order(lhs, rhs) == .some(1)
        case .greaterOrEqual: return order(lhs, rhs).map { $0 >= 0 } ?? false
        }
    }

    /// Equality of `==`: numbers compare numerically across int and double, strings by Unicode
    /// scalars, lists and objects element by element; values of different types are unequal.
    static func looselyEqual(_ lhs: Value, _ rhs: Value) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null): return true
        case (.bool(let a), .bool(let b)): return a == b
        case (.int(let a), .int(let b)): return a == b
        case (.double(let a), .double(let b)): return a == b
        case (.int(let a), .double(let b)): return compareNumbers(a, b) == 0
        case (.double(let a), .int(let b)): return compareNumbers(b, a) == 0
        case (.string(let a), .string(let b)): return a.utf8.elementsEqual(b.utf8)
        case (.array(let a), .array(let b)):
            return a.count == b.count && zip(a, b).allSatisfy { looselyEqual($0, $1) }
        case (.object(let a), .object(let b)):
            return a.count == b.count
                && zip(a, b).allSatisfy { $0.key.utf8.elementsEqual($1.key.utf8) && looselyEqual($0.value, $1.value) }
        default: return false
        }
    }

    /// -1, 0 or 1 for two numbers or two strings; `nil` for anything else (nulls, NaN, mixed types).
    static func order(_ lhs: Value, _ rhs: Value) -> Int? {
        switch (lhs, rhs) {
        case (.int(let a), .int(let b)): return a < b ? -1 : (a > b ? 1 : 0)
        case (.double(let a), .double(let b)):
            if a < b { return -1 }
            if a > b { return 1 }
            return a == b ? 0 : nil
        case (.int(let a), .double(let b)): return compareNumbers(a, b)
        case (.double(let a), .int(let b)): return compareNumbers(b, a).map { -$0 }
        case (.string(let a), .string(let b)):
            // UTF-8 byte order is Unicode scalar order.
            if a.utf8.elementsEqual(b.utf8) { return 0 }
            return a.utf8.lexicographicallyPrecedes(b.utf8) ? -1 : 1
        default: return nil
        }
    }

    /// Exact comparison of an integer and a double (no rounding of large integers); `nil` for NaN.
    static func compareNumbers(_ a: Int64, _ b: Double) -> Int? {
        if b.isNaN { return nil }
        if b >= 9_223_372_036_854_775_808.0 { return -1 }
        if b < -9_223_372_036_854_775_808.0 { return 1 }
        let whole = Int64(b.rounded(.towardZero))
        if a < whole { return -1 }
        if a > whole { return 1 }
        let fraction = b - Double(whole)
        return fraction > 0 ? -1 : (fraction < 0 ? 1 : 0)
    }

    // MARK: - Text

    /// The text of a value for concatenation and string functions; `nil` for null.
    ///
    /// Ints as digits, doubles in the shortest form that reads back the same (`0.1`, `2.0`, `1e+20`),
    /// booleans as `true` / `false`, lists and objects as compact JSON.
    static func text(_ value: Value) -> String? {
        switch value {
        case .null: return nil
        case .string(let s): return s
        case .int(let i): return String(i)
        case .double(let d): return d.description
        case .bool(let b): return b ? "true" : "false"
        case .array, .object: return JSONWriter.string(value)
        }
    }

    /// A value with its type for error messages, e.g. `string "abc"`, shortened when long.
    static func describe(_ value: Value) -> String {
        let kind: String
        switch value {
        case .null: return "null"
        case .bool: kind = "boolean"
        case .int: kind = "int"
        case .double: kind = "float"
        case .string: kind = "string"
        case .array: kind = "list"
        case .object: kind = "object"
        }
        var json = JSONWriter.string(value)
        if json.count > 40 { json = String(json.prefix(37)) + "..." }
        return "\(kind) \(json)"
    }

    /// A hint for values that could be converted to a number.
    static func conversionHint(_ value: Value) -> String {
        switch value {
        case .string: return " (convert text with int(x) or float(x))"
        case .bool: return " (convert booleans with int(x))"
        default: return ""
        }
    }
}
