import GatherCore
import NIOCore
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
/// finds its own pending entries.
///
/// Several consumers may share a group, each a gather with its own name. Every `claimIdle / 2` a consumer
/// claims the entries another consumer has held pending for longer than `claimIdle` (a consumer that died and
/// was not restarted): `XPENDING … IDLE` lists them with their owners, and `XCLAIM` moves them, leaving out this
/// consumer's own entries, which `XAUTOCLAIM` cannot. Claimed entries belong to a second consumer name,
/// `CONSUMER-claimed`, and the committed position lists those committed and not yet acknowledged (the list is as
/// long as one commit's claims), so a restart settles them exactly like its own: committed ones are
/// acknowledged, the others processed. Across consumers the guarantee is at least once: an entry the dead
/// consumer committed but had not yet acknowledged is processed again by the one that claims it (the window
/// between a commit and its XACK is a few milliseconds), and a live consumer slower than `claimIdle` loses its
/// entries to another. Set `claimIdle` above the longest commit pause.
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
    /// Entries another consumer has held pending this long are claimed; `nil`: never.
    public let claimIdle: Duration?

    /// Entries handed on and not yet acknowledged, oldest first, with their ids as Redis wrote them (claimed ones
    /// apart); the connection acknowledgements use, and the acknowledgement in flight.
    private struct State {
        var unacknowledged: [(id: StreamID, text: String)] = []
        var claimed: [StreamID] = []
        var ackClient: RESPClient?
        var acknowledging: Task<Void, Never>?
    }
    private let state = Mutex(State())

    public init(
        url: String, stream: String, group: String, consumer: String, field: String? = nil, count: Int = 1_000,
        block: Duration = .milliseconds(500), claimIdle: Duration? = .seconds(60)
    ) {
        self.url = url
        self.stream = stream
        self.group = group
        self.consumer = consumer
        self.field = field
        self.count = count
        self.block = block
        self.claimIdle = claimIdle
    }

    /// The consumer name claimed entries belong to.
    var claimer: String { self.consumer + "-claimed" }

    /// The position after an entry: the newest of this consumer's own entries handed on, and the claimed entries
    /// handed on and not yet acknowledged (a plain id when there are none).
    static func position(last: StreamID?, claimed: [StreamID]) -> Value {
        guard !claimed.isEmpty else { return last.map { .string($0.text) } ?? .null }
        return .object(
            Record([
                ("last", last.map { .string($0.text) } ?? .null), ("claimed", .array(claimed.map { .string($0.text) })),
            ]))
    }

    /// The two parts of a position.
    static func parse(_ position: Value?) -> (last: StreamID?, claimed: Set<StreamID>) {
        switch position {
        case .string(let text)?: return (StreamID(text), [])
        case .object(let record)?:
            let claimed = record["claimed"]?.arrayValue?.compactMap { $0.stringValue.flatMap(StreamID.init) } ?? []
            return (record["last"]?.stringValue.flatMap(StreamID.init), Set(claimed))
        default: return (nil, [])
        }
    }

    public var description: String { "redis \(self.url) stream \(self.stream) group \(self.group)" }

    public func run(from position: Value?, into buffer: EventBuffer, status: SourceStatus) async throws {
        let (committed, committedClaims) = Self.parse(position)
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

                /// Hands `entries` on; `claims`: they belong to the claiming consumer.
                func handOn(_ entries: [Entry], claims: Bool) async throws -> Bool {
                    var events: [SourceEvent] = []
                    events.reserveCapacity(entries.count)
                    var stale: [String] = []
                    var fresh: [(id: StreamID, text: String)] = []
                    let now = Timestamp.epochMillis()
                    // Claims are few: each one's position lists the claims so far, so each takes the lock. An own
                    // entry's position carries the claimed list as it stands now (usually empty, so its position is
                    // its id); its id joins the unacknowledged ones, under one lock for the batch, before any of the
                    // events reaches the buffer (and so before a commit could cover it).
                    let claimedNow = claims ? [] : self.state.withLock { $0.claimed }
                    for entry in entries {
                        let id = entry.id
                        if claims {
                            if committedClaims.contains(id) {
                                stale.append(entry.idText)  // claimed, committed, not yet acknowledged
                                continue
                            }
                            // Claimed and handed on in this process (met again after a reconnect).
                            if self.state.withLock({ $0.claimed.contains(id) }) { continue }
                        } else {
                            if let done = committed, id <= done {
                                stale.append(entry.idText)  // committed by an earlier run that died before its XACK
                                continue
                            }
                            if let seen = handedOn, id <= seen { continue }  // already in this process's pipeline
                        }
                        guard let fields = entry.fields else {
                            stale.append(entry.idText)  // deleted from the stream (XDEL, trimming) while pending
                            continue
                        }
                        let position: Value
                        if claims {
                            position = self.state.withLock { state in
                                state.claimed.append(id)
                                return Self.position(last: handedOn, claimed: state.claimed)
                            }
                        } else {
                            position =
                                claimedNow.isEmpty
                                ? .string(entry.idText) : Self.position(last: id, claimed: claimedNow)
                            fresh.append((id, entry.idText))
                            handedOn = id
                        }
                        events.append(SourceEvent(payload: self.payload(fields), position: position, arrival: now))
                    }
                    if !fresh.isEmpty { self.state.withLock { $0.unacknowledged.append(contentsOf: fresh) } }
                    if !stale.isEmpty { try await connection.send(["XACK", self.stream, self.group] + stale) }
                    return events.isEmpty ? true : await buffer.send(events)
                }

                // This consumer's pending entries first, then those it had claimed, then new ones.
                for owner in [self.consumer, self.claimer] {
                    var cursor = "0"
                    while !Task.isCancelled {
                        let reply = try await connection.send([
                            "XREADGROUP", "GROUP", self.group, owner, "COUNT", String(self.count), "STREAMS",
                            self.stream, cursor,
                        ])
                        let entries = Self.entries(reply)
                        guard let last = entries.last else { break }
                        cursor = last.idText
                        guard try await handOn(entries, claims: owner == self.claimer) else {
                            await connection.close()
                            return
                        }
                    }
                }
                let blockMillis = String(
                    self.block.components.seconds * 1000 + self.block.components.attoseconds / 1_000_000_000_000_000)
                var lastClaim = ContinuousClock.now - (self.claimIdle ?? .zero)  // the first claim at once
                let read = [
                    "XREADGROUP", "GROUP", self.group, self.consumer, "COUNT", String(self.count), "BLOCK", blockMillis,
                    "STREAMS", self.stream, ">",
                ]
                // Entries a read took that were never handed on (a stop or a drop with a read in flight) stay
                // pending for this consumer, and the next start reads them first.
                var prefetch: Task<RESPValue, any Error>?
                while !Task.isCancelled {
                    if let idle = self.claimIdle, lastClaim.duration(to: .now) >= idle / 2 {
                        lastClaim = .now
                        // Through the whole pending list, a page at a time.
                        var from: String? = "-"
                        while let start = from, !Task.isCancelled {
                            let (claimed, next) = try await self.claim(connection, idle: idle, from: start)
                            from = next
                            guard try await handOn(claimed, claims: true) else {
                                await connection.close()
                                return
                            }
                        }
                    }
                    let reply: RESPValue
                    if let prefetch {
                        reply = try await prefetch.value
                    } else {
                        reply = try await connection.send(read)
                    }
                    let entries = Self.entries(reply)
                    // Behind (a full read): the next read goes out now, so Redis answers it while these entries
                    // are handed on. Caught up: one blocking read at a time.
                    prefetch = entries.count >= self.count ? Task { try await connection.send(read) } : nil
                    guard try await handOn(entries, claims: false) else {
                        prefetch?.cancel()
                        await connection.close()
                        return
                    }
                }
                prefetch?.cancel()
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

    /// Moves to the claiming consumer the entries other consumers have held pending longer than `idle`, one page
    /// of the group's pending list from `from` on, and returns them with where the next page starts (`nil`: this
    /// was the last).
    private func claim(_ connection: RESPClient, idle: Duration, from: String) async throws -> (
        [Entry], next: String?
    ) {
        let millis = String(idle.components.seconds * 1000 + idle.components.attoseconds / 1_000_000_000_000_000)
        let pending = try await connection.send([
            "XPENDING", self.stream, self.group, "IDLE", millis, from, "+", String(self.count),
        ])
        // [[id, consumer, idle ms, deliveries], …]
        let page = (pending.elements ?? []).compactMap { entry -> (id: String, owner: String)? in
            guard let parts = entry.elements, parts.count >= 2, let id = parts[0].text, let owner = parts[1].text
            else { return nil }
            return (id, owner)
        }
        let next = page.count < self.count ? nil : page.last.map { "(" + $0.id }
        let ids = page.filter { $0.owner != self.consumer && $0.owner != self.claimer }.map(\.id)
        guard !ids.isEmpty else { return ([], next) }
        let reply = try await connection.send(["XCLAIM", self.stream, self.group, self.claimer, millis] + ids)
        // XCLAIM answers the entries themselves, [[id, [field, value, …]], …], without the stream around them.
        return (Self.entries(.array([.array([.bulk(ByteBuffer(string: self.stream)), reply])])), next)
    }

    /// Acknowledges every entry handed on up to `position`, now that a commit covers them.
    ///
    /// The `XACK`s go out in the background, so the job reads and counts on while Redis takes them (100,000 ids
    /// are a few megabytes of command). One acknowledgement is in flight at a time: the next commit's waits for
    /// it, and ``close()`` waits for the last. An acknowledgement lost to a kill is made at the next start.
    public func committed(through position: Value) async {
        let (last, claims) = Self.parse(position)
        let ids = self.state.withLock { state -> [String] in
            var done: [String] = []
            if let through = last {
                let split = state.unacknowledged.firstIndex { $0.id > through } ?? state.unacknowledged.count
                done = state.unacknowledged[..<split].map(\.text)
                state.unacknowledged.removeFirst(split)
            }
            if !claims.isEmpty {
                done += claims.map(\.text)
                state.claimed.removeAll { claims.contains($0) }
            }
            return done
        }
        guard !ids.isEmpty else { return }
        let previous = self.state.withLock { $0.acknowledging }
        await previous?.value
        let task = Task { await self.acknowledge(ids) }
        self.state.withLock { $0.acknowledging = task }
    }

    /// Sends `XACK` for `ids`, 10,000 at a time, pipelined.
    private func acknowledge(_ ids: [String]) async {
        do {
            let client: RESPClient
            if let existing = self.state.withLock({ $0.ackClient }) {
                client = existing
            } else {
                client = try await RESPClient.connect(url: self.url)
                self.state.withLock { $0.ackClient = client }
            }
            try await withThrowingTaskGroup { group in
                for chunk in stride(from: 0, to: ids.count, by: 10_000) {
                    let command = ["XACK", self.stream, self.group] + ids[chunk..<min(ids.count, chunk + 10_000)]
                    group.addTask { try await client.send(command) }
                }
                try await group.waitForAll()
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

    /// Waits for the acknowledgement in flight, then closes its connection.
    public func close() async {
        await self.state.withLock { $0.acknowledging }?.value
        let client = self.state.withLock { state -> RESPClient? in
            defer { state.ackClient = nil }
            return state.ackClient
        }
        await client?.close()
    }

    /// An entry's payload from its `[field, value, …]` list: the `field` (its bytes compared in place, so no other
    /// field becomes a String), or else an object of all the fields.
    private func payload(_ fields: [RESPValue]) -> String {
        if let field = self.field {
            var index = 0
            while index + 1 < fields.count {
                if case .bulk(let name?) = fields[index], name.readableBytesView.elementsEqual(field.utf8) {
                    return fields[index + 1].text ?? ""
                }
                index += 2
            }
            // A missing field is not JSON: the event becomes an error row with this text.
            return "(the entry has no field '\(field)')"
        }
        var pairs: [(String, Value)] = []
        var index = 0
        while index + 1 < fields.count {
            pairs.append((fields[index].text ?? "", .string(fields[index + 1].text ?? "")))
            index += 2
        }
        return JSONWriter.string(.object(Record(pairs)))
    }

    /// A stream entry as a reply holds it: its id (parsed, and as text for positions and `XACK`), and its
    /// `[field, value, …]` list (`nil`: deleted from the stream while pending).
    struct Entry {
        var id: StreamID
        var idText: String
        var fields: [RESPValue]?
    }

    /// `[[stream, [[id, [field, value, …]], …]]]` → the entries.
    static func entries(_ reply: RESPValue) -> [Entry] {
        guard let streams = reply.elements else { return [] }
        var out: [Entry] = []
        for stream in streams {
            guard let parts = stream.elements, parts.count == 2, let entries = parts[1].elements else { continue }
            out.reserveCapacity(out.count + entries.count)
            for entry in entries {
                guard let pair = entry.elements, pair.count == 2, case .bulk(let idBytes?) = pair[0],
                    let id = StreamID(idBytes.readableBytesView)
                else { continue }
                out.append(Entry(id: id, idText: String(buffer: idBytes), fields: pair[1].elements))
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
        var text = text
        guard let id = text.withUTF8({ StreamID($0) }) else { return nil }
        self = id
    }

    /// `MILLIS-SEQ` (or `MILLIS`) from its bytes, digits only.
    init?<Bytes: Collection<UInt8>>(_ bytes: Bytes) {
        var millis: UInt64 = 0
        var sequence: UInt64 = 0
        var digits = 0
        var inSequence = false
        for byte in bytes {
            if byte == UInt8(ascii: "-"), !inSequence, digits > 0 {
                inSequence = true
                digits = 0
                continue
            }
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9"), digits < 19 else { return nil }
            let digit = UInt64(byte - UInt8(ascii: "0"))
            if inSequence { sequence = sequence * 10 + digit } else { millis = millis * 10 + digit }
            digits += 1
        }
        guard digits > 0 else { return nil }
        self.millis = millis
        self.sequence = sequence
    }

    var text: String { "\(self.millis)-\(self.sequence)" }

    static func < (a: StreamID, b: StreamID) -> Bool {
        (a.millis, a.sequence) < (b.millis, b.sequence)
    }
}
