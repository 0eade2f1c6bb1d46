import GatherCore
import GatherFormats
import GatherStore

/// Keyed event-time windows and their aggregates, usable without YAML:
///
/// ```swift
/// var windows = WindowOperator(WindowSpec(kind: .tumbling(size: 60_000), key: ["sensor_id"],
///                                         aggregates: [try AggregateSpec(name: "n", parsing: "count()")]))
/// try windows.add(event, time: t)          // .added, or .late(reason) for the side table
/// windows.advance(to: watermark)           // windows whose end the watermark passed are closed
/// let rows = windows.drainRows()           // their rows (and rows updated by allowed-late events)
/// let changes = windows.checkpoint()       // the open windows' state, as changes to commit with the rows
/// ```
///
/// Memory is bounded by the open windows (windows not yet past `end + allowed lateness`), not by the events.
public struct WindowOperator: Sendable {
    public let spec: WindowSpec

    struct ID: Hashable, Sendable {
        /// The key values' JSON.
        var key: String
        var start: Int64
    }

    struct Window: Sendable {
        var start: Int64
        var end: Int64
        var keyValues: [Value]
        var states: [AggregateState]
        /// Its row has been written (the watermark passed its end).
        var fired = false
        /// Its state is in the checkpoint store.
        var persisted = false
        /// Changed since the last checkpoint (and so listed in `dirty`).
        var dirty = false
    }

    private var windows: [ID: Window] = [:]
    /// Open session starts per key (session windows only).
    private var sessions: [String: [Int64]] = [:]
    /// Windows by end, to close; then by end + lateness, to forget.
    private var toFire = MinHeap()
    private var toExpire = MinHeap()
    /// Rows to write at the next commit.
    private var pendingRows: [ID: Record] = [:]
    /// Checkpoint changes since the last ``checkpoint()``: windows whose `dirty` flag was set (a window may be listed
    /// again after it was replaced or forgotten; the flag decides), and windows to delete.
    private var dirty: [ID] = []
    private var deleted: Set<ID> = []
    /// One event's key values and aggregate inputs, kept to spare an allocation per event.
    private var keyScratch: [Value] = []
    private var valueScratch: [Value?] = []
    /// The last window start and end written as text: windows close in order, thousands sharing their times.
    private var timeTexts = (start: Int64.min, startText: "", end: Int64.min, endText: "")
    private var watermark: Int64 = .min

    public init(_ spec: WindowSpec) {
        self.spec = spec
    }

    /// What happened to an event.
    public enum Outcome: Sendable, Hashable {
        /// Counted in its windows; `late` when they had already closed and allowed lateness took it.
        case added(late: Bool)
        /// Too late for any window: for the side table, with the reason.
        case late(String)
    }

    /// Windows held in memory.
    public var openWindows: Int { self.windows.count }

    /// Rows are waiting for ``drainRows()``.
    public var hasPendingRows: Bool { !self.pendingRows.isEmpty }

    /// Adds one event at event time `time` (ms). Throws, changing nothing, for a missing key or a value an
    /// aggregate cannot use.
    public mutating func add(_ record: Record, time: Int64) throws(StreamEventError) -> Outcome {
        self.keyScratch.removeAll(keepingCapacity: true)
        for field in self.spec.key {
            guard let value = EventTime.lookup(field, in: record), !value.isNull else {
                throw StreamEventError(code: "no_key", message: "the event has no '\(field)' field for the window key")
            }
            self.keyScratch.append(value)
        }
        self.valueScratch.removeAll(keepingCapacity: true)
        for aggregate in self.spec.aggregates {
            guard let field = aggregate.field else {
                self.valueScratch.append(.int(1))
                continue
            }
            let value = EventTime.lookup(field, in: record)
            if let value { try AggregateState.check(aggregate.function, value, field: field) }
            self.valueScratch.append(value)
        }
        let key = Self.keyText(self.keyScratch)
        if case .session(let gap) = self.spec.kind {
            return self.addToSession(key: key, keyValues: self.keyScratch, time: time, gap: gap)
        }
        let lateness = self.spec.allowedLateness
        var late = false
        var taken = false
        for start in self.spec.starts(of: time) {
            let end = self.spec.end(ofStart: start)
            guard end.saturatingAdd(lateness) > self.watermark else { continue }
            let id = ID(key: key, start: start)
            // One hash lookup for an open window (nearly every event), two more when it opens.
            if let index = self.windows.index(forKey: id) {
                self.apply(time: time, at: index, id: id)
            } else {
                self.open(id, end: end, keyValues: self.keyScratch)
                self.apply(time: time, at: self.windows.index(forKey: id)!, id: id)
            }
            taken = true
            if end <= self.watermark { late = true }
        }
        guard taken else { return .late(self.lateReason(time)) }
        return .added(late: late)
    }

    private mutating func addToSession(key: String, keyValues: [Value], time: Int64, gap: Int64) -> Outcome {
        var start = time
        var end = time.saturatingAdd(gap)
        // Oldest first, so sessions merge in the same order however the state was restored.
        let overlapping = (self.sessions[key] ?? []).sorted().filter { existing in
            guard let window = self.windows[ID(key: key, start: existing)] else { return false }
            return window.start < end && time < window.end
        }
        for existing in overlapping {
            let window = self.windows[ID(key: key, start: existing)]!
            start = min(start, window.start)
            end = max(end, window.end)
        }
        let fired = overlapping.filter { self.windows[ID(key: key, start: $0)]!.fired }
        if !fired.isEmpty && (overlapping.count > 1 || start != fired[0]) {
            return .late("it would join or move a session window that was already written")
        }
        if overlapping.isEmpty && end.saturatingAdd(self.spec.allowedLateness) <= self.watermark {
            return .late(self.lateReason(time))
        }
        let id = ID(key: key, start: start)
        if !fired.isEmpty {
            // A late event inside (or extending the end of) a written session: it updates that row.
            if self.windows[id]!.end != end {
                self.windows[id]!.end = end
                self.toExpire.push(end.saturatingAdd(self.spec.allowedLateness), id)
            }
            self.apply(time: time, at: self.windows.index(forKey: id)!, id: id)
            return .added(late: true)
        }
        // The event falls inside one open session without moving its end: no new heap entry needed.
        let unchanged = overlapping == [start] && self.windows[id]?.end == end
        // Join every overlapping open session into one that starts at the earliest start.
        var merged = Window(
            start: start, end: end, keyValues: keyValues,
            states: self.spec.aggregates.map { AggregateState($0.function) })
        for existing in overlapping {
            let oldID = ID(key: key, start: existing)
            let old = self.windows.removeValue(forKey: oldID)!
            for index in merged.states.indices {
                merged.states[index].merge(old.states[index], self.spec.aggregates[index].function)
            }
            if old.persisted && oldID != id { self.deleted.insert(oldID) }
            if oldID == id { merged.persisted = old.persisted }
        }
        var starts = (self.sessions[key] ?? []).filter { !overlapping.contains($0) }
        starts.append(start)
        self.sessions[key] = starts
        self.windows[id] = merged
        self.deleted.remove(id)
        // One heap entry per window end, not per event (memory bounded by open windows).
        if !unchanged { self.toFire.push(end, id) }
        self.apply(time: time, at: self.windows.index(forKey: id)!, id: id)
        if end <= self.watermark { self.fire(id) }
        return .added(late: time < self.watermark)
    }

    /// The identity of a key: `s` + the text for one text value (the common case, with no encoding cost), `j` +
    /// JSON otherwise; the type letter keeps the text `1` and the number 1 apart.
    static func keyText(_ values: [Value]) -> String {
        if values.count == 1, case .string(let text) = values[0] { return "s" + text }
        return "j" + JSONWriter.string(values.count == 1 ? values[0] : .array(values))
    }

    private func lateReason(_ time: Int64) -> String {
        "event time \(EventTime.format(time)) is behind the watermark \(EventTime.format(self.watermark))"
            + (self.spec.allowedLateness > 0
                ? " by more than the allowed lateness (\(self.spec.allowedLateness / 1000) s)" : "")
    }

    private mutating func open(_ id: ID, end: Int64, keyValues: [Value]) {
        self.windows[id] = Window(
            start: id.start, end: end, keyValues: keyValues,
            states: self.spec.aggregates.map { AggregateState($0.function) })
        self.deleted.remove(id)
        self.toFire.push(end, id)
        if end <= self.watermark { self.fire(id) }
    }

    /// Adds the event in `valueScratch` to the window at `index` (whose id is `id`), in place.
    private mutating func apply(time: Int64, at index: [ID: Window].Index, id: ID) {
        let aggregates = self.spec.aggregates
        let values = self.valueScratch
        self.windows.values[index].states.withUnsafeMutableBufferPointer { states in
            for position in states.indices {
                states[position].add(aggregates[position].function, values[position], time: time)
            }
        }
        self.markDirty(at: index, id: id)
        if self.windows.values[index].fired { self.pendingRows[id] = self.row(self.windows.values[index]) }
    }

    private mutating func markDirty(at index: [ID: Window].Index, id: ID) {
        guard !self.windows.values[index].dirty else { return }
        self.windows.values[index].dirty = true
        self.dirty.append(id)
    }

    /// Closes every window whose end `watermark` reached (its row goes out at the next ``drainRows()``), and
    /// forgets those past their allowed lateness too.
    public mutating func advance(to watermark: Int64) {
        guard watermark > self.watermark else { return }
        self.watermark = watermark
        while let (end, id) = self.toFire.peek(), end <= watermark {
            self.toFire.pop()
            guard let window = self.windows[id], window.end == end, !window.fired else { continue }
            self.fire(id)
        }
        while let (until, id) = self.toExpire.peek(), until <= watermark {
            self.toExpire.pop()
            guard let window = self.windows[id], window.fired,
                window.end.saturatingAdd(self.spec.allowedLateness) <= watermark
            else { continue }
            self.windows[id] = nil
            if window.persisted { self.deleted.insert(id) }
            if case .session = self.spec.kind {
                self.sessions[id.key]?.removeAll { $0 == id.start }
                if self.sessions[id.key]?.isEmpty == true { self.sessions[id.key] = nil }
            }
        }
    }

    private mutating func fire(_ id: ID) {
        let index = self.windows.index(forKey: id)!
        self.windows.values[index].fired = true
        self.markDirty(at: index, id: id)
        self.pendingRows[id] = self.row(self.windows.values[index])
        self.toExpire.push(self.windows.values[index].end.saturatingAdd(self.spec.allowedLateness), id)
    }

    /// Closes and forgets every window, as if the watermark had passed them all (`--flush-windows`).
    public mutating func flushAll() {
        self.advance(to: .max)
    }

    /// The rows of windows closed (or updated by late events) since the last call, by window start, then key.
    public mutating func drainRows() -> [Record] {
        let rows = self.pendingRows.sorted { a, b in
            a.key.start != b.key.start ? a.key.start < b.key.start : a.key.key < b.key.key
        }.map(\.value)
        self.pendingRows = [:]
        return rows
    }

    /// One window's row: key columns, `window_start`, `window_end`, then the aggregates.
    private mutating func row(_ window: Window) -> Record {
        var fields: [(String, Value)] = []
        fields.reserveCapacity(self.spec.key.count + 2 + self.spec.aggregates.count)
        for (field, value) in zip(self.spec.key, window.keyValues) {
            fields.append((WindowSpec.columnName(field), value))
        }
        if self.timeTexts.start != window.start {
            self.timeTexts.start = window.start
            self.timeTexts.startText = EventTime.format(window.start)
        }
        if self.timeTexts.end != window.end {
            self.timeTexts.end = window.end
            self.timeTexts.endText = EventTime.format(window.end)
        }
        fields.append(("window_start", .string(self.timeTexts.startText)))
        fields.append(("window_end", .string(self.timeTexts.endText)))
        for (aggregate, state) in zip(self.spec.aggregates, window.states) {
            fields.append((aggregate.name, state.result(aggregate.function)))
        }
        return Record(fields)
    }

    // MARK: checkpoints

    /// The state changes since the last call: each changed open window as `put(scope, "KEY@START", …)`, each
    /// forgotten one as `delete`. Committed with the rows and the source position, they make a restart exact.
    public mutating func checkpoint(scope: String) -> [StateChange] {
        var changes: [StateChange] = []
        changes.reserveCapacity(self.dirty.count + self.deleted.count)
        for id in self.deleted { changes.append(.delete(scope: scope, key: Self.stateKey(id))) }
        for id in self.dirty {
            guard let index = self.windows.index(forKey: id), self.windows.values[index].dirty else { continue }
            self.windows.values[index].dirty = false
            self.windows.values[index].persisted = true
            let window = self.windows.values[index]
            let encoded: Value = .array([
                .int(window.end), .bool(window.fired), .array(window.keyValues),
                .array(window.states.map(\.encoded)),
            ])
            changes.append(.put(scope: scope, key: Self.stateKey(id), value: JSONWriter.string(encoded)))
        }
        self.dirty.removeAll(keepingCapacity: true)
        self.deleted = []
        return changes
    }

    private static func stateKey(_ id: ID) -> String { "\(id.start)@\(id.key)" }

    /// Restores the windows saved by ``checkpoint(scope:)`` and the watermark they were saved under.
    public mutating func restore(_ entries: [StateEntry], watermark: Int64) throws(StreamEventError) {
        self.watermark = watermark
        for entry in entries {
            guard let at = entry.key.firstIndex(of: "@"), let start = Int64(entry.key[..<at]),
                let value = try? JSONReader.parse(entry.value), let parts = value.arrayValue, parts.count == 4,
                let end = parts[0].intValue, let fired = parts[1].boolValue, let keyValues = parts[2].arrayValue,
                let encoded = parts[3].arrayValue, encoded.count == self.spec.aggregates.count
            else {
                throw StreamEventError(
                    code: "bad_state",
                    message: "the saved window '\(entry.key)' does not match this window definition; "
                        + "run with --fresh to start over")
            }
            var states: [AggregateState] = []
            for (aggregate, saved) in zip(self.spec.aggregates, encoded) {
                guard let state = AggregateState(encoded: saved, function: aggregate.function) else {
                    throw StreamEventError(
                        code: "bad_state",
                        message: "the saved window '\(entry.key)' has no valid state for '\(aggregate.name)'; "
                            + "run with --fresh to start over")
                }
                states.append(state)
            }
            let id = ID(key: String(entry.key[entry.key.index(after: at)...]), start: start)
            self.windows[id] = Window(
                start: start, end: end, keyValues: keyValues, states: states, fired: fired, persisted: true)
            if case .session = self.spec.kind { self.sessions[id.key, default: []].append(start) }
            if fired {
                self.toExpire.push(end.saturatingAdd(self.spec.allowedLateness), id)
            } else {
                self.toFire.push(end, id)
            }
        }
    }
}

/// A binary min-heap of (time, window), for closing windows in order of their ends.
struct MinHeap: Sendable {
    private var items: [(Int64, WindowOperator.ID)] = []

    func peek() -> (Int64, WindowOperator.ID)? { self.items.first }

    mutating func push(_ time: Int64, _ id: WindowOperator.ID) {
        self.items.append((time, id))
        var child = self.items.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard self.items[child].0 < self.items[parent].0 else { break }
            self.items.swapAt(child, parent)
            child = parent
        }
    }

    mutating func pop() {
        guard !self.items.isEmpty else { return }
        self.items.swapAt(0, self.items.count - 1)
        self.items.removeLast()
        var parent = 0
        while true {
            let left = 2 * parent + 1
            let right = left + 1
            var smallest = parent
            if left < self.items.count, self.items[left].0 < self.items[smallest].0 { smallest = left }
            if right < self.items.count, self.items[right].0 < self.items[smallest].0 { smallest = right }
            guard smallest != parent else { return }
            self.items.swapAt(parent, smallest)
            parent = smallest
        }
    }
}
