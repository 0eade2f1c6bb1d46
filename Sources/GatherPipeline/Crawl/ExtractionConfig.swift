public import GatherConfig
import GatherCore
public import GatherHTML

/// Extraction specs in YAML: `gather crawl --extract spec.yaml`, and `extract:` of a pipeline's `crawl`
/// resource. Every mistake is reported with its file:line:column.
///
/// ```yaml
/// list: css:div.product             # optional: one record per match, fields relative to it
/// fields:
///   title: css:h2::text             # a selector: css:…, xpath:…, or bare CSS
///   price: { css: span.price::text, regex: '[0-9.]+', type: real }
///   tags: { css: .tag::text, all: true }
///   link: { xpath: .//a/@href, trim: false }
/// ```
public enum ExtractionConfig {
    public static let field = ComponentSpec(
        name: "field", kind: "extraction field",
        summary: "One field of an extraction spec: a selector, plus the first match or all, a regex, trimming, a type.",
        fields: [
            FieldSpec("css", .string, description: "A CSS selector (`::text`, `::attr(name)` as in parsel)."),
            FieldSpec("xpath", .string, description: "An XPath 1.0 expression (relative to a `list` match: `.//a`)."),
            FieldSpec("all", .bool, default: "false", description: "A list of every match instead of the first."),
            FieldSpec("regex", .string, description: "Keep the first capture group (or the whole match)."),
            FieldSpec("trim", .bool, default: "true", description: "Trim and collapse whitespace."),
            FieldSpec(
                "type", .enumeration(ExtractionField.Cast.allCases.map(\.rawValue)), default: "text",
                description: "Convert the text; a value that does not convert is null."),
        ])

    public static let spec = ComponentSpec(
        name: "extract", kind: "extract",
        summary: "What to take from each page: named fields, once per page or once per `list` match.",
        fields: [
            FieldSpec("list", .string, description: "A selector; one record per element it matches."),
            FieldSpec(
                "fields", .map(.any), required: true,
                description: "Field name → a selector (`css:…`, `xpath:…`, bare CSS) or a field mapping.",
                example: "{ title: \"css:h1::text\", price: { css: span.price::text, type: real } }"),
        ])

    /// Reads the spec file at `path`.
    public static func load(path: String) throws(ConfigErrors) -> ExtractionSpec {
        let node = try ConfigLoader.load(path: path)
        let object = try Self.spec.validate(node)
        var errors: [ConfigError] = []
        let spec = Self.build(object, errors: &errors)
        try ConfigErrors(errors).throwIfAny()
        return spec
    }

    /// The spec an `extract` object describes; problems are appended to `errors`.
    static func build(_ object: ConfigObject, errors: inout [ConfigError]) -> ExtractionSpec {
        var spec = ExtractionSpec(fields: [])
        if let list = object.string("list") {
            do {
                spec.list = try Selector(list)
            } catch {
                errors.append(object.error(at: "list", "\(error)"))
            }
        }
        for (name, keyLocation, value) in object.map("fields") {
            do {
                if let text = value.node.stringValue {
                    spec.fields.append(try ExtractionField(name: name, selector: try Selector(text)))
                    continue
                }
                let field = try Self.field.validate(value.node)
                let css = field.string("css")
                let xpath = field.string("xpath")
                guard (css == nil) != (xpath == nil) else {
                    errors.append(
                        ConfigError(location: keyLocation, message: "field '\(name)' needs css or xpath (one)"))
                    continue
                }
                spec.fields.append(
                    try ExtractionField(
                        name: name, selector: try Selector(css.map { "css:" + $0 } ?? "xpath:" + (xpath ?? "")),
                        all: field.bool(defaulted: "all"), pattern: field.string("regex"),
                        trim: field.bool(defaulted: "trim"),
                        cast: field.string("type").flatMap(ExtractionField.Cast.init(rawValue:)) ?? .text))
            } catch let problems as ConfigErrors {
                errors += problems.errors
            } catch {
                errors.append(ConfigError(location: value.location, message: "field '\(name)': \(error)"))
            }
        }
        return spec
    }
}
