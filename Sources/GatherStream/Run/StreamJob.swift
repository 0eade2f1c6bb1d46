import CoreMetrics
public import GatherCore
import GatherFormats
import GatherStore
import Synchronization

/// Runs one live source into a sink: events → transforms → event time and watermark → windows (or records) →
/// one transaction per commit holding the rows, the late rows, the error rows, the changed window state and the
/// source position. A re-run continues from what was committed, so after a kill anywhere no event is lost and
/// none is counted twice (given a source that replays from its position: a file, an SSE server that honours
/// `Last-Event-ID`, a broker).
///
/// Determinism: event time and the watermark advance event by event, never by batch or clock (unless `idle`
/// is set and a stream goes quiet), so where commits fall does not change which events are late or what a
/// window holds.
public struct StreamJob: Sendable {
    public struct Configuration: Sendable {
        /// The resource name: state scopes, counters and error rows use it.
        public var resource: String
        /// Where window rows (or, without a window, the records) go.
        public var table: String
        /// Where events too late for any window go (default `TABLE_late`).
        public var lateTable: String
        public var eventTime: EventTime
        public var maxDelay: Int64 = 0
        public var idle: Int64?
        /// A field naming each event's partition for the watermark (the minimum over partitions); `nil`: the
        /// source's own partition.
        public var partition: String?
        public var window: WindowSpec?
        /// How records meet existing rows (windowed streams always merge by key and window start).
        public var write: WriteMode = .append
        public var primaryKey: [String] = []
        public var lists: Normalizer.NestedLists = .tables
        /// A commit happens after this many events…
        public var commitEvents = 100_000
        /// …or this long after the first uncommitted change, whichever is first.
        public var commitInterval: Duration = .milliseconds(500)
        /// Stop after this long without an event (`--idle-exit`).
        public var idleExit: Duration?
        /// At the stop, close every open window as if the watermark had passed (`--flush-windows`).
        public var flushWindows = false
        /// Events read ahead of the commits, at most.
        public var bufferCapacity = 65_536

        public init(resource: String, table: String? = nil, eventTime: EventTime = EventTime(field: nil)) {
            self.resource = resource
            self.table = table ?? resource
            self.lateTable = (table ?? resource) + "_late"
            self.eventTime = eventTime
        }

        var positionScope: String { "stream:" + self.resource }
        var windowScope: String { "stream-windows:" + self.resource }
    }

    public let configuration: Configuration
    public let source: any StreamSource
    public let transform: (@Sendable (Record) -> RecordTransformResult)?

    public init(
        _ configuration: Configuration, source: any StreamSource,
        transform: (@Sendable (Record) -> RecordTransformResult)? = nil
    ) {
        self.configuration = configuration
        self.source = source
        self.transform = transform
    }

    /// Why the job ended.
    public enum End: String, Sendable {
        /// `stop` fired (SIGINT/SIGTERM): what was read is committed; the rest is read again next time.
        case stopped
        /// No event for `idleExit`.
        case idle
        /// The source ended by itself.
        case ended
    }

    /// Runs until stopped, idle for `idleExit`, or the source ends.
    public func run(
        sink: any Sink, runID: String, statistics: StreamStatistics = StreamStatistics(),
        stop: StopSignal
    ) async throws -> End {
        let config = self.configuration
        var state = try await self.restore(from: sink)
        let buffer = EventBuffer(capacity: config.bufferCapacity)
        let status = statistics.source
        let source = self.source
        let startPosition = state.position
        let reader = Task {
            defer { buffer.finish() }
            try await source.run(from: startPosition, into: buffer, status: status)
        }
        // Finishing the buffer wakes a source waiting to hand over events (cancellation alone would not).
        defer {
            buffer.finish()
            reader.cancel()
        }
        var batch = Pending(runID: runID, config: config)
        var lastEvent = ContinuousClock.now
        var firstChange: ContinuousClock.Instant?
        var end = End.ended
        while true {
            if stop.isStopped {
                end = .stopped
                break
            }
            let events = buffer.take(max: max(1, config.commitEvents - batch.events))
            let now = ContinuousClock.now
            if events.isEmpty {
                if buffer.isDrained {
                    if case .failure(let error) = await reader.result {
                        throw StreamError("\(source.description): \(error)")
                    }
                    break
                }
                if let idleExit = config.idleExit, lastEvent.duration(to: now) >= idleExit {
                    end = .idle
                    break
                }
                var wait = Duration.milliseconds(100)
                if let first = firstChange {
                    wait = min(wait, max(.zero, config.commitInterval - first.duration(to: now)))
                }
                if let idleExit = config.idleExit {
                    wait = min(wait, max(.milliseconds(1), idleExit - lastEvent.duration(to: now)))
                }
                if wait > .zero { await buffer.wait(timeout: wait) }
                // The watermark may move with the wall clock (idle sources).
                if config.idle != nil { state.advanceClock(into: &batch) }
            } else {
                lastEvent = now
                for event in events { state.process(event, transform: self.transform, into: &batch) }
                statistics.add(events: events.count)
            }
            statistics.publish()
            if firstChange == nil, batch.hasChanges || state.operator?.hasPendingRows == true { firstChange = now }
            let due = firstChange.map { $0.duration(to: ContinuousClock.now) >= config.commitInterval } ?? false
            if batch.events >= config.commitEvents || due {
                try await self.commit(&batch, state: &state, sink: sink, statistics: statistics)
                firstChange = nil
            }
        }
        if config.flushWindows {
            state.operator?.flushAll()
            if batch.firstClose == nil, state.operator?.hasPendingRows == true { batch.firstClose = .now }
        }
        try await self.commit(&batch, state: &state, sink: sink, statistics: statistics)
        buffer.finish()
        reader.cancel()
        _ = await reader.result
        await source.close()
        statistics.publish(force: true)
        return end
    }

    private func commit(_ batch: inout Pending, state: inout RunState, sink: any Sink, statistics: StreamStatistics)
        async throws
    {
        let config = self.configuration
        var sinkBatch = SinkBatch()
        if state.operator != nil {
            let rows = state.operator!.drainRows()
            batch.counts.rows += rows.count
            batch.counts.written += rows.count
            if !rows.isEmpty {
                let window = config.window!
                let normalizer = Normalizer(table: config.table, lists: config.lists)
                var normalized: [NormalizedRow] = []
                normalized.reserveCapacity(rows.count)
                let keyColumns = window.key.map(WindowSpec.columnName) + ["window_start"]
                for row in rows {
                    let key = JSONWriter.string(.array(keyColumns.map { row[$0] ?? .null }))
                    normalizer.normalize(row, key: key, into: &normalized)
                }
                sinkBatch.writes.append(
                    TableWrite(table: config.table, mode: .merge, primaryKey: keyColumns, rows: normalized))
            }
            sinkBatch.state += state.operator!.checkpoint(scope: config.windowScope)
        }
        if !batch.records.isEmpty {
            sinkBatch.writes.append(
                TableWrite(table: config.table, mode: config.write, primaryKey: config.primaryKey, rows: batch.records))
        }
        if !batch.late.isEmpty {
            sinkBatch.writes.append(
                TableWrite(table: config.lateTable, mode: .append, primaryKey: [], rows: batch.late))
        }
        sinkBatch.errors = batch.errors
        if let position = batch.position {
            sinkBatch.state.append(
                .put(scope: config.positionScope, key: "position", value: JSONWriter.string(position)))
        }
        let saved = state.watermark.saved
        if saved.current != state.savedWatermark {
            let newest = Record(saved.newest.sorted { $0.key < $1.key }.map { ($0.key, Value.int($0.value)) })
            sinkBatch.state.append(
                .put(
                    scope: config.positionScope, key: "watermark",
                    value: JSONWriter.string(
                        .object(Record([("current", .int(saved.current)), ("newest", .object(newest))])))))
            state.savedWatermark = saved.current
        }
        var counts = batch.counts
        counts.records = batch.events
        if !sinkBatch.isEmpty || counts.records > 0 {
            sinkBatch.counts = [counts]
            try await sink.commit(sinkBatch)
            if let closed = batch.firstClose { statistics.closeToCommit(closed.duration(to: .now)) }
            statistics.committed(
                counts: counts, late: batch.lateCount, watermark: saved.current,
                openWindows: state.operator?.openWindows ?? 0)
            if let position = batch.position { await self.source.committed(through: position) }
        }
        batch = Pending(runID: batch.runID, config: config)
    }

    private func restore(from sink: any Sink) async throws -> RunState {
        let config = self.configuration
        var state = RunState(config: config)
        for entry in try await sink.state(scopePrefix: config.positionScope) where entry.scope == config.positionScope {
            guard let value = try? JSONReader.parse(entry.value) else { continue }
            switch entry.key {
            case "position": state.position = value
            case "watermark":
                let newest = (value["newest"]?.objectValue ?? Record()).compactMap { field in
                    field.value.intValue.map { (field.key, $0) }
                }
                state.watermark.restore(
                    current: value["current"]?.intValue ?? .min,
                    newest: Dictionary(newest, uniquingKeysWith: { a, _ in a }), now: Timestamp.epochMillis())
                state.savedWatermark = state.watermark.current
            default: break
            }
        }
        if config.window != nil {
            let entries = try await sink.state(scopePrefix: config.windowScope).filter {
                $0.scope == config.windowScope
            }
            do {
                try state.operator!.restore(entries, watermark: state.watermark.current)
            } catch {
                throw StreamError("resource '\(config.resource)': \(error)")
            }
        }
        return state
    }
}

/// A stream failure that stops the job (not one event's problem).
public struct StreamError: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// What one commit will write.
struct Pending: Sendable {
    let runID: String
    var events = 0
    var records: [NormalizedRow] = []
    var late: [NormalizedRow] = []
    var lateCount = 0
    var errors: [ErrorRow] = []
    var position: Value?
    var counts: ResourceCounts
    /// When the first window whose row this commit writes closed (for the close → commit latency).
    var firstClose: ContinuousClock.Instant?

    init(runID: String, config: StreamJob.Configuration) {
        self.runID = runID
        self.counts = ResourceCounts(runID: runID, resource: config.resource)
    }

    var hasChanges: Bool { self.events > 0 || !self.records.isEmpty || !self.errors.isEmpty }
}

/// Where an event came from: its source position, or (for events that do not move it) its arrival.
enum Origin: Hashable, Sendable {
    case position(Value)
    case arrival(Int64)

    /// The form error rows and record keys carry.
    var text: String {
        switch self {
        case .position(let value): JSONWriter.string(value)
        case .arrival(let millis): "arrival \(EventTime.format(millis))"
        }
    }
}

/// The job's working state between commits: watermark, windows, the normalizers.
struct RunState: Sendable {
    let config: StreamJob.Configuration
    var watermark: Watermark
    var savedWatermark: Int64 = .min
    var `operator`: WindowOperator?
    var position: Value?
    let normalizer: Normalizer
    let lateNormalizer: Normalizer
    /// Events in a row with the same source position (SSE events without an id of their own): the record key's
    /// tie-breaker, counted the same way by a replay.
    var lastOrigin: Origin?
    var sameOrigin = 0

    init(config: StreamJob.Configuration) {
        self.config = config
        self.watermark = Watermark(maxDelay: config.maxDelay, idle: config.idle)
        self.operator = config.window.map(WindowOperator.init)
        self.normalizer = Normalizer(table: config.table, lists: config.lists)
        self.lateNormalizer = Normalizer(table: config.lateTable, lists: .json)
    }

    mutating func process(
        _ event: SourceEvent, transform: (@Sendable (Record) -> RecordTransformResult)?, into batch: inout Pending
    ) {
        batch.events += 1
        if let position = event.position {
            batch.position = position
        }
        let source = event.position.map(Origin.position) ?? .arrival(event.arrival)
        if source == self.lastOrigin {
            self.sameOrigin += 1
        } else {
            self.lastOrigin = source
            self.sameOrigin = 0
        }
        // As text only where a row names it (an error, a late event, a record's key), not for every event.
        var origin: String { source.text }
        func fail(_ code: String, _ message: String) {
            batch.counts.errors += 1
            batch.errors.append(
                ErrorRow(
                    runID: batch.runID, resource: self.config.resource, request: origin, code: code,
                    message: message, payload: String(event.payload.prefix(1024)), at: Timestamp.now()))
        }
        let parsed: Value
        do {
            parsed = try JSONReader.parse(event.payload)
        } catch {
            fail("invalid_json", "the event is not JSON: \(error)")
            return
        }
        guard case .object(let record) = parsed else {
            fail("invalid_json", "the event is \(parsed.typeName), not a JSON object")
            return
        }
        var records = [record]
        if let transform {
            switch transform(record) {
            case .records(let out): records = out
            case .filtered:
                batch.counts.filtered += 1
                return
            case .failed(let code, let message):
                fail(code, message)
                return
            }
        }
        for (index, record) in records.enumerated() {
            let time: Int64
            do {
                time = try self.config.eventTime.millis(of: record, arrival: event.arrival)
            } catch {
                fail(error.code, error.message)
                continue
            }
            var partition = event.partition
            if let field = self.config.partition {
                switch EventTime.lookup(field, in: record) {
                case nil, .null?:
                    fail("missing_partition", "the event has no value for the watermark's partition field '\(field)'")
                    continue
                case .string(let text)?: partition = text
                case let other?: partition = JSONWriter.string(other)
                }
                if !self.watermark.knows(partition) && self.watermark.partitions >= Watermark.maxPartitions {
                    fail(
                        "too_many_partitions",
                        "more than \(Watermark.maxPartitions) watermark partitions: '\(field)' should name a few "
                            + "sources (gateways, shards), not a key")
                    continue
                }
            }
            self.watermark.observe(time, partition: partition, now: event.arrival)
            let mark = self.watermark.advance(now: event.arrival)
            guard self.operator != nil else {
                let key: String
                if self.config.primaryKey.isEmpty {
                    key = "\(origin)|\(self.sameOrigin)|\(index)"
                } else {
                    let parts = self.config.primaryKey.map { EventTime.lookup($0, in: record) ?? .null }
                    if parts.contains(.null) {
                        fail(
                            "missing_key",
                            "the event has no value for primary key \(self.config.primaryKey.joined(separator: ", "))")
                        continue
                    }
                    key = JSONWriter.string(.array(parts))
                }
                self.normalizer.normalize(record, key: key, into: &batch.records)
                batch.counts.rows += 1
                batch.counts.written += 1
                continue
            }
            self.operator!.advance(to: mark)
            if batch.firstClose == nil, self.operator!.hasPendingRows { batch.firstClose = .now }
            do {
                switch try self.operator!.add(record, time: time) {
                case .added: break
                case .late(let reason):
                    var row = record
                    row["_event_time"] = .string(EventTime.format(time))
                    row["_late_reason"] = .string(reason)
                    self.lateNormalizer.normalize(row, key: "\(origin)|\(index)", into: &batch.late)
                    batch.lateCount += 1
                }
            } catch {
                fail(error.code, error.message)
            }
        }
    }

    /// Moves the watermark with the wall clock (idle sources) and closes what it passed.
    mutating func advanceClock(into batch: inout Pending) {
        let mark = self.watermark.advance(now: Timestamp.epochMillis())
        self.operator?.advance(to: mark)
        if batch.firstClose == nil, self.operator?.hasPendingRows == true { batch.firstClose = .now }
    }
}

/// Live counters of a stream job, for the progress line, the summary and Prometheus (through swift-metrics, which
/// only the `gather` executable bootstraps):
/// - `gather_stream_events_total{resource}`, `gather_stream_late_total{resource}`: committed events, and those
///   behind the watermark;
/// - `gather_stream_open_windows{resource}`: windows held in memory (and in the state) after the last commit;
/// - `gather_stream_lag_seconds{resource}`: now minus the committed watermark, updated twice a second;
/// - `gather_stream_reconnects_total{resource}`, `gather_stream_duplicates_total{resource}`: the source's;
/// - `gather_stream_close_to_commit_seconds{resource}`: from a window's close to the end of its commit.
public final class StreamStatistics: Sendable {
    public struct Snapshot: Sendable {
        public var eventsRead = 0
        public var eventsCommitted = 0
        public var rows = 0
        public var late = 0
        public var errors = 0
        public var openWindows = 0
        /// The committed watermark, epoch ms (`Int64.min` before any).
        public var watermark: Int64 = .min
    }
    private let state = Mutex(Snapshot())
    /// Close → commit latencies in seconds, one per commit that wrote closed windows: from when the first of them
    /// closed (the watermark passed its end) to the end of the commit, so an upper bound for each of its windows.
    private let latencies = Mutex<[Double]>([])
    /// The source's connection state and counters.
    public let source = SourceStatus()
    private let started = ContinuousClock.now
    private let metrics: Metrics

    /// Handles made once, so a commit costs no registry lookups.
    private final class Metrics: Sendable {
        let events: Counter
        let late: Counter
        let reconnects: Counter
        let duplicates: Counter
        let openWindows: Gauge
        let lag: Gauge
        let closeToCommit: CoreMetrics.Timer
        /// What was published of the source's counters, and when the lag last was.
        let published = Mutex((reconnects: 0, duplicates: 0, lagAt: ContinuousClock.Instant?.none))

        init(resource: String) {
            let dimensions = [("resource", resource)]
            self.events = Counter(label: "gather_stream_events_total", dimensions: dimensions)
            self.late = Counter(label: "gather_stream_late_total", dimensions: dimensions)
            self.reconnects = Counter(label: "gather_stream_reconnects_total", dimensions: dimensions)
            self.duplicates = Counter(label: "gather_stream_duplicates_total", dimensions: dimensions)
            self.openWindows = Gauge(label: "gather_stream_open_windows", dimensions: dimensions)
            self.lag = Gauge(label: "gather_stream_lag_seconds", dimensions: dimensions)
            self.closeToCommit = CoreMetrics.Timer(
                label: "gather_stream_close_to_commit_seconds", dimensions: dimensions)
        }
    }

    /// Statistics of the stream resource `resource` (the metrics' label).
    public init(resource: String = "stream") {
        self.metrics = Metrics(resource: resource)
    }

    func closeToCommit(_ latency: Duration) {
        self.latencies.withLock { list in
            if list.count >= 100_000 { list.removeFirst(50_000) }
            list.append(latency.seconds)
        }
        self.metrics.closeToCommit.recordNanoseconds(latency.nanosecondsClamped)
    }

    /// Publishes the lag (now minus the committed watermark) and the source's counters, at most twice a second
    /// (`force`: now); the job calls it on every turn of its loop, and once at its end.
    func publish(force: Bool = false) {
        // Most turns of the loop end here, after one lock: the source's counters are read only when it is time.
        let now = ContinuousClock.now
        let due = self.metrics.published.withLock { published -> Bool in
            if !force, let last = published.lagAt, last.duration(to: now) < .milliseconds(500) { return false }
            published.lagAt = now
            return true
        }
        guard due else { return }
        let source = (reconnects: self.source.reconnects, duplicates: self.source.duplicates)
        let added = self.metrics.published.withLock { published -> (Int, Int) in
            defer { (published.reconnects, published.duplicates) = (source.reconnects, source.duplicates) }
            return (source.reconnects - published.reconnects, source.duplicates - published.duplicates)
        }
        if added.0 > 0 { self.metrics.reconnects.increment(by: added.0) }
        if added.1 > 0 { self.metrics.duplicates.increment(by: added.1) }
        let watermark = self.snapshot.watermark
        if watermark != .min {
            self.metrics.lag.record(Double(Timestamp.epochMillis() - watermark) / 1000)
        }
    }

    /// The `q` quantile of the close → commit latencies, in seconds (`nil` before any).
    public func closeToCommit(quantile q: Double) -> Double? {
        let sorted = self.latencies.withLock { $0 }.sorted()
        guard !sorted.isEmpty else { return nil }
        return sorted[min(sorted.count - 1, Int((Double(sorted.count - 1) * q).rounded(.up)))]
    }

    /// One line for the run summary.
    public var summary: String {
        let s = self.snapshot
        let seconds = max(0.001, self.started.duration(to: .now).seconds)
        var parts = [
            "\(s.eventsCommitted) events (\(Int(Double(s.eventsCommitted) / seconds))/s)", "\(s.rows) rows",
            "\(s.late) late", "\(s.errors) errors", "\(s.openWindows) open windows",
            "\(self.source.reconnects) reconnects",
        ]
        if self.source.duplicates > 0 { parts.append("\(self.source.duplicates) duplicates dropped") }
        if let p50 = self.closeToCommit(quantile: 0.5), let p99 = self.closeToCommit(quantile: 0.99) {
            parts.append("close→commit p50 \(Self.format(p50)) s, p99 \(Self.format(p99)) s")
        }
        return parts.joined(separator: ", ")
    }

    /// The same figures as JSON (`--summary-json`).
    public var value: Value {
        let s = self.snapshot
        var fields: [(String, Value)] = [
            ("events", .int(Int64(s.eventsCommitted))), ("rows", .int(Int64(s.rows))), ("late", .int(Int64(s.late))),
            ("errors", .int(Int64(s.errors))), ("open_windows", .int(Int64(s.openWindows))),
            ("reconnects", .int(Int64(self.source.reconnects))), ("duplicates", .int(Int64(self.source.duplicates))),
        ]
        if let p50 = self.closeToCommit(quantile: 0.5), let p99 = self.closeToCommit(quantile: 0.99) {
            fields += [("close_to_commit_p50_s", .double(p50)), ("close_to_commit_p99_s", .double(p99))]
        }
        return .object(Record(fields))
    }

    private static func format(_ seconds: Double) -> String { String((seconds * 1000).rounded() / 1000) }

    func add(events: Int) { self.state.withLock { $0.eventsRead += events } }

    func committed(counts: ResourceCounts, late: Int, watermark: Int64, openWindows: Int) {
        self.state.withLock {
            $0.eventsCommitted += counts.records
            $0.rows += counts.rows
            $0.late += late
            $0.errors += counts.errors
            $0.watermark = watermark
            $0.openWindows = openWindows
        }
        if counts.records > 0 { self.metrics.events.increment(by: counts.records) }
        if late > 0 { self.metrics.late.increment(by: late) }
        self.metrics.openWindows.record(openWindows)
    }

    public var snapshot: Snapshot { self.state.withLock { $0 } }
}
