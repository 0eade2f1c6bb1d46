/// A dynamically typed data value: the unit every source produces and every sink consumes.
///
/// `Value` mirrors the JSON data model, with one refinement: numbers are either
/// ``int(_:)`` (integral and within `Int64`) or ``double(_:)`` (everything else).
/// Objects are ``Record``s, which keep their fields in input order.
///
/// ```swift
/// let order: Value = ["id": 7, "tags": ["new", "eco"], "total": 12.5, "coupon": nil]
/// order["id"]?.intValue          // 7
/// order["tags"]?[1]?.stringValue // "eco"
/// order["total"]?.doubleValue    // 12.5
/// ```
///
/// Equality and hashing are structural and type-exact: `.int(1) != .double(1.0)`.
/// Doubles compare with IEEE semantics, so `.double(.nan) != .double(.nan)`.
public enum Value: Sendable, Hashable {
    /// The absence of a value (JSON `null`).
    case null
    /// A boolean (JSON `true` / `false`).
    case bool(Bool)
    /// An integral number that fits in `Int64`.
    case int(Int64)
    /// Any other number: with a fraction or exponent, or outside the `Int64` range.
    case double(Double)
    /// A Unicode string.
    case string(String)
    /// An ordered list of values.
    case array([Value])
    /// An ordered list of named fields.
    case object(Record)
}

extension Value {
    /// Looks up a field of an object; `nil` when `self` is not an object or has no such key.
    ///
    /// When the object holds the key more than once, the last occurrence wins.
    ///
    /// ```swift
    /// let v: Value = ["a": 1]
    /// v["a"]  // .int(1)
    /// v["b"]  // nil
    /// ```
    public subscript(key: String) -> Value? {
        guard case .object(let record) = self else { return nil }
        return record[key]
    }

    /// Returns an element of an array; `nil` when `self` is not an array or `index` is out of bounds.
    ///
    /// ```swift
    /// let v: Value = [10, 20]
    /// v[1]  // .int(20)
    /// v[2]  // nil
    /// ```
    public subscript(index: Int) -> Value? {
        guard case .array(let elements) = self, elements.indices.contains(index) else { return nil }
        return elements[index]
    }

    /// `true` when the value is ``null``.
    public var isNull: Bool {
        if case .null = self { return true }
        return false
    }

    /// The boolean payload, or `nil` when the value is not a ``bool(_:)``.
    public var boolValue: Bool? {
        if case .bool(let b) = self { return b }
        return nil
    }

    /// The integer payload, or `nil` when the value is not an ``int(_:)``.
    ///
    /// Doubles are not converted, even integral ones: `Value.double(2).intValue == nil`.
    public var intValue: Int64? {
        if case .int(let i) = self { return i }
        return nil
    }

    /// The numeric payload as a `Double`; ``int(_:)`` widens (rounding beyond 2^53).
    ///
    /// ```swift
    /// Value.int(3).doubleValue     // 3.0
    /// Value.double(0.5).doubleValue  // 0.5
    /// Value.string("1").doubleValue  // nil
    /// ```
    public var doubleValue: Double? {
        switch self {
        case .double(let d): return d
        case .int(let i): return Double(i)
        default: return nil
        }
    }

    /// The string payload, or `nil` when the value is not a ``string(_:)``.
    public var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    /// The elements, or `nil` when the value is not an ``array(_:)``.
    public var arrayValue: [Value]? {
        if case .array(let a) = self { return a }
        return nil
    }

    /// The record, or `nil` when the value is not an ``object(_:)``.
    public var objectValue: Record? {
        if case .object(let r) = self { return r }
        return nil
    }
}

extension Value: CustomStringConvertible {
    /// The value as compact JSON, e.g. `{"a":[1,2.5,null]}`.
    public var description: String {
        JSONWriter.string(self)
    }
}
