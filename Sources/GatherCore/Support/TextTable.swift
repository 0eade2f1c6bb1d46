/// Plain-text tables for summaries: the first column left-aligned, the others right-aligned (numbers).
public enum TextTable {
    /// `rows` (the first is the header) as lines indented by two spaces, columns padded to their widest cell.
    public static func render(_ rows: [[String]]) -> [String] {
        let columns = rows.map(\.count).max() ?? 0
        let widths = (0..<columns).map { column in rows.map { $0.count > column ? $0[column].count : 0 }.max() ?? 0 }
        return rows.map { row in
            "  "
                + row.enumerated().map { column, text in
                    let padding = String(repeating: " ", count: widths[column] - text.count)
                    return column == 0 ? text + padding : padding + text
                }.joined(separator: "  ")
        }
    }

    /// A count and its noun, singular for one: `count(1, "page")` → `"1 page"`, `count(3, "error row")` →
    /// `"3 error rows"`, `count(2, "retry", "retries")` → `"2 retries"`.
    public static func count(_ number: Int, _ noun: String, _ plural: String? = nil) -> String {
        "\(number) " + (number == 1 ? noun : plural ?? noun + "s")
    }

    /// `value` with one decimal (`0.44` → `"0.4"`).
    public static func decimal(_ value: Double) -> String {
        let tenths = Int((value * 10).rounded())
        return "\(tenths / 10).\(tenths % 10)"
    }
}
