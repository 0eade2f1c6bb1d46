import GatherCore
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// A small expression over the fields of a ``Record``, as written in pipeline transforms:
/// `filter: "contributions >= 10"`, `fields: { total: "price * qty" }`.
///
/// An expression is parsed once (``init(_:)``) into a syntax tree and then evaluated per record
/// (``evaluate(_:context:)``), without re-parsing.
///
/// ```swift
/// let total = try Expression("price * qty")
/// try total.evaluate(["price": 2.5, "qty": 4])          // .double(10.0)
/// let name = try Expression("upper(trim(first)) + ' ' + last")
/// try name.evaluate(["first": " ada ", "last": "Lovelace"])   // .string("ADA Lovelace")
/// ```
///
/// ## Syntax
///
/// - Literals: integers (`42`, an int), decimals and exponents (`2.5`, `1e3`, doubles), strings in
///   `'…'` or `"…"` with the escapes `\\ \' \" \n \t \r \uXXXX`, `true`, `false`, `null`, and lists
///   `[1, 2, x]`. Keywords (`and or not in is null true false`) are case-insensitive.
/// - Fields: `name`, nested `a.b.c`, list positions `a[0]` (negative positions count from the
///   end: `a[-1]` is the last element), keys `a['odd key']`, and back-quoted names `` `odd name` ``
///   for keys that are not identifiers (letters, digits, `_`, `$`, not starting with a digit) or
///   that are keywords (`` `in` ``). A back quote inside is written twice. A missing field, an
///   index out of range or a path through a non-object is `null`, not an error.
/// - Operators, lowest precedence first: `or` / `||`; `and` / `&&`; `not` / `!`; comparisons
///   `== != < <= > >=` (`=` and `<>` are synonyms of `==` and `!=`; they do not chain);
///   `in` / `not in`; `is null` / `is not null`; `+ -`; `* / %`; unary `-`; postfix `.name` and
///   `[index]`; function calls `name(args)`. Parentheses group.
///
/// ## Semantics
///
/// - **Null**: any arithmetic with null is null (`null + 1`, `'a' + null`); string functions
///   return null for null arguments. Use `coalesce(x, default)` to substitute.
/// - **Numbers**: int op int stays int, and overflow is an evaluation error (never a trap); when
///   either side is a double the result is a double. `/` of two ints is an int when the division
///   is exact (`6 / 3` is `2`) and a double otherwise (`7 / 2` is `3.5`). `%` takes the sign of
///   the dividend (`-7 % 3` is `-1`). Division or modulo by zero (int or double) is an
///   evaluation error.
/// - **`+`**: adds two numbers; when either side is a string, concatenates, converting the other
///   side to text (ints as digits, doubles in the shortest form that reads back the same, such as
///   `0.1` or `2.0`, booleans as `true` / `false`, lists and objects as compact JSON); two lists
///   are joined. Other operands are errors.
/// - **Comparisons**: `==` and `!=` work on any values: int and double compare numerically
///   (`1 == 1.0`), strings by Unicode scalars (no normalization), lists and objects element by
///   element; `null == null` is true, and values of different types are unequal. `< <= > >=`
///   order two numbers or two strings (by Unicode scalar values); anything else, including null
///   or NaN on either side, makes them false.
/// - **`in`**: `x in list` is true when some element is `== x`; `x in null` is false (so
///   `x not in null` is true); a right side that is not a list is an evaluation error.
/// - **Booleans**: `and`, `or`, `not` and `if()` accept only booleans and null: `true` is true,
///   `false` and `null` are false, and anything else is an evaluation error ("expected a
///   boolean"). `and` and `or` short-circuit: `false and 1/0` is `false`. They always return a
///   boolean.
///
/// ## Functions
///
/// Names are case-insensitive; an unknown name or a wrong number of arguments is a parse error. The table of
/// functions, with an example and the null rule of each, is ``ExpressionReference`` (`gather help expressions`,
/// `docs/expressions.md`), generated from the function table itself.
///
/// Failed conversions (`int('abc')`) are evaluation errors naming the value.
///
/// Two expressions are equal when their source texts are equal.
public struct Expression: Sendable, Hashable, CustomStringConvertible {
    /// The expression text.
    public let source: String
    private let root: ExpressionNode

    /// Parses `source`.
    ///
    /// - Throws: ``ExpressionError`` with a message and the column of the offending token, e.g.
    ///   for an unknown function (with a suggestion), a wrong number of arguments, an unterminated
    ///   string or trailing input.
    public init(_ source: String) throws(ExpressionError) {
        self.source = source
        self.root = try ExpressionParser.parse(source)
    }

    /// Evaluates the expression against `record`.
    ///
    /// Pass one `context` for a whole run so that `now()` is the same for every record; the
    /// default reads the clock at each call.
    ///
    /// ```swift
    /// try Expression("a.b[1] + 1").evaluate(["a": ["b": [10, 20]]])   // .int(21)
    /// ```
    ///
    /// - Throws: ``ExpressionError`` at the column of the failing operator or function, e.g. for
    ///   division by zero, integer overflow, a non-boolean operand of `and`, or a failed conversion.
    public func evaluate(_ record: Record, context: ExpressionContext = .init()) throws(ExpressionError) -> Value {
        try ExpressionEvaluator(source: source, record: record, context: context).evaluate(root)
    }

    /// Evaluates the expression as a filter condition: `true` only for the boolean `true`; `false`
    /// for `false` and `null`.
    ///
    /// - Throws: ``ExpressionError`` when evaluation fails or the result is neither a boolean nor null.
    public func matches(_ record: Record, context: ExpressionContext = .init()) throws(ExpressionError) -> Bool {
        switch try evaluate(record, context: context) {
        case .bool(let b): return b
        case .null: return false
        case let other:
            throw ExpressionError(
                message: "a condition must be true or false, but this gives \(ExpressionEvaluator.describe(other)): "
                    + "compare it explicitly, e.g. 'x > 0' or 'x is not null'",
                column: 1, source: source)
        }
    }

    /// The top-level field names the expression reads, in order of first use, without duplicates.
    ///
    /// ```swift
    /// try Expression("a.b + length(c) + a.d").referencedFields   // ["a", "c"]
    /// ```
    public var referencedFields: [String] {
        var names: [String] = []
        root.collectFields(into: &names)
        return names
    }

    /// The expression text.
    public var description: String { source }

    public static func == (lhs: Expression, rhs: Expression) -> Bool {
        lhs.source == rhs.source
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(source)
    }
}

/// Values an ``Expression`` reads from outside the record.
///
/// Create one context per run or batch and pass it to every evaluation, so that `now()` is the
/// same for every record.
public struct ExpressionContext: Sendable {
    /// What `now()` returns: an ISO-8601 UTC timestamp such as `2026-11-23T10:15:30Z`.
    public var now: String

    /// Creates a context; `now` defaults to the current time.
    public init(now: String = ExpressionContext.currentTimestamp()) {
        self.now = now
    }

    /// The current UTC time as `YYYY-MM-DDTHH:MM:SSZ` (``Timestamp/now()``: run rows, error rows and `now()` agree).
    public static func currentTimestamp() -> String { Timestamp.now() }

    /// A UTC time given in seconds since 1970-01-01T00:00:00Z as `YYYY-MM-DDTHH:MM:SSZ`.
    ///
    /// ```swift
    /// ExpressionContext.timestamp(secondsSince1970: 0)   // "1970-01-01T00:00:00Z"
    /// ```
    public static func timestamp(secondsSince1970 seconds: Int64) -> String {
        CivilDate.timestamp(millis: seconds * 1000)
    }
}
