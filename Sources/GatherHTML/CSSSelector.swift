/// CSS selectors translated to XPath 1.0, as cssselect and parsel do, so one engine (libxml2's XPath) runs both.
///
/// Supported:
///
/// | CSS | meaning |
/// |---|---|
/// | `div`, `*` | type, universal (names compared in lower case: the HTML parser lowercases them) |
/// | `#main`, `.price` | id, class (a class is one of the space-separated words of `class`) |
/// | `[href]`, `[type="text"]`, `[rel~="nofollow"]`, `[lang\|="en"]`, `[href^="https"]`, `[href$=".pdf"]`, `[href*="shop"]` | attribute presence and the six operators (values quoted or bare) |
/// | `a b`, `a > b`, `a + b`, `a ~ b` | descendant, child, adjacent sibling, general sibling |
/// | `:nth-child(2)`, `:nth-child(2n+1)`, `odd`, `even`, `:first-child`, `:last-child`, `:nth-last-child(…)`, `:only-child`, `:first-of-type`, `:last-of-type`, `:nth-of-type(…)`, `:empty` | structural pseudo-classes |
/// | `:not(.ad)` | negation of a compound selector |
/// | `a, b` | either |
/// | `::text`, `::attr(href)` | (parsel) the text nodes of the element, or the value of an attribute; last in a selector |
///
/// ```swift
/// try CSSSelector.xpath(for: "ul.items > li:not(.ad) a::attr(href)")
/// // descendant-or-self::ul[…class…]/li[not(…)]/descendant-or-self::*/a/@href
/// ```
public enum CSSSelector {
    /// The XPath expression equivalent to `selector`.
    /// - Throws: ``SelectorError`` naming the position (1-based column) and what was expected there.
    public static func xpath(for selector: String) throws(SelectorError) -> String {
        var parser = Parser(Array(selector.unicodeScalars), source: selector)
        return try parser.group()
    }
}

/// A selector that cannot be parsed: where, and what was expected.
public struct SelectorError: Error, Sendable, CustomStringConvertible {
    /// The selector as written.
    public var selector: String
    /// 1-based column of the problem.
    public var column: Int
    public var message: String
    public var description: String { "CSS selector '\(selector)', column \(column): \(message)" }
}

private struct Parser {
    let s: [Unicode.Scalar]
    let source: String
    var i = 0

    init(_ s: [Unicode.Scalar], source: String) {
        self.s = s
        self.source = source
    }

    func fail(_ message: String, at position: Int? = nil) -> SelectorError {
        SelectorError(selector: self.source, column: (position ?? self.i) + 1, message: message)
    }

    var current: Unicode.Scalar? { self.i < self.s.count ? self.s[self.i] : nil }

    mutating func skipSpaces() -> Bool {
        let start = self.i
        while let c = self.current, c == " " || c == "\t" || c == "\n" || c == "\r" || c == "\u{0C}" { self.i += 1 }
        return self.i > start
    }

    // group := selector ("," selector)*
    mutating func group() throws(SelectorError) -> String {
        var parts: [String] = []
        repeat {
            _ = self.skipSpaces()
            parts.append(try self.selector())
            _ = self.skipSpaces()
            guard let c = self.current else { break }
            guard c == "," else { throw self.fail("expected a combinator, ',' or the end, found '\(c)'") }
            self.i += 1
        } while true
        return parts.joined(separator: " | ")
    }

    // selector := compound (combinator compound)* pseudo-element?
    mutating func selector() throws(SelectorError) -> String {
        guard self.current != nil else { throw self.fail("expected a selector") }
        var path = "descendant-or-self::" + (try self.compound(axis: ""))
        while true {
            let spaced = self.skipSpaces()
            guard let c = self.current, c != "," else { break }
            if c == ":" && self.peek(1) == ":" {
                path += try self.pseudoElement()
                _ = self.skipSpaces()
                if let next = self.current, next != "," {
                    throw self.fail("::text and ::attr() end a selector; found '\(next)' after it")
                }
                break
            }
            switch c {
            case ">":
                self.i += 1
                _ = self.skipSpaces()
                path += "/" + (try self.compound(axis: ""))
            case "+":
                self.i += 1
                _ = self.skipSpaces()
                path += "/following-sibling::*[1]/self::" + (try self.compound(axis: ""))
            case "~":
                self.i += 1
                _ = self.skipSpaces()
                path += "/following-sibling::" + (try self.compound(axis: ""))
            default:
                guard spaced else { throw self.fail("unexpected '\(c)'") }
                path += "/descendant-or-self::*/" + (try self.compound(axis: ""))
            }
        }
        return path
    }

    func peek(_ offset: Int) -> Unicode.Scalar? {
        self.i + offset < self.s.count ? self.s[self.i + offset] : nil
    }

    // compound := (type | "*")? (id | class | attribute | pseudo-class)*
    mutating func compound(axis: String) throws(SelectorError) -> String {
        var element = "*"
        var conditions: [String] = []
        if self.current == "*" {
            self.i += 1
        } else if let c = self.current, Self.isNameStart(c) {
            element = try self.identifier().lowercased()
        }
        loop: while let c = self.current {
            switch c {
            case "#":
                self.i += 1
                conditions.append("@id = \(Self.literal(try self.identifier()))")
            case ".":
                self.i += 1
                conditions.append(Self.hasWord("@class", try self.identifier()))
            case "[":
                conditions.append(try self.attribute())
            case ":" where self.peek(1) != ":":
                conditions.append(try self.pseudoClass(element: element))
            default:
                break loop
            }
        }
        if element == "*" && conditions.isEmpty && !(self.i > 0 && self.s[self.i - 1] == "*") {
            throw self.fail(self.current.map { "expected a selector, found '\($0)'" } ?? "expected a selector")
        }
        return axis + element + conditions.map { "[\($0)]" }.joined()
    }

    mutating func attribute() throws(SelectorError) -> String {
        let open = self.i
        self.i += 1
        _ = self.skipSpaces()
        let name = "@" + (try self.identifier()).lowercased()
        _ = self.skipSpaces()
        guard let c = self.current else { throw self.fail("'[' is never closed", at: open) }
        if c == "]" {
            self.i += 1
            return name
        }
        var op = String(c)
        if c != "=" {
            guard "~|^$*".unicodeScalars.contains(c), self.peek(1) == "=" else {
                throw self.fail("expected ']' or an operator (=, ~=, |=, ^=, $=, *=), found '\(c)'")
            }
            op += "="
            self.i += 2
        } else {
            self.i += 1
        }
        _ = self.skipSpaces()
        let value = try self.stringOrIdentifier()
        _ = self.skipSpaces()
        if let flag = self.current, flag == "i" || flag == "s" {
            self.i += 1
            _ = self.skipSpaces()
        }
        guard self.current == "]" else { throw self.fail("expected ']'", at: self.i) }
        self.i += 1
        let v = Self.literal(value)
        switch op {
        case "=": return "\(name) = \(v)"
        case "~=": return value.isEmpty || value.contains(" ") ? "false()" : Self.hasWord(name, value)
        case "|=": return "\(name) = \(v) or starts-with(\(name), \(Self.literal(value + "-")))"
        case "^=": return value.isEmpty ? "false()" : "starts-with(\(name), \(v))"
        case "$=":
            return value.isEmpty
                ? "false()" : "substring(\(name), string-length(\(name)) - \(value.count - 1)) = \(v)"
        default: return value.isEmpty ? "false()" : "contains(\(name), \(v))"
        }
    }

    mutating func pseudoClass(element: String) throws(SelectorError) -> String {
        let start = self.i
        self.i += 1
        let name = try self.identifier().lowercased()
        let ofType = element == "*" ? "*" : element
        switch name {
        case "first-child": return "count(preceding-sibling::*) = 0"
        case "last-child": return "count(following-sibling::*) = 0"
        case "only-child": return "count(preceding-sibling::*) = 0 and count(following-sibling::*) = 0"
        case "first-of-type": return "count(preceding-sibling::\(ofType)) = 0"
        case "last-of-type": return "count(following-sibling::\(ofType)) = 0"
        case "empty": return "not(*) and not(string-length())"
        case "checked": return "@checked or @selected"
        case "disabled": return "@disabled"
        case "enabled": return "not(@disabled)"
        case "nth-child", "nth-last-child", "nth-of-type", "nth-last-of-type":
            let (a, b) = try self.nth()
            let axis = name.contains("last") ? "following-sibling" : "preceding-sibling"
            let test = name.hasSuffix("of-type") ? ofType : "*"
            return Self.nthCondition(a: a, b: b, position: "(count(\(axis)::\(test)) + 1)")
        case "not":
            guard self.current == "(" else { throw self.fail(":not needs a selector in parentheses") }
            self.i += 1
            _ = self.skipSpaces()
            let inner = try self.compound(axis: "")
            _ = self.skipSpaces()
            guard self.current == ")" else { throw self.fail(":not( takes one compound selector; expected ')'") }
            self.i += 1
            return "not(self::\(inner))"
        default:
            throw self.fail(
                "':\(name)' is not supported; use :nth-child(), :first-child, :last-child, :not() or :empty",
                at: start)
        }
    }

    /// `(an+b)`, `(odd)`, `(even)`, `(3)`, `(-n+3)`.
    mutating func nth() throws(SelectorError) -> (Int, Int) {
        guard self.current == "(" else { throw self.fail("expected '(' with an an+b expression") }
        let open = self.i
        self.i += 1
        var text = ""
        while let c = self.current, c != ")" {
            if c != " " { text.unicodeScalars.append(c) }
            self.i += 1
        }
        guard self.current == ")" else { throw self.fail("'(' is never closed", at: open) }
        self.i += 1
        let lower = text.lowercased()
        if lower == "odd" { return (2, 1) }
        if lower == "even" { return (2, 0) }
        if let b = Int(lower) { return (0, b) }
        guard let n = lower.firstIndex(of: "n") else {
            throw self.fail("'\(text)' is not an an+b expression (like 2n+1, odd or 3)", at: open + 1)
        }
        let aText = String(lower[..<n])
        let a: Int? = aText.isEmpty || aText == "+" ? 1 : aText == "-" ? -1 : Int(aText)
        let bText = String(lower[lower.index(after: n)...])
        let b: Int? = bText.isEmpty ? 0 : Int(bText.hasPrefix("+") ? String(bText.dropFirst()) : bText)
        guard let a, let b else {
            throw self.fail("'\(text)' is not an an+b expression (like 2n+1, odd or 3)", at: open + 1)
        }
        return (a, b)
    }

    /// An XPath condition true when `position` = a·n + b for some n ≥ 0.
    static func nthCondition(a: Int, b: Int, position: String) -> String {
        if a == 0 { return "\(position) = \(b)" }
        let difference = "\(position) - \(b)"
        if a > 0 { return "\(difference) >= 0 and (\(difference)) mod \(a) = 0" }
        return "\(difference) <= 0 and (\(difference)) mod \(-a) = 0"
    }

    mutating func pseudoElement() throws(SelectorError) -> String {
        let start = self.i
        self.i += 2
        let name = try self.identifier().lowercased()
        switch name {
        case "text": return "/text()"
        case "attr":
            guard self.current == "(" else { throw self.fail("::attr needs a name in parentheses, like ::attr(href)") }
            self.i += 1
            _ = self.skipSpaces()
            let attribute = try self.identifier().lowercased()
            _ = self.skipSpaces()
            guard self.current == ")" else { throw self.fail("expected ')' after the attribute name") }
            self.i += 1
            return "/@\(attribute)"
        default:
            throw self.fail("'::\(name)' is not supported; use ::text or ::attr(name)", at: start)
        }
    }

    mutating func identifier() throws(SelectorError) -> String {
        var out = ""
        while let c = self.current {
            if c == "\\", let next = self.peek(1) {
                out.unicodeScalars.append(next)
                self.i += 2
            } else if Self.isName(c) {
                out.unicodeScalars.append(c)
                self.i += 1
            } else {
                break
            }
        }
        guard !out.isEmpty else {
            throw self.fail(self.current.map { "expected a name, found '\($0)'" } ?? "expected a name, found the end")
        }
        return out
    }

    mutating func stringOrIdentifier() throws(SelectorError) -> String {
        guard let quote = self.current, quote == "\"" || quote == "'" else { return try self.identifier() }
        let open = self.i
        self.i += 1
        var out = ""
        while let c = self.current, c != quote {
            if c == "\\", let next = self.peek(1) {
                out.unicodeScalars.append(next)
                self.i += 2
            } else {
                out.unicodeScalars.append(c)
                self.i += 1
            }
        }
        guard self.current == quote else { throw self.fail("the string is never closed", at: open) }
        self.i += 1
        return out
    }

    static func isNameStart(_ c: Unicode.Scalar) -> Bool {
        c.properties.isAlphabetic || c == "_" || c == "-" || c.value > 0x7F || c == "\\"
    }

    static func isName(_ c: Unicode.Scalar) -> Bool {
        Self.isNameStart(c) || ("0"..."9").contains(c)
    }

    /// A condition: `attribute`'s space-separated words include `word`.
    static func hasWord(_ attribute: String, _ word: String) -> String {
        "\(attribute) and contains(concat(' ', normalize-space(\(attribute)), ' '), \(Self.literal(" " + word + " ")))"
    }

    /// An XPath string literal for any text (quotes of both kinds via concat()).
    static func literal(_ text: String) -> String {
        if !text.contains("'") { return "'\(text)'" }
        if !text.contains("\"") { return "\"\(text)\"" }
        let parts = text.split(separator: "'", omittingEmptySubsequences: false).map { "'\($0)'" }
        return "concat(" + parts.joined(separator: ", \"'\", ") + ")"
    }
}
