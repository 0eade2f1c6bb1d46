#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Splits a chunked byte stream into lines (JSON Lines), keeping only the unfinished last line between chunks.
///
/// Lines end at `\n`; a `\r` before it is dropped; a last line without `\n` counts; a UTF-8 byte order mark at
/// offset 0 is skipped. A line longer than `maxLineBytes` is reported as too long and its bytes are skipped, so
/// one bad line cannot exhaust memory.
public struct LineSplitter {
    /// One line, valid only during the `emit` call.
    public struct Line {
        /// The line's bytes, without the line end.
        public var bytes: UnsafeRawBufferPointer
        /// The 1-based line number.
        public var number: Int
        /// The stream offset of its first byte.
        public var offset: Int
        /// The stream offset just after its line end (where the next line starts).
        public var end: Int
        /// The length of a line that was longer than the cap (its bytes are then empty); `nil` otherwise.
        public var tooLong: Int?
    }

    private var carry: [UInt8] = []
    private var skipping: Int?
    private var line: Int
    private var position: Int
    private var checkedBOM: Bool
    public let maxLineBytes: Int

    /// A splitter whose stream starts at `startOffset`, line `startLine` (for resuming).
    public init(startOffset: Int = 0, startLine: Int = 1, maxLineBytes: Int = 16 << 20) {
        self.position = startOffset
        self.line = startLine
        self.checkedBOM = startOffset > 0
        self.maxLineBytes = maxLineBytes
    }

    /// Splits `chunk`, calling `emit` for each complete line (and, when `isLast`, the final unterminated one).
    public mutating func feed(_ chunk: UnsafeRawBufferPointer, isLast: Bool, emit: (Line) throws -> Void) rethrows {
        var start = 0
        let count = chunk.count
        if !self.checkedBOM, self.carry.count + count >= 3 || isLast {
            self.checkedBOM = true
            let head = Array(self.carry + chunk.prefix(3 - min(3, self.carry.count)))
            if head.starts(with: [0xEF, 0xBB, 0xBF]) {
                let fromChunk = 3 - self.carry.count
                self.carry.removeAll()
                start = fromChunk
                self.position += 3
            }
        } else if !self.checkedBOM {
            self.carry.append(contentsOf: chunk)
            return
        }
        while start < count {
            let base = chunk.baseAddress! + start
            guard let found = memchr(base, Int32(UInt8(ascii: "\n")), count - start) else {
                self.hold(UnsafeRawBufferPointer(start: base, count: count - start))
                start = count
                break
            }
            let length = UnsafeRawPointer(found) - base
            let piece = UnsafeRawBufferPointer(start: base, count: length)
            if self.skipping != nil || !self.carry.isEmpty {
                self.hold(piece)
                try self.emitCarry(terminated: true, emit: emit)
            } else if length > self.maxLineBytes {
                try self.emitTooLong(length: length, terminated: true, emit: emit)
            } else {
                try self.emit(piece, terminated: true, emit: emit)
            }
            start += length + 1
        }
        if isLast, self.skipping != nil || !self.carry.isEmpty {
            try self.emitCarry(terminated: false, emit: emit)
        }
    }

    private mutating func hold(_ bytes: UnsafeRawBufferPointer) {
        if let skipped = self.skipping {
            self.skipping = skipped + bytes.count
        } else if self.carry.count + bytes.count > self.maxLineBytes {
            self.skipping = self.carry.count + bytes.count
            self.carry.removeAll()
        } else {
            self.carry.append(contentsOf: bytes)
        }
    }

    private mutating func emitCarry(terminated: Bool, emit: (Line) throws -> Void) rethrows {
        if let skipped = self.skipping {
            self.skipping = nil
            try self.emitTooLong(length: skipped, terminated: terminated, emit: emit)
            return
        }
        let carried = self.carry
        self.carry.removeAll(keepingCapacity: true)
        try carried.withUnsafeBytes { try self.emit($0, terminated: terminated, emit: emit) }
    }

    private mutating func emit(_ bytes: UnsafeRawBufferPointer, terminated: Bool, emit: (Line) throws -> Void)
        rethrows
    {
        var text = bytes
        if let last = text.last, last == UInt8(ascii: "\r") { text = UnsafeRawBufferPointer(rebasing: text.dropLast()) }
        let end = self.position + bytes.count + (terminated ? 1 : 0)
        let line = Line(bytes: text, number: self.line, offset: self.position, end: end, tooLong: nil)
        self.line += 1
        self.position = end
        try emit(line)
    }

    private mutating func emitTooLong(length: Int, terminated: Bool, emit: (Line) throws -> Void) rethrows {
        let end = self.position + length + (terminated ? 1 : 0)
        let line = Line(
            bytes: UnsafeRawBufferPointer(start: nil, count: 0), number: self.line, offset: self.position, end: end,
            tooLong: length)
        self.line += 1
        self.position = end
        try emit(line)
    }
}
