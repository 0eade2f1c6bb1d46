import GatherCore

/// One output column of a window: `name: function(field)`, such as `avg_temp: avg(temp)`.
///
/// Functions: `count()` (events), `count(f)` (non-null values), `sum`, `min`, `max`, `avg`, `first` and `last` (by
/// event time; ties go to the earlier, respectively later, arrival), `count_distinct` (exact) and
/// `quantile(f, q)` (a ``TDigest``). Nulls and missing fields are skipped, as in SQL; a value that `sum`, `avg`
/// or `quantile` cannot read as a number makes the event an error row.
public struct AggregateSpec: Sendable, Hashable {
    public enum Function: Sendable, Hashable {
        case count, sum, min, max, avg, first, last, countDistinct
        case quantile(Double)
    }

    public var name: String
    public var function: Function
    /// The field it reads; `nil` only for `count()`.
    public var field: String?

    public init(name: String, function: Function, field: String?) {
        self.name = name
        self.function = function
        self.field = field
    }

    /// The function names, for messages and docs.
    public static let functionNames = [
        "count", "sum", "min", "max", "avg", "first", "last", "count_distinct", "quantile",
    ]

    /// Parses `count()`, `avg(temp)`, `quantile(temp, 0.95)`.
    public init(name: String, parsing text: String) throws(ConfigurationError) {
        let trimmed = text.trimmingWhitespace()
        guard let open = trimmed.firstIndex(of: "("), trimmed.hasSuffix(")") else {
            throw ConfigurationError(
                "'\(text)' is not an aggregate; write function(field), like avg(temp) or count()")
        }
        let function = String(trimmed[..<open]).trimmingWhitespace().lowercased()
        let inside = trimmed[trimmed.index(after: open)..<trimmed.index(before: trimmed.endIndex)]
        let arguments = inside.split(separator: ",", omittingEmptySubsequences: false).map {
            String($0).trimmingWhitespace()
        }
        let field = arguments.first.flatMap { $0.isEmpty ? nil : $0 }
        self.name = name
        self.field = field
        switch function {
        case "count": self.function = .count
        case "sum": self.function = .sum
        case "min": self.function = .min
        case "max": self.function = .max
        case "avg", "mean": self.function = .avg
        case "first": self.function = .first
        case "last": self.function = .last
        case "count_distinct": self.function = .countDistinct
        case "quantile", "percentile":
            guard arguments.count == 2, let q = Double(arguments[1]), q >= 0, q <= 1 else {
                throw ConfigurationError(
                    "\(function) takes a field and a fraction between 0 and 1, like quantile(temp, 0.95)")
            }
            self.function = .quantile(q)
        default:
            let known = Self.functionNames.map { "\($0)()" }.joined(separator: ", ")
            throw ConfigurationError("unknown aggregate '\(function)'; the functions are \(known)")
        }
        if case .quantile = self.function {
        } else if arguments.count > 1 {
            throw ConfigurationError("\(function)() takes one field, not \(arguments.count)")
        }
        if field == nil && self.function != .count {
            throw ConfigurationError("\(function)() needs a field, like \(function)(temp)")
        }
    }
}

/// The running state of one aggregate in one window. Every case merges (session windows join) and round-trips
/// through a ``Value`` exactly, so a restored window continues as if nothing had happened.
enum AggregateState: Sendable, Hashable {
    case count(Int64)
    /// An integer sum while every value is an integer (and it fits), then a double.
    case sum(int: Int64, double: Double, isDouble: Bool, values: Int64)
    case extreme(Value?)
    case avg(sum: Double, values: Int64)
    /// The value with the earliest (`first`) or latest (`last`) event time.
    case pick(time: Int64, value: Value?)
    case distinct(Set<String>)
    case digest(TDigest)

    init(_ function: AggregateSpec.Function) {
        switch function {
        case .count: self = .count(0)
        case .sum: self = .sum(int: 0, double: 0, isDouble: false, values: 0)
        case .min, .max: self = .extreme(nil)
        case .avg: self = .avg(sum: 0, values: 0)
        case .first: self = .pick(time: .max, value: nil)
        case .last: self = .pick(time: .min, value: nil)
        case .countDistinct: self = .distinct([])
        case .quantile: self = .digest(TDigest())
        }
    }

    /// A number read from `value`: integers, reals and numeric text; `nil` for null; an error otherwise.
    static func number(_ value: Value, field: String) throws(StreamEventError) -> Double? {
        switch value {
        case .null: return nil
        case .int(let i): return Double(i)
        case .double(let d):
            guard d.isFinite else {
                throw StreamEventError(code: "wrong_type", message: "field '\(field)' is not a finite number")
            }
            return d
        case .string(let s):
            if let d = Double(s.trimmingWhitespace()), d.isFinite { return d }
            throw StreamEventError(code: "wrong_type", message: "field '\(field)' is \"\(s.prefix(40))\", not a number")
        default:
            throw StreamEventError(code: "wrong_type", message: "field '\(field)' is \(value.typeName), not a number")
        }
    }

    /// Checks that `value` suits the function, before any state changes (an event is applied whole or not at all).
    static func check(_ function: AggregateSpec.Function, _ value: Value, field: String) throws(StreamEventError) {
        switch function {
        case .sum, .avg, .quantile: _ = try Self.number(value, field: field)
        default: break
        }
    }

    /// Adds one event's value (`nil`: the field is missing). Values were checked with ``check``.
    mutating func add(_ function: AggregateSpec.Function, _ value: Value?, time: Int64) {
        let present = value.flatMap { $0.isNull ? nil : $0 }
        switch (self, function) {
        case (.count(let n), _):
            // count(field) counts non-null values; for count() the caller passes a value for every event.
            if present != nil { self = .count(n + 1) }
        case (.sum(var int, var double, var isDouble, let values), _):
            guard let present else { return }
            if !isDouble, case .int(let i) = present {
                let (result, overflow) = int.addingReportingOverflow(i)
                if overflow {
                    isDouble = true
                    double = Double(int) + Double(i)
                } else {
                    int = result
                }
            } else {
                if !isDouble {
                    isDouble = true
                    double = Double(int)
                }
                double += (try? Self.number(present, field: "")).flatMap { $0 } ?? 0
            }
            self = .sum(int: int, double: double, isDouble: isDouble, values: values + 1)
        case (.extreme(let current), .min), (.extreme(let current), .max):
            guard let present else { return }
            guard let current else {
                self = .extreme(present)
                return
            }
            let less = Self.less(present, current)
            let more = Self.less(current, present)
            if (function == .min && less) || (function == .max && more) { self = .extreme(present) }
        case (.avg(let sum, let values), _):
            guard let present, let number = (try? Self.number(present, field: "")).flatMap({ $0 }) else { return }
            self = .avg(sum: sum + number, values: values + 1)
        case (.pick(let best, _), .first):
            guard let present, time < best else { return }
            self = .pick(time: time, value: present)
        case (.pick(let best, _), .last):
            guard let present, time >= best else { return }
            self = .pick(time: time, value: present)
        case (.distinct(var seen), _):
            guard let present else { return }
            seen.insert(JSONWriter.string(present))
            self = .distinct(seen)
        case (.digest(var digest), _):
            guard let present, let number = (try? Self.number(present, field: "")).flatMap({ $0 }) else { return }
            digest.add(number)
            self = .digest(digest)
        default:
            break
        }
    }

    /// Adds everything `other` holds (two session windows becoming one).
    mutating func merge(_ other: AggregateState, _ function: AggregateSpec.Function) {
        switch (self, other) {
        case (.count(let a), .count(let b)): self = .count(a + b)
        case (.sum(let ai, let ad, let aIsDouble, let an), .sum(let bi, let bd, let bIsDouble, let bn)):
            if !aIsDouble && !bIsDouble {
                let (result, overflow) = ai.addingReportingOverflow(bi)
                if !overflow {
                    self = .sum(int: result, double: 0, isDouble: false, values: an + bn)
                    return
                }
            }
            let a = aIsDouble ? ad : Double(ai)
            let b = bIsDouble ? bd : Double(bi)
            self = .sum(int: 0, double: a + b, isDouble: true, values: an + bn)
        case (.extreme, .extreme(let b)):
            guard let b else { return }
            self.add(function, b, time: 0)
        case (.avg(let a, let an), .avg(let b, let bn)): self = .avg(sum: a + b, values: an + bn)
        case (.pick(let at, let a), .pick(let bt, let b)):
            guard let b else { return }
            guard a != nil else {
                self = .pick(time: bt, value: b)
                return
            }
            if (function == .first && bt < at) || (function == .last && bt >= at) { self = .pick(time: bt, value: b) }
        case (.distinct(let a), .distinct(let b)): self = .distinct(a.union(b))
        case (.digest(var a), .digest(let b)):
            a.merge(b)
            self = .digest(a)
        default: break
        }
    }

    /// The aggregate's value in the output row.
    var result: Value {
        switch self {
        case .count(let n): .int(n)
        case .sum(let int, let double, let isDouble, let values):
            values == 0 ? .null : (isDouble ? .double(double) : .int(int))
        case .extreme(let value): value ?? .null
        case .avg(let sum, let values): values == 0 ? .null : .double(sum / Double(values))
        case .pick(_, let value): value ?? .null
        case .distinct(let seen): .int(Int64(seen.count))
        case .digest: .null
        }
    }

    func result(_ function: AggregateSpec.Function) -> Value {
        if case .digest(let digest) = self, case .quantile(let q) = function {
            return digest.quantile(q).map(Value.double) ?? .null
        }
        return self.result
    }

    /// Numbers before text; numbers by value, text by its bytes; other values by their JSON text.
    static func less(_ a: Value, _ b: Value) -> Bool {
        switch (a.doubleValue, b.doubleValue) {
        case (let x?, let y?): return x < y
        case (.some, nil): return true
        case (nil, .some): return false
        case (nil, nil):
            let x = a.stringValue ?? JSONWriter.string(a)
            let y = b.stringValue ?? JSONWriter.string(b)
            return x < y
        }
    }

    // MARK: checkpoint form

    var encoded: Value {
        switch self {
        case .count(let n): return .int(n)
        case .sum(let int, let double, let isDouble, let values):
            return .array([isDouble ? Self.encode(double) : .int(int), .int(values)])
        case .extreme(let value): return .array(value.map { [$0] } ?? [])
        case .avg(let sum, let values): return .array([Self.encode(sum), .int(values)])
        case .pick(let time, let value): return .array(value.map { [.int(time), $0] } ?? [])
        case .distinct(let seen): return .array(seen.sorted().map(Value.string))
        case .digest(let digest): return .array(digest.state.map(Value.double))
        }
    }

    /// A double for the checkpoint: JSON has no infinity (a sum can overflow to it), so those go as text.
    static func encode(_ value: Double) -> Value { value.isFinite ? .double(value) : .string(String(value)) }

    static func decode(_ value: Value) -> Double? {
        if case .string(let text) = value { return Double(text) }
        return value.doubleValue
    }

    init?(encoded: Value, function: AggregateSpec.Function) {
        switch function {
        case .count:
            guard let n = encoded.intValue else { return nil }
            self = .count(n)
        case .sum:
            guard let parts = encoded.arrayValue, parts.count == 2, let values = parts[1].intValue else { return nil }
            if case .int(let int) = parts[0] {
                self = .sum(int: int, double: 0, isDouble: false, values: values)
            } else if let double = Self.decode(parts[0]) {
                self = .sum(int: 0, double: double, isDouble: true, values: values)
            } else {
                return nil
            }
        case .min, .max:
            guard let parts = encoded.arrayValue else { return nil }
            self = .extreme(parts.first)
        case .avg:
            guard let parts = encoded.arrayValue, parts.count == 2, let sum = Self.decode(parts[0]),
                let values = parts[1].intValue
            else { return nil }
            self = .avg(sum: sum, values: values)
        case .first, .last:
            guard let parts = encoded.arrayValue else { return nil }
            if parts.count == 2, let time = parts[0].intValue {
                self = .pick(time: time, value: parts[1])
            } else {
                self = AggregateState(function)
            }
        case .countDistinct:
            guard let parts = encoded.arrayValue else { return nil }
            self = .distinct(Set(parts.compactMap(\.stringValue)))
        case .quantile:
            guard let parts = encoded.arrayValue, let digest = TDigest(state: parts.compactMap(\.doubleValue)) else {
                return nil
            }
            self = .digest(digest)
        }
    }
}

/// Why one event could not be used: it becomes an error row with its payload and source position.
public struct StreamEventError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A stable code: `invalid_json`, `no_event_time`, `bad_event_time`, `no_key`, `wrong_type`, `transform`.
    public var code: String
    public var message: String

    public init(code: String, message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { self.message }
}

extension Value {
    var typeName: String {
        switch self {
        case .null: "null"
        case .bool: "a boolean"
        case .int: "an integer"
        case .double: "a number"
        case .string: "text"
        case .array: "a list"
        case .object: "an object"
        }
    }
}
