import GatherCore

extension JSONReader {
    /// Validates one JSON document and appends it to `output` without insignificant whitespace.
    ///
    /// The input is checked exactly as `parse(_:configuration:)` checks it: the same texts are accepted, with the same depth limit and trailing-data policy,
    /// and a rejected one throws the same ``JSONError`` (code, message, offset, line, column).
    /// That includes invalid UTF-8 and numbers beyond `Double`'s range (`1e400`); lone surrogate
    /// escapes (`"\uD800"`) are accepted.
    ///
    /// Only the whitespace between tokens is removed. Everything else is copied byte for byte:
    /// strings keep their escapes as written (`"\u00e9"` stays six characters), numbers keep their
    /// spelling (`1E+2`, `-0.0`, `18446744073709551616`). With `allowTrailingData`, the data after
    /// the value is dropped. No ``Value`` is built: this is a validating copy, several times faster
    /// than `parse` followed by ``JSONWriter/write(_:into:)``.
    ///
    /// `output` grows by at most `bytes.count` bytes, and by exactly the minified length when
    /// the call returns. If it throws, `output` is left as it was (same count and contents).
    ///
    /// - Parameters:
    ///   - bytes: UTF-8 encoded JSON text. The memory is only read during the call and must not
    ///     overlap `output`'s storage.
    ///   - output: The buffer the minified document is appended to.
    ///   - configuration: Depth limit and trailing-data policy, as for `parse`.
    /// - Throws: ``JSONError``, the one `parse` would throw for the same input.
    ///
    /// ```swift
    /// var line: [UInt8] = []
    /// try body.withUnsafeBytes { try JSONReader.minify($0, into: &line) }   // body: [UInt8]
    /// line.append(UInt8(ascii: "\n"))   // one JSON Lines record
    /// // {\n  "a": [1, 2.50],\n  "b": "\u00e9"\n}  →  {"a":[1,2.50],"b":"\u00e9"}
    /// ```
    public static func minify(
        _ bytes: UnsafeRawBufferPointer,
        into output: inout [UInt8],
        configuration: Configuration = .init()
    ) throws(JSONError) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { throw JSONLexer.emptyInputError() }
        let input = UnsafeBufferPointer(start: base.assumingMemoryBound(to: UInt8.self), count: bytes.count)
        let original = output.count
        // The minifier overwrites this copy in place, and copies nothing while no whitespace was dropped.
        output.append(contentsOf: input)
        let written: Int
        do {
            written = try output.withUnsafeMutableBufferPointer { (buffer) throws(JSONError) -> Int in
                try withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 256) { (stack) throws(JSONError) -> Int in
                    var minifier = JSONMinifier(
                        base: input.baseAddress.unsafelyUnwrapped,
                        count: input.count,
                        dest: buffer.baseAddress.unsafelyUnwrapped + original,
                        stack: stack,
                        configuration: configuration
                    )
                    return try minifier.minifyDocument()
                }
            }
        } catch {
            output.removeSubrange(original...)
            throw error
        }
        output.removeSubrange((original + written)...)
    }

    /// Validates one JSON document given as an array of UTF-8 bytes and appends it to `output`
    /// without insignificant whitespace, like the `UnsafeRawBufferPointer` variant.
    ///
    /// - Throws: ``JSONError``, the one `parse` would throw; `output` is then left as it was.
    ///
    /// ```swift
    /// var out: [UInt8] = []
    /// try JSONReader.minify(Array(#"[1, {"a" : null}]"#.utf8), into: &out)   // [1,{"a":null}]
    /// ```
    public static func minify(
        _ bytes: [UInt8],
        into output: inout [UInt8],
        configuration: Configuration = .init()
    ) throws(JSONError) {
        // `Array.withUnsafeBytes` rethrows untyped errors, so the typed error travels in a `Result`.
        let result = bytes.withUnsafeBytes { buffer in
            Result { () throws(JSONError) in try minify(buffer, into: &output, configuration: configuration) }
        }
        try result.get()
    }
}
