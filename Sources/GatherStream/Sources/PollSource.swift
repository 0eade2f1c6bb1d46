import GatherCore
import GatherFormats
import GatherHTTP

/// An HTTP resource polled every `interval` through the ``Fetcher`` (its flow control, retries and politeness),
/// with conditional requests: `If-None-Match` from the last `ETag` and `If-Modified-Since` from the last
/// `Last-Modified`, so an unchanged resource costs a `304` and no parsing.
///
/// **New records.** The records are the body's list (or what `records`, a JSONPath, selects). What is new is told
/// by one of:
/// - `cursor`: a field that grows (an id, an `updated_at`): records at or below the newest committed value are
///   skipped, and the rest go out in cursor order. With `cursorParameter`, the request asks for
///   `?PARAMETER=NEWEST` so that the server sends only those.
/// - `primaryKey`: fields that name a record: records whose key was in the previous answer are skipped (the
///   keys of one answer are kept, so memory follows the answer's size).
/// - neither: every record of every changed answer.
///
/// **Position.** Each event carries the state after it: the cursor (or the keys seen so far), and on the last
/// record of an answer that answer's validators. A kill in the middle of an answer resumes with the previous
/// validators, so the same answer is fetched again and its remaining records go out; the cursor or the keys skip
/// those already committed.
public struct PollSource: StreamSource {
    public var url: String
    public var headers: [(name: String, value: String)]
    public var interval: Duration
    public var records: JSONPath?
    public var cursor: String?
    public var cursorParameter: String?
    public var primaryKey: [String]
    public var limits: FlowLimits

    public init(
        url: String, headers: [(name: String, value: String)] = [], interval: Duration = .seconds(10),
        records: JSONPath? = nil, cursor: String? = nil, cursorParameter: String? = nil, primaryKey: [String] = [],
        limits: FlowLimits = FlowLimits()
    ) {
        self.url = url
        self.headers = headers
        self.interval = interval
        self.records = records
        self.cursor = cursor
        self.cursorParameter = cursorParameter
        self.primaryKey = primaryKey
        self.limits = limits
    }

    public var description: String { "poll \(self.url)" }

    /// What a poll resumes from.
    struct State: Sendable, Equatable {
        var etag: String?
        var lastModified: String?
        var cursor: Value?
        var keys: [String] = []

        init(etag: String? = nil, lastModified: String? = nil, cursor: Value? = nil, keys: [String] = []) {
            self.etag = etag
            self.lastModified = lastModified
            self.cursor = cursor
            self.keys = keys
        }

        init(_ value: Value?) {
            guard case .object(let object)? = value else { return }
            self.etag = object["etag"]?.stringValue
            self.lastModified = object["last_modified"]?.stringValue
            self.cursor = object["cursor"].flatMap { $0 == .null ? nil : $0 }
            if case .array(let keys)? = object["keys"] { self.keys = keys.compactMap(\.stringValue) }
        }

        var value: Value {
            var fields: [(String, Value)] = []
            if let etag { fields.append(("etag", .string(etag))) }
            if let lastModified { fields.append(("last_modified", .string(lastModified))) }
            if let cursor { fields.append(("cursor", cursor)) }
            if !keys.isEmpty { fields.append(("keys", .array(keys.map(Value.string)))) }
            return .object(Record(fields))
        }
    }

    public func run(from position: Value?, into buffer: EventBuffer, status: SourceStatus) async throws {
        var configuration = Fetcher.Configuration()
        configuration.limits = self.limits
        var state = State(position)
        try await Fetcher.withFetcher(configuration: configuration) { fetcher in
            while !Task.isCancelled {
                let started = ContinuousClock.now
                let result = await fetcher.fetch(
                    FetchRequest(url: self.requestURL(state), headers: self.headers(state)))
                if let response = result.response, result.error == nil {
                    status.connected()
                    if response.status != 304 {
                        switch self.events(from: response, after: state) {
                        case .success(let (events, next)):
                            if !events.isEmpty {
                                guard await buffer.send(events) else { return }
                            }
                            state = next
                        case .failure(let error):
                            // An answer that is not what was configured: reported, and polled again later.
                            status.disconnected("\(error)")
                        }
                    }
                } else {
                    status.disconnected(result.error.map { "\($0)" } ?? "no answer")
                }
                do {
                    try await Task.sleep(until: started + self.interval)
                } catch {
                    return
                }
            }
        }
    }

    func requestURL(_ state: State) -> String {
        guard let parameter = self.cursorParameter, let cursor = state.cursor else { return self.url }
        let text =
            switch cursor {
            case .string(let text): text
            default: JSONWriter.string(cursor)
            }
        return URLEncoding.setting(parameter, to: text, in: self.url)
    }

    func headers(_ state: State) -> [(name: String, value: String)] {
        var headers = self.headers
        if let etag = state.etag { headers.append((name: "If-None-Match", value: etag)) }
        if let lastModified = state.lastModified { headers.append((name: "If-Modified-Since", value: lastModified)) }
        return headers
    }

    /// The new records of an answer as events, each with the state after it, and the state after the answer.
    func events(from response: FetchResponse, after state: State) -> Result<([SourceEvent], State), StreamSourceError> {
        let body: Value
        do {
            body = try JSONReader.parse(Array(response.body.readableBytesView))
        } catch {
            return .failure(
                StreamSourceError("\(self.url) answered \(response.status) with a body that is not JSON: \(error)"))
        }
        var found: [Value]
        if let path = self.records {
            found = path.select(in: body)
        } else if case .array(let items) = body {
            found = items
        } else {
            found = [body]
        }
        var next = state
        next.etag = response.header("ETag") ?? state.etag
        next.lastModified = response.header("Last-Modified") ?? state.lastModified
        var after = state
        var events: [SourceEvent] = []
        if let field = self.cursor {
            var keyed: [(Value, Value)] = []
            for record in found {
                guard case .object(let object) = record, let value = object[field], value != .null else {
                    // Without a cursor it cannot be told from what went out before: it goes out with every
                    // changed answer (at least once, never dropped).
                    events.append(SourceEvent(payload: JSONWriter.string(record), position: nil))
                    continue
                }
                if let newest = state.cursor, !Self.isAfter(value, newest) { continue }
                keyed.append((value, record))
            }
            keyed.sort { Self.isAfter($1.0, $0.0) }
            for (value, record) in keyed {
                after.cursor = value
                events.append(SourceEvent(payload: JSONWriter.string(record), position: after.value))
            }
            next.cursor = after.cursor
        } else if !self.primaryKey.isEmpty {
            let previous = Set(state.keys)
            var keys: [String] = []
            for record in found {
                let key = self.primaryKey.map { field -> String in
                    if case .object(let object) = record, let value = object[field] {
                        JSONWriter.string(value)
                    } else {
                        "null"
                    }
                }.joined(separator: "|")
                keys.append(key)
                guard !previous.contains(key) else { continue }
                after.keys = state.keys + keys
                events.append(SourceEvent(payload: JSONWriter.string(record), position: after.value))
            }
            next.keys = keys
        } else {
            events = found.map { SourceEvent(payload: JSONWriter.string($0), position: nil) }
        }
        if events.isEmpty {
            return .success(([], next))
        }
        // The answer's validators go with its last record only: a kill before that fetches the answer again.
        events[events.count - 1].position = next.value
        return .success((events, next))
    }

    /// `true` when `value` comes after `other`: numbers by value, text by its characters.
    static func isAfter(_ value: Value, _ other: Value) -> Bool {
        switch (value, other) {
        case (.int(let a), .int(let b)): return a > b
        case (.int, .double), (.double, .int), (.double, .double):
            return (value.doubleValue ?? 0) > (other.doubleValue ?? 0)
        case (.string(let a), .string(let b)): return a > b
        default: return JSONWriter.string(value) > JSONWriter.string(other)
        }
    }
}
