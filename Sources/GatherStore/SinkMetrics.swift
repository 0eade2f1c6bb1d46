import CoreMetrics
import GatherCore

/// What every sink reports per commit, through swift-metrics (silent until a process bootstraps a backend, as
/// `--metrics` does): `gather_commit_duration_seconds{sink}`, `gather_commits_total{sink}`, and per resource
/// `gather_records_read_total`, `gather_records_written_total`, `gather_records_errored_total` and
/// `gather_records_filtered_total`, taken from the batch's counters, so they add up to the run summary.
public enum SinkMetrics {
    /// Records one committed batch.
    public static func committed(_ batch: SinkBatch, sink: String, duration: Duration) {
        CoreMetrics.Timer(label: "gather_commit_duration_seconds", dimensions: [("sink", sink)])
            .recordNanoseconds(duration.nanosecondsClamped)
        Counter(label: "gather_commits_total", dimensions: [("sink", sink)]).increment()
        for counts in batch.counts {
            Records(resource: counts.resource).add(
                read: counts.records, written: counts.written, errored: counts.errors, filtered: counts.filtered)
        }
    }

    /// The record counters of one resource. A job whose records do not pass through a ``Sink`` makes them once
    /// and counts every record (`gather fetch`).
    public struct Records: Sendable {
        let read: Counter
        let written: Counter
        let errored: Counter
        let filtered: Counter

        public init(resource: String) {
            let dimensions = [("resource", resource)]
            self.read = Counter(label: "gather_records_read_total", dimensions: dimensions)
            self.written = Counter(label: "gather_records_written_total", dimensions: dimensions)
            self.errored = Counter(label: "gather_records_errored_total", dimensions: dimensions)
            self.filtered = Counter(label: "gather_records_filtered_total", dimensions: dimensions)
        }

        /// Counts one record, written or errored.
        public func count(failed: Bool) {
            self.read.increment()
            (failed ? self.errored : self.written).increment()
        }

        /// Adds a batch's counts.
        public func add(read: Int, written: Int, errored: Int, filtered: Int) {
            let amounts = [
                (self.read, read), (self.written, written), (self.errored, errored), (self.filtered, filtered),
            ]
            for (counter, amount) in amounts where amount > 0 { counter.increment(by: amount) }
        }
    }
}
