import AsyncHTTPClient
import GatherCore
import NIOCore
import NIOHTTP1

/// Server-sent events over HTTP: one long GET, reopened after every drop with `Last-Event-ID` (from the
/// committed position after a restart), after the server's `retry:` time or an exponential backoff with full
/// jitter, whichever is longer.
///
/// The position is the event id. Exactly-once over SSE needs a server that honours `Last-Event-ID`; one that
/// does not replays or skips, and the reconnect count in the summary says that it happened. Integer ids that
/// do not increase (a server resending what it sent) are dropped as duplicates and counted.
///
/// Deviation from browsers: a non-200 answer or a wrong content type is retried with backoff instead of giving
/// up, because a data pipeline should outlast a server restart.
public struct SSESource: StreamSource {
    public var url: String
    public var headers: [(name: String, value: String)]
    /// Only these `event:` types (default: all).
    public var eventTypes: Set<String>?
    /// A connection with no bytes at all (events or comments) for this long is dropped and reopened.
    public var idleTimeout: Duration
    public var connectTimeout: Duration

    public init(
        url: String, headers: [(name: String, value: String)] = [], eventTypes: Set<String>? = nil,
        idleTimeout: Duration = .seconds(60), connectTimeout: Duration = .seconds(10)
    ) {
        self.url = url
        self.headers = headers
        self.eventTypes = eventTypes
        self.idleTimeout = idleTimeout
        self.connectTimeout = connectTimeout
    }

    public var description: String { "sse \(self.url)" }

    public func run(from position: Value?, into buffer: EventBuffer, status: SourceStatus) async throws {
        var configuration = HTTPClient.Configuration()
        configuration.tracing.tracer = nil
        configuration.redirectConfiguration = .follow(max: 5, allowCycles: false)
        configuration.timeout = .init(connect: TimeAmount(self.connectTimeout), read: TimeAmount(self.idleTimeout))
        configuration.decompression = .enabled(limit: .none)
        let client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
        do {
            try await self.read(client: client, from: position?.stringValue, into: buffer, status: status)
        } catch {
            try? await client.shutdown()
            throw error
        }
        try? await client.shutdown()
    }

    private func read(client: HTTPClient, from saved: String?, into buffer: EventBuffer, status: SourceStatus)
        async throws
    {
        var lastID = saved
        var newestNumeric = saved.flatMap { Int64($0) }
        var retryFloor: Duration?
        try await ReconnectBackoff.reconnecting(status: status, floor: { retryFloor }) { attempt in
            var request = HTTPClientRequest(url: self.url)
            request.headers.add(name: "Accept", value: "text/event-stream")
            request.headers.add(name: "Cache-Control", value: "no-cache")
            for header in self.headers { request.headers.add(name: header.name, value: header.value) }
            if let lastID, !lastID.isEmpty { request.headers.add(name: "Last-Event-ID", value: lastID) }
            let response = try await client.execute(request, timeout: TimeAmount(self.connectTimeout))
            guard response.status == .ok else {
                throw StreamSourceError("\(self.url) answered \(response.status.code) \(response.status.reasonPhrase)")
            }
            let type = response.headers.first(name: "Content-Type") ?? ""
            guard type.lowercased().hasPrefix("text/event-stream") else {
                throw StreamSourceError("\(self.url) answered with Content-Type '\(type)', not text/event-stream")
            }
            status.connected()
            var parser = SSEParser(lastEventID: lastID)
            for try await chunk in response.body {
                let events = parser.feed(chunk.readableBytesView)
                if let retry = parser.retry { retryFloor = .milliseconds(retry) }
                lastID = parser.lastEventID
                guard !events.isEmpty else { continue }
                let now = Timestamp.epochMillis()
                var out: [SourceEvent] = []
                out.reserveCapacity(events.count)
                for event in events {
                    if let types = self.eventTypes, !types.contains(event.type) { continue }
                    // Only an event's own id says it was sent before; one without an id shares the last one.
                    if event.hasOwnID, let id = event.id, let numeric = Int64(id) {
                        if let newest = newestNumeric, numeric <= newest {
                            status.duplicate()
                            continue
                        }
                        newestNumeric = numeric
                    }
                    out.append(SourceEvent(payload: event.data, position: event.id.map(Value.string), arrival: now))
                }
                if !out.isEmpty {
                    attempt.delivered()
                    guard await buffer.send(out) else {
                        attempt.stop()
                        return nil
                    }
                }
            }
            return nil
        }
    }
}
