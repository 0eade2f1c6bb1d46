import GatherHTML
import Testing

@Suite struct HTMLDocumentTests {
    @Test func recoversRealWorldHTML() throws {
        let page = try HTMLDocument(
            html: """
                <html><head><title>Caf&eacute; &amp; Bar &ndash; Menu</title>
                <script>if (a < b && c > d) { x = "<p>"; }</script></head>
                <body><p>one<p>two &nbsp;<span class="price big"> 12.50
                </span><a href="/x#frag">x</a><!-- <a href="/hidden">no</a> -->
                </body>
                """)
        #expect(try page.select(css: "title::text").first?.text == "Café & Bar – Menu")
        #expect(try page.select(css: "p").count == 2)
        #expect(try page.select(css: "span.price::text").first?.text == " 12.50\n")
        #expect(try page.select(css: "a::attr(href)").map(\.text) == ["/x#frag"])
        #expect(try page.select(xpath: "count(//p)").first?.text == "2")
    }
}
