import GatherCore
import GatherStore

/// PostgreSQL's `COPY … FROM STDIN` text format (the format PostgresNIO's `copyFrom` takes): one row per line,
/// columns separated by a tab, `\N` for NULL, and backslash escapes for backslash, tab, newline and carriage
/// return inside values. The PostgreSQL sink writes a ``RowBlock`` as COPY data without building a `String` per
/// value.
///
/// Each value is written for its column's logical type: a boolean is `t`/`f` in a boolean column, `1`/`0` in an
/// integer or real column (widened from boolean) and `true`/`false` (or the exact text read) in a text column;
/// numbers and text are their exact text; in a timestamp column an ISO fraction written with a comma
/// (`12:30:00,5`) gets PostgreSQL's period. NUL bytes, which PostgreSQL's text cannot hold, become U+FFFD.
///
/// ```swift
/// var out: [UInt8] = []
/// CopyText.append(block, columns: [0, 2], types: [.integer, .text], to: &out)   // fields 0 and 2, in that order
/// ```
public enum CopyText {
    /// Appends every row of `block` to `out`; `columns` picks the block's fields (by index) in table order, and
    /// `nil` entries write NULL (a table column the block lacks); `types` are the table columns' logical types,
    /// in the same order. Cells are written as the exact text they were read from, except as described on
    /// ``CopyText``.
    public static func append(_ block: RowBlock, columns: [Int?], types: [ColumnType?], to out: inout [UInt8]) {
        Self.append(block, rows: 0..<block.rowCount, columns: columns, types: types, to: &out)
    }

    /// Appends the rows `rows` of `block` (so a large block can be sent in pieces while the rest is encoded).
    public static func append(
        _ block: RowBlock, rows: Range<Int>, columns: [Int?], types: [ColumnType?], to out: inout [UInt8]
    ) {
        let width = block.fields.count
        block.bytes.withUnsafeBytes { arena in
            block.cells.withUnsafeBufferPointer { cells in
                var row = rows.lowerBound
                while row < rows.upperBound {
                    for (position, column) in columns.enumerated() {
                        if position > 0 { out.append(tab) }
                        guard let column else {
                            out.append(contentsOf: null)
                            continue
                        }
                        let cell = cells[row &* width &+ column]
                        switch cell.kind {
                        case .null:
                            out.append(contentsOf: null)
                        case .boolean where types[position] == .boolean:
                            out.append(cell.number != 0 ? UInt8(ascii: "t") : UInt8(ascii: "f"))
                        case .boolean where types[position] == .integer || types[position] == .real:
                            out.append(cell.number != 0 ? UInt8(ascii: "1") : UInt8(ascii: "0"))
                        default:
                            let start = Int(cell.offset)
                            let text = UnsafeRawBufferPointer(rebasing: arena[start..<start + Int(cell.length)])
                            if types[position] == .timestamp {
                                appendTimestamp(text, to: &out)
                            } else {
                                appendEscaped(text, to: &out)
                            }
                        }
                    }
                    out.append(newline)
                    row &+= 1
                }
            }
        }
    }

    /// Appends one row of values for columns of logical `types` (`nil` or ``Value/null`` is NULL; arrays and
    /// objects as JSON text; non-finite reals as NULL).
    public static func append(_ values: [Value?], types: [ColumnType?], to out: inout [UInt8]) {
        for (position, value) in values.enumerated() {
            if position > 0 { out.append(tab) }
            let type = position < types.count ? types[position] : nil
            switch value {
            case nil, .null?: out.append(contentsOf: null)
            case .bool(let b)?:
                switch type {
                case .boolean?: out.append(b ? UInt8(ascii: "t") : UInt8(ascii: "f"))
                case .integer?, .real?: out.append(b ? UInt8(ascii: "1") : UInt8(ascii: "0"))
                default: out.append(contentsOf: (b ? "true" : "false").utf8)
                }
            case .int(let n)?: out.append(contentsOf: String(n).utf8)
            case .double(let d)?:
                if d.isFinite { out.append(contentsOf: d.description.utf8) } else { out.append(contentsOf: null) }
            case .string(var s)?:
                s.withUTF8 {
                    if type == .timestamp {
                        appendTimestamp(UnsafeRawBufferPointer($0), to: &out)
                    } else {
                        appendEscaped(UnsafeRawBufferPointer($0), to: &out)
                    }
                }
            case let nested?:
                var json = JSONWriter.string(nested)
                json.withUTF8 { appendEscaped(UnsafeRawBufferPointer($0), to: &out) }
            }
        }
        out.append(newline)
    }

    /// Appends a timestamp ``TimestampSyntax`` accepted: an ISO form's comma before the fraction becomes a period.
    static func appendTimestamp(_ text: UnsafeRawBufferPointer, to out: inout [UInt8]) {
        let isISO = text.count > 19 && (text[4] == UInt8(ascii: "-") || text[4] == UInt8(ascii: "/"))
        guard isISO, text[19] == UInt8(ascii: ",") else { return appendEscaped(text, to: &out) }
        appendEscaped(UnsafeRawBufferPointer(rebasing: text[0..<19]), to: &out)
        out.append(UInt8(ascii: "."))
        appendEscaped(UnsafeRawBufferPointer(rebasing: text[20...]), to: &out)
    }

    /// Appends `text` with COPY's escapes: `\\`, `\t`, `\n`, `\r`; NUL as U+FFFD; everything else as is.
    public static func appendEscaped(_ text: UnsafeRawBufferPointer, to out: inout [UInt8]) {
        var start = 0
        for (index, byte) in text.enumerated() {
            let escape: UInt8
            switch byte {
            case 0:
                out.append(contentsOf: UnsafeRawBufferPointer(rebasing: text[start..<index]))
                out.append(contentsOf: [0xEF, 0xBF, 0xBD])
                start = index + 1
                continue
            case UInt8(ascii: "\\"): escape = UInt8(ascii: "\\")
            case 0x09: escape = UInt8(ascii: "t")
            case 0x0A: escape = UInt8(ascii: "n")
            case 0x0D: escape = UInt8(ascii: "r")
            default: continue
            }
            out.append(contentsOf: UnsafeRawBufferPointer(rebasing: text[start..<index]))
            out.append(UInt8(ascii: "\\"))
            out.append(escape)
            start = index + 1
        }
        out.append(contentsOf: UnsafeRawBufferPointer(rebasing: text[start..<text.count]))
    }

    private static let tab = UInt8(ascii: "\t")
    private static let newline = UInt8(ascii: "\n")
    private static let null: [UInt8] = [UInt8(ascii: "\\"), UInt8(ascii: "N")]
}
