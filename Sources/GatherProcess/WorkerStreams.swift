import Dispatch
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// What a worker's stdout produced.
enum FrameEvent: Sendable {
    /// One whole frame's payload.
    case frame([UInt8])
    /// The worker closed its stdout (it exited, or is about to).
    case end
    /// Bytes that are not a frame: a length over the cap (say, a stray `print` of text).
    case garbage(String)
    /// Nothing came within the wait.
    case timeout
}

/// Frames as they arrive from a worker's stdout, read by a thread of its own, handed to one waiter at a time.
///
/// A frame is a 4-byte big-endian length and that many bytes (JSON). The reader stops at the end of the stream
/// or at the first thing that is not a frame.
final class FrameMailbox: Sendable {
    private struct State {
        var events: [FrameEvent] = []
        var waiter: (id: Int, continuation: CheckedContinuation<FrameEvent, Never>)?
        var nextWaiter = 0
        var ended = false
    }
    private let state = Mutex(State())

    /// The largest frame accepted (a guard against garbage read as a length).
    static let maxFrameBytes = 1 << 30

    /// Starts reading `fd` (closing it at the end).
    init(reading fd: Int32, label: String) {
        DispatchQueue(label: label).async { [self] in
            var buffer: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: 1 << 16)
            var start = 0
            reading: while true {
                let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                if count < 0 && errno == EINTR { continue }
                if count <= 0 { break }
                buffer.append(contentsOf: chunk[0..<count])
                while buffer.count - start >= 4 {
                    let length =
                        Int(buffer[start]) << 24 | Int(buffer[start + 1]) << 16 | Int(buffer[start + 2]) << 8
                        | Int(buffer[start + 3])
                    if length > Self.maxFrameBytes {
                        let text = String(decoding: buffer[start..<min(buffer.count, start + 60)], as: UTF8.self)
                        self.deliver(
                            .garbage("stdout carried something that is not a frame: \(text.debugDescription)"))
                        break reading
                    }
                    guard buffer.count - start - 4 >= length else { break }
                    self.deliver(.frame(Array(buffer[(start + 4)..<(start + 4 + length)])))
                    start += 4 + length
                }
                if start > 0 && start >= buffer.count / 2 {
                    buffer.removeFirst(start)
                    start = 0
                }
            }
            close(fd)
            self.deliver(.end)
        }
    }

    private func deliver(_ event: FrameEvent) {
        let waiter = self.state.withLock { state -> CheckedContinuation<FrameEvent, Never>? in
            // Nothing after the end or after garbage counts: the worker is restarted.
            if state.ended { return nil }
            if case .end = event { state.ended = true }
            if case .garbage = event { state.ended = true }
            if let waiter = state.waiter {
                state.waiter = nil
                return waiter.continuation
            }
            state.events.append(event)
            return nil
        }
        waiter?.resume(returning: event)
    }

    /// The next event, or `.timeout` after `timeout`.
    func next(timeout: Duration?) async -> FrameEvent {
        let id = self.state.withLock { state -> Int in
            state.nextWaiter += 1
            return state.nextWaiter
        }
        let timer: Task<Void, Never>? = timeout.map { timeout in
            Task {
                try? await Task.sleep(for: timeout)
                if Task.isCancelled { return }
                let waiter = self.state.withLock { state -> CheckedContinuation<FrameEvent, Never>? in
                    guard let waiter = state.waiter, waiter.id == id else { return nil }
                    state.waiter = nil
                    return waiter.continuation
                }
                waiter?.resume(returning: .timeout)
            }
        }
        defer { timer?.cancel() }
        return await withCheckedContinuation { continuation in
            let ready = self.state.withLock { state -> FrameEvent? in
                if !state.events.isEmpty { return state.events.removeFirst() }
                if state.ended { return .end }
                state.waiter = (id, continuation)
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }
}

/// A worker's stderr: each line goes to `log` (tagged by the caller) and the last lines are kept for error
/// messages. Read by a thread of its own; closes the descriptor at the end.
final class StderrTail: Sendable {
    private let lines = Mutex<[String]>([])
    private let ended = Atomic<Bool>(false)
    static let kept = 20

    init(reading fd: Int32, label: String, log: @escaping @Sendable (String) -> Void) {
        DispatchQueue(label: label).async { [self] in
            var pending: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: 1 << 14)
            while true {
                let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                if count < 0 && errno == EINTR { continue }
                if count <= 0 { break }
                pending.append(contentsOf: chunk[0..<count])
                while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                    self.add(String(decoding: pending[..<newline].prefix(4096), as: UTF8.self), log: log)
                    pending.removeSubrange(...newline)
                }
                if pending.count > 1 << 16 {
                    self.add(String(decoding: pending.prefix(4096), as: UTF8.self), log: log)
                    pending.removeAll()
                }
            }
            if !pending.isEmpty { self.add(String(decoding: pending.prefix(4096), as: UTF8.self), log: log) }
            close(fd)
            self.ended.store(true, ordering: .releasing)
        }
    }

    /// Waits (at most `timeout`) until the end of stderr was read, so that a dead worker's last words are in.
    func drained(timeout: Duration = .milliseconds(500)) async {
        let deadline = ContinuousClock.now + timeout
        while !self.ended.load(ordering: .acquiring), ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(5))
        }
    }

    private func add(_ line: String, log: @Sendable (String) -> Void) {
        log(line)
        self.lines.withLock { lines in
            lines.append(line)
            if lines.count > Self.kept { lines.removeFirst(lines.count - Self.kept) }
        }
    }

    /// The last `count` lines, oldest first.
    func last(_ count: Int = 5) -> [String] {
        self.lines.withLock { Array($0.suffix(count)) }
    }
}

/// Writes whole buffers to a pipe on a thread of its own (a full pipe blocks it, not the cooperative pool).
final class PipeWriter: Sendable {
    private let fd: Int32
    private let queue: DispatchQueue

    init(fd: Int32, label: String) {
        self.fd = fd
        self.queue = DispatchQueue(label: label)
    }

    /// Writes all of `bytes`; `false` when the pipe is closed (the worker is gone).
    func write(_ bytes: [UInt8]) async -> Bool {
        let fd = self.fd
        return await withCheckedContinuation { continuation in
            self.queue.async {
                var offset = 0
                let ok = bytes.withUnsafeBytes { raw -> Bool in
                    while offset < raw.count {
                        let n = Glibc.write(fd, raw.baseAddress! + offset, raw.count - offset)
                        if n < 0 {
                            if errno == EINTR { continue }
                            return false
                        }
                        offset += n
                    }
                    return true
                }
                continuation.resume(returning: ok)
            }
        }
    }
}
