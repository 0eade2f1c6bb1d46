import GatherCore
import GatherFormats

/// What a database sink knows about its data tables: each table's ``TableSchema`` and each top-level table's
/// child tables. Read back from `_gather_tables` and `_gather_columns` when a sink opens, and changed only by
/// ``evolve(table:root:primaryKey:absorb:)`` inside the transaction that changes the database, so a failed
/// transaction can drop its copy and keep the old catalog.
public struct SinkCatalog: Sendable {
    public var schemas: [String: TableSchema] = [:]
    /// Top-level table → its child tables.
    public var children: [String: [String]] = [:]

    public init() {}

    /// The catalog described by rows of `_gather_tables` (table, root, key as a JSON array) and of
    /// `_gather_columns` (table, column, source field, logical type) in position order.
    public init(
        tables: [(table: String, root: String, key: String?)],
        columns: [(table: String, column: String, source: String, type: String?)]
    ) {
        var byTable: [String: [ColumnSchema]] = [:]
        for row in columns {
            byTable[row.table, default: []].append(
                ColumnSchema(name: row.column, sourceName: row.source, type: row.type.flatMap(ColumnType.init)))
        }
        for row in tables {
            let key = (try? JSONReader.parse(row.key ?? "[]"))?.arrayValue?.compactMap(\.stringValue) ?? []
            if row.table != row.root { self.children[row.root, default: []].append(row.table) }
            self.schemas[row.table] = TableSchema(name: row.table, columns: byTable[row.table] ?? [], primaryKey: key)
        }
    }

    /// `table` and its child tables that exist, for emptying it (`replace`).
    public func family(of table: String) -> [String] {
        ([table] + (self.children[table] ?? [])).filter { self.schemas[$0] != nil }
    }

    /// Absorbs a batch's fields into `table`'s schema and says what the database must do: create the table, add
    /// columns, or widen columns. The catalog is updated; the caller applies the change in the same transaction.
    ///
    /// - Throws: ``SchemaEvolutionError`` when a new table's merge key is not among the batch's fields.
    public mutating func evolve(
        table: String, root: String, primaryKey: [String], absorb: (inout TableSchema) -> [SchemaChange]
    ) throws(SchemaEvolutionError) -> SchemaEvolution {
        let existing = self.schemas[table]
        var schema = existing ?? TableSchema(name: table, primaryKey: primaryKey)
        var added: [ColumnSchema] = []
        var widened: [ColumnSchema] = []
        for change in absorb(&schema) {
            added.append(contentsOf: change.added)
            for column in change.widened where !added.contains(where: { $0.sourceName == column.sourceName }) {
                widened.removeAll { $0.sourceName == column.sourceName }
                widened.append(column)
            }
        }
        // Types of columns added in this batch are final after the whole batch.
        added = added.map { schema.column(forField: $0.sourceName) ?? $0 }
        let widenings = widened.compactMap { column -> SchemaEvolution.Widening? in
            guard let now = schema.column(forField: column.sourceName) else { return nil }
            return .init(column: now, from: existing?.column(forField: column.sourceName)?.type)
        }
        if existing == nil {
            let missing = primaryKey.filter { schema.column(forField: $0) == nil }
            guard missing.isEmpty else {
                throw SchemaEvolutionError(
                    message: "the primary key \(missing.map { "'\($0)'" }.joined(separator: ", ")) is not a field of "
                        + "the records for table \(table); check primary_key (or --key)")
            }
            if table != root { self.children[root, default: []].append(table) }
        }
        self.schemas[table] = schema
        return SchemaEvolution(
            schema: schema, created: existing == nil, isChild: table != root, added: added, widened: widenings)
    }
}

/// A change to one table's schema, as ``SinkCatalog/evolve(table:root:primaryKey:absorb:)`` found it.
public struct SchemaEvolution: Sendable {
    /// A column whose logical type widened, and the type it had.
    public struct Widening: Sendable {
        public var column: ColumnSchema
        public var from: ColumnType?
    }

    /// The schema after the batch.
    public var schema: TableSchema
    /// The table is new: create it (with every column of ``schema``).
    public var created: Bool
    /// The table is a child table (it gets an index on `_gather_root_key`).
    public var isChild: Bool
    /// Columns to add to an existing table.
    public var added: [ColumnSchema]
    /// Columns of an existing table whose type widened.
    public var widened: [Widening]

    /// The columns to record in `_gather_columns`: all of a new table's, or the added and widened ones.
    public var columnsToRecord: [ColumnSchema] {
        self.created ? self.schema.columns : self.added + self.widened.map(\.column)
    }
}

/// A new table's merge key is missing from its records.
public struct SchemaEvolutionError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public var description: String { self.message }
}

extension TableWrite {
    /// The rows grouped by table, tables in the order first met. For ``WriteMode/merge``, a key that occurs more
    /// than once keeps its last occurrence, with that occurrence's own child rows.
    public func rowsByTable() -> [(table: String, rows: [Record])] {
        // Segments: a top-level row followed by its child rows.
        var segments: [Range<Int>] = []
        var start = 0
        for index in self.rows.indices.dropFirst() where !self.rows[index].isChild {
            segments.append(start..<index)
            start = index
        }
        segments.append(start..<self.rows.count)
        if self.mode == .merge {
            var seen = Set<String>()
            segments = segments.reversed().filter {
                seen.insert(self.rows[$0.lowerBound].values[Normalizer.keyColumn]?.stringValue ?? "").inserted
            }.reversed()
        }
        var order: [String] = []
        var grouped: [String: [Record]] = [:]
        for segment in segments {
            for row in self.rows[segment] {
                if grouped[row.table] == nil { order.append(row.table) }
                grouped[row.table, default: []].append(row.values)
            }
        }
        return order.map { ($0, grouped[$0] ?? []) }
    }
}
