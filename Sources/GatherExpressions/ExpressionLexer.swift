import GatherCore

/// One token of an expression.
struct ExpressionToken: Sendable {
    enum Kind: Sendable, Equatable {
        /// A number as written (digits, optional fraction and exponent); `isInteger` when it has neither.
        case number(isInteger: Bool)
        /// A quoted string; `text` holds the decoded value.
        case string
        /// A bare word: a field name, a function name or a keyword (`and`, `null`, …).
        case identifier
        /// A back-quoted name: always a field name, never a keyword; `text` holds the decoded name.
        case quotedIdentifier
        /// An operator or punctuation: `text` holds it (`==`, `(`, …).
        case symbol
        /// The end of the expression.
        case end
    }

    var kind: Kind
    /// The decoded text: digits, string value, name or symbol.
    var text: String
    /// The 1-based column of the token's first character.
    var column: Int

    /// `true` when this is the bare word `keyword`, compared case-insensitively.
    func isKeyword(_ keyword: String) -> Bool {
        kind == .identifier && text.count == keyword.count && text.lowercased() == keyword
    }

    /// `true` when this is the operator or punctuation `symbol`.
    func isSymbol(_ symbol: String) -> Bool {
        kind == .symbol && text == symbol
    }

    /// The token as quoted in error messages.
    var quoted: String {
        switch kind {
        case .end: return "the end of the expression"
        case .string: return "the string '\(text)'"
        case .quotedIdentifier: return "`\(text)`"
        default: return "'\(text)'"
        }
    }
}

/// Splits an expression into tokens; columns count characters from 1.
struct ExpressionLexer {
    private let characters: [Character]
    private let source: String
    private var position = 0

    init(_ source: String) {
        self.source = source
        self.characters = Array(source)
    }

    /// All tokens, ending with an `.end` token.
    static func tokenize(_ source: String) throws(ExpressionError) -> [ExpressionToken] {
        var lexer = ExpressionLexer(source)
        var tokens: [ExpressionToken] = []
        while true {
            let token = try lexer.next()
            tokens.append(token)
            if token.kind == .end { return tokens }
        }
    }

    private func error(_ message: String, at index: Int) -> ExpressionError {
        ExpressionError(message: message, column: index + 1, source: source)
    }

    private func peek(_ offset: Int = 0) -> Character? {
        let i = position + offset
        return i < characters.count ? characters[i] : nil
    }

    private mutating func next() throws(ExpressionError) -> ExpressionToken {
        while let c = peek(), c.isWhitespace { position += 1 }
        let start = position
        guard let c = peek() else { return ExpressionToken(kind: .end, text: "", column: start + 1) }
        if Self.isDigit(c) { return lexNumber() }
        if Self.isIdentifierStart(c) {
            while let d = peek(), Self.isIdentifierPart(d) { position += 1 }
            return ExpressionToken(kind: .identifier, text: String(characters[start..<position]), column: start + 1)
        }
        if c == "'" || c == "\"" { return try lexString(quote: c) }
        if c == "`" { return try lexQuotedIdentifier() }
        let two = peek(1).map { String(c) + String($0) }
        if let two, ["==", "!=", "<=", ">=", "<>", "&&", "||"].contains(two) {
            position += 2
            return ExpressionToken(kind: .symbol, text: two, column: start + 1)
        }
        switch c {
        case "(", ")", "[", "]", ",", ".", "+", "-", "*", "/", "%", "<", ">", "=", "!":
            position += 1
            return ExpressionToken(kind: .symbol, text: String(c), column: start + 1)
        case "&":
            throw error("unexpected '&': write 'and' (or '&&') to combine conditions", at: start)
        case "|":
            throw error("unexpected '|': write 'or' (or '||') for either condition", at: start)
        default:
            throw error(
                "unexpected character '\(c)': use letters, digits, '_' and '$' in field names, "
                    + "or back-quote other names like `\(c)`",
                at: start)
        }
    }

    /// Digits, then an optional fraction (a '.' followed by digits) and an optional exponent.
    private mutating func lexNumber() -> ExpressionToken {
        let start = position
        var isInteger = true
        while let c = peek(), Self.isDigit(c) { position += 1 }
        if peek() == ".", let d = peek(1), Self.isDigit(d) {
            isInteger = false
            position += 1
            while let c = peek(), Self.isDigit(c) { position += 1 }
        }
        if let e = peek(), e == "e" || e == "E" {
            var offset = 1
            if let sign = peek(1), sign == "+" || sign == "-" { offset = 2 }
            if let d = peek(offset), Self.isDigit(d) {
                isInteger = false
                position += offset
                while let c = peek(), Self.isDigit(c) { position += 1 }
            }
        }
        let text = String(characters[start..<position])
        return ExpressionToken(kind: .number(isInteger: isInteger), text: text, column: start + 1)
    }

    private mutating func lexString(quote: Character) throws(ExpressionError) -> ExpressionToken {
        let start = position
        position += 1
        var value = ""
        while true {
            guard let c = peek() else {
                throw error("unterminated string: add a closing \(quote) to end it", at: start)
            }
            position += 1
            if c == quote { break }
            if c == "\\" {
                try value.unicodeScalars.append(lexEscape(backslashAt: position - 1))
            } else {
                value.append(c)
            }
        }
        return ExpressionToken(kind: .string, text: value, column: start + 1)
    }

    /// The character after a backslash (already consumed).
    private mutating func lexEscape(backslashAt backslash: Int) throws(ExpressionError) -> Unicode.Scalar {
        guard let c = peek() else {
            throw error("unterminated string: a backslash cannot end the expression", at: backslash)
        }
        position += 1
        switch c {
        case "\\": return "\\"
        case "'": return "'"
        case "\"": return "\""
        case "`": return "`"
        case "/": return "/"
        case "n": return "\n"
        case "t": return "\t"
        case "r": return "\r"
        case "b": return "\u{8}"
        case "f": return "\u{C}"
        case "0": return "\u{0}"
        case "u":
            let high = try lexHex4(backslashAt: backslash)
            if (0xD800..<0xDC00).contains(high) {
                // A UTF-16 surrogate pair written as two escapes: \uD83D\uDE00.
                guard peek() == "\\", peek(1) == "u" else {
                    throw error(
                        "\\u\(Self.hex(high)) is the first half of a surrogate pair: follow it with \\uDC00…\\uDFFF",
                        at: backslash)
                }
                position += 2
                let low = try lexHex4(backslashAt: position - 2)
                guard (0xDC00..<0xE000).contains(low) else {
                    throw error("\\u\(Self.hex(low)) is not the second half of a surrogate pair", at: position - 6)
                }
                return Unicode.Scalar(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00))!
            }
            guard let scalar = Unicode.Scalar(high) else {
                throw error("\\u\(Self.hex(high)) is a lone surrogate half, not a character", at: backslash)
            }
            return scalar
        default:
            throw error(
                "unknown escape '\\\(c)' in a string: use \\\\ for a backslash, \\n, \\t, \\', \\\" or \\uXXXX",
                at: backslash)
        }
    }

    private mutating func lexHex4(backslashAt backslash: Int) throws(ExpressionError) -> UInt32 {
        var value: UInt32 = 0
        for _ in 0..<4 {
            guard let c = peek(), c.isASCII, let digit = c.hexDigitValue else {
                throw error("expected 4 hex digits after \\u, e.g. \\u00e9", at: backslash)
            }
            value = value << 4 | UInt32(digit)
            position += 1
        }
        return value
    }

    /// A back-quoted field name; a back quote inside is written twice (``` `a``b` ```) or as \`.
    private mutating func lexQuotedIdentifier() throws(ExpressionError) -> ExpressionToken {
        let start = position
        position += 1
        var name = ""
        while true {
            guard let c = peek() else {
                throw error("unterminated back-quoted name: add a closing ` to end it", at: start)
            }
            position += 1
            if c == "`" {
                if peek() == "`" {
                    position += 1
                    name.append("`")
                    continue
                }
                break
            }
            if c == "\\" {
                try name.unicodeScalars.append(lexEscape(backslashAt: position - 1))
            } else {
                name.append(c)
            }
        }
        return ExpressionToken(kind: .quotedIdentifier, text: name, column: start + 1)
    }

    private static func hex(_ value: UInt32) -> String {
        let digits = String(value, radix: 16, uppercase: true)
        return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
    }

    static func isDigit(_ c: Character) -> Bool {
        guard let ascii = c.asciiValue else { return false }
        return ascii >= 0x30 && ascii <= 0x39
    }

    static func isIdentifierStart(_ c: Character) -> Bool {
        c.isLetter || c == "_" || c == "$"
    }

    static func isIdentifierPart(_ c: Character) -> Bool {
        isIdentifierStart(c) || isDigit(c)
    }
}
