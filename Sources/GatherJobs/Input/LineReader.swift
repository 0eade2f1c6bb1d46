public import GatherCore
import GatherFiles

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Reads a file or standard input line by line, in 1 MiB chunks read off the cooperative pool, in memory
/// bounded by the chunk size and the longest line. The splitting is GatherFiles' ``LineSplitter``, the one every
/// line-based reader uses.
///
/// Lines end at `\n`; a `\r` before it is dropped; a last line without `\n` counts; a UTF-8 byte order mark at the
/// start is skipped. A line longer than `maxLineBytes` is returned as ``Line/tooLong`` (its bytes are skipped), so
/// one bad line cannot exhaust memory.
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
    private var splitter: LineSplitter
    /// The lines of the last chunk not yet returned, from `readyIndex` on.
    private var ready: [Line] = []
    private var readyIndex = 0
    private var finished = false
    private let stop: StopSignal

    /// Opens `path` for reading (`-` means standard input).
    ///
    /// `stop` is checked while waiting for input that has not arrived (a pipe or terminal, checked ten
    /// times a second): once it fired, the input ends there, so a stop is not held up by a quiet stdin.
    /// - Throws: ``JobError`` naming the path and the system's reason.
    public init(
        path: String,
        chunkSize: Int = 1 << 20,
        maxLineBytes: Int = 16 << 20,
        stop: StopSignal = StopSignal()
    ) throws {
        self.path = path
        self.stop = stop
        self.chunkSize = chunkSize
        self.splitter = LineSplitter(maxLineBytes: maxLineBytes)
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
            if self.readyIndex < self.ready.count {
                defer { self.readyIndex += 1 }
                return self.ready[self.readyIndex]
            }
            if self.finished { return nil }
            try await self.fill()
        }
    }

    /// Reads the next chunk and splits it into `ready` (at the end of the input, the last unterminated line).
    private func fill() async throws {
        let fd = self.descriptor
        let size = self.chunkSize
        let path = self.path
        let stop = self.stop
        let chunk: [UInt8] = try await BlockingIO.run {
            // Wait for data in short slices, so a stop request ends a wait on a quiet pipe or terminal.
            var waiting = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            while poll(&waiting, 1, 100) == 0 {
                if stop.isStopped { return [] }
            }
            do {
                return try ChunkReader.read(fd, upTo: size, path: path)
            } catch {
                throw JobError.fatal("\(error)")
            }
        }
        self.finished = chunk.isEmpty
        self.ready.removeAll(keepingCapacity: true)
        self.readyIndex = 0
        chunk.withUnsafeBytes { bytes in
            self.splitter.feed(bytes, isLast: self.finished) { line in
                if let length = line.tooLong {
                    self.ready.append(.tooLong(number: line.number, length: length))
                } else {
                    self.ready.append(.text(number: line.number, bytes: Array(line.bytes)))
                }
            }
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
