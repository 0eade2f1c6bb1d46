public import GatherCore

/// A position in a configuration file: `file:line:column`, both numbers 1-based.
///
/// Columns count Unicode scalars, as libYAML does.
public struct SourceLocation: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The file as the user named it (or a label such as `<inline>`).
    public var file: String
    /// The line, from 1.
    public var line: Int
    /// The column, from 1.
    public var column: Int

    public init(file: String, line: Int, column: Int) {
        self.file = file
        self.line = line
        self.column = column
    }

    /// `file:line:column`.
    public var description: String { "\(file):\(line):\(column)" }

    /// Orders by file, then line, then column.
    public static func < (lhs: SourceLocation, rhs: SourceLocation) -> Bool {
        (lhs.file, lhs.line, lhs.column) < (rhs.file, rhs.line, rhs.column)
    }
}

/// A `${VAR}` expansion that happened inside a scalar.
public struct Substitution: Sendable, Hashable {
    /// The variable name (`GITHUB_TOKEN`).
    public var variable: String
    /// The text it expanded to (from the environment, the `.env` file, or the default).
    public var value: String

    public init(variable: String, value: String) {
        self.variable = variable
        self.value = value
    }
}

/// A YAML value with the place it was written.
///
/// ```swift
/// let root = try ConfigLoader.parse(text: "limit: 10\n", file: "p.yaml")
/// root["limit"]?.location.description   // "p.yaml:1:8"
/// root["limit"]?.toValue()              // .int(10)
/// ```
public struct ConfigNode: Sendable {
    /// The shape of a node.
    public indirect enum Kind: Sendable {
        /// Text. `quoted` is `true` for every non-plain scalar (single- or double-quoted, literal `|` or
        /// folded `>` blocks, or tagged `!!str`): such scalars are always strings.
        case scalar(String, quoted: Bool)
        /// A list.
        case sequence([ConfigNode])
        /// Keys and values in file order (duplicate keys are rejected by the loader).
        case mapping([(key: String, keyLocation: SourceLocation, value: ConfigNode)])
        /// `null`, `~`, or nothing at all (`key:`).
        case null
    }

    public var kind: Kind
    /// Where the value starts.
    public var location: SourceLocation
    /// `true` when a `${VAR}` was expanded in this scalar (or, for lists and mappings, anywhere inside).
    public var containsSubstitution: Bool
    /// The expansions made in this scalar (empty for lists and mappings).
    public var substitutions: [Substitution]

    public init(
        _ kind: Kind, location: SourceLocation, containsSubstitution: Bool = false,
        substitutions: [Substitution] = []
    ) {
        self.kind = kind
        self.location = location
        self.substitutions = substitutions
        self.containsSubstitution = containsSubstitution || !substitutions.isEmpty
    }

    /// The text of a scalar (plain or quoted); `nil` for null, lists and mappings.
    public var stringValue: String? {
        if case .scalar(let text, _) = kind { return text }
        return nil
    }

    /// `true` for `null`, `~` and empty values.
    public var isNull: Bool {
        if case .null = kind { return true }
        return false
    }

    /// `true` for scalars (not null).
    public var isScalar: Bool {
        if case .scalar = kind { return true }
        return false
    }

    /// The entries of a mapping; `nil` for other kinds.
    public var entries: [(key: String, keyLocation: SourceLocation, value: ConfigNode)]? {
        if case .mapping(let entries) = kind { return entries }
        return nil
    }

    /// The elements of a list; `nil` for other kinds.
    public var elements: [ConfigNode]? {
        if case .sequence(let elements) = kind { return elements }
        return nil
    }

    /// The value of `key` in a mapping; `nil` when absent or when this is not a mapping.
    public subscript(key: String) -> ConfigNode? {
        entries?.first { $0.key == key }?.value
    }

    /// What the node is, for messages: `text`, `a number`, `a list`, `a mapping`, `null`.
    public var shapeDescription: String {
        switch kind {
        case .null: return "empty (null)"
        case .sequence: return "a list"
        case .mapping: return "a mapping"
        case .scalar(let text, _): return "'\(text)'"
        }
    }

    /// The node as a ``Value``: plain scalars are typed by the YAML 1.2 core schema (`42` → int, `1.5` → double,
    /// `true`/`false` → bool, `null`/`~`/empty → null); quoted and block scalars are always strings.
    ///
    /// A plain scalar that became empty through `${VAR}` expansion is the empty string, not null.
    public func toValue() -> Value {
        switch kind {
        case .null:
            return .null
        case .scalar(let text, let quoted):
            if quoted || (text.isEmpty && containsSubstitution) { return .string(text) }
            return YAMLCoreSchema.value(ofPlain: text)
        case .sequence(let elements):
            return .array(elements.map { $0.toValue() })
        case .mapping(let entries):
            return .object(Record(entries.map { ($0.key, $0.value.toValue()) }))
        }
    }
}

/// Typing of plain scalars by the YAML 1.2 core schema.
enum YAMLCoreSchema {
    static let nulls: Set<String> = ["", "~", "null", "Null", "NULL"]
    static let trues: Set<String> = ["true", "True", "TRUE"]
    static let falses: Set<String> = ["false", "False", "FALSE"]

    static func isNull(plain text: String) -> Bool { nulls.contains(text) }

    static func value(ofPlain text: String) -> Value {
        if nulls.contains(text) { return .null }
        if trues.contains(text) { return .bool(true) }
        if falses.contains(text) { return .bool(false) }
        if let number = number(text) { return number }
        return .string(text)
    }

    /// `[-+]?[0-9]+`, `0o[0-7]+`, `0x[0-9a-fA-F]+`, floats with optional fraction and exponent, `.inf`, `.nan`.
    static func number(_ text: String) -> Value? {
        let scalars = Array(text.unicodeScalars)
        guard let first = scalars.first else { return nil }
        if text.hasPrefix("0o"), scalars.count > 2, let n = Int64(text.dropFirst(2), radix: 8) { return .int(n) }
        if text.hasPrefix("0x"), scalars.count > 2, let n = Int64(text.dropFirst(2), radix: 16) { return .int(n) }
        var body = Substring(text)
        var negative = false
        if first == "-" || first == "+" {
            negative = first == "-"
            body = body.dropFirst()
        }
        switch body {
        case ".inf", ".Inf", ".INF": return .double(negative ? -.infinity : .infinity)
        case ".nan", ".NaN", ".NAN": return first == "-" || first == "+" ? nil : .double(.nan)
        default: break
        }
        guard !body.isEmpty, body.unicodeScalars.allSatisfy({ isDigit($0) }) else {
            guard float(body) else { return nil }
            return (Double(text) ?? Double(text + "0")).map { .double($0) }
        }
        if let n = Int64(text) { return .int(n) }
        return Double(text).map { .double($0) }
    }

    /// `(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?`
    private static func float(_ body: Substring) -> Bool {
        var s = body.unicodeScalars[...]
        let intDigits = s.prefix { isDigit($0) }.count
        s = s.dropFirst(intDigits)
        var fracDigits = 0
        if s.first == "." {
            s = s.dropFirst()
            fracDigits = s.prefix { isDigit($0) }.count
            s = s.dropFirst(fracDigits)
        } else if intDigits == 0 {
            return false
        }
        guard intDigits > 0 || fracDigits > 0 else { return false }
        if let e = s.first, e == "e" || e == "E" {
            s = s.dropFirst()
            if let sign = s.first, sign == "-" || sign == "+" { s = s.dropFirst() }
            let expDigits = s.prefix { isDigit($0) }.count
            guard expDigits > 0 else { return false }
            s = s.dropFirst(expDigits)
        }
        return s.isEmpty
    }

    private static func isDigit(_ scalar: Unicode.Scalar) -> Bool { scalar.value >= 48 && scalar.value <= 57 }
}
