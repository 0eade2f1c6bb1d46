public import GatherConfig
public import GatherCore
public import GatherExpressions
public import GatherFormats

/// One step of a resource's `transform:` list: a step applied record by record (one file each: its spec, how it
/// is read, what it does), or a ``ProcessStage`` that sends batches of records to worker processes.
public enum Transform: Sendable {
    /// A step applied record by record.
    case record(any RecordTransform)
    /// Batches of records to worker processes (``ProcessStage``).
    case process(ProcessStage)

    /// Every record-by-record step, in the order the reference lists them.
    public static let recordTransforms: [any RecordTransform.Type] = [
        SelectTransform.self, FieldsTransform.self, FilterTransform.self, FlattenTransform.self,
        ExplodeTransform.self, DropTransform.self,
    ]

    /// Reads the record-by-record step named `type` (nil when its settings were unusable: an error says why).
    static func parse(_ type: String, _ settings: ConfigObject, errors: inout [ConfigError]) -> Transform? {
        Self.recordTransforms.first { $0.spec.name == type }?.init(settings, errors: &errors).map(Transform.record)
    }

    /// Parses an expression written in a YAML value; an error points at its column inside the scalar.
    static func expression(_ value: ConfigValue, errors: inout [ConfigError]) -> Expression? {
        guard let text = value.stringValue else { return nil }
        do {
            return try Expression(text)
        } catch {
            var location = value.node.location
            if case .scalar(_, let quoted) = value.node.kind {
                location.column += error.column - 1 + (quoted ? 1 : 0)
            }
            errors.append(ConfigError(location: location, message: "in the expression '\(text)': \(error.message)"))
            return nil
        }
    }

    // Steps built in code.

    /// ``SelectTransform``.
    public static func select(_ path: JSONPath) -> Transform { .record(SelectTransform(path: path)) }
    /// ``FieldsTransform``.
    public static func fields(_ fields: [(name: String, expression: Expression)], keepOthers: Bool) -> Transform {
        .record(FieldsTransform(fields: fields, keepOthers: keepOthers))
    }
    /// ``FilterTransform``.
    public static func filter(_ expression: Expression) -> Transform { .record(FilterTransform(expression)) }
    /// ``FlattenTransform``.
    public static func flatten(separator: String = "__", depth: Int? = nil) -> Transform {
        .record(FlattenTransform(separator: separator, depth: depth))
    }
    /// ``ExplodeTransform``.
    public static func explode(field: String) -> Transform { .record(ExplodeTransform(field: field)) }
    /// ``DropTransform``.
    public static func drop(_ fields: [String]) -> Transform { .record(DropTransform(fields: fields)) }
}

/// A transform step applied record by record.
public protocol RecordTransform: Sendable {
    /// The name, fields and docs (`- NAME: …` in `transform:`).
    static var spec: ComponentSpec { get }
    /// Reads the step from its settings (the spec has checked them); nil, with an error, when they are unusable.
    init?(_ settings: ConfigObject, errors: inout [ConfigError])
    /// Appends what `record` becomes to `output`. Returns `false` when the step drops the record as a filter
    /// (so an input whose records all went that way counts as filtered, not as producing nothing).
    func apply(_ record: Record, context: ExpressionContext, into output: inout [Record]) throws(TransformStepError)
        -> Bool
    /// How the step changes what is known of the records' fields: `fields` named so far, and `complete` when
    /// they are all there is (a child resource's references to its parent's fields are checked against this).
    func shape(_ fields: inout Set<String>, complete: inout Bool)
}

extension RecordTransform {
    /// By default a step makes the records' fields unknown.
    public func shape(_ fields: inout Set<String>, complete: inout Bool) {
        fields = []
        complete = false
    }
}

/// A step failed for one record; the record becomes an error row.
public struct TransformStepError: Error, Sendable {
    /// What of the step failed, like `field 'total'` (nil: the step as a whole).
    public var part: String?
    public var message: String

    public init(part: String? = nil, message: String) {
        self.part = part
        self.message = message
    }
}
