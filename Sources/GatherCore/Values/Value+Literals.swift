/// Literal conformances, so values can be written the way they look in JSON.
///
/// ```swift
/// let v: Value = ["name": "Ada", "age": 36, "score": 9.5, "tags": ["x"], "boss": nil, "vip": true]
/// ```
extension Value: ExpressibleByNilLiteral {
    /// Creates ``null`` from `nil`.
    public init(nilLiteral: ()) {
        self = .null
    }
}

extension Value: ExpressibleByBooleanLiteral {
    /// Creates ``bool(_:)`` from `true` / `false`.
    public init(booleanLiteral value: Bool) {
        self = .bool(value)
    }
}

extension Value: ExpressibleByIntegerLiteral {
    /// Creates ``int(_:)`` from an integer literal.
    public init(integerLiteral value: Int64) {
        self = .int(value)
    }
}

extension Value: ExpressibleByFloatLiteral {
    /// Creates ``double(_:)`` from a floating-point literal.
    public init(floatLiteral value: Double) {
        self = .double(value)
    }
}

extension Value: ExpressibleByStringLiteral {
    /// Creates ``string(_:)`` from a string literal.
    public init(stringLiteral value: String) {
        self = .string(value)
    }
}

extension Value: ExpressibleByArrayLiteral {
    /// Creates ``array(_:)`` from an array literal.
    public init(arrayLiteral elements: Value...) {
        self = .array(elements)
    }
}

extension Value: ExpressibleByDictionaryLiteral {
    /// Creates ``object(_:)`` from a dictionary literal, keeping the fields in source order.
    ///
    /// Repeated keys are kept (see ``Record``); lookups return the last one.
    public init(dictionaryLiteral elements: (String, Value)...) {
        self = .object(Record(elements))
    }
}
