import GatherCore

/// A fast, strict (RFC 8259) JSON parser producing ``Value``s.
///
/// ```swift
/// let value = try JSONReader.parse(#"{"id": 1, "tags": ["a", "b"], "price": 9.5}"#)
/// value["tags"]?[0]?.stringValue   // "a"
///
/// var config = JSONReader.Configuration()
/// config.maxDepth = 64
/// let doc = try JSONReader.parse(bytes, configuration: config)   // bytes: [UInt8]
/// ```
///
/// Semantics:
/// - **Numbers.** A number without fraction or exponent that fits `Int64` becomes ``Value/int(_:)``
///   (`-0` becomes `.int(0)`); every other number becomes ``Value/double(_:)``, correctly rounded
///   (`1e2`, `1.5`, `-0.0`, `18446744073709551616`). A number whose magnitude exceeds
///   `Double.greatestFiniteMagnitude` (`1e400`) throws ``JSONError/Code/numberOutOfRange``;
///   one too small to represent becomes `0.0`.
/// - **Strings.** All escapes are decoded, including `\uXXXX` surrogate pairs. A lone surrogate
///   escape (`"\uD800"`) cannot be represented in a Swift `String` (nor in any UTF-8 text): it becomes
///   U+FFFD, or throws ``JSONError/Code/invalidUTF8`` when ``Configuration/rejectLoneSurrogates`` is set.
///   Raw control characters (below U+0020) are rejected.
/// - **UTF-8.** The input must be UTF-8 without a byte order mark; an ill-formed sequence throws
///   ``JSONError/Code/invalidUTF8`` with the offset of its first byte.
/// - **Objects.** Members are kept in input order, duplicate keys included; see ``Record``.
/// - **Depth.** Arrays and objects may nest ``Configuration/maxDepth`` levels deep. The parser
///   uses an explicit stack, never recursion, so any input is safe.
/// - **Whitespace.** Only space, tab, line feed and carriage return are allowed around tokens.
///
/// To check a document and pass it on as compact text without building ``Value``s, use
/// `minify(_:into:configuration:)`; it accepts and rejects exactly what `parse` does.
public struct JSONReader {
    /// Options for ``JSONReader``.
    ///
    /// ```swift
    /// var config = JSONReader.Configuration()
    /// config.allowTrailingData = true
    /// ```
    public struct Configuration: Sendable {
        /// How many arrays and objects may nest inside each other; deeper input throws
        /// ``JSONError/Code/depthLimit``. Defaults to 512.
        public var maxDepth: Int = 512
        /// When `true`, anything after the first complete value (and its trailing whitespace)
        /// is ignored instead of throwing ``JSONError/Code/trailingData``. Defaults to `false`.
        public var allowTrailingData = false
        /// When `true`, a lone surrogate escape (`"\uD800"`, or a low surrogate without its high half) throws
        /// ``JSONError/Code/invalidUTF8``, as an invalid UTF-8 byte does, instead of becoming U+FFFD. `gather load`
        /// sets it unless `--replace-invalid-utf8` is given. Defaults to `false`.
        public var rejectLoneSurrogates = false

        /// Creates the default configuration.
        public init() {}
    }

    /// Parses one JSON document from raw UTF-8 bytes.
    ///
    /// - Parameters:
    ///   - bytes: UTF-8 encoded JSON text. The memory is only read during the call.
    ///   - configuration: Depth limit and trailing-data policy.
    /// - Returns: The document's top-level value.
    /// - Throws: ``JSONError`` with a code, a message, and the byte offset, line and column.
    ///
    /// ```swift
    /// let value = try data.withUnsafeBytes { try JSONReader.parse($0) }
    /// ```
    public static func parse(
        _ bytes: UnsafeRawBufferPointer,
        configuration: Configuration = .init()
    ) throws(JSONError) -> Value {
        guard let base = bytes.baseAddress, bytes.count > 0 else { throw JSONLexer.emptyInputError() }
        var parser = JSONParser(
            base: base.assumingMemoryBound(to: UInt8.self),
            count: bytes.count,
            configuration: configuration
        )
        return try parser.parseDocument()
    }

    /// Parses one JSON document from an array of UTF-8 bytes.
    ///
    /// ```swift
    /// let value = try JSONReader.parse(Array("[1, 2]".utf8))
    /// ```
    public static func parse(
        _ bytes: [UInt8],
        configuration: Configuration = .init()
    ) throws(JSONError) -> Value {
        let result = bytes.withUnsafeBytes { buffer in
            Result { () throws(JSONError) -> Value in try parse(buffer, configuration: configuration) }
        }
        return try result.get()
    }

    /// Parses one JSON document from a string.
    ///
    /// ```swift
    /// let value = try JSONReader.parse(#"{"ok": true}"#)
    /// ```
    public static func parse(
        _ string: String,
        configuration: Configuration = .init()
    ) throws(JSONError) -> Value {
        var string = string
        let result = string.withUTF8 { buffer in
            Result { () throws(JSONError) -> Value in
                try parse(UnsafeRawBufferPointer(buffer), configuration: configuration)
            }
        }
        return try result.get()
    }
}
