import GatherCore

/// The KServe v2 open inference protocol (`POST /v2/models/{name}/infer`), as a second shape of the same records
/// that `/predict` takes.
///
/// - **Tensors in, records out.** Each input's first dimension is the batch. Record *i* is an object with one
///   field per input, holding row *i* of that input in the input's other dimensions (a scalar for a
///   one-dimensional input). `{"name": "pixels", "shape": [2, 64], "datatype": "FP32", "data": [128 numbers]}`
///   is the two records `{"pixels": [64 numbers]}`: what `/predict` gets as `{"instances": [...]}`. `data` may be
///   flat (row-major, as the protocol says) or nested.
/// - **Predictions back as tensors.** When every prediction is an object with the same fields, one output per
///   field; otherwise one output named `predictions`. Whole numbers are `INT64`, other numbers `FP64`, booleans
///   `BOOL`, strings `BYTES`; arrays of equal shape add dimensions. Predictions of no common shape or type go out
///   as `BYTES`, each the prediction's JSON.
enum OpenInference {
    struct RequestError: Error {
        let message: String
    }

    private static let numeric: Set<String> = [
        "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64", "FP16", "FP32", "FP64",
    ]

    /// The records of an inference request, and its `id` (echoed in the answer).
    static func records(from body: Value) throws(RequestError) -> (records: [Value], id: Value?) {
        guard case .object(let request) = body else {
            throw RequestError(message: #"the body must be an object with "inputs": [{name, shape, datatype, data}]"#)
        }
        guard case .array(let inputs)? = request["inputs"], !inputs.isEmpty else {
            throw RequestError(message: #""inputs" must be a non-empty list of tensors {name, shape, datatype, data}"#)
        }
        var columns: [(name: String, rows: [Value])] = []
        for (index, input) in inputs.enumerated() {
            let column = try Self.rows(of: input, index: index)
            if let first = columns.first, first.rows.count != column.rows.count {
                throw RequestError(
                    message: "input '\(column.name)' has a batch of \(column.rows.count), input '\(first.name)' "
                        + "of \(first.rows.count); the first dimension of every input is the batch")
            }
            columns.append(column)
        }
        let count = columns[0].rows.count
        let records = (0..<count).map { row in
            Value.object(Record(columns.map { ($0.name, $0.rows[row]) }))
        }
        return (records, request["id"])
    }

    /// One input tensor's rows along its first dimension.
    private static func rows(of input: Value, index: Int) throws(RequestError) -> (name: String, rows: [Value]) {
        guard case .object(let tensor) = input, case .string(let name)? = tensor["name"] else {
            throw RequestError(message: "inputs[\(index)] must be an object with a string name")
        }
        let label = "input '\(name)'"
        guard case .array(let dimensions)? = tensor["shape"], !dimensions.isEmpty else {
            throw RequestError(message: "\(label): shape must be a non-empty list of dimensions, like [2, 64]")
        }
        var shape: [Int] = []
        for dimension in dimensions {
            guard case .int(let size) = dimension, size >= 0 else {
                throw RequestError(message: "\(label): every dimension of shape must be a whole number ≥ 0")
            }
            shape.append(Int(size))
        }
        guard case .string(let datatype)? = tensor["datatype"] else {
            throw RequestError(message: "\(label): datatype is missing (FP32, INT64, BOOL, BYTES, …)")
        }
        guard let data = tensor["data"] else { throw RequestError(message: "\(label): data is missing") }
        var flat: [Value] = []
        Self.flatten(data, into: &flat)
        let expected = shape.reduce(1, *)
        guard flat.count == expected else {
            throw RequestError(
                message: "\(label): shape \(shape) holds \(expected) values, data has \(flat.count)")
        }
        for (position, element) in flat.enumerated() {
            let fits: Bool =
                switch (datatype, element) {
                case ("BOOL", .bool): true
                case ("BYTES", .string): true
                case (let type, .int), (let type, .double): Self.numeric.contains(type)
                default: false
                }
            if !fits {
                guard datatype == "BOOL" || datatype == "BYTES" || Self.numeric.contains(datatype) else {
                    throw RequestError(
                        message: "\(label): datatype \(datatype) is not one of BOOL, BYTES, "
                            + Self.numeric.sorted().joined(separator: ", "))
                }
                throw RequestError(
                    message: "\(label): data[\(position)] is \(JSONWriter.string(element)), which is not \(datatype)")
            }
        }
        guard shape[0] > 0 else { throw RequestError(message: "\(label): the batch dimension is 0") }
        let inner = Array(shape.dropFirst())
        let rowSize = inner.reduce(1, *)
        let rows = (0..<shape[0]).map { row in
            Self.reshape(flat[row * rowSize..<(row + 1) * rowSize], to: inner[...])
        }
        return (name, rows)
    }

    private static func flatten(_ value: Value, into flat: inout [Value]) {
        if case .array(let items) = value {
            for item in items { Self.flatten(item, into: &flat) }
        } else {
            flat.append(value)
        }
    }

    private static func reshape(_ values: ArraySlice<Value>, to shape: ArraySlice<Int>) -> Value {
        guard let size = shape.first else { return values.first ?? .null }
        let inner = shape.dropFirst()
        let step = inner.reduce(1, *)
        var start = values.startIndex
        var items: [Value] = []
        items.reserveCapacity(size)
        for _ in 0..<size {
            items.append(Self.reshape(values[start..<start + step], to: inner))
            start += step
        }
        return .array(items)
    }

    // MARK: - The answer

    /// The inference response for `predictions`, one per record.
    static func response(model: String, id: Value?, predictions: [Value]) -> Record {
        var columns: [(String, [Value])] = [("predictions", predictions)]
        if case .object(let first)? = predictions.first {
            let keys = first.keys
            let sameFields = predictions.allSatisfy { prediction in
                if case .object(let object) = prediction { object.keys == keys } else { false }
            }
            if sameFields, !keys.isEmpty {
                columns = keys.map { key in
                    (key, predictions.map { if case .object(let object) = $0 { object[key] ?? .null } else { .null } })
                }
            }
        }
        var fields: [(String, Value)] = [("model_name", .string(model))]
        if let id { fields.append(("id", id)) }
        fields.append(("outputs", .array(columns.map { Self.tensor(name: $0.0, values: $0.1) })))
        return Record(fields)
    }

    private static func tensor(name: String, values: [Value]) -> Value {
        var shape: [Int]? = values.isEmpty ? [] : Self.shape(of: values[0])
        var flat: [Value] = []
        for value in values {
            if shape != nil, Self.shape(of: value) != shape { shape = nil }
            Self.flatten(value, into: &flat)
        }
        let datatype: String? =
            if flat.allSatisfy({ if case .int = $0 { true } else { false } }) {
                "INT64"
            } else if flat.allSatisfy({
                switch $0 {
                case .int, .double: true
                default: false
                }
            }) {
                "FP64"
            } else if flat.allSatisfy({ if case .bool = $0 { true } else { false } }) {
                "BOOL"
            } else if flat.allSatisfy({ if case .string = $0 { true } else { false } }) {
                "BYTES"
            } else {
                nil
            }
        guard let shape, let datatype else {
            return Self.tensor(
                name: name, datatype: "BYTES", shape: [values.count],
                data: values.map { .string(JSONWriter.string($0)) })
        }
        return Self.tensor(name: name, datatype: datatype, shape: [values.count] + shape, data: flat)
    }

    private static func tensor(name: String, datatype: String, shape: [Int], data: [Value]) -> Value {
        .object(
            Record([
                ("name", .string(name)), ("datatype", .string(datatype)),
                ("shape", .array(shape.map { .int(Int64($0)) })), ("data", .array(data)),
            ]))
    }

    /// The dimensions of a regular nested array (`[]` for a scalar), or `nil` when its rows differ.
    private static func shape(of value: Value) -> [Int]? {
        guard case .array(let items) = value else { return [] }
        guard let first = items.first else { return [0] }
        let inner = Self.shape(of: first)
        for item in items.dropFirst() where Self.shape(of: item) != inner { return nil }
        return inner.map { [items.count] + $0 }
    }
}
