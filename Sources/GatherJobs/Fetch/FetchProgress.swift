import GatherCore
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Live counters of a fetch run, updated by the workers and read by the progress line.
final class FetchCounters: Sendable {
    let started = Atomic<Int>(0)
    let done = Atomic<Int>(0)
    let failed = Atomic<Int>(0)
    let retries = Atomic<Int>(0)
}

/// The progress line on stderr: done/total, rate, ETA, in flight, retries and failures. Only drawn when
/// stderr is a terminal; redrawn four times a second in place.
struct FetchProgress {
    let counters: FetchCounters
    let total: Int?

    /// Whether stderr is a terminal (progress is drawn only then).
    static var stderrIsTerminal: Bool { isatty(2) == 1 }

    /// Redraws until cancelled, then clears the line.
    func run() async {
        let clock = ContinuousClock()
        let start = clock.now
        while !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(250))
            let elapsed = start.duration(to: clock.now).seconds
            let done = self.counters.done.load(ordering: .relaxed)
            let inFlight = self.counters.started.load(ordering: .relaxed) - done
            let rate = elapsed > 0 ? Double(done) / elapsed : 0
            var line = "\r\u{1B}[2K"
            if let total = self.total, total > 0 {
                let percent = Double(done) * 100 / Double(total)
                line += "\(done)/\(total) (\(FetchSummary.format(percent, digits: 1))%)"
                if rate > 0 {
                    line += " ETA \(Self.clock(Double(total - done) / rate))"
                }
            } else {
                line += "\(done) done"
            }
            line += " | \(FetchSummary.format(rate, digits: 0)) /s | in flight \(inFlight)"
            line += " | retries \(self.counters.retries.load(ordering: .relaxed))"
            line += " | failed \(self.counters.failed.load(ordering: .relaxed))"
            Self.writeStderr(line)
        }
        Self.writeStderr("\r\u{1B}[2K")
    }

    static func clock(_ seconds: Double) -> String {
        let s = Int(seconds.isFinite ? seconds : 0)
        return s >= 3600 ? "\(s / 3600)h\(s % 3600 / 60)m" : s >= 60 ? "\(s / 60)m\(s % 60)s" : "\(s)s"
    }

    static func writeStderr(_ text: String) {
        StandardError.write(text)
    }
}
