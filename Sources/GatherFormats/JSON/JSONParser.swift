import GatherCore

/// The engine behind ``JSONReader``: a non-recursive parser over a byte buffer.
///
/// Values are built bottom-up on an explicit value stack. When a container closes, its elements
/// are moved (no retain/release) from the stack into an exactly-sized array, so every array and
/// record is allocated once. Depth is bounded by the frame stack, never by the call stack.
///
/// Tokens are read with ``JSONLexer``, which ``JSONMinifier`` shares, so both accept the same texts.
/// The parser owns its stacks and frees them in `deinit`, so it is non-copyable.
struct JSONParser: ~Copyable {
    /// An open array or object: where its elements (and keys) start on the stacks.
    private struct Frame {
        var valueStart: Int
        /// Index of the first key on the key stack, or -1 for an array.
        var keyStart: Int
    }

    private let lexer: JSONLexer
    private var pos = 0
    private let maxDepth: Int
    private let allowTrailingData: Bool
    private let rejectLoneSurrogates: Bool

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
        self.lexer = JSONLexer(base: base, end: count)
        self.maxDepth = configuration.maxDepth
        self.allowTrailingData = configuration.allowTrailingData
        self.rejectLoneSurrogates = configuration.rejectLoneSurrogates
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
        try lexer.checkNoByteOrderMark()
        skipWhitespace()
        try parseValues()
        skipWhitespace()
        if pos < end && !allowTrailingData {
            throw lexer.trailingData(at: pos)
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
                if frameCount >= maxDepth { throw lexer.depthError(at: pos, maxDepth: maxDepth) }
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
                if frameCount >= maxDepth { throw lexer.depthError(at: pos, maxDepth: maxDepth) }
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
                pos = try lexer.expectLiteral(JSONLexer.trueWord, at: pos)
                push(.bool(true))
            case UInt8(ascii: "f"):
                pos = try lexer.expectFalse(at: pos)
                push(.bool(false))
            case UInt8(ascii: "n"):
                pos = try lexer.expectLiteral(JSONLexer.nullWord, at: pos)
                push(.null)
            default:
                throw lexer.expectedValue(at: pos)
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
                    throw lexer.expectedObjectContinuation(at: pos)
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
                    throw lexer.expectedArrayContinuation(at: pos)
                }
            }
            return
        }
    }

    /// Parses `"key"` `:` and the whitespace after it, pushing the key.
    @inline(__always)
    private mutating func parseKeyAndColon() throws(JSONError) {
        guard byte(at: pos) == UInt8(ascii: "\"") else { throw lexer.expectedKey(at: pos) }
        let key = try parseString()
        if keyCount == keyCapacity { growKeys() }
        (keys + keyCount).initialize(to: key)
        keyCount &+= 1
        skipWhitespace()
        guard byte(at: pos) == UInt8(ascii: ":") else {
            throw lexer.expectedColon(at: pos)
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
        Self.grow(&self.values, count: self.valueCount, capacity: &self.valueCapacity)
    }

    @inline(never)
    private mutating func growKeys() {
        Self.grow(&self.keys, count: self.keyCount, capacity: &self.keyCapacity)
    }

    @inline(never)
    private mutating func growFrames() {
        Self.grow(&self.frames, count: self.frameCount, capacity: &self.frameCapacity)
    }

    /// Doubles a manually managed stack, moving its `count` live elements.
    private static func grow<T>(_ storage: inout UnsafeMutablePointer<T>, count: Int, capacity: inout Int) {
        let newCapacity = capacity * 2
        let newStorage = UnsafeMutablePointer<T>.allocate(capacity: newCapacity)
        newStorage.moveInitialize(from: storage, count: count)
        storage.deallocate()
        storage = newStorage
        capacity = newCapacity
    }

    // MARK: - Bytes and whitespace

    private var base: UnsafePointer<UInt8> { lexer.base }
    private var end: Int { lexer.end }

    @inline(__always)
    private func byte(at offset: Int) -> UInt8 {
        lexer.byte(at: offset)
    }

    @inline(__always)
    private mutating func skipWhitespace() {
        pos = lexer.skipWhitespace(from: pos)
    }

    // MARK: - Strings

    /// Parses a string starting at the opening quote at `pos`.
    ///
    /// Fast path: scan 8 bytes at a time for `"`, `\` or a control byte; if the first one found
    /// is the closing quote, the bytes are the string (validated only if some byte is >= 0x80).
    @inline(__always)
    private mutating func parseString() throws(JSONError) -> String {
        let start = pos &+ 1
        var high: UInt64 = 0
        let i = lexer.scanPlain(from: start, high: &high)
        if i < end && base[i] == UInt8(ascii: "\"") {
            pos = i &+ 1
            guard
                let s = Self.makeString(base + start, count: i &- start, isASCII: high & JSONLexer.highBits == 0)
            else {
                throw lexer.invalidUTF8Error(from: start, to: i)
            }
            return s
        }
        return try parseEscapedString(start: start, scanned: i, high: high)
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
            guard i < end else { throw lexer.unterminatedString(at: i) }
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
                if e == UInt8(ascii: "u") {
                    var scalar = try lexer.hex4(at: i &+ 2)
                    let escape = i
                    i &+= 6
                    if scalar & 0xFC00 == 0xD800 {
                        // High surrogate: combine with a following \uDC00-\uDFFF, else U+FFFD.
                        if byte(at: i) == UInt8(ascii: "\\") && byte(at: i &+ 1) == UInt8(ascii: "u") {
                            let low = try lexer.hex4(at: i &+ 2)
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
                    if scalar == 0xFFFD && rejectLoneSurrogates && lexer.isLoneSurrogate(at: escape) {
                        throw lexer.loneSurrogateError(at: escape)
                    }
                    out &+= Self.encodeUTF8(scalar, into: dest + out)
                    continue
                }
                let decoded = JSONLexer.unescape(e)
                guard decoded != 0 else { throw lexer.invalidEscape(at: i) }
                dest[out] = decoded
                out &+= 1
                i &+= 2
                continue
            }
            if c < 0x20 {
                throw lexer.controlCharacter(at: i)
            }
            // A run of plain bytes up to the next special byte.
            let runStart = i
            i = lexer.scanPlain(from: i, high: &high)
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
        guard let s = Self.makeString(dest, count: out, isASCII: high & JSONLexer.highBits == 0) else {
            throw lexer.invalidUTF8Error(from: start, to: i)
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
    /// Integers that fit `Int64` are returned as is. Doubles use Clinger's exact fast path
    /// (mantissa <= 2^53, |exponent| <= 22: one correctly rounded IEEE multiplication or division
    /// of two exact values); everything else goes to the standard library's correctly rounded
    /// `Double(_: String)`.
    @inline(__always)
    private mutating func parseNumber() throws(JSONError) -> Value {
        let start = pos
        let number = try lexer.scanNumber(at: pos)
        pos = number.end
        let mantissa = number.mantissa
        let exponent = number.exponent
        let negative = number.isNegative

        if number.isInteger && !number.truncated {
            if negative {
                if mantissa <= 0x8000_0000_0000_0000 {
                    return .int(Int64(bitPattern: 0 &- mantissa))
                }
            } else if mantissa <= UInt64(Int64.max) {
                return .int(Int64(bitPattern: mantissa))
            }
        }
        if !number.truncated {
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
        return .double(try lexer.slowDouble(from: start, to: number.end))
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
}
