/// The engine behind ``JSONReader``: a non-recursive parser over a byte buffer.
///
/// Values are built bottom-up on an explicit value stack. When a container closes, its elements
/// are moved (no retain/release) from the stack into an exactly-sized array, so every array and
/// record is allocated once. Depth is bounded by the frame stack, never by the call stack.
///
/// The parser owns its stacks and frees them in `deinit`, so it is non-copyable.
struct JSONParser: ~Copyable {
    /// An open array or object: where its elements (and keys) start on the stacks.
    private struct Frame {
        var valueStart: Int
        /// Index of the first key on the key stack, or -1 for an array.
        var keyStart: Int
    }

    private let base: UnsafePointer<UInt8>
    private let end: Int
    private var pos = 0
    private let maxDepth: Int
    private let allowTrailingData: Bool

    private var values: UnsafeMutablePointer<Value>
    private var valueCount = 0
    private var valueCapacity: Int
    private var keys: UnsafeMutablePointer<String>
    private var keyCount = 0
    private var keyCapacity: Int
    private var frames: UnsafeMutablePointer<Frame>
    private var frameCount = 0
    private var frameCapacity: Int
    /// Decoding buffer for strings with escapes, allocated on first use.
    private var scratch: UnsafeMutablePointer<UInt8>?
    private var scratchCapacity = 0

    init(base: UnsafePointer<UInt8>, count: Int, configuration: JSONReader.Configuration) {
        self.base = base
        self.end = count
        self.maxDepth = configuration.maxDepth
        self.allowTrailingData = configuration.allowTrailingData
        self.valueCapacity = 64
        self.values = .allocate(capacity: 64)
        self.keyCapacity = 32
        self.keys = .allocate(capacity: 32)
        self.frameCapacity = 16
        self.frames = .allocate(capacity: 16)
    }

    deinit {
        values.deinitialize(count: valueCount)
        values.deallocate()
        keys.deinitialize(count: keyCount)
        keys.deallocate()
        frames.deallocate()
        scratch?.deallocate()
    }

    // MARK: - Document and containers

    /// Parses the whole input as one value followed by optional whitespace.
    mutating func parseDocument() throws(JSONError) -> Value {
        if end >= 3 && base[0] == 0xEF && base[1] == 0xBB && base[2] == 0xBF {
            throw makeError(.syntax, "the input starts with a UTF-8 byte order mark; remove it", at: 0)
        }
        skipWhitespace()
        try parseValues()
        skipWhitespace()
        if pos < end && !allowTrailingData {
            throw makeError(
                .trailingData,
                "unexpected data after the top-level value; remove it, or set allowTrailingData to ignore it",
                at: pos
            )
        }
        valueCount = 0
        return values.move()
    }

    /// Parses one complete value (scalar or container tree) starting at `pos` (whitespace skipped),
    /// leaving it on the value stack.
    private mutating func parseValues() throws(JSONError) {
        valueLoop: while true {
            // Expect a value at `pos`.
            switch byte(at: pos) {
            case UInt8(ascii: "\""):
                let s = try parseString()
                push(.string(s))
            case UInt8(ascii: "{"):
                if frameCount >= maxDepth { throw depthError() }
                pos &+= 1
                skipWhitespace()
                if byte(at: pos) == UInt8(ascii: "}") {
                    pos &+= 1
                    push(.object(Record()))
                } else {
                    openFrame(isObject: true)
                    try parseKeyAndColon()
                    continue valueLoop
                }
            case UInt8(ascii: "["):
                if frameCount >= maxDepth { throw depthError() }
                pos &+= 1
                skipWhitespace()
                if byte(at: pos) == UInt8(ascii: "]") {
                    pos &+= 1
                    push(.array([]))
                } else {
                    openFrame(isObject: false)
                    continue valueLoop
                }
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                let number = try parseNumber()
                push(number)
            case UInt8(ascii: "t"):
                try expectLiteral(0x6575_7274)  // "true"
                push(.bool(true))
            case UInt8(ascii: "f"):
                // "alse" after the 'f'
                if pos &+ 5 <= end && load32(at: pos &+ 1) == 0x6573_6C61 {
                    pos &+= 5
                } else {
                    throw invalidLiteral()
                }
                push(.bool(false))
            case UInt8(ascii: "n"):
                try expectLiteral(0x6C6C_756E)  // "null"
                push(.null)
            default:
                throw unexpected(
                    at: pos,
                    expected: "expected a value (object, array, string, number, true, false or null)"
                )
            }

            // After a value: close containers or move to the next element.
            while frameCount > 0 {
                skipWhitespace()
                let c = byte(at: pos)
                let frame = frames[frameCount &- 1]
                if frame.keyStart >= 0 {
                    if c == UInt8(ascii: ",") {
                        pos &+= 1
                        skipWhitespace()
                        try parseKeyAndColon()
                        continue valueLoop
                    }
                    if c == UInt8(ascii: "}") {
                        pos &+= 1
                        closeObject(frame)
                        continue
                    }
                    throw unexpected(at: pos, expected: "expected ',' or '}' after an object member")
                } else {
                    if c == UInt8(ascii: ",") {
                        pos &+= 1
                        skipWhitespace()
                        continue valueLoop
                    }
                    if c == UInt8(ascii: "]") {
                        pos &+= 1
                        closeArray(frame)
                        continue
                    }
                    throw unexpected(at: pos, expected: "expected ',' or ']' after an array element")
                }
            }
            return
        }
    }

    /// Parses `"key"` `:` and the whitespace after it, pushing the key.
    @inline(__always)
    private mutating func parseKeyAndColon() throws(JSONError) {
        guard byte(at: pos) == UInt8(ascii: "\"") else {
            throw unexpected(
                at: pos,
                expected: "expected '\"' to start an object key (keys must be double-quoted strings, "
                    + "and trailing commas are not allowed)"
            )
        }
        let key = try parseString()
        if keyCount == keyCapacity { growKeys() }
        (keys + keyCount).initialize(to: key)
        keyCount &+= 1
        skipWhitespace()
        guard byte(at: pos) == UInt8(ascii: ":") else {
            throw unexpected(at: pos, expected: "expected ':' after an object key")
        }
        pos &+= 1
        skipWhitespace()
    }

    /// Pushes a frame; the caller has checked the depth limit.
    @inline(__always)
    private mutating func openFrame(isObject: Bool) {
        if frameCount == frameCapacity { growFrames() }
        frames[frameCount] = Frame(valueStart: valueCount, keyStart: isObject ? keyCount : -1)
        frameCount &+= 1
    }

    /// Moves the elements of the innermost (non-empty) array off the stack into an `[Value]`.
    @inline(__always)
    private mutating func closeArray(_ frame: Frame) {
        let start = frame.valueStart
        let n = valueCount &- start
        let source = values + start
        // reserveCapacity + append is fully specialized here; `Array(unsafeUninitializedCapacity:)`
        // calls an unspecialized runtime function that looks up the array's metadata every time.
        var elements: [Value] = []
        elements.reserveCapacity(n)
        for j in 0..<n {
            elements.append((source + j).move())
        }
        frameCount &-= 1
        // The stack just shrank by n >= 1 slots, so there is room without growing.
        (values + start).initialize(to: .array(elements))
        valueCount = start &+ 1
    }

    /// Moves the keys and values of the innermost (non-empty) object off the stacks into a ``Record``.
    @inline(__always)
    private mutating func closeObject(_ frame: Frame) {
        let start = frame.valueStart
        let n = valueCount &- start
        let valueSource = values + start
        let keySource = keys + frame.keyStart
        var fields: [Record.Field] = []
        fields.reserveCapacity(n)
        for j in 0..<n {
            fields.append(Record.Field(key: (keySource + j).move(), value: (valueSource + j).move()))
        }
        keyCount = frame.keyStart
        frameCount &-= 1
        (values + start).initialize(to: .object(Record(fields: fields)))
        valueCount = start &+ 1
    }

    @inline(__always)
    private mutating func push(_ value: consuming Value) {
        if valueCount == valueCapacity { growValues() }
        (values + valueCount).initialize(to: value)
        valueCount &+= 1
    }

    @inline(never)
    private mutating func growValues() {
        let newCapacity = valueCapacity * 2
        let newValues = UnsafeMutablePointer<Value>.allocate(capacity: newCapacity)
        newValues.moveInitialize(from: values, count: valueCount)
        values.deallocate()
        values = newValues
        valueCapacity = newCapacity
    }

    @inline(never)
    private mutating func growKeys() {
        let newCapacity = keyCapacity * 2
        let newKeys = UnsafeMutablePointer<String>.allocate(capacity: newCapacity)
        newKeys.moveInitialize(from: keys, count: keyCount)
        keys.deallocate()
        keys = newKeys
        keyCapacity = newCapacity
    }

    @inline(never)
    private mutating func growFrames() {
        let newCapacity = frameCapacity * 2
        let newFrames = UnsafeMutablePointer<Frame>.allocate(capacity: newCapacity)
        newFrames.moveInitialize(from: frames, count: frameCount)
        frames.deallocate()
        frames = newFrames
        frameCapacity = newCapacity
    }

    // MARK: - Bytes and whitespace

    /// The byte at `offset`, or 0 past the end (0 is never valid where a token is expected).
    @inline(__always)
    private func byte(at offset: Int) -> UInt8 {
        offset < end ? base[offset] : 0
    }

    @inline(__always)
    private func load32(at offset: Int) -> UInt32 {
        UInt32(littleEndian: UnsafeRawPointer(base + offset).loadUnaligned(as: UInt32.self))
    }

    @inline(__always)
    private func load64(at offset: Int) -> UInt64 {
        UInt64(littleEndian: UnsafeRawPointer(base + offset).loadUnaligned(as: UInt64.self))
    }

    @inline(__always)
    private mutating func skipWhitespace() {
        while pos < end {
            let c = base[pos]
            if c > 0x20 { return }
            guard c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 else { return }
            pos &+= 1
        }
    }

    // MARK: - Literals

    /// Consumes the 4-byte literal `word` (little-endian ASCII) at `pos`.
    @inline(__always)
    private mutating func expectLiteral(_ word: UInt32) throws(JSONError) {
        guard pos &+ 4 <= end && load32(at: pos) == word else { throw invalidLiteral() }
        pos &+= 4
    }

    @inline(never)
    private func invalidLiteral() -> JSONError {
        // Find the first byte that deviates from the literal the first letter announced.
        let literal: StaticString
        switch base[pos] {
        case UInt8(ascii: "t"): literal = "true"
        case UInt8(ascii: "f"): literal = "false"
        default: literal = "null"
        }
        var i = 0
        while i < literal.utf8CodeUnitCount && byte(at: pos + i) == literal.utf8Start[i] {
            i += 1
        }
        return unexpected(at: pos + i, expected: "expected the literal \(literal) (literals are lowercase)")
    }

    // MARK: - Strings

    private static let ones: UInt64 = 0x0101_0101_0101_0101
    private static let highBits: UInt64 = 0x8080_8080_8080_8080

    /// Parses a string starting at the opening quote at `pos`.
    ///
    /// Fast path: scan 8 bytes at a time for `"`, `\` or a control byte; if the first one found
    /// is the closing quote, the bytes are the string (validated only if some byte is >= 0x80).
    @inline(__always)
    private mutating func parseString() throws(JSONError) -> String {
        let start = pos &+ 1
        var high: UInt64 = 0
        let i = scanPlain(from: start, high: &high)
        if i < end && base[i] == UInt8(ascii: "\"") {
            pos = i &+ 1
            guard let s = Self.makeString(base + start, count: i &- start, isASCII: high & Self.highBits == 0) else {
                throw invalidUTF8Error(from: start, to: i)
            }
            return s
        }
        return try parseEscapedString(start: start, scanned: i, high: high)
    }

    /// Returns the offset of the first `"`, `\`, control byte at or after `start` (or `end`),
    /// OR-ing the bytes before it into `high` (so `high & 0x80...80 != 0` means non-ASCII).
    @inline(__always)
    private func scanPlain(from start: Int, high: inout UInt64) -> Int {
        var i = start
        while i &+ 8 <= end {
            let w = load64(at: i)
            let q = w ^ 0x2222_2222_2222_2222
            let b = w ^ 0x5C5C_5C5C_5C5C_5C5C
            // High bit set in each byte that is '"', '\' or < 0x20 (exact for the lowest such byte).
            let special =
                ((q &- Self.ones) & ~q | (b &- Self.ones) & ~b | (w &- 0x2020_2020_2020_2020) & ~w)
                & Self.highBits
            if special != 0 {
                let bits = special.trailingZeroBitCount &- 7  // bit index of the special byte
                high |= w & ((1 &<< UInt64(bits)) &- 1)
                return i &+ (bits >> 3)
            }
            high |= w
            i &+= 8
        }
        while i < end {
            let c = base[i]
            if c == UInt8(ascii: "\"") || c == UInt8(ascii: "\\") || c < 0x20 { break }
            high |= UInt64(c)
            i &+= 1
        }
        return i
    }

    /// The slow path of ``parseString()``: the string has escapes (or is malformed).
    /// `scanned` is the offset of the first `\`, control byte or end of input; `high` has the
    /// bytes before it OR-ed in.
    @inline(never)
    private mutating func parseEscapedString(start: Int, scanned: Int, high: UInt64) throws(JSONError) -> String {
        var i = scanned
        var high = high
        var out = i &- start
        ensureScratch(out &+ 64)
        var dest = scratch.unsafelyUnwrapped
        dest.update(from: base + start, count: out)
        while true {
            guard i < end else {
                throw makeError(
                    .unexpectedEnd,
                    "the input ends inside a string; add the closing '\"'",
                    at: i
                )
            }
            let c = base[i]
            if c == UInt8(ascii: "\"") {
                break
            }
            if out &+ 8 > scratchCapacity {
                ensureScratch(out &+ 8)
                dest = scratch.unsafelyUnwrapped
            }
            if c == UInt8(ascii: "\\") {
                let e = byte(at: i &+ 1)
                switch e {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"):
                    dest[out] = e
                case UInt8(ascii: "n"): dest[out] = 0x0A
                case UInt8(ascii: "t"): dest[out] = 0x09
                case UInt8(ascii: "r"): dest[out] = 0x0D
                case UInt8(ascii: "b"): dest[out] = 0x08
                case UInt8(ascii: "f"): dest[out] = 0x0C
                case UInt8(ascii: "u"):
                    var scalar = try hex4(at: i &+ 2)
                    i &+= 6
                    if scalar & 0xFC00 == 0xD800 {
                        // High surrogate: combine with a following \uDC00-\uDFFF, else U+FFFD.
                        if byte(at: i) == UInt8(ascii: "\\") && byte(at: i &+ 1) == UInt8(ascii: "u") {
                            let low = try hex4(at: i &+ 2)
                            if low & 0xFC00 == 0xDC00 {
                                scalar = 0x10000 &+ ((scalar &- 0xD800) << 10) &+ (low &- 0xDC00)
                                i &+= 6
                            } else {
                                scalar = 0xFFFD
                            }
                        } else {
                            scalar = 0xFFFD
                        }
                    } else if scalar & 0xFC00 == 0xDC00 {
                        scalar = 0xFFFD  // lone low surrogate
                    }
                    out &+= Self.encodeUTF8(scalar, into: dest + out)
                    continue
                default:
                    if i &+ 1 >= end {
                        throw makeError(
                            .unexpectedEnd,
                            "the input ends inside a string escape; complete the escape and close the string",
                            at: i &+ 1
                        )
                    }
                    throw makeError(
                        .syntax,
                        "invalid escape sequence; valid escapes are \\\" \\\\ \\/ \\b \\f \\n \\r \\t and \\uXXXX",
                        at: i
                    )
                }
                out &+= 1
                i &+= 2
                continue
            }
            if c < 0x20 {
                throw makeError(
                    .syntax,
                    "unescaped control character U+00\(Self.hex(c)) in a string; escape it (e.g. \\n, \\t or \\u00XX)",
                    at: i
                )
            }
            // A run of plain bytes up to the next special byte.
            let runStart = i
            i = scanPlain(from: i, high: &high)
            let run = i &- runStart
            if out &+ run &+ 8 > scratchCapacity {
                ensureScratch(out &+ run &+ 8)
                dest = scratch.unsafelyUnwrapped
            }
            (dest + out).update(from: base + runStart, count: run)
            out &+= run
        }
        pos = i &+ 1
        // Escapes only ever produce whole, valid sequences, and raw runs are delimited by ASCII,
        // so the decoded bytes are valid exactly when the raw source bytes are.
        guard let s = Self.makeString(dest, count: out, isASCII: high & Self.highBits == 0) else {
            throw invalidUTF8Error(from: start, to: i)
        }
        return s
    }

    /// Creates a string from UTF-8 bytes, or returns `nil` if they are not valid UTF-8.
    ///
    /// `String(unsafeUninitializedCapacity:)` is inlined into this module, so short ASCII strings
    /// become small strings without a call into the runtime.
    @inline(__always)
    private static func makeString(_ start: UnsafePointer<UInt8>, count: Int, isASCII: Bool) -> String? {
        if !isASCII && UTF8Validation.firstInvalidOffset(start, from: 0, to: count) != nil {
            return nil
        }
        return String(unsafeUninitializedCapacity: count) { buffer in
            buffer.baseAddress.unsafelyUnwrapped.update(from: start, count: count)
            return count
        }
    }

    private mutating func ensureScratch(_ capacity: Int) {
        guard capacity > scratchCapacity else { return }
        let newCapacity = max(capacity, scratchCapacity * 2, 256)
        let newScratch = UnsafeMutablePointer<UInt8>.allocate(capacity: newCapacity)
        if let scratch {
            newScratch.update(from: scratch, count: scratchCapacity)
            scratch.deallocate()
        }
        scratch = newScratch
        scratchCapacity = newCapacity
    }

    /// Reads the 4 hex digits at `offset`.
    private func hex4(at offset: Int) throws(JSONError) -> UInt32 {
        var v: UInt32 = 0
        for k in 0..<4 {
            let c = byte(at: offset &+ k)
            let digit: UInt8
            if c &- UInt8(ascii: "0") < 10 {
                digit = c &- UInt8(ascii: "0")
            } else if (c | 0x20) &- UInt8(ascii: "a") < 6 {
                digit = (c | 0x20) &- UInt8(ascii: "a") &+ 10
            } else {
                if offset &+ k >= end {
                    throw makeError(
                        .unexpectedEnd,
                        "the input ends inside a \\u escape; it needs exactly 4 hex digits",
                        at: offset &+ k
                    )
                }
                throw makeError(
                    .syntax,
                    "invalid \\u escape; it needs exactly 4 hex digits (0-9, a-f, A-F)",
                    at: offset &+ k
                )
            }
            v = v << 4 | UInt32(digit)
        }
        return v
    }

    /// Writes `scalar` (not a surrogate) as UTF-8 at `dest`; returns the byte count.
    @inline(__always)
    private static func encodeUTF8(_ scalar: UInt32, into dest: UnsafeMutablePointer<UInt8>) -> Int {
        if scalar < 0x80 {
            dest[0] = UInt8(truncatingIfNeeded: scalar)
            return 1
        }
        if scalar < 0x800 {
            dest[0] = UInt8(truncatingIfNeeded: 0xC0 | scalar >> 6)
            dest[1] = UInt8(truncatingIfNeeded: 0x80 | scalar & 0x3F)
            return 2
        }
        if scalar < 0x10000 {
            dest[0] = UInt8(truncatingIfNeeded: 0xE0 | scalar >> 12)
            dest[1] = UInt8(truncatingIfNeeded: 0x80 | scalar >> 6 & 0x3F)
            dest[2] = UInt8(truncatingIfNeeded: 0x80 | scalar & 0x3F)
            return 3
        }
        dest[0] = UInt8(truncatingIfNeeded: 0xF0 | scalar >> 18)
        dest[1] = UInt8(truncatingIfNeeded: 0x80 | scalar >> 12 & 0x3F)
        dest[2] = UInt8(truncatingIfNeeded: 0x80 | scalar >> 6 & 0x3F)
        dest[3] = UInt8(truncatingIfNeeded: 0x80 | scalar & 0x3F)
        return 4
    }

    // MARK: - Numbers

    /// Parses a number at `pos` (a '-' or a digit).
    ///
    /// Up to 19 significant digits are accumulated in a `UInt64`. Integers that fit `Int64` are
    /// returned as is. Doubles use Clinger's exact fast path (mantissa <= 2^53, |exponent| <= 22:
    /// one correctly rounded IEEE multiplication or division of two exact values); everything else
    /// goes to the standard library's correctly rounded `Double(_: String)`.
    @inline(__always)
    private mutating func parseNumber() throws(JSONError) -> Value {
        let start = pos
        var i = pos
        var c = base[i]
        let negative = c == UInt8(ascii: "-")
        if negative {
            i &+= 1
            c = byte(at: i)
        }
        var mantissa: UInt64 = 0
        var digits = 0  // significant digits seen (may exceed 19)
        var exponent = 0
        var truncated = false
        var isInteger = true

        if c == UInt8(ascii: "0") {
            i &+= 1
            c = byte(at: i)
            if c &- UInt8(ascii: "0") < 10 {
                throw makeError(.syntax, "numbers cannot have leading zeros; remove them", at: i &- 1)
            }
        } else if c &- UInt8(ascii: "0") < 10 {
            repeat {
                if digits < 19 {
                    mantissa = mantissa &* 10 &+ UInt64(c &- UInt8(ascii: "0"))
                } else {
                    truncated = true
                }
                digits &+= 1
                i &+= 1
                c = byte(at: i)
            } while c &- UInt8(ascii: "0") < 10
        } else {
            throw unexpected(at: i, expected: "expected a digit after '-'")
        }

        if c == UInt8(ascii: ".") {
            isInteger = false
            i &+= 1
            c = byte(at: i)
            guard c &- UInt8(ascii: "0") < 10 else {
                throw unexpected(at: i, expected: "expected a digit after the decimal point (write 1.0, not 1.)")
            }
            repeat {
                let d = UInt64(c &- UInt8(ascii: "0"))
                if mantissa == 0 && d == 0 {
                    exponent &-= 1  // leading zero of the fraction, not significant
                } else if digits < 19 {
                    mantissa = mantissa &* 10 &+ d
                    digits &+= 1
                    exponent &-= 1
                } else {
                    truncated = true
                }
                i &+= 1
                c = byte(at: i)
            } while c &- UInt8(ascii: "0") < 10
        }

        if c | 0x20 == UInt8(ascii: "e") {
            isInteger = false
            i &+= 1
            c = byte(at: i)
            var negativeExponent = false
            if c == UInt8(ascii: "+") || c == UInt8(ascii: "-") {
                negativeExponent = c == UInt8(ascii: "-")
                i &+= 1
                c = byte(at: i)
            }
            guard c &- UInt8(ascii: "0") < 10 else {
                throw unexpected(at: i, expected: "expected a digit in the exponent")
            }
            var e = 0
            repeat {
                if e < 1_000_000 { e = e &* 10 &+ Int(c &- UInt8(ascii: "0")) }
                i &+= 1
                c = byte(at: i)
            } while c &- UInt8(ascii: "0") < 10
            exponent &+= negativeExponent ? -e : e
        }
        pos = i

        if isInteger && !truncated {
            if negative {
                if mantissa <= 0x8000_0000_0000_0000 {
                    return .int(Int64(bitPattern: 0 &- mantissa))
                }
            } else if mantissa <= UInt64(Int64.max) {
                return .int(Int64(bitPattern: mantissa))
            }
        }
        if !truncated {
            if mantissa <= 1 << 53 && exponent >= -22 && exponent <= 22 {
                var d = Double(mantissa)
                if exponent < 0 {
                    d /= Self.powerOf10(-exponent)
                } else if exponent > 0 {
                    d *= Self.powerOf10(exponent)
                }
                return .double(negative ? -d : d)
            }
            if exponent == 0 {
                let d = Double(mantissa)  // correctly rounded conversion
                return .double(negative ? -d : d)
            }
            if mantissa == 0 {
                return .double(negative ? -0.0 : 0.0)
            }
        }
        return try parseDoubleSlow(start: start, end: i)
    }

    /// 10^e for 0 <= e <= 22, all exactly representable.
    @inline(__always)
    private static func powerOf10(_ e: Int) -> Double {
        powersOf10[e]
    }

    private static let powersOf10: [Double] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
        1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
    ]

    @inline(never)
    private func parseDoubleSlow(start: Int, end: Int) throws(JSONError) -> Value {
        let text = String(decoding: UnsafeBufferPointer(start: base + start, count: end &- start), as: UTF8.self)
        guard let d = Double(text), d.isFinite else {
            throw makeError(
                .numberOutOfRange,
                "number \(text.prefix(40)) is too large for a 64-bit float (max ~1.8e308); "
                    + "send it as a string to keep it exact",
                at: start
            )
        }
        return .double(d)
    }

    // MARK: - Errors (cold)

    /// The error for a '[' or '{' at `pos` that would exceed `maxDepth`.
    @inline(never)
    private func depthError() -> JSONError {
        makeError(
            .depthLimit,
            "arrays and objects are nested more than \(maxDepth) levels deep; "
                + "raise JSONReader.Configuration.maxDepth or flatten the input",
            at: pos
        )
    }

    @inline(never)
    private func makeError(_ code: JSONError.Code, _ message: String, at offset: Int) -> JSONError {
        JSONError(code: code, message: message, offset: offset, in: UnsafeRawBufferPointer(start: base, count: end))
    }

    /// An error for an unexpected byte (or end of input) at `offset`.
    @inline(never)
    private func unexpected(at offset: Int, expected: String) -> JSONError {
        if offset >= end {
            return makeError(.unexpectedEnd, "unexpected end of input; \(expected)", at: end)
        }
        let c = base[offset]
        if c >= 0x80 {
            let invalid = UTF8Validation.firstInvalidOffset(base, from: offset, to: min(end, offset &+ 4))
            if invalid == offset {
                return invalidUTF8Error(from: offset, to: end)
            }
            return makeError(.syntax, "unexpected non-ASCII character; \(expected)", at: offset)
        }
        let shown: String
        if c >= 0x20 && c < 0x7F {
            shown = "'\(Character(Unicode.Scalar(c)))'"
        } else {
            shown = "byte 0x\(Self.hex(c))"
        }
        return makeError(.syntax, "unexpected \(shown); \(expected)", at: offset)
    }

    @inline(never)
    private func invalidUTF8Error(from start: Int, to stop: Int) -> JSONError {
        let offset = UTF8Validation.firstInvalidOffset(base, from: start, to: stop) ?? start
        return makeError(
            .invalidUTF8,
            "invalid UTF-8 (byte 0x\(Self.hex(base[offset]))); the input must be UTF-8 encoded, "
                + "so convert it (e.g. from Latin-1) before parsing",
            at: offset
        )
    }

    private static func hex(_ byte: UInt8) -> String {
        let digits: [Character] = Array("0123456789ABCDEF")
        return String([digits[Int(byte >> 4)], digits[Int(byte & 0xF)]])
    }
}
