/// UTF-8 well-formedness checks that report *where* the input goes wrong.
///
/// The standard library validates quickly but only answers yes or no; this is used on the
/// error path to find the offset for ``JSONError``.
enum UTF8Validation {
    /// The offset of the first byte of the first ill-formed sequence in `base[start..<stop]`,
    /// or `nil` if the range is well-formed UTF-8 (Unicode Table 3-7).
    static func firstInvalidOffset(_ base: UnsafePointer<UInt8>, from start: Int, to stop: Int) -> Int? {
        var i = start
        while i < stop {
            let lead = base[i]
            if lead < 0x80 {
                i += 1
                continue
            }
            let length: Int
            var low: UInt8 = 0x80  // allowed range of the second byte
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
            guard i + length <= stop else { return i }
            let second = base[i + 1]
            guard second >= low && second <= high else { return i }
            var k = 2
            while k < length {
                guard base[i + k] & 0xC0 == 0x80 else { return i }
                k += 1
            }
            i += length
        }
        return nil
    }
}
