public import GatherConfig
public import GatherCore
public import GatherExpressions

/// `- drop: [FIELD, …]`: removes fields.
public struct DropTransform: RecordTransform {
    public static let spec = ComponentSpec(
        name: "drop", kind: "transform", summary: "Removes fields.",
        fields: [
            FieldSpec(
                "fields", .stringOrList(.string), required: true, description: "The fields.",
                example: "[internal_id, debug]")
        ],
        examples: ["- drop: [internal_id, debug]"], shorthandField: "fields")

    public var fields: [String]

    public init(fields: [String]) {
        self.fields = fields
    }

    public init?(_ settings: ConfigObject, errors: inout [ConfigError]) {
        self.init(fields: settings.strings("fields"))
    }

    public func apply(_ record: Record, context: ExpressionContext, into output: inout [Record])
        throws(TransformStepError) -> Bool
    {
        var out = Record()
        out.reserveCapacity(record.count)
        for (key, value) in record where !self.fields.contains(key) { out.append(key, value) }
        output.append(out)
        return true
    }

    public func shape(_ known: inout Set<String>, complete: inout Bool) {
        known.subtract(self.fields)
    }
}
