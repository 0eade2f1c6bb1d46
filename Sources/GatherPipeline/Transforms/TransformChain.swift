public import GatherCore

/// What became of one record that went through a resource's transforms.
public enum TransformOutcome: Sendable {
    /// The records to write (usually one; `explode` and `select` can make more, or none).
    case records([Record])
    /// A filter removed it.
    case filtered
    /// A step failed: the error names the step and the expression column.
    case failed(code: String, message: String)
}

/// Applies a resource's ``Transform`` steps to each record, in order.
///
/// - `select`: a JSONPath into the record; each object it selects becomes a record, other values become
///   `{"value": …}` records.
/// - `fields`: each output field from an expression; with `keep_others`, the record's other fields stay.
/// - `filter`: keeps the record when the expression is `true` (`null`, a missing field or `false` drop it).
/// - `flatten`: nested objects become `a__b` fields.
/// - `explode`: one record per element of a list field.
/// - `drop`: removes fields.
public struct TransformChain: Sendable {
    public let steps: [Transform]

    public init(_ steps: [Transform]) {
        self.steps = steps
    }

    /// Runs every step over `record`.
    public func apply(_ record: Record, context: ExpressionContext) -> TransformOutcome {
        if self.steps.isEmpty { return .records([record]) }
        var current = [record]
        var filteredAny = false
        for (position, step) in self.steps.enumerated() {
            var next: [Record] = []
            next.reserveCapacity(current.count)
            for record in current {
                switch step {
                case .select(let path):
                    for value in path.select(in: .object(record)) {
                        if case .object(let object) = value {
                            next.append(object)
                        } else {
                            next.append(["value": value])
                        }
                    }
                case .fields(let fields, let keepOthers):
                    var out = keepOthers ? record : Record()
                    for (name, expression) in fields {
                        do {
                            out[name] = try expression.evaluate(record, context: context)
                        } catch {
                            return .failed(
                                code: "transform",
                                message: "transform step \(position + 1) (fields), field '\(name)': \(error)")
                        }
                        if out[name] == nil { out.append(name, .null) }
                    }
                    next.append(out)
                case .filter(let expression):
                    do {
                        if case .bool(true) = try expression.evaluate(record, context: context) {
                            next.append(record)
                        } else {
                            filteredAny = true
                        }
                    } catch {
                        return .failed(
                            code: "transform", message: "transform step \(position + 1) (filter): \(error)")
                    }
                case .flatten(let separator, let depth):
                    next.append(Self.flatten(record, separator: separator, depth: depth ?? Int.max))
                case .explode(let field):
                    guard let index = record.lastIndex(ofKey: field), case .array(let elements) = record[index].value
                    else {
                        next.append(record)
                        continue
                    }
                    for element in elements {
                        var copy = record
                        copy[field] = element
                        next.append(copy)
                    }
                case .drop(let names):
                    var out = Record()
                    out.reserveCapacity(record.count)
                    for (key, value) in record where !names.contains(key) { out.append(key, value) }
                    next.append(out)
                }
            }
            current = next
            if current.isEmpty { break }
        }
        if current.isEmpty && filteredAny { return .filtered }
        return .records(current)
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
