public import GatherConfig
public import GatherCore
public import GatherExpressions

/// `- explode: FIELD`: one record per element of a list field; the element replaces the field. A record whose
/// field is not a list passes unchanged.
public struct ExplodeTransform: RecordTransform {
    public static let spec = ComponentSpec(
        name: "explode", kind: "transform", summary: "One record per element of a list field.",
        fields: [FieldSpec("field", .string, required: true, description: "The list field.", example: "tags")],
        examples: ["- explode: tags"], shorthandField: "field")

    /// The list field.
    public var field: String

    public init(field: String) {
        self.field = field
    }

    public init?(_ settings: ConfigObject, errors: inout [ConfigError]) {
        guard let field = settings.string("field") else { return nil }
        self.init(field: field)
    }

    public func apply(_ record: Record, context: ExpressionContext, into output: inout [Record])
        throws(TransformStepError) -> Bool
    {
        guard let index = record.lastIndex(ofKey: self.field), case .array(let elements) = record[index].value else {
            output.append(record)
            return true
        }
        for element in elements {
            var copy = record
            copy[self.field] = element
            output.append(copy)
        }
        return true
    }
}
