import GatherFiles

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Reads a file or standard input line by line, in 1 MiB chunks read off the cooperative pool, in memory
/// bounded by the chunk size and the longest line.
///
/// Lines end at `\n`; a `\r` before it is dropped; a last line without `\n` counts. A line longer than
/// `maxLineBytes` is returned as ``Line/tooLong`` (its bytes are skipped), so one bad line cannot exhaust memory.
public final class LineReader {
    /// One line of input.
    public enum Line {
        /// The bytes of line `number` (1-based), without the line break.
        case text(number: Int, bytes: [UInt8])
        /// Line `number` was longer than the cap and was skipped.
        case tooLong(number: Int, length: Int)
    }

    /// The path being read, or `-` for standard input.
    public let path: String
    private let descriptor: Int32
    private let ownsDescriptor: Bool
    private let chunkSize: Int
    private let maxLineBytes: Int
    private var buffer: [UInt8] = []
    private var position = 0
    private var lineNumber = 0
    private var finished = false
    private var skipping: Int?
    private let shouldStop: @Sendable () -> Bool

    /// Opens `path` for reading (`-` means standard input).
    ///
    /// `shouldStop` is asked while waiting for input that has not arrived (a pipe or terminal, checked ten
    /// times a second): when it says yes, the input ends there, so a stop is not held up by a quiet stdin.
    /// - Throws: ``JobError`` naming the path and the system's reason.
    public init(
        path: String,
        chunkSize: Int = 1 << 20,
        maxLineBytes: Int = 16 << 20,
        shouldStop: @escaping @Sendable () -> Bool = { false }
    ) throws {
        self.path = path
        self.shouldStop = shouldStop
        self.chunkSize = chunkSize
        self.maxLineBytes = maxLineBytes
        if path == "-" {
            self.descriptor = 0
            self.ownsDescriptor = false
        } else {
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else {
                throw JobError.usage("cannot open \(path): \(String(cString: strerror(errno))); check the path")
            }
            self.descriptor = fd
            self.ownsDescriptor = true
        }
    }

    deinit {
        if self.ownsDescriptor { close(self.descriptor) }
    }

    /// The next line, or `nil` at the end of the input.
    public func next() async throws -> Line? {
        while true {
            if let line = self.takeLine() { return line }
            if self.finished { return self.takeLast() }
            try await self.fill()
        }
    }

    private func takeLine() -> Line? {
        let count = self.buffer.count
        guard self.position < count else { return nil }
        let newline: Int? = self.buffer.withUnsafeBufferPointer { buffer in
            let start = buffer.baseAddress! + self.position
            guard let found = memchr(start, Int32(UInt8(ascii: "\n")), count - self.position) else { return nil }
            return UnsafeRawPointer(buffer.baseAddress!).distance(to: UnsafeRawPointer(found))
        }
        guard let newline else { return nil }
        let start = self.position
        self.position = newline + 1
        self.lineNumber += 1
        if let skipped = self.skipping {
            self.skipping = nil
            return .tooLong(number: self.lineNumber, length: skipped + newline - start)
        }
        var end = newline
        if end > start, self.buffer[end - 1] == UInt8(ascii: "\r") { end -= 1 }
        return .text(number: self.lineNumber, bytes: Array(self.buffer[start..<end]))
    }

    private func takeLast() -> Line? {
        guard self.position < self.buffer.count || self.skipping != nil else { return nil }
        self.buffer.append(UInt8(ascii: "\n"))
        return self.takeLine()
    }

    private func fill() async throws {
        // Keep the unfinished line, drop what was consumed.
        if self.position > 0 {
            self.buffer.removeSubrange(0..<self.position)
            self.position = 0
        }
        if self.buffer.count > self.maxLineBytes {
            self.skipping = (self.skipping ?? 0) + self.buffer.count
            self.buffer.removeAll(keepingCapacity: true)
        }
        let fd = self.descriptor
        let size = self.chunkSize
        let path = self.path
        let shouldStop = self.shouldStop
        let chunk: [UInt8] = try await BlockingIO.run {
            // Wait for data in short slices, so a stop request ends a wait on a quiet pipe or terminal.
            var waiting = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            while poll(&waiting, 1, 100) == 0 {
                if shouldStop() { return [] }
            }
            do {
                return try ChunkReader.read(fd, upTo: size, path: path)
            } catch {
                throw JobError.fatal("\(error)")
            }
        }
        if chunk.isEmpty {
            self.finished = true
        } else {
            self.buffer.append(contentsOf: chunk)
        }
    }

    /// Counts the lines of a regular file quickly (for a progress total); `nil` for standard input or pipes.
    public static func countLines(path: String) async -> Int? {
        guard path != "-" else { return nil }
        return try? await BlockingIO.run {
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { return nil }
            defer { close(fd) }
            var info = stat()
            guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { return nil }
            var count = 0
            var last: UInt8 = UInt8(ascii: "\n")
            var chunk = [UInt8](repeating: 0, count: 1 << 20)
            while true {
                let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, 1 << 20) }
                if n <= 0 { break }
                chunk.withUnsafeBytes { raw in
                    var p = raw.baseAddress!
                    let end = p + n
                    while let found = memchr(p, Int32(UInt8(ascii: "\n")), end - p) {
                        count += 1
                        p = UnsafeRawPointer(found) + 1
                    }
                }
                last = chunk[n - 1]
            }
            return last == UInt8(ascii: "\n") ? count : count + 1
        }
    }
}
