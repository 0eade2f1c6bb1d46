import GatherCore
import Synchronization

/// A Redis stream read through a consumer group (`XREADGROUP`), acknowledged (`XACK`) only after the commit
/// that covers each entry. The position is the last committed entry id.
///
/// On start the group is created if it is missing (from the stream's start, `MKSTREAM`), then the consumer's own
/// pending entries are read first: those at or below the committed position were committed by a run that died
/// before its acknowledgement, so they are acknowledged without being processed again; the rest are processed.
/// Then new entries (`>`), `count` at a time, blocking up to `block` for more. A dropped connection is reopened
/// with backoff, and entries already handed on in this process are not handed on twice.
///
/// The consumer name must stay the same across restarts (default `gather-RESOURCE`), so a restarted gather
/// finds its own pending entries. One consumer per group and resource: claiming a dead consumer's entries
/// (`XAUTOCLAIM`) is not done yet.
///
/// An entry's payload is its `field` (JSON text) when set, otherwise an object of all its fields (as text; event
/// times and numbers in text are read as numbers).
public final class RedisSource: StreamSource {
    public let url: String
    public let stream: String
    public let group: String
    public let consumer: String
    public let field: String?
    public let count: Int
    public let block: Duration

    /// Entries handed on and not yet acknowledged, oldest first; and the connection acknowledgements use.
    private struct State {
        var unacknowledged: [StreamID] = []
        var ackClient: RESPClient?
    }
    private let state = Mutex(State())

    public init(
        url: String, stream: String, group: String, consumer: String, field: String? = nil, count: Int = 1_000,
        block: Duration = .milliseconds(500)
    ) {
        self.url = url
        self.stream = stream
        self.group = group
        self.consumer = consumer
        self.field = field
        self.count = count
        self.block = block
    }

    public var description: String { "redis \(self.url) stream \(self.stream) group \(self.group)" }

    public func run(from position: Value?, into buffer: EventBuffer, status: SourceStatus) async throws {
        let committed = position?.stringValue.flatMap(StreamID.init)
        var handedOn = committed
        var backoff = ReconnectBackoff()
        while !Task.isCancelled {
            var client: RESPClient?
            do {
                let connection = try await RESPClient.connect(url: self.url)
                client = connection
                do {
                    try await connection.send(["XGROUP", "CREATE", self.stream, self.group, "0", "MKSTREAM"])
                } catch let error as RESPError where error.description.hasPrefix("BUSYGROUP") {}
                status.connected()
                backoff.reset()
                // This consumer's pending entries first, then new ones.
                var cursor = "0"
                while !Task.isCancelled {
                    let reading = cursor != ">"
                    var command = ["XREADGROUP", "GROUP", self.group, self.consumer, "COUNT", String(self.count)]
                    if !reading {
                        command += [
                            "BLOCK",
                            String(
                                self.block.components.seconds * 1000 + self.block.components.attoseconds
                                    / 1_000_000_000_000_000),
                        ]
                    }
                    command += ["STREAMS", self.stream, cursor]
                    let reply = try await connection.send(command)
                    let entries = Self.entries(reply)
                    if reading && entries.isEmpty {
                        cursor = ">"
                        continue
                    }
                    var events: [SourceEvent] = []
                    var stale: [String] = []
                    let now = Timestamp.epochMillis()
                    for (id, fields) in entries {
                        if reading { cursor = id.text }
                        if let done = committed, id <= done {
                            stale.append(id.text)  // committed by an earlier run that died before its XACK
                            continue
                        }
                        if let seen = handedOn, id <= seen { continue }  // already in this process's pipeline
                        guard let fields else {
                            stale.append(id.text)  // deleted from the stream (XDEL, trimming) while pending
                            continue
                        }
                        handedOn = id
                        events.append(
                            SourceEvent(payload: self.payload(fields), position: .string(id.text), arrival: now))
                    }
                    if !stale.isEmpty { try await connection.send(["XACK", self.stream, self.group] + stale) }
                    if !events.isEmpty {
                        self.state.withLock {
                            $0.unacknowledged += events.compactMap { $0.position?.stringValue.flatMap(StreamID.init) }
                        }
                        guard await buffer.send(events) else {
                            await connection.close()
                            return
                        }
                    }
                }
            } catch is CancellationError {
                await client?.close()
                return
            } catch {
                await client?.close()
                if Task.isCancelled { return }
                if let error = error as? RESPError, error.isPermanent { throw error }
                status.disconnected("\(error)")
            }
            guard (try? await Task.sleep(for: backoff.next())) != nil else { return }
        }
    }

    /// Acknowledges every entry handed on up to `position`, now that a commit covers them.
    public func committed(through position: Value) async {
        guard let through = position.stringValue.flatMap(StreamID.init) else { return }
        let ids = self.state.withLock { state -> [StreamID] in
            let split = state.unacknowledged.firstIndex { $0 > through } ?? state.unacknowledged.count
            let done = Array(state.unacknowledged[..<split])
            state.unacknowledged.removeFirst(split)
            return done
        }
        guard !ids.isEmpty else { return }
        do {
            let client: RESPClient
            if let existing = self.state.withLock({ $0.ackClient }) {
                client = existing
            } else {
                client = try await RESPClient.connect(url: self.url)
                self.state.withLock { $0.ackClient = client }
            }
            for chunk in stride(from: 0, to: ids.count, by: 10_000) {
                let part = ids[chunk..<min(ids.count, chunk + 10_000)].map(\.text)
                try await client.send(["XACK", self.stream, self.group] + part)
            }
        } catch {
            // Unacknowledged entries stay pending; the next start acknowledges them (they are at or below the
            // committed position) without processing them again.
            let client = self.state.withLock { state -> RESPClient? in
                defer { state.ackClient = nil }
                return state.ackClient
            }
            await client?.close()
        }
    }

    /// Closes the acknowledgement connection.
    public func close() async {
        let client = self.state.withLock { state -> RESPClient? in
            defer { state.ackClient = nil }
            return state.ackClient
        }
        await client?.close()
    }

    private func payload(_ fields: [(String, String)]) -> String {
        if let field = self.field {
            // A missing field is not JSON: the event becomes an error row with this text.
            return fields.first { $0.0 == field }?.1 ?? "(the entry has no field '\(field)')"
        }
        return JSONWriter.string(.object(Record(fields.map { ($0.0, Value.string($0.1)) })))
    }

    /// `[[stream, [[id, [field, value, …]], …]]]` → the entries.
    /// (An entry deleted while pending comes back without fields: `nil`.)
    static func entries(_ reply: RESPValue) -> [(StreamID, [(String, String)]?)] {
        guard let streams = reply.elements else { return [] }
        var out: [(StreamID, [(String, String)]?)] = []
        for stream in streams {
            guard let parts = stream.elements, parts.count == 2, let entries = parts[1].elements else { continue }
            for entry in entries {
                guard let pair = entry.elements, pair.count == 2, let idText = pair[0].text,
                    let id = StreamID(idText)
                else { continue }
                guard let values = pair[1].elements else {
                    out.append((id, nil))
                    continue
                }
                var fields: [(String, String)] = []
                var index = 0
                while index + 1 < values.count {
                    fields.append((values[index].text ?? "", values[index + 1].text ?? ""))
                    index += 2
                }
                out.append((id, fields))
            }
        }
        return out
    }
}

/// A Redis stream entry id, `MILLISECONDS-SEQUENCE`, ordered.
struct StreamID: Comparable, Hashable, Sendable {
    var millis: UInt64
    var sequence: UInt64

    init?(_ text: String) {
        let parts = text.split(separator: "-", maxSplits: 1)
        guard let millis = parts.first.flatMap({ UInt64($0) }) else { return nil }
        self.millis = millis
        self.sequence = parts.count == 2 ? (UInt64(parts[1]) ?? 0) : 0
    }

    var text: String { "\(self.millis)-\(self.sequence)" }

    static func < (a: StreamID, b: StreamID) -> Bool {
        (a.millis, a.sequence) < (b.millis, b.sequence)
    }
}
