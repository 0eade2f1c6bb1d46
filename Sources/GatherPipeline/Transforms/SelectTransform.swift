public import GatherConfig
public import GatherCore
public import GatherExpressions
public import GatherFormats

/// `- select: PATH`: each object a JSONPath selects from the record becomes a record; other values become
/// `{"value": …}` records.
public struct SelectTransform: RecordTransform {
    public static let spec = ComponentSpec(
        name: "select", kind: "transform", summary: "Replaces each record with what a JSONPath selects from it.",
        fields: [FieldSpec("path", .jsonPath, required: true, description: "The JSONPath.", example: "$.attributes")],
        examples: ["- select: \"$.attributes\""], shorthandField: "path")

    public var path: JSONPath

    public init(path: JSONPath) {
        self.path = path
    }

    public init?(_ settings: ConfigObject, errors: inout [ConfigError]) {
        guard let path = settings.jsonPath("path") else { return nil }
        self.init(path: path)
    }

    public func apply(_ record: Record, context: ExpressionContext, into output: inout [Record])
        throws(TransformStepError) -> Bool
    {
        for value in self.path.select(in: .object(record)) {
            if case .object(let object) = value { output.append(object) } else { output.append(["value": value]) }
        }
        return true
    }
}
