public import GatherCore
public import GatherProcess
public import GatherStore
public import GatherStream

/// What a run did, per resource, as committed to the destination (`_gather_resource_runs`).
///
/// The counts reconcile: every record taken from a response was written, filtered out, or became an error row
/// (`records == written + filtered + record errors`); request failures are error rows too.
public struct RunSummary: Sendable {
    public var runID: String
    public var pipeline: String
    public var destination: String
    /// `completed`, `completed_with_errors` or `interrupted`.
    public var outcome: String
    /// `true` when this run continued an interrupted one.
    public var resumed: Bool
    public var resources: [ResourceCounts]
    public var elapsed: Duration
    /// Retries made by this process, by cause (`http_500`, `connection_reset`, `response_action`…).
    public var retryCauses: [String: Int] = [:]
    /// What the workers of each `process` stage did.
    public var workers: [StageWorkers] = []
    /// What each stream resource did in this process: events, late events, reconnects, close → commit latency.
    public var streams: [StreamResource] = []
    /// Why records and requests failed in this process, by reason.
    public var errorDigest = ErrorDigest()

    /// One stream resource's statistics.
    public struct StreamResource: Sendable {
        public var name: String
        public var statistics: StreamStatistics
    }

    /// The workers of one `process` stage: batches, failures, timeouts, restarts, retried and lost batches.
    public struct StageWorkers: Sendable {
        public var stage: String
        public var statistics: ProcessPool.Statistics
    }

    /// The totals over all resources.
    public var total: ResourceCounts {
        var total = ResourceCounts(runID: self.runID, resource: "total")
        for counts in self.resources { total.add(counts) }
        return total
    }

    /// A table for the terminal.
    public func render() -> String {
        var lines: [String] = []
        let seconds = Double(self.elapsed.components.seconds) + Double(self.elapsed.components.attoseconds) / 1e18
        lines.append(
            "gather run \(self.pipeline): \(self.outcome)\(self.resumed ? " (resumed)" : "") in "
                + TextTable.decimal(seconds) + " s → \(self.destination) (run \(self.runID))")
        let header = ["resource", "requests", "pages", "records", "written", "rows", "filtered", "errors", "retries"]
        var rows = [header]
        for counts in self.resources + (self.resources.count > 1 ? [self.total] : []) {
            rows.append(
                [
                    counts.resource, "\(counts.requests)", "\(counts.pages)", "\(counts.records)", "\(counts.written)",
                    "\(counts.rows)", "\(counts.filtered)", "\(counts.errors)", "\(counts.retries)",
                ])
        }
        lines += TextTable.render(rows)
        if !self.retryCauses.isEmpty {
            lines.append(
                "retries by cause: "
                    + self.retryCauses.sorted { ($0.value, $1.key) > ($1.value, $0.key) }.map {
                        "\($0.key) \($0.value)"
                    }
                    .joined(separator: ", "))
        }
        for stage in self.workers {
            lines.append("\(stage.stage): \(stage.statistics.batches) batches; \(stage.statistics.summary)")
        }
        for stream in self.streams { lines.append("\(stream.name) (stream): \(stream.statistics.summary)") }
        lines += self.errorDigest.render(rows: "_gather_errors (WHERE run_id = '\(self.runID)')")
        return lines.joined(separator: "\n")
    }

    /// The summary as JSON (stored in `_gather_runs.summary`).
    public var json: String {
        var resources = Record()
        for counts in self.resources { resources[counts.resource] = counts.value }
        return JSONWriter.string(.object(resources))
    }

    /// The whole summary as a JSON object (`--summary-json`): the same figures as ``render()``.
    public var value: Value {
        var resources = Record()
        for counts in self.resources { resources[counts.resource] = counts.value }
        return .object(
            Record([
                ("command", "run"), ("pipeline", .string(self.pipeline)), ("run_id", .string(self.runID)),
                ("destination", .string(self.destination)), ("outcome", .string(self.outcome)),
                ("resumed", .bool(self.resumed)), ("elapsed_s", .double(self.elapsed.seconds)),
                ("resources", .object(resources)), ("total", self.total.value),
                (
                    "retry_causes",
                    .object(Record(self.retryCauses.sorted { $0.key < $1.key }.map { ($0.key, .int(Int64($0.value))) }))
                ),
                (
                    "workers",
                    .object(Record(self.workers.map { ($0.stage, $0.statistics.value) }))
                ),
                ("streams", .object(Record(self.streams.map { ($0.name, $0.statistics.value) }))),
            ]))
    }
}
