import GatherCore

/// What a windowed stream computes: windows of event time per key, and aggregates over each.
public struct WindowSpec: Sendable, Hashable {
    public enum Kind: Sendable, Hashable {
        /// Back-to-back windows of `size` ms, aligned to the Unix epoch.
        case tumbling(size: Int64)
        /// Windows of `size` ms starting every `every` ms (aligned to the epoch); an event is in `size / every` of
        /// them.
        case sliding(size: Int64, every: Int64)
        /// A key's events closer than `gap` ms to each other form one window, which ends `gap` after its last event.
        case session(gap: Int64)
    }

    public var kind: Kind
    /// The key fields (dotted paths); none: one window for all events.
    public var key: [String]
    public var aggregates: [AggregateSpec]
    /// How long after its end (in event time) a window still takes late events, which update its row.
    public var allowedLateness: Int64

    public init(kind: Kind, key: [String], aggregates: [AggregateSpec], allowedLateness: Int64 = 0) {
        self.kind = kind
        self.key = key
        self.aggregates = aggregates
        self.allowedLateness = allowedLateness
    }

    /// The start of every tumbling or sliding window `time` falls into, oldest first (none for sessions): the
    /// points of the `every` grid after `time - size`, up to `time`. (No array: this runs once per event.)
    func starts(of time: Int64) -> StrideThrough<Int64> {
        switch self.kind {
        case .tumbling(let size):
            let start = Self.floor(time, size)
            return stride(from: start, through: start, by: Int(size))
        case .sliding(let size, let every):
            return stride(
                from: Self.floor(time - size, every) + every, through: Self.floor(time, every), by: Int(every))
        case .session:
            return stride(from: 0, through: -1, by: 1)
        }
    }

    /// The end of the window starting at `start` (tumbling and sliding).
    func end(ofStart start: Int64) -> Int64 {
        switch self.kind {
        case .tumbling(let size), .sliding(let size, _): start.saturatingAdd(size)
        case .session(let gap): start.saturatingAdd(gap)
        }
    }

    static func floor(_ value: Int64, _ step: Int64) -> Int64 {
        let quotient = value / step
        return (value % step != 0 && value < 0 ? quotient - 1 : quotient) * step
    }

    /// The names of the columns a window row has, in order.
    public var columns: [String] {
        self.key.map(Self.columnName) + ["window_start", "window_end"] + self.aggregates.map(\.name)
    }

    /// A key path's column: `device.id` is written as `device__id`, as nested fields are elsewhere.
    static func columnName(_ path: String) -> String {
        path.replacingOccurrences(of: ".", with: "__")
    }
}

extension String {
    fileprivate func replacingOccurrences(of target: String, with replacement: String) -> String {
        self.split(separator: Character(target), omittingEmptySubsequences: false).joined(separator: replacement)
    }
}
