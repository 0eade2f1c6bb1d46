import GatherCore
import GatherFormats
import Synchronization

/// A NATS JetStream stream read through a durable pull consumer; each message is acknowledged only after the
/// commit that covers it. The position is the stream sequence of the last committed message.
///
/// The committed position is the truth, as with Kafka consumers that keep their offsets with their results: on
/// every (re)connect the durable is deleted and created again to deliver from the message after the position
/// (`deliver_policy: by_start_sequence`). So messages are handed on in stream order and exactly once, whatever
/// the broker held as pending when the last run died, and no redelivery waits for `ack_wait`. The durable
/// belongs to this resource: another client must not share it. Use a stream with `limits` or `workqueue`
/// retention; with `interest` retention, deleting the durable lets the server drop what nobody else wants.
///
/// A redelivery of a message already handed on (a commit slower than `ack_wait`) is counted as a duplicate and
/// not handed on again. Each message's data is one JSON record.
public final class NATSSource: StreamSource {
    public let url: String
    public let stream: String
    public let subject: String?
    public let durable: String
    public let batch: Int
    public let expires: Duration
    public let ackWait: Duration
    public let maxAckPending: Int

    /// Messages handed on and not yet acknowledged (stream sequence and ack subject), oldest first; and the
    /// connection that acknowledges them.
    private struct State {
        var unacknowledged: [(sequence: UInt64, reply: String)] = []
        var client: NATSClient?
    }
    private let state = Mutex(State())

    public init(
        url: String, stream: String, subject: String? = nil, durable: String, batch: Int = 1_000,
        expires: Duration = .milliseconds(500), ackWait: Duration = .seconds(60), maxAckPending: Int = 200_000
    ) {
        self.url = url
        self.stream = stream
        self.subject = subject
        self.durable = durable
        self.batch = batch
        self.expires = expires
        self.ackWait = ackWait
        self.maxAckPending = maxAckPending
    }

    public var description: String { "nats \(self.url) stream \(self.stream) durable \(self.durable)" }

    public func run(from position: Value?, into buffer: EventBuffer, status: SourceStatus) async throws {
        var handedOn = position?.intValue.map { UInt64(max(0, $0)) } ?? 0
        try await ReconnectBackoff.reconnecting(status: status, permanent: { ($0 as? NATSError)?.permanent == true }) {
            attempt in
            let client = try await NATSClient.connect(url: self.url)
            do {
                try await self.createConsumer(client, after: handedOn)
                let previous = self.state.withLock { state -> NATSClient? in
                    defer { state.client = client }
                    return state.client
                }
                await previous?.close()
                status.connected()
                let next = "$JS.API.CONSUMER.MSG.NEXT.\(self.stream).\(self.durable)"
                // Pulls that answer at once while messages flow; when one comes back empty, a pull for one
                // message that waits up to `expires`, so a quiet stream costs two requests a second, not a spin,
                // and the first new message is handed on as soon as it arrives.
                var waiting = false
                while !Task.isCancelled {
                    let messages = try await client.pull(
                        next, batch: waiting ? 1 : self.batch, expires: self.expires, noWait: !waiting)
                    waiting = !messages.contains { $0.status == nil }
                    var events: [SourceEvent] = []
                    let now = Timestamp.epochMillis()
                    for message in messages {
                        if let code = message.status {
                            // 404 and 408: nothing more for this pull; 100: a heartbeat; 409: the consumer went
                            // away or the server refused the pull: reconnect (which recreates it).
                            if code == 409 { throw NATSError("JetStream: \(code) \(message.statusDescription)") }
                            continue
                        }
                        guard let reply = message.replyTo, let sequence = Self.streamSequence(reply) else { continue }
                        if sequence <= handedOn {
                            status.duplicate()
                            self.state.withLock { $0.unacknowledged.append((sequence, reply)) }
                            continue
                        }
                        handedOn = sequence
                        self.state.withLock { $0.unacknowledged.append((sequence, reply)) }
                        events.append(
                            SourceEvent(payload: message.text, position: .int(Int64(sequence)), arrival: now))
                    }
                    if !events.isEmpty {
                        attempt.delivered()
                        guard await buffer.send(events) else {
                            // Stopped: the client stays for the last commit's acknowledgements (close()).
                            attempt.stop()
                            return nil
                        }
                    }
                }
                return nil
            } catch {
                self.state.withLock { state in
                    if state.client === client { state.client = nil }
                }
                await client.close()
                throw error
            }
        }
    }

    /// Deletes this resource's durable and creates it again to deliver from the message after `after`.
    private func createConsumer(_ client: NATSClient, after: UInt64) async throws {
        let deleted = try await self.api(client, "CONSUMER.DELETE.\(self.stream).\(self.durable)", "")
        if let error = deleted.error, error.code != 10014 {  // 10014: consumer not found
            throw self.failure(error, doing: "delete the durable consumer \(self.durable)")
        }
        var config: [(String, Value)] = [
            ("durable_name", .string(self.durable)), ("ack_policy", .string("explicit")),
            ("ack_wait", .int(Self.nanos(self.ackWait))), ("max_ack_pending", .int(Int64(self.maxAckPending))),
            ("replay_policy", .string("instant")), ("max_waiting", .int(16)),
        ]
        if after > 0 {
            config += [("deliver_policy", .string("by_start_sequence")), ("opt_start_seq", .int(Int64(after + 1)))]
        } else {
            config.append(("deliver_policy", .string("all")))
        }
        if let subject = self.subject { config.append(("filter_subject", .string(subject))) }
        let request = JSONWriter.string(
            .object(Record([("stream_name", .string(self.stream)), ("config", .object(Record(config)))])))
        let created = try await self.api(
            client, "CONSUMER.DURABLE.CREATE.\(self.stream).\(self.durable)", request)
        if let error = created.error {
            throw self.failure(error, doing: "create the durable consumer \(self.durable)")
        }
    }

    private struct APIError {
        var code: Int64
        var status: Int64
        var description: String
    }

    private func api(_ client: NATSClient, _ call: String, _ payload: String) async throws -> (
        reply: Value, error: APIError?
    ) {
        let answer = try await client.request("$JS.API." + call, payload)
        if answer.status == 503 {
            throw NATSError(
                "JetStream is not enabled on \(self.url) (start nats-server with -js, or enable it in its "
                    + "configuration)", permanent: true)
        }
        let reply = (try? JSONReader.parse(answer.text)) ?? .null
        guard case .object(let error)? = reply["error"] else { return (reply, nil) }
        return (
            reply,
            APIError(
                code: error["err_code"]?.intValue ?? 0, status: error["code"]?.intValue ?? 0,
                description: error["description"]?.stringValue ?? "\(reply)")
        )
    }

    private func failure(_ error: APIError, doing what: String) -> NATSError {
        if error.code == 10059 {  // stream not found
            return NATSError(
                "JetStream has no stream '\(self.stream)' on \(self.url): create it first (for example "
                    + "`nats stream add \(self.stream) --subjects '\(self.subject ?? "SUBJECT.>")'`)", permanent: true)
        }
        // 400: a configuration the server refuses (a bad filter subject, a name with dots); retrying won't help.
        return NATSError(
            "JetStream could not \(what): \(error.description) (error \(error.code))", permanent: error.status == 400)
    }

    /// The stream sequence in an acknowledgement subject: `$JS.ACK.STREAM.CONSUMER.DELIVERED.SSEQ.CSEQ.TIME.PENDING`,
    /// or the newer form with a domain and an account hash after `$JS.ACK`.
    static func streamSequence(_ reply: String) -> UInt64? {
        let tokens = reply.split(separator: ".", omittingEmptySubsequences: false)
        guard tokens.count >= 9, tokens[0] == "$JS", tokens[1] == "ACK" else { return nil }
        return UInt64(tokens[tokens.count == 9 ? 5 : 7])
    }

    static func nanos(_ duration: Duration) -> Int64 {
        duration.components.seconds * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000
    }

    /// Acknowledges every message handed on up to `position`, now that a commit covers them.
    public func committed(through position: Value) async {
        guard let through = position.intValue.map({ UInt64(max(0, $0)) }) else { return }
        let (replies, client) = self.state.withLock { state -> ([String], NATSClient?) in
            let done = state.unacknowledged.filter { $0.sequence <= through }.map(\.reply)
            state.unacknowledged.removeAll { $0.sequence <= through }
            return (done, state.client)
        }
        // Without a connection the acknowledgements are dropped: the next connect recreates the durable after
        // the committed position, so nothing is delivered twice for want of them.
        guard !replies.isEmpty, let client else { return }
        for chunk in stride(from: 0, to: replies.count, by: 10_000) {
            client.publish(replies[chunk..<min(replies.count, chunk + 10_000)].map { ($0, "+ACK") })
        }
    }

    /// Makes sure the last acknowledgements reached the server, then closes the connection.
    public func close() async {
        let client = self.state.withLock { state -> NATSClient? in
            defer { state.client = nil }
            return state.client
        }
        try? await client?.flush(timeout: .seconds(5))
        await client?.close()
    }
}
