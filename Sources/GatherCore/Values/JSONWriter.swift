/// Serializes ``Value``s as compact JSON (no spaces, no newlines) in UTF-8.
///
/// ```swift
/// let value: Value = ["id": 1, "name": "Zoë \"Z\"", "score": 0.5, "tags": [], "next": nil]
/// JSONWriter.string(value)
/// // {"id":1,"name":"Zoë \"Z\"","score":0.5,"tags":[],"next":null}
///
/// var line: [UInt8] = []
/// JSONWriter.write(value, into: &line)
/// line.append(UInt8(ascii: "\n"))   // one JSON Lines record
/// ```
///
/// Output rules:
/// - Strings escape `"`, `\` and control characters (`\n`, `\r`, `\t`, `\b`, `\f`, others as
///   `\u00XX`); everything else, including non-ASCII, is written as raw UTF-8.
/// - Doubles use the shortest text that reads back as the same `Double` (`0.1`, `1e-300`,
///   `30000000000.0`); integral doubles keep a `.0` or an exponent, so they read back as
///   ``Value/double(_:)``, not ``Value/int(_:)``. NaN and infinities, which JSON cannot represent,
///   are written as `null`.
/// - Object fields are written in order, duplicate keys included.
///
/// For any value without NaN or infinities, `JSONReader.parse(JSONWriter.string(v)) == v`.
public enum JSONWriter {
    /// Appends `value` as compact JSON to `buffer`.
    ///
    /// ```swift
    /// var out: [UInt8] = []
    /// JSONWriter.write([1, 2.5, "x"], into: &out)   // [1,2.5,"x"]
    /// ```
    public static func write(_ value: Value, into buffer: inout [UInt8]) {
        JSONOutput.withOutput(appendingTo: &buffer) { $0.value(value) }
    }

    /// Returns `value` as a compact JSON string.
    ///
    /// ```swift
    /// JSONWriter.string(["a": [true, nil]])   // {"a":[true,null]}
    /// ```
    public static func string(_ value: Value) -> String {
        var buffer: [UInt8] = []
        write(value, into: &buffer)
        return String(decoding: buffer, as: UTF8.self)
    }

    /// Appends `s` as a quoted, escaped JSON string to `buffer`.
    ///
    /// ```swift
    /// var out: [UInt8] = []
    /// JSONWriter.writeString("a\"b\n", into: &out)   // "a\"b\n"  (with the quotes)
    /// ```
    public static func writeString(_ s: String, into buffer: inout [UInt8]) {
        JSONOutput.withOutput(appendingTo: &buffer) { $0.string(s) }
    }
}
