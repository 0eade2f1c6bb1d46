import GatherServer
import Hummingbird
import HummingbirdCore
import HummingbirdWebSocket
import NIOCore
import Synchronization

/// A server-sent-events feed of sensor readings for stream tests, on `127.0.0.1:0`, with the faults real feeds
/// have. `GET /events` sends events `1…count` (`id: N`), starting after the request's `Last-Event-ID`.
///
/// Event N is a function of the seed and N alone, so a resumed feed continues exactly where it stopped:
/// `{"sensor_id":"s7","ts":EPOCH_MS,"temp":21.5,"seq":N}`, with `ts` spaced `microsPerEvent` apart from
/// 2026-01-01T00:00:00Z and moved back by up to `jitter` ms (out of order). Faults, each optional:
/// - `dropEvery`: the connection is closed after that many events (the client must reconnect and resume);
/// - `duplicateEvery`: every so many events, the previous event is sent again with its id;
/// - `malformedEvery`: every so many events, the data is not JSON (an error row, and the stream goes on);
/// - `stallAt`: before that event the feed goes silent for `stallFor` (once per connection that reaches it).
/// After the last event the connection stays open with a `: idle` comment every 200 ms.
///
/// The same events for polling at `GET /readings?since=N` (``pollURL``): a JSON list of the events after N that
/// have been released so far (`rate` a second from the server's start, all at once without a rate), at most
/// `batch` per answer, with an `ETag`; `If-None-Match` with the current one gets `304`. Without `since`, from the
/// first event.
///
/// The same feed over WebSocket at `ws://…/ws` (``webSocketURL``): one text message per event (a duplicate is the
/// previous event again), starting after `?since=N`. With `subscribe` set, nothing is sent until the client
/// sends a message containing it. A drop is a close with code 1011; a stall is silence (pings are still
/// answered); after the last event the connection stays open and silent.
public struct SensorStream: Sendable {
    public struct Configuration: Sendable {
        public var count: Int
        public var keys: Int
        public var seed: UInt64
        /// Event time between events, in microseconds.
        public var microsPerEvent: Int64
        public var jitter: Int64
        /// Events per write (one chunk).
        public var batch: Int
        /// Events per second; `nil`: as fast as the client reads.
        public var rate: Double?
        public var dropEvery: Int?
        public var duplicateEvery: Int?
        public var malformedEvery: Int?
        public var stallAt: Int?
        public var stallFor: Duration
        /// Send `retry: N` (ms) at the start of each connection.
        public var retry: Int?
        /// WebSocket: wait for a client message containing this before sending.
        public var subscribe: String?

        public init(
            count: Int = 10_000, keys: Int = 20, seed: UInt64 = 42, microsPerEvent: Int64 = 100_000,
            jitter: Int64 = 5_000, batch: Int = 100, rate: Double? = nil, dropEvery: Int? = nil,
            duplicateEvery: Int? = nil, malformedEvery: Int? = nil, stallAt: Int? = nil,
            stallFor: Duration = .seconds(1), retry: Int? = 50, subscribe: String? = nil
        ) {
            self.count = count
            self.keys = keys
            self.seed = seed
            self.microsPerEvent = microsPerEvent
            self.jitter = jitter
            self.batch = batch
            self.rate = rate
            self.dropEvery = dropEvery
            self.duplicateEvery = duplicateEvery
            self.malformedEvery = malformedEvery
            self.stallAt = stallAt
            self.stallFor = stallFor
            self.retry = retry
            self.subscribe = subscribe
        }
    }

    public let port: Int
    public let configuration: Configuration
    public let stats: SensorStreamStats

    public var url: String { "http://127.0.0.1:\(self.port)/events" }
    public var webSocketURL: String { "ws://127.0.0.1:\(self.port)/ws" }
    public var pollURL: String { "http://127.0.0.1:\(self.port)/readings" }

    /// 2026-01-01T00:00:00Z.
    public static let origin: Int64 = 1_767_225_600_000

    /// Event `n`'s data (1-based).
    public static func event(_ n: Int, _ configuration: Configuration) -> String {
        if let every = configuration.malformedEvery, n % every == 0 { return "{\"sensor_id\": oops \(n)" }
        var state = configuration.seed &+ UInt64(n) &* 0x9E37_79B9_7F4A_7C15
        func next() -> UInt64 {
            state = state &+ 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        let sensor = next() % UInt64(max(1, configuration.keys))
        let jitter = configuration.jitter > 0 ? Int64(next() % UInt64(configuration.jitter + 1)) : 0
        let ts = Self.origin + Int64(n) * configuration.microsPerEvent / 1000 - jitter
        let temp = Double(next() % 1000) / 10
        return "{\"sensor_id\":\"s\(sensor)\",\"ts\":\(ts),\"temp\":\(temp),\"seq\":\(n)}"
    }

    /// Starts the feed, runs `body`, and stops the server however `body` ends.
    public static func withServer<T: Sendable>(
        _ configuration: Configuration = .init(), _ body: (SensorStream) async throws -> T
    ) async throws -> T {
        let stats = SensorStreamStats()
        let router = Router()
        router.get("/events") { request, _ in
            let after = request.headers[.init("Last-Event-ID")!].flatMap { Int($0) } ?? 0
            stats.connected(lastEventID: request.headers[.init("Last-Event-ID")!])
            return Response(
                status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"],
                body: ResponseBody { writer in
                    try await Self.send(after: after, configuration, stats: stats, to: &writer)
                })
        }
        let started = ContinuousClock.now
        router.get("/readings") { request, _ -> Response in
            let released =
                configuration.rate.map { rate in
                    min(configuration.count, Int(started.duration(to: .now).seconds * rate))
                } ?? configuration.count
            let since = request.uri.queryParameters.get("since").flatMap { Int($0) }
            let from = (since ?? 0) + 1
            let upto = min(released, from + configuration.batch - 1)
            let etag = "\"\(from)-\(upto)\""
            if request.headers[.ifNoneMatch] == etag {
                stats.polled(notModified: true)
                return Response(status: .notModified, headers: [.eTag: etag])
            }
            stats.polled(notModified: false)
            let items = from <= upto ? (from...upto).map { Self.event($0, configuration) } : []
            return Response(
                status: .ok, headers: [.contentType: "application/json", .eTag: etag],
                body: ResponseBody(byteBuffer: ByteBuffer(string: "[" + items.joined(separator: ",") + "]")))
        }
        let server = HTTPServerBuilder.http1WebSocketUpgrade { request, _, _ in
            guard let path = request.path, path == "/ws" || path.hasPrefix("/ws?") else { return .dontUpgrade }
            let since = path.split(separator: "?").dropFirst().first?.split(separator: "&")
                .first { $0.hasPrefix("since=") }.flatMap { Int($0.dropFirst(6)) }
            stats.connected(lastEventID: since.map(String.init))
            return .upgrade([:]) { inbound, outbound, _ in
                try await Self.send(after: since ?? 0, configuration, stats: stats, inbound: inbound, to: outbound)
            }
        }
        return try await HTTPServer.run(router: router, server: server, name: "sensor-stream") { port in
            try await body(SensorStream(port: port, configuration: configuration, stats: stats))
        }
    }

    private static func send(
        after: Int, _ configuration: Configuration, stats: SensorStreamStats, to writer: inout any ResponseBodyWriter
    ) async throws {
        if let retry = configuration.retry { try await writer.write(ByteBuffer(string: "retry: \(retry)\n\n")) }
        var n = after + 1
        var sentHere = 0
        let started = ContinuousClock.now
        while n <= configuration.count {
            var text = ""
            var inChunk = 0
            while n <= configuration.count, inChunk < configuration.batch {
                if let stall = configuration.stallAt, n == stall, inChunk > 0 { break }
                if let stall = configuration.stallAt, n == stall, stats.stall() {
                    try await Task.sleep(for: configuration.stallFor)
                }
                text += "id: \(n)\ndata: \(Self.event(n, configuration))\n\n"
                if let every = configuration.duplicateEvery, n % every == 0, n > 1 {
                    text += "id: \(n - 1)\ndata: \(Self.event(n - 1, configuration))\n\n"
                }
                n += 1
                inChunk += 1
                sentHere += 1
                if let drop = configuration.dropEvery, sentHere % drop == 0 { break }
            }
            try await writer.write(ByteBuffer(string: text))
            stats.sent(inChunk)
            if let drop = configuration.dropEvery, sentHere % drop == 0, n <= configuration.count {
                // Cut the connection without a proper end: the client must reconnect with Last-Event-ID.
                throw CancellationError()
            }
            if let rate = configuration.rate {
                let due = started.advanced(by: .seconds(Double(sentHere) / rate))
                if due > .now { try await Task.sleep(until: due) }
            }
        }
        while true {
            try await Task.sleep(for: .milliseconds(200))
            try await writer.write(ByteBuffer(string: ": idle\n\n"))
        }
    }
}

extension SensorStream {
    /// The WebSocket side: one message per event, a close with 1011 as a drop.
    fileprivate static func send(
        after: Int, _ configuration: Configuration, stats: SensorStreamStats, inbound: WebSocketInboundStream,
        to outbound: WebSocketOutboundWriter
    ) async throws {
        // One iterator for the connection's life: the stream can be iterated once.
        var messages = inbound.messages(maxSize: 1 << 16).makeAsyncIterator()
        if let subscribe = configuration.subscribe {
            while true {
                guard let message = try await messages.next() else { return }
                if case .text(let text) = message, text.contains(subscribe) {
                    stats.subscribed()
                    break
                }
            }
        }
        var n = after + 1
        var sentHere = 0
        let started = ContinuousClock.now
        while n <= configuration.count {
            if let stall = configuration.stallAt, n == stall, stats.stall() {
                try await Task.sleep(for: configuration.stallFor)
            }
            try await outbound.write(.text(Self.event(n, configuration)))
            if let every = configuration.duplicateEvery, n % every == 0, n > 1 {
                try await outbound.write(.text(Self.event(n - 1, configuration)))
            }
            stats.sent(1)
            n += 1
            sentHere += 1
            if let drop = configuration.dropEvery, sentHere % drop == 0, n <= configuration.count {
                try await outbound.close(.unexpectedServerError, reason: "dropped on purpose")
                return
            }
            if let rate = configuration.rate {
                let due = started.advanced(by: .seconds(Double(sentHere) / rate))
                if due > .now { try await Task.sleep(until: due) }
            }
        }
        // Stay open, silent, until the client goes.
        while try await messages.next() != nil {}
    }
}

/// What a ``SensorStream`` saw.
public final class SensorStreamStats: Sendable {
    private struct State {
        var connections = 0
        var lastEventIDs: [String?] = []
        var sent = 0
        var stalled = false
        var subscriptions = 0
        var polls = 0
        var notModified = 0
    }
    private let state = Mutex(State())

    func connected(lastEventID: String?) {
        self.state.withLock {
            $0.connections += 1
            $0.lastEventIDs.append(lastEventID)
        }
    }

    func sent(_ n: Int) { self.state.withLock { $0.sent += n } }

    func subscribed() { self.state.withLock { $0.subscriptions += 1 } }

    func polled(notModified: Bool) {
        self.state.withLock {
            $0.polls += 1
            if notModified { $0.notModified += 1 }
        }
    }

    /// `true` the first time: the feed stalls once.
    func stall() -> Bool {
        self.state.withLock { state in
            defer { state.stalled = true }
            return !state.stalled
        }
    }

    public var connections: Int { self.state.withLock { $0.connections } }
    /// The `Last-Event-ID` (SSE) or `since` (WebSocket) of each connection, in order (`nil` for none).
    public var lastEventIDs: [String?] { self.state.withLock { $0.lastEventIDs } }
    public var eventsSent: Int { self.state.withLock { $0.sent } }
    /// WebSocket connections that sent the subscribe message.
    public var subscriptions: Int { self.state.withLock { $0.subscriptions } }
    /// Requests to `/readings`, and those answered `304`.
    public var polls: Int { self.state.withLock { $0.polls } }
    public var notModified: Int { self.state.withLock { $0.notModified } }
}
