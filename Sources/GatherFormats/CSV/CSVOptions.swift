import GatherCore

/// Settings for ``CSVParser``: the dialect (delimiter, quote, header) and the policies for
/// ragged rows, invalid UTF-8, stray quotes and oversized records.
///
/// ```swift
/// var options = CSVOptions()
/// options.delimiter = UInt8(ascii: ";")
/// options.raggedRows = .pad
/// var parser = try CSVParser(options: options)
/// ```
public struct CSVOptions: Sendable, Hashable {
    /// What to do with a record whose field count differs from the expected count (the header's,
    /// or the first record's when there is no header).
    public enum RaggedRowPolicy: Sendable, Hashable {
        /// Deliver the row with ``CSVRow/error`` set to a ``CSVError/Code/raggedRow`` error that
        /// names the line and the expected and actual counts. The fields are still readable. The default.
        case error
        /// Short rows are padded with missing fields (``CSVField/isMissing``, read as `""`, or `.null`
        /// as a ``Value``); long rows are cut to the expected count (``CSVRow/sourceFieldCount``
        /// still reports how many fields the input had).
        case pad
        /// Drop the row silently; ``CSVParser/skippedRowCount`` counts them.
        case skip
        /// Deliver the row as it is, with its own field count.
        case allow
    }

    /// The byte between fields. Defaults to `,`. Must not be the quote byte, `\n` or `\r`.
    public var delimiter: UInt8 = UInt8(ascii: ",")
    /// The byte that encloses a quoted field; inside one it is escaped by doubling it. Defaults to `"`.
    public var quote: UInt8 = UInt8(ascii: "\"")
    /// When `true` (the default) the first record is the header: it is delivered once with
    /// ``CSVRow/isHeader`` set, sets the expected field count, and is not counted as a data row.
    public var hasHeader = true
    /// See ``RaggedRowPolicy``. Defaults to ``RaggedRowPolicy/error``.
    public var raggedRows: RaggedRowPolicy = .error
    /// When `false` (the default) a record holding ill-formed UTF-8 is delivered with
    /// ``CSVRow/error`` set to ``CSVError/Code/invalidUTF8``. When `true` it is delivered without an
    /// error and the bad sequences read as U+FFFD in ``CSVField/string``.
    public var replaceInvalidUTF8 = false
    /// When `false` (the default, like Python's `csv` module) text between a closing quote and the
    /// next delimiter is appended to the field: `"ab"cd,` reads as `abcd`. When `true` such a row is
    /// delivered (still read that way) with ``CSVRow/error`` set to ``CSVError/Code/textAfterQuote``.
    public var strictQuotes = false
    /// The largest record, in bytes including its line end, that the parser accepts; a longer one
    /// throws ``CSVError/Code/recordTooLarge``. This also bounds the memory the parser keeps
    /// between chunks. Defaults to 16 MiB.
    public var maxRecordSize = 16 << 20
    /// The most fields a record may have; more throws ``CSVError/Code/recordTooLarge``. This
    /// bounds the parser's per-field bookkeeping (24 bytes a field). Defaults to 65,536.
    public var maxFieldCount = 65_536

    /// Creates the default options: comma-separated, `"`-quoted, with a header row.
    public init() {}

    /// Creates options for a delimiter, e.g. `CSVOptions(delimiter: UInt8(ascii: "\t"))`.
    public init(delimiter: UInt8, quote: UInt8 = UInt8(ascii: "\""), hasHeader: Bool = true) {
        self.delimiter = delimiter
        self.quote = quote
        self.hasHeader = hasHeader
    }

    /// Throws if the delimiter and quote cannot work together or the size limit is not positive.
    public func validate() throws(CSVError) {
        let lineBytes: [UInt8] = [UInt8(ascii: "\n"), UInt8(ascii: "\r")]
        var problem: String?
        if delimiter == quote {
            problem = "the delimiter and the quote must be different bytes"
        } else if lineBytes.contains(delimiter) || lineBytes.contains(quote) {
            problem = "the delimiter and the quote cannot be a line break"
        } else if maxRecordSize < 1 || maxFieldCount < 1 {
            problem = "maxRecordSize and maxFieldCount must be at least 1"
        }
        if let problem {
            throw CSVError(code: .invalidUsage, message: problem, line: 0, column: 0, offset: 0)
        }
    }
}
