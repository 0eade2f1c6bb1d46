/// A declarative description of one configurable component: the keys it takes, their types, defaults and
/// documentation. One spec drives validation (``validate(_:)``), terminal help (``helpText()``) and the generated
/// reference (``SpecDocs``).
///
/// ```swift
/// let linkHeader = ComponentSpec(
///     name: "link_header", kind: "paginator", summary: "Follows the Link header's rel=\"next\" URL.",
///     fields: [FieldSpec("max_pages", .int, description: "Stop after this many pages.")],
///     examples: ["paginate: link_header"])
/// ```
public struct ComponentSpec: Sendable {
    /// The name: the variant name in a ``FieldType/oneOf(discriminator:_:)`` (`link_header`), or the component
    /// (`resource`).
    public var name: String
    /// What sort of component it is: `pipeline`, `resource`, `paginator`, `auth`, `transform`, … (groups the docs).
    public var kind: String
    /// One sentence: what it does.
    public var summary: String
    /// The keys it takes.
    public var fields: [FieldSpec]
    /// YAML snippets showing it in use.
    public var examples: [String]
    /// When set, keys not in ``fields`` are accepted with this type (free-form maps such as headers).
    public var additionalFields: FieldType?
    /// For a variant of a ``FieldType/oneOf(discriminator:_:)``: the field that a value fills in the single-key
    /// form `name: value` (`- drop: [a, b]` with `shorthandField: "fields"` means `{type: drop, fields: [a, b]}`).
    /// Without one, the single-key form takes the settings as a mapping (`offset: {limit: 100}`).
    public var shorthandField: String?

    public init(
        name: String, kind: String, summary: String, fields: [FieldSpec], examples: [String] = [],
        additionalFields: FieldType? = nil, shorthandField: String? = nil
    ) {
        self.name = name
        self.kind = kind
        self.summary = summary
        self.fields = fields
        self.examples = examples
        self.additionalFields = additionalFields
        self.shorthandField = shorthandField
    }

    /// The field called `name` or with `name` as a synonym.
    public func field(named name: String) -> FieldSpec? {
        fields.first { $0.name == name } ?? fields.first { $0.synonyms.contains(name) }
    }

    /// `pipeline`, or `paginator 'offset'` when the name differs from the kind.
    public var displayName: String {
        name == kind ? kind : "\(kind) '\(name)'"
    }
}

/// One key of a component.
public struct FieldSpec: Sendable {
    /// The canonical key (`base_url`).
    public var name: String
    public var type: FieldType
    public var required: Bool
    /// The value used when the key is absent, written as YAML (`30s`, `100`, `append`, `[]`). It is validated
    /// like a written value, so it must be valid for ``type``. Leave it `nil` for defaults that depend on other
    /// keys, and say so in ``description``.
    public var defaultValue: String?
    /// What it does, one or two sentences.
    public var description: String
    /// A value to show in help and in "add …" messages (`/user/repos`).
    public var example: String?
    /// Tokens, passwords, client secrets: their values are collected for ``Redactor`` and never echoed in errors.
    public var secret: Bool
    /// Other accepted spellings (`paginator` for `paginate`); they map to ``name``.
    public var synonyms: [String]

    public init(
        _ name: String, _ type: FieldType, required: Bool = false, default defaultValue: String? = nil,
        description: String, example: String? = nil, secret: Bool = false, synonyms: [String] = []
    ) {
        self.name = name
        self.type = type
        self.required = required
        self.defaultValue = defaultValue
        self.description = description
        self.example = example
        self.secret = secret
        self.synonyms = synonyms
    }

    /// A sample value for messages: ``example``, else the default, else one for the type.
    var sampleValue: String {
        example ?? defaultValue ?? type.sampleValue
    }
}

/// The type of a field's value.
public indirect enum FieldType: Sendable {
    /// Any scalar, as text.
    case string
    /// A whole number.
    case int
    /// A number.
    case double
    /// `true` or `false`.
    case bool
    /// `500ms`, `30s`, `2m`, `1h` (``Swift/Duration/init(parsing:)``).
    case duration
    /// `20/s`, `5000/h`, `20/s:5` (``Rate``).
    case rate
    /// `512KiB`, `64MiB`, `1GB` (``parseByteCount(_:)``).
    case byteCount
    /// An RFC 9535 JSONPath, checked when loaded.
    case jsonPath
    /// An expression; text for now (checked by its consumer).
    case expression
    /// One of fixed words.
    case enumeration([String])
    /// A list whose items have this type.
    case list(FieldType)
    /// One value of this type, or a list of them; read as a list.
    case stringOrList(FieldType)
    /// A mapping with free keys and values of this type.
    case map(FieldType)
    /// A nested component.
    case object(ComponentSpec)
    /// One of several components, chosen by the value of the key `discriminator` (`type: link_header`), or
    /// by a bare scalar naming it (`paginate: link_header`).
    case oneOf(discriminator: String, [ComponentSpec])
    /// Anything; read it from ``ConfigValue/node``.
    case any

    /// A short type name for tables: `duration`, `list of string`, `append | merge`.
    public var shortName: String {
        switch self {
        case .string: return "string"
        case .int: return "integer"
        case .double: return "number"
        case .bool: return "boolean"
        case .duration: return "duration"
        case .rate: return "rate"
        case .byteCount: return "size"
        case .jsonPath: return "JSONPath"
        case .expression: return "expression"
        case .enumeration(let values): return values.joined(separator: " | ")
        case .list(let element): return "list of \(element.shortName)"
        case .stringOrList(let element): return "\(element.shortName) or list"
        case .map(let element): return "map of \(element.shortName)"
        case .object(let spec): return spec.name
        case .oneOf(_, let variants): return "one of " + variants.map(\.name).joined(separator: ", ")
        case .any: return "any"
        }
    }

    /// What a value must look like, for messages: `a duration like 30s or 500ms`.
    public var expectation: String {
        switch self {
        case .string: return "text"
        case .int: return "a whole number like 100"
        case .double: return "a number like 0.5"
        case .bool: return "true or false"
        case .duration: return "a duration like 30s or 500ms"
        case .rate: return "a rate like 20/s or 5000/h"
        case .byteCount: return "a size like 512KiB or 64MiB"
        case .jsonPath: return "a JSONPath like $.items"
        case .expression: return "an expression (text)"
        case .enumeration(let values): return "one of " + Suggestions.list(values)
        case .list(let element): return "a list of \(element.pluralName), like [\(element.sampleValue)]"
        case .stringOrList(let element):
            return "\(element.expectation), or a list of \(element.pluralName)"
        case .map(let element):
            return "a mapping of names to \(element.pluralName), like {name: \(element.sampleValue)}"
        case .object(let spec):
            let keys = spec.fields.prefix(3).map(\.name)
            return keys.isEmpty ? "a mapping" : "a mapping with keys such as " + Suggestions.list(keys)
        case .oneOf(let discriminator, let variants):
            let first = variants.first?.name ?? "…"
            return "the name of a type (\(Suggestions.list(variants.map(\.name)))), or a mapping with "
                + "\(discriminator): \(first) and its settings"
        case .any: return "any value"
        }
    }

    var pluralName: String {
        switch self {
        case .string: return "strings"
        case .int: return "whole numbers"
        case .double: return "numbers"
        case .bool: return "booleans"
        case .duration: return "durations"
        case .rate: return "rates"
        case .byteCount: return "sizes"
        case .jsonPath: return "JSONPaths"
        case .expression: return "expressions"
        case .enumeration(let values): return "values from " + Suggestions.list(values)
        case .list(let element): return "lists of \(element.pluralName)"
        case .stringOrList(let element): return element.pluralName
        case .map: return "mappings"
        case .object(let spec): return "\(spec.name) mappings"
        case .oneOf(_, let variants): return "\(variants.first?.kind ?? "component") settings"
        case .any: return "values"
        }
    }

    /// A sample value for messages.
    var sampleValue: String {
        switch self {
        case .string, .expression, .any: return "…"
        case .int: return "100"
        case .double: return "0.5"
        case .bool: return "true"
        case .duration: return "30s"
        case .rate: return "10/s"
        case .byteCount: return "64MiB"
        case .jsonPath: return "$.items"
        case .enumeration(let values): return values.first ?? "…"
        case .list(let element), .stringOrList(let element): return "[\(element.sampleValue)]"
        case .map(let element): return "{name: \(element.sampleValue)}"
        case .object: return "{…}"
        case .oneOf(_, let variants): return variants.first?.name ?? "…"
        }
    }
}
