import GatherCore

/// A column of a ``TableSchema``: the name in the database, the field name it came from, and its logical type.
public struct ColumnSchema: Sendable, Hashable {
    /// The column's name in the database (unique in its table, compared case-insensitively).
    public var name: String
    /// The record field it holds (usually equal to ``name``).
    public var sourceName: String
    /// The logical type; `nil` while only nulls have been seen.
    public var type: ColumnType?

    public init(name: String, sourceName: String, type: ColumnType?) {
        self.name = name
        self.sourceName = sourceName
        self.type = type
    }
}

/// What ``TableSchema/absorb(_:)`` changed: columns to add and columns whose type widened.
public struct SchemaChange: Sendable, Hashable {
    /// New columns, in the order they were met.
    public var added: [ColumnSchema] = []
    /// Columns whose type changed, with their new type.
    public var widened: [ColumnSchema] = []
    /// `true` when nothing changed.
    public var isEmpty: Bool { added.isEmpty && widened.isEmpty }
    public init() {}
}

/// The evolving schema of one table: columns in the order they first appeared, with inferred types.
///
/// Field names map to column names one to one, except where a database would reject or confuse them:
/// an empty name becomes `_`, and a name equal to an existing column's ignoring case (SQLite and PostgreSQL
/// compare quoted identifiers differently; we treat them as case-insensitive everywhere) gets a `_2`, `_3`…
/// suffix. The mapping is kept, so the same field always lands in the same column. Names are otherwise kept
/// exactly, hostile ones included: sinks always quote identifiers.
public struct TableSchema: Sendable, Hashable {
    /// The table name.
    public var name: String
    /// The columns, in creation order.
    public private(set) var columns: [ColumnSchema]
    /// The columns that form the primary key (merge key), in order; empty when there is none.
    public var primaryKey: [String]
    private var bySource: [String: Int]
    private var byLowercasedName: [String: Int]

    /// Creates a schema with existing columns (e.g. read back from a database).
    public init(name: String, columns: [ColumnSchema] = [], primaryKey: [String] = []) {
        self.name = name
        self.columns = []
        self.primaryKey = primaryKey
        self.bySource = [:]
        self.byLowercasedName = [:]
        for column in columns { self.append(column) }
    }

    /// The column that holds field `sourceName`, if there is one.
    public func column(forField sourceName: String) -> ColumnSchema? {
        self.bySource[sourceName].map { self.columns[$0] }
    }

    /// Index of the column holding `sourceName`.
    public func columnIndex(forField sourceName: String) -> Int? {
        self.bySource[sourceName]
    }

    /// Adds columns for new fields of `row` and widens types that `row` contradicts.
    @discardableResult
    public mutating func absorb(_ row: Record) -> SchemaChange {
        var change = SchemaChange()
        for (key, value) in row {
            self.absorb(field: key, type: ColumnType.of(value), into: &change)
        }
        return change
    }

    /// Adds columns for `fields` (in order) and widens each to the type at the same position of `types`
    /// (`nil`: only nulls seen). This is how a ``RowBlock`` is absorbed: one call per block, not per row.
    @discardableResult
    public mutating func absorb(fields: [String], types: [ColumnType?]) -> SchemaChange {
        var change = SchemaChange()
        for (key, type) in zip(fields, types) {
            self.absorb(field: key, type: type, into: &change)
        }
        return change
    }

    private mutating func absorb(field key: String, type valueType: ColumnType?, into change: inout SchemaChange) {
        guard let index = self.bySource[key] else {
            let column = ColumnSchema(name: self.uniqueName(for: key), sourceName: key, type: valueType)
            self.append(column)
            change.added.append(column)
            return
        }
        guard let valueType else { return }
        let current = self.columns[index].type
        let next = current.map { $0.widened(with: valueType) } ?? valueType
        guard next != current else { return }
        self.columns[index].type = next
        if let i = change.added.firstIndex(where: { $0.sourceName == key }) {
            change.added[i].type = next
        } else if let i = change.widened.firstIndex(where: { $0.sourceName == key }) {
            change.widened[i] = self.columns[index]
        } else {
            change.widened.append(self.columns[index])
        }
    }

    private mutating func append(_ column: ColumnSchema) {
        self.bySource[column.sourceName] = self.columns.count
        self.byLowercasedName[column.name.lowercased()] = self.columns.count
        self.columns.append(column)
    }

    private func uniqueName(for key: String) -> String {
        let base = key.isEmpty ? "_" : key
        if self.byLowercasedName[base.lowercased()] == nil { return base }
        var n = 2
        while self.byLowercasedName["\(base)_\(n)".lowercased()] != nil { n += 1 }
        return "\(base)_\(n)"
    }
}
