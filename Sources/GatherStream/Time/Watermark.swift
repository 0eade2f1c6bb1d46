/// Event-time progress: "no event older than this is still expected". Per source partition it is the newest
/// event time seen minus `maxDelay` (bounded out-of-orderness); the stream's watermark is the minimum over the
/// partitions that are not idle, and it never goes back.
///
/// A partition with no event for `idle` stops holding the others back. When every partition is idle the
/// watermark moves on with the wall clock from the newest event time, so the last windows of a quiet stream
/// still close. That advance depends on timing, so a kill test with exact results keeps its streams from going
/// idle (or runs without `idle`).
public struct Watermark: Sendable, Hashable {
    public var maxDelay: Int64
    /// Milliseconds without an event after which a partition is idle; `nil`: never.
    public var idle: Int64?
    /// The newest event time per partition.
    public private(set) var newest: [String: Int64] = [:]
    /// When each partition last had an event (wall-clock ms, not saved).
    private var lastArrival: [String: Int64] = [:]
    /// The current watermark (`Int64.min` before any event).
    public private(set) var current: Int64 = .min

    public init(maxDelay: Int64, idle: Int64? = nil) {
        self.maxDelay = maxDelay
        self.idle = idle
    }

    /// The most partitions a stream may have: each is kept in memory and in the saved state.
    public static let maxPartitions = 10_000

    public var partitions: Int { self.newest.count }
    public func knows(_ partition: String) -> Bool { self.newest[partition] != nil }

    /// Takes an event's time; the watermark itself moves in ``advance(now:)``.
    public mutating func observe(_ eventTime: Int64, partition: String, now: Int64) {
        if eventTime > self.newest[partition] ?? .min { self.newest[partition] = eventTime }
        self.lastArrival[partition] = now
    }

    /// Recomputes the watermark at wall-clock time `now` (ms) and returns it.
    @discardableResult
    public mutating func advance(now: Int64) -> Int64 {
        guard !self.newest.isEmpty else { return self.current }
        var candidate: Int64
        if let idle = self.idle {
            let active = self.newest.filter { now - (self.lastArrival[$0.key] ?? now) < idle }
            if let slowest = active.values.min() {
                candidate = slowest.saturatingSubtract(self.maxDelay)
            } else {
                // Every partition idle: event time follows the wall clock from the newest event.
                let newest = self.newest.values.max()!
                let quiet = now - (self.lastArrival.values.max() ?? now) - idle
                candidate = newest.saturatingSubtract(self.maxDelay) &+ Swift.max(0, quiet)
            }
        } else {
            candidate = self.newest.values.min()!.saturatingSubtract(self.maxDelay)
        }
        if candidate > self.current { self.current = candidate }
        return self.current
    }

    /// The saved form: the watermark and the newest time per partition.
    public var saved: (current: Int64, newest: [String: Int64]) { (self.current, self.newest) }

    /// Restores a saved watermark; the partitions count as having just had an event.
    public mutating func restore(current: Int64, newest: [String: Int64], now: Int64) {
        self.current = current
        self.newest = newest
        self.lastArrival = newest.mapValues { _ in now }
    }
}

extension Int64 {
    func saturatingSubtract(_ other: Int64) -> Int64 {
        let (result, overflow) = self.subtractingReportingOverflow(other)
        return overflow ? (other > 0 ? .min : .max) : result
    }

    func saturatingAdd(_ other: Int64) -> Int64 {
        let (result, overflow) = self.addingReportingOverflow(other)
        return overflow ? (other > 0 ? .max : .min) : result
    }
}
