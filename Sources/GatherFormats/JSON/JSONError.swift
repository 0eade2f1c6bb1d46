import GatherCore

/// An error thrown by ``JSONReader``: what was wrong, how to fix it, and where.
///
/// ```swift
/// do {
///     _ = try JSONReader.parse(#"{"a": 1,}"#)
/// } catch {
///     error.code.description  // "json.syntax"  (safe as a metrics label)
///     error.message           // "unexpected '}'; expected '\"' to start an object key (keys must be
///                             //  double-quoted strings, and trailing commas are not allowed)"
///     (error.line, error.column, error.offset)  // (1, 9, 8)
///     error.description       // "json.syntax at line 1, column 9 (byte 8): unexpected '}'; ..."
/// }
/// ```
public struct JSONError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A stable classification of the error, safe to use as a metrics label.
    ///
    /// New codes may be added without breaking callers; compare with the static members:
    ///
    /// ```swift
    /// if error.code == .depthLimit { ... }
    /// ```
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Kind: Sendable, Hashable {
            case syntax, invalidUTF8, depthLimit, numberOutOfRange, trailingData, unexpectedEnd
            case pathNotFound, notAnArray, recordTooLarge, invalidUsage
        }

        private let kind: Kind

        private init(_ kind: Kind) {
            self.kind = kind
        }

        /// The input is not JSON at this point (unexpected byte, bad escape, control character in a string...).
        public static let syntax = Code(.syntax)
        /// The input is not valid UTF-8 at this offset.
        public static let invalidUTF8 = Code(.invalidUTF8)
        /// Arrays and objects nest deeper than ``JSONReader/Configuration/maxDepth``.
        public static let depthLimit = Code(.depthLimit)
        /// A number is too large in magnitude to be represented as a `Double` (e.g. `1e400`).
        public static let numberOutOfRange = Code(.numberOutOfRange)
        /// Something other than whitespace follows the top-level value.
        public static let trailingData = Code(.trailingData)
        /// The input ends in the middle of a value (or is empty).
        public static let unexpectedEnd = Code(.unexpectedEnd)
        /// ``JSONRecordStream``: a member on the path is missing, or a value on the way is not an object.
        public static let pathNotFound = Code(.pathNotFound)
        /// ``JSONRecordStream``: the selected value is not an array (nor, without `[*]`, an object).
        public static let notAnArray = Code(.notAnArray)
        /// ``JSONRecordStream``: a record is longer than its `maxRecordSize`; the position is the record's start.
        public static let recordTooLarge = Code(.recordTooLarge)
        /// ``JSONRecordStream``: fed after its last chunk, or after it failed.
        public static let invalidUsage = Code(.invalidUsage)

        /// A dotted identifier such as `"json.syntax"`.
        public var description: String {
            switch kind {
            case .syntax: return "json.syntax"
            case .invalidUTF8: return "json.invalid_utf8"
            case .depthLimit: return "json.depth_limit"
            case .numberOutOfRange: return "json.number_out_of_range"
            case .trailingData: return "json.trailing_data"
            case .unexpectedEnd: return "json.unexpected_end"
            case .pathNotFound: return "json.path_not_found"
            case .notAnArray: return "json.not_an_array"
            case .recordTooLarge: return "json.record_too_large"
            case .invalidUsage: return "json.invalid_usage"
            }
        }
    }

    /// What kind of error this is.
    public var code: Code
    /// What was wrong and what to do about it, e.g. `"expected ',' or '}' after object member"`.
    public var message: String
    /// The 0-based byte offset of the problem in the input.
    public var offset: Int
    /// The 1-based line of ``offset`` (lines end at `\n`).
    public var line: Int
    /// The 1-based column of ``offset``, counted in bytes from the start of the line.
    public var column: Int

    /// Creates an error with an explicit position.
    public init(code: Code, message: String, offset: Int, line: Int, column: Int) {
        self.code = code
        self.message = message
        self.offset = offset
        self.line = line
        self.column = column
    }

    /// Creates an error whose line and column are computed from `offset` in `bytes`.
    ///
    /// This scans the input up to `offset`, so it is only done once an error is certain.
    init(code: Code, message: String, offset: Int, in bytes: UnsafeRawBufferPointer) {
        var line = 1
        var lineStart = 0
        let end = min(max(offset, 0), bytes.count)
        var i = 0
        while i < end {
            if bytes[i] == UInt8(ascii: "\n") {
                line += 1
                lineStart = i + 1
            }
            i += 1
        }
        self.init(code: code, message: message, offset: offset, line: line, column: offset - lineStart + 1)
    }

    /// `"json.syntax at line 1, column 9 (byte 8): expected ..."`.
    public var description: String {
        "\(code) at line \(line), column \(column) (byte \(offset)): \(message)"
    }
}
