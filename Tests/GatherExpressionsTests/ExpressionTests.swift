import Testing

@testable import GatherCore
@testable import GatherExpressions

/// Unit tests of ``Expression``: syntax, semantics, functions, and error messages with columns.
@Suite("Expression")
struct ExpressionTests {
    static let context = ExpressionContext(now: "2026-11-23T10:15:30Z")

    static let record: Record = [
        "a": 1,
        "b": 2.5,
        "name": " Ada ",
        "first": "  ada ",
        "last": "Lovelace",
        "n": nil,
        "yes": true,
        "no": false,
        "tags": ["x", "y", "z"],
        "user": ["login": "ada", "stats": ["contributions": 12], "repos": [["name": "r1"], ["name": "r2"]]],
        "odd key": "odd",
        "in": "keyword",
    ]

    /// Parses and evaluates `source` against `record`.
    func eval(_ source: String, _ record: Record = Self.record) throws -> Value {
        try Expression(source).evaluate(record, context: Self.context)
    }

    /// The parse or evaluation error of `source`, or `nil` when it succeeds.
    func failure(_ source: String, _ record: Record = Self.record) -> ExpressionError? {
        do {
            _ = try Expression(source).evaluate(record, context: Self.context)
            return nil
        } catch {
            return error
        }
    }

    // MARK: - Literals

    @Test(
        "literals",
        arguments: [
            ("42", .int(42)),
            ("2.5", .double(2.5)),
            ("1e3", .double(1000)),
            ("2.5E-1", .double(0.25)),
            ("-7", .int(-7)),
            ("-9223372036854775808", .int(Int64.min)),
            ("99999999999999999999", .double(1e20)),
            ("'single'", .string("single")),
            ("\"double\"", .string("double")),
            (#"'it\'s \"q\" \\ \n\t'"#, .string("it's \"q\" \\ \n\t")),
            (#"'\u00e9\uD83D\uDE00'"#, .string("é😀")),
            ("true", .bool(true)),
            ("FALSE", .bool(false)),
            ("null", .null),
            ("[1, 'a', null]", [1, "a", nil]),
            ("[]", []),
        ] as [(String, Value)])
    func literals(source: String, expected: Value) throws {
        #expect(try eval(source) == expected)
    }

    // MARK: - Precedence

    @Test(
        "precedence and associativity",
        arguments: [
            ("1 + 2 * 3", .int(7)),
            ("(1 + 2) * 3", .int(9)),
            ("10 - 4 - 3", .int(3)),
            ("2 * 3 % 4", .int(2)),
            ("-2 * 3", .int(-6)),
            ("- a * 2", .int(-2)),
            ("1 + 2 == 3", .bool(true)),
            ("not yes and no", .bool(false)),
            ("not (yes and no)", .bool(true)),
            ("no or yes and no", .bool(false)),
            ("yes || no && no", .bool(true)),
            ("!no", .bool(true)),
            ("1 < 2 and 2 < 3", .bool(true)),
            ("a + 1 in [2, 3]", .bool(true)),
            ("n is null and a is not null", .bool(true)),
            ("not a in [5]", .bool(true)),
        ] as [(String, Value)])
    func precedence(source: String, expected: Value) throws {
        #expect(try eval(source) == expected)
    }

    // MARK: - Numbers

    @Test("int op int stays int; any double gives a double")
    func numericTypes() throws {
        #expect(try eval("a + 2") == .int(3))
        #expect(try eval("a + b") == .double(3.5))
        #expect(try eval("3 * 1.5") == .double(4.5))
        #expect(try eval("a - 1.0") == .double(0))
        #expect(try eval("6 / 3") == .int(2))
        #expect(try eval("7 / 2") == .double(3.5))
        #expect(try eval("-7 / 2") == .double(-3.5))
        #expect(try eval("7.5 / 2.5") == .double(3))
        #expect(try eval("7 % 3") == .int(1))
        #expect(try eval("-7 % 3") == .int(-1))
        #expect(try eval("7.5 % 2") == .double(1.5))
        #expect(try eval("-b") == .double(-2.5))
    }

    @Test("integer overflow is an error at the operator, not a trap")
    func overflow() throws {
        let add = try #require(failure("9223372036854775807 + a"))
        #expect(add.column == 21)
        #expect(add.message.contains("overflow"))
        #expect(failure("-9223372036854775808 / -1") != nil)
        #expect(failure("-(-9223372036854775808)") != nil)
        #expect(failure("abs(-9223372036854775808)") != nil)
        #expect(try eval("9223372036854775807 + 1.0") == .double(9_223_372_036_854_775_808))
    }

    @Test("division and modulo by zero are errors at the operator")
    func divisionByZero() throws {
        let division = try #require(failure("a + 10 / (a - 1)"))
        #expect(division.column == 8)
        #expect(division.message.contains("division by zero"))
        let modulo = try #require(failure("b % 0"))
        #expect(modulo.column == 3)
        #expect(modulo.message.contains("modulo by zero"))
        #expect(failure("1.5 / 0.0")?.column == 5)
    }

    // MARK: - Strings

    @Test("+ concatenates when either side is a string")
    func concatenation() throws {
        #expect(try eval("'a' + 'b'") == "ab")
        #expect(try eval("'n=' + a") == "n=1")
        #expect(try eval("b + 'x'") == "2.5x")
        #expect(try eval("'v' + 2.0") == "v2.0")
        #expect(try eval("'v' + 0.1") == "v0.1")
        #expect(try eval("'flag ' + yes") == "flag true")
        #expect(try eval("'t=' + tags") == #"t=["x","y","z"]"#)
        #expect(try eval("'a' + n") == .null)
        #expect(try eval("[1] + [2]") == [1, 2])
    }

    @Test("arithmetic on incompatible types is an error naming them")
    func typeErrors() throws {
        let error = try #require(failure("a * '3'"))
        #expect(error.column == 3)
        #expect(error.message.contains("string \"3\""))
        #expect(error.message.contains("int(x)"))
        #expect(failure("yes + 1") != nil)
        #expect(failure("-'x'") != nil)
    }

    // MARK: - Null

    @Test(
        "null propagates through arithmetic and string functions",
        arguments: [
            "n + 1", "1 - n", "n * 2.5", "n / 0", "-n", "missing + 'x'", "upper(n)", "trim(missing)",
            "substr(n, 1)", "length(n)", "int(n)", "string(n)", "round(n)", "abs(missing)", "replace(n, 'a', 'b')",
        ])
    func nullPropagation(source: String) throws {
        #expect(try eval(source) == .null)
    }

    @Test("comparisons with null are false, except == and != null")
    func nullComparisons() throws {
        #expect(try eval("n < 1") == false)
        #expect(try eval("n >= 1") == false)
        #expect(try eval("n > n") == false)
        #expect(try eval("n == null") == true)
        #expect(try eval("missing == null") == true)
        #expect(try eval("a == null") == false)
        #expect(try eval("a != null") == true)
        #expect(try eval("n != 0") == true)
    }

    // MARK: - Fields

    @Test("missing fields are null; paths, indexes and back-quoted names")
    func fields() throws {
        #expect(try eval("missing") == .null)
        #expect(try eval("user.login") == "ada")
        #expect(try eval("user.stats.contributions") == 12)
        #expect(try eval("user.repos[1].name") == "r2")
        #expect(try eval("user.repos[-1]['name']") == "r2")
        #expect(try eval("user['stats']['contributions'] + 1") == 13)
        #expect(try eval("tags[0]") == "x")
        #expect(try eval("tags[a]") == "y")
        #expect(try eval("tags[10]") == .null)
        #expect(try eval("user.missing.deeper") == .null)
        #expect(try eval("a.b") == .null)
        #expect(try eval("name[0]") == .null)
        #expect(try eval("`odd key`") == "odd")
        #expect(try eval("`in` + '!'") == "keyword!")
        #expect(try eval("user.`login`") == "ada")
        #expect(try eval("`a``b`", ["a`b": 5]) == 5)
        #expect(try eval("$x + _y", ["$x": 1, "_y": 2]) == 3)
    }

    @Test("duplicate keys: the last occurrence is read")
    func duplicateKeys() throws {
        let record = Record([("k", 1), ("k", 2)])
        #expect(try eval("k", record) == 2)
    }

    @Test("referencedFields lists top-level names once, in order")
    func referencedFields() throws {
        let expression = try Expression("user.login + upper(`odd key`) + tags[a] + user.stats")
        #expect(expression.referencedFields == ["user", "odd key", "tags", "a"])
        #expect(try Expression("1 + 2").referencedFields == [])
    }

    // MARK: - Comparisons, in, is null

    @Test(
        "comparisons",
        arguments: [
            ("1 == 1.0", true),
            ("1 = 1", true),
            ("1 <> 2", true),
            ("2 > 1.5", true),
            ("1.5 <= 1", false),
            ("9007199254740993 > 9007199254740992.0", true),
            ("9007199254740993 == 9007199254740992.0", false),
            ("'a' < 'b'", true),
            ("'B' < 'a'", true),
            ("'é' > 'z'", true),
            ("'abc' >= 'abc'", true),
            ("'1' == 1", false),
            ("'1' < 2", false),
            ("yes == true", true),
            ("tags == ['x', 'y', 'z']", true),
            ("[1, 2] == [1.0, 2]", true),
            ("user.stats == user.stats", true),
            ("tags < tags", false),
        ])
    func comparisons(source: String, expected: Bool) throws {
        #expect(try eval(source) == .bool(expected))
    }

    @Test("in and not in")
    func membership() throws {
        #expect(try eval("a in [1, 2]") == true)
        #expect(try eval("a in [1.0]") == true)
        #expect(try eval("'q' in tags") == false)
        #expect(try eval("'q' not in tags") == true)
        #expect(try eval("n in [null]") == true)
        #expect(try eval("a in [b - 1.5, 7]") == true)
        #expect(try eval("a in missing") == false)
        #expect(try eval("a not in missing") == true)
        let error = try #require(failure("a in 'abc'"))
        #expect(error.column == 3)
        #expect(error.message.contains("list"))
    }

    @Test("is null and is not null")
    func isNull() throws {
        #expect(try eval("n is null") == true)
        #expect(try eval("missing IS NULL") == true)
        #expect(try eval("a is null") == false)
        #expect(try eval("a is not null") == true)
        #expect(try eval("user.stats.contributions is not null") == true)
    }

    // MARK: - Booleans

    @Test("and/or short-circuit; only booleans and null are accepted")
    func booleans() throws {
        #expect(try eval("false and 1/0") == false)
        #expect(try eval("true or 1/0") == true)
        #expect(try eval("n and 1/0") == false)
        #expect(try eval("not n") == true)
        #expect(try eval("n or yes") == true)
        let error = try #require(failure("yes and a"))
        #expect(error.column == 5)
        #expect(error.message.contains("expected a boolean"))
        #expect(failure("not 'x'")?.column == 1)
    }

    @Test("matches() treats null as false and rejects non-booleans")
    func matchesCondition() throws {
        #expect(try Expression("user.stats.contributions >= 10").matches(Self.record, context: Self.context))
        #expect(try !Expression("missing").matches(Self.record, context: Self.context))
        #expect(throws: ExpressionError.self) { try Expression("a").matches(Self.record, context: Self.context) }
    }

    // MARK: - Functions

    @Test(
        "string functions",
        arguments: [
            ("lower('AbC')", "abc"),
            ("UPPER('straße')", "STRASSE"),
            ("trim(name)", "Ada"),
            ("ltrim(name)", "Ada "),
            ("rtrim(name)", " Ada"),
            ("trim('\t x \n')", "x"),
            ("length('héllo')", 5),
            ("length(tags)", 3),
            ("length(user)", 3),
            ("substr('hello', 1)", "ello"),
            ("substr('hello', 1, 3)", "ell"),
            ("substr('hello', -3, 2)", "ll"),
            ("substr('hello', 10)", ""),
            ("substr('hello', 2, 100)", "llo"),
            ("replace('a-b-c', '-', '+')", "a+b+c"),
            ("replace('abc', '', 'x')", "abc"),
            ("contains('hello', 'ell')", true),
            ("contains('hello', 'xyz')", false),
            ("contains(tags, 'y')", true),
            ("starts_with('hello', 'he')", true),
            ("ENDS_WITH('hello', 'he')", false),
            ("split('a,b,,c', ',')", ["a", "b", "", "c"]),
            ("split('ab', '')", ["a", "b"]),
            ("split('a::b', '::')", ["a", "b"]),
            ("join(tags, '-')", "x-y-z"),
            ("join([1, null, 2.5, true])", "12.5true"),
            ("concat('a', 1, n, 2.0)", "a12.0"),
            ("upper(trim(first)) + ' ' + last", "ADA Lovelace"),
        ] as [(String, Value)])
    func stringFunctions(source: String, expected: Value) throws {
        #expect(try eval(source) == expected)
    }

    @Test(
        "conversion and logic functions",
        arguments: [
            ("int('42')", 42),
            ("int(' -7 ')", -7),
            ("int('4.9')", 4),
            ("int(-2.7)", -2),
            ("int(true)", 1),
            ("int(a)", 1),
            ("float(a)", 1.0),
            ("real('2.5')", 2.5),
            ("float(no)", 0.0),
            ("string(42)", "42"),
            ("text(2.5)", "2.5"),
            ("string(tags)", #"["x","y","z"]"#),
            ("string(user.stats)", #"{"contributions":12}"#),
            ("bool('yes')", true),
            ("bool('FALSE')", false),
            ("bool('1')", true),
            ("bool(0)", false),
            ("coalesce(n, missing, 'd', 1/0)", "d"),
            ("coalesce(n)", nil),
            ("if(a > 0, 'pos', 1/0)", "pos"),
            ("if(n, 1/0, 'else')", "else"),
        ] as [(String, Value)])
    func conversionFunctions(source: String, expected: Value) throws {
        #expect(try eval(source) == expected)
    }

    @Test(
        "numeric functions",
        arguments: [
            ("round(2.5)", 3.0),
            ("round(-2.5)", -3.0),
            ("round(2.345, 2)", 2.35),
            ("round(1234.5, -2)", 1200.0),
            ("round(7)", 7),
            ("round(1250, -2)", 1300),
            ("round(-1249, -2)", -1200),
            ("abs(-3)", 3),
            ("abs(-2.5)", 2.5),
            ("floor(2.7)", 2.0),
            ("floor(-2.5)", -3.0),
            ("ceil(2.1)", 3.0),
            ("ceil(4)", 4),
            ("min(3, 1.5, 2)", 1.5),
            ("max(3, n, 2)", 3),
            ("max(tags)", "z"),
            ("min([])", nil),
            ("max(n, missing)", nil),
        ] as [(String, Value)])
    func numericFunctions(source: String, expected: Value) throws {
        #expect(try eval(source) == expected)
    }

    @Test("failed conversions are errors naming the value, at the function")
    func conversionErrors() throws {
        let int = try #require(failure("1 + int(name)"))
        #expect(int.column == 5)
        #expect(int.message.contains(#"string " Ada ""#))
        #expect(failure("float('abc')")?.message.contains(#""abc""#) == true)
        #expect(failure("bool('maybe')")?.message.contains("yes/no") == true)
        #expect(failure("int(tags)") != nil)
        #expect(failure("min(1, 'a')")?.message.contains("cannot compare") == true)
        #expect(failure("upper(tags)")?.column == 1)
        #expect(failure("substr('abc', 'x')") != nil)
        #expect(failure("if(1, 2, 3)") != nil)
    }

    @Test("function names are case-insensitive")
    func caseInsensitiveFunctions() throws {
        #expect(try eval("Upper('a') + LOWER('B')") == "Ab")
    }

    @Test("now() returns the context's timestamp")
    func now() throws {
        let expression = try Expression("'at ' + now()")
        let context = ExpressionContext(now: "2001-02-03T04:05:06Z")
        #expect(try expression.evaluate([:], context: context) == "at 2001-02-03T04:05:06Z")
        #expect(try eval("now()") == "2026-11-23T10:15:30Z")
    }

    @Test("the default timestamp is ISO-8601 UTC")
    func timestamps() throws {
        #expect(ExpressionContext.timestamp(secondsSince1970: 0) == "1970-01-01T00:00:00Z")
        #expect(ExpressionContext.timestamp(secondsSince1970: -1) == "1969-12-31T23:59:59Z")
        #expect(ExpressionContext.timestamp(secondsSince1970: 951_782_400) == "2000-02-29T00:00:00Z")
        #expect(ExpressionContext.timestamp(secondsSince1970: 1_795_428_930) == "2026-11-23T10:15:30Z")
        let now = ExpressionContext().now
        #expect(now.count == 20)
        #expect(now.hasSuffix("Z"))
        #expect(Array(now)[10] == "T")
    }

    // MARK: - Parse errors

    @Test("unknown function: parse error with a suggestion and the column")
    func unknownFunction() throws {
        let error = try #require(failure("upper(x) + uper(y)"))
        #expect(error.column == 12)
        #expect(error.message == "unknown function 'uper' (did you mean 'upper'?)")
        #expect(
            error.description == """
                column 12: unknown function 'uper' (did you mean 'upper'?)
                  upper(x) + uper(y)
                             ^
                """)
        let far = try #require(failure("frobnicate(1)"))
        #expect(far.message.contains("the functions are"))
        #expect(failure("startswith('a', 'b')")?.message.contains("'starts_with'") == true)
        // Ranked over all names: equally distant names lose to one that holds the typed letters in order.
        #expect(
            failure("rnd(x)")?.message.contains("did you mean 'round'") == true,
            "\(String(describing: failure("rnd(x)")))")
        #expect(failure("lenght(x)")?.message.contains("did you mean 'length'") == true)
        #expect(failure("flor(x)")?.message.contains("did you mean 'floor'") == true)
    }

    @Test("a list after in is written in square brackets; the SQL form says so")
    func membershipWithParentheses() throws {
        let error = try #require(failure("status in ('a', 'b')"))
        #expect(error.message.contains("square brackets"), "\(error.message)")
        #expect(error.message.contains("in ['a', 'b']"), "\(error.message)")
        #expect(failure("status not in ('a', 'b')")?.message.contains("not in ['a', 'b']") == true)
        // Parentheses that only group are fine.
        #expect(try Expression("x in (['a', 'b'])").evaluate(["x": "a"]) == true)
        #expect(try Expression("(x) in ['a']").evaluate(["x": "a"]) == true)
    }

    @Test("every example in the generated reference gives the result it documents")
    func referenceExamplesHold() throws {
        let functions = ExpressionReference.functions
        #expect(functions.count == 27, "a function was added: document it in ExpressionReference")
        for function in functions {
            let value = try Expression(function.example.expression).evaluate(ExpressionReference.exampleRecord)
            #expect(
                JSONWriter.string(value) == function.example.result,
                "\(function.names[0]): \(function.example.expression) gave \(JSONWriter.string(value))")
            #expect(function.example.expression.lowercased().contains(function.names[0]))
        }
        let markdown = ExpressionReference.markdown()
        for function in functions { #expect(markdown.contains("`\(function.usage)`"), "\(function.usage)") }
    }

    @Test("wrong argument count is a parse error at the function name")
    func arity() throws {
        // A parse error: the record is never consulted.
        #expect(throws: ExpressionError.self) { try Expression("a + substr('x')") }
        let error = try #require(failure("a + substr('x')"))
        #expect(error.column == 5)
        #expect(error.message.contains("substr() takes 2 to 3 arguments but was given 1"))
        #expect(failure("upper('a', 'b')")?.message.contains("takes 1 argument but") == true)
        #expect(failure("now(1)")?.message.contains("takes 0 arguments") == true)
        #expect(failure("coalesce()")?.message.contains("at least 1 argument") == true)
    }

    @Test(
        "parse errors point at the offending column",
        arguments: [
            ("a + 'abc", 5, "unterminated string"),
            ("`odd", 1, "unterminated back-quoted name"),
            ("a + 1 b", 7, "after a complete expression"),
            ("(a + 1", 7, "expected ')' to close the '(' at column 1"),
            ("a + 1)", 6, "unbalanced ')'"),
            ("tags[0", 7, "expected ']'"),
            ("a +", 4, "ends too early"),
            ("", 1, "empty"),
            ("a * * 2", 5, "expected a value"),
            ("a < b < c", 7, "cannot be chained"),
            ("a is 3", 6, "expected 'null' after 'is'"),
            ("a & b", 3, "'and'"),
            ("a # b", 3, "unexpected character '#'"),
            ("'\\q'", 2, "unknown escape"),
            ("'\\u12'", 2, "4 hex digits"),
            ("a.1", 3, "[1]"),
            ("a.b(1)", 3, "only functions can be called"),
            ("1 + and", 5, "`and`"),
            ("é + 'ü' + #", 11, "unexpected character"),
        ])
    func parseErrors(source: String, column: Int, fragment: String) throws {
        let error = try #require(failure(source))
        #expect(error.column == column)
        #expect(error.message.contains(fragment), "\(error.message)")
        #expect(error.source == source)
    }

    @Test("very deep nesting is a parse error, not a crash")
    func nesting() throws {
        let deep = String(repeating: "(", count: 1000) + "1" + String(repeating: ")", count: 1000)
        #expect(failure(deep)?.message.contains("nested too deeply") == true)
        let fine = String(repeating: "(", count: 100) + "1" + String(repeating: ")", count: 100)
        #expect(try eval(fine) == 1)
    }

    @Test("expressions compare and hash by source")
    func equality() throws {
        #expect(try Expression("a + 1") == Expression("a + 1"))
        #expect(try Expression("a + 1") != Expression("a+1"))
        #expect(try Set([Expression("a"), Expression("a")]).count == 1)
        #expect(try Expression("a  +  1").description == "a  +  1")
    }
}
