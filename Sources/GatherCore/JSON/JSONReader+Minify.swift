// TEMPORARY stand-in (parse + write) until the validating minifier lands; same contract.
extension JSONReader {
    /// Validates `bytes` as `parse` does and appends the compact JSON text to `output` (restored on failure).
    public static func minify(
        _ bytes: UnsafeRawBufferPointer,
        into output: inout [UInt8],
        configuration: Configuration = .init()
    ) throws(JSONError) {
        let value = try Self.parse(bytes, configuration: configuration)
        JSONWriter.write(value, into: &output)
    }
}
