public import GatherCore
public import GatherFiles
import GatherFormats
public import GatherProcess
public import GatherStore
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// `gather map` as a library call: every line of a JSON Lines file is a task (a hyperparameter set, a record to
/// score) for a pool of worker processes; each result is committed as soon as it returns, with the task marked
/// done in the same transaction, so a killed or interrupted map re-runs only unfinished tasks.
///
/// ```swift
/// var options = MapJob.Options(input: "grid.jsonl", command: ["python3", "train.py"], destination: .sqlite(path: "r.db"))
/// options.pool.workers = 2
/// let summary = try await MapJob(options: options).run()
/// ```
///
/// Rows carry the worker's result fields plus `input_line`; a task the worker could not handle (or that killed
/// two workers) is an error row in `_gather_errors` naming `FILE:LINE` and why. A run that completed is not
/// done again (`fresh` starts over).
public final class MapJob: Sendable {
    /// What to run, on what, and where results go.
    public struct Options: Sendable {
        /// The JSON Lines file of tasks.
        public var input: String
        /// The worker processes.
        public var pool: ProcessPool.Configuration
        /// Tasks per message to a worker.
        public var batch = 1
        /// Where results go (every destination `gather load` takes).
        public var destination: Destination
        /// The results table; default: the input file's name.
        public var table: String
        /// Start over instead of continuing (or skipping) the last run.
        public var fresh = false
        /// Draw a progress line on stderr (when it is a terminal).
        public var progress = true

        public init(input: String, command: [String], destination: Destination) {
            self.input = input
            self.pool = ProcessPool.Configuration(command: command)
            self.destination = destination
            self.table = LoadFile.defaultTable(for: input)
        }
    }

    public let options: Options
    /// Fire to stop taking tasks; batches with workers finish and are committed.
    public let stop = StopSignal()
    private let running = Mutex<[Int: ContinuousClock.Instant]>([:])
    private let done = Atomic<Int>(0)

    public init(options: Options) {
        self.options = options
    }

    var scope: String { "map:" + self.options.table }

    /// Runs every unfinished task and returns the summary.
    ///
    /// - Throws: ``JobError`` for an input or destination that cannot be used, or a pool that cannot start.
    public func run() async throws -> MapSummary {
        let options = self.options
        let clock = ContinuousClock()
        let started = clock.now
        guard access(options.input, R_OK) == 0 else {
            throw JobError.usage("cannot read the input \(options.input): \(String(cString: strerror(errno)))")
        }
        return try await withSink(
            {
                do {
                    return try await options.destination.open(connections: 2)
                } catch {
                    throw JobError.usage("--into: \(error)")
                }
            },
            { sink in try await self.run(into: sink, clock: clock, started: started) })
    }

    private func run(into sink: any Sink, clock: ContinuousClock, started: ContinuousClock.Instant) async throws
        -> MapSummary
    {
        let options = self.options
        let pipeline = self.scope
        var summary = MapSummary(table: options.table)
        if !options.fresh, let last = try await sink.lastRun(pipeline: pipeline),
            RunOutcome(rawValue: last.outcome)?.isFinished == true
        {
            summary.runID = last.runID
            summary.outcome = "already done"
            summary.alreadyDone = true
            summary.totals = try await sink.counts(runID: last.runID).first ?? summary.totals
            return summary
        }
        var reset = SinkBatch()
        reset.state = [.clear(scope: pipeline)]
        let ledger = try await RunLedger.begin(sink: sink, pipeline: pipeline, fresh: options.fresh) { [reset] in reset
        }
        summary.runID = ledger.runID
        summary.resumed = ledger.resumed
        var finished: Set<Int> = []
        if ledger.resumed {
            for entry in try await sink.state(scopePrefix: pipeline) where entry.scope == pipeline {
                finished.formUnion(MapBatch.lines(fromState: entry.value))
            }
        }
        summary.skipped = finished.count

        let remaining = await LineReader.countLines(path: options.input).map { $0 - finished.count }
        var progress: Task<Void, Never>?
        if options.progress && isatty(2) == 1 {
            progress = Task { [self] in await self.drawProgress(total: remaining, clock: ContinuousClock()) }
        }
        defer { progress?.cancel() }

        let reader = try LineReader(path: options.input, stop: stop)
        let input = MapInput(reader: reader, batch: max(1, options.batch), skip: finished, stop: self.stop)
        let normalizer = Normalizer(table: options.table, lists: .json)
        let runID = ledger.runID
        let file = options.input
        let stop = self.stop
        var poolStatistics = ProcessPool.Statistics()
        do {
            try await ProcessPool.withPool(options.pool) { pool in
                try await forEachConcurrently(input, maxConcurrency: max(1, pool.configuration.workers) * 2) {
                    batch -> (MapBatch, [RecordOutcome]) in
                    guard !batch.tasks.isEmpty else { return (batch, []) }
                    let first = batch.tasks[0].line
                    self.running.withLock { $0[first] = clock.now }
                    defer { self.running.withLock { _ = $0.removeValue(forKey: first) } }
                    return (batch, try await pool.process(batch.tasks.map(\.value)))
                } consume: { batch, outcomes in
                    let (write, counts) = Self.commit(
                        batch, outcomes: outcomes, runID: runID, table: options.table, scope: pipeline, file: file,
                        normalizer: normalizer)
                    try await sink.commit(write)
                    self.done.add(batch.tasks.count + batch.problems.count, ordering: .relaxed)
                    summary.add(counts)
                }
                poolStatistics = pool.statistics
            }
        } catch let error as ProcessPoolError {
            _ = try? await ledger.finish(stopped: true)
            throw JobError.usage(error.message)
        }
        let stopped = stop.isStopped || Task.isCancelled
        let outcome = try await ledger.finish(stopped: stopped)
        summary.outcome = outcome.rawValue
        summary.interrupted = stopped
        summary.pool = poolStatistics
        summary.totals = try await sink.counts(runID: ledger.runID).first ?? summary.totals
        summary.wall = started.duration(to: clock.now)
        return summary
    }

    /// What one answered batch commits: result rows (with `input_line`), error rows for failed tasks and bad
    /// lines, the counters, and one state row marking the batch's input lines done.
    static func commit(
        _ batch: MapBatch, outcomes: [RecordOutcome], runID: String, table: String, scope: String, file: String,
        normalizer: Normalizer
    ) -> (SinkBatch, ResourceCounts) {
        var write = SinkBatch()
        var rows: [NormalizedRow] = []
        var counts = ResourceCounts(runID: runID, resource: table)
        func error(line: Int, code: String, message: String, payload: String?) {
            counts.errors += 1
            write.errors.append(
                ErrorRow(
                    runID: runID, resource: table, request: "\(file):\(line)", code: code, message: message,
                    payload: payload, at: Timestamp.now()))
        }
        for (task, outcome) in zip(batch.tasks, outcomes) {
            counts.records += 1
            switch outcome {
            case .result(let value):
                var record: Record
                if case .object(let object) = value { record = object } else { record = ["result": value] }
                record["input_line"] = .int(Int64(task.line))
                normalizer.normalize(record, key: "\(file):\(task.line)", into: &rows)
                counts.written += 1
                counts.rows += 1
            case .error(let message), .lost(let message):
                error(
                    line: task.line, code: "worker", message: message,
                    payload: String(JSONWriter.string(task.value).prefix(1024)))
            }
        }
        for problem in batch.problems {
            counts.records += 1
            error(line: problem.line, code: "input", message: problem.message, payload: problem.excerpt)
        }
        if !rows.isEmpty { write.writes = [TableWrite(table: table, mode: .append, primaryKey: [], rows: rows)] }
        write.counts = [counts]
        let lines = batch.lines
        if let first = lines.first {
            write.state = [.put(scope: scope, key: String(first), value: MapBatch.stateValue(lines))]
        }
        return (write, counts)
    }

    /// A line on stderr once a second: done/total, rate, ETA and the slowest running task.
    private func drawProgress(total: Int?, clock: ContinuousClock) async {
        let started = clock.now
        while !Task.isCancelled {
            try? await Task.sleep(for: .seconds(1))
            let done = self.done.load(ordering: .relaxed)
            let elapsed = started.duration(to: clock.now).seconds
            let rate = elapsed > 0 ? Double(done) / elapsed : 0
            var line = "\r[map] \(done)" + (total.map { "/\($0)" } ?? "") + " tasks"
            if let total, rate > 0, done < total {
                line += ", ETA \(Int((Double(total - done) / rate).rounded())) s"
            }
            if let oldest = self.running.withLock({ $0.min { $0.value < $1.value } }) {
                line +=
                    ", slowest running: line \(oldest.key) for \(Int(oldest.value.duration(to: clock.now).seconds)) s"
            }
            StandardError.write(line + "\u{1B}[K")
        }
        StandardError.write("\r\u{1B}[K")
    }
}

/// One task: a line of the input and its JSON value.
struct MapTask: Sendable {
    var line: Int
    var value: Value
}

/// A line that is not a task (invalid JSON, too long), with what to say about it.
struct MapProblem: Sendable {
    var line: Int
    var message: String
    var excerpt: String?
}

/// Tasks for one message to a worker, and the bad lines read on the way.
struct MapBatch: Sendable {
    var tasks: [MapTask] = []
    var problems: [MapProblem] = []

    /// Every input line this batch finishes, ascending.
    var lines: [Int] { (self.tasks.map(\.line) + self.problems.map(\.line)).sorted() }

    /// Ascending lines as the state stores them: JSON ranges, `[[1,40],[42,42]]`.
    static func stateValue(_ lines: [Int]) -> String {
        var ranges: [Value] = []
        var start: Int?
        var end = 0
        for line in lines {
            if start != nil, line == end + 1 {
                end = line
            } else {
                if let first = start { ranges.append([.int(Int64(first)), .int(Int64(end))]) }
                start = line
                end = line
            }
        }
        if let first = start { ranges.append([.int(Int64(first)), .int(Int64(end))]) }
        return JSONWriter.string(.array(ranges))
    }

    /// The lines a state value names.
    static func lines(fromState text: String) -> [Int] {
        guard case .array(let ranges)? = try? JSONReader.parse(text) else { return [] }
        var lines: [Int] = []
        for range in ranges {
            guard case .array(let bounds) = range, bounds.count == 2, case .int(let low) = bounds[0],
                case .int(let high) = bounds[1], low <= high
            else { continue }
            lines.append(contentsOf: Int(low)...Int(high))
        }
        return lines
    }
}

/// The input as batches of unfinished tasks, read a line at a time.
struct MapInput: AsyncSequence {
    typealias Element = MapBatch
    let reader: LineReader
    let batch: Int
    let skip: Set<Int>
    let stop: StopSignal

    func makeAsyncIterator() -> Iterator { Iterator(input: self) }

    struct Iterator: AsyncIteratorProtocol {
        let input: MapInput

        mutating func next() async throws -> MapBatch? {
            var batch = MapBatch()
            while batch.tasks.count < self.input.batch, !self.input.stop.isStopped {
                guard let line = try await self.input.reader.next() else { break }
                switch line {
                case .tooLong(let number, let length):
                    if self.input.skip.contains(number) { continue }
                    batch.problems.append(
                        MapProblem(
                            line: number,
                            message: "\(self.input.reader.path):\(number): the line is \(length) bytes, "
                                + "over the 16 MiB cap", excerpt: nil))
                case .text(let number, let bytes):
                    if self.input.skip.contains(number) { continue }
                    if bytes.allSatisfy({ $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }) { continue }
                    do {
                        batch.tasks.append(MapTask(line: number, value: try JSONReader.parse(bytes)))
                    } catch {
                        batch.problems.append(
                            MapProblem(
                                line: number,
                                message: "\(self.input.reader.path):\(number):\(error.column): \(error.message); "
                                    + "each line must be one JSON value",
                                excerpt: String(decoding: bytes.prefix(512), as: UTF8.self)))
                    }
                }
            }
            return batch.tasks.isEmpty && batch.problems.isEmpty ? nil : batch
        }
    }
}

/// What a `gather map` run did.
public struct MapSummary: Sendable {
    public var table: String
    public var runID = ""
    /// `completed`, `completed_with_errors`, `interrupted`, or `already done` (nothing was run).
    public var outcome = ""
    public var resumed = false
    public var interrupted = false
    /// The last run had completed: nothing was run (`--fresh` runs it again).
    public var alreadyDone = false
    /// Tasks finished by an earlier attempt of this run, not run again.
    public var skipped = 0
    /// Tasks handled in this attempt.
    public var tasks = 0
    public var results = 0
    public var errors = 0
    /// The whole run's counters (earlier attempts included).
    public var totals: ResourceCounts
    public var pool = ProcessPool.Statistics()
    public var wall: Duration = .zero

    init(table: String) {
        self.table = table
        self.totals = ResourceCounts(runID: "", resource: table)
    }

    mutating func add(_ counts: ResourceCounts) {
        self.tasks += counts.records
        self.results += counts.written
        self.errors += counts.errors
    }

    /// The summary for people (stderr).
    public func render(destination: String) -> String {
        if self.alreadyDone {
            return "gather map: already done (run \(self.runID)): \(TextTable.count(self.totals.written, "result")), "
                + "\(TextTable.count(self.totals.errors, "error row")) in \(destination); --fresh runs every task again"
        }
        let resumed = self.resumed ? " (resumed)" : ""
        let seconds = TextTable.decimal(self.wall.seconds)
        let skipped = self.skipped > 0 ? ", \(self.skipped) done before and skipped" : ""
        var lines: [String] = []
        lines.append(
            "gather map: \(self.outcome)\(resumed) in \(seconds) s → \(destination) table \(self.table) (run \(self.runID))"
        )
        lines.append(
            "  \(TextTable.count(self.tasks, "task")) run, \(TextTable.count(self.results, "result")), "
                + "\(TextTable.count(self.errors, "error row"))\(skipped)")
        lines.append("  " + self.pool.summary)
        if self.interrupted { lines.append("  interrupted: run the same command again to finish the rest") }
        return lines.joined(separator: "\n")
    }

    /// The summary as JSON (`--summary-json`).
    public var value: Value {
        .object(
            Record([
                ("command", "map"), ("run_id", .string(self.runID)), ("outcome", .string(self.outcome)),
                ("resumed", .bool(self.resumed)), ("tasks", .int(Int64(self.tasks))),
                ("results", .int(Int64(self.results))), ("errors", .int(Int64(self.errors))),
                ("skipped", .int(Int64(self.skipped))), ("total", self.totals.value),
                ("workers", self.pool.value),
                ("wall_s", .double(self.wall.seconds)),
            ]))
    }
}
