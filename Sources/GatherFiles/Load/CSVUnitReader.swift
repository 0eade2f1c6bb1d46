import GatherCore
import GatherFormats
import GatherStore

/// CSV → ``RowBlock``s of typed cells, bound straight into the sink; bad rows become error rows.
struct CSVUnitReader: UnitReader {
    private var parser: CSVParser
    private var builder: Builder

    init(file: LoadFile, options: LoadOptions, context: LoadContext, resume: LoadCheckpoint?) throws {
        self.parser = try Self.parser(options.csv, resume: resume)
        let csv = self.parser.options
        self.builder = Builder(
            collector: UnitCollector(
                file: file, context: context, sourceColumns: options.sourceColumns, resume: resume),
            blockRows: options.blockRows, blockBytes: options.blockBytes, delimiter: csv.delimiter)
    }

    var line: Int { parser.currentLine }

    /// Header names made unique, so no two fields share a column: a repeated name (compared ignoring case, as
    /// column names are) gets `_2`, `_3`…; an empty one becomes `column_N` (its position).
    static func uniqueFieldNames(_ names: [String]) -> [String] {
        var seen = Set<String>()
        return names.enumerated().map { index, name in
            let base = name.isEmpty ? "column_\(index + 1)" : name
            var candidate = base
            var n = 2
            while !seen.insert(candidate.lowercased()).inserted {
                candidate = "\(base)_\(n)"
                n += 1
            }
            return candidate
        }
    }

    /// A parser for a file, or for the rest of it after `resume` (past the header, expecting its field count).
    static func parser(_ options: CSVOptions, resume: LoadCheckpoint?) throws -> CSVParser {
        var csv = options
        if resume != nil { csv.hasHeader = false }
        var parser = try CSVParser(options: csv, startOffset: resume?.offset ?? 0, startLine: resume?.line ?? 1)
        if let fields = resume?.fields { parser.expectedFieldCount = fields.count }
        return parser
    }

    mutating func consume(_ chunk: UnsafeRawBufferPointer, isLast: Bool) throws {
        try parser.feed(chunk, isLast: isLast) { row in builder.add(row) }
        if isLast { builder.finish(offset: parser.bytesFed, line: parser.currentLine) }
    }

    mutating func takeReady() -> [LoadUnit] { builder.collector.takeReady() }

    mutating func closeAfterFailure() {
        builder.finish(offset: parser.bytesFed, line: parser.currentLine)
    }

    struct Builder {
        var collector: UnitCollector
        let blockRows: Int
        let blockBytes: Int
        let delimiter: UInt8
        var block: RowBlock?
        let pathBytes: [UInt8]

        init(collector: UnitCollector, blockRows: Int, blockBytes: Int, delimiter: UInt8) {
            self.collector = collector
            self.blockRows = blockRows
            self.blockBytes = blockBytes
            self.delimiter = delimiter
            self.pathBytes = Array(collector.file.path.utf8)
        }

        mutating func add(_ row: CSVRow) {
            if row.isHeader {
                collector.fields = CSVUnitReader.uniqueFieldNames(row.strings)
                return
            }
            if collector.fields == nil { collector.fields = (1...max(row.count, 1)).map { "column_\($0)" } }
            if let block, block.rowCount + collector.errors.count >= blockRows || block.byteCount >= blockBytes {
                flush(offset: row.byteOffset, line: row.line, done: false)
            }
            collector.records += 1
            collector.unitRecords += 1
            if let error = row.error {
                let payload = row.strings.joined(separator: String(UnicodeScalar(delimiter)))
                let hint =
                    error.code == .raggedRow
                    ? "; fix the row, or load with --ragged pad or --ragged skip"
                    : error.code == .invalidUTF8 ? "; fix the encoding, or load with --replace-invalid-utf8" : ""
                collector.fail(
                    line: row.line, column: error.column, code: error.code.description,
                    message: error.message + hint, payload: payload)
                return
            }
            if block == nil {
                var fields = collector.fields ?? []
                if collector.sourceColumns { fields += [LoadOptions.sourceFileColumn, LoadOptions.sourceLineColumn] }
                block = RowBlock(fields: fields, capacity: blockRows, byteCapacity: blockBytes + (blockBytes >> 3))
            }
            for field in row {
                field.withUnsafeBytes { bytes in
                    block!.append(FieldSyntax.parse(bytes), text: bytes)
                }
            }
            if collector.sourceColumns {
                pathBytes.withUnsafeBytes { block!.append(.text, text: $0) }
                var line = String(row.line)
                line.withUTF8 { block!.append(.integer(Int64(row.line)), text: UnsafeRawBufferPointer($0)) }
            }
            block!.endRow()
        }

        mutating func flush(offset: Int, line: Int, done: Bool) {
            let rows = block?.rowCount ?? 0
            collector.close(block: block, rows: [], written: rows, offset: offset, line: line, done: done)
            block = nil
        }

        mutating func finish(offset: Int, line: Int) {
            flush(offset: offset, line: line, done: true)
        }
    }
}

/// CSV → records (typed like the block path) → a pipeline's transforms → ``Normalizer`` rows. Used when a
/// `files` resource has transforms; `gather load` uses the faster ``CSVUnitReader``.
struct CSVRecordUnitReader: UnitReader {
    private var parser: CSVParser
    private var builder: RecordUnitBuilder
    private let delimiter: UInt8

    init(file: LoadFile, options: LoadOptions, context: LoadContext, resume: LoadCheckpoint?) throws {
        self.parser = try CSVUnitReader.parser(options.csv, resume: resume)
        self.builder = RecordUnitBuilder(file: file, options: options, context: context, resume: resume)
        self.delimiter = options.csv.delimiter
    }

    var line: Int { parser.currentLine }

    mutating func consume(_ chunk: UnsafeRawBufferPointer, isLast: Bool) throws {
        let delimiter = self.delimiter
        try parser.feed(chunk, isLast: isLast) { row in
            if row.isHeader {
                builder.collector.fields = CSVUnitReader.uniqueFieldNames(row.strings)
                return
            }
            if builder.collector.fields == nil {
                builder.collector.fields = (1...max(row.count, 1)).map { "column_\($0)" }
            }
            builder.startRecord(offset: row.byteOffset, line: row.line)
            if let error = row.error {
                builder.collector.fail(
                    line: row.line, column: error.column, code: error.code.description, message: error.message,
                    payload: row.strings.joined(separator: String(UnicodeScalar(delimiter))))
                return
            }
            var record = Record()
            record.reserveCapacity(row.count)
            for (name, field) in zip(builder.collector.fields ?? [], row) {
                record.append(name, field.withUnsafeBytes { Self.value(FieldSyntax.parse($0), $0) })
            }
            builder.add(value: .object(record), line: row.line)
        }
        builder.nextOffset = parser.bytesFed
        builder.nextLine = parser.currentLine
        if isLast { builder.finish() }
    }

    private static func value(_ parsed: FieldSyntax.Parsed, _ bytes: UnsafeRawBufferPointer) -> Value {
        switch parsed {
        case .empty: .null
        case .integer(let n): .int(n)
        case .real(let d): .double(d)
        case .boolean(let b): .bool(b)
        case .timestamp, .text: .string(String(decoding: bytes, as: UTF8.self))
        }
    }

    mutating func takeReady() -> [LoadUnit] { builder.collector.takeReady() }

    mutating func closeAfterFailure() { builder.finish() }
}
