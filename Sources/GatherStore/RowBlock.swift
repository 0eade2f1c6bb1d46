import GatherCore

/// A block of flat rows for bulk loads: the same fields in every row, values typed once by the reader, the
/// text of every value kept in one byte arena. No per-row dictionaries, no `String`s.
///
/// A reader (the CSV reader of `gather load`) fills a block on one core while a sink writes the previous one
/// on another; sinks bind cells straight from the arena. Every non-null cell keeps the exact bytes it was
/// read from, so a sink can store the original text when a column has widened to ``ColumnType/text``.
///
/// ```swift
/// var block = RowBlock(fields: ["id", "name"])
/// block.append(.integer(1), text: Array("1".utf8))   // or FieldSyntax.parse(bytes)
/// block.append(.text, text: Array("Ada".utf8))
/// block.endRow()
/// ```
public struct RowBlock: Sendable {
    /// The kind of one cell, as the reader parsed it.
    public enum Kind: UInt8, Sendable {
        case null
        case integer
        case real
        case boolean
        case timestamp
        case text
    }

    /// One value: its kind, its parsed number (integer, `Double` bit pattern, or 0/1), and where its text is.
    public struct Cell: Sendable {
        public var number: Int64
        public var offset: UInt32
        public var length: UInt32
        public var kind: Kind

        public init(number: Int64, offset: UInt32, length: UInt32, kind: Kind) {
            self.number = number
            self.offset = offset
            self.length = length
            self.kind = kind
        }

        /// The integer value (``Kind/integer``, ``Kind/boolean``).
        @inlinable public var integer: Int64 { number }
        /// The real value (``Kind/real``).
        @inlinable public var real: Double { Double(bitPattern: UInt64(bitPattern: number)) }
    }

    /// The field (source column) names, in cell order.
    public let fields: [String]
    /// Cells, row after row (`rowCount × fields.count`).
    public private(set) var cells: [Cell] = []
    /// The text of every non-null cell.
    public private(set) var bytes: [UInt8] = []
    /// Each field's type over this block's values, widened (`nil`: only nulls so far).
    public private(set) var types: [ColumnType?]
    /// Complete rows.
    public private(set) var rowCount = 0

    /// An empty block for `fields`; `capacity` rows and `byteCapacity` bytes are reserved up front.
    public init(fields: [String], capacity: Int = 0, byteCapacity: Int = 0) {
        self.fields = fields
        self.types = Array(repeating: nil, count: fields.count)
        self.cells.reserveCapacity(capacity * fields.count)
        self.bytes.reserveCapacity(byteCapacity)
    }

    /// Appends the next cell of the current row: its parsed value (``FieldSyntax/parse(_:)-(UnsafeRawBufferPointer)``;
    /// `.empty` is null) and the exact text it was read from.
    public mutating func append(_ value: FieldSyntax.Parsed, text: UnsafeRawBufferPointer) {
        let column = self.cells.count - self.rowCount * self.fields.count
        let offset = UInt32(truncatingIfNeeded: self.bytes.count)
        self.bytes.append(contentsOf: text)
        var cell = Cell(number: 0, offset: offset, length: UInt32(truncatingIfNeeded: text.count), kind: .text)
        let type: ColumnType?
        switch value {
        case .empty:
            cell.kind = .null
            type = nil
        case .integer(let n):
            cell.kind = .integer
            cell.number = n
            type = .integer
        case .real(let d):
            cell.kind = .real
            cell.number = Int64(bitPattern: d.bitPattern)
            type = .real
        case .boolean(let b):
            cell.kind = .boolean
            cell.number = b ? 1 : 0
            type = .boolean
        case .timestamp:
            cell.kind = .timestamp
            type = .timestamp
        case .text:
            type = .text
        }
        self.cells.append(cell)
        if let type, column < self.types.count, self.types[column] != type {
            self.types[column] = self.types[column].map { $0.widened(with: type) } ?? type
        }
    }

    /// Appends a cell from an array of bytes (see ``append(_:text:)``).
    public mutating func append(_ value: FieldSyntax.Parsed, text: [UInt8]) {
        text.withUnsafeBytes { self.append(value, text: $0) }
    }

    /// Ends the current row; missing trailing cells become null.
    public mutating func endRow() {
        let end = (self.rowCount + 1) * self.fields.count
        while self.cells.count < end {
            self.cells.append(Cell(number: 0, offset: 0, length: 0, kind: .null))
        }
        self.rowCount += 1
    }

    /// The bytes of the arena used so far (for flushing by size).
    @inlinable public var byteCount: Int { self.bytes.count }

    /// Calls `body` with the text of `cell` (valid only inside `body`).
    @inlinable
    public func withText<R>(of cell: Cell, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try self.bytes.withUnsafeBytes { all in
            try body(UnsafeRawBufferPointer(rebasing: all[Int(cell.offset)..<Int(cell.offset + cell.length)]))
        }
    }
}
