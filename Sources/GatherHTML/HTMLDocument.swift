import CLibXML2
import GatherCore

/// An HTML page parsed by libxml2's HTML parser (the parser lxml and Nokogiri build on), queried with XPath 1.0
/// or CSS selectors.
///
/// Real-world HTML is recovered, never rejected: unclosed tags, stray end tags, entities (`&amp;`, `&ndash;`,
/// `&nbsp;`), `<script>` bodies with `<` and `&&`, and comments. The character set is chosen as a browser does:
///
/// 1. a byte-order mark (UTF-8, UTF-16 LE/BE);
/// 2. the `charset` of the HTTP `Content-Type`;
/// 3. a `<meta charset>` or `<meta http-equiv="Content-Type" content="…; charset=…">` in the first 1,024 bytes;
/// 4. UTF-8 when the bytes are valid UTF-8, else windows-1252.
///
/// A declared charset libxml2 does not know is skipped (the next rule decides); bytes that are invalid in the
/// declared charset do not stop the parse.
///
/// ```swift
/// let page = try HTMLDocument(bytes: body, url: "https://shop.example/p/1", contentType: "text/html")
/// let title = try page.select(css: "title::text").first?.text
/// ```
///
/// A document is used by one task at a time (it is not `Sendable`); nodes are valid while their document lives.
public final class HTMLDocument {
    /// The URL the page came from (relative links resolve against ``baseURL``).
    public let url: String
    /// The character set the bytes were read as.
    public let encoding: String
    let document: htmlDocPtr

    /// Parses `bytes` fetched from `url`, with the response's `Content-Type` if known.
    /// - Throws: ``HTMLError`` when libxml2 cannot build a document at all (it recovers from everything else).
    public init(bytes: [UInt8], url: String, contentType: String? = nil) throws(HTMLError) {
        LibXML2.initialize()
        self.url = url
        let encoding = Charset.detect(bytes: bytes, contentType: contentType)
        self.encoding = encoding
        let options = Int32(
            HTML_PARSE_RECOVER.rawValue | HTML_PARSE_NOERROR.rawValue | HTML_PARSE_NOWARNING.rawValue
                | HTML_PARSE_NONET.rawValue | HTML_PARSE_COMPACT.rawValue)
        let input = bytes.isEmpty ? [UInt8(ascii: " ")] : bytes
        let parsed: htmlDocPtr? = input.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { chars in
                htmlReadMemory(chars.baseAddress, Int32(chars.count), url, encoding, options)
            }
        }
        guard let parsed else { throw HTMLError("\(url): libxml2 could not parse the page as HTML") }
        self.document = parsed
    }

    /// Parses HTML text (tests, and pages already decoded).
    public convenience init(html: String, url: String = "about:blank") throws(HTMLError) {
        try self.init(bytes: Array(html.utf8), url: url, contentType: "text/html; charset=utf-8")
    }

    deinit {
        xmlFreeDoc(self.document)
    }

    /// The document node.
    public var root: HTMLNode { HTMLNode(UnsafeMutableRawPointer(self.document).assumingMemoryBound(to: xmlNode.self)) }

    /// `<base href>`, resolved against the page URL; the page URL when there is none.
    public var baseURL: String {
        guard let href = try? self.select(xpath: "//base[@href][1]/@href").first?.text, !href.isEmpty else {
            return self.url
        }
        return URLEncoding.resolve(href, against: self.url)
    }

    /// The nodes `xpath` selects, from `node` (default: the document). Element, text and attribute nodes are
    /// returned as nodes; an expression that yields a string, number or boolean returns one text node-like value
    /// via ``HTMLNode/text``.
    /// - Throws: ``HTMLError`` for an invalid expression.
    public func select(xpath: String, from node: HTMLNode? = nil) throws(HTMLError) -> [HTMLNode] {
        try self.evaluate(XPathExpression(xpath), from: node)
    }

    /// The nodes a CSS selector selects (translated to XPath by ``CSSSelector``).
    /// - Throws: ``SelectorError`` for an invalid selector (with its position).
    public func select(css: String, from node: HTMLNode? = nil) throws -> [HTMLNode] {
        try self.evaluate(XPathExpression(try CSSSelector.xpath(for: css)), from: node)
    }

    /// Evaluates a compiled expression.
    public func evaluate(_ expression: XPathExpression, from node: HTMLNode? = nil) throws(HTMLError) -> [HTMLNode] {
        guard let context = xmlXPathNewContext(self.document) else { throw HTMLError("libxml2: out of memory") }
        defer { xmlXPathFreeContext(context) }
        context.pointee.node = node?.pointer ?? self.root.pointer
        guard let result = xmlXPathCompiledEval(expression.compiled, context) else {
            throw HTMLError("the XPath expression \(expression.source) cannot be evaluated here")
        }
        defer { xmlXPathFreeObject(result) }
        switch result.pointee.type {
        case XPATH_NODESET:
            guard let set = result.pointee.nodesetval, set.pointee.nodeNr > 0 else { return [] }
            return (0..<Int(set.pointee.nodeNr)).compactMap { index in
                set.pointee.nodeTab[index].map(HTMLNode.init)
            }
        case XPATH_STRING:
            return [HTMLNode(value: result.pointee.stringval.map { String(cString: $0) } ?? "")]
        case XPATH_NUMBER:
            let number = result.pointee.floatval
            let text = number == number.rounded() && abs(number) < 1e15 ? String(Int64(number)) : "\(number)"
            return [HTMLNode(value: text)]
        case XPATH_BOOLEAN:
            return [HTMLNode(value: result.pointee.boolval != 0 ? "true" : "false")]
        default:
            return []
        }
    }
}

/// A compiled XPath 1.0 expression (compile once, evaluate on every page).
public final class XPathExpression: @unchecked Sendable {
    // Safe to share: a compiled xmlXPathCompExpr is immutable after compilation, and libxml2 evaluates it
    // against a per-call context (xmlXPathCompiledEval never writes to the compiled expression).
    let compiled: xmlXPathCompExprPtr
    /// The expression as written.
    public let source: String

    /// Compiles `source`.
    /// - Throws: ``HTMLError`` naming the expression when it is not valid XPath 1.0.
    public init(_ source: String) throws(HTMLError) {
        LibXML2.initialize()
        guard let compiled = xmlXPathCompile(source) else {
            throw HTMLError("'\(source)' is not a valid XPath 1.0 expression")
        }
        self.compiled = compiled
        self.source = source
    }

    deinit {
        xmlXPathFreeCompExpr(self.compiled)
    }
}

/// A node of an ``HTMLDocument``: an element, text, attribute, or a computed value of an XPath expression.
public struct HTMLNode {
    let pointer: xmlNodePtr?
    private let value: String?

    init(_ pointer: xmlNodePtr) {
        self.pointer = pointer
        self.value = nil
    }

    init(value: String) {
        self.pointer = nil
        self.value = value
    }

    /// The element or attribute name (`a`, `href`); `#text` for text; empty for a computed value.
    public var name: String {
        guard let pointer else { return "" }
        if pointer.pointee.type == XML_TEXT_NODE { return "#text" }
        return pointer.pointee.name.map { String(cString: $0) } ?? ""
    }

    /// The node's text: all descendant text of an element (entities decoded), an attribute's value, a text
    /// node's content, or the computed value.
    public var text: String {
        if let value { return value }
        guard let pointer, let content = xmlNodeGetContent(pointer) else { return "" }
        defer { gather_xml_free(content) }
        return String(cString: content)
    }

    /// The value of attribute `name` of an element.
    public func attribute(_ name: String) -> String? {
        guard let pointer, pointer.pointee.type == XML_ELEMENT_NODE, let value = xmlGetProp(pointer, name) else {
            return nil
        }
        defer { gather_xml_free(value) }
        return String(cString: value)
    }

    /// `true` for an element node.
    public var isElement: Bool { self.pointer?.pointee.type == XML_ELEMENT_NODE }
}

/// An HTML parsing or XPath failure.
public struct HTMLError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { self.message }
}

/// libxml2's process-wide set-up: initialized once; its error messages are silenced (Gather reports errors
/// itself, with the page or expression that caused them).
enum LibXML2 {
    static let ready: Bool = {
        xmlInitParser()
        return true
    }()

    /// Initializes libxml2 once, and silences its error output on the calling thread (libxml2 keeps the error
    /// handler per thread, and tasks run on any thread of the pool).
    static func initialize() {
        _ = Self.ready
        xmlSetStructuredErrorFunc(nil) { _, _ in }
    }
}
