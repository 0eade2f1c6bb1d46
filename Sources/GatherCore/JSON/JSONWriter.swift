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
        switch value {
        case .null:
            appendLiteral("null", into: &buffer)
        case .bool(let b):
            appendLiteral(b ? "true" : "false", into: &buffer)
        case .int(let i):
            writeInt(i, into: &buffer)
        case .double(let d):
            writeDouble(d, into: &buffer)
        case .string(let s):
            writeString(s, into: &buffer)
        case .array(let elements):
            buffer.append(UInt8(ascii: "["))
            var first = true
            for element in elements {
                if !first { buffer.append(UInt8(ascii: ",")) }
                first = false
                write(element, into: &buffer)
            }
            buffer.append(UInt8(ascii: "]"))
        case .object(let record):
            buffer.append(UInt8(ascii: "{"))
            var first = true
            for (key, element) in record {
                if !first { buffer.append(UInt8(ascii: ",")) }
                first = false
                writeString(key, into: &buffer)
                buffer.append(UInt8(ascii: ":"))
                write(element, into: &buffer)
            }
            buffer.append(UInt8(ascii: "}"))
        }
    }

    /// Returns `value` as a compact JSON string.
    ///
    /// ```swift
    /// JSONWriter.string(["a": [true, nil]])   // {"a":[true,null]}
    /// ```
    public static func string(_ value: Value) -> String {
        var buffer: [UInt8] = []
        buffer.reserveCapacity(64)
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
        buffer.append(UInt8(ascii: "\""))
        let done: Void? = s.utf8.withContiguousStorageIfAvailable { bytes in
            writeEscaped(bytes, into: &buffer)
        }
        if done == nil {
            var copy = s
            copy.withUTF8 { bytes in writeEscaped(bytes, into: &buffer) }
        }
        buffer.append(UInt8(ascii: "\""))
    }

    // MARK: - Pieces

    @inline(__always)
    private static func appendLiteral(_ literal: StaticString, into buffer: inout [UInt8]) {
        buffer.append(contentsOf: UnsafeBufferPointer(start: literal.utf8Start, count: literal.utf8CodeUnitCount))
    }

    private static func writeInt(_ value: Int64, into buffer: inout [UInt8]) {
        if value >= 0 && value < 10 {
            buffer.append(UInt8(truncatingIfNeeded: value) &+ UInt8(ascii: "0"))
            return
        }
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes: enough for "-9223372036854775808"
        withUnsafeMutableBytes(of: &digits) { raw in
            var p = raw.count
            var n = value.magnitude
            repeat {
                p -= 1
                raw[p] = UInt8(truncatingIfNeeded: n % 10) &+ UInt8(ascii: "0")
                n /= 10
            } while n != 0
            if value < 0 {
                p -= 1
                raw[p] = UInt8(ascii: "-")
            }
            buffer.append(contentsOf: UnsafeRawBufferPointer(rebasing: raw[p...]))
        }
    }

    private static func writeDouble(_ value: Double, into buffer: inout [UInt8]) {
        guard value.isFinite else {
            appendLiteral("null", into: &buffer)
            return
        }
        // Swift prints the shortest round-trip form: "0.1", "1e-300", "30000000000.0", "-0.0",
        // always with a '.' or an exponent, and always valid JSON for finite values.
        var text = value.description
        text.withUTF8 { buffer.append(contentsOf: $0) }
    }

    /// `true` for the bytes a JSON string must escape: `"`, `\` and control characters.
    @inline(__always)
    private static func needsEscape(_ c: UInt8) -> Bool {
        c < 0x20 || c == UInt8(ascii: "\"") || c == UInt8(ascii: "\\")
    }

    private static func writeEscaped(_ bytes: UnsafeBufferPointer<UInt8>, into buffer: inout [UInt8]) {
        var runStart = 0
        var i = 0
        let n = bytes.count
        while i < n {
            let c = bytes[i]
            if !needsEscape(c) {
                i += 1
                continue
            }
            if runStart < i {
                buffer.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<i]))
            }
            buffer.append(UInt8(ascii: "\\"))
            switch c {
            case UInt8(ascii: "\""): buffer.append(UInt8(ascii: "\""))
            case UInt8(ascii: "\\"): buffer.append(UInt8(ascii: "\\"))
            case 0x0A: buffer.append(UInt8(ascii: "n"))
            case 0x0D: buffer.append(UInt8(ascii: "r"))
            case 0x09: buffer.append(UInt8(ascii: "t"))
            case 0x08: buffer.append(UInt8(ascii: "b"))
            case 0x0C: buffer.append(UInt8(ascii: "f"))
            default:
                let hex: StaticString = "0123456789abcdef"
                buffer.append(UInt8(ascii: "u"))
                buffer.append(UInt8(ascii: "0"))
                buffer.append(UInt8(ascii: "0"))
                buffer.append(hex.utf8Start[Int(c >> 4)])
                buffer.append(hex.utf8Start[Int(c & 0xF)])
            }
            i += 1
            runStart = i
        }
        if runStart < n {
            buffer.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<n]))
        }
    }
}
