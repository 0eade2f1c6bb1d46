import GatherCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Infers what one text field (a CSV cell) is, and parses it, without allocating.
///
/// The rule throughout is that **nothing is lost**: a field gets a type only if the typed value gives back
/// what was written. Anything that would come back different (`007`, an integer too big for 64 bits, a real
/// with more digits than a `Double` holds) is ``Parsed/text``, and is stored as written.
///
/// | field | result | why |
/// |---|---|---|
/// | (0 bytes) | ``Parsed/empty`` | callers store `NULL` |
/// | `385`, `-12`, `0`, `-9223372036854775808` | ``Parsed/integer(_:)`` | |
/// | `007`, `+5`, `-0`, `1 000`, ` 5`, `9223372036854775808` | ``Parsed/text`` | the integer would print differently |
/// | `5538.04`, `-0.25`, `1e10`, `2.5E-3`, `1.0`, `-0.0` | ``Parsed/real(_:)`` | |
/// | `.5`, `1.`, `00.5`, `+1.5`, `1e`, `nan`, `inf`, `0x1p3` | ``Parsed/text`` | not a plain decimal |
/// | `1e309`, `1e-400` | ``Parsed/text`` | overflows to infinity, underflows to zero |
/// | `0.1000000000000000000001` | ``Parsed/text`` | more precision than a `Double` |
/// | `true`, `FALSE`, `True` | ``Parsed/boolean(_:)`` | `0`/`1` are integers, `yes`/`no` text |
/// | `2024-05-01`, `2024-05-01T12:30:00Z`, `Mon, 02 Jan 2006 15:04:05 GMT` | ``Parsed/timestamp`` | |
/// | `05/01/2024`, `2024-02-30` | ``Parsed/text`` | ambiguous; not a date |
/// | anything else | ``Parsed/text`` | |
///
/// In detail:
///
/// - **integer**: an optional `-`, then digits with no leading zero (except `0` itself), fitting `Int64`.
///   The integer, printed, is the field byte for byte: `007`, `+5` and `-0` are text, so zip codes and
///   identifiers keep their zeros, and integers outside `Int64` are text rather than rounded reals.
/// - **real**: an optional `-`, an integer part as above (`0` or no leading zero), then a fraction (`.` and at
///   least one digit) and/or an exponent (`e` or `E`, an optional sign, at least one digit). The value is the
///   correctly rounded `Double` (IEEE 754 round-to-nearest-even, as `strtod` and `Double(_:)` give). The field is
///   a real only if that `Double` is finite, is zero only when the field is zero, and, printed with as many
///   significant digits as the field has (trailing zeros aside), gives back the field's number; or, for the rare
///   powers of two where the two differ, is printed so by Swift's shortest round-trip `description`. So every
///   decimal of up to 15 significant digits in `Double`'s normal range is a real, and so is everything written
///   from a `Double` by a shortest round-trip formatter (Swift's `description`, Python's `repr`, JavaScript,
///   Go's `'g', -1`, Ryu) or by `%.17g`; a literal with more precision than a `Double` holds, such as
///   `3.14159265358979323846`, is text. The sign of zero is kept (`-0.0`); the spelling (`1.50`, `1.5e0`) is not.
/// - **boolean**: `true` or `false` in any ASCII case. Not `0`/`1` (integers), not `yes`/`no`, `t`/`f`.
/// - **timestamp**: what ``TimestampSyntax`` accepts: ISO 8601 / RFC 3339 dates and date-times
///   (`2024-05-01`, `2024/05/01`, `2024-05-01 12:30`, `2024-05-01T12:30:00.25+02:00`) and RFC 2822 dates
///   (`Mon, 02 Jan 2006 15:04:05 GMT`, `02 Jan 2006 15:04 +0000`), with months, days and times validated against
///   the calendar. `MM/DD/YYYY` and `DD/MM/YYYY` are text: `03/04/2024` means a different day on each side of the
///   Atlantic. Timestamps are stored as their text, so nothing is converted.
/// - **text**: everything else, including fields with surrounding spaces.
///
/// Cost: a first-byte dispatch (a letter other than `t`, `f` or the initials of day names, `m`, `w`, `s`, is text
/// at once), then one pass over the bytes. Integers and reals of up to 15 significant digits with a decimal
/// exponent within ±22 (`385`, `5538.04`, `6.02e23`) take an exact fast path (Clinger's: both operands exact, one
/// rounding); 16–19 digits are verified exactly with 128-bit integer arithmetic; only longer or more extreme
/// literals reach `strtod` and `snprintf` on a stack copy.
public enum FieldSyntax {
    /// What one text field is, with its parsed value.
    public enum Parsed: Sendable, Equatable {
        /// No bytes at all; stored as `NULL`.
        case empty
        /// A canonical decimal integer that fits `Int64`.
        case integer(Int64)
        /// A finite decimal number the `Double` represents without loss (see ``FieldSyntax``).
        case real(Double)
        /// `true` or `false`, any ASCII case.
        case boolean(Bool)
        /// A date or date-time ``TimestampSyntax`` recognises; stored as its text.
        case timestamp
        /// Anything else; stored as its text.
        case text
    }

    /// Classifies and parses one field, given as its UTF-8 bytes (without CSV quotes or escapes).
    ///
    /// See ``FieldSyntax`` for the rules. Allocates nothing on the usual paths. A real with more than 19
    /// significant digits or a decimal exponent beyond ±22 goes through `strtod` on a stack copy; when such a real
    /// has more than 15 significant digits, or is a power of two whose digits are checked against its shortest
    /// form, the check allocates a little (`snprintf`'s argument list, a `description`).
    public static func parse(_ bytes: UnsafeRawBufferPointer) -> Parsed {
        let n = bytes.count
        if n == 0 { return .empty }
        let first = bytes[0]
        if first &- 0x30 < 10 || first == UInt8(ascii: "-") { return number(bytes) }
        // Setting 0x20 lowercases ASCII letters; only a letter becomes one of the lowercase letters below.
        switch first | 0x20 {
        case UInt8(ascii: "t"):
            if n == 4 && bytes.loadUnaligned(as: UInt32.self) | 0x2020_2020 == littleEndian("true") {
                return .boolean(true)
            }
        case UInt8(ascii: "f"):
            if n == 5 && bytes.loadUnaligned(as: UInt32.self) | 0x2020_2020 == littleEndian("fals")
                && bytes[4] | 0x20 == UInt8(ascii: "e")
            {
                return .boolean(false)
            }
        case UInt8(ascii: "m"), UInt8(ascii: "w"), UInt8(ascii: "s"): break
        default: return .text
        }
        // Mon, Tue, Wed, Thu, Fri, Sat, Sun: perhaps an RFC 2822 date.
        return TimestampSyntax.isRFC2822(bytes) ? .timestamp : .text
    }

    /// Classifies and parses one field given as a string; see ``parse(_:)-(UnsafeRawBufferPointer)``.
    public static func parse(_ text: String) -> Parsed {
        let utf8 = text.utf8
        return utf8.withContiguousStorageIfAvailable { parse(UnsafeRawBufferPointer($0)) }
            ?? Array(utf8).withUnsafeBytes { parse($0) }
    }

    /// The column type a parsed field implies; `nil` for ``Parsed/empty``, which fits every column.
    public static func columnType(of parsed: Parsed) -> ColumnType? {
        switch parsed {
        case .empty: nil
        case .integer: .integer
        case .real: .real
        case .boolean: .boolean
        case .timestamp: .timestamp
        case .text: .text
        }
    }

    // MARK: - Numbers

    /// The four bytes of `word` as a little-endian `UInt32`, converted to the platform's order.
    @inline(__always)
    private static func littleEndian(_ word: StaticString) -> UInt32 {
        let p = word.utf8Start
        return UInt32(littleEndian: UInt32(p[0]) | UInt32(p[1]) << 8 | UInt32(p[2]) << 16 | UInt32(p[3]) << 24)
    }

    /// A field starting with a digit or `-`: an integer, a real, a timestamp, or text.
    @inline(__always)
    private static func number(_ b: UnsafeRawBufferPointer) -> Parsed {
        let n = b.count
        let negative = b[0] == UInt8(ascii: "-")
        let start = negative ? 1 : 0
        var i = start
        var value: UInt64 = 0
        while n - i >= 8, let eight = eightDigits(b, i) {
            value = value &* 100_000_000 &+ eight
            i += 8
        }
        while i < n {
            let digit = b[i] &- 0x30
            if digit >= 10 { break }
            value = value &* 10 &+ UInt64(digit)
            i += 1
        }
        let digits = i - start
        if i == n {
            // 19 digits cannot wrap a UInt64; Int64 has at most 19.
            guard digits > 0, digits <= 19, digits == 1 || b[start] != UInt8(ascii: "0") else { return .text }
            if negative {
                guard value != 0, value <= 1 << 63 else { return .text }
                return .integer(Int64(bitPattern: 0 &- value))
            }
            return value <= UInt64(Int64.max) ? .integer(Int64(value)) : .text
        }
        let next = b[i]
        if next == UInt8(ascii: ".") || next | 0x20 == UInt8(ascii: "e") {
            return real(b, negative: negative, integerDigits: digits, integerValue: value, at: i)
        }
        if !negative {
            if digits == 4 && (next == UInt8(ascii: "-") || next == UInt8(ascii: "/")) {
                return TimestampSyntax.isISO(b) ? .timestamp : .text
            }
            if digits <= 2 && next == UInt8(ascii: " ") && digits > 0 {
                return TimestampSyntax.isRFC2822(b) ? .timestamp : .text
            }
        }
        return .text
    }

    /// The eight bytes at `i` as a number if they are all ASCII digits (the SWAR check and conversion of
    /// simdjson and fast_float).
    @inline(__always)
    private static func eightDigits(_ b: UnsafeRawBufferPointer, _ i: Int) -> UInt64? {
        let chunk = UInt64(littleEndian: b.loadUnaligned(fromByteOffset: i, as: UInt64.self))
        // A byte below "0" sets its high bit when 0x30 is subtracted, one above "9" when 0x46 is added.
        guard ((chunk &+ 0x4646_4646_4646_4646) | (chunk &- 0x3030_3030_3030_3030)) & 0x8080_8080_8080_8080 == 0 else {
            return nil
        }
        var digits = chunk &- 0x3030_3030_3030_3030
        digits = digits &* 10 &+ digits >> 8
        let pairs = digits & 0x0000_00FF_0000_00FF
        let upper = digits >> 16 & 0x0000_00FF_0000_00FF
        return (pairs &* (100 + 1_000_000 << 32) &+ upper &* (1 + 10_000 << 32)) >> 32
    }

    /// Where a real literal's digits are: the integer part at `integerStart`, the fraction at `fractionStart`.
    private struct Literal {
        var negative: Bool
        var integerStart: Int
        var integerDigits: Int
        var fractionStart: Int
        var fractionDigits: Int
        /// The exponent after `e`, saturated at ±100,000.
        var exponent: Int
    }

    /// Parses a real whose integer part (`integerDigits` digits, `integerValue` if at most 19) ends at `at`,
    /// where a `.` or `e` follows.
    @inline(__always)
    private static func real(
        _ b: UnsafeRawBufferPointer, negative: Bool, integerDigits: Int, integerValue: UInt64, at: Int
    ) -> Parsed {
        let n = b.count
        let integerStart = negative ? 1 : 0
        guard integerDigits > 0, integerDigits == 1 || b[integerStart] != UInt8(ascii: "0") else { return .text }
        var i = at
        var mantissa = integerValue
        var fractionStart = i
        if b[i] == UInt8(ascii: ".") {
            i += 1
            fractionStart = i
            while n - i >= 8, let eight = eightDigits(b, i) {
                mantissa = mantissa &* 100_000_000 &+ eight
                i += 8
            }
            while i < n {
                let digit = b[i] &- 0x30
                if digit >= 10 { break }
                mantissa = mantissa &* 10 &+ UInt64(digit)
                i += 1
            }
            guard i > fractionStart else { return .text }
        }
        let fractionDigits = i - fractionStart
        var exponent = 0
        if i < n {
            guard b[i] | 0x20 == UInt8(ascii: "e") else { return .text }
            i += 1
            var exponentNegative = false
            if i < n, b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") {
                exponentNegative = b[i] == UInt8(ascii: "-")
                i += 1
            }
            let exponentStart = i
            while i < n {
                let digit = b[i] &- 0x30
                if digit >= 10 { return .text }
                if exponent < 100_000 { exponent = exponent * 10 + Int(digit) }
                i += 1
            }
            guard i > exponentStart else { return .text }
            if exponentNegative { exponent = -exponent }
        }
        let literal = Literal(
            negative: negative, integerStart: integerStart, integerDigits: integerDigits,
            fractionStart: fractionStart, fractionDigits: fractionDigits, exponent: exponent)
        if integerDigits + fractionDigits <= 19 {
            // `mantissa` is exact: the number is mantissa × 10^power.
            if mantissa == 0 { return .real(negative ? -0.0 : 0.0) }
            var power = exponent - fractionDigits
            if mantissa < 1_000_000_000_000_000 && power >= -22 && power <= 22 {
                return .real(clinger(mantissa, power, negative))
            }
            while mantissa % 10 == 0 {
                mantissa /= 10
                power += 1
            }
            if power >= -22 && power <= 22 {
                if mantissa < 1_000_000_000_000_000 { return .real(clinger(mantissa, power, negative)) }
                if let parsed = verified(mantissa, power, negative) { return parsed }
            }
        }
        return viaStrtod(b, literal)
    }

    private static let powersOfTen: [Double] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
        1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
    ]

    /// 5^0 ... 5^27, the powers of five that fit 64 bits.
    private static let powersOfFive: [UInt64] = [
        1, 5, 25, 125, 625, 3_125, 15_625, 78_125, 390_625, 1_953_125, 9_765_625, 48_828_125, 244_140_625,
        1_220_703_125, 6_103_515_625, 30_517_578_125, 152_587_890_625, 762_939_453_125, 3_814_697_265_625,
        19_073_486_328_125, 95_367_431_640_625, 476_837_158_203_125, 2_384_185_791_015_625, 11_920_928_955_078_125,
        59_604_644_775_390_625, 298_023_223_876_953_125, 1_490_116_119_384_765_625, 7_450_580_596_923_828_125,
    ]

    /// `mantissa` × 10^`power` for `mantissa` < 2^53 and |`power`| ≤ 22: both operands are exact doubles, so the
    /// one multiplication or division rounds correctly (Clinger's fast path).
    @inline(__always)
    private static func clinger(_ mantissa: UInt64, _ power: Int, _ negative: Bool) -> Double {
        let value =
            power < 0 ? Double(mantissa) / powersOfTen[-power] : Double(mantissa) * powersOfTen[power]
        return negative ? -value : value
    }

    /// `mantissa` × 10^`power` for 10^15 ≤ `mantissa` < 10^19 (no trailing zeros) and |`power`| ≤ 22: an
    /// approximation corrected to the nearest double by exact comparisons with the midpoints to its neighbours,
    /// then the no-loss check. `nil` when an intermediate would not fit 128 bits.
    @inline(never)
    private static func verified(_ mantissa: UInt64, _ power: Int, _ negative: Bool) -> Parsed? {
        var value =
            power < 0 ? Double(mantissa) / powersOfTen[-power] : Double(mantissa) * powersOfTen[power]
        let decimal = UInt128(mantissa)
        var settled = false
        for _ in 0..<8 {
            // `value` is positive and finite: its neighbours are one bit pattern away.
            let odd = value.bitPattern & 1 == 1
            let up = Double(bitPattern: value.bitPattern + 1)
            guard up.isFinite, let above = compare(decimal, power, midpoint(value, up)) else { return nil }
            if above > 0 || (above == 0 && odd) {
                value = up
                continue
            }
            let down = Double(bitPattern: value.bitPattern - 1)
            guard let below = compare(decimal, power, midpoint(down, value)) else { return nil }
            if below < 0 || (below == 0 && odd) {
                value = down
                continue
            }
            settled = true
            break
        }
        guard settled else { return nil }
        guard let recovers = recovers(value, mantissa, power) else { return nil }
        guard recovers || isShortest(value, mantissa, power) else { return .text }
        return .real(negative ? -value : value)
    }

    /// Whether `value` printed with as many significant digits as `mantissa` has gives `mantissa` × 10^`power`:
    /// whether `value` is within half a unit of the last digit, ties going to an even digit as `printf` does.
    private static func recovers(_ value: Double, _ mantissa: UInt64, _ power: Int) -> Bool? {
        let bits = decompose(value)
        // A nearest double is within half its spacing 2^exponent of the number, so when a unit of the last
        // digit exceeds that spacing (10^power > 2^exponent, with a margin for the rounding of the product)
        // the digits come back.
        if value.isNormal && Double(power) * 3.321_928_094_887_362 > Double(bits.exponent) + 0.001 { return true }
        let ten = UInt128(mantissa) * 10
        guard let low = compare(ten - 5, power - 1, bits), let high = compare(ten + 5, power - 1, bits) else {
            return nil
        }
        let even = mantissa & 1 == 0
        return (low < 0 || (low == 0 && even)) && (high > 0 || (high == 0 && even))
    }

    /// A positive finite double as `mantissa` × 2^`exponent`.
    @inline(__always)
    private static func decompose(_ value: Double) -> (mantissa: UInt64, exponent: Int) {
        let biased = Int(value.exponentBitPattern)
        let significand = value.significandBitPattern
        return biased == 0 ? (significand, -1074) : (significand | 1 << 52, biased - 1075)
    }

    /// The exact midpoint of positive finite doubles `low` < `high`, as `mantissa` × 2^`exponent`.
    @inline(__always)
    private static func midpoint(_ low: Double, _ high: Double) -> (mantissa: UInt64, exponent: Int) {
        let a = decompose(low)
        let b = decompose(high)
        let common = min(a.exponent, b.exponent)
        return ((a.mantissa &<< (a.exponent - common)) + (b.mantissa &<< (b.exponent - common)), common - 1)
    }

    /// The sign of `decimal` × 10^`power` − `binary.mantissa` × 2^`binary.exponent`, or `nil` when the
    /// comparison needs more than 128 bits.
    private static func compare(
        _ decimal: UInt128, _ power: Int, _ binary: (mantissa: UInt64, exponent: Int)
    ) -> Int? {
        guard power >= -27 && power <= 27 else { return nil }
        // decimal × 5^power × 2^power against mantissa × 2^exponent.
        var left = decimal
        var right = UInt128(binary.mantissa)
        if power >= 0 {
            guard let product = multiply(left, powersOfFive[power]) else { return nil }
            left = product
        } else {
            guard let product = multiply(right, powersOfFive[-power]) else { return nil }
            right = product
        }
        let shift = power - binary.exponent
        if shift > 0 {
            // Shifted past 128 bits, `left` exceeds any `right`.
            if left != 0 && left.leadingZeroBitCount < shift { return 1 }
            left &<<= shift
        } else if shift < 0 {
            if right != 0 && right.leadingZeroBitCount < -shift { return -1 }
            right &<<= -shift
        }
        return left < right ? -1 : (left == right ? 0 : 1)
    }

    /// `a` × `b`, or `nil` if it overflows.
    @inline(__always)
    private static func multiply(_ a: UInt128, _ b: UInt64) -> UInt128? {
        let low = UInt64(truncatingIfNeeded: a).multipliedFullWidth(by: b)
        let high = UInt64(truncatingIfNeeded: a >> 64).multipliedFullWidth(by: b)
        let (top, carry) = low.high.addingReportingOverflow(high.low)
        guard high.high == 0, !carry else { return nil }
        return UInt128(top) << 64 | UInt128(low.low)
    }

    /// Whether Swift's shortest round-trip `description` of `value` is `mantissa` × 10^`power` (no trailing
    /// zeros). Consulted only for a power of two, the one case where the shortest digits can differ from the
    /// nearest ones; allocates a string.
    @inline(never)
    private static func isShortest(_ value: Double, _ mantissa: UInt64, _ power: Int) -> Bool {
        guard value.significandBitPattern == 0, mantissa < 100_000_000_000_000_000 else { return false }
        var description = value.magnitude.description
        return description.withUTF8 { utf8 in
            var digits: UInt64 = 0
            var exponent = 0
            var fraction = 0
            var inFraction = false
            var i = 0
            while i < utf8.count {
                let byte = utf8[i]
                if byte &- 0x30 < 10 {
                    guard digits < 1_000_000_000_000_000_000 else { return false }
                    digits = digits * 10 + UInt64(byte &- 0x30)
                    if inFraction { fraction += 1 }
                } else if byte == UInt8(ascii: ".") {
                    inFraction = true
                } else if byte | 0x20 == UInt8(ascii: "e") {
                    var sign = 1
                    var j = i + 1
                    if j < utf8.count, utf8[j] == UInt8(ascii: "-") || utf8[j] == UInt8(ascii: "+") {
                        sign = utf8[j] == UInt8(ascii: "-") ? -1 : 1
                        j += 1
                    }
                    while j < utf8.count, utf8[j] &- 0x30 < 10 {
                        exponent = exponent * 10 + Int(utf8[j] &- 0x30)
                        j += 1
                    }
                    exponent *= sign
                    break
                } else {
                    return false
                }
                i += 1
            }
            var shortestPower = exponent - fraction
            while digits != 0 && digits % 10 == 0 {
                digits /= 10
                shortestPower += 1
            }
            return digits == mantissa && shortestPower == power
        }
    }

    /// Any real the fast paths do not take: `strtod` on a stack copy of the significant digits (written as
    /// `DIGITSeN`, so no locale's decimal separator matters), then `snprintf` to check nothing is lost.
    @inline(never)
    private static func viaStrtod(_ b: UnsafeRawBufferPointer, _ literal: Literal) -> Parsed {
        let total = literal.integerDigits + literal.fractionDigits
        func digit(_ j: Int) -> UInt8 {
            j < literal.integerDigits
                ? b[literal.integerStart + j] : b[literal.fractionStart + j - literal.integerDigits]
        }
        var first = 0
        while first < total && digit(first) == UInt8(ascii: "0") { first += 1 }
        if first == total { return .real(literal.negative ? -0.0 : 0.0) }
        var last = total - 1
        while digit(last) == UInt8(ascii: "0") { last -= 1 }
        let count = last - first + 1
        let power = literal.exponent - literal.fractionDigits + (total - 1 - last)
        let scientific = power + count - 1
        // Beyond these the value is infinite or zero. A double's exact decimal expansion has at most 767
        // significant digits, so a literal with more cannot be given back by any double.
        guard scientific <= 308, scientific >= -324, count <= 767 else { return .text }
        return withUnsafeTemporaryAllocation(of: CChar.self, capacity: 800) { buffer -> Parsed in
            let start = buffer.baseAddress!
            var w = 0
            // The first 19 significant digits.
            var mantissa: UInt64 = 0
            for j in first...last {
                buffer[w] = CChar(bitPattern: digit(j))
                w += 1
                if w <= 19 { mantissa = mantissa * 10 + UInt64(digit(j) - 0x30) }
            }
            buffer[w] = CChar(UInt8(ascii: "e"))
            w += 1
            if power < 0 {
                buffer[w] = CChar(UInt8(ascii: "-"))
                w += 1
            }
            var magnitude = power.magnitude
            var divisor: UInt = 1
            while divisor * 10 <= magnitude { divisor *= 10 }
            while divisor > 0 {
                buffer[w] = CChar(UInt8(ascii: "0") + UInt8(magnitude / divisor))
                w += 1
                magnitude %= divisor
                divisor /= 10
            }
            buffer[w] = 0
            var end: UnsafeMutablePointer<CChar>? = nil
            let value = strtod(start, &end)
            guard end == start + w, value.isFinite, value != 0 else { return .text }
            let parsed = Parsed.real(literal.negative ? -value : value)
            if count <= 15 && value.isNormal { return parsed }
            if count > 19 {
                // The literal lies in [mantissa, mantissa + 1] × 10^truncated, and would need the double within
                // half a unit of its own last digit, a fraction of 10^truncated: a double further away than that
                // (as for almost every long literal) settles it without printing.
                let truncated = power + count - 19
                let bits = decompose(value)
                if let below = compare(UInt128(mantissa - 1), truncated, bits), below > 0 { return .text }
                if let above = compare(UInt128(mantissa + 2), truncated, bits), above < 0 { return .text }
            }
            // Print the value with `count` significant digits and compare them (and the exponent) with the
            // literal's.
            let length = withVaList([Int32(count - 1), value]) { vsnprintf(start, 800, "%.*e", $0) }
            guard length > 0, length < 800 else { return .text }
            var same = CChar(bitPattern: digit(first)) == buffer[0]
            var r = count == 1 ? 1 : 2
            var j = first + 1
            while same && j <= last {
                same = CChar(bitPattern: digit(j)) == buffer[r]
                r += 1
                j += 1
            }
            if same {
                same = buffer[r] == CChar(UInt8(ascii: "e"))
                r += 1
                let sign = buffer[r] == CChar(UInt8(ascii: "-")) ? -1 : 1
                r += 1
                var printed = 0
                while r < Int(length) {
                    printed = printed * 10 + Int(buffer[r]) - 0x30
                    r += 1
                }
                same = same && sign * printed == scientific
            }
            if same || (count <= 17 && isShortest(value, mantissa, power)) { return parsed }
            return .text
        }
    }
}
