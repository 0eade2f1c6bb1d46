import GatherHTML
import Testing

/// The page every selector case runs against: every element has a unique `id`, so a case's result is a list of ids.
private let fixture = """
    <!DOCTYPE html>
    <html id="root" lang="en">
    <head id="head"><meta id="meta" charset="utf-8"><title id="title">Fixture</title></head>
    <body id="body">
    <div id="main" class="page main" data-role="content">
    <h1 id="h1" class="title">Shop</h1>
    <p id="intro" class="lead text" lang="en-GB" title='say "hi"'>Welcome to the <b id="b1">shop</b>.</p>
    <p id="p2" class="text" lang="en">Second</p>
    <p id="p3" lang="english" data-note="it's here">Third</p>
    <ul id="items" class="items">
    <li id="li1" class="item a">One <span id="s1" class="price">1.00</span></li>
    <li id="li2" class="item">Two <span id="s2" class="price-old">3.00</span> <span id="s3" class="sale price">2.00</span></li>
    <li id="li3" class="item\tad a">Three</li>
    <li id="li4" class="item"><a id="a1" href="https://shop.example/docs/x.pdf" rel="nofollow noopener">PDF</a></li>
    <li id="li5" class="item  a"></li>
    </ul>
    <ol id="ol"><li id="only">Only</li></ol>
    <h2 id="h2">Section</h2>
    <p id="p4">After</p>
    <span id="sp">between</span>
    <p id="p5">Later</p>
    <div id="nest"><div id="nest2"><p id="deep">Deep <em id="em1">text</em></p></div></div>
    </div>
    <div id="side" class="side">
    <a id="a2" href="/shop/cart" class="nav" title="it's a &quot;cart&quot;">Cart</a>
    <a id="a3" href="http://other.example/" class="nav external" rel="external">Other</a>
    <em id="e2" class="größe">big</em>
    <em id="e3" class="価格" title="cafe\u{301}">price</em>
    <span id="a.b">dotted</span>
    <span id="123">numeric</span>
    <span id="x:y">colon</span>
    <input id="q" type="text" name="q" value="a b" disabled>
    <div id="empty"></div>
    <div id="ws"> </div>
    <div id="comment"><!-- note --></div>
    <form id="f"><input id="c1" type="checkbox" checked><select id="sel"><option id="o1">1</option><option id="o2" selected>2</option></select></form>
    </div>
    </body>
    </html>
    """

/// Every element of the fixture, in document order.
private let allIDs = [
    "root", "head", "meta", "title", "body", "main", "h1", "intro", "b1", "p2", "p3", "items", "li1", "s1", "li2",
    "s2", "s3", "li3", "li4", "a1", "li5", "ol", "only", "h2", "p4", "sp", "p5", "nest", "nest2", "deep", "em1",
    "side", "a2", "a3", "e2", "e3", "a.b", "123", "x:y", "q", "empty", "ws", "comment", "f", "c1", "sel", "o1", "o2",
]

/// A selector and what it must select in the fixture, in document order: element ids, or for `::text` and
/// `::attr()` the strings.
struct SelectorCase: Sendable, CustomTestStringConvertible {
    let css: String
    let expected: [String]
    init(_ css: String, _ expected: [String]) {
        self.css = css
        self.expected = expected
    }
    var testDescription: String { self.css }
}

private let selectorCases: [SelectorCase] = [
    // Type and universal selectors (names compared in lower case).
    SelectorCase("p", ["intro", "p2", "p3", "p4", "p5", "deep"]),
    SelectorCase("P", ["intro", "p2", "p3", "p4", "p5", "deep"]),
    SelectorCase("DIV", ["main", "nest", "nest2", "side", "empty", "ws", "comment"]),
    SelectorCase("LI.item", ["li1", "li2", "li3", "li4", "li5"]),
    SelectorCase("ul", ["items"]),
    SelectorCase("*", allIDs),
    SelectorCase("#side > *", ["a2", "a3", "e2", "e3", "a.b", "123", "x:y", "q", "empty", "ws", "comment", "f"]),
    SelectorCase("li *", ["s1", "s2", "s3", "a1"]),
    // Ids (case-sensitive, escapes).
    SelectorCase("#p2", ["p2"]),
    SelectorCase("p#p2", ["p2"]),
    SelectorCase("div#p2", []),
    SelectorCase("#P2", []),
    SelectorCase("#missing", []),
    SelectorCase(#"#a\.b"#, ["a.b"]),
    SelectorCase(#"#\31 23"#, ["123"]),
    SelectorCase(#"#x\:y"#, ["x:y"]),
    SelectorCase(#"#\78 \3A y"#, ["x:y"]),
    // Classes: one of the whitespace-separated words, case-sensitive.
    SelectorCase(".price", ["s1", "s3"]),
    SelectorCase(".price-old", ["s2"]),
    SelectorCase(".PRICE", []),
    SelectorCase("span.price.sale", ["s3"]),
    SelectorCase(".lead.text", ["intro"]),
    SelectorCase(".a", ["li1", "li3", "li5"]),
    SelectorCase(".ad", ["li3"]),
    SelectorCase(".item.ad", ["li3"]),
    SelectorCase(".größe", ["e2"]),
    SelectorCase(".価格", ["e3"]),
    SelectorCase(#".gr\f6 \DF e"#, ["e2"]),
    // Attributes.
    SelectorCase("[href]", ["a1", "a2", "a3"]),
    SelectorCase("a[rel]", ["a1", "a3"]),
    SelectorCase("[disabled]", ["q"]),
    SelectorCase("[type=\"text\"]", ["q"]),
    SelectorCase("[type=text]", ["q"]),
    SelectorCase("[ lang = \"en\" ]", ["root", "p2"]),
    SelectorCase("[value=\"a b\"]", ["q"]),
    SelectorCase("[title='say \"hi\"']", ["intro"]),
    SelectorCase(#"[title="it's a \"cart\""]"#, ["a2"]),
    SelectorCase("[data-note=\"it's here\"]", ["p3"]),
    SelectorCase("[class=\"item\"]", ["li2", "li4"]),
    SelectorCase("[DATA-ROLE=content]", ["main"]),
    SelectorCase("[data-role=\"Content\"]", []),
    SelectorCase("[data-role=\"Content\" i]", ["main"]),
    SelectorCase("[data-role=\"content\" s]", ["main"]),
    SelectorCase("[rel~=nofollow]", ["a1"]),
    SelectorCase("[rel~=\"noopener\"]", ["a1"]),
    SelectorCase("[rel~=\"nofollow noopener\"]", []),
    SelectorCase("[rel~=follow]", []),
    SelectorCase("[class~=a]", ["li1", "li3", "li5"]),
    SelectorCase("[lang|=en]", ["root", "intro", "p2"]),
    SelectorCase("[lang=en]", ["root", "p2"]),
    SelectorCase("[href^=\"https\"]", ["a1"]),
    SelectorCase("[href^=\"/\"]", ["a2"]),
    SelectorCase("[href^=\"\"]", []),
    SelectorCase("[href$=\".pdf\"]", ["a1"]),
    SelectorCase("[href$=\"\"]", []),
    SelectorCase("[title$=\"e\u{301}\"]", ["e3"]),
    SelectorCase("[id$=\"1\"]", ["h1", "b1", "li1", "s1", "a1", "em1", "c1", "o1"]),
    SelectorCase("[href*=\"shop\"]", ["a1", "a2"]),
    SelectorCase("[href*=\"\"]", []),
    SelectorCase("[class*=price]", ["s1", "s2", "s3"]),
    // Combinators.
    SelectorCase("#main p", ["intro", "p2", "p3", "p4", "p5", "deep"]),
    SelectorCase("#main > p", ["intro", "p2", "p3", "p4", "p5"]),
    SelectorCase("#main>p+p", ["p2", "p3"]),
    SelectorCase("ul > li", ["li1", "li2", "li3", "li4", "li5"]),
    SelectorCase("ul   >   li.ad", ["li3"]),
    SelectorCase("li > span", ["s1", "s2", "s3"]),
    SelectorCase("div div", ["nest", "nest2", "empty", "ws", "comment"]),
    SelectorCase("div > div > p", ["deep"]),
    SelectorCase("#main div p em", ["em1"]),
    SelectorCase("body > div > ul > li.a > span", ["s1"]),
    SelectorCase("h2 + p", ["p4"]),
    SelectorCase("h2 + span", []),
    SelectorCase("p + p", ["p2", "p3"]),
    SelectorCase("span + span", ["s3", "123", "x:y"]),
    SelectorCase("a + em", ["e2"]),
    SelectorCase("h2 ~ p", ["p4", "p5"]),
    SelectorCase("h1 ~ p", ["intro", "p2", "p3", "p4", "p5"]),
    SelectorCase("h2 ~ *", ["p4", "sp", "p5", "nest"]),
    SelectorCase("p ~ span", ["sp"]),
    SelectorCase("#items li:first-child + li ~ li", ["li3", "li4", "li5"]),
    // Structural pseudo-classes.
    SelectorCase("li:first-child", ["li1", "only"]),
    SelectorCase("li:last-child", ["li5", "only"]),
    SelectorCase("li:only-child", ["only"]),
    SelectorCase(":only-child", ["root", "b1", "s1", "a1", "only", "nest2", "deep", "em1"]),
    SelectorCase("#main > :first-child", ["h1"]),
    SelectorCase("#side > :last-child", ["f"]),
    SelectorCase("li:nth-child(2)", ["li2"]),
    SelectorCase("li:nth-child(2n+1)", ["li1", "li3", "li5", "only"]),
    SelectorCase("li:NTH-CHILD( 2n + 1 )", ["li1", "li3", "li5", "only"]),
    SelectorCase("li:nth-child(odd)", ["li1", "li3", "li5", "only"]),
    SelectorCase("li:nth-child(even)", ["li2", "li4"]),
    SelectorCase("li:nth-child(2n)", ["li2", "li4"]),
    SelectorCase("li:nth-child(-n+2)", ["li1", "li2", "only"]),
    SelectorCase("li:nth-child(n+4)", ["li4", "li5"]),
    SelectorCase("li:nth-child(3n-1)", ["li2", "li5"]),
    SelectorCase("li:nth-last-child(1)", ["li5", "only"]),
    SelectorCase("li:nth-last-child(2)", ["li4"]),
    SelectorCase("li:nth-last-child(-n+2)", ["li4", "li5", "only"]),
    SelectorCase("#main > p:first-of-type", ["intro"]),
    SelectorCase("#main > p:last-of-type", ["p5"]),
    SelectorCase("#main > p:nth-of-type(4)", ["p4"]),
    SelectorCase("p:nth-of-type(2n)", ["p2", "p4"]),
    SelectorCase("p:nth-last-of-type(1)", ["p5", "deep"]),
    SelectorCase("span:first-of-type", ["s1", "s2", "sp", "a.b"]),
    SelectorCase("span:last-of-type", ["s1", "s3", "sp", "x:y"]),
    SelectorCase("em:first-of-type", ["em1", "e2"]),
    SelectorCase("div:empty", ["empty", "comment"]),
    SelectorCase(":empty", ["meta", "li5", "q", "empty", "comment", "c1"]),
    // Negation.
    SelectorCase("li:not(.a)", ["li2", "li4", "only"]),
    SelectorCase("#items > :not(.a)", ["li2", "li4"]),
    SelectorCase("p:not([lang])", ["p4", "p5", "deep"]),
    SelectorCase("li:not(:first-child)", ["li2", "li3", "li4", "li5"]),
    SelectorCase("p:not(:first-of-type)", ["p2", "p3", "p4", "p5"]),
    SelectorCase("a:not(.nav)", ["a1"]),
    SelectorCase("#main > :not(p):not(div)", ["h1", "items", "ol", "h2", "sp"]),
    SelectorCase("li:not(.a):not(.item)", ["only"]),
    SelectorCase("li span:not(#s1)", ["s2", "s3"]),
    SelectorCase(":not(*)", []),
    // Groups: document order, each element once.
    SelectorCase("h2, h1", ["h1", "h2"]),
    SelectorCase("#p5,#p4", ["p4", "p5"]),
    SelectorCase("p, #intro, .lead", ["intro", "p2", "p3", "p4", "p5", "deep"]),
    SelectorCase("li.a, li:first-child", ["li1", "li3", "li5", "only"]),
    SelectorCase("#side > a, #main > h1, #a1", ["h1", "a1", "a2", "a3"]),
    // Pseudo-elements (parsel): text nodes and attribute values.
    SelectorCase("title::text", ["Fixture"]),
    SelectorCase("#p2::text", ["Second"]),
    SelectorCase("#intro::text", ["Welcome to the ", "."]),
    SelectorCase("#intro ::text", ["Welcome to the ", "shop", "."]),
    SelectorCase("#intro *::text", ["Welcome to the ", "shop", "."]),
    SelectorCase("#intro > *::text", ["shop"]),
    SelectorCase("#intro b::text", ["shop"]),
    SelectorCase("#intro > ::text", ["shop"]),
    SelectorCase("#deep ::text", ["Deep ", "text"]),
    SelectorCase("#ws::text", [" "]),
    SelectorCase("#empty::text", []),
    SelectorCase("#main > p:nth-child(3)::text", ["Second"]),
    SelectorCase("li span.price::text, h1::text", ["Shop", "1.00", "2.00"]),
    SelectorCase("a::attr(href)", ["https://shop.example/docs/x.pdf", "/shop/cart", "http://other.example/"]),
    SelectorCase("#a1::ATTR(REL)", ["nofollow noopener"]),
    SelectorCase("li::attr(class)", ["item a", "item", "item\tad a", "item", "item  a"]),
    SelectorCase("#side > a::attr(title)", ["it's a \"cart\""]),
    SelectorCase("::attr(rel)", ["nofollow noopener", "external"]),
    SelectorCase("#side > :empty::attr(id)", ["q", "empty", "comment"]),
]

/// A selector that must be refused: the 1-based column of the problem and a fragment of the message.
struct InvalidSelectorCase: Sendable, CustomTestStringConvertible {
    let css: String
    let column: Int
    let message: String
    init(_ css: String, column: Int, _ message: String) {
        self.css = css
        self.column = column
        self.message = message
    }
    var testDescription: String { "'\(self.css)'" }
}

private let invalidCases: [InvalidSelectorCase] = [
    InvalidSelectorCase("", column: 1, "expected a selector (an element name"),
    InvalidSelectorCase("div >", column: 6, "expected a selector after '>'"),
    InvalidSelectorCase("div > > p", column: 7, "expected a selector after '>'"),
    InvalidSelectorCase("a +", column: 4, "expected a selector after '+'"),
    InvalidSelectorCase("div,,p", column: 5, "expected a selector after ','"),
    InvalidSelectorCase("div,", column: 5, "expected a selector after ','"),
    InvalidSelectorCase("p)", column: 2, "expected a combinator"),
    InvalidSelectorCase(".", column: 2, "expected a class name after '.'"),
    InvalidSelectorCase("#", column: 2, "expected an id after '#'"),
    InvalidSelectorCase(#"div\"#, column: 4, "'\\' must be followed by"),
    InvalidSelectorCase("a[href", column: 2, "'[' is never closed: add ']'"),
    InvalidSelectorCase("a[href=", column: 2, "'[' is never closed"),
    InvalidSelectorCase("a[href=x", column: 2, "'[' is never closed: add ']'"),
    InvalidSelectorCase("a[href=]", column: 8, "expected a value"),
    InvalidSelectorCase("a[href=\"x]", column: 8, "the string is never closed: add \""),
    InvalidSelectorCase("[=\"x\"]", column: 2, "expected an attribute name"),
    InvalidSelectorCase("[a~]", column: 3, "an operator (=, ~=, |=, ^=, $=, *=)"),
    InvalidSelectorCase("[a=b c]", column: 6, "expected ']' after the value"),
    InvalidSelectorCase(":hover", column: 1, "':hover' is not supported; use :first-child"),
    InvalidSelectorCase("a:visited", column: 2, "':visited' is not supported"),
    InvalidSelectorCase(":nth-child(x)", column: 12, "write like 2n+1, -n+3, odd, even or 3"),
    InvalidSelectorCase("li:nth-child(2n+)", column: 14, "not an an+b expression"),
    InvalidSelectorCase("li:nth-child", column: 13, "like :nth-child(2n+1)"),
    InvalidSelectorCase("li:nth-child(-9223372036854775808n)", column: 14, "not an an+b expression"),
    InvalidSelectorCase("li:nth-child(2", column: 13, "'(' is never closed: add ')'"),
    InvalidSelectorCase("*:first-of-type", column: 2, "like 'p:first-of-type'"),
    InvalidSelectorCase(".x:nth-of-type(2)", column: 3, "needs an element name"),
    InvalidSelectorCase(":not(p q)", column: 8, ":not() takes one compound selector"),
    InvalidSelectorCase("a:not(.x", column: 9, "expected ')'"),
    InvalidSelectorCase("a:not", column: 6, "like :not(.ad)"),
    InvalidSelectorCase("p::foo", column: 2, "use ::text or ::attr(name)"),
    InvalidSelectorCase("a::text b", column: 9, "write it last"),
    InvalidSelectorCase("a::attr", column: 8, "like ::attr(href)"),
    InvalidSelectorCase("a::attr(href", column: 13, "expected ')' after the attribute name"),
]

@Suite struct CSSSelectorTests {
    @Test func fixtureGivesEveryElementAUniqueID() throws {
        let page = try HTMLDocument(html: fixture)
        let ids = try page.select(xpath: "//*").map { $0.attribute("id") ?? "<\($0.name) without an id>" }
        #expect(ids == allIDs)
    }

    @Test(arguments: selectorCases)
    func selects(_ selectorCase: SelectorCase) throws {
        let page = try HTMLDocument(html: fixture)
        let found = try page.select(css: selectorCase.css).map { node in
            node.isElement ? node.attribute("id") ?? "<\(node.name) without an id>" : node.text
        }
        let xpath = try CSSSelector.xpath(for: selectorCase.css)
        #expect(found == selectorCase.expected, "XPath: \(xpath)")
    }

    @Test(arguments: invalidCases)
    func refuses(_ invalid: InvalidSelectorCase) {
        let error = #expect(throws: SelectorError.self) { try CSSSelector.xpath(for: invalid.css) }
        guard let error else { return }
        #expect(error.column == invalid.column, "\(error)")
        #expect(error.message.contains(invalid.message), "\(error)")
        #expect(error.selector == invalid.css)
    }

    @Test func textAndAttributesFromAnElement() throws {
        // parsel's `item.css("::text")`: the selector runs relative to a node.
        let page = try HTMLDocument(html: fixture)
        let item = try #require(try page.select(css: "#li2").first)
        #expect(try page.select(css: "::text", from: item).map(\.text) == ["Two ", "3.00", " ", "2.00"])
        #expect(try page.select(css: "span::attr(class)", from: item).map(\.text) == ["price-old", "sale price"])
    }
}
