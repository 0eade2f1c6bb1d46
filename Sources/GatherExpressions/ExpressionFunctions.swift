import GatherCore

/// The built-in functions of ``Expression``; names are matched case-insensitively.
enum ExpressionFunction: String, Sendable, CaseIterable {
    case lower, upper, trim, ltrim, rtrim, length, substr, replace, contains
    case startsWith = "starts_with"
    case endsWith = "ends_with"
    case split, join, concat, coalesce
    case `if`
    case int, float, string, bool, round, abs, floor, ceil, min, max, now

    /// The canonical name.
    var name: String { rawValue }

    /// Every accepted name (synonyms included), sorted.
    static let allNames: [String] = (allCases.map(\.rawValue) + Array(synonyms.keys)).sorted()

    private static let synonyms: [String: ExpressionFunction] = ["real": .float, "text": .string]

    /// The other names `function` answers to.
    static func synonymNames(of function: ExpressionFunction) -> [String] {
        synonyms.filter { $0.value == function }.map(\.key).sorted()
    }

    private static let byName: [String: ExpressionFunction] = {
        var table = synonyms
        for function in allCases { table[function.rawValue] = function }
        return table
    }()

    /// The function called `name`, ignoring case.
    static func named(_ name: String) -> ExpressionFunction? {
        byName[name.lowercased()]
    }

    /// The closest function name within an edit distance of 2, if any, ranked over every name by edit distance;
    /// among equally distant names, one that holds the typed letters in order (`rnd` → `round`, not `int`) wins.
    static func suggestion(for name: String) -> String? {
        let lowered = Array(name.lowercased())
        var best: (name: String, rank: (Int, Int, Int))?
        for candidate in allNames {
            let letters = Array(candidate)
            let distance = editDistance(lowered, letters)
            guard distance <= 2 else { continue }
            let rank = (distance, isSubsequence(lowered, of: letters) ? 0 : 1, Swift.abs(letters.count - lowered.count))
            if best == nil || rank < best!.rank { best = (candidate, rank) }
        }
        return best?.name
    }

    /// Whether `a`'s characters appear in `b` in order.
    static func isSubsequence(_ a: [Character], of b: [Character]) -> Bool {
        var index = b.startIndex
        for character in a {
            guard let found = b[index...].firstIndex(of: character) else { return false }
            index = found + 1
        }
        return true
    }

    /// Levenshtein distance between two character sequences.
    static func editDistance(_ a: [Character], _ b: [Character]) -> Int {
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previous = Array(0...b.count)
        var row = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            row[0] = i
            for j in 1...b.count {
                let substitution = previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)
                row[j] = Swift.min(substitution, previous[j] + 1, row[j - 1] + 1)
            }
            swap(&previous, &row)
        }
        return previous[b.count]
    }

    /// How many arguments the function takes.
    var arity: ClosedRange<Int> {
        switch self {
        case .lower, .upper, .trim, .ltrim, .rtrim, .length, .int, .float, .string, .bool, .abs, .floor, .ceil:
            return 1...1
        case .substr: return 2...3
        case .replace, .if: return 3...3
        case .contains, .startsWith, .endsWith, .split: return 2...2
        case .join, .round: return 1...2
        case .concat, .coalesce, .min, .max: return 1...Int.max
        case .now: return 0...0
        }
    }

    /// How to call the function, for error messages.
    var usage: String {
        switch self {
        case .lower, .upper, .trim, .ltrim, .rtrim: return "\(name)(text)"
        case .length: return "length(text or list)"
        case .substr: return "substr(text, start) or substr(text, start, length)"
        case .replace: return "replace(text, from, to)"
        case .contains: return "contains(text, part) or contains(list, element)"
        case .startsWith: return "starts_with(text, prefix)"
        case .endsWith: return "ends_with(text, suffix)"
        case .split: return "split(text, separator)"
        case .join: return "join(list) or join(list, separator)"
        case .concat: return "concat(a, b, …)"
        case .coalesce: return "coalesce(a, b, …)"
        case .if: return "if(condition, then, else)"
        case .int, .float, .string, .bool, .abs, .floor, .ceil: return "\(name)(x)"
        case .round: return "round(x) or round(x, digits)"
        case .min, .max: return "\(name)(a, b, …) or \(name)(list)"
        case .now: return "now()"
        }
    }
}

extension ExpressionEvaluator {
    /// Calls a built-in function. `coalesce`, `if` and `concat` evaluate their arguments lazily or
    /// one by one; the others evaluate all of them first. Null arguments give null unless stated.
    func call(_ function: ExpressionFunction, _ arguments: [ExpressionNode], column: Int) throws(ExpressionError)
        -> Value
    {
        switch function {
        case .coalesce:
            for argument in arguments {
                let value = try evaluate(argument)
                if !value.isNull { return value }
            }
            return .null
        case .if:
            let condition = try truth(try evaluate(arguments[0]), of: "if", column: column)
            return try evaluate(condition ? arguments[1] : arguments[2])
        case .concat:
            var result = ""
            for argument in arguments {
                if let text = Self.text(try evaluate(argument)) { result += text }
            }
            return .string(result)
        case .min, .max:
            return try extremum(function, arguments, column: column)
        case .now:
            return .string(context.now)
        default:
            break
        }

        let x = try evaluate(arguments[0])
        switch function {
        case .lower:
            return try mapText(x, function, column) { .string($0.lowercased()) }
        case .upper:
            return try mapText(x, function, column) { .string($0.uppercased()) }
        case .trim:
            return try mapText(x, function, column) {
                .string(String(Self.trim($0[...], leading: true, trailing: true)))
            }
        case .ltrim:
            return try mapText(x, function, column) {
                .string(String(Self.trim($0[...], leading: true, trailing: false)))
            }
        case .rtrim:
            return try mapText(x, function, column) {
                .string(String(Self.trim($0[...], leading: false, trailing: true)))
            }
        case .length:
            switch x {
            case .null: return .null
            case .string(let s): return .int(Int64(s.count))
            case .array(let elements): return .int(Int64(elements.count))
            case .object(let object): return .int(Int64(object.count))
            default: throw argumentError(function, "text or a list", x, column)
            }
        case .substr:
            guard let s = try textArgument(x, function, column),
                let start = try intArgument(try evaluate(arguments[1]), function, "start", column)
            else { return .null }
            var length: Int64?
            if arguments.count == 3 {
                guard let l = try intArgument(try evaluate(arguments[2]), function, "length", column) else {
                    return .null
                }
                length = l
            }
            return .string(Self.substring(s, start: start, length: length))
        case .replace:
            guard let s = try textArgument(x, function, column),
                let from = try textArgument(try evaluate(arguments[1]), function, column),
                let to = try textArgument(try evaluate(arguments[2]), function, column)
            else { return .null }
            return .string(from.isEmpty ? s : s.replacing(from, with: to))
        case .contains:
            let part = try evaluate(arguments[1])
            if case .array(let elements) = x {
                return .bool(elements.contains { Self.looselyEqual($0, part) })
            }
            guard let s = try textArgument(x, function, column), let p = try textArgument(part, function, column)
            else { return .null }
            return .bool(p.isEmpty || s.contains(p))
        case .startsWith, .endsWith:
            guard let s = try textArgument(x, function, column),
                let affix = try textArgument(try evaluate(arguments[1]), function, column)
            else { return .null }
            return .bool(function == .startsWith ? s.hasPrefix(affix) : s.hasSuffix(affix))
        case .split:
            guard let s = try textArgument(x, function, column),
                let separator = try textArgument(try evaluate(arguments[1]), function, column)
            else { return .null }
            if separator.isEmpty { return .array(s.map { .string(String($0)) }) }
            return .array(s.split(separator: separator, omittingEmptySubsequences: false).map { .string(String($0)) })
        case .join:
            guard case .array(let elements) = x else {
                if x.isNull { return .null }
                throw argumentError(function, "a list", x, column)
            }
            var separator = ""
            if arguments.count == 2 {
                guard let s = try textArgument(try evaluate(arguments[1]), function, column) else { return .null }
                separator = s
            }
            return .string(elements.compactMap(Self.text).joined(separator: separator))
        case .int:
            return try toInt(x, column: column)
        case .float:
            return try toFloat(x, column: column)
        case .string:
            return Self.text(x).map(Value.string) ?? .null
        case .bool:
            return try toBool(x, column: column)
        case .round:
            var digits: Int64?
            if arguments.count == 2 {
                guard let d = try intArgument(try evaluate(arguments[1]), function, "digits", column) else {
                    return .null
                }
                digits = d
            }
            return try round(x, digits: digits ?? 0, column: column)
        case .abs:
            switch x {
            case .null: return .null
            case .int(let i):
                guard i != Int64.min else {
                    throw error("integer overflow in abs(): convert with float(x) for numbers this large", at: column)
                }
                return .int(Swift.abs(i))
            case .double(let d): return .double(d.magnitude)
            default: throw argumentError(function, "a number", x, column)
            }
        case .floor, .ceil:
            switch x {
            case .null, .int: return x
            case .double(let d): return .double(d.rounded(function == .floor ? .down : .up))
            default: throw argumentError(function, "a number", x, column)
            }
        case .coalesce, .if, .concat, .min, .max, .now:
            preconditionFailure("handled above")
        }
    }

    // MARK: - Arguments

    private func argumentError(_ function: ExpressionFunction, _ expected: String, _ value: Value, _ column: Int)
        -> ExpressionError
    {
        error(
            "\(function.name)() needs \(expected) but got \(Self.describe(value)): write \(function.usage)", at: column)
    }

    /// The text of a string, number or boolean argument; `nil` for null; an error for lists and objects.
    private func textArgument(_ value: Value, _ function: ExpressionFunction, _ column: Int) throws(ExpressionError)
        -> String?
    {
        switch value {
        case .string(let s): return s
        case .array, .object: throw argumentError(function, "text", value, column)
        default: return Self.text(value)
        }
    }

    private func mapText(
        _ value: Value, _ function: ExpressionFunction, _ column: Int, _ transform: (String) -> Value
    ) throws(ExpressionError) -> Value {
        guard let s = try textArgument(value, function, column) else { return .null }
        return transform(s)
    }

    /// An integral argument (an int, or a double without fraction); `nil` for null.
    private func intArgument(_ value: Value, _ function: ExpressionFunction, _ name: String, _ column: Int)
        throws(ExpressionError) -> Int64?
    {
        switch value {
        case .null: return nil
        case .int(let i): return i
        case .double(let d):
            if let i = Int64(exactly: d) { return i }
        default: break
        }
        throw argumentError(function, "a whole number as \(name)", value, column)
    }

    // MARK: - Text functions

    static func trim(_ s: Substring, leading: Bool, trailing: Bool) -> Substring {
        var result = s
        if leading { result = result.drop(while: \.isWhitespace) }
        if trailing {
            while let last = result.last, last.isWhitespace { result = result.dropLast() }
        }
        return result
    }

    /// Characters `start ..< start + length` (0-based; a negative start counts from the end), clamped.
    static func substring(_ s: String, start: Int64, length: Int64?) -> String {
        let count = Int64(s.count)
        let first = start < 0 ? Swift.max(0, count + start) : Swift.min(start, count)
        let available = count - first
        let taken = length.map { Swift.max(0, Swift.min($0, available)) } ?? available
        let from = s.index(s.startIndex, offsetBy: Int(first))
        let to = s.index(from, offsetBy: Int(taken))
        return String(s[from..<to])
    }

    // MARK: - Conversions

    private func toInt(_ x: Value, column: Int) throws(ExpressionError) -> Value {
        switch x {
        case .null, .int: return x
        case .bool(let b): return .int(b ? 1 : 0)
        case .double(let d):
            if let i = Self.truncate(d) { return .int(i) }
        case .string(let s):
            let trimmed = Self.trim(s[...], leading: true, trailing: true)
            if let i = Int64(trimmed) { return .int(i) }
            if let d = Double(trimmed), let i = Self.truncate(d) { return .int(i) }
        case .array, .object: break
        }
        throw error("int() cannot convert \(Self.describe(x)) to an integer", at: column)
    }

    /// `d` rounded toward zero, or `nil` when it is NaN, infinite or outside the `Int64` range.
    private static func truncate(_ d: Double) -> Int64? {
        guard d >= -9_223_372_036_854_775_808.0 && d < 9_223_372_036_854_775_808.0 else { return nil }
        return Int64(d.rounded(.towardZero))
    }

    private func toFloat(_ x: Value, column: Int) throws(ExpressionError) -> Value {
        switch x {
        case .null, .double: return x
        case .int(let i): return .double(Double(i))
        case .bool(let b): return .double(b ? 1 : 0)
        case .string(let s):
            if let d = Double(Self.trim(s[...], leading: true, trailing: true)), d.isFinite { return .double(d) }
        case .array, .object: break
        }
        throw error("float() cannot convert \(Self.describe(x)) to a number", at: column)
    }

    private func toBool(_ x: Value, column: Int) throws(ExpressionError) -> Value {
        switch x {
        case .null, .bool: return x
        case .int(let i): return .bool(i != 0)
        case .double(let d):
            if !d.isNaN { return .bool(d != 0) }
        case .string(let s):
            switch Self.trim(s[...], leading: true, trailing: true).lowercased() {
            case "true", "1", "yes": return .bool(true)
            case "false", "0", "no": return .bool(false)
            default: break
            }
        case .array, .object: break
        }
        throw error(
            "bool() cannot convert \(Self.describe(x)) to a boolean: it accepts true/false, 1/0 and yes/no",
            at: column)
    }

    // MARK: - Numbers

    /// Rounds half away from zero to `digits` decimals (negative: tens, hundreds, …); ints stay ints.
    private func round(_ x: Value, digits: Int64, column: Int) throws(ExpressionError) -> Value {
        switch x {
        case .null: return .null
        case .int(let i):
            guard digits < 0 else { return x }
            guard digits > -19 else { return .int(0) }
            var scale: Int64 = 1
            for _ in 0..<(-digits) { scale *= 10 }
            var quotient = i / scale
            let remainder = i % scale
            if remainder.magnitude >= (scale.magnitude + 1) / 2 { quotient += i < 0 ? -1 : 1 }
            let (result, overflow) = quotient.multipliedReportingOverflow(by: scale)
            if overflow { throw error("integer overflow in round()", at: column) }
            return .int(result)
        case .double(let d):
            guard d.isFinite, digits != 0 else { return .double(d.rounded()) }
            guard digits > -23 && digits < 23 else { return .double(digits > 0 ? d : 0 * d) }
            var scale = 1.0
            for _ in 0..<digits.magnitude { scale *= 10 }
            if digits > 0 {
                let scaled = d * scale
                return .double(scaled.isFinite ? scaled.rounded() / scale : d)
            }
            return .double((d / scale).rounded() * scale)
        default:
            throw argumentError(.round, "a number", x, column)
        }
    }

    private func extremum(_ function: ExpressionFunction, _ arguments: [ExpressionNode], column: Int)
        throws(ExpressionError) -> Value
    {
        var values: [Value] = []
        values.reserveCapacity(arguments.count)
        for argument in arguments { values.append(try evaluate(argument)) }
        if values.count == 1, case .array(let elements) = values[0] { values = elements }
        var best: Value = .null
        for value in values where !value.isNull {
            if best.isNull {
                best = value
                continue
            }
            guard let order = Self.order(value, best) else {
                throw error(
                    "\(function.name)() cannot compare \(Self.describe(best)) with \(Self.describe(value)): "
                        + "it compares numbers with numbers and text with text",
                    at: column)
            }
            if (function == .min && order < 0) || (function == .max && order > 0) { best = value }
        }
        if case .array = best {
            throw argumentError(function, "numbers or text", best, column)
        }
        return best
    }
}
