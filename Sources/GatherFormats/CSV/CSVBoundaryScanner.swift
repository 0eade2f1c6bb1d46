import GatherCore

/// Finds record boundaries in a large CSV buffer so that several ``CSVParser``s can parse
/// parts of it in parallel.
///
/// **Approach: quote parity, confirmed by the parsers.** In RFC 4180 CSV every quote byte belongs
/// to a quoted field (opening, closing, or one of a doubled pair), so a line feed ends a record
/// exactly when the number of quote bytes before it, counted from a record start, is even. The
/// scanner counts quotes and line feeds 8 bytes at a time (several GB/s on one core) and splits
/// after the first line feed with even parity at or after each target offset; it also returns
/// the line number there, so each part's parser reports the right lines.
///
/// Parity is only a prediction when a quote appears *inside* an unquoted field (`5'10"`), which
/// the parser reads literally. The parsers confirm it: part `k` is parsed by a parser that starts
/// at a confirmed record start (part 0 starts at 0); after feeding its part with `isLast: false`,
/// ``CSVParser/isAtRecordBoundary`` is `true` exactly when the next split is a real record start.
/// If it is `false`, drop the results of the parts after `k` and keep feeding parser `k` the rest
/// of the input sequentially.
///
/// ```swift
/// let splits = CSVBoundaryScanner.splitPoints(in: file, parts: 4)  // starts of parts 1...
/// // part 0: CSVParser(options: options) over file[0..<splits[0].offset]
/// // part k: CSVParser(options: noHeader, startOffset: splits[k-1].offset, startLine: splits[k-1].line)
/// //         with expectedFieldCount set from the header
/// ```
public enum CSVBoundaryScanner {
    /// A record start: its byte offset and its 1-based line.
    public struct SplitPoint: Sendable, Hashable {
        /// The offset of the record's first byte (just after a line feed).
        public var offset: Int
        /// The 1-based line of that byte (one more than the line feeds before it).
        public var line: Int

        /// Creates a split point.
        public init(offset: Int, line: Int) {
            self.offset = offset
            self.line = line
        }
    }

    /// The first record start at or after `position`: `position` itself when it is 0 or follows
    /// a line feed outside quotes, else the byte after the next such line feed. Quote parity is
    /// counted from the start of `buffer`, which must be a record start (e.g. the file's start).
    /// Returns `nil` when no record starts in `position...buffer.count - 1`.
    public static func nextRecordStart(
        in buffer: UnsafeRawBufferPointer,
        from position: Int,
        quote: UInt8 = UInt8(ascii: "\"")
    ) -> SplitPoint? {
        guard let raw = buffer.baseAddress, position < buffer.count else { return nil }
        let base = raw.assumingMemoryBound(to: UInt8.self)
        let target = max(position, 0)
        if target == 0 { return SplitPoint(offset: 0, line: 1) }
        // State just before `target - 1`, so a line feed there can make `target` itself a start.
        let from = target &- 1
        let quotes = CSVBytes.count(of: quote, base, from: 0, to: from)
        let newlines = CSVBytes.count(of: CSVBytes.newline, base, from: 0, to: from)
        return scanForward(
            base, count: buffer.count, from: from, quoteParity: quotes & 1, newlines: newlines, quote: quote)
    }

    /// Splits `buffer` (starting at a record start) into about `parts` pieces of similar size at
    /// record starts, in one pass. Returns the starts of pieces 2 and later, in increasing order
    /// (fewer than `parts - 1` when records are too long to split that finely).
    public static func splitPoints(
        in buffer: UnsafeRawBufferPointer,
        parts: Int,
        quote: UInt8 = UInt8(ascii: "\"")
    ) -> [SplitPoint] {
        guard let raw = buffer.baseAddress, parts > 1, buffer.count > 0 else { return [] }
        let base = raw.assumingMemoryBound(to: UInt8.self)
        let count = buffer.count
        var result: [SplitPoint] = []
        var position = 0
        var parity = 0
        var newlines = 0
        for part in 1..<parts {
            let target = count / parts * part
            guard target > position else { continue }
            parity ^= CSVBytes.count(of: quote, base, from: position, to: target) & 1
            newlines &+= CSVBytes.count(of: CSVBytes.newline, base, from: position, to: target)
            guard
                let split = scanForward(
                    base,
                    count: count,
                    from: target,
                    quoteParity: parity,
                    newlines: newlines,
                    quote: quote
                )
            else { break }
            parity = 0  // a split is a line feed with even parity
            newlines = split.line &- 1
            position = split.offset
            result.append(split)
        }
        return result
    }

    /// Walks from `from` (with the parity and line feeds counted before it) to the first line
    /// feed with even parity; returns the position after it, or `nil` at the end of the buffer.
    private static func scanForward(
        _ base: UnsafePointer<UInt8>,
        count: Int,
        from: Int,
        quoteParity: Int,
        newlines: Int,
        quote: UInt8
    ) -> SplitPoint? {
        let quoteMask = CSVBytes.broadcast(quote)
        let newlineMask = CSVBytes.broadcast(CSVBytes.newline)
        var parity = quoteParity
        var lines = newlines
        var i = from
        while i < count {
            let j = CSVBytes.firstOf(base, from: i, to: count, quote, quoteMask, CSVBytes.newline, newlineMask)
            guard j < count else { return nil }
            if base[j] == quote {
                parity ^= 1
            } else {
                lines &+= 1
                if parity == 0 {
                    return j &+ 1 < count ? SplitPoint(offset: j &+ 1, line: lines &+ 1) : nil
                }
            }
            i = j &+ 1
        }
        return nil
    }
}
