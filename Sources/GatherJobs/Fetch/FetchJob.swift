import GatherCore
public import GatherFiles
public import GatherFormats
public import GatherHTTP
import GatherPostgres
import GatherSQLite
import GatherStore
public import Logging
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// `gather fetch` as a library call: read requests, fetch them with bounded concurrency through the flow
/// controller, and write one record per input item (JSON Lines, SQLite, and/or files), then return the summary.
///
/// ```swift
/// var options = FetchJob.Options()
/// options.input = "urls.txt"
/// options.concurrency = 64
/// options.output = "results.jsonl"
/// let summary = try await FetchJob(options: options).run()
/// print(summary.text)
/// ```
///
/// Stopping: ``stop`` ends reading input (in-flight requests finish and are written); cancelling the task
/// that runs ``run()`` also cancels the in-flight requests, which are written as `cancelled` error records.
/// Either way the outputs are flushed and the summary is returned.
public final class FetchJob: Sendable {
    /// What to fetch, how, and where the records go.
    public struct Options: Sendable {
        /// The input path, `-` for standard input.
        public var input = "-"
        /// How input lines become requests.
        public var format = FetchInputFormat.lines
        /// The method for plain URL lines.
        public var method = "GET"
        /// The body for plain URL lines.
        public var body: [UInt8]? = nil
        /// At most this many requests in flight in all.
        public var concurrency = 64
        /// Write records in input order (with a bounded reorder window) instead of completion order.
        public var ordered = false
        /// With ``ordered``: no new request starts while the records held back for reordering pass this many
        /// bytes (64 MiB), so one slow item cannot make memory grow.
        public var reorderBufferBytes = 64 << 20
        /// Where JSON Lines go: a path, `-` for standard output, or `nil` for none (when ``database`` is set).
        public var output: String? = "-"
        /// Stream bodies to files in this folder instead of putting them in records.
        public var saveDirectory: String? = nil
        /// Also write records to this database (SQLite or PostgreSQL).
        public var database: Destination? = nil
        /// The table for records.
        public var table = "fetch_results"
        /// With ``database``: fetch every input line again instead of continuing an interrupted run or saying a
        /// finished one is done.
        public var fresh = false
        /// Stop reading input after the first failed item (in-flight items still finish and are written).
        public var failFast = false
        /// Draw a progress line on stderr (only when it is a terminal).
        public var progress = true
        /// The fetcher's limits, retries, timeouts and caps.
        public var fetcher = Fetcher.Configuration()
        /// How JSON bodies are parsed (depth limit).
        public var json = JSONReader.Configuration()

        /// The defaults documented on each property.
        public init() {}
    }

    /// The options the job runs with.
    public let options: Options
    /// Fire to stop reading input; in-flight requests finish.
    public let stop = StopSignal()
    private let logger: Logger
    private let counters = FetchCounters()

    /// Creates a job.
    public init(
        options: Options, logger: Logger = Logger(label: "gather.fetch", factory: { _ in SwiftLogNoOpLogHandler() })
    ) {
        self.options = options
        self.logger = logger
    }

    /// Requests in flight right now.
    public var inFlight: Int {
        self.counters.started.load(ordering: .relaxed) - self.counters.done.load(ordering: .relaxed)
    }

    /// Runs the job to the end of its input (or until stopped or cancelled) and returns the summary.
    /// - Throws: ``JobError`` when the job cannot run at all (an input or output that cannot be opened).
    public func run() async throws -> FetchSummary {
        let options = self.options
        let clock = ContinuousClock()
        let started = clock.now
        // Check what can fail before any output file is created or truncated.
        if options.input != "-", access(options.input, R_OK) != 0 {
            throw JobError.usage("cannot read the input \(options.input): \(String(cString: strerror(errno)))")
        }
        if let folder = options.saveDirectory, mkdir(folder, 0o755) != 0, errno != EEXIST {
            throw JobError.usage("cannot create the folder \(folder): \(String(cString: strerror(errno)))")
        }
        // Into a database, the run is in the ledger: an interrupted run continues, a finished one with the same
        // input is not fetched again.
        var run: FetchRun?
        if let database = options.database {
            let begun = try await FetchRun.begin(database, options: options)
            if case .alreadyFetched(let previous) = begun {
                var summary = FetchSummary()
                summary.alreadyFetched = previous
                summary.wall = started.duration(to: clock.now)
                return summary
            }
            if case .run(let value) = begun { run = value }
        }
        var outputs: [any FetchOutput] = []
        var skip = LineSet()
        do {
            if let path = options.output { outputs.append(try JSONLinesOutput(path: path)) }
            if let database = options.database, let run {
                let table: any FetchTableOutput
                do {
                    switch database {
                    case .sqlite(let path):
                        table = try await SQLiteFetchOutput(path: path, table: options.table, runID: run.ledger.runID)
                    case .postgres(let url):
                        table = try await PostgresFetchOutput(url: url, table: options.table, runID: run.ledger.runID)
                    case .jsonLines, .csv:
                        throw DestinationError("--into writes to a database; for a JSON Lines file use --out")
                    }
                } catch {
                    throw JobError.usage("\(error)")
                }
                outputs.append(table)
                if run.ledger.resumed { skip = try await table.doneLines(runID: run.ledger.runID) }
            }
        } catch {
            try? await run?.sink.close()
            throw error
        }
        let wantsLines = options.output != nil

        var progressTask: Task<Void, Never>?
        if options.progress, FetchProgress.stderrIsTerminal {
            let total = await LineReader.countLines(path: options.input)
            let progress = FetchProgress(counters: self.counters, total: total)
            progressTask = Task { await progress.run() }
        }

        var summary = FetchSummary()
        summary.runID = run?.ledger.runID
        summary.resumed = run?.ledger.resumed ?? false
        summary.skipped = skip.count
        var input = FetchInput(
            path: options.input,
            format: options.format,
            method: options.method,
            body: options.body,
            stop: self.stop
        )
        input.skip = skip
        let counters = self.counters
        let stop = self.stop
        let resumable = run != nil
        let keepsBodies = options.database != nil
        let saveDirectory = options.saveDirectory
        let json = options.json
        var failure: (any Error)?
        let recordMetrics = SinkMetrics.Records(resource: "fetch")
        do {
            try await Fetcher.withFetcher(configuration: options.fetcher, logger: self.logger) { fetcher in
                try await forEachConcurrently(
                    input,
                    maxConcurrency: max(1, options.concurrency),
                    ordered: options.ordered,
                    bufferLimit: (options.reorderBufferBytes, { $0.1.count + ($0.0.dataJSON?.count ?? 0) })
                ) { item -> (FetchRecord, [UInt8]) in
                    counters.started.add(1, ordering: .relaxed)
                    var result: FetchResult?
                    if let request = item.request {
                        let savePath = saveDirectory.map { $0 + "/" + Self.fileName(for: item) }
                        result = await fetcher.fetch(request, savePath: savePath, stop: stop)
                    }
                    var record = FetchRecord(item: item, result: result, jsonConfiguration: json)
                    var line: [UInt8] = []
                    if wantsLines { record.writeJSONLine(into: &line) }
                    if !keepsBodies {
                        // The line holds the body now: do not keep a second copy while it waits to be written.
                        record.dataJSON = nil
                        record.text = nil
                        record.bodyBase64 = nil
                    }
                    counters.retries.add(max(0, record.attempts - 1), ordering: .relaxed)
                    if record.failed { counters.failed.add(1, ordering: .relaxed) }
                    counters.done.add(1, ordering: .relaxed)
                    return (record, line)
                } consume: { record, line in
                    // An item the stop kept from being sent did not fail: it is left out of the output. One cut off
                    // in flight is a `cancelled` record, except in a run that continues (--into): there it is left
                    // out too, so that the next run fetches it.
                    if record.failure?.code == "cancelled", stop.isStopped || Task.isCancelled,
                        record.attempts == 0 || resumable
                    {
                        summary.notFinished += 1
                        return
                    }
                    for output in outputs { try await output.write(record, line: line) }
                    summary.add(record)
                    recordMetrics.count(failed: record.failed)
                    if options.failFast, record.failed { self.stop.stop(interrupted: false) }
                    if record.stopsRun { self.stop.stop(interrupted: false) }
                }
            }
        } catch {
            failure = error
        }
        progressTask?.cancel()
        await progressTask?.value
        for output in outputs {
            do { try await output.finish() } catch { failure = failure ?? error }
        }
        summary.wall = started.duration(to: clock.now)
        summary.interrupted = self.stop.wasInterrupted || Task.isCancelled
        if let run {
            do {
                try await run.finish(summary, stopped: summary.interrupted || failure != nil)
            } catch {
                failure = failure ?? error
            }
        }
        if let failure {
            if let failure = failure as? JobError { throw failure }
            if failure is CancellationError { return summary }
            throw JobError.fatal("the run failed: \(failure)")
        }
        return summary
    }

    /// A safe, unique file name for an item's saved body: its line number, then its id with everything but
    /// `A-Z a-z 0-9 . _ -` replaced (`000007-order_42`); two items never share a file.
    static func fileName(for item: FetchItem) -> String {
        let digits = String(item.line)
        let numbered = String(repeating: "0", count: max(0, 6 - digits.count)) + digits
        guard let id = item.id, id != .null else { return numbered }
        let raw = id.stringValue ?? JSONWriter.string(id)
        var name = String(
            raw.unicodeScalars.prefix(120).map { scalar -> Character in
                switch scalar {
                case "A"..."Z", "a"..."z", "0"..."9", "_", "-", ".": Character(scalar)
                default: "_"
                }
            }
        )
        while name.hasPrefix(".") { name.removeFirst() }
        return name.isEmpty ? numbered : numbered + "-" + name
    }
}

/// A `gather fetch --into` run in the destination's run ledger (`_gather_runs`, pipeline `fetch:TABLE`), with the
/// input it read (path, size and modification time) in `_gather_state`.
///
/// Rows carry their `run_id`, so a run that was interrupted or killed continues by skipping the input lines it
/// has rows for: nothing is fetched or written twice. A finished run whose input has not changed is not run again.
/// Standard input has no identity: each fetch of it is a new run.
struct FetchRun: Sendable {
    enum Begun {
        case run(FetchRun)
        case alreadyFetched(FetchSummary.Previous)
    }

    let ledger: RunLedger
    let sink: any Sink
    let table: String

    static func begin(_ database: Destination, options: FetchJob.Options) async throws -> Begun {
        let sink: any Sink
        do {
            guard database.isDatabase else {
                throw DestinationError("--into writes to a database; for a JSON Lines file use --out")
            }
            sink = try await database.open(connections: 1)
        } catch {
            throw JobError.usage("--into: \(error)")
        }
        do {
            let pipeline = "fetch:" + options.table
            let input = Self.identity(of: options.input)
            let previous = try await sink.lastRun(pipeline: pipeline)
            let outcome = previous.flatMap { RunOutcome(rawValue: $0.outcome) }
            let stored = try await sink.state(scopePrefix: pipeline).first { $0.scope == pipeline && $0.key == "input" }
            let sameInput = input != nil && stored?.value == input
            if let previous, outcome?.isFinished == true, sameInput, !options.fresh {
                try await sink.close()
                return .alreadyFetched(
                    .init(runID: previous.runID, items: previous.rowsWritten, failed: previous.errors))
            }
            // An unfinished run of another input (or of standard input) is abandoned, not continued.
            let ledger = try await RunLedger.begin(
                sink: sink, pipeline: pipeline, fresh: options.fresh || !sameInput
            ) {
                var batch = SinkBatch()
                batch.state = [.put(scope: pipeline, key: "input", value: input ?? "-")]
                return batch
            }
            return .run(FetchRun(ledger: ledger, sink: sink, table: options.table))
        } catch let error as JobError {
            try? await sink.close()
            throw error
        } catch {
            try? await sink.close()
            throw JobError.fatal("reading the run ledger in \(database) failed: \(error)")
        }
    }

    /// Records what this process wrote and how the run ended, and closes the ledger.
    func finish(_ summary: FetchSummary, stopped: Bool) async throws {
        var counts = ResourceCounts(runID: self.ledger.runID, resource: self.table)
        counts.requests = summary.items + summary.retries
        counts.records = summary.items
        counts.written = summary.items
        counts.rows = summary.items
        counts.errors = summary.failed
        var batch = SinkBatch()
        batch.counts = [counts]
        do {
            try await self.sink.commit(batch)
            _ = try await self.ledger.finish(stopped: stopped)
        } catch {
            try? await self.sink.close()
            throw error
        }
        try await self.sink.close()
    }

    /// The input's identity: its absolute path, size and modification time; `nil` for standard input.
    static func identity(of path: String) -> String? {
        guard path != "-", let stamp = FileStamp(path) else { return nil }
        return JSONWriter.string(
            .object(
                Record([
                    ("path", .string(stamp.path)), ("size", .int(stamp.size)),
                    ("mtime_ns", .int(stamp.modifiedNanoseconds)),
                ])))
    }
}
