import GatherCore

/// The token-level grammar of JSON and its error vocabulary, shared by ``JSONParser`` (which
/// builds ``Value``s) and ``JSONMinifier`` (which validates and copies bytes).
///
/// Both engines drive the same scanners and throw the same errors, so they accept exactly the
/// same texts and report a failure with the same code, message and offset. The lexer has no state
/// besides the input: every scanner takes a byte offset and returns the offset after what it read.
///
/// ```swift
/// let lexer = JSONLexer(base: base, end: count)
/// var pos = lexer.skipWhitespace(from: 0)
/// let number = try lexer.scanNumber(at: pos)   // base[pos] is '-' or a digit
/// pos = number.end
/// ```
struct JSONLexer {
    /// The first byte of the input.
    let base: UnsafePointer<UInt8>
    /// The input's length in bytes.
    let end: Int

    // MARK: - Bytes

    /// The byte at `offset`, or 0 past the end (0 is never valid where a token is expected).
    @inline(__always)
    func byte(at offset: Int) -> UInt8 {
        offset < end ? base[offset] : 0
    }

    @inline(__always)
    func load32(at offset: Int) -> UInt32 {
        UInt32(littleEndian: UnsafeRawPointer(base + offset).loadUnaligned(as: UInt32.self))
    }

    @inline(__always)
    func load64(at offset: Int) -> UInt64 {
        UInt64(littleEndian: UnsafeRawPointer(base + offset).loadUnaligned(as: UInt64.self))
    }

    // MARK: - Document

    /// The error for an empty input (thrown before a lexer exists, as an empty buffer may have no address).
    static func emptyInputError() -> JSONError {
        JSONError(
            code: .unexpectedEnd,
            message: "the input is empty; expected a JSON value",
            offset: 0, line: 1, column: 1
        )
    }

    /// Throws if the input starts with a UTF-8 byte order mark, which RFC 8259 forbids.
    @inline(__always)
    func checkNoByteOrderMark() throws(JSONError) {
        if end >= 3 && base[0] == 0xEF && base[1] == 0xBB && base[2] == 0xBF {
            throw makeError(.syntax, "the input starts with a UTF-8 byte order mark; remove it", at: 0)
        }
    }

    /// The offset of the first byte at or after `offset` that is not JSON whitespace (space, tab,
    /// line feed, carriage return), or `end`.
    @inline(__always)
    func skipWhitespace(from offset: Int) -> Int {
        var i = offset
        while i < end {
            let c = base[i]
            if c > 0x20 { return i }
            guard c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 else { return i }
            i &+= 1
        }
        return i
    }

    // MARK: - Literals

    /// Consumes the 4-byte literal `word` (little-endian ASCII, `true` or `null`) at `offset`.
    @inline(__always)
    func expectLiteral(_ word: UInt32, at offset: Int) throws(JSONError) -> Int {
        guard offset &+ 4 <= end && load32(at: offset) == word else { throw invalidLiteral(at: offset) }
        return offset &+ 4
    }

    /// `"true"` as a little-endian word for ``expectLiteral(_:at:)``.
    static let trueWord: UInt32 = 0x6575_7274
    /// `"null"` as a little-endian word for ``expectLiteral(_:at:)``.
    static let nullWord: UInt32 = 0x6C6C_756E

    /// Consumes `false` at `offset` (where the `f` is).
    @inline(__always)
    func expectFalse(at offset: Int) throws(JSONError) -> Int {
        // "alse" after the 'f'
        guard offset &+ 5 <= end && load32(at: offset &+ 1) == 0x6573_6C61 else { throw invalidLiteral(at: offset) }
        return offset &+ 5
    }

    @inline(never)
    private func invalidLiteral(at offset: Int) -> JSONError {
        // Find the first byte that deviates from the literal the first letter announced.
        let literal: StaticString
        switch base[offset] {
        case UInt8(ascii: "t"): literal = "true"
        case UInt8(ascii: "f"): literal = "false"
        default: literal = "null"
        }
        var i = 0
        while i < literal.utf8CodeUnitCount && byte(at: offset + i) == literal.utf8Start[i] {
            i += 1
        }
        return unexpected(at: offset + i, expected: "expected the literal \(literal) (literals are lowercase)")
    }

    // MARK: - Strings

    static let ones: UInt64 = 0x0101_0101_0101_0101
    static let highBits: UInt64 = 0x8080_8080_8080_8080

    /// Returns the offset of the first `"`, `\` or control byte at or after `start` (or `end`),
    /// OR-ing the bytes before it into `high` (so `high & highBits != 0` means non-ASCII).
    ///
    /// Scans 8 bytes at a time.
    @inline(__always)
    func scanPlain(from start: Int, high: inout UInt64) -> Int {
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

    /// The byte that the two-character escape `\e` stands for, or 0 if `e` does not make one
    /// (`u` included: `\uXXXX` is read with ``hex4(at:)``).
    @inline(__always)
    static func unescape(_ e: UInt8) -> UInt8 {
        switch e {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): return e
        case UInt8(ascii: "n"): return 0x0A
        case UInt8(ascii: "t"): return 0x09
        case UInt8(ascii: "r"): return 0x0D
        case UInt8(ascii: "b"): return 0x08
        case UInt8(ascii: "f"): return 0x0C
        default: return 0
        }
    }

    /// Reads the 4 hex digits at `offset` (after a `\u`).
    func hex4(at offset: Int) throws(JSONError) -> UInt32 {
        var v: UInt32 = 0
        for k in 0..<4 {
            let c = byte(at: offset &+ k)
            let digit: UInt8
            if c &- UInt8(ascii: "0") < 10 {
                digit = c &- UInt8(ascii: "0")
            } else if (c | 0x20) &- UInt8(ascii: "a") < 6 {
                digit = (c | 0x20) &- UInt8(ascii: "a") &+ 10
            } else {
                throw invalidHexDigit(at: offset &+ k)
            }
            v = v << 4 | UInt32(digit)
        }
        return v
    }

    @inline(never)
    private func invalidHexDigit(at offset: Int) -> JSONError {
        if offset >= end {
            return makeError(
                .unexpectedEnd,
                "the input ends inside a \\u escape; it needs exactly 4 hex digits",
                at: offset
            )
        }
        return makeError(.syntax, "invalid \\u escape; it needs exactly 4 hex digits (0-9, a-f, A-F)", at: offset)
    }

    /// The error for a `\` at `offset` that is not followed by a valid escape character.
    @inline(never)
    func invalidEscape(at offset: Int) -> JSONError {
        if offset &+ 1 >= end {
            return makeError(
                .unexpectedEnd,
                "the input ends inside a string escape; complete the escape and close the string",
                at: offset &+ 1
            )
        }
        return makeError(
            .syntax,
            "invalid escape sequence; valid escapes are \\\" \\\\ \\/ \\b \\f \\n \\r \\t and \\uXXXX",
            at: offset
        )
    }

    /// The error for a string still open at the end of the input.
    @inline(never)
    func unterminatedString(at offset: Int) -> JSONError {
        makeError(.unexpectedEnd, "the input ends inside a string; add the closing '\"'", at: offset)
    }

    /// The error for a raw control byte (below 0x20) at `offset` inside a string.
    @inline(never)
    func controlCharacter(at offset: Int) -> JSONError {
        makeError(
            .syntax,
            "unescaped control character U+00\(Self.hex(base[offset])) in a string; escape it (e.g. \\n, \\t or \\u00XX)",
            at: offset
        )
    }

    /// Whether the `\uXXXX` escape at `offset` is a surrogate (not a `\uFFFD` written out).
    func isLoneSurrogate(at offset: Int) -> Bool {
        guard let scalar = try? hex4(at: offset &+ 2) else { return false }
        return scalar & 0xF800 == 0xD800
    }

    /// The error for a lone surrogate escape at `offset`: no UTF-8 text can hold it.
    @inline(never)
    func loneSurrogateError(at offset: Int) -> JSONError {
        let text = String(
            decoding: UnsafeBufferPointer(start: base + offset, count: min(6, end - offset)), as: UTF8.self)
        return makeError(
            .invalidUTF8,
            "\(text) is half of a UTF-16 surrogate pair without its other half, which no UTF-8 text can hold",
            at: offset)
    }

    /// The error for the first ill-formed UTF-8 sequence in `base[start..<stop]` (which must have one).
    @inline(never)
    func invalidUTF8Error(from start: Int, to stop: Int) -> JSONError {
        let offset = UTF8Validation.firstInvalidOffset(base, from: start, to: stop) ?? start
        return makeError(
            .invalidUTF8,
            "invalid UTF-8 (byte 0x\(Self.hex(base[offset]))); the input must be UTF-8 encoded, "
                + "so convert it (e.g. from Latin-1) before parsing",
            at: offset
        )
    }

    // MARK: - Numbers

    /// A number's text, scanned and split into a decimal mantissa and exponent.
    struct Number {
        /// The offset just past the number.
        var end: Int
        var isNegative: Bool
        /// `true` when the text has neither a fraction nor an exponent.
        var isInteger: Bool
        /// The first (up to 19) significant digits.
        var mantissa: UInt64
        /// Significant digits counted: those in ``mantissa`` plus any integer digits beyond 19.
        var digits: Int
        /// The power of ten that scales ``mantissa`` (ignoring dropped digits) to the value.
        var exponent: Int
        /// `true` when significant digits were dropped, so `mantissa × 10^exponent` is not exact.
        var truncated: Bool

        /// `false` only if the number may be too large for a finite `Double`; the exact answer
        /// then needs ``JSONLexer/slowDouble(from:to:)``.
        ///
        /// The leading digit sits at 10^(digits + exponent - 1), so the value is below 10^308
        /// (and ~1.8e308 is the largest `Double`) whenever `digits + exponent <= 308`.
        @inline(__always)
        var isCertainlyFinite: Bool {
            mantissa == 0 || digits &+ exponent <= 308
        }
    }

    /// Scans the number at `start` (a '-' or a digit) following the JSON grammar.
    ///
    /// Up to 19 significant digits are accumulated in a `UInt64`, enough for ``JSONParser`` to
    /// convert most numbers exactly without reading them again.
    @inline(__always)
    func scanNumber(at start: Int) throws(JSONError) -> Number {
        var i = start
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
            // Saturates above 2^40: no input is that long, so an exponent that large keeps the
            // value out of Double's range (or at zero) whatever the digits before it.
            var e = 0
            repeat {
                if e < 1 << 40 { e = e &* 10 &+ Int(c &- UInt8(ascii: "0")) }
                i &+= 1
                c = byte(at: i)
            } while c &- UInt8(ascii: "0") < 10
            exponent &+= negativeExponent ? -e : e
        }
        return Number(
            end: i, isNegative: negative, isInteger: isInteger, mantissa: mantissa, digits: digits,
            exponent: exponent, truncated: truncated
        )
    }

    /// Converts the number text `base[start..<stop]` with the standard library's correctly
    /// rounded `Double(_: String)`, throwing ``JSONError/Code/numberOutOfRange`` if it overflows.
    @inline(never)
    func slowDouble(from start: Int, to stop: Int) throws(JSONError) -> Double {
        let text = String(decoding: UnsafeBufferPointer(start: base + start, count: stop &- start), as: UTF8.self)
        guard let d = Double(text), d.isFinite else {
            throw makeError(
                .numberOutOfRange,
                "number \(text.prefix(40)) is too large for a 64-bit float (max ~1.8e308); "
                    + "send it as a string to keep it exact",
                at: start
            )
        }
        return d
    }

    // MARK: - Grammar errors (cold)

    /// The error for a byte at `offset` where a value must start.
    @inline(never)
    func expectedValue(at offset: Int) -> JSONError {
        unexpected(at: offset, expected: "expected a value (object, array, string, number, true, false or null)")
    }

    /// The error for a byte at `offset` where an object key must start.
    @inline(never)
    func expectedKey(at offset: Int) -> JSONError {
        unexpected(
            at: offset,
            expected: "expected '\"' to start an object key (keys must be double-quoted strings, "
                + "and trailing commas are not allowed)"
        )
    }

    /// The error for a byte at `offset` where the `:` after a key must be.
    @inline(never)
    func expectedColon(at offset: Int) -> JSONError {
        unexpected(at: offset, expected: "expected ':' after an object key")
    }

    /// The error for a byte at `offset` after an object member that is neither `,` nor `}`.
    @inline(never)
    func expectedObjectContinuation(at offset: Int) -> JSONError {
        unexpected(at: offset, expected: "expected ',' or '}' after an object member")
    }

    /// The error for a byte at `offset` after an array element that is neither `,` nor `]`.
    @inline(never)
    func expectedArrayContinuation(at offset: Int) -> JSONError {
        unexpected(at: offset, expected: "expected ',' or ']' after an array element")
    }

    /// The error for a '[' or '{' at `offset` that would exceed `maxDepth`.
    @inline(never)
    func depthError(at offset: Int, maxDepth: Int) -> JSONError {
        makeError(
            .depthLimit,
            "arrays and objects are nested more than \(maxDepth) levels deep; "
                + "raise JSONReader.Configuration.maxDepth or flatten the input",
            at: offset
        )
    }

    /// The error for data after the top-level value (and its whitespace) at `offset`.
    @inline(never)
    func trailingData(at offset: Int) -> JSONError {
        makeError(
            .trailingData,
            "unexpected data after the top-level value; remove it, or set allowTrailingData to ignore it",
            at: offset
        )
    }

    @inline(never)
    func makeError(_ code: JSONError.Code, _ message: String, at offset: Int) -> JSONError {
        JSONError(code: code, message: message, offset: offset, in: UnsafeRawBufferPointer(start: base, count: end))
    }

    /// An error for an unexpected byte (or end of input) at `offset`.
    @inline(never)
    func unexpected(at offset: Int, expected: String) -> JSONError {
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

    private static func hex(_ byte: UInt8) -> String {
        let digits: [Character] = Array("0123456789ABCDEF")
        return String([digits[Int(byte >> 4)], digits[Int(byte & 0xF)]])
    }
}
