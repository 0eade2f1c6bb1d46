#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Reads a file in large chunks off Swift's cooperative pool, decompressing gzip and zstd transparently.
///
/// Each `read(2)` of `chunkSize` bytes runs on ``BlockingIO``'s threads; decompression and everything the
/// caller does with a chunk runs on the calling task. Compression is detected from the first bytes (magic
/// numbers), not the name. Memory is bounded by one chunk and what it decompresses to.
///
/// Resuming at `startOffset` seeks in a plain file; in a compressed file the offset counts decompressed
/// bytes, so the stream is decompressed from its start and the first `startOffset` bytes are dropped.
public final class ChunkReader {
    /// The path being read.
    public let path: String
    /// The compression found in the file's first bytes.
    public let compression: Compression
    /// The file's size on disk.
    public let fileSize: Int
    /// Bytes read from disk so far (compressed bytes for compressed files), for progress.
    public private(set) var diskBytesRead = 0
    private let descriptor: Int32
    private let chunkSize: Int
    private var decompressor: Decompressor?
    private var skip: Int
    private var atEnd = false
    private var output: [UInt8] = []

    /// Opens `path` and positions it at `startOffset` (decompressed bytes).
    /// - Throws: ``FileError`` naming the path and the system's reason.
    public init(path: String, startOffset: Int = 0, chunkSize: Int = 1 << 20) async throws {
        self.path = path
        self.chunkSize = chunkSize
        let opened: (fd: Int32, size: Int, magic: [UInt8]) = try await BlockingIO.run {
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else {
                throw FileError("cannot open \(path): \(String(cString: strerror(errno))); check the path")
            }
            var info = stat()
            guard fstat(fd, &info) == 0 else {
                close(fd)
                throw FileError("cannot read \(path): \(String(cString: strerror(errno)))")
            }
            if (info.st_mode & S_IFMT) == S_IFDIR {
                close(fd)
                throw FileError("\(path) is a directory; give its files or a glob such as \(path)/*.csv")
            }
            var magic = [UInt8](repeating: 0, count: 4)
            let n = magic.withUnsafeMutableBytes { pread(fd, $0.baseAddress, 4, 0) }
            magic.removeSubrange(max(n, 0)...)
            return (fd, Int(info.st_size), magic)
        }
        self.descriptor = opened.fd
        self.fileSize = opened.size
        self.compression = Compression.detect(magic: opened.magic)
        if self.compression == .none {
            self.skip = 0
            if startOffset > 0 {
                guard lseek(opened.fd, off_t(startOffset), SEEK_SET) == off_t(startOffset) else {
                    close(opened.fd)
                    throw FileError("cannot seek to byte \(startOffset) of \(path) to resume")
                }
                self.diskBytesRead = startOffset
            }
        } else {
            self.skip = startOffset
            do {
                self.decompressor = try Decompressor(self.compression)
            } catch {
                close(opened.fd)
                throw FileError("\(path): \(error)")
            }
        }
    }

    deinit {
        close(self.descriptor)
    }

    /// One `read(2)` of up to `size` bytes (blocking: call it on ``BlockingIO``); empty at the end of the input.
    /// - Throws: ``FileError`` naming `path` and the system's reason.
    public static func read(_ descriptor: Int32, upTo size: Int, path: String) throws -> [UInt8] {
        var chunk = [UInt8](repeating: 0, count: size)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress, size) }
            if n >= 0 {
                chunk.removeSubrange(n...)
                return chunk
            }
            if errno == EINTR { continue }
            throw FileError("reading \(path) failed: \(String(cString: strerror(errno)))")
        }
    }

    /// The next chunk of (decompressed) bytes, or `nil` at the end of the file. Chunks may be empty.
    public func next() async throws -> [UInt8]? {
        while true {
            guard !self.atEnd else { return nil }
            let fd = self.descriptor
            let size = self.chunkSize
            let path = self.path
            let chunk: [UInt8] = try await BlockingIO.run { try Self.read(fd, upTo: size, path: path) }
            self.diskBytesRead += chunk.count
            let isLast = chunk.isEmpty
            if isLast { self.atEnd = true }
            guard self.decompressor != nil else { return isLast ? nil : chunk }
            self.output.removeAll(keepingCapacity: true)
            do {
                try chunk.withUnsafeBytes { input in
                    try self.decompressor!.decode(input, isLast: isLast, into: &self.output)
                }
            } catch {
                throw FileError("\(path): \(error)")
            }
            if self.skip > 0 {
                let dropped = min(self.skip, self.output.count)
                self.output.removeSubrange(0..<dropped)
                self.skip -= dropped
            }
            if !self.output.isEmpty { return self.output }
            if isLast { return nil }
        }
    }
}
