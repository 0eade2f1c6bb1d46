import GatherCore

/// Guesses a CSV file's delimiter and whether it has a header, from a sample of its start.
///
/// ```swift
/// let guess = CSVSniffer.sniff(sample: Array(firstBytes))
/// var options = CSVOptions(delimiter: guess.delimiter, hasHeader: guess.hasHeader)
/// ```
///
/// - **Delimiter:** each candidate (`,` `\t` `;` `|`) splits the sample's first records (quotes
///   respected); the winner is the one whose most common field count (at least 2) is shared by the
///   largest share of records, then the one with more fields, then the earlier candidate.
///   With no candidate giving 2 or more fields, the delimiter is `,`.
/// - **Header:** like Python's `csv.Sniffer.has_header`, every column whose data values are all
///   numeric, or all of one length, votes: a first-row value that breaks the pattern says
///   "header", one that fits says "no header". With no votes either way, the first row is a
///   header when its values are all non-empty, distinct and non-numeric.
public enum CSVSniffer {
    /// The sniffer's guess.
    public struct Result: Sendable, Hashable {
        /// The delimiter byte.
        public var delimiter: UInt8
        /// Whether the first record looks like a header.
        public var hasHeader: Bool
        /// The most common field count with ``delimiter`` (1 when no candidate split the records).
        public var fieldCount: Int
    }

    /// The delimiters tried, in order of preference.
    public static let candidates: [UInt8] = [
        UInt8(ascii: ","), UInt8(ascii: "\t"), UInt8(ascii: ";"), UInt8(ascii: "|"),
    ]

    /// How many records of the sample are examined.
    public static let maxRecords = 100

    /// Guesses the delimiter and header of a CSV sample.
    ///
    /// - Parameters:
    ///   - sample: The first bytes of the file (a few KB to 64 KB is plenty).
    ///   - isComplete: `true` when the sample is the whole file, so that a last record without
    ///     a line end counts; by default a record cut off at the end of the sample is ignored.
    ///   - quote: The quote byte.
    public static func sniff(sample: [UInt8], isComplete: Bool = false, quote: UInt8 = UInt8(ascii: "\"")) -> Result {
        var best: (delimiter: UInt8, share: Double, fieldCount: Int, rows: [[String]])?
        for delimiter in candidates {
            let rows = records(sample, delimiter: delimiter, quote: quote, isComplete: isComplete)
            guard !rows.isEmpty else { continue }
            var frequency: [Int: Int] = [:]
            for row in rows { frequency[row.count, default: 0] += 1 }
            // The most common count; the larger count wins a tie.
            guard let (fieldCount, hits) = frequency.max(by: { ($0.value, $0.key) < ($1.value, $1.key) }),
                fieldCount >= 2
            else { continue }
            let share = Double(hits) / Double(rows.count)
            if let current = best, (current.share, current.fieldCount) >= (share, fieldCount) { continue }
            best = (delimiter, share, fieldCount, rows)
        }
        guard let best else {
            let rows = records(sample, delimiter: candidates[0], quote: quote, isComplete: isComplete)
            return Result(delimiter: candidates[0], hasHeader: looksLikeHeader(rows.first ?? []), fieldCount: 1)
        }
        return Result(delimiter: best.delimiter, hasHeader: hasHeader(best.rows), fieldCount: best.fieldCount)
    }

    /// The first ``maxRecords`` records of `sample` split with `delimiter`.
    static func records(_ sample: [UInt8], delimiter: UInt8, quote: UInt8, isComplete: Bool) -> [[String]] {
        var options = CSVOptions(delimiter: delimiter, quote: quote, hasHeader: false)
        options.raggedRows = .allow
        options.replaceInvalidUTF8 = true
        options.maxRecordSize = max(sample.count, 1)
        guard var parser = try? CSVParser(options: options) else { return [] }
        var rows: [[String]] = []
        struct Enough: Error {}
        do {
            try parser.feed(sample, isLast: isComplete) { row in
                rows.append(row.strings)
                if rows.count >= maxRecords { throw Enough() }
            }
        } catch {
            // Enough records, or an unterminated quote in a complete sample: use what was read.
        }
        return rows
    }

    /// Python's vote: columns with a consistent type (numeric, or a fixed length) in the data
    /// rows vote on whether the first row breaks that pattern.
    static func hasHeader(_ rows: [[String]]) -> Bool {
        guard let first = rows.first else { return false }
        let data = rows.dropFirst().filter { $0.count == first.count }
        guard !data.isEmpty else { return looksLikeHeader(first) }
        var votes = 0
        for column in first.indices {
            let values = data.map { $0[column] }.filter { !$0.isEmpty }
            guard !values.isEmpty else { continue }
            if values.allSatisfy(isNumeric) {
                votes += isNumeric(first[column]) ? -1 : 1
            } else if let length = values.first?.count, values.allSatisfy({ $0.count == length }) {
                votes += first[column].count == length ? -1 : 1
            }
        }
        if votes != 0 { return votes > 0 }
        return looksLikeHeader(first)
    }

    static func looksLikeHeader(_ row: [String]) -> Bool {
        !row.isEmpty && Set(row).count == row.count && row.allSatisfy { !$0.isEmpty && !isNumeric($0) }
    }

    static func isNumeric(_ text: String) -> Bool {
        guard let first = text.utf8.first, first != UInt8(ascii: " ") else { return false }
        guard let number = Double(text) else { return false }
        return number.isFinite
    }
}
