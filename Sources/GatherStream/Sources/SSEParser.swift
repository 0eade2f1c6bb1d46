/// An incremental parser of `text/event-stream` (WHATWG HTML §9.2): feed it bytes as they arrive, get whole
/// events back.
///
/// Lines end in CRLF, LF or CR (a CR at the end of one chunk and an LF at the start of the next are one line end).
/// A leading BOM is dropped. `:` lines are comments. `data` lines join with LF. `id` sets the last event id (an
/// `id` containing NUL is ignored; an empty one clears it), and the id stays until the server changes it. `retry`
/// counts only when it is all digits. A blank line dispatches the event unless its data is empty; an event cut
/// off by the end of the stream is dropped.
public struct SSEParser: Sendable {
    public struct Event: Sendable, Hashable {
        /// The last event id when this event was dispatched (`nil` when none was ever set).
        public var id: String?
        /// The event had an `id:` line of its own (not one carried over from an earlier event).
        public var hasOwnID = false
        /// The `event:` type, `message` by default.
        public var type: String
        public var data: String
    }

    /// The last event id, as of the last blank line (also advanced by id-only events, which dispatch nothing).
    /// An `id:` line counts only once its event is complete: a connection cut between an event's `id:` and its
    /// blank line must resume before that event, not after it.
    public private(set) var lastEventID: String?
    /// The id of the event being read.
    private var idBuffer: String?
    /// The event being read has its own `id:` line.
    private var sawID = false
    /// The server's `retry:` reconnection time, in milliseconds.
    public private(set) var retry: Int?
    /// Comment lines seen (servers send them as heartbeats).
    public private(set) var comments = 0
    /// The most bytes a line or an event's data may hold: beyond it the rest is cut off, so memory stays bounded
    /// whatever the server sends, and the event reaches the pipeline truncated (an error row with its start,
    /// never dropped in silence).
    public var maxEventBytes = 16 << 20

    private var line: [UInt8] = []
    private var data: [UInt8] = []
    private var hasData = false
    private var type: String?
    private var afterCR = false
    private var started = false

    public init(lastEventID: String? = nil) {
        self.lastEventID = lastEventID
        self.idBuffer = lastEventID
    }

    /// Parses `bytes` and returns the events they complete.
    public mutating func feed<Bytes: Sequence<UInt8>>(_ bytes: Bytes) -> [Event] {
        var events: [Event] = []
        for byte in bytes {
            if !self.started {
                self.started = true
                self.bomIndex = 0
            }
            if self.bomIndex < 3 {
                if byte == Self.bom[self.bomIndex] {
                    self.bomIndex += 1
                    if self.bomIndex == 3 { self.pendingBOM = [] } else { self.pendingBOM.append(byte) }
                    continue
                }
                // Not a BOM after all: what was held back is ordinary bytes.
                let held = self.pendingBOM
                self.pendingBOM = []
                self.bomIndex = 3
                for b in held { self.take(b, into: &events) }
            }
            self.take(byte, into: &events)
        }
        return events
    }

    private static let bom: [UInt8] = [0xEF, 0xBB, 0xBF]
    private var bomIndex = 3
    private var pendingBOM: [UInt8] = []

    private mutating func take(_ byte: UInt8, into events: inout [Event]) {
        switch byte {
        case 0x0A:
            if self.afterCR {
                self.afterCR = false
                return
            }
            self.endLine(into: &events)
        case 0x0D:
            self.afterCR = true
            self.endLine(into: &events)
        default:
            self.afterCR = false
            if self.line.count < self.maxEventBytes { self.line.append(byte) }
        }
    }

    private mutating func endLine(into events: inout [Event]) {
        defer { self.line.removeAll(keepingCapacity: true) }
        guard !self.line.isEmpty else {
            self.dispatch(into: &events)
            return
        }
        if self.line[0] == 0x3A {
            self.comments += 1
            return
        }
        let colon = self.line.firstIndex(of: 0x3A)
        let name = colon.map { self.line[..<$0] } ?? self.line[...]
        var valueStart = colon.map { $0 + 1 } ?? self.line.count
        if valueStart < self.line.count, self.line[valueStart] == 0x20 { valueStart += 1 }
        let value = self.line[valueStart...]
        switch String(decoding: name, as: UTF8.self) {
        case "data":
            if self.hasData { self.data.append(0x0A) }
            self.data.append(contentsOf: value.prefix(max(0, self.maxEventBytes - self.data.count)))
            self.hasData = true
        case "event":
            self.type = String(decoding: value, as: UTF8.self)
        case "id":
            if !value.contains(0) {
                let id = String(decoding: value, as: UTF8.self)
                self.idBuffer = id.isEmpty ? nil : id
                self.sawID = true
            }
        case "retry":
            if !value.isEmpty, value.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
                let ms = Int(String(decoding: value, as: UTF8.self))
            {
                self.retry = ms
            }
        default:
            break
        }
    }

    private mutating func dispatch(into events: inout [Event]) {
        defer {
            self.data.removeAll(keepingCapacity: true)
            self.hasData = false
            self.type = nil
            self.sawID = false
        }
        self.lastEventID = self.idBuffer
        guard self.hasData else { return }
        events.append(
            Event(
                id: self.lastEventID, hasOwnID: self.sawID, type: self.type ?? "message",
                data: String(decoding: self.data, as: UTF8.self)))
    }
}
