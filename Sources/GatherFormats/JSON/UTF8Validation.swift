import GatherCore

/// UTF-8 well-formedness checks that report *where* the input goes wrong.
///
/// The standard library validates quickly but only answers yes or no; this is used on the
/// error path to find the offset for ``JSONError``, and per record by the CSV reader (hence the word-at-a-time
/// ASCII skip, on the same helpers as its scanner).
enum UTF8Validation {
    /// The offset of the first byte of the first ill-formed UTF-8 sequence in `base[from..<to]`,
    /// or `nil` when the range is well-formed (Unicode Table 3-7). ASCII runs are skipped 8 bytes at a time.
    static func firstInvalidOffset(_ base: UnsafePointer<UInt8>, from: Int, to: Int) -> Int? {
        var i = from
        while true {
            while i &+ 8 <= to {
                let high = CSVBytes.load(base, i) & CSVBytes.highs
                if high != 0 {
                    i &+= high.trailingZeroBitCount &>> 3
                    break
                }
                i &+= 8
            }
            guard i < to else { return nil }
            let lead = base[i]
            if lead < 0x80 {
                i &+= 1
                continue
            }
            let length: Int
            var low: UInt8 = 0x80  // the allowed range of the second byte
            var high: UInt8 = 0xBF
            switch lead {
            case 0xC2...0xDF: length = 2
            case 0xE0: length = 3; low = 0xA0
            case 0xE1...0xEC, 0xEE...0xEF: length = 3
            case 0xED: length = 3; high = 0x9F
            case 0xF0: length = 4; low = 0x90
            case 0xF1...0xF3: length = 4
            case 0xF4: length = 4; high = 0x8F
            default: return i
            }
            guard i &+ length <= to else { return i }
            let second = base[i &+ 1]
            guard second >= low && second <= high else { return i }
            var k = 2
            while k < length {
                guard base[i &+ k] & 0xC0 == 0x80 else { return i }
                k &+= 1
            }
            i &+= length
        }
    }
}
