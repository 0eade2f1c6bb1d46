public import GatherConfig
public import GatherCore
public import GatherExpressions

/// `- flatten`: nested objects become `a__b` fields.
public struct FlattenTransform: RecordTransform {
    public static let spec = ComponentSpec(
        name: "flatten", kind: "transform", summary: "Nested objects become `a__b` fields.",
        fields: [
            FieldSpec("separator", .string, default: "__", description: "Joins nested names."),
            FieldSpec("depth", .int, description: "Levels to flatten (default: all)."),
        ],
        examples: ["- flatten", "- flatten: { separator: _ }"])

    /// Joins nested names.
    public var separator: String
    /// Levels to flatten (nil: all).
    public var depth: Int?

    public init(separator: String = "__", depth: Int? = nil) {
        self.separator = separator
        self.depth = depth
    }

    public init?(_ settings: ConfigObject, errors: inout [ConfigError]) {
        self.init(separator: settings.string(defaulted: "separator"), depth: settings.int("depth"))
    }

    public func apply(_ record: Record, context: ExpressionContext, into output: inout [Record])
        throws(TransformStepError) -> Bool
    {
        output.append(Self.flatten(record, separator: self.separator, depth: self.depth ?? Int.max))
        return true
    }

    /// Nested objects of `record` as `a__b` fields, `depth` levels deep.
    public static func flatten(_ record: Record, separator: String = "__", depth: Int = Int.max) -> Record {
        var out = Record()
        out.reserveCapacity(record.count)
        func add(_ record: Record, prefix: String, level: Int) {
            for (key, value) in record {
                let name = prefix.isEmpty ? key : prefix + separator + key
                if case .object(let nested) = value, level < depth {
                    add(nested, prefix: name, level: level + 1)
                } else {
                    out.append(name, value)
                }
            }
        }
        add(record, prefix: "", level: 0)
        return out
    }
}
