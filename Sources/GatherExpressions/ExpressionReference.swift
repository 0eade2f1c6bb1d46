import GatherCore

/// The user's reference to the expression language, generated from the function table so that it cannot drift:
/// `gather help expressions` prints it and `docs/expressions.md` is it. Every example is evaluated by a test
/// against the result written here.
public enum ExpressionReference {
    /// One documented function: how to call it, what it does, an example with its result, and what null does.
    public struct Function: Sendable {
        public var names: [String]
        public var usage: String
        public var summary: String
        /// An expression over ``exampleRecord`` and the JSON of its value.
        public var example: (expression: String, result: String)
        public var nulls: String
    }

    /// The record the examples read: `{"name": " Ada ", "price": 2.5, "qty": 4, "tags": ["a", "b"], "note": null}`.
    public static let exampleRecord: Record = [
        "name": " Ada ", "price": 2.5, "qty": 4, "tags": ["a", "b"], "note": .null,
    ]

    /// Every function, in the order of the table.
    public static var functions: [Function] {
        ExpressionFunction.allCases.map { function in
            let doc = Self.doc(function)
            let synonyms = ExpressionFunction.synonymNames(of: function)
            return Function(
                names: [function.name] + synonyms, usage: function.usage, summary: doc.summary,
                example: doc.example, nulls: doc.nulls)
        }
    }

    private static func doc(_ function: ExpressionFunction) -> (
        summary: String, example: (expression: String, result: String), nulls: String
    ) {
        let nullIn = "null if an argument is null"
        switch function {
        case .lower: return ("lower case", ("lower(name)", #"" ada ""#), nullIn)
        case .upper: return ("upper case", ("upper(name)", #"" ADA ""#), nullIn)
        case .trim: return ("without surrounding whitespace", ("trim(name)", #""Ada""#), nullIn)
        case .ltrim: return ("without leading whitespace", ("ltrim(name)", #""Ada ""#), nullIn)
        case .rtrim: return ("without trailing whitespace", ("rtrim(name)", #"" Ada""#), nullIn)
        case .length:
            return ("characters of text, elements of a list, fields of an object", ("length(tags)", "2"), nullIn)
        case .substr:
            return (
                "characters from 0-based `start` (negative counts from the end), clamped to the text",
                ("substr(trim(name), 0, 2)", #""Ad""#), nullIn
            )
        case .replace:
            return ("every occurrence of `from` replaced by `to`", ("replace(name, ' ', '')", #""Ada""#), nullIn)
        case .contains:
            return (
                "whether text contains `part`, or a list has an element `== part`", ("contains(tags, 'b')", "true"),
                nullIn
            )
        case .startsWith: return ("whether text starts with `prefix`", ("starts_with(trim(name), 'A')", "true"), nullIn)
        case .endsWith: return ("whether text ends with `suffix`", ("ends_with(trim(name), 'a')", "true"), nullIn)
        case .split:
            return (
                "the parts as a list (empty parts kept; an empty separator splits into characters)",
                ("split('a,b,,c', ',')", #"["a","b","","c"]"#), nullIn
            )
        case .join:
            return (
                "the elements as text joined with `separator` (default none)", ("join(tags, '-')", #""a-b""#),
                "null elements are skipped; a null list gives null"
            )
        case .concat:
            return (
                "the arguments as text, one after another", ("concat(trim(name), '#', qty)", #""Ada#4""#),
                "null arguments are skipped"
            )
        case .coalesce:
            return (
                "the first argument that is not null (later ones are not evaluated)",
                ("coalesce(note, 'none')", #""none""#),
                "null only when every argument is null"
            )
        case .if:
            return (
                "`then` when `condition` is true, else `else` (only the chosen one is evaluated)",
                ("if(qty > 3, 'many', 'few')", #""many""#), "a null condition counts as false"
            )
        case .int:
            return (
                "an integer from a number (truncating), a boolean (0/1) or text such as `\"42\"` or `\" 4.5 \"`",
                ("int('42') + 1", "43"), "null stays null; text that is not a number is an error"
            )
        case .float:
            return ("a double from a number, a boolean or text", ("float('2.5') * 2", "5.0"), "null stays null")
        case .string:
            return (
                "text, as `+` converts it (lists and objects as JSON)", ("string(qty) + '!'", #""4!""#),
                "null stays null"
            )
        case .bool:
            return (
                "a boolean from text (`true`/`false`, `1`/`0`, `yes`/`no`, any case) or a number (non-zero is true)",
                ("bool('yes')", "true"), "null stays null"
            )
        case .round:
            return (
                "rounded half away from zero to `digits` places (negative digits round to tens, hundreds…); ints stay ints",
                ("round(price * 1.19, 1)", "3.0"), nullIn
            )
        case .abs: return ("the magnitude, same type", ("abs(-qty)", "4"), nullIn)
        case .floor: return ("rounded down, same type (`int(floor(x))` for an int)", ("floor(price)", "2.0"), nullIn)
        case .ceil: return ("rounded up, same type", ("ceil(price)", "3.0"), nullIn)
        case .min:
            return (
                "the smallest argument, or element of a single list", ("min(qty, 2, price)", "2"),
                "null arguments are skipped"
            )
        case .max:
            return (
                "the largest argument, or element of a single list", ("max(tags)", #""b""#),
                "null arguments are skipped"
            )
        case .now:
            return ("the run's start time in UTC, the same for every record", ("length(now())", "20"), "never null")
        }
    }

    /// The operators, lowest precedence first: (operators, meaning).
    public static let operators: [(String, String)] = [
        ("`or`, `\\|\\|`", "either is true (short-circuit; null counts as false)"),
        ("`and`, `&&`", "both are true (short-circuit: `false and 1/0` is `false`)"),
        ("`not`, `!`", "negation"),
        (
            "`==` `!=` `<` `<=` `>` `>=` (`=` and `<>` too)",
            "comparison; `<` and friends order two numbers or two texts, else false; they do not chain"
        ),
        ("`in`, `not in`", "membership in a list written in square brackets: `status in ['open', 'new']`"),
        ("`is null`, `is not null`", "null tests"),
        ("`+` `-`", "addition and subtraction; `+` with text on either side concatenates"),
        ("`*` `/` `%`", "multiplication, division (int / int is an int when exact), remainder (sign of the dividend)"),
        ("`-x`", "negation"),
        (
            "`a.b`, `a[0]`, `a[-1]`, `a['odd key']`",
            "a field of an object, a list element (negative from the end), a key"
        ),
    ]

    /// The whole reference as Markdown.
    public static func markdown() -> String {
        var lines: [String] = [
            "# Expressions",
            "",
            "<!-- Generated by `gather help expressions --markdown` (scripts/gen-docs) from the function table; do not edit. -->",
            "",
            "Transforms use small expressions: `filter: \"qty >= 10\"`, `fields: { total: \"price * qty\" }`. An",
            "expression reads the fields of one record and gives one value.",
            "",
            "## Syntax",
            "",
            "- **Fields**: `name`, nested `a.b.c`, list elements `tags[0]` (`tags[-1]` is the last), keys that are not",
            "  names `a['odd key']`, or back quotes `` `odd name` `` (also for a field called like a keyword, `` `in` ``).",
            "  A missing field, an index out of range or a path through a non-object is `null`, not an error.",
            "- **Literals**: integers `42`, decimals `2.5` and `1e3`, text in `'…'` or `\"…\"` (escapes `\\\\ \\' \\\" \\n \\t",
            "  \\r \\uXXXX`), `true`, `false`, `null`, lists `[1, 2, x]`. Keywords (`and or not in is null true false`)",
            "  and function names are case-insensitive.",
            "- **Lists** are written in square brackets: `status in ['open', 'new']`. Parentheses only group:",
            "  `status in ('open', 'new')` is an error that says so.",
            "",
            "## Operators",
            "",
            "Lowest precedence first; parentheses group.",
            "",
            "| Operator | Meaning |",
            "| --- | --- |",
        ]
        for (symbol, meaning) in Self.operators { lines.append("| \(symbol) | \(meaning) |") }
        lines += [
            "",
            "## Null, numbers and truth",
            "",
            "- Arithmetic with `null` is `null` (`null + 1`); use `coalesce(x, 0)` to substitute.",
            "- Int with int stays an int, and overflow is an error (never a wrong number); with a double either side,",
            "  the result is a double. Division or remainder by zero is an error: guard it, `if(d != 0, n / d, null)`.",
            "- `==` works on any two values (`1 == 1.0`; different types are unequal; `null == null`). `x in null` is",
            "  false.",
            "- `and`, `or`, `not`, `if()` and `filter` take booleans: `null` counts as false, anything else (a",
            "  number, text) is an error that names it.",
            "- An error in one record makes that record an error row (in `_gather_errors`, with the column of the",
            "  failing operator); the run goes on.",
            "",
            "## Functions",
            "",
            "Examples read the record `\(JSONWriter.string(.object(Self.exampleRecord)))`.",
            "",
            "| Function | Result | Example | Null |",
            "| --- | --- | --- | --- |",
        ]
        for function in Self.functions {
            let names =
                function.names.count > 1
                ? " (also " + function.names.dropFirst().map { "`\($0)`" }.joined(separator: ", ") + ")" : ""
            lines.append(
                "| `\(function.usage.replacing("|", with: "\\|"))`\(names) | \(function.summary) | "
                    + "`\(function.example.expression)` → `\(function.example.result)` | \(function.nulls) |")
        }
        lines += [
            "",
            "An unknown function or a wrong number of arguments is an error when the pipeline is loaded",
            "(`gather validate` shows it, with the closest name).",
        ]
        return lines.joined(separator: "\n") + "\n"
    }
}
