import GatherCore
import GatherStore

/// Rows read from one file since its last commit, the error rows among them, and the checkpoint that says
/// "everything before here is committed": one transaction.
struct LoadUnit: Sendable {
    var file: LoadFile
    var block: RowBlock?
    var rows: [NormalizedRow] = []
    var errors: [ErrorRow] = []
    var checkpoint: LoadCheckpoint
    /// Records read in this unit (rows and error rows).
    var records = 0
    /// Top-level rows written.
    var written = 0
    /// Records a transform filtered out.
    var filtered = 0
}

/// What every format's reader shares: where the next record starts, the error rows of the current unit, and
/// the units ready to commit.
struct UnitCollector {
    let file: LoadFile
    let runID: String
    /// The name error rows and counts carry.
    let resource: String
    let sourceColumns: Bool
    var records: Int
    var unitRecords = 0
    var unitFiltered = 0
    var errors: [ErrorRow] = []
    var ready: [LoadUnit] = []
    var fields: [String]?

    init(file: LoadFile, context: LoadContext, sourceColumns: Bool, resume: LoadCheckpoint?) {
        self.file = file
        self.runID = context.runID
        self.resource = context.resource ?? file.table
        self.sourceColumns = sourceColumns
        self.records = resume?.records ?? 0
        self.fields = resume?.fields
    }

    /// Adds an error row for the record at `line` (and `column`, when known).
    mutating func fail(line: Int, column: Int? = nil, code: String, message: String, payload: String?) {
        let place = "\(file.path):\(line)" + (column.map { ":\($0)" } ?? "")
        errors.append(
            ErrorRow(
                runID: runID, resource: resource, request: place, code: code, message: message,
                payload: payload.map { String($0.prefix(1024)) }, at: Timestamp.now()))
    }

    /// Closes the current unit: `block`/`rows` and the errors so far, up to the record at `offset`/`line`.
    mutating func close(block: RowBlock?, rows: [NormalizedRow], written: Int, offset: Int, line: Int, done: Bool) {
        let checkpoint = LoadCheckpoint(
            table: file.table, offset: offset, line: line, records: records, fields: fields, done: done)
        ready.append(
            LoadUnit(
                file: file, block: block, rows: rows, errors: errors, checkpoint: checkpoint, records: unitRecords,
                written: written, filtered: unitFiltered))
        errors.removeAll()
        unitRecords = 0
        unitFiltered = 0
    }

    /// Hands over the units ready to commit.
    mutating func takeReady() -> [LoadUnit] {
        defer { ready.removeAll() }
        return ready
    }
}

/// A format's reader: fed decompressed chunks in order, it produces units.
protocol UnitReader {
    /// Parses `chunk` (the last one when `isLast`); throws only for an error that ends the file.
    mutating func consume(_ chunk: UnsafeRawBufferPointer, isLast: Bool) throws
    /// Units ready to commit, in order.
    mutating func takeReady() -> [LoadUnit]
    /// The position of the next unread record, for an error that ends the file.
    var line: Int { get }
    /// After an error that ends the file: closes the unit being filled, so the records read before the error
    /// are committed too.
    mutating func closeAfterFailure()
}
