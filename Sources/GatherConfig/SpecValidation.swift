import GatherCore
import GatherFormats

extension ComponentSpec {
    /// Validates `node` against this spec and returns the typed view.
    ///
    /// Every problem is collected (unknown keys with "did you mean", wrong types with an example, missing
    /// required keys, unknown enum values and variants) before throwing. Synonyms map to canonical names and
    /// defaults fill in.
    ///
    /// ```swift
    /// let root = try ConfigLoader.load(path: "github.yaml")
    /// let pipeline = try pipelineSpec.validate(root)
    /// let redactor = Redactor(pipeline)
    /// ```
    public func validate(_ node: ConfigNode) throws(ConfigErrors) -> ConfigObject {
        let (object, errors) = check(node)
        try ConfigErrors(errors).throwIfAny()
        return object
    }

    /// Validates `node` like ``validate(_:)`` but returns what could be read together with the errors, so a
    /// caller can go on checking (and report its own errors alongside).
    public func check(_ node: ConfigNode) -> (object: ConfigObject, errors: [ConfigError]) {
        var validator = SpecValidator()
        let object = validator.validateObject(node, spec: self, subject: displayName, secret: false)
        return (object, validator.errors)
    }
}

/// The validation pass: walks a node along a spec, collecting values, errors and secrets.
struct SpecValidator {
    var errors: [ConfigError] = []
    var secrets: [String] = []

    private mutating func fail(_ location: SourceLocation, _ message: String) {
        errors.append(ConfigError(location: location, message: message))
    }

    // MARK: Objects

    /// Validates a mapping (or null, read as an empty mapping) against `spec`.
    mutating func validateObject(
        _ node: ConfigNode, spec: ComponentSpec, subject: String, secret: Bool, skipping skippedKey: String? = nil
    ) -> ConfigObject {
        let secretsStart = secrets.count
        var entries: [(key: String, keyLocation: SourceLocation, value: ConfigNode)] = []
        switch node.kind {
        case .mapping(let mapping): entries = mapping
        case .null: break
        case .scalar where skippedKey != nil: break  // a variant named by a bare scalar
        default:
            fail(
                node.location, "\(subject) must be \(FieldType.object(spec).expectation), not \(node.shapeDescription)")
            return ConfigObject(
                spec: spec, node: node, values: [:], keyLocations: [:], extraFields: [], secrets: [])
        }

        // The display name uses the `name` key (see ``ConfigObject/displayName``), so read it first.
        var displayName = spec.displayName
        if spec.name == spec.kind, spec.field(named: "name") != nil,
            let name = entries.first(where: { $0.key == "name" })?.value.stringValue, !name.isEmpty
        {
            displayName = "\(spec.kind) '\(name)'"
        }

        var values: [String: ConfigValue] = [:]
        var keyLocations: [String: SourceLocation] = [:]
        var writtenAs: [String: String] = [:]
        var extra: [(key: String, keyLocation: SourceLocation, value: ConfigValue)] = []
        for entry in entries {
            if entry.key == skippedKey, spec.field(named: entry.key) == nil { continue }
            guard let field = spec.field(named: entry.key) else {
                if let additional = spec.additionalFields {
                    let isSecret = secret || Redactor.looksSecret(entry.key)
                    if let value = validateValue(
                        entry.value, type: additional, subject: "'\(entry.key)' in \(displayName)", secret: isSecret)
                    {
                        extra.append((entry.key, entry.keyLocation, value))
                    }
                } else {
                    fail(entry.keyLocation, unknownKeyMessage(entry.key, in: spec, displayName: displayName))
                }
                continue
            }
            if let previous = writtenAs[field.name] {
                fail(
                    entry.keyLocation,
                    "'\(entry.key)' and '\(previous)' are the same setting in \(displayName); keep only '\(field.name)'"
                )
                continue
            }
            writtenAs[field.name] = entry.key
            keyLocations[field.name] = entry.keyLocation
            if entry.value.isNull {
                if field.required {
                    fail(
                        entry.value.location,
                        "'\(entry.key)' in \(displayName) is empty; write \(field.name): \(field.sampleValue)")
                }
                continue
            }
            if let value = validateValue(
                entry.value, type: field.type, subject: "'\(entry.key)'", secret: secret || field.secret)
            {
                values[field.name] = value
            }
        }

        for field in spec.fields where values[field.name] == nil && writtenAs[field.name] == nil {
            if let defaultText = field.defaultValue {
                let defaultNode = Self.defaultNode(defaultText, at: node.location)
                if var value = validateValue(
                    defaultNode, type: field.type, subject: "the default of '\(field.name)'", secret: false)
                {
                    value.isDefault = true
                    values[field.name] = value
                }
            } else if field.required {
                var message = "\(displayName) needs '\(field.name)'; "
                if node.isScalar, let skippedKey {
                    message +=
                        "write a mapping, like {\(skippedKey): \(spec.name), \(field.name): \(field.sampleValue)}"
                } else {
                    message += "add \(field.name): \(field.sampleValue)"
                }
                fail(node.location, message)
            }
        }

        return ConfigObject(
            spec: spec, node: node, values: values, keyLocations: keyLocations, extraFields: extra,
            secrets: Redactor.normalize(secrets[secretsStart...]))
    }

    private func unknownKeyMessage(_ key: String, in spec: ComponentSpec, displayName: String) -> String {
        let candidates = spec.fields.flatMap { [$0.name] + $0.synonyms }
        if let suggestion = Suggestions.closest(to: key, in: candidates) {
            let canonical = spec.field(named: suggestion)?.name ?? suggestion
            return "unknown key '\(key)' in \(displayName); did you mean '\(canonical)'?"
        }
        let valid = spec.fields.map(\.name)
        if valid.isEmpty { return "unknown key '\(key)' in \(displayName); it takes no settings, so remove it" }
        return "unknown key '\(key)' in \(displayName); valid keys are " + valid.joined(separator: ", ")
    }

    /// A node for a default written as YAML, placed at `location` (the mapping that lacks the key).
    static func defaultNode(_ text: String, at location: SourceLocation) -> ConfigNode {
        let special = text.first.map { "[{\"'|>&*!%@`".contains($0) } ?? false
        if !special, !text.contains(": "), !text.contains(" #") {
            return ConfigNode(
                YAMLCoreSchema.isNull(plain: text) ? .null : .scalar(text, quoted: false), location: location)
        }
        let parsed =
            (try? ConfigLoader.parseYAML(text: text, file: location.file))
            ?? ConfigNode(.scalar(text, quoted: true), location: location)
        return parsed.relocated(to: location)
    }

    // MARK: Values

    /// Validates one value against `type`; `nil` (with errors recorded) when it does not fit.
    mutating func validateValue(_ node: ConfigNode, type: FieldType, subject: String, secret: Bool) -> ConfigValue? {
        switch type {
        case .any:
            noteSecrets(in: node, secret: secret)
            return ConfigValue(.any, node: node)
        case .list(let element):
            guard let elements = node.elements else {
                return mismatch(node, type: type, subject: subject, secret: secret)
            }
            return validateList(elements, node: node, element: element, subject: subject, secret: secret)
        case .stringOrList(let element):
            if let elements = node.elements {
                return validateList(elements, node: node, element: element, subject: subject, secret: secret)
            }
            guard node.isScalar else { return mismatch(node, type: type, subject: subject, secret: secret) }
            guard let single = validateValue(node, type: element, subject: subject, secret: secret) else { return nil }
            return ConfigValue(.list([single]), node: node)
        case .map(let element):
            guard let entries = node.entries else {
                if node.isNull { return ConfigValue(.map([]), node: node) }
                return mismatch(node, type: type, subject: subject, secret: secret)
            }
            var result: [(key: String, keyLocation: SourceLocation, value: ConfigValue)] = []
            for entry in entries {
                let isSecret = secret || Redactor.looksSecret(entry.key)
                if let value = validateValue(
                    entry.value, type: element, subject: "'\(entry.key)' in \(subject)", secret: isSecret)
                {
                    result.append((entry.key, entry.keyLocation, value))
                }
            }
            return ConfigValue(.map(result), node: node)
        case .object(let spec):
            guard node.entries != nil || node.isNull else {
                return mismatch(node, type: type, subject: subject, secret: secret)
            }
            return ConfigValue(.object(validateObject(node, spec: spec, subject: subject, secret: secret)), node: node)
        case .oneOf(let discriminator, let variants):
            return validateVariant(
                node, discriminator: discriminator, variants: variants, subject: subject, secret: secret)
        default:
            return validateScalar(node, type: type, subject: subject, secret: secret)
        }
    }

    private mutating func validateList(
        _ elements: [ConfigNode], node: ConfigNode, element: FieldType, subject: String, secret: Bool
    ) -> ConfigValue? {
        var items: [ConfigValue] = []
        var ok = true
        for (index, item) in elements.enumerated() {
            let itemSubject = "item \(index + 1) of \(subject)"
            if item.isNull {
                fail(item.location, "\(itemSubject) is empty; write a value after '-' or remove the line")
                ok = false
            } else if let value = validateValue(item, type: element, subject: itemSubject, secret: secret) {
                items.append(value)
            } else {
                ok = false
            }
        }
        return ok ? ConfigValue(.list(items), node: node) : nil
    }

    private mutating func validateScalar(
        _ node: ConfigNode, type: FieldType, subject: String, secret: Bool
    ) -> ConfigValue? {
        guard let text = node.stringValue else { return mismatch(node, type: type, subject: subject, secret: secret) }
        noteSecrets(in: node, secret: secret)
        let content: ConfigValue.Content
        switch type {
        case .string, .expression:
            content = .string(text)
        case .int:
            guard let n = Int(text.trimmingWhitespace()) else {
                return mismatch(node, type: type, subject: subject, secret: secret)
            }
            content = .int(n)
        case .double:
            guard let d = Double(text.trimmingWhitespace()), d.isFinite else {
                return mismatch(node, type: type, subject: subject, secret: secret)
            }
            content = .double(d)
        case .bool:
            switch text.trimmingWhitespace().lowercased() {
            case "true": content = .bool(true)
            case "false": content = .bool(false)
            default:
                var hint = ""
                switch text.lowercased() {
                case "yes", "on", "y", "1": hint = "; write true"
                case "no", "off", "n", "0": hint = "; write false"
                default: break
                }
                return mismatch(node, type: type, subject: subject, secret: secret, hint: hint)
            }
        case .duration:
            guard let d = try? Duration(parsing: text) else {
                return mismatch(node, type: type, subject: subject, secret: secret)
            }
            content = .duration(d)
        case .rate:
            do {
                content = .rate(try Rate(parsing: text))
            } catch {
                let hint =
                    text.contains(":") ? "; the burst after ':' must be a whole number of at least 1, like 20/s:5" : ""
                return mismatch(node, type: type, subject: subject, secret: secret, hint: hint)
            }
        case .byteCount:
            guard let n = try? parseByteCount(text) else {
                return mismatch(node, type: type, subject: subject, secret: secret)
            }
            content = .byteCount(n)
        case .jsonPath:
            do {
                content = .jsonPath(try JSONPath(text))
            } catch {
                let shown = secret ? "" : ", not '\(text)'"
                fail(
                    node.location,
                    "\(subject) must be a JSONPath like $.items or $.data[*]\(shown): \(error.message) "
                        + "(at character \(error.offset + 1))")
                return nil
            }
        case .enumeration(let allowed):
            guard allowed.contains(text) else {
                var message = "\(subject) must be one of \(Suggestions.list(allowed))"
                if !secret { message += ", not '\(text)'" }
                if let suggestion = Suggestions.closest(to: text, in: allowed) {
                    message += "; did you mean '\(suggestion)'?"
                }
                fail(node.location, message)
                return nil
            }
            content = .string(text)
        default:
            return mismatch(node, type: type, subject: subject, secret: secret)
        }
        return ConfigValue(content, node: node)
    }

    private mutating func validateVariant(
        _ node: ConfigNode, discriminator: String, variants: [ComponentSpec], subject: String, secret: Bool
    ) -> ConfigValue? {
        let kind = variants.first?.kind ?? "component"
        let names = variants.map(\.name)
        func lookup(_ name: String, at location: SourceLocation) -> ComponentSpec? {
            if let variant = variants.first(where: { $0.name == name }) { return variant }
            var message = "unknown \(kind) type '\(name)' for \(subject)"
            if let suggestion = Suggestions.closest(to: name, in: names) {
                message += "; did you mean '\(suggestion)'?"
            }
            message += " Use one of " + Suggestions.list(names)
            fail(location, message)
            return nil
        }
        switch node.kind {
        case .scalar(let name, _):
            guard let variant = lookup(name, at: node.location) else { return nil }
            let object = validateObject(node, spec: variant, subject: subject, secret: secret, skipping: discriminator)
            return ConfigValue(.variant(name: variant.name, object: object), node: node)
        case .mapping(let entries):
            if let typeEntry = entries.first(where: { $0.key == discriminator }) {
                guard let name = typeEntry.value.stringValue else {
                    fail(
                        typeEntry.value.location,
                        "'\(discriminator)' must name the \(kind) type, one of \(Suggestions.list(names)); "
                            + "write \(discriminator): \(names.first ?? "…")")
                    return nil
                }
                guard let variant = lookup(name, at: typeEntry.value.location) else { return nil }
                let object = validateObject(
                    node, spec: variant, subject: subject, secret: secret, skipping: discriminator)
                return ConfigValue(.variant(name: variant.name, object: object), node: node)
            }
            // The single-key form: `- drop: [a, b]` or `paginate: {offset: {limit: 100}}`.
            if entries.count == 1, let entry = entries.first,
                let variant = variants.first(where: { $0.name == entry.key })
            {
                return validateShorthand(entry, variant: variant, node: node, subject: subject, secret: secret)
            }
            if entries.count == 1, let entry = entries.first,
                let suggestion = Suggestions.closest(to: entry.key, in: names)
            {
                fail(
                    entry.keyLocation,
                    "unknown \(kind) type '\(entry.key)' for \(subject); did you mean '\(suggestion)'? "
                        + "Use one of \(Suggestions.list(names))")
                return nil
            }
            fail(
                node.location,
                "\(subject) needs '\(discriminator)' naming the \(kind) type, one of \(Suggestions.list(names)); "
                    + "add \(discriminator): \(names.first ?? "…")")
            return nil
        case .sequence, .null:
            return mismatch(
                node, type: .oneOf(discriminator: discriminator, variants), subject: subject, secret: secret)
        }
    }

    /// `name: value`: the value fills the variant's ``ComponentSpec/shorthandField``, or, when it has none (or
    /// the value is a mapping and that field takes none), is the variant's settings mapping:
    /// `process: [python3, w.py]` and `process: { command: [python3, w.py], workers: 2 }` both work.
    private mutating func validateShorthand(
        _ entry: (key: String, keyLocation: SourceLocation, value: ConfigNode), variant: ComponentSpec,
        node: ConfigNode, subject: String, secret: Bool
    ) -> ConfigValue? {
        let settings: ConfigNode
        let shorthandTakesMapping =
            switch variant.shorthandField.flatMap(variant.field(named:))?.type {
            case .map, .object, .any, .oneOf: true
            default: false
            }
        if let shorthand = variant.shorthandField, shorthandTakesMapping || entry.value.entries == nil {
            settings = ConfigNode(
                .mapping([(key: shorthand, keyLocation: entry.keyLocation, value: entry.value)]),
                location: entry.value.isNull ? node.location : entry.value.location,
                containsSubstitution: entry.value.containsSubstitution)
        } else if entry.value.entries != nil || entry.value.isNull {
            settings = entry.value.isNull ? ConfigNode(.null, location: node.location) : entry.value
        } else {
            fail(
                entry.value.location,
                "\(variant.displayName) takes settings as a mapping, not \(entry.value.shapeDescription); write "
                    + "\(entry.key): {\(variant.fields.first.map { "\($0.name): \($0.sampleValue)" } ?? "")}")
            return nil
        }
        let object = validateObject(settings, spec: variant, subject: subject, secret: secret)
        return ConfigValue(.variant(name: variant.name, object: object), node: node)
    }

    /// Records a wrong-type error; the value is not echoed for secret fields.
    private mutating func mismatch(
        _ node: ConfigNode, type: FieldType, subject: String, secret: Bool, hint: String = ""
    ) -> ConfigValue? {
        let shown = secret && node.isScalar ? "the value given" : node.shapeDescription
        fail(node.location, "\(subject) must be \(type.expectation), not \(shown)\(hint)")
        return nil
    }

    // MARK: Secrets

    /// Collects secrets from a scalar (or, for `any` values, every scalar inside): all text when `secret`, and
    /// the expansions of variables whose names look secret (``Redactor/looksSecret(_:)``) everywhere.
    private mutating func noteSecrets(in node: ConfigNode, secret: Bool) {
        switch node.kind {
        case .null: break
        case .scalar(let text, _):
            if secret {
                secrets.append(text)
                secrets.append(contentsOf: node.substitutions.map(\.value))
            } else {
                for substitution in node.substitutions where Redactor.looksSecret(substitution.variable) {
                    secrets.append(substitution.value)
                }
            }
        case .sequence(let elements):
            for element in elements { noteSecrets(in: element, secret: secret) }
        case .mapping(let entries):
            for entry in entries { noteSecrets(in: entry.value, secret: secret || Redactor.looksSecret(entry.key)) }
        }
    }
}

extension ConfigNode {
    /// The node with every location (its own, its keys', its children's) moved to `location`.
    func relocated(to location: SourceLocation) -> ConfigNode {
        var copy = self
        copy.location = location
        switch kind {
        case .null, .scalar: break
        case .sequence(let elements): copy.kind = .sequence(elements.map { $0.relocated(to: location) })
        case .mapping(let entries):
            copy.kind = .mapping(entries.map { ($0.key, location, $0.value.relocated(to: location)) })
        }
        return copy
    }
}

extension ComponentSpec {
    /// Mistakes in this spec and the specs nested in it, for a unit test of the lead's specs: repeated keys or
    /// synonyms, required fields with defaults, defaults that do not validate, unknown shorthand fields, empty
    /// enumerations, and `oneOf` lists with repeated names. Empty when all is well.
    public func specProblems() -> [String] {
        var problems: [String] = []
        for entry in SpecDocs.collect([self]) {
            let spec = entry.spec
            let context = spec.displayName
            var names = Set<String>()
            for field in spec.fields {
                for name in [field.name] + field.synonyms where !names.insert(name).inserted {
                    problems.append("\(context): '\(name)' is used twice")
                }
                if field.required, field.defaultValue != nil {
                    problems.append("\(context): '\(field.name)' is required but has a default")
                }
                if let defaultText = field.defaultValue {
                    var validator = SpecValidator()
                    let location = SourceLocation(file: "<default>", line: 1, column: 1)
                    _ = validator.validateValue(
                        SpecValidator.defaultNode(defaultText, at: location), type: field.type,
                        subject: "the default of '\(field.name)'", secret: false)
                    problems += validator.errors.map { "\(context): \($0.message)" }
                }
                problems += Self.typeProblems(field.type).map { "\(context): '\(field.name)': \($0)" }
            }
            if let shorthand = spec.shorthandField, spec.field(named: shorthand) == nil {
                problems.append("\(context): shorthandField '\(shorthand)' is not one of its fields")
            }
        }
        return problems
    }

    private static func typeProblems(_ type: FieldType) -> [String] {
        switch type {
        case .enumeration(let values):
            return values.isEmpty ? ["an enumeration needs at least one value"] : []
        case .list(let element), .stringOrList(let element), .map(let element):
            return typeProblems(element)
        case .oneOf(_, let variants):
            let names = variants.map(\.name)
            if names.isEmpty { return ["oneOf needs at least one variant"] }
            return Set(names).count == names.count ? [] : ["oneOf variants have repeated names"]
        default:
            return []
        }
    }
}
