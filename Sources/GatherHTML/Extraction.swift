public import GatherCore

/// A CSS or XPath selector, compiled once and evaluated on every page.
public struct Selector: Sendable {
    /// The selector as written (`css:span.price::text`, `xpath://h1`).
    public let source: String
    let expression: XPathExpression

    /// Parses `css:SELECTOR`, `xpath:EXPRESSION`, or a bare CSS selector.
    /// - Throws: ``SelectorError`` (CSS, with its column) or ``HTMLError`` (XPath).
    public init(_ text: String) throws {
        self.source = text
        if text.hasPrefix("xpath:") {
            self.expression = try XPathExpression(String(text.dropFirst("xpath:".count)))
        } else {
            let css = text.hasPrefix("css:") ? String(text.dropFirst("css:".count)) : text
            self.expression = try XPathExpression(try CSSSelector.xpath(for: css))
        }
    }

    /// The nodes it selects in `document`, from `node`.
    public func select(in document: HTMLDocument, from node: HTMLNode? = nil) -> [HTMLNode] {
        (try? document.evaluate(self.expression, from: node)) ?? []
    }
}

/// One named field of an ``ExtractionSpec``: a selector, the first match or all of them, then an optional regex,
/// whitespace trimming and a type.
public struct ExtractionField: Sendable {
    public enum Cast: String, Sendable, CaseIterable {
        case text, integer, real, boolean
    }

    public var name: String
    public var selector: Selector
    /// All matches as a list (default: the first match, or null).
    public var all: Bool
    /// Keep the first capture group (or the whole match) of this pattern; no match gives null.
    public var pattern: String?
    /// Trim surrounding whitespace and collapse inner runs of whitespace to one space (default on).
    public var trim: Bool
    public var cast: Cast

    public init(
        name: String, selector: Selector, all: Bool = false, pattern: String? = nil, trim: Bool = true,
        cast: Cast = .text
    ) throws {
        if let pattern { _ = try Regex(pattern) }
        self.name = name
        self.selector = selector
        self.all = all
        self.pattern = pattern
        self.trim = trim
        self.cast = cast
    }

    /// `NAME=SELECTOR` as `gather crawl -e` takes it; `NAME[]=…` takes all matches.
    public init(argument: String) throws {
        guard let equals = argument.firstIndex(of: "="), equals != argument.startIndex else {
            throw HTMLError(
                "-e \(argument): write NAME=css:SELECTOR or NAME=xpath:EXPRESSION (NAME[]= for all matches)")
        }
        var name = String(argument[..<equals])
        let all = name.hasSuffix("[]")
        if all { name.removeLast(2) }
        try self.init(name: name, selector: try Selector(String(argument[argument.index(after: equals)...])), all: all)
    }

    /// The field's value on `document`, within `node`.
    public func value(in document: HTMLDocument, from node: HTMLNode? = nil) -> Value {
        let nodes = self.selector.select(in: document, from: node)
        let regex = self.pattern.flatMap { try? Regex($0) }  // once per page, not once per match
        if self.all { return .array(nodes.compactMap { self.convert($0.text, regex: regex) }) }
        return nodes.first.flatMap { self.convert($0.text, regex: regex) } ?? .null
    }

    func convert(_ raw: String, regex: Regex<AnyRegexOutput>?) -> Value? {
        var text = raw
        if self.trim { text = Self.collapse(text) }
        if let regex {
            guard let match = try? regex.firstMatch(in: text) else { return nil }
            let output = match.output
            let captured = output.count > 1 ? output[1].substring : output[0].substring
            text = captured.map(String.init) ?? ""
        }
        switch self.cast {
        case .text: return .string(text)
        case .integer: return Int64(text.filter { $0 != "," && $0 != " " }).map(Value.int)
        case .real: return Double(text.filter { $0 != "," && $0 != " " }).map(Value.double)
        case .boolean:
            switch text.lowercased() {
            case "true", "yes", "1", "on": return .bool(true)
            case "false", "no", "0", "off": return .bool(false)
            default: return nil
            }
        }
    }

    /// Trims and collapses whitespace (ASCII and no-break spaces).
    static func collapse(_ text: String) -> String {
        var out = ""
        var pendingSpace = false
        for scalar in text.unicodeScalars {
            if scalar.properties.isWhitespace {
                pendingSpace = !out.isEmpty
            } else {
                if pendingSpace { out.append(" ") }
                pendingSpace = false
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }
}

/// What to take from a page: named fields, once per page or once per element a `list` selector matches.
///
/// ```swift
/// let spec = ExtractionSpec(fields: [
///     try ExtractionField(argument: "title=css:title::text"),
///     try ExtractionField(argument: "price=css:span.price::text"),
/// ])
/// let records = spec.records(in: page)    // [["title": "…", "price": "…"]]
/// ```
public struct ExtractionSpec: Sendable {
    public var fields: [ExtractionField]
    /// One record per element this selects (fields are then relative to it); default: one record per page.
    public var list: Selector?

    public init(fields: [ExtractionField], list: Selector? = nil) {
        self.fields = fields
        self.list = list
    }

    /// The records of `document`.
    public func records(in document: HTMLDocument) -> [Record] {
        let scopes: [HTMLNode?] = self.list.map { $0.select(in: document).map { Optional($0) } } ?? [nil]
        return scopes.map { scope in
            var record = Record()
            for field in self.fields { record[field.name] = field.value(in: document, from: scope) }
            return record
        }
    }
}
