import GatherCore
import GatherStore
import GatherStream
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Progress on standard error while a run goes: one line per resource, redrawn at most 5 times a second on a
/// terminal, or, when standard error is a file or a pipe, every 5 seconds from the fifth on, with a last set of
/// lines at the end so that the last progress in a log agrees with the summary under it. Silent when disabled.
public final class RunProgress: Sendable {
    private let enabled: Bool
    private let isTerminal: Bool
    private let state = Mutex<State>(State())
    private let snapshot: Mutex<(@Sendable () -> [ResourceCounts])?> = Mutex(nil)
    private let streams = Mutex<[(name: String, statistics: StreamStatistics, since: ContinuousClock.Instant)]>([])

    struct State {
        var lastDraw: ContinuousClock.Instant?
        var linesDrawn = 0
    }

    public init(enabled: Bool) {
        self.enabled = enabled
        self.isTerminal = isatty(2) == 1
        // In a log, a run that ends within 5 seconds has no progress lines, only its summary.
        if !self.isTerminal { self.state.withLock { $0.lastDraw = .now } }
    }

    func attach(_ source: @escaping @Sendable () -> [ResourceCounts]) {
        self.snapshot.withLock { $0 = source }
    }

    /// Adds a stream resource's line: events and their rate, lag (now minus the watermark), open windows, late
    /// events, errors, reconnects.
    func attachStream(_ name: String, _ statistics: StreamStatistics) {
        self.streams.withLock { $0.append((name, statistics, ContinuousClock.now)) }
    }

    /// The stream resources' statistics, for the summary.
    var streamStatistics: [RunSummary.StreamResource] {
        self.streams.withLock { $0.map { RunSummary.StreamResource(name: $0.name, statistics: $0.statistics) } }
    }

    /// Called after every commit; draws when enough time has passed.
    func changed() {
        guard self.enabled else { return }
        let now = ContinuousClock.now
        let interval: Duration = self.isTerminal ? .milliseconds(200) : .seconds(5)
        let due = self.state.withLock { state in
            if let last = state.lastDraw, last.duration(to: now) < interval { return false }
            state.lastDraw = now
            return true
        }
        if due { self.draw() }
    }

    /// Clears the progress lines before the summary.
    func finish() {
        guard self.enabled else { return }
        let lines = self.state.withLock { $0.linesDrawn }
        guard lines > 0 else { return }
        if self.isTerminal {
            StandardError.write("\u{1B}[\(lines)A\u{1B}[J")
        } else {
            self.draw()  // the final counts, so that the log's last progress is not stale
        }
    }

    private func draw() {
        let counts = self.snapshot.withLock({ $0 })?() ?? []
        let streams = self.streams.withLock { $0 }
        let streamNames = Set(streams.map(\.name))
        var text = ""
        let previous = self.state.withLock { $0.linesDrawn }
        if self.isTerminal, previous > 0 { text += "\u{1B}[\(previous)A" }
        for stream in streams {
            text += "  " + Self.streamLine(stream.name, stream.statistics, since: stream.since)
            text += self.isTerminal ? "\u{1B}[K\n" : "\n"
        }
        for c in counts where !streamNames.contains(c.resource) {
            text +=
                "  \(c.resource): \(TextTable.count(c.pages, "page")), \(TextTable.count(c.written, "record")) written, "
                + "\(c.filtered) filtered, \(TextTable.count(c.errors, "error"))"
                + (self.isTerminal ? "\u{1B}[K\n" : "\n")
        }
        self.state.withLock { $0.linesDrawn = counts.count - streamNames.count + streams.count }
        StandardError.write(text)
    }

    static func streamLine(_ name: String, _ statistics: StreamStatistics, since: ContinuousClock.Instant) -> String {
        let s = statistics.snapshot
        let seconds = max(0.001, since.duration(to: .now).seconds)
        var line = "\(name): \(s.eventsRead) events (\(Int(Double(s.eventsRead) / seconds))/s), \(s.rows) rows"
        if s.watermark != .min {
            let lag = Double(Timestamp.epochMillis() - s.watermark) / 1000
            line += ", lag \((lag * 10).rounded() / 10) s, \(s.openWindows) open windows"
        }
        line += ", \(s.late) late, \(s.errors) errors"
        let source = statistics.source
        if source.reconnects > 0 { line += ", \(source.reconnects) reconnects" }
        if source.duplicates > 0 { line += ", \(source.duplicates) duplicates dropped" }
        if !source.isConnected, let error = source.lastError { line += " — retrying: \(error)" }
        return line
    }
}
