/// CSS selectors translated to XPath 1.0, as cssselect and parsel do, so one engine (libxml2's XPath) runs both.
///
/// Supported:
///
/// | CSS | meaning |
/// |---|---|
/// | `div`, `*` | type, universal (names compared in lower case: the HTML parser lowercases them) |
/// | `#main`, `.price` | id, class (a class is one of the space-separated words of `class`); `\.` and `\31 23` escapes |
/// | `[href]`, `[type="text"]`, `[rel~="nofollow"]`, `[lang\|="en"]`, `[href^="https"]`, `[href$=".pdf"]`, `[href*="shop"]` | attribute presence and the six operators (values quoted or bare; `[type="TEXT" i]` ignores ASCII case) |
/// | `a b`, `a > b`, `a + b`, `a ~ b` | descendant, child, adjacent sibling, general sibling |
/// | `:nth-child(2)`, `:nth-child(2n+1)`, `odd`, `even`, `:first-child`, `:last-child`, `:nth-last-child(…)`, `:only-child` | structural pseudo-classes |
/// | `p:first-of-type`, `p:last-of-type`, `p:nth-of-type(…)`, `p:nth-last-of-type(…)` | the same among siblings of one element name, which must be written (XPath 1.0 cannot express `*:first-of-type`) |
/// | `:empty` | no child elements and no text |
/// | `:not(.ad)` | negation of a compound selector |
/// | `a, b` | either (in document order, each node once) |
/// | `::text`, `::attr(href)` | (parsel) the text nodes of the element, or the value of an attribute; last in a selector. `div ::text` and `div *::text` are all the text inside the div, `div::text` only its own (as in parsel) |
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

    /// What is at the current position, for messages: `'x'` or `the end`.
    var found: String { self.current.map { "'\($0)'" } ?? "the end" }

    func peek(_ offset: Int) -> Unicode.Scalar? {
        self.i + offset < self.s.count ? self.s[self.i + offset] : nil
    }

    /// Whether `::text` or `::attr()` starts here.
    var atPseudoElement: Bool { self.current == ":" && self.peek(1) == ":" }

    static func isSpace(_ c: Unicode.Scalar) -> Bool {
        c == " " || c == "\t" || c == "\n" || c == "\r" || c == "\u{0C}"
    }

    mutating func skipSpaces() -> Bool {
        let start = self.i
        while let c = self.current, Self.isSpace(c) { self.i += 1 }
        return self.i > start
    }

    // group := selector ("," selector)*
    mutating func group() throws(SelectorError) -> String {
        var parts: [String] = []
        var after: String? = nil
        while true {
            _ = self.skipSpaces()
            parts.append(try self.selector(after: after))
            // selector() returns only at the end or at a ','.
            guard self.current == "," else { break }
            self.i += 1
            after = "','"
        }
        return parts.joined(separator: " | ")
    }

    // selector := compound (combinator compound)* pseudo-element?
    mutating func selector(after: String?) throws(SelectorError) -> String {
        var path = "descendant-or-self::" + (try self.compound(after: after))
        while true {
            let spaced = self.skipSpaces()
            guard let c = self.current, c != "," else { break }
            if self.atPseudoElement {
                // `div ::text`: all the text inside the div, its own included (parsel: descendant-or-self::text()).
                if spaced { path += "/descendant-or-self::*" }
                let start = self.i
                path += try self.pseudoElement()
                let name = String(String.UnicodeScalarView(self.s[start..<self.i]))
                _ = self.skipSpaces()
                if let next = self.current, next != "," {
                    throw self.fail(
                        "'\(name)' must end the selector (found '\(next)' after it): write it last, like 'div a::text'")
                }
                break
            }
            switch c {
            case ">":
                self.i += 1
                _ = self.skipSpaces()
                path += "/" + (try self.compound(after: "'>'"))
            case "+":
                self.i += 1
                _ = self.skipSpaces()
                path += "/following-sibling::*[1]/self::" + (try self.compound(after: "'+'"))
            case "~":
                self.i += 1
                _ = self.skipSpaces()
                path += "/following-sibling::" + (try self.compound(after: "'~'"))
            default:
                guard spaced else {
                    throw self.fail(
                        "unexpected '\(c)': expected a combinator (' ', '>', '+', '~'), ',' or the end of the selector")
                }
                let step = try self.compound(after: nil)
                // parsel: `div *::text` is `div ::text` (the div's own text too), and so for ::attr().
                path +=
                    step == "*" && self.atPseudoElement ? "/descendant-or-self::*" : "/descendant-or-self::*/" + step
            }
        }
        return path
    }

    /// compound := (type | "*")? (id | class | attribute | pseudo-class)*
    ///
    /// `after` names what precedes it (for messages); `outerType` is the element name of the compound a `:not()`
    /// is in (what `:first-of-type` and the like count when this compound names none).
    mutating func compound(after: String?, outerType: String = "*") throws(SelectorError) -> String {
        var element = "*"
        var named = false
        var conditions: [String] = []
        if self.current == "*" {
            self.i += 1
            named = true
        } else if let c = self.current, Self.isNameStart(c) {
            element = try self.identifier(what: "an element name").lowercased()
            named = true
        }
        loop: while let c = self.current {
            switch c {
            case "#":
                self.i += 1
                conditions.append("@id = \(Self.literal(try self.identifier(what: "an id after '#'")))")
            case ".":
                self.i += 1
                conditions.append(Self.hasWord("@class", try self.identifier(what: "a class name after '.'")))
            case "[":
                conditions.append(try self.attribute())
            case ":" where !self.atPseudoElement:
                conditions.append(try self.pseudoClass(ofType: element == "*" ? outerType : element))
            default:
                break loop
            }
        }
        // `::text` alone, or after a combinator, applies to any element (parsel's `*::text`).
        if !named && conditions.isEmpty && !self.atPseudoElement {
            let what = after.map { "expected a selector after \($0)" } ?? "expected a selector"
            throw self.fail(
                "\(what) (an element name, *, #id, .class, [attribute] or :pseudo-class), found \(self.found)")
        }
        return element + conditions.map { "[\($0)]" }.joined()
    }

    mutating func attribute() throws(SelectorError) -> String {
        let open = self.i
        self.i += 1
        _ = self.skipSpaces()
        let name = "@" + (try self.identifier(what: "an attribute name after '['")).lowercased()
        _ = self.skipSpaces()
        guard let c = self.current else { throw self.fail("'[' is never closed: add ']'", at: open) }
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
        guard self.current != nil else { throw self.fail("'[' is never closed: add a value and ']'", at: open) }
        var value = try self.stringOrIdentifier(what: "a value (a name or a quoted string) after '\(op)'")
        _ = self.skipSpaces()
        // Selectors 4 flags: `i` compares ASCII letters case-insensitively, `s` case-sensitively (the default).
        var subject = name
        if let flag = self.current, "iIsS".unicodeScalars.contains(flag) {
            self.i += 1
            _ = self.skipSpaces()
            if flag == "i" || flag == "I" {
                subject = "translate(\(name), 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')"
                value = Self.asciiLowercased(value)
            }
        }
        guard self.current == "]" else {
            throw self.fail(
                self.current == nil
                    ? "'[' is never closed: add ']'" : "expected ']' after the value, found \(self.found)",
                at: self.current == nil ? open : self.i)
        }
        self.i += 1
        let v = Self.literal(value)
        let condition: String
        switch op {
        case "=": condition = "\(subject) = \(v)"
        case "~=":
            // A word never contains whitespace and is never empty, so such a value matches nothing (Selectors 3).
            guard !value.isEmpty, !value.unicodeScalars.contains(where: Self.isSpace) else { return "false()" }
            condition = "contains(concat(' ', normalize-space(\(subject)), ' '), \(Self.literal(" " + value + " ")))"
        case "|=": condition = "\(subject) = \(v) or starts-with(\(subject), \(Self.literal(value + "-")))"
        case "^=":
            guard !value.isEmpty else { return "false()" }
            condition = "starts-with(\(subject), \(v))"
        case "$=":
            guard !value.isEmpty else { return "false()" }
            // XPath counts characters as code points.
            let length = value.unicodeScalars.count
            condition = "substring(\(subject), string-length(\(subject)) - \(length - 1)) = \(v)"
        default:
            guard !value.isEmpty else { return "false()" }
            condition = "contains(\(subject), \(v))"
        }
        return "\(name) and (\(condition))"
    }

    /// A pseudo-class; `ofType` is the element name `:first-of-type` and the like count (`*` when none is named).
    mutating func pseudoClass(ofType: String) throws(SelectorError) -> String {
        let start = self.i
        self.i += 1
        let name = try self.identifier(what: "a pseudo-class name after ':'").lowercased()
        func typed() throws(SelectorError) -> String {
            // XPath 1.0 cannot compare a sibling's name with the context node's (cssselect refuses these too).
            guard ofType != "*" else {
                throw self.fail(
                    "':\(name)' needs an element name in the same compound, like 'p:\(name)'", at: start)
            }
            return ofType
        }
        switch name {
        case "first-child": return "count(preceding-sibling::*) = 0"
        case "last-child": return "count(following-sibling::*) = 0"
        case "only-child": return "count(preceding-sibling::*) = 0 and count(following-sibling::*) = 0"
        case "first-of-type": return "count(preceding-sibling::\(try typed())) = 0"
        case "last-of-type": return "count(following-sibling::\(try typed())) = 0"
        case "empty": return "not(*) and not(string-length())"
        case "checked": return "@checked or @selected"
        case "disabled": return "@disabled"
        case "enabled": return "not(@disabled)"
        case "nth-child", "nth-last-child", "nth-of-type", "nth-last-of-type":
            let test = name.hasSuffix("of-type") ? try typed() : "*"
            let (a, b) = try self.nth(name)
            let axis = name.contains("last") ? "following-sibling" : "preceding-sibling"
            return Self.nthCondition(a: a, b: b, position: "(count(\(axis)::\(test)) + 1)")
        case "not":
            guard self.current == "(" else {
                throw self.fail(":not needs a selector in parentheses, like :not(.ad)")
            }
            self.i += 1
            _ = self.skipSpaces()
            let inner = try self.compound(after: "':not('", outerType: ofType)
            _ = self.skipSpaces()
            guard self.current == ")" else {
                throw self.fail(
                    ":not() takes one compound selector (like :not(.ad) or :not(p.x)); expected ')', found \(self.found)"
                )
            }
            self.i += 1
            return "not(self::\(inner))"
        default:
            throw self.fail(
                "':\(name)' is not supported; use :first-child, :last-child, :only-child, :nth-child(), "
                    + ":nth-last-child(), :first-of-type, :last-of-type, :nth-of-type(), :nth-last-of-type(), "
                    + ":empty or :not()",
                at: start)
        }
    }

    /// `(an+b)`, `(odd)`, `(even)`, `(3)`, `(-n+3)`.
    mutating func nth(_ name: String) throws(SelectorError) -> (Int, Int) {
        guard self.current == "(" else {
            throw self.fail(":\(name) needs an an+b expression in parentheses, like :\(name)(2n+1)")
        }
        let open = self.i
        self.i += 1
        var text = ""
        while let c = self.current, c != ")" {
            if !Self.isSpace(c) { text.unicodeScalars.append(c) }
            self.i += 1
        }
        guard self.current == ")" else { throw self.fail("'(' is never closed: add ')'", at: open) }
        self.i += 1
        let invalid = self.fail(
            "'\(text)' is not an an+b expression; write like 2n+1, -n+3, odd, even or 3", at: open + 1)
        let lower = Self.asciiLowercased(text)
        if lower == "odd" { return (2, 1) }
        if lower == "even" { return (2, 0) }
        if let b = Int(lower) { return (0, b) }
        guard let n = lower.firstIndex(of: "n") else { throw invalid }
        let aText = String(lower[..<n])
        let a: Int? = aText.isEmpty || aText == "+" ? 1 : aText == "-" ? -1 : Int(aText)
        let bText = String(lower[lower.index(after: n)...])
        // b needs its sign: 2n+1, 2n-1 (Int accepts one leading sign and no second one).
        let b: Int? = bText.isEmpty ? 0 : bText.hasPrefix("+") || bText.hasPrefix("-") ? Int(bText) : nil
        guard let a, let b, a > Int.min else { throw invalid }  // -a must not overflow
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
        let name = try self.identifier(what: "::text or ::attr(name)").lowercased()
        switch name {
        case "text": return "/text()"
        case "attr":
            guard self.current == "(" else { throw self.fail("::attr needs a name in parentheses, like ::attr(href)") }
            self.i += 1
            _ = self.skipSpaces()
            let attribute = try self.identifier(what: "an attribute name, like ::attr(href)").lowercased()
            _ = self.skipSpaces()
            guard self.current == ")" else {
                throw self.fail("expected ')' after the attribute name, found \(self.found)")
            }
            self.i += 1
            return "/@\(attribute)"
        default:
            throw self.fail("'::\(name)' is not supported; use ::text or ::attr(name)", at: start)
        }
    }

    /// A name: name characters and escapes.
    mutating func identifier(what: String) throws(SelectorError) -> String {
        var out = ""
        while let c = self.current {
            if c == "\\" {
                out.unicodeScalars.append(try self.escape())
            } else if Self.isName(c) {
                out.unicodeScalars.append(c)
                self.i += 1
            } else {
                break
            }
        }
        guard !out.isEmpty else { throw self.fail("expected \(what), found \(self.found)") }
        return out
    }

    /// The character a backslash at the current position escapes (CSS Syntax 3, §4.3.7): 1 to 6 hex digits and
    /// one optional whitespace character (`\31 23` is `123`), or any other character as itself (`\.`).
    mutating func escape() throws(SelectorError) -> Unicode.Scalar {
        let start = self.i
        self.i += 1
        guard let c = self.current, c != "\n", c != "\r", c != "\u{0C}" else {
            throw self.fail("'\\' must be followed by the character it escapes or its hex code", at: start)
        }
        guard c.properties.isASCIIHexDigit else {
            self.i += 1
            return c
        }
        var value: UInt32 = 0
        var digits = 0
        while digits < 6, let d = self.current, d.properties.isASCIIHexDigit, let v = UInt32(String(d), radix: 16) {
            value = value * 16 + v
            digits += 1
            self.i += 1
        }
        if self.current == "\r" && self.peek(1) == "\n" {
            self.i += 2
        } else if let w = self.current, Self.isSpace(w) {
            self.i += 1
        }
        guard value != 0, let scalar = Unicode.Scalar(value) else { return "\u{FFFD}" }
        return scalar
    }

    mutating func stringOrIdentifier(what: String) throws(SelectorError) -> String {
        guard let quote = self.current, quote == "\"" || quote == "'" else { return try self.identifier(what: what) }
        let open = self.i
        self.i += 1
        var out = ""
        while let c = self.current, c != quote {
            if c == "\\" && self.peek(1) == "\n" {
                self.i += 2  // an escaped newline continues the string
            } else if c == "\\" && self.peek(1) != nil {
                out.unicodeScalars.append(try self.escape())
            } else {
                out.unicodeScalars.append(c)
                self.i += 1
            }
        }
        guard self.current == quote else { throw self.fail("the string is never closed: add \(quote)", at: open) }
        self.i += 1
        return out
    }

    static func isNameStart(_ c: Unicode.Scalar) -> Bool {
        c.properties.isAlphabetic || c == "_" || c == "-" || c.value > 0x7F || c == "\\"
    }

    static func isName(_ c: Unicode.Scalar) -> Bool {
        Self.isNameStart(c) || ("0"..."9").contains(c)
    }

    static func asciiLowercased(_ text: String) -> String {
        var out = ""
        out.unicodeScalars.append(
            contentsOf: text.unicodeScalars.map { ("A"..."Z").contains($0) ? Unicode.Scalar($0.value + 32)! : $0 })
        return out
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
