import GatherCore
import GatherFormats

/// Where a file's load stands, stored in `_gather_state` (scope ``scope``, key: the file's absolute path) in
/// the same transaction as the rows it covers.
///
/// `offset` and `line` are those of the first record not yet committed (decompressed bytes for a compressed
/// file); `records` counts the records committed (rows and error rows), which is how a JSON document resumes.
public struct LoadCheckpoint: Sendable, Hashable {
    public var table: String
    public var offset: Int
    public var line: Int
    public var records: Int
    /// The CSV header (or generated `column_N` names), so a resumed reader starts after it.
    public var fields: [String]?
    public var done: Bool

    /// The state scope of load checkpoints.
    public static let scope = "load:files"

    public init(table: String, offset: Int, line: Int, records: Int, fields: [String]?, done: Bool) {
        self.table = table
        self.offset = offset
        self.line = line
        self.records = records
        self.fields = fields
        self.done = done
    }

    /// The checkpoint as JSON text.
    public var json: String {
        var object = Record()
        object.append("table", .string(table))
        object.append("offset", .int(Int64(offset)))
        object.append("line", .int(Int64(line)))
        object.append("records", .int(Int64(records)))
        object.append("fields", fields.map { .array($0.map(Value.string)) } ?? .null)
        object.append("done", .bool(done))
        return JSONWriter.string(.object(object))
    }

    /// Reads a checkpoint written by ``json``; `nil` if it is not one.
    public init?(json: String) {
        guard let value = try? JSONReader.parse(json), let table = value["table"]?.stringValue,
            let offset = value["offset"]?.intValue.map(Int.init), let line = value["line"]?.intValue.map(Int.init),
            let records = value["records"]?.intValue.map(Int.init), let done = value["done"]?.boolValue
        else { return nil }
        self.init(
            table: table, offset: offset, line: line, records: records,
            fields: value["fields"]?.arrayValue?.compactMap(\.stringValue), done: done)
    }
}
