import GatherCore

/// A recursive-descent parser for RFC 9535 JSONPath that type-checks filter expressions as it goes.
///
/// Works on Unicode scalars, so error offsets are scalar positions. Nesting of brackets,
/// parentheses and function calls is limited to ``maxDepth`` so that hostile input cannot
/// exhaust the stack.
struct JSONPathParser {
    /// How deeply filters, parentheses, `!` and function calls may nest.
    static let maxDepth = 64
    /// The largest integer allowed in an index, slice or literal: 2^53 − 1 (I-JSON).
    static let maxInteger: Int64 = (1 << 53) - 1

    private let scalars: [Unicode.Scalar]
    private var position = 0
    private var depth = 0

    init(_ expression: String) {
        self.scalars = Array(expression.unicodeScalars)
    }

    /// A parsed operand before it is converted to the type its context requires.
    private enum Operand {
        case literal(Value)
        case query(PathQuery)
        case function(FunctionCall)
        case logical(LogicalExpression)
    }

    // MARK: - Entry

    /// Parses a whole `jsonpath-query`.
    mutating func parseQuery() throws(JSONPathError) -> PathQuery {
        guard let first = peek() else {
            throw fail("the expression is empty; start it with $ (the root), e.g. $.name")
        }
        guard first == "$" else {
            if isBlank(first) {
                throw fail("leading whitespace is not allowed; start the expression with $")
            }
            throw fail("a JSONPath expression starts with $ (the root), e.g. $.name or $['name']")
        }
        position += 1
        let segments = try parseSegments()
        if position < scalars.count {
            if isBlank(scalars[position]) {
                throw fail("trailing whitespace is not allowed; remove it")
            }
            throw fail("unexpected '\(scalars[position])'; a segment starts with . or .. or [")
        }
        return PathQuery(isRelative: false, segments: segments)
    }

    // MARK: - Segments and selectors

    private mutating func parseSegments() throws(JSONPathError) -> [PathSegment] {
        var segments: [PathSegment] = []
        while true {
            let save = position
            skipBlanks()
            guard let c = peek() else {
                position = save
                return segments
            }
            if c == "[" {
                segments.append(PathSegment(isDescendant: false, selectors: try parseBracketed()))
            } else if c == "." {
                position += 1
                if peek() == "." {
                    position += 1
                    guard let next = peek() else {
                        throw fail("'..' must be followed by a name, * or [selectors], e.g. $..name")
                    }
                    if next == "[" {
                        segments.append(PathSegment(isDescendant: true, selectors: try parseBracketed()))
                    } else if next == "*" {
                        position += 1
                        segments.append(PathSegment(isDescendant: true, selectors: [.wildcard]))
                    } else if isNameFirst(next) {
                        segments.append(PathSegment(isDescendant: true, selectors: [.name(parseMemberName())]))
                    } else {
                        throw fail("'..' must be followed by a name, * or [selectors], e.g. $..name")
                    }
                } else {
                    guard let next = peek() else {
                        throw fail("'.' must be followed by a member name or *, e.g. $.name")
                    }
                    if next == "*" {
                        position += 1
                        segments.append(PathSegment(isDescendant: false, selectors: [.wildcard]))
                    } else if isNameFirst(next) {
                        segments.append(PathSegment(isDescendant: false, selectors: [.name(parseMemberName())]))
                    } else if isBlank(next) {
                        throw fail("no whitespace is allowed after '.'; write .name")
                    } else {
                        throw fail(
                            "'\(next)' cannot start a member name after '.'; use a bracketed name instead, e.g. ['\(next)']"
                        )
                    }
                }
            } else {
                position = save
                return segments
            }
        }
    }

    private mutating func parseMemberName() -> String {
        var name = String.UnicodeScalarView()
        while let c = peek(), isNameFirst(c) || isDigit(c) {
            name.append(c)
            position += 1
        }
        return String(name)
    }

    /// Parses `[ selector, … ]`, positioned at `[`.
    private mutating func parseBracketed() throws(JSONPathError) -> [PathSelector] {
        let open = position
        position += 1
        try enter()
        defer { depth -= 1 }
        var selectors: [PathSelector] = []
        skipBlanks()
        if peek() == "]" {
            throw fail("empty brackets; put a selector inside, e.g. [0], ['name'], [*] or [?@.x]")
        }
        while true {
            skipBlanks()
            selectors.append(try parseSelector())
            skipBlanks()
            guard let c = peek() else {
                throw JSONPathError(message: "'[' is never closed; add ']'", offset: open)
            }
            if c == "]" {
                position += 1
                return selectors
            }
            if c == "," {
                position += 1
                continue
            }
            throw fail("expected ',' or ']' after a selector, found '\(c)'")
        }
    }

    private mutating func parseSelector() throws(JSONPathError) -> PathSelector {
        guard let c = peek() else {
            throw fail("expected a selector, e.g. 0, 'name', * or ?@.x, but the expression ended")
        }
        switch c {
        case "'", "\"":
            return .name(try parseStringLiteral())
        case "*":
            position += 1
            return .wildcard
        case "?":
            position += 1
            skipBlanks()
            return .filter(try parseFilterExpression())
        case ":":
            return try parseSlice(start: nil)
        case "-", "0"..."9":
            let start = try parseInteger()
            let save = position
            skipBlanks()
            if peek() == ":" {
                return try parseSlice(start: start)
            }
            position = save
            return .index(start)
        default:
            throw fail(
                "'\(c)' cannot start a selector; use a quoted name ('name'), an index (0), a slice (1:3), * or a filter (?@.x)"
            )
        }
    }

    /// Parses the rest of a slice, positioned at its first `:`.
    private mutating func parseSlice(start: Int64?) throws(JSONPathError) -> PathSelector {
        position += 1  // ':'
        skipBlanks()
        var end: Int64?
        var step: Int64?
        if let c = peek(), c == "-" || isDigit(c) {
            end = try parseInteger()
            skipBlanks()
        }
        if peek() == ":" {
            position += 1
            skipBlanks()
            if let c = peek(), c == "-" || isDigit(c) {
                step = try parseInteger()
            }
        }
        return .slice(start: start, end: end, step: step)
    }

    /// Parses an `int`: `0` or an optional `-` and digits without a leading zero, within ±(2^53 − 1).
    private mutating func parseInteger() throws(JSONPathError) -> Int64 {
        let start = position
        var negative = false
        if peek() == "-" {
            negative = true
            position += 1
        }
        guard let first = peek(), isDigit(first) else {
            throw fail("expected digits after '-', e.g. -1")
        }
        if first == "0" {
            position += 1
            if let next = peek(), isDigit(next) {
                throw JSONPathError(
                    message:
                        "leading zeros are not allowed in an integer: write \(negative ? "-" : "")\(digitsTrimmed(from: start)) instead",
                    offset: start
                )
            }
            if negative {
                throw JSONPathError(message: "-0 is not a valid index; write 0", offset: start)
            }
            return 0
        }
        var magnitude: Int64 = 0
        while let c = peek(), isDigit(c) {
            magnitude = magnitude * 10 + Int64(c.value - 48)
            position += 1
            if magnitude > Self.maxInteger {
                throw JSONPathError(
                    message: "integer out of range; indexes and slice bounds must be within ±\(Self.maxInteger)",
                    offset: start
                )
            }
        }
        return negative ? -magnitude : magnitude
    }

    private func digitsTrimmed(from start: Int) -> String {
        var i = start
        if i < scalars.count, scalars[i] == "-" { i += 1 }
        var digits = String.UnicodeScalarView()
        while i < scalars.count, isDigit(scalars[i]) {
            digits.append(scalars[i])
            i += 1
        }
        let text = String(digits).drop { $0 == "0" }
        return text.isEmpty ? "0" : String(text)
    }

    // MARK: - String literals

    /// Parses a single- or double-quoted string literal, positioned at the opening quote.
    private mutating func parseStringLiteral() throws(JSONPathError) -> String {
        let start = position
        let quote = scalars[position]
        position += 1
        var result = String.UnicodeScalarView()
        while true {
            guard let c = peek() else {
                throw JSONPathError(message: "unterminated string; close it with \(quote)", offset: start)
            }
            if c == quote {
                position += 1
                return String(result)
            }
            if c.value < 0x20 {
                throw fail(
                    "control characters must be escaped in a string literal; write \\n, \\t or \\u\(hex4(c.value))"
                )
            }
            if c != "\\" {
                result.append(c)
                position += 1
                continue
            }
            position += 1
            guard let e = peek() else {
                throw JSONPathError(message: "unterminated string; close it with \(quote)", offset: start)
            }
            position += 1
            switch e {
            case "b": result.append("\u{08}")
            case "f": result.append("\u{0C}")
            case "n": result.append("\n")
            case "r": result.append("\r")
            case "t": result.append("\t")
            case "/": result.append("/")
            case "\\": result.append("\\")
            case "'" where quote == "'": result.append("'")
            case "\"" where quote == "\"": result.append("\"")
            case "u": result.append(try parseUnicodeEscape())
            default:
                throw JSONPathError(
                    message:
                        "invalid escape \\\(e); allowed are \\b \\f \\n \\r \\t \\/ \\\\ \\\(quote) and \\uXXXX",
                    offset: position - 2
                )
            }
        }
    }

    /// Parses the hex digits of `\uXXXX` (and a following low surrogate), positioned after `u`.
    private mutating func parseUnicodeEscape() throws(JSONPathError) -> Unicode.Scalar {
        let start = position - 2
        let high = try parseHex4()
        if (0xDC00...0xDFFF).contains(high) {
            throw JSONPathError(
                message: "lone low surrogate \\u\(hex4(high)); precede it with a high surrogate", offset: start)
        }
        if (0xD800...0xDBFF).contains(high) {
            guard peek() == "\\", position + 1 < scalars.count, scalars[position + 1] == "u" else {
                throw JSONPathError(
                    message: "high surrogate \\u\(hex4(high)) must be followed by a low surrogate \\uDC00–\\uDFFF",
                    offset: start
                )
            }
            position += 2
            let low = try parseHex4()
            guard (0xDC00...0xDFFF).contains(low) else {
                throw JSONPathError(
                    message: "high surrogate \\u\(hex4(high)) must be followed by a low surrogate \\uDC00–\\uDFFF",
                    offset: start
                )
            }
            let value = 0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00)
            return Unicode.Scalar(value) ?? "\u{FFFD}"
        }
        return Unicode.Scalar(high) ?? "\u{FFFD}"
    }

    private mutating func parseHex4() throws(JSONPathError) -> UInt32 {
        var value: UInt32 = 0
        for _ in 0..<4 {
            guard let c = peek(), let digit = hexValue(c) else {
                throw fail("\\u must be followed by exactly four hex digits, e.g. \\u00e9")
            }
            value = value * 16 + digit
            position += 1
        }
        return value
    }

    // MARK: - Filter expressions

    private mutating func parseFilterExpression() throws(JSONPathError) -> LogicalExpression {
        let start = position
        return try logical(try parseOr(), at: start)
    }

    private mutating func parseOr() throws(JSONPathError) -> Operand {
        let start = position
        let first = try parseAnd()
        var operands: [LogicalExpression] = []
        while true {
            let save = position
            skipBlanks()
            guard peek() == "|" else {
                position = save
                break
            }
            guard position + 1 < scalars.count, scalars[position + 1] == "|" else {
                throw fail("'|' is not an operator; write || for logical or")
            }
            if operands.isEmpty { operands.append(try logical(first, at: start)) }
            position += 2
            skipBlanks()
            let rhsStart = position
            operands.append(try logical(try parseAnd(), at: rhsStart))
        }
        return operands.isEmpty ? first : .logical(.or(operands))
    }

    private mutating func parseAnd() throws(JSONPathError) -> Operand {
        let start = position
        let first = try parseBasic()
        var operands: [LogicalExpression] = []
        while true {
            let save = position
            skipBlanks()
            guard peek() == "&" else {
                position = save
                break
            }
            guard position + 1 < scalars.count, scalars[position + 1] == "&" else {
                throw fail("'&' is not an operator; write && for logical and")
            }
            if operands.isEmpty { operands.append(try logical(first, at: start)) }
            position += 2
            skipBlanks()
            let rhsStart = position
            operands.append(try logical(try parseBasic(), at: rhsStart))
        }
        return operands.isEmpty ? first : .logical(.and(operands))
    }

    /// Parses a `basic-expr`: a parenthesized expression, a negation, a comparison, or a bare operand.
    private mutating func parseBasic() throws(JSONPathError) -> Operand {
        guard let c = peek() else {
            throw fail("the filter expression ended early; expected a query like @.x, a comparison or (…)")
        }
        if c == "!" {
            position += 1
            try enter()
            defer { depth -= 1 }
            skipBlanks()
            let start = position
            if peek() == "(" {
                return .logical(.not(try parseParenthesized()))
            }
            if peek() == "!" {
                throw fail("'!!' is not allowed; write !(!…) or drop both")
            }
            let operand = try parsePrimary()
            return .logical(.not(try logical(operand, at: start)))
        }
        if c == "(" {
            return .logical(try parseParenthesized())
        }
        let start = position
        let lhs = try parsePrimary()
        let save = position
        skipBlanks()
        let opOffset = position
        if let op = parseComparisonOperator() {
            skipBlanks()
            let rhsStart = position
            if peek() == "(" || peek() == "!" {
                throw fail("the right side of a comparison must be a literal, a singular query or a function")
            }
            let rhs = try parsePrimary()
            return .logical(
                .comparison(
                    try comparable(lhs, at: start, operatorOffset: opOffset),
                    op,
                    try comparable(rhs, at: rhsStart, operatorOffset: opOffset)
                )
            )
        }
        position = save
        return lhs
    }

    private mutating func parseParenthesized() throws(JSONPathError) -> LogicalExpression {
        let open = position
        position += 1
        try enter()
        defer { depth -= 1 }
        skipBlanks()
        let start = position
        let inner = try logical(try parseOr(), at: start)
        skipBlanks()
        guard peek() == ")" else {
            if let c = peek() {
                throw fail("expected ')' to close the '(' at offset \(open), found '\(c)'")
            }
            throw JSONPathError(message: "'(' is never closed; add ')'", offset: open)
        }
        position += 1
        return inner
    }

    private mutating func parseComparisonOperator() -> ComparisonOperator? {
        guard let c = peek() else { return nil }
        let next = position + 1 < scalars.count ? scalars[position + 1] : nil
        switch (c, next) {
        case ("=", "="):
            position += 2
            return .equal
        case ("!", "="):
            position += 2
            return .notEqual
        case ("<", "="):
            position += 2
            return .lessOrEqual
        case (">", "="):
            position += 2
            return .greaterOrEqual
        case ("<", _):
            position += 1
            return .less
        case (">", _):
            position += 1
            return .greater
        default:
            return nil
        }
    }

    /// Parses a literal, a query (`@…`, `$…`) or a function call.
    private mutating func parsePrimary() throws(JSONPathError) -> Operand {
        guard let c = peek() else {
            throw fail("expected a query like @.x, a literal or a function call, but the expression ended")
        }
        switch c {
        case "@", "$":
            position += 1
            try enter()
            defer { depth -= 1 }
            let segments = try parseSegments()
            return .query(PathQuery(isRelative: c == "@", segments: segments))
        case "'", "\"":
            return .literal(.string(try parseStringLiteral()))
        case "-", "0"..."9":
            return .literal(try parseNumber())
        case "a"..."z":
            let start = position
            var name = String.UnicodeScalarView()
            while let n = peek(), ("a"..."z").contains(n) || n == "_" || isDigit(n) {
                name.append(n)
                position += 1
            }
            let word = String(name)
            if peek() == "(" {
                return .function(try parseFunctionCall(named: word, at: start))
            }
            switch word {
            case "true": return .literal(.bool(true))
            case "false": return .literal(.bool(false))
            case "null": return .literal(.null)
            default:
                if let n = peek(), isBlank(n) {
                    var i = position
                    while i < scalars.count, isBlank(scalars[i]) { i += 1 }
                    if i < scalars.count, scalars[i] == "(" {
                        throw fail("no whitespace is allowed between a function name and '('; write \(word)(")
                    }
                }
                throw JSONPathError(
                    message:
                        "unknown word '\(word)'; expected true, false, null, a function call like length(@.x), or a query like @.\(word)",
                    offset: start
                )
            }
        default:
            throw fail(
                "'\(c)' cannot start an operand; expected a query (@.x or $.x), a literal ('text', 1, true, false, null) or a function call"
            )
        }
    }

    /// Parses a `number` literal: an int or `-0`, with optional fraction and exponent.
    private mutating func parseNumber() throws(JSONPathError) -> Value {
        let start = position
        var text = ""
        if peek() == "-" {
            text.append("-")
            position += 1
        }
        guard let first = peek(), isDigit(first) else {
            throw fail("expected digits after '-', e.g. -1")
        }
        if first == "0" {
            text.append("0")
            position += 1
            if let n = peek(), isDigit(n) {
                throw JSONPathError(
                    message: "leading zeros are not allowed in a number; write \(digitsTrimmed(from: start))",
                    offset: start)
            }
        } else {
            while let n = peek(), isDigit(n) {
                text.unicodeScalars.append(n)
                position += 1
            }
        }
        var isInteger = true
        if peek() == "." {
            isInteger = false
            text.append(".")
            position += 1
            guard let n = peek(), isDigit(n) else {
                throw fail("a fraction needs digits after '.', e.g. 1.5")
            }
            while let n = peek(), isDigit(n) {
                text.unicodeScalars.append(n)
                position += 1
            }
        }
        if peek() == "e" || peek() == "E" {
            isInteger = false
            text.append("e")
            position += 1
            if let s = peek(), s == "+" || s == "-" {
                text.unicodeScalars.append(s)
                position += 1
            }
            guard let n = peek(), isDigit(n) else {
                throw fail("an exponent needs digits, e.g. 1e3 or 2.5e-2")
            }
            while let n = peek(), isDigit(n) {
                text.unicodeScalars.append(n)
                position += 1
            }
        }
        if isInteger, let integer = Int64(text) {
            return .int(integer)
        }
        guard let double = Double(text), double.isFinite else {
            throw JSONPathError(message: "number out of range: \(text)", offset: start)
        }
        return .double(double)
    }

    /// Parses the arguments of a function call, positioned at `(`, and type-checks them.
    private mutating func parseFunctionCall(named name: String, at start: Int) throws(JSONPathError) -> FunctionCall {
        guard let function = JSONPathFunction(rawValue: name) else {
            let known = JSONPathFunction.allCases.map { $0.rawValue + "()" }.joined(separator: ", ")
            throw JSONPathError(message: "unknown function '\(name)'; available are \(known)", offset: start)
        }
        position += 1  // '('
        try enter()
        defer { depth -= 1 }
        var arguments: [FunctionArgument] = []
        skipBlanks()
        if peek() == ")" {
            position += 1
        } else {
            while true {
                skipBlanks()
                let argStart = position
                let operand = try parseOr()
                let index = arguments.count
                guard index < function.parameters.count else {
                    throw JSONPathError(
                        message:
                            "too many arguments: \(name)() takes \(function.parameters.count); write \(function.signature)",
                        offset: argStart
                    )
                }
                arguments.append(
                    try argument(operand, as: function.parameters[index], of: function, at: argStart)
                )
                skipBlanks()
                guard let c = peek() else {
                    throw JSONPathError(message: "'\(name)(' is never closed; add ')'", offset: start)
                }
                position += 1
                if c == ")" { break }
                if c != "," {
                    throw JSONPathError(
                        message: "expected ',' or ')' in the arguments of \(name)(), found '\(c)'",
                        offset: position - 1
                    )
                }
            }
        }
        guard arguments.count == function.parameters.count else {
            throw JSONPathError(
                message:
                    "\(name)() takes \(function.parameters.count) argument\(function.parameters.count == 1 ? "" : "s"), got \(arguments.count); write \(function.signature)",
                offset: start
            )
        }
        return FunctionCall(function: function, arguments: arguments)
    }

    // MARK: - Type checking (RFC 9535 §2.4.3)

    private func logical(_ operand: Operand, at offset: Int) throws(JSONPathError) -> LogicalExpression {
        switch operand {
        case .logical(let expression):
            return expression
        case .query(let query):
            return .exists(query)
        case .function(let call):
            guard call.function.result != .value else {
                throw JSONPathError(
                    message:
                        "\(call.function.rawValue)() returns a value, which cannot be used as a test; compare it, e.g. \(call.function.rawValue)(…) > 0",
                    offset: offset
                )
            }
            return .function(call)
        case .literal:
            throw JSONPathError(
                message: "a literal cannot be used as a test; compare it with something, e.g. @.x == 1",
                offset: offset
            )
        }
    }

    private func comparable(
        _ operand: Operand,
        at offset: Int,
        operatorOffset: Int
    ) throws(JSONPathError) -> ComparableExpression {
        switch operand {
        case .literal(let value):
            return .literal(value)
        case .query(let query):
            guard query.isSingular else {
                throw JSONPathError(
                    message:
                        "only singular queries (names and indexes, like @.a[0]) can be compared; wildcards, slices, filters and .. can select many nodes",
                    offset: offset
                )
            }
            return .query(query)
        case .function(let call):
            guard call.function.result == .value else {
                throw JSONPathError(
                    message:
                        "\(call.function.rawValue)() returns \(call.function.result.name) and cannot be compared; use it as a test on its own",
                    offset: offset
                )
            }
            return .function(call)
        case .logical:
            throw JSONPathError(
                message: "a logical expression cannot be compared; compare values, e.g. (@.a == 1) && (@.b == 2)",
                offset: operatorOffset
            )
        }
    }

    private func argument(
        _ operand: Operand,
        as type: JSONPathType,
        of function: JSONPathFunction,
        at offset: Int
    ) throws(JSONPathError) -> FunctionArgument {
        switch type {
        case .value:
            switch operand {
            case .literal(let value):
                return .value(.literal(value))
            case .query(let query) where query.isSingular:
                return .value(.query(query))
            case .function(let call) where call.function.result == .value:
                return .value(.function(call))
            default:
                throw JSONPathError(
                    message:
                        "\(function.rawValue)() expects a value here (a literal, a singular query like @.a or a value function); write \(function.signature)",
                    offset: offset
                )
            }
        case .logical:
            switch operand {
            case .literal:
                throw JSONPathError(
                    message: "\(function.rawValue)() expects a logical expression here, not a literal",
                    offset: offset
                )
            default:
                return .logical(try logical(operand, at: offset))
            }
        case .nodes:
            switch operand {
            case .query(let query):
                return .nodes(.query(query))
            case .function(let call) where call.function.result == .nodes:
                return .nodes(.function(call))
            default:
                throw JSONPathError(
                    message:
                        "\(function.rawValue)() expects a query here, e.g. \(function.rawValue)(@.items[*]); write \(function.signature)",
                    offset: offset
                )
            }
        }
    }

    // MARK: - Characters

    private func peek() -> Unicode.Scalar? {
        position < scalars.count ? scalars[position] : nil
    }

    private mutating func skipBlanks() {
        while position < scalars.count, isBlank(scalars[position]) { position += 1 }
    }

    private mutating func enter() throws(JSONPathError) {
        depth += 1
        if depth > Self.maxDepth {
            throw fail("the expression nests more than \(Self.maxDepth) levels deep; simplify it")
        }
    }

    private func fail(_ message: String) -> JSONPathError {
        JSONPathError(message: message, offset: position)
    }

    private func isBlank(_ c: Unicode.Scalar) -> Bool {
        c == " " || c == "\t" || c == "\n" || c == "\r"
    }

    private func isDigit(_ c: Unicode.Scalar) -> Bool {
        ("0"..."9").contains(c)
    }

    private func isNameFirst(_ c: Unicode.Scalar) -> Bool {
        ("a"..."z").contains(c) || ("A"..."Z").contains(c) || c == "_" || c.value >= 0x80
    }

    private func hexValue(_ c: Unicode.Scalar) -> UInt32? {
        switch c {
        case "0"..."9": return c.value - 48
        case "a"..."f": return c.value - 87
        case "A"..."F": return c.value - 55
        default: return nil
        }
    }

    private func hex4(_ value: UInt32) -> String {
        let digits = String(value, radix: 16, uppercase: true)
        return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
    }
}
