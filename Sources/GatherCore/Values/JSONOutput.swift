/// A fast appender of JSON (and other bytes) to a `[UInt8]`: the engine behind ``JSONWriter``, and
/// what writers of other text formats build on (see ``withOutput(appendingTo:reservingCapacity:_:)``).
///
/// It writes into a fixed-size chunk and flushes full chunks into the caller's array. Writing into
/// raw memory with one capacity check per token (instead of `Array.append` per byte, with its
/// uniqueness and capacity checks) roughly halves the cost of serialization.
///
/// ```swift
/// var line: [UInt8] = []
/// JSONOutput.withOutput(appendingTo: &line) { out in
///     out.byte(UInt8(ascii: "["))
///     out.int(42)
///     out.byte(UInt8(ascii: ","))
///     out.string("a\"b")
///     out.literal("]\n")
/// }
/// // [42,"a\"b"] and a newline
/// ```
public struct JSONOutput: ~Copyable {
    // `@usableFromInline`, with the small writers `@inlinable`: writers in other modules (FileSink's
    // JSON Lines and CSV) call `byte` and `bytes` per field, and a call each made them ~10% slower.

    /// The caller's array, moved in for the duration of the write.
    @usableFromInline var array: [UInt8]
    @usableFromInline let chunk: UnsafeMutablePointer<UInt8>
    @usableFromInline let chunkCapacity: Int
    /// The bytes written to `chunk` and not flushed yet.
    @usableFromInline var pending = 0

    /// Writes with `chunk` (which must outlive `self`) as the staging area.
    init(appendingTo array: consuming [UInt8], chunk: UnsafeMutableBufferPointer<UInt8>) {
        self.array = array
        self.chunk = chunk.baseAddress.unsafelyUnwrapped
        self.chunkCapacity = chunk.count
    }

    /// Runs `body` with an output that appends to `buffer`, using a stack-allocated chunk. The bytes
    /// are in `buffer` when `body` returns (or throws).
    ///
    /// - Parameter extra: bytes to reserve in `buffer` up front, beyond what it holds: for a large
    ///   output whose size is known roughly, so that `buffer` does not grow (and copy) as it fills.
    public static func withOutput<R>(
        appendingTo buffer: inout [UInt8], reservingCapacity extra: Int = 0, _ body: (inout JSONOutput) throws -> R
    ) rethrows -> R {
        try withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 4096) { chunk in
            var taken = buffer
            buffer = []  // so `taken` is uniquely referenced and appends do not copy
            if extra > 0 { taken.reserveCapacity(taken.count + extra) }
            var output = JSONOutput(appendingTo: taken, chunk: chunk)
            let result: R
            do {
                result = try body(&output)
            } catch {
                buffer = output.finish()
                throw error
            }
            buffer = output.finish()
            return result
        }
    }

    /// How many bytes the array holds so far: those it held before and those written since.
    @inlinable public var count: Int { array.count &+ pending }

    /// Flushes the chunk and hands the array back.
    consuming func finish() -> [UInt8] {
        flush()
        return array
    }

    @usableFromInline mutating func flush() {
        if pending > 0 {
            array.append(contentsOf: UnsafeBufferPointer(start: chunk, count: pending))
            pending = 0
        }
    }

    /// Makes room for `n <= chunkCapacity` bytes at `chunk + pending`.
    @inlinable @inline(__always)
    mutating func reserve(_ n: Int) {
        if pending &+ n > chunkCapacity { flush() }
    }

    /// Appends one byte.
    @inlinable @inline(__always)
    public mutating func byte(_ b: UInt8) {
        reserve(1)
        chunk[pending] = b
        pending &+= 1
    }

    /// Appends raw bytes of any length, as they are.
    @inlinable @inline(__always)
    public mutating func bytes(_ source: UnsafeBufferPointer<UInt8>) {
        let n = source.count
        guard let from = source.baseAddress else { return }
        if n <= chunkCapacity {
            reserve(n)
            UnsafeMutableRawPointer(chunk + pending).copyMemory(from: from, byteCount: n)
            pending &+= n
        } else {
            flushAndAppend(source)
        }
    }

    /// `bytes(_:)` for more than a chunk: straight to the array.
    @usableFromInline mutating func flushAndAppend(_ source: UnsafeBufferPointer<UInt8>) {
        flush()
        array.append(contentsOf: source)
    }

    /// Appends raw bytes of any length, as they are.
    @inlinable @inline(__always)
    public mutating func bytes(_ source: UnsafeRawBufferPointer) {
        bytes(source.assumingMemoryBound(to: UInt8.self))
    }

    /// Appends `text`'s UTF-8 as it is (no quotes, no escapes): `out.literal("null")`.
    @inlinable
    public mutating func literal(_ text: StaticString) {
        bytes(UnsafeBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    // MARK: - Values

    /// Appends `value` as compact JSON, as ``JSONWriter/write(_:into:)`` does.
    public mutating func value(_ value: Value) {
        switch value {
        case .null:
            literal("null")
        case .bool(let b):
            literal(b ? "true" : "false")
        case .int(let i):
            int(i)
        case .double(let d):
            double(d)
        case .string(let s):
            string(s)
        case .array(let elements):
            byte(UInt8(ascii: "["))
            var first = true
            for element in elements {
                if !first { byte(UInt8(ascii: ",")) }
                first = false
                self.value(element)
            }
            byte(UInt8(ascii: "]"))
        case .object(let record):
            byte(UInt8(ascii: "{"))
            var first = true
            for field in record.fields {
                if !first { byte(UInt8(ascii: ",")) }
                first = false
                string(field.key)
                byte(UInt8(ascii: ":"))
                self.value(field.value)
            }
            byte(UInt8(ascii: "}"))
        }
    }

    /// Appends `value` in decimal.
    public mutating func int(_ value: Int64) {
        reserve(20)  // "-9223372036854775808"
        var n = value.magnitude
        var digits = 1
        var limit: UInt64 = 10
        while n >= limit && digits < 19 {  // |Int64.min| < 10^19, so 19 digits at most
            digits &+= 1
            limit &*= 10
        }
        if value < 0 {
            chunk[pending] = UInt8(ascii: "-")
            pending &+= 1
        }
        var p = pending &+ digits
        pending = p
        repeat {
            p &-= 1
            chunk[p] = UInt8(truncatingIfNeeded: n % 10) &+ UInt8(ascii: "0")
            n /= 10
        } while n != 0
    }

    /// Appends `value` in its shortest round-trip form (`0.1`, `1e-300`, `100.0`); NaN and
    /// infinities, which JSON cannot represent, as `null`.
    public mutating func double(_ value: Double) {
        guard value.isFinite else {
            literal("null")
            return
        }
        if fixedPointDouble(value) { return }
        // Swift prints the shortest round-trip form: "0.1", "1e-300", "30000000000.0", "-0.0",
        // always with a '.' or an exponent, and always valid JSON for finite values.
        var text = value.description
        text.withUTF8 { bytes($0) }
    }

    /// Fast path for doubles in [1e-4, 1e15) with at most 15 significant digits: writes exactly
    /// what `description` would (e.g. "301.07", "0.5", "100.0") without building a String.
    ///
    /// It looks for the fewest fraction digits k such that m = round(|value| * 10^k) < 10^15 reads
    /// back as `value`. Reading "m / 10^k" is one correctly rounded IEEE division of two exact
    /// numbers (m < 2^53, 10^k exact for k <= 22), so the check `m / 10^k == |value|` is exact.
    /// With at most 15 digits there is at most one such m per k (decimal spacing 10^-15 relative
    /// is wider than a double's rounding interval, 2^-52), and the product |value| * 10^k is within
    /// 0.5 of it, so `rounded()` finds it: the result is the unique shortest round-trip text, the
    /// same digits `description` prints. Returns `false` (writing nothing) otherwise.
    @inline(__always)
    private mutating func fixedPointDouble(_ value: Double) -> Bool {
        let magnitude = value.magnitude
        guard magnitude >= 1e-4 && magnitude < 1e15 else { return false }
        var k = 0
        var scale = 1.0
        while k <= 19 {
            let scaled = magnitude * scale
            guard scaled < 1e15 else { return false }
            // Round to nearest by conversion (not `rounded()`, which can call libm in debug builds).
            let m = UInt64(scaled + 0.5)
            if Double(m) / scale == magnitude {
                writeFixedPoint(m, fractionDigits: k, negative: value < 0)
                return true
            }
            k &+= 1
            scale *= 10  // exact: 10^k for k <= 22
        }
        return false
    }

    /// Writes m / 10^k in fixed point with exactly k fraction digits (at least one: "100.0").
    private mutating func writeFixedPoint(_ m: UInt64, fractionDigits k: Int, negative: Bool) {
        reserve(24)  // sign + up to 15 digits + '.' + leading zeros ("0.0001")
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)
        let written = withUnsafeMutableBytes(of: &digits) { raw -> Int in
            // Digits of m, least significant first, padded to more than k digits.
            var n = m
            var count = 0
            repeat {
                raw[count] = UInt8(truncatingIfNeeded: n % 10) &+ UInt8(ascii: "0")
                n /= 10
                count &+= 1
            } while n != 0 || count <= k
            return count
        }
        withUnsafeBytes(of: &digits) { raw in
            var o = pending
            if negative {
                chunk[o] = UInt8(ascii: "-")
                o &+= 1
            }
            var i = written &- 1
            while i >= k {
                chunk[o] = raw[i]
                o &+= 1
                i &-= 1
            }
            chunk[o] = UInt8(ascii: ".")
            o &+= 1
            if k == 0 {
                chunk[o] = UInt8(ascii: "0")
                o &+= 1
            }
            while i >= 0 {
                chunk[o] = raw[i]
                o &+= 1
                i &-= 1
            }
            pending = o
        }
    }

    /// Appends `s` as a quoted, escaped JSON string.
    public mutating func string(_ s: String) {
        let done: Void? = s.utf8.withContiguousStorageIfAvailable { escaped($0) }
        if done == nil {
            var copy = s
            copy.withUTF8 { escaped($0) }
        }
    }

    // MARK: - Strings

    private static let ones: UInt64 = 0x0101_0101_0101_0101
    private static let highBits: UInt64 = 0x8080_8080_8080_8080

    /// `true` for the bytes a JSON string must escape: `"`, `\` and control characters.
    @inline(__always)
    private static func needsEscape(_ c: UInt8) -> Bool {
        c < 0x20 || c == UInt8(ascii: "\"") || c == UInt8(ascii: "\\")
    }

    /// Appends the UTF-8 text `bytes` as a quoted JSON string, escaping `"`, `\` and control
    /// characters (as ``string(_:)`` does).
    @inline(__always)
    public mutating func escaped(_ bytes: UnsafeRawBufferPointer) {
        escaped(bytes.assumingMemoryBound(to: UInt8.self))
    }

    /// Appends the UTF-8 text `bytes` as a quoted JSON string, escaping `"`, `\` and control
    /// characters (as ``string(_:)`` does).
    public mutating func escaped(_ bytes: UnsafeBufferPointer<UInt8>) {
        let n = bytes.count
        guard let src = bytes.baseAddress else {
            literal("\"\"")
            return
        }
        guard n &* 6 &+ 2 <= chunkCapacity else {
            longEscaped(bytes)
            return
        }
        // Worst case (every byte as \u00XX) fits in the chunk: write without further checks.
        reserve(n &* 6 &+ 2)
        let dst = chunk
        var o = pending
        dst[o] = UInt8(ascii: "\"")
        o &+= 1
        var i = 0
        while i &+ 8 <= n {
            let w = UnsafeRawPointer(src + i).loadUnaligned(as: UInt64.self)
            let q = w ^ 0x2222_2222_2222_2222
            let b = w ^ 0x5C5C_5C5C_5C5C_5C5C
            // Non-zero iff some byte is '"', '\\' or < 0x20 (a borrow only starts at such a byte).
            let special =
                ((q &- Self.ones) & ~q | (b &- Self.ones) & ~b | (w &- 0x2020_2020_2020_2020) & ~w) & Self.highBits
            if special != 0 { break }
            UnsafeMutableRawPointer(dst + o).storeBytes(of: w, as: UInt64.self)
            i &+= 8
            o &+= 8
        }
        while i < n {
            let c = src[i]
            if Self.needsEscape(c) {
                o &+= Self.escape(c, into: dst + o)
            } else {
                dst[o] = c
                o &+= 1
            }
            i &+= 1
        }
        dst[o] = UInt8(ascii: "\"")
        pending = o &+ 1
    }

    /// ``escaped(_:)`` for strings too long for the worst case to fit in one chunk.
    private mutating func longEscaped(_ bytes: UnsafeBufferPointer<UInt8>) {
        byte(UInt8(ascii: "\""))
        var runStart = 0
        for i in 0..<bytes.count where Self.needsEscape(bytes[i]) {
            self.bytes(UnsafeBufferPointer(rebasing: bytes[runStart..<i]))
            reserve(6)
            pending &+= Self.escape(bytes[i], into: chunk + pending)
            runStart = i &+ 1
        }
        self.bytes(UnsafeBufferPointer(rebasing: bytes[runStart...]))
        byte(UInt8(ascii: "\""))
    }

    /// Writes the escape for `c` (which needs one) at `dst`; returns its length (2 or 6).
    @inline(__always)
    private static func escape(_ c: UInt8, into dst: UnsafeMutablePointer<UInt8>) -> Int {
        dst[0] = UInt8(ascii: "\\")
        let short: UInt8
        switch c {
        case UInt8(ascii: "\""): short = UInt8(ascii: "\"")
        case UInt8(ascii: "\\"): short = UInt8(ascii: "\\")
        case 0x0A: short = UInt8(ascii: "n")
        case 0x0D: short = UInt8(ascii: "r")
        case 0x09: short = UInt8(ascii: "t")
        case 0x08: short = UInt8(ascii: "b")
        case 0x0C: short = UInt8(ascii: "f")
        default:
            let hex: StaticString = "0123456789abcdef"
            dst[1] = UInt8(ascii: "u")
            dst[2] = UInt8(ascii: "0")
            dst[3] = UInt8(ascii: "0")
            dst[4] = hex.utf8Start[Int(c >> 4)]
            dst[5] = hex.utf8Start[Int(c & 0xF)]
            return 6
        }
        dst[1] = short
        return 2
    }
}
