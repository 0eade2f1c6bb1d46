import GatherCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A growing file of JSON lines, read as it grows (`tail -F`). The position is the file's inode and the byte
/// offset after the last whole line, so a restart continues at the next line.
///
/// - Rotation (the file renamed and a new one created at the path): the old file is read to its end, then the
///   new one from its start.
/// - Truncation (the file shrank below the position): reading starts again at offset 0.
/// - A file rotated while gather was stopped: the saved inode is gone from the path, so the new file is read from
///   the start, and the status says so; lines appended to the old file after the stop were not read.
/// - A line without its newline yet is not an event until the newline comes.
public struct TailSource: StreamSource {
    public var path: String
    /// How often the file is checked for growth and rotation when there is nothing to read.
    public var pollInterval: Duration
    /// A line longer than this is an error row (its first bytes), not a reason to hold the whole file in memory.
    public var maxLineBytes: Int

    public init(path: String, pollInterval: Duration = .milliseconds(100), maxLineBytes: Int = 16 << 20) {
        self.path = path
        self.pollInterval = pollInterval
        self.maxLineBytes = maxLineBytes
    }

    public var description: String { "tail \(self.path)" }

    static func position(inode: UInt64, offset: Int64) -> Value {
        .object(Record([("inode", .int(Int64(bitPattern: inode))), ("offset", .int(offset))]))
    }

    public func run(from position: Value?, into buffer: EventBuffer, status: SourceStatus) async throws {
        var savedInode = position?["inode"]?.intValue.map { UInt64(bitPattern: $0) }
        var offset = position?["offset"]?.intValue ?? 0
        while !Task.isCancelled {
            let fd = open(self.path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else {
                status.disconnected("waiting for \(self.path): \(String(cString: strerror(errno)))")
                guard (try? await Task.sleep(for: self.pollInterval)) != nil else { return }
                continue
            }
            defer { _ = Glibc.close(fd) }
            var info = stat()
            fstat(fd, &info)
            let inode = UInt64(info.st_ino)
            if let saved = savedInode, saved != inode {
                status.disconnected(
                    "\(self.path) was replaced while gather was stopped; reading the new file from its start")
                offset = 0
            }
            if Int64(info.st_size) < offset { offset = 0 }
            savedInode = inode
            status.connected()
            let finished = try await self.follow(
                fd: fd, inode: inode, offset: &offset, into: buffer, status: status)
            if finished { return }
            // Rotated: the next file at the path starts at 0.
            offset = 0
            savedInode = nil
        }
    }

    /// Reads `fd` from `offset` as it grows. Returns `true` to stop (cancelled, buffer closed), `false` when the
    /// path now names another file and this one has been read to its end.
    private func follow(fd: Int32, inode: UInt64, offset: inout Int64, into buffer: EventBuffer, status: SourceStatus)
        async throws -> Bool
    {
        guard lseek(fd, off_t(offset), SEEK_SET) >= 0 else { return false }
        var pending: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        var skippingLongLine = false
        var rotationSeen = false
        while !Task.isCancelled {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n > 0 {
                var events: [SourceEvent] = []
                let now = Timestamp.epochMillis()
                var lineStart = 0
                // Offset of `pending[0]` in the file.
                let base = offset
                pending.append(contentsOf: chunk[0..<n])
                var consumed = 0
                while let newline = pending[lineStart...].firstIndex(of: 0x0A) {
                    var line = pending[lineStart..<newline]
                    if line.last == 0x0D { line = line.dropLast() }
                    let end = base + Int64(newline + 1)
                    if skippingLongLine {
                        skippingLongLine = false
                    } else if !line.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) {
                        events.append(
                            SourceEvent(
                                payload: String(decoding: line, as: UTF8.self),
                                position: Self.position(inode: inode, offset: end), arrival: now))
                    }
                    lineStart = newline + 1
                    consumed = lineStart
                }
                pending.removeFirst(consumed)
                offset = base + Int64(consumed)
                if pending.count > self.maxLineBytes {
                    // An endless line: hand its start on (it will be an error row) and skip to its newline.
                    events.append(
                        SourceEvent(
                            payload: String(decoding: pending.prefix(1024), as: UTF8.self),
                            position: Self.position(inode: inode, offset: offset), arrival: now))
                    offset += Int64(pending.count)
                    pending = []
                    skippingLongLine = true
                }
                if !events.isEmpty, !(await buffer.send(events)) { return true }
                continue
            }
            // At the end: has the file been truncated, or the path moved to another file?
            var current = stat()
            fstat(fd, &current)
            if Int64(current.st_size) < offset + Int64(pending.count) {
                offset = 0
                pending = []
                skippingLongLine = false
                _ = lseek(fd, 0, SEEK_SET)
                continue
            }
            var atPath = stat()
            if stat(self.path, &atPath) == 0, UInt64(atPath.st_ino) != inode {
                // Rotated. A writer may have appended to the old file after our last read: read it to its end
                // once more before moving to the new file.
                if rotationSeen { return false }
                rotationSeen = true
                continue
            }
            guard (try? await Task.sleep(for: self.pollInterval)) != nil else { return true }
        }
        return true
    }
}
