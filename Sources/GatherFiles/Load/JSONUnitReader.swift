import GatherCore
import GatherFormats

/// A JSON document → records: the top-level array's elements, or those of the array at
/// ``LoadOptions/jsonPath``, streamed by ``JSONRecordStream`` (one record in memory at a time).
///
/// Resuming re-scans the document from its start and skips the records already committed (the checkpoint
/// counts records): a JSON array has no byte offset a parser can restart at.
struct JSONUnitReader: UnitReader {
    private var stream: JSONRecordStream
    private var builder: RecordUnitBuilder
    private let skip: Int

    init(file: LoadFile, options: LoadOptions, context: LoadContext, resume: LoadCheckpoint?) throws {
        do {
            self.stream = try JSONRecordStream(path: options.jsonPath)
        } catch {
            throw FileError("--json-path \(options.jsonPath ?? "$"): \(error)")
        }
        var builder = RecordUnitBuilder(file: file, options: options, context: context, resume: resume)
        builder.nextOffset = 0
        self.builder = builder
        self.skip = resume?.records ?? 0
    }

    var line: Int { builder.nextLine }

    mutating func consume(_ chunk: UnsafeRawBufferPointer, isLast: Bool) throws {
        let skip = self.skip
        try stream.feed(chunk, isLast: isLast) { record in
            guard record.index >= skip else { return }
            builder.startRecord(offset: 0, line: record.line)
            builder.nextLine = record.line
            do throws(JSONError) {
                builder.add(value: try record.parse(configuration: builder.jsonConfiguration), line: record.line)
            } catch {
                builder.fail(error, line: error.line, column: error.column, payload: record.bytes)
            }
        }
        if isLast { builder.finish() }
    }

    mutating func takeReady() -> [LoadUnit] { builder.collector.takeReady() }

    mutating func closeAfterFailure() { builder.finish() }
}
