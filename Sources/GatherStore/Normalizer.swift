import GatherCore

/// One row bound for one table, produced by the ``Normalizer``.
public struct NormalizedRow: Sendable, Hashable {
    /// The table: the root table, or a child table named `root__field` (`root__field__sub` for deeper lists).
    public var table: String
    /// The columns of the row (flattened field names).
    public var values: Record
    /// `true` for rows of child tables.
    public var isChild: Bool

    public init(table: String, values: Record, isChild: Bool) {
        self.table = table
        self.values = values
        self.isChild = isChild
    }
}

/// Turns nested records into flat rows, the way relational sinks store them (as dlt does):
///
/// - nested objects become columns joined by `__`: `{"dimensions": {"w": 2}}` → `dimensions__w = 2`;
///   an empty object adds no column; nesting deeper than ``maxDepth`` is stored as JSON;
/// - lists become rows of a child table `table__field`, one per element, linked by `_gather_parent_key`
///   (the parent row's `_gather_key`) and `_gather_pos` (the position in the list, from 0), with
///   `_gather_root_key` naming the top-level row (merge replaces a row's children through it). An object element
///   is flattened into columns; any other element is stored in a `value` column. Lists of lists nest further;
/// - with ``NestedLists/json``, lists are stored as JSON text in their column instead.
///
/// Every row carries `_gather_key`, a key unique in its table: the caller's key for top-level rows,
/// `parent-key.field[pos]` for child rows. Keys are deterministic, so re-writing the same record after a
/// crash produces the same rows.
public struct Normalizer: Sendable {
    /// What becomes of lists.
    public enum NestedLists: String, Sendable, CaseIterable {
        /// Child tables linked by parent key and position (the default).
        case tables
        /// A JSON text column.
        case json
    }

    /// The name of the top-level table.
    public var table: String
    /// What becomes of lists.
    public var lists: NestedLists
    /// Object nesting flattened into columns before the rest is stored as JSON.
    public var maxDepth: Int
    /// Joins the names of nested fields and of child tables.
    public static let separator = "__"
    /// The row key column.
    public static let keyColumn = "_gather_key"
    /// The parent row's key, in child tables.
    public static let parentKeyColumn = "_gather_parent_key"
    /// The top-level row's key, in child tables.
    public static let rootKeyColumn = "_gather_root_key"
    /// The list position, in child tables.
    public static let positionColumn = "_gather_pos"

    public init(table: String, lists: NestedLists = .tables, maxDepth: Int = 8) {
        self.table = table
        self.lists = lists
        self.maxDepth = maxDepth
    }

    /// Appends the rows for `record` to `rows`: its top-level row first, then its child rows.
    public func normalize(_ record: Record, key: String, into rows: inout [NormalizedRow]) {
        var top = Record()
        top.reserveCapacity(record.count + 1)
        top.append(Self.keyColumn, .string(key))
        let first = rows.count
        rows.append(NormalizedRow(table: self.table, values: Record(), isChild: false))
        self.flatten(record, prefix: "", depth: 1, table: self.table, key: key, rootKey: key, into: &top, rows: &rows)
        rows[first].values = top
    }

    private func flatten(
        _ record: Record,
        prefix: String,
        depth: Int,
        table: String,
        key: String,
        rootKey: String,
        into row: inout Record,
        rows: inout [NormalizedRow]
    ) {
        for (field, value) in record {
            let name = prefix.isEmpty ? field : prefix + Self.separator + field
            self.place(
                value, name: name, depth: depth, table: table, key: key, rootKey: rootKey, into: &row, rows: &rows)
        }
    }

    private func place(
        _ value: Value,
        name: String,
        depth: Int,
        table: String,
        key: String,
        rootKey: String,
        into row: inout Record,
        rows: inout [NormalizedRow]
    ) {
        switch value {
        case .object(let nested) where depth < self.maxDepth:
            self.flatten(
                nested, prefix: name, depth: depth + 1, table: table, key: key, rootKey: rootKey, into: &row,
                rows: &rows)
        case .array(let elements) where self.lists == .tables:
            let childTable = table + Self.separator + name
            for (position, element) in elements.enumerated() {
                let childKey = "\(key).\(name)[\(position)]"
                var child = Record()
                child.append(Self.keyColumn, .string(childKey))
                child.append(Self.parentKeyColumn, .string(key))
                child.append(Self.rootKeyColumn, .string(rootKey))
                child.append(Self.positionColumn, .int(Int64(position)))
                let index = rows.count
                rows.append(NormalizedRow(table: childTable, values: Record(), isChild: true))
                if case .object(let object) = element {
                    self.flatten(
                        object, prefix: "", depth: 1, table: childTable, key: childKey, rootKey: rootKey,
                        into: &child, rows: &rows)
                } else {
                    self.place(
                        element, name: "value", depth: 1, table: childTable, key: childKey, rootKey: rootKey,
                        into: &child, rows: &rows)
                }
                rows[index].values = child
            }
        default:
            row.append(name, value)
        }
    }
}
