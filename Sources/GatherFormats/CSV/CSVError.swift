import GatherCore

/// A problem found by ``CSVParser``: what was wrong and where.
///
/// Errors about one record (``Code/raggedRow``, ``Code/invalidUTF8``, ``Code/textAfterQuote``) are
/// delivered on the row (``CSVRow/error``) and parsing goes on; errors that stop parsing
/// (``Code/unterminatedQuote``, ``Code/recordTooLarge``, ``Code/invalidUsage``) are thrown.
///
/// ```swift
/// error.description   // "csv.unterminated_quote at line 7, column 3 (byte 120): ..."
/// ```
public struct CSVError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A stable classification, safe to use as a metrics label.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Kind: Sendable, Hashable {
            case raggedRow, invalidUTF8, textAfterQuote, unterminatedQuote, recordTooLarge, invalidUsage
        }

        private let kind: Kind

        private init(_ kind: Kind) {
            self.kind = kind
        }

        /// The record has a different number of fields than expected (see ``CSVOptions/RaggedRowPolicy``).
        public static let raggedRow = Code(.raggedRow)
        /// The record holds ill-formed UTF-8; ``CSVError/offset`` is the first bad byte.
        public static let invalidUTF8 = Code(.invalidUTF8)
        /// Text follows a closing quote before the delimiter (only with ``CSVOptions/strictQuotes``).
        public static let textAfterQuote = Code(.textAfterQuote)
        /// The input ends inside a quoted field; the position is the field's opening quote.
        public static let unterminatedQuote = Code(.unterminatedQuote)
        /// A record is longer than ``CSVOptions/maxRecordSize``; the position is the record's start.
        public static let recordTooLarge = Code(.recordTooLarge)
        /// The ``CSVOptions`` cannot be used (e.g. the delimiter equals the quote), or a chunk was
        /// fed after the last one.
        public static let invalidUsage = Code(.invalidUsage)

        /// A dotted identifier such as `"csv.ragged_row"`.
        public var description: String {
            switch kind {
            case .raggedRow: return "csv.ragged_row"
            case .invalidUTF8: return "csv.invalid_utf8"
            case .textAfterQuote: return "csv.text_after_quote"
            case .unterminatedQuote: return "csv.unterminated_quote"
            case .recordTooLarge: return "csv.record_too_large"
            case .invalidUsage: return "csv.invalid_usage"
            }
        }
    }

    /// What kind of error this is.
    public var code: Code
    /// What was wrong, e.g. `"expected 12 fields, found 11"`.
    public var message: String
    /// The 1-based physical line (lines end at `\n`, including those inside quoted fields).
    public var line: Int
    /// The 1-based column of the problem in bytes from the start of ``line``.
    public var column: Int
    /// The 0-based byte offset of the problem in the stream (a UTF-8 byte order mark included).
    public var offset: Int
    /// For ``Code/raggedRow``: the expected field count.
    public var expectedFieldCount: Int?
    /// For ``Code/raggedRow``: the record's field count.
    public var actualFieldCount: Int?

    /// Creates an error.
    public init(
        code: Code,
        message: String,
        line: Int,
        column: Int,
        offset: Int,
        expectedFieldCount: Int? = nil,
        actualFieldCount: Int? = nil
    ) {
        self.code = code
        self.message = message
        self.line = line
        self.column = column
        self.offset = offset
        self.expectedFieldCount = expectedFieldCount
        self.actualFieldCount = actualFieldCount
    }

    /// `"csv.ragged_row at line 3, column 1 (byte 42): expected 3 fields, found 2"`.
    public var description: String {
        "\(code) at line \(line), column \(column) (byte \(offset)): \(message)"
    }
}
