import GatherCore

/// A streaming, chunked CSV reader (RFC 4180, with Python-compatible leniency) that works on bytes.
///
/// Feed it chunks of any size; it calls `emit` for every complete record and keeps only the
/// partial last record between chunks (at most ``CSVOptions/maxRecordSize`` bytes). Fields are
/// zero-copy views of the input unless they hold doubled quotes.
///
/// ```swift
/// var parser = try CSVParser(options: CSVOptions())
/// while let chunk = try file.read(upToCount: 1 << 20) {
///     try chunk.withUnsafeBytes { bytes in
///         try parser.feed(bytes, isLast: false) { row in
///             if row.isHeader { header = row.strings } else { try insert(row) }
///         }
///     }
/// }
/// try parser.finish { row in try insert(row) }
/// ```
///
/// The grammar, and the choices made where RFC 4180 is silent:
/// - **Records** end at LF or CRLF (a lone CR is data). The last record needs no line end.
///   Every row reports the 1-based physical ``CSVRow/line`` it starts on (newlines inside quoted
///   fields count) and its stream ``CSVRow/byteOffset``.
/// - **Empty lines** (nothing, or only CR, before the LF) are skipped: they produce no row,
///   but they count as lines. A line holding `""` is a record with one empty field.
/// - **Byte order mark:** a UTF-8 BOM at the very start of the stream (offset 0) is skipped.
/// - **Quotes:** a field that starts with the quote byte is quoted: it may hold delimiters and
///   line breaks, and a doubled quote stands for one quote. A quote *inside* an unquoted field is
///   literal (`a"b` reads as `a"b`). Text after a closing quote is appended to the field
///   (`"ab"cd` reads as `abcd`), like Python's `csv` module; ``CSVOptions/strictQuotes`` flags such
///   rows with an error instead. Spaces are never trimmed.
/// - **Errors:** ragged rows, invalid UTF-8 and (strict) text after a quote are reported on the
///   row (``CSVRow/error``) and parsing continues; an unterminated quoted field at the end of the
///   input and a record longer than ``CSVOptions/maxRecordSize`` throw a ``CSVError``.
///   After `feed` throws, the parser must not be used again.
///
/// For parallel parsing of one large file, see ``CSVBoundaryScanner``.
public struct CSVParser {
    enum Mode: UInt8 {
        /// Before a record: skipping empty lines.
        case recordStart
        /// After a delimiter (or at the start of a non-empty line).
        case fieldStart
        /// Inside an unquoted field, or after the closing quote of a lenient quoted field.
        case unquoted
        /// Inside a quoted field.
        case quoted
        /// Just after a quote inside a quoted field: an escaped quote or the closing one.
        case afterQuote
    }

    /// The options the parser was created with.
    public let options: CSVOptions
    /// The header, once the first record has been read with ``CSVOptions/hasHeader`` on.
    public private(set) var header: [String]?
    /// The field count rows must have: the header's, or the first row's. Set it before
    /// feeding to enforce a count (e.g. when resuming after the header).
    public var expectedFieldCount: Int?
    /// Data rows delivered so far (error rows included, the header and skipped rows not).
    public private(set) var rowCount = 0
    /// Ragged rows dropped by ``CSVOptions/RaggedRowPolicy/skip``.
    public private(set) var skippedRowCount = 0
    /// The number of bytes fed so far.
    public private(set) var bytesFed = 0

    // Scanner state. Positions are relative to the buffer being scanned: the chunk, or `carry`.
    var mode = Mode.recordStart
    var position = 0
    var recordStart = 0
    var fieldStart = 0
    var fieldFlags: UInt8 = 0
    var line: Int
    var recordLine: Int
    var quoteLine: Int = 0
    var quoteOffset: Int = 0
    var recordError: CSVErrorBox?
    var spanStorage = CSVSpanStorage(capacity: 32)
    var spanCount = 0
    /// The partial last record (or undecided byte-order-mark bytes), starting at stream offset `carryOffset`.
    var carry: [UInt8] = []
    var carryOffset: Int
    var checkingBOM: Bool
    var finished = false
    var headerPending: Bool

    /// Creates a parser.
    ///
    /// - Parameters:
    ///   - options: The dialect and policies; see ``CSVOptions``.
    ///   - startOffset: The stream offset of the first byte that will be fed. A byte order mark is
    ///     only looked for at offset 0. Use a row's ``CSVRow/byteOffset`` to resume there.
    ///   - startLine: The line number of the first byte that will be fed (a row's ``CSVRow/line``).
    /// - Throws: ``CSVError/Code/invalidUsage`` when the options cannot work.
    public init(options: CSVOptions = CSVOptions(), startOffset: Int = 0, startLine: Int = 1) throws(CSVError) {
        try options.validate()
        self.options = options
        self.line = startLine
        self.recordLine = startLine
        self.carryOffset = startOffset
        self.bytesFed = startOffset
        self.checkingBOM = startOffset == 0
        self.headerPending = options.hasHeader
    }

    /// Parses `chunk`, calling `emit` for each record it completes (in order).
    ///
    /// - Parameters:
    ///   - chunk: The next bytes of the stream; only read during the call.
    ///   - isLast: `true` for the final chunk (which may be empty): the last record then needs no
    ///     line end, and an open quoted field is an error.
    ///   - emit: Receives each row; the row is valid only during the call. Errors it throws stop parsing.
    /// - Throws: ``CSVError`` (unterminated quote, record too large) or whatever `emit` throws.
    public mutating func feed(
        _ chunk: UnsafeRawBufferPointer,
        isLast: Bool,
        emit: (CSVRow) throws -> Void
    ) throws {
        if finished {
            guard chunk.isEmpty else {
                throw CSVError(
                    code: .invalidUsage,
                    message: "feed called after the last chunk",
                    line: line,
                    column: 1,
                    offset: bytesFed
                )
            }
            return
        }
        if !isKnownUniquelyReferenced(&spanStorage) {
            spanStorage = spanStorage.copy(count: spanCount)  // this parser was copied
        }
        let count = chunk.count
        let chunkOffset = bytesFed
        bytesFed &+= count
        let input = chunk.baseAddress?.assumingMemoryBound(to: UInt8.self)
        var start = 0
        if checkingBOM, let input {
            let bom: [UInt8] = [0xEF, 0xBB, 0xBF]
            while carry.count < 3 && start < count && input[start] == bom[carry.count] {
                carry.append(input[start])
                start &+= 1
            }
            if carry.count == 3 {
                carry.removeAll()
                carryOffset = 3
                checkingBOM = false
            } else if start < count {
                checkingBOM = false  // a mismatch: the bytes held are data
            } else if !isLast {
                return
            }
        }
        if isLast { checkingBOM = false }

        // Complete the pending record, one line at a time, in `carry`.
        while !carry.isEmpty {
            if start == count {
                if isLast { try scanCarry(isLast: true, emit: emit) }
                break
            }
            let pieceEnd = min(CSVBytes.firstIndex(of: CSVBytes.newline, input!, from: start, to: count) &+ 1, count)
            carry.append(contentsOf: UnsafeBufferPointer(start: input! + start, count: pieceEnd &- start))
            start = pieceEnd
            try scanCarry(isLast: isLast && start == count, emit: emit)
        }

        // Parse the rest of the chunk in place.
        if carry.isEmpty, let input, start < count {
            mode = .recordStart
            position = start
            recordStart = start
            try scan(input, count: count, isLast: isLast, bufferOffset: chunkOffset, emit: emit)
            if recordStart < count {
                carry.append(contentsOf: UnsafeBufferPointer(start: input + recordStart, count: count &- recordStart))
                carryOffset = chunkOffset &+ recordStart
                rebase(by: recordStart)
                try checkCarrySize()
            }
        }
        if isLast { finished = true }
    }

    /// Parses an array of bytes; see ``feed(_:isLast:emit:)-(UnsafeRawBufferPointer,_,_)``.
    public mutating func feed(_ chunk: [UInt8], isLast: Bool, emit: (CSVRow) throws -> Void) throws {
        try chunk.withUnsafeBytes { try feed($0, isLast: isLast, emit: emit) }
    }

    /// Ends the stream: delivers the last record if it had no line end. Same as feeding an empty last chunk.
    public mutating func finish(emit: (CSVRow) throws -> Void) throws {
        try feed(UnsafeRawBufferPointer(start: nil, count: 0), isLast: true, emit: emit)
    }

    /// `true` when no partial record is held, i.e. the bytes fed so far end exactly at a record
    /// boundary. A parallel parser uses this to confirm a split point (see ``CSVBoundaryScanner``).
    public var isAtRecordBoundary: Bool { carry.isEmpty && !checkingBOM }

    /// The current 1-based line: the line of the next byte to be fed.
    public var currentLine: Int { line }

    /// Parses all of `bytes` at once and returns the header (if ``CSVOptions/hasHeader``) and the
    /// data rows as strings. Rows with an error are returned as `.failure`.
    ///
    /// ```swift
    /// let table = try CSVParser.parse(Array("a,b\n1,2\n".utf8))
    /// table.header   // ["a", "b"]
    /// table.rows     // [.success(["1", "2"])]
    /// ```
    public static func parse(
        _ bytes: [UInt8],
        options: CSVOptions = CSVOptions()
    ) throws -> (header: [String]?, rows: [Result<[String], CSVError>]) {
        var parser = try CSVParser(options: options)
        var header: [String]?
        var rows: [Result<[String], CSVError>] = []
        try parser.feed(bytes, isLast: true) { row in
            if row.isHeader {
                header = row.strings
            } else if let error = row.error {
                rows.append(.failure(error))
            } else {
                rows.append(.success(row.strings))
            }
        }
        return (header, rows)
    }

    // MARK: - Carry

    private mutating func scanCarry(isLast: Bool, emit: (CSVRow) throws -> Void) throws {
        var buffer: [UInt8] = []
        swap(&buffer, &carry)
        let bufferOffset = carryOffset
        try buffer.withUnsafeBufferPointer { bytes in
            try scan(bytes.baseAddress!, count: bytes.count, isLast: isLast, bufferOffset: bufferOffset, emit: emit)
        }
        if recordStart == buffer.count {
            carryOffset &+= buffer.count
            if buffer.capacity > 1 << 20 {
                buffer = []
            } else {
                buffer.removeAll(keepingCapacity: true)
            }
            position = 0
            recordStart = 0
        } else if recordStart > 0 {
            buffer.removeSubrange(0..<recordStart)
            carryOffset &+= recordStart
            rebase(by: recordStart)
        }
        swap(&buffer, &carry)
        try checkCarrySize()
    }

    private func checkCarrySize() throws(CSVError) {
        guard carry.count > options.maxRecordSize else { return }
        throw tooLarge(offset: carryOffset)
    }

    private func tooLarge(offset: Int) -> CSVError {
        CSVError(
            code: .recordTooLarge,
            message: "the record is longer than the limit of \(options.maxRecordSize) bytes "
                + "(an unbalanced quote makes a record run on; raise maxRecordSize if the data is right)",
            line: recordLine,
            column: 1,
            offset: offset
        )
    }

    private mutating func rebase(by delta: Int) {
        position &-= delta
        recordStart &-= delta
        fieldStart &-= delta
        let spans = spanStorage.pointer
        for index in 0..<spanCount {
            spans[index].start &-= delta
            spans[index].end &-= delta
        }
    }

    // MARK: - Scanning

    /// Scans `base[position..<count]`, emitting complete records. On return the state describes
    /// the pending record, which starts at `recordStart` (`== count` when none is pending).
    private mutating func scan(
        _ base: UnsafePointer<UInt8>,
        count n: Int,
        isLast: Bool,
        bufferOffset: Int,
        emit: (CSVRow) throws -> Void
    ) throws {
        do {
            try scanRecords(base, count: n, isLast: isLast, bufferOffset: bufferOffset, emit: emit)
        } catch is CSVSpanList.LimitExceeded {
            throw CSVError(
                code: .recordTooLarge,
                message: "the record has more than \(options.maxFieldCount) fields "
                    + "(raise maxFieldCount if the data is right)",
                line: recordLine,
                column: 1,
                offset: bufferOffset &+ recordStart
            )
        }
    }

    private mutating func scanRecords(
        _ base: UnsafePointer<UInt8>,
        count n: Int,
        isLast: Bool,
        bufferOffset: Int,
        emit: (CSVRow) throws -> Void
    ) throws {
        let delimiter = options.delimiter
        let quote = options.quote
        let newline = CSVBytes.newline
        let carriageReturn = CSVBytes.carriageReturn
        let delimiterMask = CSVBytes.broadcast(delimiter)
        let quoteMask = CSVBytes.broadcast(quote)
        let newlineMask = CSVBytes.broadcast(newline)

        var fields = CSVSpanList(storage: spanStorage, count: spanCount, limit: options.maxFieldCount)
        defer { spanCount = fields.count }
        var i = position
        var mode = self.mode
        var fieldStart = self.fieldStart
        var flags = self.fieldFlags
        var line = self.line
        defer {
            self.position = i
            self.mode = mode
            self.fieldStart = fieldStart
            self.fieldFlags = flags
            self.line = line
        }

        scanning: while true {
            switch mode {
            case .recordStart:
                recordStart = i
                guard i < n else { break scanning }
                let c = base[i]
                if c == newline {
                    line &+= 1
                    i &+= 1
                    continue scanning
                }
                if c == carriageReturn {
                    if i &+ 1 < n {
                        if base[i &+ 1] == newline {
                            line &+= 1
                            i &+= 2
                            continue scanning
                        }
                    } else if isLast {
                        i &+= 1
                        recordStart = i
                        break scanning
                    } else {
                        break scanning
                    }
                }
                recordLine = line
                mode = .fieldStart
                continue scanning

            case .fieldStart:
                guard i < n else {
                    if !isLast { break scanning }
                    try fields.append(i, i, 0)
                    try finishRecord(base, end: i, bufferOffset: bufferOffset, fields: &fields, emit: emit)
                    mode = .recordStart
                    continue scanning
                }
                if base[i] == quote {
                    quoteLine = line
                    quoteOffset = bufferOffset &+ i
                    fieldStart = i
                    flags = 0
                    i &+= 1
                    mode = .quoted
                    continue scanning
                }
                fieldStart = i
                flags = 0
                mode = .unquoted
                fallthrough

            case .unquoted:
                let j = CSVBytes.firstOf(base, from: i, to: n, delimiter, delimiterMask, newline, newlineMask)
                if j == n {
                    i = n
                    if !isLast { break scanning }
                    var end = n
                    if end > fieldStart && base[end &- 1] == carriageReturn { end &-= 1 }
                    try fields.append(fieldStart, end, flags)
                    try finishRecord(base, end: n, bufferOffset: bufferOffset, fields: &fields, emit: emit)
                    mode = .recordStart
                    continue scanning
                }
                if base[j] == delimiter {
                    try fields.append(fieldStart, j, flags)
                    i = j &+ 1
                    mode = .fieldStart
                    continue scanning
                }
                var end = j
                if end > fieldStart && base[end &- 1] == carriageReturn { end &-= 1 }
                try fields.append(fieldStart, end, flags)
                line &+= 1
                i = j &+ 1
                try finishRecord(base, end: i, bufferOffset: bufferOffset, fields: &fields, emit: emit)
                mode = .recordStart

            case .quoted:
                let j = CSVBytes.firstOf(base, from: i, to: n, quote, quoteMask, newline, newlineMask)
                if j == n {
                    i = n
                    if !isLast { break scanning }
                    throw CSVError(
                        code: .unterminatedQuote,
                        message: "the quoted field that starts here has no closing quote before the end of the input",
                        line: quoteLine,
                        column: column(ofOffset: quoteOffset &- bufferOffset, base),
                        offset: quoteOffset
                    )
                }
                i = j &+ 1
                if base[j] == newline {
                    line &+= 1
                } else {
                    mode = .afterQuote
                }

            case .afterQuote:
                guard i < n else {
                    if !isLast { break scanning }
                    try Self.closeQuoted(fieldStart, i, &fields, flags)
                    try finishRecord(base, end: i, bufferOffset: bufferOffset, fields: &fields, emit: emit)
                    mode = .recordStart
                    continue scanning
                }
                let c = base[i]
                if c == quote {
                    flags = CSVFieldSpan.decode
                    i &+= 1
                    mode = .quoted
                } else if c == delimiter {
                    try Self.closeQuoted(fieldStart, i, &fields, flags)
                    i &+= 1
                    mode = .fieldStart
                } else if c == newline {
                    try Self.closeQuoted(fieldStart, i, &fields, flags)
                    line &+= 1
                    i &+= 1
                    try finishRecord(base, end: i, bufferOffset: bufferOffset, fields: &fields, emit: emit)
                    mode = .recordStart
                } else if c == carriageReturn && (i &+ 1 == n || base[i &+ 1] == newline) {
                    if i &+ 1 == n {
                        if !isLast { break scanning }  // CR at the end of the chunk: wait for the next byte
                        try Self.closeQuoted(fieldStart, i, &fields, flags)
                        i &+= 1
                    } else {
                        try Self.closeQuoted(fieldStart, i, &fields, flags)
                        line &+= 1
                        i &+= 2
                    }
                    try finishRecord(base, end: i, bufferOffset: bufferOffset, fields: &fields, emit: emit)
                    mode = .recordStart
                } else {
                    // Text after the closing quote: keep it, like Python's csv module.
                    if options.strictQuotes && recordError == nil {
                        recordError = CSVErrorBox(
                            CSVError(
                                code: .textAfterQuote,
                                message: "unexpected text after the closing quote of a quoted field "
                                    + "(a quote inside a quoted field must be doubled)",
                                line: line,
                                column: column(ofOffset: i, base),
                                offset: bufferOffset &+ i
                            ))
                    }
                    flags = CSVFieldSpan.decode
                    mode = .unquoted
                }
            }
        }
    }

    @inline(__always)
    private static func closeQuoted(
        _ fieldStart: Int,
        _ afterQuote: Int,
        _ fields: inout CSVSpanList,
        _ flags: UInt8
    ) throws(CSVSpanList.LimitExceeded) {
        if flags == 0 {
            try fields.append(fieldStart &+ 1, afterQuote &- 1, 0)
        } else {
            try fields.append(fieldStart, afterQuote, flags)
        }
    }

    /// The 1-based column of `offset` in `base`, counting from the last newline before it
    /// (not before the current record's start).
    private func column(ofOffset offset: Int, _ base: UnsafePointer<UInt8>) -> Int {
        var k = offset
        while k > recordStart && base[k &- 1] != CSVBytes.newline { k &-= 1 }
        return offset &- k &+ 1
    }

    /// Applies the header, ragged-row and UTF-8 rules to the record `base[recordStart..<end]`
    /// whose fields are `fields`, delivers it, and resets the record state.
    @inline(__always)
    private mutating func finishRecord(
        _ base: UnsafePointer<UInt8>,
        end: Int,
        bufferOffset: Int,
        fields: inout CSVSpanList,
        emit: (CSVRow) throws -> Void
    ) throws {
        defer { fields.count = 0 }
        let start = recordStart
        let byteCount = end &- start
        if byteCount > options.maxRecordSize { throw tooLarge(offset: bufferOffset &+ start) }
        let actual = fields.count
        if actual > options.maxFieldCount { throw CSVSpanList.LimitExceeded() }
        var count = actual
        var error: CSVErrorBox?
        if recordError != nil {
            swap(&error, &recordError)
        }
        let isHeader = headerPending
        if isHeader {
            headerPending = false
            if expectedFieldCount == nil { expectedFieldCount = actual }
        } else if let expected = expectedFieldCount {
            if actual != expected {
                switch options.raggedRows {
                case .error:
                    if error == nil {
                        error = CSVErrorBox(
                            CSVError(
                                code: .raggedRow,
                                message: "expected \(expected) fields, found \(actual)",
                                line: recordLine,
                                column: 1,
                                offset: bufferOffset &+ start,
                                expectedFieldCount: expected,
                                actualFieldCount: actual
                            ))
                    }
                case .pad: count = expected
                case .skip:
                    skippedRowCount &+= 1
                    return
                case .allow: break
                }
            }
        } else {
            expectedFieldCount = actual
        }
        if error == nil && !options.replaceInvalidUTF8,
            let bad = UTF8Validation.firstInvalidOffset(base, from: start, to: end)
        {
            var badLine = recordLine
            var k = start
            while k < bad {
                if base[k] == CSVBytes.newline { badLine &+= 1 }
                k &+= 1
            }
            error = CSVErrorBox(
                CSVError(
                    code: .invalidUTF8,
                    message: "the record holds bytes that are not valid UTF-8 (byte 0x"
                        + String(base[bad], radix: 16, uppercase: true) + ")",
                    line: badLine,
                    column: column(ofOffset: bad, base),
                    offset: bufferOffset &+ bad
                ))
        }
        if !isHeader { rowCount &+= 1 }
        let quote = options.quote
        let recordLine = recordLine
        var headerStrings: [String]?
        let row = CSVRow(
            base: base,
            spans: UnsafeBufferPointer(start: fields.pointer, count: fields.count),
            quote: quote,
            count: count,
            line: recordLine,
            byteOffset: bufferOffset &+ start,
            byteCount: byteCount,
            isHeader: isHeader,
            errorBox: error
        )
        if isHeader { headerStrings = row.strings }
        try emit(row)
        if isHeader { header = headerStrings }
    }
}

/// A parser owns its buffers (the partial record is an array, the field spans are copied on
/// write when a parser value was copied), so a parser may be handed to another task.
extension CSVParser: @unchecked Sendable {}
