import GatherCore
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Progress on standard error while a run goes: one line per resource, redrawn at most 5 times a second on a
/// terminal, or one line every 5 seconds otherwise. Silent when disabled.
public final class RunProgress: Sendable {
    private let enabled: Bool
    private let isTerminal: Bool
    private let state = Mutex<State>(State())
    private let snapshot: Mutex<(@Sendable () -> [ResourceCounts])?> = Mutex(nil)

    struct State {
        var lastDraw: ContinuousClock.Instant?
        var linesDrawn = 0
    }

    public init(enabled: Bool) {
        self.enabled = enabled
        self.isTerminal = isatty(2) == 1
    }

    func attach(_ source: @escaping @Sendable () -> [ResourceCounts]) {
        self.snapshot.withLock { $0 = source }
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
        guard self.enabled, self.isTerminal else { return }
        let lines = self.state.withLock { $0.linesDrawn }
        if lines > 0 { StandardError.write("\u{1B}[\(lines)A\u{1B}[J") }
    }

    private func draw() {
        guard let counts = self.snapshot.withLock({ $0 })?() else { return }
        var text = ""
        let previous = self.state.withLock { $0.linesDrawn }
        if self.isTerminal, previous > 0 { text += "\u{1B}[\(previous)A" }
        for c in counts {
            text +=
                "  \(c.resource): \(c.pages) pages, \(c.written) records written, \(c.filtered) filtered, "
                + "\(c.errors) errors" + (self.isTerminal ? "\u{1B}[K\n" : "\n")
        }
        self.state.withLock { $0.linesDrawn = counts.count }
        StandardError.write(text)
    }
}
