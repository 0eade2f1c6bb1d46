import GatherHTML
import Testing

/// The character set an ``HTMLDocument`` reads bytes as: BOM, then the Content-Type charset, then a `<meta>` in
/// the first 1,024 bytes, then UTF-8 if the bytes are valid UTF-8, else windows-1252.
@Suite struct CharsetTests {
    /// `<p id="x">` + `body` + `</p>` with `head` before it, as bytes.
    static func page(head: String = "", _ body: [UInt8], tail: String = "") -> [UInt8] {
        Array("<html><head>\(head)</head><body><p id=\"x\">".utf8) + body + Array("</p>\(tail)</body></html>".utf8)
    }

    static func text(_ document: HTMLDocument, _ css: String = "#x") throws -> String? {
        try document.select(css: css).first?.text
    }

    /// "Цена" in windows-1251.
    static let cyrillic1251: [UInt8] = [0xD6, 0xE5, 0xED, 0xE0]

    @Test func utf8ByteOrderMarkBeatsTheHeader() throws {
        let bytes = [0xEF, 0xBB, 0xBF] + Self.page(Array("café".utf8))
        let document = try HTMLDocument(
            bytes: bytes, url: "https://x.test/", contentType: "text/html; charset=iso-8859-1")
        #expect(document.encoding == "UTF-8")
        #expect(try Self.text(document) == "café")
        #expect(try document.select(xpath: "string(/html/body)").first?.text.contains("\u{FEFF}") == false)
    }

    @Test func utf16LittleEndianByteOrderMark() throws {
        let html = "<html><body><p id=\"x\">café € 😀</p></body></html>"
        let bytes: [UInt8] = [0xFF, 0xFE] + html.utf16.flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] }
        let document = try HTMLDocument(bytes: bytes, url: "https://x.test/")
        #expect(document.encoding == "UTF-16LE")
        #expect(try Self.text(document) == "café € 😀")
    }

    @Test func utf16BigEndianByteOrderMark() throws {
        let html = "<html><body><p id=\"x\">café €</p></body></html>"
        let bytes: [UInt8] = [0xFE, 0xFF] + html.utf16.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xFF)] }
        let document = try HTMLDocument(bytes: bytes, url: "https://x.test/", contentType: "text/html; charset=utf-8")
        #expect(document.encoding == "UTF-16BE")
        #expect(try Self.text(document) == "café €")
    }

    @Test(arguments: [
        "text/html; charset=iso-8859-1", "text/html;charset=ISO-8859-1", "text/html; charset=\"iso-8859-1\"",
        "text/html; charset = 'latin1'; foo=bar",
    ])
    func headerCharset(contentType: String) throws {
        let document = try HTMLDocument(
            bytes: Self.page([0x63, 0x61, 0x66, 0xE9]), url: "https://x.test/", contentType: contentType)
        #expect(try Self.text(document) == "café")
        // Browsers read the Latin-1 and ASCII labels as windows-1252 (WHATWG Encoding).
        #expect(document.encoding == "windows-1252")
    }

    @Test func latin1LabelDecodesWindows1252Punctuation() throws {
        // Pages labelled iso-8859-1 use 0x80–0x9F for curly quotes and dashes, as browsers read them.
        let document = try HTMLDocument(
            bytes: Self.page([0x93, 0x68, 0x69, 0x94, 0x20, 0x96, 0x20, 0x80]), url: "https://x.test/",
            contentType: "text/html; charset=ISO-8859-1")
        #expect(try Self.text(document) == "\u{201C}hi\u{201D} \u{2013} €")
    }

    @Test func otherLabelsBrowsersReadAsASuperset() throws {
        // iso-8859-9 is read as windows-1254 (0x80 is €), gb2312 as GBK (喆 is not in GB2312).
        let turkish = try HTMLDocument(
            bytes: Self.page([0x80, 0x20, 0xFD]), url: "https://x.test/", contentType: "text/html; charset=iso-8859-9")
        #expect(turkish.encoding == "windows-1254")
        #expect(try Self.text(turkish) == "€ ı")
        let chinese = try HTMLDocument(
            bytes: Self.page(head: "<meta charset=\"gb2312\">", [0xBC, 0xDB, 0xB8, 0xF1, 0x86, 0xB4]),
            url: "https://x.test/")
        #expect(chinese.encoding == "GBK")
        #expect(try Self.text(chinese) == "价格喆")
    }

    @Test func headerCharsetNotInLatin1() throws {
        let document = try HTMLDocument(
            bytes: Self.page(Self.cyrillic1251), url: "https://x.test/", contentType: "text/html; charset=windows-1251")
        #expect(document.encoding == "windows-1251")
        #expect(try Self.text(document) == "Цена")
    }

    @Test func metaCharset() throws {
        let document = try HTMLDocument(
            bytes: Self.page(head: "<meta charset=\"windows-1251\">", Self.cyrillic1251), url: "https://x.test/")
        #expect(document.encoding == "windows-1251")
        #expect(try Self.text(document) == "Цена")
    }

    @Test func bareMetaCharsetInUpperCase() throws {
        let document = try HTMLDocument(
            bytes: Self.page(head: "<META CHARSET=Windows-1251>", Self.cyrillic1251), url: "https://x.test/")
        #expect(document.encoding == "windows-1251")
        #expect(try Self.text(document) == "Цена")
    }

    @Test func metaHTTPEquiv() throws {
        let head = "<meta http-equiv=\"Content-Type\" content=\"text/html; charset=windows-1251\">"
        let document = try HTMLDocument(bytes: Self.page(head: head, Self.cyrillic1251), url: "https://x.test/")
        #expect(document.encoding == "windows-1251")
        #expect(try Self.text(document) == "Цена")
    }

    @Test func headerBeatsMeta() throws {
        // The bytes are valid UTF-8 and the meta says UTF-8, but the header says Latin-1: é's two bytes are Ã©.
        let document = try HTMLDocument(
            bytes: Self.page(head: "<meta charset=\"utf-8\">", Array("café".utf8)), url: "https://x.test/",
            contentType: "text/html; charset=iso-8859-1")
        #expect(document.encoding == "windows-1252")
        #expect(try Self.text(document) == "cafÃ©")
    }

    @Test func unknownHeaderCharsetFallsBackToMeta() throws {
        let document = try HTMLDocument(
            bytes: Self.page(head: "<meta charset=\"windows-1251\">", Self.cyrillic1251), url: "https://x.test/",
            contentType: "text/html; charset=utf-9000")
        #expect(document.encoding == "windows-1251")
        #expect(try Self.text(document) == "Цена")
    }

    @Test func unknownCharsetsFallBackToTheBytes() throws {
        let utf8 = try HTMLDocument(
            bytes: Self.page(head: "<meta charset=\"utf-9000\">", Array("café".utf8)), url: "https://x.test/",
            contentType: "text/html; charset=utf-9000")
        #expect(utf8.encoding == "UTF-8")
        #expect(try Self.text(utf8) == "café")
        let latin = try HTMLDocument(
            bytes: Self.page(head: "<meta charset=\"utf-9000\">", [0x63, 0x61, 0x66, 0xE9]), url: "https://x.test/",
            contentType: "text/html; charset=utf-9000")
        #expect(latin.encoding == "windows-1252")
        #expect(try Self.text(latin) == "café")
    }

    @Test func undeclaredValidUTF8() throws {
        let document = try HTMLDocument(bytes: Self.page(Array("café – 価格".utf8)), url: "https://x.test/")
        #expect(document.encoding == "UTF-8")
        #expect(try Self.text(document) == "café – 価格")
    }

    @Test func undeclaredInvalidUTF8IsWindows1252() throws {
        let document = try HTMLDocument(
            bytes: Self.page([0x93, 0x71, 0x75, 0x6F, 0x74, 0x65, 0x64, 0x94]), url: "https://x.test/")
        #expect(document.encoding == "windows-1252")
        #expect(try Self.text(document) == "\u{201C}quoted\u{201D}")
    }

    @Test func declaredUTF8WithAnInvalidByteStillParsesTheRest() throws {
        let bytes = Self.page(
            Array("ok ".utf8) + [0xFF, 0xC3] + Array(" here".utf8),
            tail: "<p id=\"later\">later é</p><div id=\"end\"><a href=\"/next\">next</a></div>")
        let document = try HTMLDocument(bytes: bytes, url: "https://x.test/", contentType: "text/html; charset=utf-8")
        #expect(document.encoding == "utf-8")
        #expect(try Self.text(document)?.hasPrefix("ok ") == true)
        #expect(try Self.text(document)?.hasSuffix(" here") == true)
        #expect(try Self.text(document, "#later") == "later é")
        #expect(try document.select(css: "#end a::attr(href)").map(\.text) == ["/next"])
    }

    @Test func undefinedWindows1252BytesDoNotStopTheParse() throws {
        // 0x81, 0x8D, 0x8F, 0x90 and 0x9D have no character in windows-1252.
        let bytes = Self.page([0x61, 0x81, 0x62, 0x9D, 0x63, 0x93], tail: "<p id=\"later\">later</p>")
        let document = try HTMLDocument(bytes: bytes, url: "https://x.test/")
        #expect(document.encoding == "windows-1252")
        #expect(try Self.text(document) == "a\u{81}b\u{9D}c\u{201C}")
        #expect(try Self.text(document, "#later") == "later")
    }

    @Test func longWindows1252PageIsDecodedToTheEnd() throws {
        // 0x80 (€) is three bytes in UTF-8: libxml2 converts in chunks and must get every one.
        let bytes = Self.page([UInt8](repeating: 0x80, count: 200_000) + [0x41], tail: "<p id=\"later\">later</p>")
        let document = try HTMLDocument(bytes: bytes, url: "https://x.test/")
        #expect(document.encoding == "windows-1252")
        #expect(try Self.text(document) == String(repeating: "€", count: 200_000) + "A")
        #expect(try Self.text(document, "#later") == "later")
    }

    @Test func metaUTF16MeansUTF8() throws {
        // A <meta> readable as ASCII cannot be in UTF-16: browsers read such a page as UTF-8.
        let document = try HTMLDocument(
            bytes: Self.page(head: "<meta charset=\"utf-16\">", Array("café".utf8)), url: "https://x.test/")
        #expect(document.encoding == "UTF-8")
        #expect(try Self.text(document) == "café")
    }

    @Test func metaInACommentOrAnotherAttributeDoesNotCount() throws {
        let head = """
            <!-- <meta charset="windows-1251"> --><meta name="description" content="charset=windows-1251">\
            <link title='<meta charset="windows-1251">' href="/x.css">
            """
        let document = try HTMLDocument(bytes: Self.page(head: head, Array("café".utf8)), url: "https://x.test/")
        #expect(document.encoding == "UTF-8")
        #expect(try Self.text(document) == "café")
    }

    @Test func metaAfterTheFirst1024BytesDoesNotCount() throws {
        let head = "<title>" + String(repeating: "x", count: 1100) + "</title><meta charset=\"windows-1251\">"
        let document = try HTMLDocument(bytes: Self.page(head: head, Array("café".utf8)), url: "https://x.test/")
        #expect(document.encoding == "UTF-8")
        #expect(try Self.text(document) == "café")
    }
}
