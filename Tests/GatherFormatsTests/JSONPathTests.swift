import GatherCore
import GatherFormats
import Testing

/// Unit tests of ``JSONPath`` beyond the compliance suite: normalized paths, error messages and
/// offsets, duplicate keys and resource bounds.
@Suite("JSONPath")
struct JSONPathTests {
    static let store: Value = [
        "store": [
            "book": [
                ["title": "A", "price": 8, "tags": ["x"]],
                ["title": "B", "price": 23.5],
            ],
            "bicycle": ["color": "red", "price": 19.95],
        ]
    ]

    @Test("normalized paths use single-quoted names and indexes")
    func normalizedPaths() throws {
        let path = try JSONPath("$.store.book[?@.price < 10].title")
        #expect(path.select(in: Self.store) == ["A"])
        #expect(path.paths(in: Self.store) == ["$['store']['book'][0]['title']"])
        #expect(
            try JSONPath("$..price").paths(in: Self.store) == [
                "$['store']['book'][0]['price']",
                "$['store']['book'][1]['price']",
                "$['store']['bicycle']['price']",
            ])
        #expect(try JSONPath("$[-1:]").paths(in: [1, 2, 3]) == ["$[2]"])
    }

    @Test("normalized paths escape quotes, backslashes and control characters")
    func normalizedPathEscapes() throws {
        let doc: Value = ["it's": 1, "a\\b": 2, "\u{1}\n": 3]
        #expect(try JSONPath("$.*").paths(in: doc) == [#"$['it\'s']"#, #"$['a\\b']"#, #"$['\u0001\n']"#])
    }

    @Test("duplicate keys: the last occurrence is the member")
    func duplicateKeys() throws {
        let doc = try JSONReader.parse(#"{"a": 1, "b": 2, "a": 3}"#)
        #expect(try JSONPath("$.a").select(in: doc) == [3])
        #expect(try JSONPath("$.*").select(in: doc) == [2, 3])
        #expect(try JSONPath("$[?length(@) > 0]").select(in: ["o": doc]).count == 1)
        #expect(try JSONPath("$[?count(@.*) == 2]").select(in: ["o": doc]) == [doc])
    }

    @Test("match() is anchored, search() is not, and . does not match line breaks")
    func regexFunctions() throws {
        let doc: Value = ["ab", "xaby", "a\nb", "a\rb"]
        #expect(try JSONPath("$[?match(@, 'a.b')]").select(in: doc) == [])
        #expect(try JSONPath("$[?match(@, 'ab')]").select(in: doc) == ["ab"])
        #expect(try JSONPath("$[?search(@, 'ab')]").select(in: doc) == ["ab", "xaby"])
        #expect(try JSONPath(#"$[?search(@, 'a[\n]b')]"#).select(in: doc) == ["a\nb"])
        // Not an I-Regexp (back-reference): never matches.
        #expect(try JSONPath(#"$[?search(@, '(a)\\1')]"#).select(in: ["aa"]) == [])
    }

    @Test(
        "errors say what is wrong and where",
        arguments: [
            ("", 0, "empty"),
            (" $", 0, "leading whitespace"),
            ("$ ", 1, "trailing whitespace"),
            ("$[01]", 2, "leading zeros"),
            ("$[-0]", 2, "-0"),
            ("$[9007199254740992]", 2, "out of range"),
            ("$.a[", 4, "expected a selector"),
            ("$['a'", 1, "never closed"),
            ("$[?@.a == 1 &", 12, "&&"),
            ("$[?@.* == 1]", 3, "singular"),
            ("$[?length(@.*) == 1]", 10, "expects a value"),
            ("$[?length(@.a)]", 3, "cannot be used as a test"),
            ("$[?match(@.a, 'x') == true]", 3, "cannot be compared"),
            ("$[?foo(@)]", 3, "unknown function"),
            ("$[?count(@, @)]", 12, "too many arguments"),
            ("$[?1]", 3, "literal cannot be used as a test"),
            ("$['\\x']", 3, "invalid escape"),
        ]
    )
    func errors(expression: String, offset: Int, fragment: String) {
        #expect {
            _ = try JSONPath(expression)
        } throws: { error in
            guard let error = error as? JSONPathError else { return false }
            #expect(error.offset == offset, "\(error)")
            #expect(error.message.contains(fragment), "\(error)")
            return true
        }
    }

    @Test("deep nesting is rejected instead of exhausting the stack")
    func nestingLimit() {
        let deep = "$" + String(repeating: "[?", count: 200) + "@" + String(repeating: "]", count: 200)
        #expect(throws: JSONPathError.self) { try JSONPath(deep) }
        let parens = "$[?" + String(repeating: "(", count: 200) + "@" + String(repeating: ")", count: 200) + "]"
        #expect(throws: JSONPathError.self) { try JSONPath(parens) }
    }

    @Test("deep documents are walked without recursion")
    func deepDocument() throws {
        var value: Value = 1
        for _ in 0..<10_000 { value = [value] }
        #expect(try JSONPath("$..*").select(in: value).count == 10_000)
    }

    @Test("nested descendant filters stay polynomial")
    func nestedFilters() throws {
        var value: Value = ["x": 1]
        for i in 0..<60 { value = ["x": .int(Int64(i)), "next": value, "list": [1, 2, 3]] }
        let path = try JSONPath("$..[?@..[?@..[?@.x == 0]]]")
        #expect(!path.select(in: value).isEmpty)
    }

    @Test("paths are equal and hash by expression, and print as written")
    func identity() throws {
        let a = try JSONPath("$.a")
        #expect(a == (try JSONPath("$.a")))
        #expect(a.description == "$.a")
        #expect(Set([a, try JSONPath("$.a")]).count == 1)
    }
}
