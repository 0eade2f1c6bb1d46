public import GatherConfig
public import GatherCore
public import GatherExpressions

/// `- fields: { NAME: EXPRESSION, … }`: builds each record from expressions.
public struct FieldsTransform: RecordTransform {
    public static let spec = ComponentSpec(
        name: "fields", kind: "transform",
        summary: "Builds each record from expressions: a field name renames, and an expression computes "
            + "(arithmetic, comparisons, `and`/`or`/`not`, string functions, `coalesce`, casts, `now()`).",
        fields: [
            FieldSpec(
                "fields", .map(.expression), required: true, description: "Output field → expression.",
                example: "{ login: login, commits: contributions }"),
            FieldSpec("keep_others", .bool, default: "false", description: "Keep the fields not named here."),
        ],
        examples: ["- fields: { id: id, total: \"price * qty\", name: upper(trim(name)) }"], shorthandField: "fields")

    /// Output field → expression, in order.
    public var fields: [(name: String, expression: Expression)]
    /// Keep the fields not named here.
    public var keepOthers: Bool

    public init(fields: [(name: String, expression: Expression)], keepOthers: Bool) {
        self.fields = fields
        self.keepOthers = keepOthers
    }

    public init?(_ settings: ConfigObject, errors: inout [ConfigError]) {
        var fields: [(name: String, expression: Expression)] = []
        for (name, _, value) in settings.map("fields") {
            if let expression = Transform.expression(value, errors: &errors) { fields.append((name, expression)) }
        }
        self.init(fields: fields, keepOthers: settings.bool(defaulted: "keep_others"))
    }

    public func apply(_ record: Record, context: ExpressionContext, into output: inout [Record])
        throws(TransformStepError) -> Bool
    {
        var out = self.keepOthers ? record : Record()
        for (name, expression) in self.fields {
            do {
                out[name] = try expression.evaluate(record, context: context)
            } catch {
                throw TransformStepError(part: "field '\(name)'", message: "\(error)")
            }
            if out[name] == nil { out.append(name, .null) }
        }
        output.append(out)
        return true
    }

    public func shape(_ known: inout Set<String>, complete: inout Bool) {
        if self.keepOthers {
            known.formUnion(self.fields.map(\.name))
        } else {
            known = Set(self.fields.map(\.name))
            complete = true
        }
    }
}
