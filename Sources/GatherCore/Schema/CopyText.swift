/// PostgreSQL's `COPY … FROM STDIN` text format (the format PostgresNIO's `copyFrom` takes): one row per line,
/// columns separated by a tab, `\N` for NULL, and backslash escapes for backslash, tab, newline and carriage
/// return inside values. Groundwork for the PostgreSQL sink: a ``RowBlock`` becomes COPY data without building
/// a `String` per value.
///
/// ```swift
/// var out: [UInt8] = []
/// CopyText.append(block, columns: [0, 2], to: &out)   // fields 0 and 2 of every row, in that order
/// ```
public enum CopyText {
    /// Appends every row of `block` to `out`; `columns` picks the block's fields (by index) in table order, and
    /// `nil` entries write NULL (a table column the block lacks). Cells are written as the exact text they were
    /// read from; booleans as `t`/`f`.
    public static func append(_ block: RowBlock, columns: [Int?], to out: inout [UInt8]) {
        let width = block.fields.count
        block.bytes.withUnsafeBytes { arena in
            block.cells.withUnsafeBufferPointer { cells in
                var row = 0
                while row < block.rowCount {
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
                        case .boolean:
                            out.append(cell.number != 0 ? UInt8(ascii: "t") : UInt8(ascii: "f"))
                        default:
                            let start = Int(cell.offset)
                            appendEscaped(
                                UnsafeRawBufferPointer(rebasing: arena[start..<start + Int(cell.length)]), to: &out)
                        }
                    }
                    out.append(newline)
                    row &+= 1
                }
            }
        }
    }

    /// Appends one row of values (`nil` or ``Value/null`` is NULL; arrays and objects as JSON text).
    public static func append(_ values: [Value?], to out: inout [UInt8]) {
        for (position, value) in values.enumerated() {
            if position > 0 { out.append(tab) }
            switch value {
            case nil, .null?: out.append(contentsOf: null)
            case .bool(let b)?: out.append(b ? UInt8(ascii: "t") : UInt8(ascii: "f"))
            case .int(let n)?: out.append(contentsOf: String(n).utf8)
            case .double(let d)?:
                if d.isFinite { out.append(contentsOf: d.description.utf8) } else { out.append(contentsOf: null) }
            case .string(var s)?: s.withUTF8 { appendEscaped(UnsafeRawBufferPointer($0), to: &out) }
            case let nested?:
                var json = JSONWriter.string(nested)
                json.withUTF8 { appendEscaped(UnsafeRawBufferPointer($0), to: &out) }
            }
        }
        out.append(newline)
    }

    /// Appends `text` with COPY's escapes: `\\`, `\t`, `\n`, `\r`; everything else as is.
    public static func appendEscaped(_ text: UnsafeRawBufferPointer, to out: inout [UInt8]) {
        var start = 0
        for (index, byte) in text.enumerated() {
            let escape: UInt8
            switch byte {
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
