import GatherCore

/// A recursive-descent parser from tokens to an ``ExpressionNode`` tree.
///
/// Grammar, lowest precedence first:
///
/// ```text
/// or         = and (("or" | "||") and)*
/// and        = not (("and" | "&&") not)*
/// not        = ("not" | "!") not | comparison
/// comparison = membership (("==" | "=" | "!=" | "<>" | "<" | "<=" | ">" | ">=") membership)?
/// membership = isnull (["not"] "in" isnull)?
/// isnull     = additive ("is" ["not"] "null")?
/// additive   = term (("+" | "-") term)*
/// term       = unary (("*" | "/" | "%") unary)*
/// unary      = "-" unary | postfix
/// postfix    = primary ("." name | "[" or "]")*
/// primary    = number | string | "true" | "false" | "null" | name | `quoted name`
///            | function "(" [or ("," or)*] ")" | "(" or ")" | "[" [or ("," or)*] "]"
/// ```
struct ExpressionParser {
    /// How deeply parentheses, lists, calls and prefix operators may nest.
    static let maximumDepth = 256

    private let tokens: [ExpressionToken]
    private let source: String
    private var position = 0
    private var depth = 0

    private init(tokens: [ExpressionToken], source: String) {
        self.tokens = tokens
        self.source = source
    }

    /// Parses a whole expression.
    static func parse(_ source: String) throws(ExpressionError) -> ExpressionNode {
        let tokens = try ExpressionLexer.tokenize(source)
        var parser = ExpressionParser(tokens: tokens, source: source)
        if parser.current.kind == .end {
            throw ExpressionError(
                message: "the expression is empty: write a field name, a value or a condition such as 'x > 0'",
                column: 1, source: source)
        }
        let node = try parser.parseOr()
        let trailing = parser.current
        if trailing.kind != .end {
            if trailing.isSymbol(")") {
                throw parser.error("unbalanced ')': there is no '(' to close", at: trailing)
            }
            throw parser.error(
                "unexpected \(trailing.quoted) after a complete expression: "
                    + "join the parts with an operator such as 'and', 'or' or '+'",
                at: trailing)
        }
        return node
    }

    // MARK: - Tokens

    private var current: ExpressionToken { tokens[position] }

    private mutating func advance() -> ExpressionToken {
        let token = tokens[position]
        if token.kind != .end { position += 1 }
        return token
    }

    private func error(_ message: String, at token: ExpressionToken) -> ExpressionError {
        ExpressionError(message: message, column: token.column, source: source)
    }

    private mutating func nest(at token: ExpressionToken) throws(ExpressionError) {
        depth += 1
        if depth > Self.maximumDepth {
            throw error("the expression is nested too deeply (more than \(Self.maximumDepth) levels)", at: token)
        }
    }

    private mutating func expect(_ symbol: String, closing open: ExpressionToken) throws(ExpressionError) {
        if current.isSymbol(symbol) {
            _ = advance()
            return
        }
        throw error(
            "expected '\(symbol)' to close the '\(open.text)' at column \(open.column), found \(current.quoted)",
            at: current)
    }

    // MARK: - Boolean operators

    private mutating func parseOr() throws(ExpressionError) -> ExpressionNode {
        var lhs = try parseAnd()
        while current.isKeyword("or") || current.isSymbol("||") {
            let op = advance()
            let rhs = try parseAnd()
            lhs = .or(lhs, rhs, column: op.column)
        }
        return lhs
    }

    private mutating func parseAnd() throws(ExpressionError) -> ExpressionNode {
        var lhs = try parseNot()
        while current.isKeyword("and") || current.isSymbol("&&") {
            let op = advance()
            let rhs = try parseNot()
            lhs = .and(lhs, rhs, column: op.column)
        }
        return lhs
    }

    private mutating func parseNot() throws(ExpressionError) -> ExpressionNode {
        guard current.isKeyword("not") || current.isSymbol("!") else { return try parseComparison() }
        let op = advance()
        try nest(at: op)
        defer { depth -= 1 }
        return .not(try parseNot(), column: op.column)
    }

    // MARK: - Comparisons

    private static let comparisonOperators: [String: ExpressionComparison] = [
        "==": .equal, "=": .equal, "!=": .notEqual, "<>": .notEqual,
        "<": .less, "<=": .lessOrEqual, ">": .greater, ">=": .greaterOrEqual,
    ]

    private mutating func parseComparison() throws(ExpressionError) -> ExpressionNode {
        let lhs = try parseMembership()
        guard current.kind == .symbol, let op = Self.comparisonOperators[current.text] else { return lhs }
        let opToken = advance()
        let rhs = try parseMembership()
        if current.kind == .symbol, Self.comparisonOperators[current.text] != nil {
            throw error(
                "comparisons cannot be chained: write 'a \(opToken.text) b and b \(current.text) c'", at: current)
        }
        return .comparison(op, lhs, rhs)
    }

    private mutating func parseMembership() throws(ExpressionError) -> ExpressionNode {
        let lhs = try parseIsNull()
        let negated: Bool
        let opToken: ExpressionToken
        if current.isKeyword("in") {
            negated = false
            opToken = advance()
        } else if current.isKeyword("not") && tokens[position + 1].isKeyword("in") {
            negated = true
            opToken = advance()
            _ = advance()
        } else {
            return lhs
        }
        if current.isSymbol("("), Self.looksLikeTuple(self.tokens[position...]) {
            throw error(
                "a list is written in square brackets: write \(negated ? "not in" : "in") ['a', 'b'], not ('a', 'b')",
                at: current)
        }
        let rhs = try parseIsNull()
        return .membership(lhs, rhs, negated: negated, column: opToken.column)
    }

    /// Whether the tokens from an opening parenthesis hold a comma at its own depth before it closes: `('a', 'b')`
    /// after `in` is a list written the SQL way.
    private static func looksLikeTuple(_ tokens: ArraySlice<ExpressionToken>) -> Bool {
        var depth = 0
        for token in tokens {
            if token.isSymbol("(") || token.isSymbol("[") {
                depth += 1
            } else if token.isSymbol(")") || token.isSymbol("]") {
                depth -= 1
                if depth == 0 { return false }
            } else if token.isSymbol(","), depth == 1 {
                return true
            } else if token.kind == .end {
                return false
            }
        }
        return false
    }

    private mutating func parseIsNull() throws(ExpressionError) -> ExpressionNode {
        let lhs = try parseAdditive()
        guard current.isKeyword("is") else { return lhs }
        _ = advance()
        var negated = false
        if current.isKeyword("not") {
            negated = true
            _ = advance()
        }
        guard current.isKeyword("null") else {
            throw error("expected 'null' after 'is': write 'x is null' or 'x is not null'", at: current)
        }
        _ = advance()
        return .isNull(lhs, negated: negated)
    }

    // MARK: - Arithmetic

    private mutating func parseAdditive() throws(ExpressionError) -> ExpressionNode {
        var lhs = try parseTerm()
        while current.kind == .symbol, current.text == "+" || current.text == "-" {
            let op = advance()
            let rhs = try parseTerm()
            lhs = .arithmetic(op.text == "+" ? .add : .subtract, lhs, rhs, column: op.column)
        }
        return lhs
    }

    private mutating func parseTerm() throws(ExpressionError) -> ExpressionNode {
        var lhs = try parseUnary()
        while current.kind == .symbol, let op = ExpressionArithmetic(rawValue: current.text),
            op == .multiply || op == .divide || op == .remainder
        {
            let opToken = advance()
            let rhs = try parseUnary()
            lhs = .arithmetic(op, lhs, rhs, column: opToken.column)
        }
        return lhs
    }

    private mutating func parseUnary() throws(ExpressionError) -> ExpressionNode {
        guard current.isSymbol("-") else { return try parsePostfix() }
        let op = advance()
        // A negative number literal: fold it, so that -9223372036854775808 stays an int.
        if case .number = current.kind {
            let number = current
            let after = tokens[position + 1]
            if !after.isSymbol(".") && !after.isSymbol("[") {
                _ = advance()
                return .literal(Self.numberValue("-" + number.text, isInteger: number.kind == .number(isInteger: true)))
            }
        }
        try nest(at: op)
        defer { depth -= 1 }
        let operand = try parseUnary()
        return .negate(operand, column: op.column)
    }

    // MARK: - Postfix and primary

    private mutating func parsePostfix() throws(ExpressionError) -> ExpressionNode {
        var node = try parsePrimary()
        while true {
            if current.isSymbol(".") {
                let dot = advance()
                let name = current
                guard name.kind == .identifier || name.kind == .quotedIdentifier else {
                    if case .number = name.kind {
                        throw error(
                            "expected a field name after '.': for a list position write [\(name.text)]", at: name)
                    }
                    throw error(
                        "expected a field name after '.', found \(name.quoted)", at: name.kind == .end ? dot : name)
                }
                _ = advance()
                if name.kind == .identifier && current.isSymbol("(") {
                    throw error("only functions can be called: '\(name.text)' is a field of an object", at: name)
                }
                node = .member(node, name.text)
            } else if current.isSymbol("[") {
                let open = advance()
                try nest(at: open)
                let index = try parseOr()
                depth -= 1
                try expect("]", closing: open)
                node = .index(node, index)
            } else {
                return node
            }
        }
    }

    private mutating func parsePrimary() throws(ExpressionError) -> ExpressionNode {
        let token = current
        switch token.kind {
        case .number(let isInteger):
            _ = advance()
            return .literal(Self.numberValue(token.text, isInteger: isInteger))
        case .string:
            _ = advance()
            return .literal(.string(token.text))
        case .quotedIdentifier:
            _ = advance()
            return .field(token.text)
        case .identifier:
            _ = advance()
            if current.isSymbol("(") { return try parseCall(name: token) }
            switch token.text.lowercased() {
            case "true": return .literal(.bool(true))
            case "false": return .literal(.bool(false))
            case "null": return .literal(.null)
            case "and", "or", "not", "in", "is":
                throw error(
                    "expected a value before '\(token.text)' (to use a field with this name, write `\(token.text)`)",
                    at: token)
            default: return .field(token.text)
            }
        case .symbol:
            if token.isSymbol("(") {
                _ = advance()
                try nest(at: token)
                let inner = try parseOr()
                depth -= 1
                try expect(")", closing: token)
                return inner
            }
            if token.isSymbol("[") {
                _ = advance()
                let elements = try parseArguments(open: token, close: "]")
                var constants: [Value] = []
                for element in elements {
                    guard case .literal(let value) = element else { return .list(elements) }
                    constants.append(value)
                }
                return .literal(.array(constants))
            }
            throw error("expected a value, a field or '(' but found \(token.quoted)", at: token)
        case .end:
            let previous = position > 0 ? tokens[position - 1] : token
            throw error(
                "the expression ends too early: expected a value after \(previous.quoted)",
                at: token)
        }
    }

    /// Arguments after an opening '(' or '[' (already consumed), up to and including `close`.
    private mutating func parseArguments(open: ExpressionToken, close: String) throws(ExpressionError)
        -> [ExpressionNode]
    {
        try nest(at: open)
        defer { depth -= 1 }
        var arguments: [ExpressionNode] = []
        if current.isSymbol(close) {
            _ = advance()
            return arguments
        }
        while true {
            arguments.append(try parseOr())
            if current.isSymbol(",") {
                _ = advance()
                continue
            }
            try expect(close, closing: open)
            return arguments
        }
    }

    private mutating func parseCall(name: ExpressionToken) throws(ExpressionError) -> ExpressionNode {
        guard let function = ExpressionFunction.named(name.text) else {
            var message = "unknown function '\(name.text)'"
            if let suggestion = ExpressionFunction.suggestion(for: name.text) {
                message += " (did you mean '\(suggestion)'?)"
            } else {
                message += "; the functions are " + ExpressionFunction.allNames.joined(separator: ", ")
            }
            throw error(message, at: name)
        }
        let open = advance()
        let arguments = try parseArguments(open: open, close: ")")
        let arity = function.arity
        if !arity.contains(arguments.count) {
            let expected: String
            if arity.lowerBound == arity.upperBound {
                expected = "\(arity.lowerBound) argument\(arity.lowerBound == 1 ? "" : "s")"
            } else if arity.upperBound == Int.max {
                expected = "at least \(arity.lowerBound) argument\(arity.lowerBound == 1 ? "" : "s")"
            } else {
                expected = "\(arity.lowerBound) to \(arity.upperBound) arguments"
            }
            throw error(
                "\(function.name)() takes \(expected) but was given \(arguments.count): write \(function.usage)",
                at: name)
        }
        return .call(function, arguments, column: name.column)
    }

    /// The value of a number token's text: an int when it is integral and fits, else a double.
    private static func numberValue(_ text: String, isInteger: Bool) -> Value {
        if isInteger, let int = Int64(text) { return .int(int) }
        return .double(Double(text) ?? .nan)
    }
}
