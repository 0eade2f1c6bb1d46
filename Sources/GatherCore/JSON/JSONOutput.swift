/// The engine behind ``JSONWriter``: writes into a fixed-size chunk and flushes full chunks into
/// the caller's `[UInt8]`.
///
/// Writing into raw memory with one capacity check per token (instead of `Array.append` per byte,
/// with its uniqueness and capacity checks) roughly halves the cost of serialization.
struct JSONOutput: ~Copyable {
    /// The caller's array, moved in for the duration of the write.
    private var array: [UInt8]
    private let chunk: UnsafeMutablePointer<UInt8>
    private let chunkCapacity: Int
    private var count = 0

    /// Writes with `chunk` (which must outlive `self`) as the staging area.
    init(appendingTo array: consuming [UInt8], chunk: UnsafeMutableBufferPointer<UInt8>) {
        self.array = array
        self.chunk = chunk.baseAddress.unsafelyUnwrapped
        self.chunkCapacity = chunk.count
    }

    /// Runs `body` with an output that appends to `buffer`, using a stack-allocated chunk.
    static func withOutput(appendingTo buffer: inout [UInt8], _ body: (inout JSONOutput) -> Void) {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 4096) { chunk in
            let taken = buffer
            buffer = []  // so `taken` is uniquely referenced and appends do not copy
            var output = JSONOutput(appendingTo: taken, chunk: chunk)
            body(&output)
            buffer = output.finish()
        }
    }

    /// Flushes the chunk and hands the array back.
    consuming func finish() -> [UInt8] {
        flush()
        return array
    }

    private mutating func flush() {
        if count > 0 {
            array.append(contentsOf: UnsafeBufferPointer(start: chunk, count: count))
            count = 0
        }
    }

    /// Makes room for `n <= chunkCapacity` bytes at `chunk + count`.
    @inline(__always)
    private mutating func reserve(_ n: Int) {
        if count &+ n > chunkCapacity { flush() }
    }

    @inline(__always)
    mutating func byte(_ b: UInt8) {
        reserve(1)
        chunk[count] = b
        count &+= 1
    }

    /// Appends raw bytes of any length.
    @inline(__always)
    mutating func bytes(_ source: UnsafeBufferPointer<UInt8>) {
        let n = source.count
        if n <= chunkCapacity {
            reserve(n)
            (chunk + count).update(from: source.baseAddress.unsafelyUnwrapped, count: n)
            count &+= n
        } else {
            flush()
            array.append(contentsOf: source)
        }
    }

    mutating func literal(_ text: StaticString) {
        bytes(UnsafeBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    // MARK: - Values

    mutating func value(_ value: Value) {
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

    mutating func int(_ value: Int64) {
        reserve(20)  // "-9223372036854775808"
        var n = value.magnitude
        var digits = 1
        var limit: UInt64 = 10
        while n >= limit && digits < 19 {  // |Int64.min| < 10^19, so 19 digits at most
            digits &+= 1
            limit &*= 10
        }
        if value < 0 {
            chunk[count] = UInt8(ascii: "-")
            count &+= 1
        }
        var p = count &+ digits
        count = p
        repeat {
            p &-= 1
            chunk[p] = UInt8(truncatingIfNeeded: n % 10) &+ UInt8(ascii: "0")
            n /= 10
        } while n != 0
    }

    mutating func double(_ value: Double) {
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
            var o = count
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
            count = o
        }
    }

    mutating func string(_ s: String) {
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

    /// Writes `bytes` quoted and escaped.
    mutating func escaped(_ bytes: UnsafeBufferPointer<UInt8>) {
        let n = bytes.count
        guard n &* 6 &+ 2 <= chunkCapacity else {
            longEscaped(bytes)
            return
        }
        // Worst case (every byte as \u00XX) fits in the chunk: write without further checks.
        reserve(n &* 6 &+ 2)
        let src = bytes.baseAddress.unsafelyUnwrapped
        let dst = chunk
        var o = count
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
        count = o &+ 1
    }

    /// ``escaped(_:)`` for strings too long for the worst case to fit in one chunk.
    private mutating func longEscaped(_ bytes: UnsafeBufferPointer<UInt8>) {
        byte(UInt8(ascii: "\""))
        var runStart = 0
        for i in 0..<bytes.count where Self.needsEscape(bytes[i]) {
            self.bytes(UnsafeBufferPointer(rebasing: bytes[runStart..<i]))
            reserve(6)
            count &+= Self.escape(bytes[i], into: chunk + count)
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
