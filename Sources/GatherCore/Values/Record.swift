/// An ordered list of named fields: the object type of ``Value`` and the row type of the pipeline.
///
/// Fields keep the order in which they were added. Keys may repeat: the JSON reader keeps every
/// member of an object in input order, duplicates included, and the key lookup
/// ``subscript(_:)-(String)`` returns the **last** occurrence (the same field `JSON.parse`
/// in JavaScript and Python's `json.loads` keep).
///
/// ```swift
/// var user: Record = ["id": 1, "name": "Ada"]
/// user["email"] = "ada@example.com"   // appends
/// user["name"] = "Ada L."             // replaces
/// user["id"] = nil                    // removes
/// for (key, value) in user { print(key, value) }
/// ```
///
/// Lookup by key is a linear scan from the end, which is the fastest choice for the small
/// objects of typical records. Equality and hashing take order into account:
/// `["a": 1, "b": 2] != ["b": 2, "a": 1]`.
public struct Record: Sendable, Hashable, RandomAccessCollection {
    /// A field: its key and its value.
    public typealias Element = (key: String, value: Value)
    /// Positions are offsets from the first field.
    public typealias Index = Int

    /// One stored field. A nominal struct rather than the `Element` tuple, so arrays of fields
    /// use statically known metadata and specialized destruction (noticeably faster to build and free).
    @usableFromInline
    package struct Field: Sendable {
        @usableFromInline package var key: String
        @usableFromInline package var value: Value

        @inlinable
        package init(key: String, value: Value) {
            self.key = key
            self.value = value
        }
    }

    /// The fields in order.
    @usableFromInline
    package var fields: [Field]

    /// Creates an empty record.
    public init() {
        self.fields = []
    }

    /// Creates a record from fields, in order, duplicates kept.
    ///
    /// ```swift
    /// let r = Record([("a", 1), ("b", "x")])
    /// ```
    public init(_ fields: [(String, Value)]) {
        self.fields = fields.map { Field(key: $0.0, value: $0.1) }
    }

    /// Creates a record that takes ownership of already-built fields (used by the reader).
    @inlinable
    package init(fields: [Field]) {
        self.fields = fields
    }

    /// The keys, in order, duplicates included.
    public var keys: [String] {
        fields.map(\.key)
    }

    /// The values, in order.
    public var values: [Value] {
        fields.map(\.value)
    }

    /// The number of fields, duplicates included.
    @inlinable
    public var count: Int { fields.count }

    /// Always `0`.
    @inlinable
    public var startIndex: Int { 0 }

    /// The number of fields.
    @inlinable
    public var endIndex: Int { fields.count }

    /// The field at `position`, which must be in `0..<count`.
    ///
    /// ```swift
    /// let r: Record = ["a": 1]
    /// r[0].key    // "a"
    /// ```
    @inlinable
    public subscript(position: Int) -> Element {
        let field = fields[position]
        return (key: field.key, value: field.value)
    }

    /// The value of the last field named `key`, or `nil` if there is none.
    ///
    /// Setting a value replaces the last field named `key`, or appends a new field if there is none.
    /// Setting `nil` removes every field named `key`.
    ///
    /// ```swift
    /// var r: Record = ["a": 1]
    /// r["a"]        // .int(1)
    /// r["b"] = true // appends
    /// ```
    public subscript(key: String) -> Value? {
        get {
            guard let i = lastIndex(ofKey: key) else { return nil }
            return fields[i].value
        }
        set {
            if let newValue {
                if let i = lastIndex(ofKey: key) {
                    fields[i].value = newValue
                } else {
                    fields.append(Field(key: key, value: newValue))
                }
            } else {
                fields.removeAll { $0.key == key }
            }
        }
    }

    /// The position of the last field named `key`, or `nil`.
    public func lastIndex(ofKey key: String) -> Int? {
        var i = fields.count - 1
        while i >= 0 {
            if fields[i].key == key { return i }
            i -= 1
        }
        return nil
    }

    /// Appends a field without checking whether `key` is already present.
    ///
    /// This is the fast path for building records; a repeated key shadows earlier ones on lookup.
    ///
    /// ```swift
    /// var r = Record()
    /// r.append("a", 1)
    /// r.append("a", 2)   // r.count == 2, r["a"] == .int(2)
    /// ```
    @inlinable
    public mutating func append(_ key: String, _ value: Value) {
        fields.append(Field(key: key, value: value))
    }

    /// Reserves storage for at least `minimumCapacity` fields.
    @inlinable
    public mutating func reserveCapacity(_ minimumCapacity: Int) {
        fields.reserveCapacity(minimumCapacity)
    }

    /// Two records are equal when they hold equal fields in the same order.
    public static func == (lhs: Record, rhs: Record) -> Bool {
        guard lhs.fields.count == rhs.fields.count else { return false }
        for i in 0..<lhs.fields.count {
            let l = lhs.fields[i]
            let r = rhs.fields[i]
            guard l.key == r.key, l.value == r.value else { return false }
        }
        return true
    }

    /// Hashes the fields in order.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(fields.count)
        for field in fields {
            hasher.combine(field.key)
            hasher.combine(field.value)
        }
    }
}

extension Record: ExpressibleByDictionaryLiteral {
    /// Creates a record from a dictionary literal, keeping the fields in source order.
    ///
    /// ```swift
    /// let r: Record = ["id": 1, "name": "Ada"]
    /// ```
    public init(dictionaryLiteral elements: (String, Value)...) {
        self.init(elements)
    }
}

extension Record: CustomStringConvertible {
    /// The record as a compact JSON object, e.g. `{"a":1}`.
    public var description: String {
        JSONWriter.string(.object(self))
    }
}
