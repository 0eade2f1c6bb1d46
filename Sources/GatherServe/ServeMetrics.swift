import CoreMetrics
import GatherCore
import Synchronization

/// What `gather serve` records: Prometheus series through swift-metrics, and the same counts for the summary
/// printed on stop.
///
/// - `gather_serve_requests_total{status}`: answers by HTTP status.
/// - `gather_serve_queue_records`: records waiting for a worker.
/// - `gather_serve_queue_wait_seconds`: how long requests waited for their batch.
/// - `gather_serve_batch_records`, `gather_serve_batch_seconds`, `gather_serve_record_seconds`: batch sizes and
///   service times per batch and per record.
/// - `gather_serve_batches_total{reason}`: why batches left (`full`, `waited`, `idle`).
/// - `gather_serve_shed_total{reason}`: requests not served (`queue_full`, `deadline`, `workers`, `stopping`,
///   `disconnected`), and `late`: served, but answered 504 because the answer came after the deadline.
/// - `gather_serve_worker_restarts_total`: worker processes started again after a failure.
final class ServeMetrics: Sendable {
    /// The counts behind the summary.
    struct Counts: Sendable {
        var statuses: [Int: Int] = [:]
        var sheds: [String: Int] = [:]
        var batches = 0
        var records = 0
        var releases: [String: Int] = [:]
        var restarts = 0
    }

    private let counts = Mutex(Counts())
    private let depth = Gauge(label: "gather_serve_queue_records")
    private let wait = CoreMetrics.Timer(label: "gather_serve_queue_wait_seconds")
    private let batchRecords = Recorder(label: "gather_serve_batch_records", aggregate: true)
    private let batchTime = CoreMetrics.Timer(label: "gather_serve_batch_seconds")
    private let recordTime = CoreMetrics.Timer(label: "gather_serve_record_seconds")
    private let restartCounter = Counter(label: "gather_serve_worker_restarts_total")

    var snapshot: Counts { self.counts.withLock { $0 } }

    func answered(status: Int) {
        self.counts.withLock { $0.statuses[status, default: 0] += 1 }
        Counter(label: "gather_serve_requests_total", dimensions: [("status", String(status))]).increment()
    }

    func shed(_ rejection: Batcher.Rejection) { self.shed(reason: rejection.reason) }

    /// A worker answered, but after the request's deadline: 504, and work wasted (`late`).
    func answeredLate() { self.shed(reason: "late") }

    private func shed(reason: String) {
        self.counts.withLock { $0.sheds[reason, default: 0] += 1 }
        Counter(label: "gather_serve_shed_total", dimensions: [("reason", reason)]).increment()
    }

    func queueDepth(_ records: Int) { self.depth.record(records) }

    func queueWait(_ duration: Duration) { self.wait.recordNanoseconds(duration.nanosecondsClamped) }

    func batch(records: Int, elapsed: Duration, release: Batcher.Release) {
        self.counts.withLock {
            $0.batches += 1
            $0.records += records
            $0.releases[release.rawValue, default: 0] += 1
        }
        self.batchRecords.record(records)
        self.batchTime.recordNanoseconds(elapsed.nanosecondsClamped)
        self.recordTime.recordNanoseconds(elapsed.nanosecondsClamped / Int64(max(1, records)))
        Counter(label: "gather_serve_batches_total", dimensions: [("reason", release.rawValue)]).increment()
    }

    /// Brings the restart counter up to the pool's `total`.
    func restarts(total: Int) {
        let added = self.counts.withLock { counts -> Int in
            defer { counts.restarts = max(counts.restarts, total) }
            return max(0, total - counts.restarts)
        }
        if added > 0 { self.restartCounter.increment(by: added) }
    }

    /// The summary printed when the server stops.
    func render(name: String, elapsed: Duration) -> String {
        let counts = self.snapshot
        let requests = counts.statuses.values.reduce(0, +)
        var lines = [
            "gather serve \(name): \(requests) requests in \(TextTable.decimal(elapsed.seconds)) s; by status: "
                + counts.statuses.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        ]
        let mean = counts.batches > 0 ? Double(counts.records) / Double(counts.batches) : 0
        lines.append(
            "  \(counts.batches) batches, \(counts.records) records, mean batch \(TextTable.decimal(mean)); left: "
                + counts.releases.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
        lines.append(
            "  shed: "
                + (counts.sheds.isEmpty
                    ? "none"
                    : counts.sheds.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
                + "; worker restarts: \(counts.restarts)")
        return lines.joined(separator: "\n")
    }
}
