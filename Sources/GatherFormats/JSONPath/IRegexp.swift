import GatherCore

/// Translates I-Regexp (RFC 9485) patterns into Swift `Regex` syntax, rejecting anything else.
///
/// - `.` becomes `[^\n\r]` (I-Regexp's dot matches any character except line feed and
///   carriage return).
/// - Groups become non-capturing; literal characters are written as `\u{…}` so that nothing in
///   them is special to Swift.
/// - `^` and `$` outside a character class are treated as anchors at the start and end of the
///   input, as the JSONPath compliance test suite expects.
/// - Back-references, lookaround, `\d`, `\w`, lazy quantifiers and other extensions are
///   rejected: ``translate(_:)`` returns `nil`.
///
/// Callers match with Unicode-scalar semantics, so each I-Regexp "character" is one scalar.
enum IRegexp {
    /// The Swift regex source for `pattern`, or `nil` when `pattern` is not a valid I-Regexp.
    static func translate(_ pattern: String) -> String? {
        var translator = Translator(scalars: Array(pattern.unicodeScalars))
        guard let output = translator.regexp(), translator.position == translator.scalars.count else {
            return nil
        }
        return output
    }

    private struct Translator {
        let scalars: [Unicode.Scalar]
        var position = 0
        var depth = 0

        func peek() -> Unicode.Scalar? {
            position < scalars.count ? scalars[position] : nil
        }

        mutating func regexp() -> String? {
            depth += 1
            defer { depth -= 1 }
            guard depth <= 64 else { return nil }
            var output = ""
            guard let first = branch() else { return nil }
            output += first
            while peek() == "|" {
                position += 1
                guard let next = branch() else { return nil }
                output += "|" + next
            }
            return output
        }

        mutating func branch() -> String? {
            var output = ""
            while let c = peek(), c != "|", c != ")" {
                guard let atom = atom() else { return nil }
                output += atom
                if let quantifier = quantifier() {
                    guard !quantifier.isEmpty else { return nil }
                    output += quantifier
                }
            }
            return output
        }

        /// `nil` when there is no quantifier; `""` when a quantifier is malformed.
        mutating func quantifier() -> String? {
            guard let c = peek() else { return nil }
            switch c {
            case "*", "+", "?":
                position += 1
                return String(c)
            case "{":
                position += 1
                guard let low = digits() else { return "" }
                var output = "{" + low
                if peek() == "," {
                    position += 1
                    output += ","
                    if let high = digits() {
                        guard let l = Int(low), let h = Int(high), l <= h else { return "" }
                        output += high
                    }
                }
                guard peek() == "}" else { return "" }
                position += 1
                return output + "}"
            default:
                return nil
            }
        }

        mutating func digits() -> String? {
            var text = ""
            while let c = peek(), ("0"..."9").contains(c) {
                text.unicodeScalars.append(c)
                position += 1
            }
            return text.isEmpty ? nil : text
        }

        mutating func atom() -> String? {
            guard let c = peek() else { return nil }
            switch c {
            case "(":
                position += 1
                guard let inner = regexp(), peek() == ")" else { return nil }
                position += 1
                return "(?:" + inner + ")"
            case ".":
                position += 1
                return "[^\\n\\r]"
            case "^":
                position += 1
                return "^"
            case "$":
                position += 1
                return "$"
            case "[":
                return characterClass()
            case "\\":
                return escape(inClass: false)
            case "*", "+", "?", "{", "}", "]", ")", "|":
                return nil
            default:
                position += 1
                return literal(c)
            }
        }

        func literal(_ c: Unicode.Scalar) -> String {
            if ("a"..."z").contains(c) || ("A"..."Z").contains(c) || ("0"..."9").contains(c) {
                return String(c)
            }
            return "\\u{" + String(c.value, radix: 16) + "}"
        }

        /// Parses `\…`, positioned at the backslash.
        mutating func escape(inClass: Bool) -> String? {
            position += 1
            guard let c = peek() else { return nil }
            position += 1
            switch c {
            case "n": return "\\n"
            case "r": return "\\r"
            case "t": return "\\t"
            case "(", ")", "*", "+", "-", ".", "?", "[", "\\", "]", "^", "{", "|", "}":
                return literal(c)
            case "p", "P":
                guard peek() == "{" else { return nil }
                position += 1
                var name = ""
                while let n = peek(), n != "}" {
                    name.unicodeScalars.append(n)
                    position += 1
                }
                guard peek() == "}", Self.categories.contains(name) else { return nil }
                position += 1
                return "\\\(c){\(name)}"
            default:
                return nil
            }
        }

        static let categories: Set<String> = [
            "L", "Ll", "Lm", "Lo", "Lt", "Lu",
            "M", "Mc", "Me", "Mn",
            "N", "Nd", "Nl", "No",
            "P", "Pc", "Pd", "Pe", "Pf", "Pi", "Po", "Ps",
            "Z", "Zl", "Zp", "Zs",
            "S", "Sc", "Sk", "Sm", "So",
            "C", "Cc", "Cf", "Cn", "Co",
        ]

        /// Parses `[…]`, positioned at `[`.
        mutating func characterClass() -> String? {
            position += 1
            var output = "["
            if peek() == "^" {
                position += 1
                output += "^"
            }
            var first = true
            while true {
                guard let c = peek() else { return nil }
                if c == "]" {
                    if first { return nil }
                    position += 1
                    return output + "]"
                }
                if c == "-" {
                    // Only allowed first or last.
                    let isLast = position + 1 < scalars.count && scalars[position + 1] == "]"
                    guard first || isLast else { return nil }
                    position += 1
                    output += "\\-"
                    first = false
                    continue
                }
                first = false
                if c == "\\", position + 1 < scalars.count, scalars[position + 1] == "p" || scalars[position + 1] == "P"
                {
                    guard let escaped = escape(inClass: true) else { return nil }
                    output += escaped
                    continue
                }
                guard let low = classChar() else { return nil }
                output += low
                if peek() == "-", position + 1 < scalars.count, scalars[position + 1] != "]" {
                    position += 1
                    guard let high = classChar() else { return nil }
                    output += "-" + high
                }
            }
        }

        /// A `CCchar`: a literal character or a single-character escape.
        mutating func classChar() -> String? {
            guard let c = peek() else { return nil }
            switch c {
            case "[", "]", "-":
                return nil
            case "\\":
                guard position + 1 < scalars.count, scalars[position + 1] != "p", scalars[position + 1] != "P" else {
                    return nil
                }
                return escape(inClass: true)
            default:
                position += 1
                return literal(c)
            }
        }
    }
}
