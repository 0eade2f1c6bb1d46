public import GatherConfig
public import GatherCore
public import GatherExpressions

/// `- filter: EXPRESSION`: keeps the records for which the expression is `true`.
public struct FilterTransform: RecordTransform {
    public static let spec = ComponentSpec(
        name: "filter", kind: "transform",
        summary: "Keeps the records for which the expression is true (false, null and missing fields drop them).",
        fields: [
            FieldSpec(
                "expression", .expression, required: true, description: "The condition.", example: "contributions >= 10"
            )
        ],
        examples: ["- filter: \"contributions >= 10 and not bot\""], shorthandField: "expression")

    public var expression: Expression

    public init(_ expression: Expression) {
        self.expression = expression
    }

    public init?(_ settings: ConfigObject, errors: inout [ConfigError]) {
        guard let value = settings.value("expression"), let expression = Transform.expression(value, errors: &errors)
        else { return nil }
        self.init(expression)
    }

    public func apply(_ record: Record, context: ExpressionContext, into output: inout [Record])
        throws(TransformStepError) -> Bool
    {
        let kept: Value
        do {
            kept = try self.expression.evaluate(record, context: context)
        } catch {
            throw TransformStepError(message: "\(error)")
        }
        guard case .bool(true) = kept else { return false }
        output.append(record)
        return true
    }

    /// A filter keeps records as they are.
    public func shape(_ known: inout Set<String>, complete: inout Bool) {}
}
