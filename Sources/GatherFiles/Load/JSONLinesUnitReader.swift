import GatherCore
import GatherFormats
import GatherStore

/// JSON Lines → records → ``Normalizer`` rows (nested objects flattened, lists to child tables); a line that
/// is not a JSON object becomes an error row with its line and column.
struct JSONLinesUnitReader: UnitReader {
    private var splitter: LineSplitter
    private var builder: RecordUnitBuilder

    init(file: LoadFile, options: LoadOptions, context: LoadContext, resume: LoadCheckpoint?) {
        self.splitter = LineSplitter(startOffset: resume?.offset ?? 0, startLine: resume?.line ?? 1)
        self.builder = RecordUnitBuilder(file: file, options: options, context: context, resume: resume)
    }

    var line: Int { builder.nextLine }

    mutating func consume(_ chunk: UnsafeRawBufferPointer, isLast: Bool) {
        let maxLineBytes = splitter.maxLineBytes
        splitter.feed(chunk, isLast: isLast) { line in
            builder.startRecord(offset: line.offset, line: line.number)
            builder.nextOffset = line.end
            builder.nextLine = line.number + 1
            if let length = line.tooLong {
                builder.collector.fail(
                    line: line.number, code: "line_too_long",
                    message: "the line is \(length) bytes, over the \(maxLineBytes)-byte limit; it was skipped",
                    payload: nil)
                return
            }
            guard line.bytes.contains(where: { $0 != 0x20 && $0 != 0x09 }) else {
                builder.collector.records -= 1  // a blank line is not a record
                builder.collector.unitRecords -= 1
                return
            }
            builder.add(json: line.bytes, line: line.number, column: 1)
        }
        if isLast { builder.finish() }
    }

    mutating func takeReady() -> [LoadUnit] { builder.collector.takeReady() }

    mutating func closeAfterFailure() { builder.finish() }
}

/// Records of a JSON format: parse, check it is an object, add source columns, normalize, and close a unit
/// every `blockRows` records.
struct RecordUnitBuilder {
    var collector: UnitCollector
    let normalizer: Normalizer
    let key: [String]
    let blockRows: Int
    let replaceInvalidUTF8: Bool
    var rows: [NormalizedRow] = []
    var written = 0
    /// Where the record after the current one starts (the checkpoint when a unit closes before it).
    var nextOffset: Int
    var nextLine: Int
    let transform: (@Sendable (Record) -> RecordTransformResult)?

    init(file: LoadFile, options: LoadOptions, context: LoadContext, resume: LoadCheckpoint?) {
        self.collector = UnitCollector(
            file: file, context: context, sourceColumns: options.sourceColumns, resume: resume)
        self.transform = context.transform
        self.normalizer = Normalizer(table: file.table, lists: options.lists)
        self.key = options.mode == .merge ? options.key : []
        self.blockRows = max(1, options.blockRows / 4)
        self.replaceInvalidUTF8 = options.replaceInvalidUTF8
        self.nextOffset = resume?.offset ?? 0
        self.nextLine = resume?.line ?? 1
    }

    /// Called before each record: closes the unit when it is full (its checkpoint is this record's start).
    mutating func startRecord(offset: Int, line: Int) {
        if written + collector.errors.count + collector.unitFiltered >= blockRows {
            collector.close(block: nil, rows: rows, written: written, offset: offset, line: line, done: false)
            rows.removeAll(keepingCapacity: true)
            written = 0
        }
        collector.records += 1
        collector.unitRecords += 1
    }

    /// How records are parsed: a lone surrogate escape is invalid text, as an invalid UTF-8 byte is, unless
    /// invalid text is to be replaced with U+FFFD.
    var jsonConfiguration: JSONReader.Configuration {
        var configuration = JSONReader.Configuration()
        configuration.rejectLoneSurrogates = !replaceInvalidUTF8
        return configuration
    }

    mutating func add(json bytes: UnsafeRawBufferPointer, line: Int, column: Int) {
        let parsed: Value
        do {
            parsed = try JSONReader.parse(bytes, configuration: jsonConfiguration)
        } catch let error where error.code == .invalidUTF8 && replaceInvalidUTF8 {
            let repaired = String(decoding: bytes, as: UTF8.self)
            guard let value = try? JSONReader.parse(repaired) else {
                collector.fail(line: line, code: "invalid_json", message: error.message, payload: repaired)
                return
            }
            parsed = value
        } catch {
            let place = error.line == 1 ? column + error.column - 1 : error.column
            fail(error, line: line + error.line - 1, column: place, payload: bytes)
            return
        }
        add(value: parsed, line: line)
    }

    /// Makes a record that does not parse an error row: invalid text says how to load it anyway.
    mutating func fail(_ error: JSONError, line: Int, column: Int, payload: UnsafeRawBufferPointer) {
        let invalidText = error.code == .invalidUTF8
        collector.fail(
            line: line, column: column, code: invalidText ? "invalid_utf8" : "invalid_json",
            message: error.message
                + (invalidText
                    ? "; fix the encoding, or load with --replace-invalid-utf8" : "; fix the record or remove it"),
            payload: String(decoding: payload.prefix(1024), as: UTF8.self))
    }

    mutating func add(value: Value, line: Int) {
        guard case .object(var record) = value else {
            collector.fail(
                line: line, code: "not_an_object",
                message: "the record is \(Self.kind(of: value)), not a JSON object; each record must be an object",
                payload: JSONWriter.string(value))
            return
        }
        if collector.sourceColumns {
            record.append(LoadOptions.sourceFileColumn, .string(collector.file.path))
            record.append(LoadOptions.sourceLineColumn, .int(Int64(line)))
        }
        guard let transform else {
            write(record, line: line, index: nil)
            return
        }
        switch transform(record) {
        case .filtered:
            collector.unitFiltered += 1
        case .failed(let code, let message):
            collector.fail(line: line, code: code, message: message, payload: JSONWriter.string(.object(record)))
        case .records(let outputs):
            for (index, output) in outputs.enumerated() {
                write(output, line: line, index: outputs.count > 1 ? index : nil)
            }
        }
    }

    private mutating func write(_ record: Record, line: Int, index: Int?) {
        let recordKey: String
        if key.isEmpty {
            recordKey = "\(collector.file.identity):\(line)" + (index.map { ":\($0)" } ?? "")
        } else {
            var parts: [Value] = []
            for field in key {
                guard let part = record[field], !part.isNull else { break }
                parts.append(part)
            }
            guard parts.count == key.count else {
                collector.fail(
                    line: line, code: "missing_key",
                    message: "the record has no value for the merge key \(key.joined(separator: ", ")); check --key",
                    payload: JSONWriter.string(.object(record)))
                return
            }
            recordKey = JSONWriter.string(.array(parts))
        }
        normalizer.normalize(record, key: recordKey, into: &rows)
        written += 1
    }

    private static func kind(of value: Value) -> String {
        switch value {
        case .null: "null"
        case .bool: "a boolean"
        case .int, .double: "a number"
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        }
    }

    mutating func finish() {
        collector.close(block: nil, rows: rows, written: written, offset: nextOffset, line: nextLine, done: true)
        rows.removeAll()
        written = 0
    }
}
