import CLibXML2

/// Chooses the character set of an HTML page's bytes (see ``HTMLDocument`` for the order of the rules).
enum Charset {
    static func detect(bytes: [UInt8], contentType: String?) -> String {
        _ = Self.windows1252Registered
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { return "UTF-8" }
        if bytes.starts(with: [0xFF, 0xFE]) { return "UTF-16LE" }
        if bytes.starts(with: [0xFE, 0xFF]) { return "UTF-16BE" }
        if let declared = contentType.flatMap(Self.parameter), let name = Self.decoder(for: declared, inMeta: false) {
            return name
        }
        if let declared = Self.meta(in: bytes.prefix(1024)), let name = Self.decoder(for: declared, inMeta: true) {
            return name
        }
        return Self.isValidUTF8(bytes) ? "UTF-8" : "windows-1252"
    }

    /// The encoding to decode with for a declared label, as browsers read labels (WHATWG Encoding Standard):
    /// the Latin-1 and ASCII labels mean windows-1252, the Latin-5 ones windows-1254 and GB2312 means GBK (pages
    /// that declare them use the superset's characters); a `<meta>` cannot declare UTF-16 (the tag was readable as
    /// ASCII), so that means UTF-8. `nil` when libxml2 cannot decode it (the next rule decides).
    static func decoder(for label: String, inMeta: Bool) -> String? {
        var trimmed = Substring(label)
        while trimmed.first?.isWhitespace == true { trimmed.removeFirst() }
        while trimmed.last?.isWhitespace == true { trimmed.removeLast() }
        let name = trimmed.lowercased()
        if inMeta && (name == "utf-16" || name == "utf-16le" || name == "utf-16be") { return "UTF-8" }
        if let superset = Self.supersets[name], Self.isKnown(superset) { return superset }
        return Self.isKnown(name) ? name : nil
    }

    /// Labels browsers decode as a superset encoding.
    static let supersets: [String: String] = {
        var table: [String: String] = [:]
        for label in [
            "ansi_x3.4-1968", "ascii", "cp1252", "cp819", "csisolatin1", "ibm819", "iso-8859-1", "iso-ir-100",
            "iso8859-1", "iso88591", "iso_8859-1", "iso_8859-1:1987", "l1", "latin1", "us-ascii", "x-cp1252",
        ] {
            table[label] = "windows-1252"
        }
        for label in [
            "csisolatin5", "iso-8859-9", "iso-ir-148", "iso8859-9", "iso88599", "iso_8859-9", "iso_8859-9:1989", "l5",
            "latin5", "x-cp1254",
        ] {
            table[label] = "windows-1254"
        }
        for label in [
            "chinese", "csgb2312", "csiso58gb231280", "gb2312", "gb_2312", "gb_2312-80", "iso-ir-58", "x-gbk",
        ] {
            table[label] = "GBK"
        }
        return table
    }()

    /// The value of `charset=…` in a `Content-Type` value or a `<meta content>` (WHATWG "extracting a character
    /// encoding from a meta element": spaces around `=`, a quoted or bare value).
    static func parameter(_ contentType: String) -> String? {
        let text = Array(contentType.utf8)
        let key = Array("charset".utf8)
        var i = 0
        while i + key.count <= text.count {
            guard text[i..<(i + key.count)].map(Self.asciiLowercased).elementsEqual(key) else {
                i += 1
                continue
            }
            i += key.count
            while i < text.count, Self.isSpace(text[i]) { i += 1 }
            guard i < text.count, text[i] == UInt8(ascii: "=") else { continue }
            i += 1
            while i < text.count, Self.isSpace(text[i]) { i += 1 }
            guard i < text.count else { return nil }
            let value: ArraySlice<UInt8>
            if text[i] == UInt8(ascii: "\"") || text[i] == UInt8(ascii: "'") {
                guard let close = text[(i + 1)...].firstIndex(of: text[i]) else { return nil }
                value = text[(i + 1)..<close]
            } else {
                let end = text[i...].firstIndex { Self.isSpace($0) || $0 == UInt8(ascii: ";") } ?? text.count
                value = text[i..<end]
            }
            return value.isEmpty ? nil : String(decoding: value, as: UTF8.self)
        }
        return nil
    }

    /// The charset a `<meta>` tag in the first bytes declares: `<meta charset=…>`, or `<meta http-equiv=content-type
    /// content="…; charset=…">` (WHATWG prescan, simplified: comments and other tags' attributes are skipped, so
    /// a commented-out `<meta>` or a `charset=` inside another attribute does not count).
    static func meta(in head: ArraySlice<UInt8>) -> String? {
        let b = Array(head)
        var i = 0
        func at(_ text: String) -> Bool {
            let pattern = Array(text.utf8)
            return i + pattern.count <= b.count
                && b[i..<(i + pattern.count)].map(Self.asciiLowercased).elementsEqual(pattern)
        }
        while i < b.count {
            if at("<!--") {
                i += 2  // "<!-->" closes at once
                while i < b.count, !at("-->") { i += 1 }
                i += 3
            } else if at("<meta"), i + 5 < b.count, Self.isSpace(b[i + 5]) || b[i + 5] == UInt8(ascii: "/") {
                i += 5
                var attributes: [String: String] = [:]
                while let (name, value) = Self.attribute(b, &i) {
                    if attributes[name] == nil { attributes[name] = value }
                }
                if let charset = attributes["charset"], !charset.isEmpty { return charset }
                if attributes["http-equiv"] == "content-type", let content = attributes["content"],
                    let charset = Self.parameter(content)
                {
                    return charset
                }
            } else if at("<"), i + 1 < b.count,
                Self.isLetter(b[i + 1]) || (b[i + 1] == UInt8(ascii: "/") && i + 2 < b.count && Self.isLetter(b[i + 2]))
            {
                // Another tag: skip its name and attributes (a quoted '>' or '<meta' inside them is not a tag).
                i += 1
                while i < b.count, !Self.isSpace(b[i]), b[i] != UInt8(ascii: ">") { i += 1 }
                while Self.attribute(b, &i) != nil {}
            } else if at("<!") || at("</") || at("<?") {
                while i < b.count, b[i] != UInt8(ascii: ">") { i += 1 }
                i += 1
            } else {
                i += 1
            }
        }
        return nil
    }

    /// One attribute of a tag at `i` (WHATWG "get an attribute"), names and values lowercased; `nil` at the tag's
    /// end (`i` then after the '>').
    static func attribute(_ b: [UInt8], _ i: inout Int) -> (String, String)? {
        while i < b.count, Self.isSpace(b[i]) || b[i] == UInt8(ascii: "/") { i += 1 }
        guard i < b.count else { return nil }
        if b[i] == UInt8(ascii: ">") {
            i += 1
            return nil
        }
        var name: [UInt8] = [b[i]]
        i += 1
        while i < b.count, !Self.isSpace(b[i]),
            ![UInt8(ascii: "="), UInt8(ascii: "/"), UInt8(ascii: ">")].contains(b[i])
        {
            name.append(b[i])
            i += 1
        }
        while i < b.count, Self.isSpace(b[i]) { i += 1 }
        var value: [UInt8] = []
        if i < b.count, b[i] == UInt8(ascii: "=") {
            i += 1
            while i < b.count, Self.isSpace(b[i]) { i += 1 }
            if i < b.count, b[i] == UInt8(ascii: "\"") || b[i] == UInt8(ascii: "'") {
                let quote = b[i]
                i += 1
                while i < b.count, b[i] != quote {
                    value.append(b[i])
                    i += 1
                }
                i += 1
            } else {
                while i < b.count, !Self.isSpace(b[i]), b[i] != UInt8(ascii: ">") {
                    value.append(b[i])
                    i += 1
                }
            }
        }
        let lower = { (bytes: [UInt8]) in String(decoding: bytes.map(Self.asciiLowercased), as: UTF8.self) }
        return (lower(name), lower(value))
    }

    static func isSpace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0C || byte == 0x0D
    }

    static func isLetter(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(Self.asciiLowercased(byte))
    }

    static func asciiLowercased(_ byte: UInt8) -> UInt8 {
        (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) ? byte + 32 : byte
    }

    /// Whether libxml2 can decode `name` (an unknown or misspelt declaration is skipped).
    static func isKnown(_ name: String) -> Bool {
        _ = Self.windows1252Registered
        guard let handler = xmlFindCharEncodingHandler(name) else { return false }
        xmlCharEncCloseFunc(handler)
        return true
    }

    static func isValidUTF8(_ bytes: [UInt8]) -> Bool {
        var iterator = bytes.makeIterator()
        var decoder = UTF8()
        while true {
            switch decoder.decode(&iterator) {
            case .scalarValue: continue
            case .emptyInput: return true
            case .error: return false
            }
        }
    }

    /// windows-1252 as browsers decode it (WHATWG): the five bytes iconv rejects (0x81, 0x8D, 0x8F, 0x90, 0x9D)
    /// are the C1 controls of the same value, so one of them no longer ends the parse ("encoder error") — the
    /// fallback for bytes that are not UTF-8 must accept any byte. Registered once, before the first lookup:
    /// libxml2 prefers registered handlers to iconv.
    static let windows1252Registered: Bool = {
        LibXML2.initialize()
        // Decoding only: Gather never serializes a document in its source charset.
        return xmlNewCharEncodingHandler("windows-1252", windows1252ToUTF8, nil) != nil
    }()

    /// The characters of bytes 0x80–0x9F in windows-1252 (the other bytes are the code points of the same value).
    static let windows1252High: [UInt16] = [
        0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0x008D,
        0x017D, 0x008F, 0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A,
        0x0153, 0x009D, 0x017E, 0x0178,
    ]
}

/// libxml2 input function: windows-1252 bytes to UTF-8, as many as fit (libxml2 calls again for the rest).
private func windows1252ToUTF8(
    _ out: UnsafeMutablePointer<UInt8>?, _ outlen: UnsafeMutablePointer<Int32>?, _ input: UnsafePointer<UInt8>?,
    _ inlen: UnsafeMutablePointer<Int32>?
) -> Int32 {
    guard let out, let outlen, let inlen else { return -1 }
    let capacity = Int(outlen.pointee)
    let available = input == nil ? 0 : Int(inlen.pointee)
    var read = 0
    var written = 0
    while read < available, let input {
        let byte = input[read]
        let scalar = (0x80...0x9F).contains(byte) ? UInt32(Charset.windows1252High[Int(byte) - 0x80]) : UInt32(byte)
        if scalar < 0x80 {
            guard written < capacity else { break }
            out[written] = UInt8(scalar)
            written += 1
        } else if scalar < 0x800 {
            guard written + 2 <= capacity else { break }
            out[written] = UInt8(0xC0 | scalar >> 6)
            out[written + 1] = UInt8(0x80 | scalar & 0x3F)
            written += 2
        } else {
            guard written + 3 <= capacity else { break }
            out[written] = UInt8(0xE0 | scalar >> 12)
            out[written + 1] = UInt8(0x80 | (scalar >> 6) & 0x3F)
            out[written + 2] = UInt8(0x80 | scalar & 0x3F)
            written += 3
        }
        read += 1
    }
    inlen.pointee = Int32(read)
    outlen.pointee = Int32(written)
    return Int32(written)
}
