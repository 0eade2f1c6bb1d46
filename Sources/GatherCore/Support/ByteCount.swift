/// Parses a size such as `64MiB`, `10MB`, `512KiB`, `1GiB` or a bare number of bytes.
///
/// Binary units (`KiB`, `MiB`, `GiB`) are powers of 1024; decimal units (`KB`, `MB`, `GB`) are powers of 1000;
/// `K`, `M` and `G` alone are read as binary.
///
/// ```swift
/// let cap = try parseByteCount("64MiB")   // 67_108_864
/// ```
/// - Throws: ``ConfigurationError`` naming the text and the accepted forms.
public func parseByteCount(_ text: String) throws(ConfigurationError) -> Int {
    let trimmed = text.trimmingWhitespace()
    var numberEnd = trimmed.startIndex
    while numberEnd < trimmed.endIndex, trimmed[numberEnd].isNumber || trimmed[numberEnd] == "." {
        numberEnd = trimmed.index(after: numberEnd)
    }
    let unit = trimmed[numberEnd...].trimmingWhitespace().lowercased()
    let multipliers: [String: Double] = [
        "": 1, "b": 1, "k": 1024, "kib": 1024, "kb": 1000, "m": Double(1 << 20), "mib": Double(1 << 20), "mb": 1e6,
        "g": Double(1 << 30), "gib": Double(1 << 30), "gb": 1e9,
    ]
    guard let number = Double(trimmed[..<numberEnd]), number >= 0, let multiplier = multipliers[unit],
        number * multiplier < 9e18
    else {
        throw ConfigurationError("invalid size \"\(text)\": write a number with a unit, like 512KiB, 64MiB or 1GB")
    }
    return Int(number * multiplier)
}
