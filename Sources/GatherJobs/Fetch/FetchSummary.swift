public import GatherCore
public import GatherStore
import Histogram

/// The reconciled counts of a `gather fetch` run: every input item is either succeeded or failed, and the
/// numbers say so. Printed to stderr at the end; written as JSON with `--summary-json`.
public struct FetchSummary: Sendable {
    /// Items read from the input (records written).
    public private(set) var items = 0
    /// Items that ended with a 2xx/3xx response and a usable body.
    public private(set) var succeeded = 0
    /// Items that ended with an error record.
    public private(set) var failed = 0
    /// Of the succeeded items, those a response action said to ignore (no data, no error).
    public private(set) var ignored = 0
    /// Redirects followed.
    public private(set) var redirects = 0
    /// Retries by cause: `http_500`, `connection_reset`, `timeout_read`, `response_action`…
    public private(set) var retryCauses: [String: Int] = [:]
    /// Why the run stopped early (a response action said `fail`), if it did.
    public var stoppedBy: String?
    /// Responses by status class: `2xx`, `3xx`, `4xx`, `5xx`.
    public var statusClasses: [String: Int] {
        var classes: [String: Int] = [:]
        for (index, count) in self.statusClassCounts.enumerated() where count > 0 { classes["\(index)xx"] = count }
        return classes
    }
    private var statusClassCounts = [Int](repeating: 0, count: 10)
    /// Failures by error code.
    public private(set) var errorCodes: [String: Int] = [:]
    /// Failures by reason (code and message, the item's own URL left out), with an example input line each.
    public private(set) var errorDigest = ErrorDigest()
    /// Retries made (attempts beyond the first).
    public private(set) var retries = 0
    /// Body bytes received.
    public private(set) var bytes = 0
    /// A finished run of the same input into the same table.
    public struct Previous: Sendable, Hashable {
        public var runID: String
        public var items: Int
        public var failed: Int
    }

    /// Set when nothing ran: the same input was fetched into the same table by a finished run.
    public var alreadyFetched: Previous?
    /// The run in the destination's ledger (with --into).
    public var runID: String?
    /// This run continued an interrupted one.
    public var resumed = false
    /// Items read but not sent because the run stopped (and, into a database, ones cut off in flight): not in
    /// the output.
    public var notFinished = 0
    /// Input lines a resumed run skipped because the interrupted run had written them.
    public var skipped = 0

    /// Where the failed items' records are, for the summary to point at.
    public var errorRecords = "the output (records with an \"error\" field)"
    /// Whether the run was interrupted (SIGINT/SIGTERM) before it read all its input.
    public var interrupted = false
    /// Wall time of the whole run.
    public var wall: Duration = .zero
    private var latencyMicros = Histogram<UInt64>(
        highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: .three)

    /// An empty summary.
    public init() {}

    /// Counts one record.
    public mutating func add(_ record: FetchRecord) {
        self.items += 1
        if record.failed {
            self.failed += 1
            let failure = record.failure!
            self.errorCodes[failure.code, default: 0] += 1
            let reason = record.url.isEmpty ? failure.message : failure.message.replacing(record.url, with: "URL")
            self.errorDigest.add(
                resource: "", code: failure.code, message: reason, example: "input line \(record.line): \(record.url)")
        } else {
            self.succeeded += 1
            if record.ignored { self.ignored += 1 }
        }
        for (cause, count) in record.retryCauses { self.retryCauses[cause, default: 0] += count }
        self.redirects += record.redirects
        if record.stopsRun, self.stoppedBy == nil { self.stoppedBy = record.failure?.message }
        if let status = record.status { self.statusClassCounts[min(9, max(0, status / 100))] += 1 }
        self.retries += max(0, record.attempts - 1)
        self.bytes += record.bodyBytes
        if record.attempts > 0 {
            _ = self.latencyMicros.record(UInt64(max(0, min(record.elapsedMs * 1000, 3_600_000_000))))
        }
    }

    /// Latency percentile in milliseconds (p in 0…100), over items that made at least one attempt.
    public func latencyMs(percentile: Double) -> Double {
        self.latencyMicros.totalCount == 0 ? 0 : Double(self.latencyMicros.valueAtPercentile(percentile)) / 1000
    }

    /// The slowest item in milliseconds.
    public var maxLatencyMs: Double {
        self.latencyMicros.totalCount == 0 ? 0 : Double(self.latencyMicros.max) / 1000
    }

    /// Items per second over the wall time.
    public var throughput: Double { self.wall.seconds > 0 ? Double(self.items) / self.wall.seconds : 0 }

    /// The summary as a JSON object (the `--summary-json` format).
    public var value: Value {
        func counts(_ map: [String: Int]) -> Value {
            .object(Record(map.sorted { $0.key < $1.key }.map { ($0.key, .int(Int64($0.value))) }))
        }
        func ms(_ v: Double) -> Value { .double((v * 1000).rounded() / 1000) }
        return .object(
            Record([
                ("items", .int(Int64(self.items))),
                ("succeeded", .int(Int64(self.succeeded))),
                ("failed", .int(Int64(self.failed))),
                ("ignored", .int(Int64(self.ignored))),
                ("interrupted", .bool(self.interrupted)),
                ("status", counts(self.statusClasses)),
                ("errors", counts(self.errorCodes)),
                ("retries", .int(Int64(self.retries))),
                ("retry_causes", counts(self.retryCauses)),
                ("redirects", .int(Int64(self.redirects))),
                ("bytes", .int(Int64(self.bytes))),
                (
                    "latency_ms",
                    .object(
                        Record([
                            ("p50", ms(self.latencyMs(percentile: 50))), ("p90", ms(self.latencyMs(percentile: 90))),
                            ("p99", ms(self.latencyMs(percentile: 99))), ("max", ms(self.maxLatencyMs)),
                        ])
                    )
                ),
                ("wall_s", .double((self.wall.seconds * 1000).rounded() / 1000)),
                ("items_per_s", .double((self.throughput * 10).rounded() / 10)),
            ])
        )
    }

    /// The summary for people, several lines (the stderr format).
    public var text: String {
        if let previous = self.alreadyFetched {
            return "gather fetch: already fetched (run \(previous.runID)): \(TextTable.count(previous.items, "item")), "
                + "\(previous.failed) failed; a changed input fetches again, --fresh "
                + "fetches every line again"
        }
        var lines: [String] = []
        var head = self.interrupted ? "gather fetch: interrupted" : "gather fetch: done"
        if self.resumed {
            head += " (resumed run \(self.runID ?? "?"): \(self.skipped) lines done before were skipped)"
        }
        lines.append(
            "\(head): \(TextTable.count(self.items, "item")), \(self.succeeded) succeeded, \(self.failed) failed"
                + " in \(Self.format(self.wall.seconds, digits: 2)) s (\(Self.format(self.throughput, digits: 1)) items/s)"
        )
        if !self.statusClasses.isEmpty {
            lines.append(
                "  status: "
                    + self.statusClasses.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(
                        separator: ", "))
        }
        if !self.errorCodes.isEmpty {
            lines.append(
                "  errors: "
                    + self.errorCodes.sorted { $0.value > $1.value }.map { "\($0.key) \($0.value)" }.joined(
                        separator: ", "))
        }
        var retries = "  retries: \(self.retries)"
        if !self.retryCauses.isEmpty {
            retries +=
                " ("
                + self.retryCauses.sorted { ($0.value, $1.key) > ($1.value, $0.key) }.map { "\($0.key) \($0.value)" }
                .joined(separator: ", ") + ")"
        }
        if self.redirects > 0 { retries += ", redirects: \(self.redirects)" }
        if self.ignored > 0 { retries += ", ignored by a response action: \(self.ignored)" }
        lines.append(retries + ", bytes: \(Self.formatBytes(self.bytes))")
        if let stoppedBy = self.stoppedBy { lines.append("  stopped early: \(stoppedBy)") }
        lines.append(
            "  latency ms: p50 \(Self.format(self.latencyMs(percentile: 50), digits: 1))"
                + ", p90 \(Self.format(self.latencyMs(percentile: 90), digits: 1))"
                + ", p99 \(Self.format(self.latencyMs(percentile: 99), digits: 1))"
                + ", max \(Self.format(self.maxLatencyMs, digits: 1))"
        )
        lines += self.errorDigest.render(rows: self.errorRecords, what: "items")
        if self.notFinished > 0 {
            lines.append(
                "  \(TextTable.count(self.notFinished, "item")) not sent or cut off by the stop (not in the output)")
        }
        if self.interrupted {
            lines.append(
                self.runID != nil
                    ? "  run the same command again to continue: lines already written are skipped"
                    : "  input not read after the interruption is not in the output; to fetch the rest, run again with "
                        + "--into DB (which continues where it stopped), or on the lines not in the output "
                        + "(each record's \"line\" is its input line)")
        }
        return lines.joined(separator: "\n")
    }

    static func format(_ value: Double, digits: Int) -> String {
        var scale = 1.0
        for _ in 0..<digits { scale *= 10 }
        let rounded = (value * scale).rounded() / scale
        var text = String(rounded)
        if let dot = text.firstIndex(of: ".") {
            let decimals = text.distance(from: dot, to: text.endIndex) - 1
            if decimals < digits { text += String(repeating: "0", count: digits - decimals) }
        }
        return text
    }

    static func formatBytes(_ bytes: Int) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var value = Double(bytes)
        var unit = 0
        while value >= 1024, unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        return unit == 0 ? "\(bytes) B" : "\(format(value, digits: 1)) \(units[unit])"
    }
}
