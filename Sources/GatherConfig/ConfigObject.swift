public import GatherCore
public import GatherFormats

/// A validated value: its typed content and the node it was read from.
public struct ConfigValue: Sendable {
    /// The typed content.
    public enum Content: Sendable {
        /// `string`, `expression` and `enumeration` fields (and any scalar read as text).
        case string(String)
        case int(Int)
        case double(Double)
        case bool(Bool)
        case duration(Duration)
        case rate(Rate)
        /// A size in bytes.
        case byteCount(Int)
        case jsonPath(JSONPath)
        /// `list` and `stringOrList` fields.
        case list([ConfigValue])
        /// `map` fields, in file order.
        case map([(key: String, keyLocation: SourceLocation, value: ConfigValue)])
        case object(ConfigObject)
        /// A `oneOf` field: the chosen variant's name and settings.
        case variant(name: String, object: ConfigObject)
        /// An `any` field: read ``ConfigValue/node``.
        case any
    }

    public var content: Content
    /// The node as written; for a default, a node built from the default text, located at the owning mapping.
    public var node: ConfigNode
    /// `true` when the value is the field's default, not written in the file.
    public var isDefault: Bool

    public init(_ content: Content, node: ConfigNode, isDefault: Bool = false) {
        self.content = content
        self.node = node
        self.isDefault = isDefault
    }

    /// Where the value is (the owning mapping for defaults).
    public var location: SourceLocation { node.location }

    public var stringValue: String? {
        if case .string(let s) = content { return s }
        return nil
    }

    public var intValue: Int? {
        if case .int(let i) = content { return i }
        return nil
    }

    /// Doubles, and ints widened.
    public var doubleValue: Double? {
        switch content {
        case .double(let d): return d
        case .int(let i): return Double(i)
        default: return nil
        }
    }

    public var boolValue: Bool? {
        if case .bool(let b) = content { return b }
        return nil
    }

    public var durationValue: Duration? {
        if case .duration(let d) = content { return d }
        return nil
    }

    public var rateValue: Rate? {
        if case .rate(let r) = content { return r }
        return nil
    }

    public var byteCountValue: Int? {
        if case .byteCount(let n) = content { return n }
        return nil
    }

    public var jsonPathValue: JSONPath? {
        if case .jsonPath(let p) = content { return p }
        return nil
    }

    public var listValue: [ConfigValue]? {
        if case .list(let l) = content { return l }
        return nil
    }

    public var mapValue: [(key: String, keyLocation: SourceLocation, value: ConfigValue)]? {
        if case .map(let m) = content { return m }
        return nil
    }

    public var objectValue: ConfigObject? {
        switch content {
        case .object(let o): return o
        case .variant(_, let o): return o
        default: return nil
        }
    }

    public var variantValue: (name: String, object: ConfigObject)? {
        if case .variant(let name, let object) = content { return (name, object) }
        return nil
    }

    /// The written node as a plain ``Value`` (YAML core typing).
    public var value: Value { node.toValue() }
}

/// A mapping that passed validation against a ``ComponentSpec``: typed, location-carrying accessors, with
/// defaults filled in and synonyms mapped to canonical names.
///
/// ```swift
/// let resource = try resourceSpec.validate(node)
/// let name = resource.string("name")!                  // required, so present
/// let timeout = resource.duration("timeout")           // Duration?, default filled in
/// if let (type, settings) = resource.variant("paginate") { … settings.int("limit") … }
/// if bad { errors.append(resource.error(at: "parent", "unknown resource 'x'; did you mean 'repos'?")) }
/// ```
///
/// Accessors take canonical names (or synonyms) of the spec's fields (a name the spec lacks is a programming
/// error: it asserts in debug builds); they return `nil` when the key is absent without a default.
public struct ConfigObject: Sendable {
    /// The spec it was validated against (for a `oneOf`, the chosen variant).
    public let spec: ComponentSpec
    /// The mapping (or, for a variant named by a bare scalar, that scalar).
    public let node: ConfigNode
    /// Values by canonical field name, written or default.
    let values: [String: ConfigValue]
    /// Where each written key is, by canonical name.
    let keyLocations: [String: SourceLocation]
    /// Keys accepted through ``ComponentSpec/additionalFields``, in file order.
    public let extraFields: [(key: String, keyLocation: SourceLocation, value: ConfigValue)]
    /// Secret values found in this object and everything inside it, longest first (see ``Redactor``).
    public let secrets: [String]

    init(
        spec: ComponentSpec, node: ConfigNode, values: [String: ConfigValue],
        keyLocations: [String: SourceLocation],
        extraFields: [(key: String, keyLocation: SourceLocation, value: ConfigValue)], secrets: [String]
    ) {
        self.spec = spec
        self.node = node
        self.values = values
        self.keyLocations = keyLocations
        self.extraFields = extraFields
        self.secrets = secrets
    }

    /// Where the mapping starts.
    public var location: SourceLocation { node.location }

    /// `resource 'repos'` (a component whose name is its kind, with the value of its `name` key when it has
    /// one), `paginator 'offset'` (a variant), `pipeline`.
    public var displayName: String {
        if spec.name == spec.kind, let name = values["name"]?.stringValue, !name.isEmpty {
            return "\(spec.kind) '\(name)'"
        }
        return spec.displayName
    }

    private func canonical(_ key: String) -> String {
        let field = spec.field(named: key)
        assert(field != nil, "\(spec.displayName) has no field '\(key)'")
        return field?.name ?? key
    }

    /// The validated value of `key` (written or default).
    public func value(_ key: String) -> ConfigValue? { values[canonical(key)] }

    /// `true` when `key` (or a synonym) was written in the file; `false` for defaults and absent keys.
    public func has(_ key: String) -> Bool { keyLocations[canonical(key)] != nil }

    /// The node written for `key`, `nil` when it was not written.
    public func node(_ key: String) -> ConfigNode? {
        has(key) ? values[canonical(key)]?.node : nil
    }

    /// Where the value of `key` is; the mapping's location when the key was not written.
    public func location(of key: String) -> SourceLocation {
        has(key) ? (values[canonical(key)]?.location ?? location) : location
    }

    /// Where `key` itself is written; the mapping's location when it was not.
    public func keyLocation(of key: String) -> SourceLocation {
        keyLocations[canonical(key)] ?? location
    }

    /// An error at the value of `key` (or at the mapping when the key is absent).
    public func error(at key: String, _ message: String) -> ConfigError {
        ConfigError(location: location(of: key), message: message)
    }

    /// An error at the mapping.
    public func error(_ message: String) -> ConfigError {
        ConfigError(location: location, message: message)
    }

    /// `string`, `expression` and `enumeration` fields.
    public func string(_ key: String) -> String? { value(key)?.stringValue }
    public func int(_ key: String) -> Int? { value(key)?.intValue }
    public func double(_ key: String) -> Double? { value(key)?.doubleValue }
    public func bool(_ key: String) -> Bool? { value(key)?.boolValue }
    public func duration(_ key: String) -> Duration? { value(key)?.durationValue }
    public func rate(_ key: String) -> Rate? { value(key)?.rateValue }
    /// A size in bytes.
    public func byteCount(_ key: String) -> Int? { value(key)?.byteCountValue }
    public func jsonPath(_ key: String) -> JSONPath? { value(key)?.jsonPathValue }

    /// An `enumeration` field as a `RawRepresentable` type (`WriteMode(rawValue:)`).
    public func enumeration<E: RawRepresentable>(_ key: String, as type: E.Type = E.self) -> E?
    where E.RawValue == String {
        string(key).flatMap(E.init(rawValue:))
    }

    /// A field whose spec gives it a default: the written value, or that default. The default is read from the
    /// spec, never restated at the call (so the generated reference and the loader cannot disagree). Where the
    /// written value was invalid, an error is reported already and the default stands in, so loading goes on and
    /// finds the other errors. A field whose spec has no default is a programming error: read it as an optional.
    public func int(defaulted key: String) -> Int { self.defaulted(key, \.intValue) ?? 0 }
    public func bool(defaulted key: String) -> Bool { self.defaulted(key, \.boolValue) ?? false }
    public func string(defaulted key: String) -> String { self.defaulted(key, \.stringValue) ?? "" }
    public func duration(defaulted key: String) -> Duration { self.defaulted(key, \.durationValue) ?? .zero }
    public func byteCount(defaulted key: String) -> Int { self.defaulted(key, \.byteCountValue) ?? 0 }
    public func jsonPath(defaulted key: String) -> JSONPath? { self.defaulted(key, \.jsonPathValue) }

    /// An `enumeration` field with a default in its spec (see ``int(defaulted:)``).
    public func enumeration<E: RawRepresentable>(defaulted key: String, as type: E.Type = E.self) -> E?
    where E.RawValue == String {
        self.defaulted(key, { $0.stringValue.flatMap(E.init(rawValue:)) })
    }

    private func defaulted<T>(_ key: String, _ read: (ConfigValue) -> T?) -> T? {
        if let value = self.value(key).flatMap(read) { return value }
        let name = self.canonical(key)
        guard let field = self.spec.fields.first(where: { $0.name == name }), let text = field.defaultValue else {
            assertionFailure(
                "\(self.spec.name).\(name) has no default in its spec: give it one, or read it as optional")
            return nil
        }
        var validator = SpecValidator()
        let value = validator.validateValue(
            SpecValidator.defaultNode(text, at: self.location), type: field.type, subject: name, secret: false)
        return value.flatMap(read)
    }

    /// The items of a `list` or `stringOrList` field; empty when absent.
    public func list(_ key: String) -> [ConfigValue] { value(key)?.listValue ?? [] }

    /// The items of a list of scalars as text; empty when absent.
    public func strings(_ key: String) -> [String] { list(key).compactMap(\.stringValue) }

    /// The written nodes of a list's items; empty when absent.
    public func nodes(_ key: String) -> [ConfigNode] { list(key).map(\.node) }

    /// A nested `object` (or the settings of a `oneOf`).
    public func object(_ key: String) -> ConfigObject? { value(key)?.objectValue }

    /// The items of a list of objects (or of `oneOf` variants); empty when absent.
    public func objects(_ key: String) -> [ConfigObject] { list(key).compactMap(\.objectValue) }

    /// A `oneOf` field: the variant's name and its settings.
    public func variant(_ key: String) -> (name: String, object: ConfigObject)? { value(key)?.variantValue }

    /// The items of a list of `oneOf` values; empty when absent.
    public func variants(_ key: String) -> [(name: String, object: ConfigObject)] {
        list(key).compactMap(\.variantValue)
    }

    /// The entries of a `map` field, in file order; empty when absent.
    public func map(_ key: String) -> [(key: String, keyLocation: SourceLocation, value: ConfigValue)] {
        value(key)?.mapValue ?? []
    }

    /// The entries of a map of scalars as text, in file order; empty when absent.
    public func stringMap(_ key: String) -> [(key: String, value: String)] {
        map(key).compactMap { entry in entry.value.stringValue.map { (entry.key, $0) } }
    }
}
