import GatherCore

/// Byte scanning for the CSV reader: SWAR (8 bytes per step) searches and UTF-8 checks.
///
/// The searches rely on the classic "has zero byte" test: for `x = word ^ broadcast(b)`,
/// `(x - 0x01…01) & ~x & 0x80…80` sets the high bit of every byte of `word` equal to `b`, and may
/// also set it in bytes *above* a real match (borrow propagation) but never below one, so the
/// lowest set bit, read in little-endian order, is always the first match.
enum CSVBytes {
    static let ones: UInt64 = 0x0101_0101_0101_0101
    static let highs: UInt64 = 0x8080_8080_8080_8080
    static let newline = UInt8(ascii: "\n")
    static let carriageReturn = UInt8(ascii: "\r")

    @inline(__always)
    static func broadcast(_ byte: UInt8) -> UInt64 { UInt64(byte) &* ones }

    @inline(__always)
    static func zeroBytes(_ x: UInt64) -> UInt64 { (x &- ones) & ~x & highs }

    /// Exactly the bytes of `x` that are zero (high bit set), without false positives.
    @inline(__always)
    static func exactZeroBytes(_ x: UInt64) -> UInt64 {
        let low7: UInt64 = 0x7F7F_7F7F_7F7F_7F7F
        return ~(((x & low7) &+ low7) | x | low7)
    }

    @inline(__always)
    static func load(_ base: UnsafePointer<UInt8>, _ offset: Int) -> UInt64 {
        UInt64(littleEndian: UnsafeRawPointer(base).loadUnaligned(fromByteOffset: offset, as: UInt64.self))
    }

    /// The index of the first byte in `base[from..<to]` equal to `a` or `b` (whose broadcasts are
    /// `maskA` and `maskB`), or `to`.
    @inline(__always)
    static func firstOf(
        _ base: UnsafePointer<UInt8>,
        from: Int,
        to: Int,
        _ a: UInt8,
        _ maskA: UInt64,
        _ b: UInt8,
        _ maskB: UInt64
    ) -> Int {
        var i = from
        while i &+ 8 <= to {
            let word = load(base, i)
            let hits = zeroBytes(word ^ maskA) | zeroBytes(word ^ maskB)
            if hits != 0 { return i &+ (hits.trailingZeroBitCount &>> 3) }
            i &+= 8
        }
        while i < to {
            let c = base[i]
            if c == a || c == b { return i }
            i &+= 1
        }
        return to
    }

    /// The index of the first `byte` in `base[from..<to]`, or `to`.
    static func firstIndex(of byte: UInt8, _ base: UnsafePointer<UInt8>, from: Int, to: Int) -> Int {
        let mask = broadcast(byte)
        return firstOf(base, from: from, to: to, byte, mask, byte, mask)
    }

    /// Counts the bytes equal to `byte` in `base[from..<to]`.
    static func count(of byte: UInt8, _ base: UnsafePointer<UInt8>, from: Int, to: Int) -> Int {
        let mask = broadcast(byte)
        var total = 0
        var i = from
        while i &+ 8 <= to {
            // Add up to 255 words of per-byte counts (0 or 1) before folding them into `total`.
            var lanes: UInt64 = 0
            var steps = 0
            while steps < 255 && i &+ 8 <= to {
                lanes &+= exactZeroBytes(load(base, i) ^ mask) &>> 7
                i &+= 8
                steps &+= 1
            }
            // Widen the eight byte lanes (each at most 255) to four 16-bit lanes, then add those up.
            let pairs: UInt64 = 0x00FF_00FF_00FF_00FF
            let wide = (lanes & pairs) &+ ((lanes &>> 8) & pairs)
            total &+= Int(truncatingIfNeeded: (wide &* 0x0001_0001_0001_0001) &>> 48)
        }
        while i < to {
            if base[i] == byte { total &+= 1 }
            i &+= 1
        }
        return total
    }

    /// `true` when every byte of `base[from..<to]` is ASCII.
    @inline(__always)
    static func isASCII(_ base: UnsafePointer<UInt8>, from: Int, to: Int) -> Bool {
        var i = from
        var acc: UInt64 = 0
        while i &+ 8 <= to {
            acc |= load(base, i)
            i &+= 8
        }
        if i < to {
            // Fold the tail in one overlapping word when the range is long enough.
            if to &- from >= 8 {
                acc |= load(base, to &- 8)
            } else {
                while i < to {
                    acc |= UInt64(base[i])
                    i &+= 1
                }
            }
        }
        return acc & highs == 0
    }
}
