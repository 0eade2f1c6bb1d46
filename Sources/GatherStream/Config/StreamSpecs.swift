public import GatherConfig
import GatherCore
import GatherPostgres

/// The YAML of a stream resource: `stream` (the source), `event_time`, `watermark` and `window`; each spec here
/// holds its keys, its defaults and its parser.
public enum StreamSpecs {
    static let commitFields: [FieldSpec] = [
        FieldSpec(
            "commit_every", .int, default: "100000",
            description: "Commit after this many events (rows, window state and position in one transaction)."),
        FieldSpec(
            "commit_interval", .duration, default: "500ms",
            description: "…or this long after the first uncommitted event, whichever comes first."),
    ]

    public static let sse = ComponentSpec(
        name: "sse", kind: "stream",
        summary: "Server-sent events: one long GET, reopened after every drop with `Last-Event-ID` (the committed "
            + "id after a restart) after the server's `retry:` time or an exponential backoff with full jitter. "
            + "Each event's data is one JSON record.",
        fields: [
            FieldSpec(
                "url", .string, required: true, description: "The event stream.",
                example: "http://127.0.0.1:9000/events"),
            FieldSpec(
                "headers", .map(.string), description: "Request headers.",
                example: "{ Authorization: \"Bearer ${TOKEN}\" }"),
            FieldSpec(
                "events", .stringOrList(.string),
                description: "Only these `event:` types (default: every event; untyped events are `message`).",
                synonyms: ["event", "event_types"]),
            FieldSpec(
                "idle_timeout", .duration, default: "60s",
                description: "A connection with no bytes at all (events or comment heartbeats) this long is reopened."),
        ] + commitFields,
        examples: ["stream: { type: sse, url: \"http://127.0.0.1:9000/events\" }"])

    public static let websocket = ComponentSpec(
        name: "websocket", kind: "stream",
        summary: "A WebSocket feed: `subscribe` messages after every connect, a ping every `ping_interval` (a "
            + "connection whose pong is late is reopened), reconnects with an exponential backoff and full jitter. "
            + "With `sequence` (an increasing integer field of each message) duplicates are dropped and the "
            + "position is committed; with `resume` too, every reconnect asks for what follows it (`?resume=LAST`, "
            + "or `{position}` in a subscribe message), which makes the feed exact across drops and restarts. "
            + "Without a sequence, what is sent while disconnected is lost. Text or binary messages, each one "
            + "JSON record.",
        fields: [
            FieldSpec(
                "url", .string, required: true, description: "The feed, `ws://` or `wss://`.",
                example: "ws://127.0.0.1:9000/ws"),
            FieldSpec(
                "headers", .map(.string), description: "Headers of the opening request.",
                example: "{ Authorization: \"Bearer ${TOKEN}\" }"),
            FieldSpec(
                "subscribe", .any,
                description: "Messages sent after every connect: a string, an object (sent as JSON), or a list of "
                    + "them. `{position}` is replaced by the newest sequence number seen (empty at the start).",
                example: "{ op: subscribe, channel: readings }"),
            FieldSpec(
                "sequence", .string,
                description: "The message field holding an increasing integer: the position, and what duplicates are "
                    + "told by.", example: "seq", synonyms: ["sequence_field"]),
            FieldSpec(
                "resume", .string,
                description: "The query parameter that asks the server for the messages after a sequence number.",
                example: "since", synonyms: ["resume_param"]),
            FieldSpec(
                "ping_interval", .duration, default: "15s",
                description: "How often a ping is sent; a pong that has not come back by the next ping closes the "
                    + "connection, which is then reopened."),
            FieldSpec(
                "max_message", .byteCount, default: "16MiB",
                description: "The largest message; a larger one closes the connection (code 1009) and is reported."),
        ] + commitFields,
        examples: [
            "stream: { type: websocket, url: \"ws://127.0.0.1:9000/ws\", sequence: seq, resume: since }"
        ])

    public static let poll = ComponentSpec(
        name: "poll", kind: "stream",
        summary: "An HTTP resource fetched every `interval` through the fetcher (flow control, retries), with "
            + "`If-None-Match`/`If-Modified-Since` from the last answer, so an unchanged resource costs a 304. New "
            + "records are told by `cursor` (a growing field; with `cursor_param` the request asks for what follows "
            + "it) or by `primary_key` (records of the previous answer are skipped); with neither, every record of "
            + "every changed answer goes out. The cursor or keys and the validators are committed with the rows.",
        fields: [
            FieldSpec(
                "url", .string, required: true, description: "The resource.",
                example: "http://127.0.0.1:9000/readings"),
            FieldSpec("headers", .map(.string), description: "Request headers."),
            FieldSpec("interval", .duration, default: "10s", description: "Time from one poll's start to the next."),
            FieldSpec(
                "records", .jsonPath,
                description: "Where the records are in the answer (default: the answer's list, or the answer).",
                example: "$.data[*]"),
            FieldSpec(
                "cursor", .string, description: "A field that grows with every new record (an id, an updated_at).",
                example: "id"),
            FieldSpec(
                "cursor_param", .string,
                description: "The query parameter set to the newest committed cursor value on every request.",
                example: "since", synonyms: ["param"]),
            FieldSpec(
                "primary_key", .stringOrList(.string),
                description: "Fields naming a record: records of the previous answer are not sent again."),
            FieldSpec("rate", .rate, description: "At most this many requests to the host (for example 1/s)."),
        ] + commitFields,
        examples: ["stream: { type: poll, url: \"http://127.0.0.1:9000/items\", interval: 5s, cursor: id }"])

    public static let postgresNotify = ComponentSpec(
        name: "postgres_notify", kind: "stream",
        summary: "Rows of a PostgreSQL outbox table as they are written: LISTEN on `channel` wakes the reader, and "
            + "a catch-up query reads the table after the committed `cursor` on every (re)connect, after every "
            + "notification and at least every `catch_up_interval`. The table is the source and the notification "
            + "only a bell (NOTIFY reaches nobody who is disconnected, and its payload stops at 8,000 bytes), so "
            + "the feed is exact across drops and kills. Each row is one record (`row_to_json`).",
        fields: [
            FieldSpec(
                "url", .string, required: true, description: "The database (`PGPASSWORD` and ~/.pgpass work too).",
                example: "postgres://gather@127.0.0.1:5432/app"),
            FieldSpec(
                "channel", .string, required: true, description: "The channel to LISTEN on.", example: "readings"),
            FieldSpec(
                "table", .string, required: true, description: "The outbox table (`schema.table` works).",
                example: "readings_outbox", synonyms: ["outbox"]),
            FieldSpec(
                "cursor", .string, default: "id",
                description: "A column that grows with every row (an identity column or a sequence)."),
            FieldSpec("batch", .int, default: "1000", description: "Rows per catch-up query."),
            FieldSpec(
                "catch_up_interval", .duration, default: "5s",
                description: "The longest time between catch-up queries when no notification comes."),
        ] + commitFields,
        examples: [
            "stream: { type: postgres_notify, url: \"postgres://127.0.0.1/app\", channel: readings, table: outbox }"
        ])

    public static let tail = ComponentSpec(
        name: "tail", kind: "stream",
        summary: "A growing file of JSON lines, read as it grows: rotation (rename and create) and truncation are "
            + "followed, and the position (inode and offset) is committed with the rows.",
        fields: [
            FieldSpec(
                "path", .string, required: true, description: "The file, relative to the pipeline file.",
                example: "logs/readings.jsonl", synonyms: ["file"]),
            FieldSpec(
                "poll_interval", .duration, default: "100ms",
                description: "How often the file is checked for growth when there is nothing to read."),
        ] + commitFields,
        examples: ["stream: { type: tail, path: logs/readings.jsonl }"])

    public static let redis = ComponentSpec(
        name: "redis", kind: "stream",
        summary: "A Redis stream read through a consumer group (XREADGROUP); entries are acknowledged (XACK) only "
            + "after the commit that covers them, and a restart first settles its own pending entries. The group "
            + "is created from the stream's start if it is missing. Consumers sharing a group claim each other's "
            + "entries pending longer than `claim_idle` (a consumer that died): exact for each consumer, at least "
            + "once across them.",
        fields: [
            FieldSpec("url", .string, default: "redis://127.0.0.1:6379", description: "The server."),
            FieldSpec(
                "stream", .string, required: true, description: "The stream's key.", example: "readings",
                synonyms: ["key"]),
            FieldSpec("group", .string, default: "gather", description: "The consumer group."),
            FieldSpec(
                "consumer", .string,
                description: "This consumer's name; keep it the same across restarts (default: gather-RESOURCE)."),
            FieldSpec(
                "field", .string,
                description: "The entry field holding a JSON record (default: the entry's fields as an object)."),
            FieldSpec("count", .int, default: "1000", description: "Entries per read."),
            FieldSpec("block", .duration, default: "500ms", description: "How long one read waits for new entries."),
            FieldSpec(
                "claim_idle", .duration, default: "60s",
                description: "Entries another consumer of the group has held pending this long are claimed "
                    + "(XPENDING, XCLAIM) and processed here; `0s`: never claim. Keep it above the longest commit "
                    + "pause, or a slow consumer's entries are taken from it."),
        ] + commitFields,
        examples: ["stream: { type: redis, url: \"redis://127.0.0.1:6379\", stream: readings, group: gather }"])

    public static let nats = ComponentSpec(
        name: "nats", kind: "stream",
        summary: "A NATS JetStream stream read through a durable pull consumer; each message is acknowledged only "
            + "after the commit that covers it. On every (re)connect the durable is created again to deliver from "
            + "the message after the committed stream sequence, so a restart neither skips nor repeats a message. "
            + "The durable belongs to this resource; use a stream with `limits` or `workqueue` retention.",
        fields: [
            FieldSpec(
                "url", .string, default: "nats://127.0.0.1:4222",
                description: "The server (`nats://USER:PASSWORD@HOST:PORT` or `nats://TOKEN@HOST:PORT` to log in)."),
            FieldSpec(
                "stream", .string, required: true, description: "The JetStream stream; it must exist.",
                example: "READINGS"),
            FieldSpec(
                "subject", .string, description: "Only messages of these subjects (default: all of the stream's).",
                example: "readings.>", synonyms: ["filter_subject"]),
            FieldSpec(
                "durable", .string, description: "The durable consumer's name (default: gather-RESOURCE).",
                synonyms: ["consumer"]),
            FieldSpec("batch", .int, default: "1000", description: "Messages per pull."),
            FieldSpec(
                "expires", .duration, default: "500ms",
                description: "How long a pull waits for a message when the stream has none."),
            FieldSpec(
                "ack_wait", .duration, default: "60s",
                description: "How long the server waits for an acknowledgement before it delivers a message again."),
            FieldSpec(
                "max_ack_pending", .int, default: "200000",
                description: "Messages delivered and not yet acknowledged before the server pauses delivery; keep "
                    + "it above `commit_every`."),
        ] + commitFields,
        examples: [
            "stream: { type: nats, url: \"nats://127.0.0.1:4222\", stream: READINGS, subject: \"readings.>\" }"
        ])

    public static let sources = [sse, websocket, poll, postgresNotify, tail, redis, nats]

    public static let sliding = ComponentSpec(
        name: "sliding", kind: "window",
        summary: "Windows of `size` starting every `every`: an event is in size / every of them.",
        fields: [
            FieldSpec("size", .duration, required: true, description: "Each window's length.", example: "5m"),
            FieldSpec(
                "every", .duration, required: true, description: "How far apart windows start.", example: "1m",
                synonyms: ["slide", "step"]),
        ])

    public static let session = ComponentSpec(
        name: "session", kind: "window",
        summary: "A key's events closer than `gap` to each other form one window, ending `gap` after its last event.",
        fields: [
            FieldSpec(
                "gap", .duration, required: true, description: "The quiet time that ends a session.", example: "30s")
        ])

    public static let late = ComponentSpec(
        name: "late", kind: "window",
        summary: "What happens to events behind the watermark: within `allowed`, they update their window's row; "
            + "later, they go to the `to` table with the reason. Never dropped silently.",
        fields: [
            FieldSpec(
                "allowed", .duration, default: "0s", description: "How long after its end a window still takes events."),
            FieldSpec(
                "to", .string, description: "The table for events too late (default: TABLE_late).", synonyms: ["table"]),
        ])

    public static let window = ComponentSpec(
        name: "window", kind: "window",
        summary: "Event-time windows per key, each written as one row (key fields, `window_start`, `window_end`, the "
            + "aggregates) when the watermark passes its end, merged on (key, window_start). Aggregates: count(), "
            + "count(f), sum, min, max, avg, first, last (by event time), count_distinct (exact), and "
            + "quantile(f, q) (a t-digest: about 1 % rank error in the middle, far less in the tails).",
        fields: [
            FieldSpec(
                "tumbling", .duration, description: "Back-to-back windows of this length, aligned to the epoch.",
                example: "1m"),
            FieldSpec("sliding", .object(sliding), description: "Overlapping windows."),
            FieldSpec("session", .object(session), description: "Windows separated by quiet gaps."),
            FieldSpec(
                "key", .stringOrList(.string), description: "The key fields (default: one window for all events).",
                example: "sensor_id", synonyms: ["keys", "group_by"]),
            FieldSpec(
                "aggregate", .map(.any), required: true, description: "Output column → function(field).",
                example: "{ n: count(), avg_temp: avg(temp), p95: quantile(temp, 0.95) }",
                synonyms: ["aggregates", "agg"]),
            FieldSpec("late", .object(late), description: "Allowed lateness and the side table."),
        ],
        examples: [
            """
            window:
              tumbling: 1m
              key: sensor_id
              aggregate: { n: count(), avg_temp: avg(temp), max_temp: max(temp) }
              late: { allowed: 1m, to: readings_late }
            """
        ])

    public static let watermark = ComponentSpec(
        name: "watermark", kind: "window",
        summary: "Event-time progress: the newest event time minus `max_delay` (bounded out-of-orderness). A "
            + "window closes when the watermark passes its end.",
        fields: [
            FieldSpec(
                "max_delay", .duration, default: "0s", description: "How far out of order events may come.",
                synonyms: ["delay", "out_of_orderness"]),
            FieldSpec(
                "idle", .duration,
                description: "After this long without events the watermark follows the wall clock, so a quiet "
                    + "stream's last windows close (default: never; results then depend on timing). With "
                    + "`partition`, a partition this long without events stops holding the others back."),
            FieldSpec(
                "partition", .string,
                description: "A field naming each event's partition (a gateway, a shard, a region): each "
                    + "partition keeps its own newest time and the watermark is the minimum over them, so a "
                    + "partition that lags holds the windows open instead of making its events late. At most "
                    + "10,000 partitions; an event without the field is an error row. A partition counts from "
                    + "its first event: one that first appears behind the watermark finds those events late.",
                example: "gateway", synonyms: ["partition_by"]),
        ])

    /// The keys a resource gains for streams.
    public static let resourceFields: [FieldSpec] = [
        FieldSpec(
            "stream", .oneOf(discriminator: "type", sources),
            description:
                "A live source instead of an endpoint: `sse`, `websocket`, `poll`, `postgres_notify`, `tail`, "
                + "`redis` or `nats`. Runs until Ctrl-C / SIGTERM (exit "
                + "130) or `--idle-exit`."),
        FieldSpec(
            "event_time", .string,
            description: "The field with each event's time: RFC 3339 text, or epoch seconds or milliseconds "
                + "(default: arrival time, which makes windows depend on timing).",
            example: "ts", synonyms: ["timestamp"]),
        FieldSpec("watermark", .object(watermark), description: "Bounded out-of-orderness."),
        FieldSpec("window", .object(window), description: "Aggregate events into windows instead of storing them."),
    ]

    public static let all = sources + [window, sliding, session, late, watermark]
}

/// A stream resource as the pipeline file describes it.
public struct StreamDefinition: Sendable {
    public var source: any StreamSource
    public var eventTime: EventTime
    public var maxDelay: Int64
    public var idle: Int64?
    public var partition: String?
    public var window: WindowSpec?
    public var lateTable: String?
    public var commitEvents: Int
    public var commitInterval: Duration

    /// The stream described by a resource's `stream`, `event_time`, `watermark` and `window` keys; `nil` (with
    /// errors added) when they do not describe one. Paths are relative to `directory`.
    public init?(resource object: ConfigObject, directory: String, errors: inout [ConfigError]) {
        guard let (type, settings) = object.variant("stream") else { return nil }
        switch type {
        case "sse":
            let events = settings.strings("events")
            self.source = SSESource(
                url: settings.string("url") ?? "", headers: settings.stringMap("headers").map { ($0.key, $0.value) },
                eventTypes: events.isEmpty ? nil : Set(events),
                idleTimeout: settings.duration(defaulted: "idle_timeout"))
        case "websocket":
            self.source = WebSocketSource(
                url: settings.string("url") ?? "", headers: settings.stringMap("headers").map { ($0.key, $0.value) },
                subscribe: Self.messages(settings.value("subscribe")?.value), sequence: settings.string("sequence"),
                resumeParameter: settings.string("resume"),
                pingInterval: settings.duration(defaulted: "ping_interval"),
                maxMessage: settings.byteCount(defaulted: "max_message"))
        case "poll":
            var limits = FlowLimits()
            limits.rate = settings.rate("rate")
            self.source = PollSource(
                url: settings.string("url") ?? "", headers: settings.stringMap("headers").map { ($0.key, $0.value) },
                interval: settings.duration(defaulted: "interval"), records: settings.jsonPath("records"),
                cursor: settings.string("cursor"), cursorParameter: settings.string("cursor_param"),
                primaryKey: settings.strings("primary_key"),
                limits: limits)
        case "postgres_notify":
            let url: PostgresURL
            do {
                url = try PostgresURL(settings.string("url") ?? "")
            } catch {
                errors.append(settings.error(at: "url", error.message))
                return nil
            }
            self.source = PostgresNotifySource(
                url: url, channel: settings.string("channel") ?? "", table: settings.string("table") ?? "",
                cursor: settings.string(defaulted: "cursor"), batch: max(1, settings.int(defaulted: "batch")),
                catchUpInterval: settings.duration(defaulted: "catch_up_interval"))
        case "tail":
            let path = settings.string("path") ?? ""
            self.source = TailSource(
                path: path.hasPrefix("/") || directory == "." ? path : directory + "/" + path,
                pollInterval: settings.duration(defaulted: "poll_interval"))
        case "redis":
            self.source = RedisSource(
                url: settings.string(defaulted: "url"), stream: settings.string("stream") ?? "",
                group: settings.string(defaulted: "group"),
                consumer: settings.string("consumer") ?? "gather-" + (object.string("name") ?? "stream"),
                field: settings.string("field"), count: max(1, settings.int(defaulted: "count")),
                block: settings.duration(defaulted: "block"),
                claimIdle: settings.duration("claim_idle").flatMap { $0 > .zero ? $0 : nil })
        case "nats":
            let durable = settings.string("durable") ?? "gather-" + (object.string("name") ?? "stream")
            if durable.contains(where: { ".*> ".contains($0) }) {
                errors.append(settings.error(at: "durable", "a durable's name cannot hold '.', '*', '>' or spaces"))
            }
            self.source = NATSSource(
                url: settings.string(defaulted: "url"), stream: settings.string("stream") ?? "",
                subject: settings.string("subject"), durable: durable, batch: max(1, settings.int(defaulted: "batch")),
                expires: settings.duration(defaulted: "expires"),
                ackWait: settings.duration(defaulted: "ack_wait"),
                maxAckPending: max(1, settings.int(defaulted: "max_ack_pending")))
        default:
            errors.append(object.error(at: "stream", "unknown stream type '\(type)'"))
            return nil
        }
        self.commitEvents = max(1, settings.int(defaulted: "commit_every"))
        self.commitInterval = settings.duration(defaulted: "commit_interval")
        self.eventTime = EventTime(field: object.string("event_time"))
        let watermark = object.object("watermark")
        self.maxDelay = Self.millis(watermark?.duration(defaulted: "max_delay") ?? .zero)
        self.idle = watermark?.duration("idle").map(Self.millis)
        self.partition = watermark?.string("partition")
        self.window = nil
        self.lateTable = nil
        guard let window = object.object("window") else { return }
        var kinds: [WindowSpec.Kind] = []
        if let size = window.duration("tumbling") {
            kinds.append(.tumbling(size: max(1, Self.millis(size))))
        }
        if let sliding = window.object("sliding"), let size = sliding.duration("size"),
            let every = sliding.duration("every")
        {
            let (sizeMillis, everyMillis) = (max(1, Self.millis(size)), max(1, Self.millis(every)))
            if sizeMillis % everyMillis != 0 || everyMillis > sizeMillis {
                errors.append(
                    window.error(
                        at: "sliding", "a sliding window's size must be a multiple of every (like size: 5m, every: 1m)")
                )
            }
            kinds.append(.sliding(size: sizeMillis, every: everyMillis))
        }
        if let session = window.object("session"), let gap = session.duration("gap") {
            kinds.append(.session(gap: max(1, Self.millis(gap))))
        }
        guard kinds.count == 1 else {
            errors.append(
                window.error(
                    kinds.isEmpty
                        ? "give the window's kind: tumbling: 1m, sliding: { size: 5m, every: 1m } or session: { gap: 30s }"
                        : "a window is tumbling, sliding or session: give one of them"))
            return
        }
        var aggregates: [AggregateSpec] = []
        var entries = window.map("aggregate")[...]
        while let entry = entries.popFirst() {
            guard var text = entry.value.value.stringValue else {
                errors.append(
                    ConfigError(location: entry.value.location, message: "write the aggregate as text, like avg(temp)"))
                continue
            }
            // In a flow mapping (`{ p95: quantile(temp, 0.95) }`) YAML splits at the comma, leaving `quantile(temp`
            // and a key `0.95)` without a value: join them back.
            func open(_ text: String) -> Bool { text.filter { $0 == "(" }.count > text.filter { $0 == ")" }.count }
            while open(text), let rest = entries.first, rest.value.value.isNull {
                text += ", " + rest.key
                entries.removeFirst()
            }
            do {
                aggregates.append(try AggregateSpec(name: entry.key, parsing: text))
            } catch {
                errors.append(ConfigError(location: entry.value.location, message: "\(entry.key): \(error)"))
            }
        }
        let keys = window.strings("key")
        for aggregate in aggregates
        where keys.contains(aggregate.name) || ["window_start", "window_end"].contains(aggregate.name) {
            errors.append(
                window.error(
                    at: "aggregate",
                    "'\(aggregate.name)' is already a column of the window row; name the aggregate differently"))
        }
        let late = window.object("late")
        self.window = WindowSpec(
            kind: kinds[0], key: keys, aggregates: aggregates,
            allowedLateness: Self.millis(late?.duration(defaulted: "allowed") ?? .zero))
        self.lateTable = late?.string("to")
    }

    /// WebSocket subscribe messages: a list gives one message per item; a string is sent as it is, anything else
    /// as its JSON.
    static func messages(_ value: Value?) -> [String] {
        func message(_ value: Value) -> String {
            if case .string(let text) = value { text } else { JSONWriter.string(value) }
        }
        switch value {
        case nil, .null?: return []
        case .array(let items)?: return items.map(message)
        case let other?: return [message(other)]
        }
    }

    static func millis(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}
