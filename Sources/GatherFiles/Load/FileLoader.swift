public import GatherCore
import GatherFormats
public import GatherStore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// `gather load`: reads many files at once (bounded by ``LoadOptions/maxOpenFiles``) and writes their rows
/// to a ``Sink``, each block of rows in one transaction with its file's checkpoint.
///
/// The data path of one file: ``ChunkReader`` (1 MiB reads off the cooperative pool, gzip/zstd) → a format's
/// reader (CSV → typed ``RowBlock``s; JSON Lines and JSON → ``Normalizer`` rows) → the sink. While the sink
/// commits one block (SQLite works on its own thread), the reader parses the next, so parsing and inserting
/// run on both cores.
///
/// Resume: a load's run is a `_gather_runs` row of pipeline `load`. When the previous load did not complete
/// (killed, or stopped), the next load continues it: each file restarts at the checkpoint committed with its
/// last rows (`_gather_state`, scope ``LoadCheckpoint/scope``), and files already done are skipped, so no row
/// is written twice. ``LoadOptions/fresh`` starts over.
public final class FileLoader: Sendable {
    /// The `_gather_runs` pipeline name of loads.
    public static let pipelineName = "load"

    private let sink: any Sink
    private let options: LoadOptions
    private let progress: LoadProgress?
    private let stop: StopSignal

    public init(
        sink: any Sink, options: LoadOptions, progress: LoadProgress? = nil,
        stop: StopSignal = StopSignal()
    ) {
        self.sink = sink
        self.options = options
        self.progress = progress
        self.stop = stop
    }

    /// The files `paths` name (globs and directories expanded), with their formats and tables.
    /// - Throws: ``FileError`` for a path that matches nothing or a file whose format cannot be told.
    public func files(for paths: [String]) throws -> [LoadFile] {
        try Self.files(for: paths, options: self.options)
    }

    /// The files `paths` name (globs and directories expanded), each with its format and table from `options`.
    public static func files(for paths: [String], options: LoadOptions) throws -> [LoadFile] {
        try FileList.expand(paths).map { path in
            guard let format = options.format ?? FileFormat.implied(byPath: path) else {
                throw FileError(
                    "cannot tell the format of \(path) from its name; pass --format csv, jsonl or json")
            }
            return LoadFile(
                path: path, identity: FileStamp.absolute(path), format: format,
                table: options.table ?? LoadFile.defaultTable(for: path))
        }
    }

    /// Loads `files`; one file's errors never stop the others.
    public func run(_ files: [LoadFile]) async throws -> LoadSummary {
        let clock = ContinuousClock()
        let started = clock.now
        // After a completed load, files done then and unchanged since (same size and modification time) are not
        // loaded again: when that is every file, nothing runs.
        let prints = Dictionary(
            files.map { ($0.identity, self.fingerprint($0)) }, uniquingKeysWith: { a, _ in a })
        var carried: [StateChange] = []
        if !options.fresh, let last = try await sink.lastRun(pipeline: Self.pipelineName),
            RunOutcome(rawValue: last.outcome)?.isFinished == true
        {
            var done: [String: String] = [:]
            for entry in try await sink.state(scopePrefix: LoadCheckpoint.scope)
            where entry.scope == LoadCheckpoint.scope && LoadCheckpoint(json: entry.value)?.done == true {
                done[entry.key] = entry.value
            }
            var known: [String: String] = [:]
            for entry in try await sink.state(scopePrefix: Self.fingerprintScope)
            where entry.scope == Self.fingerprintScope {
                known[entry.key] = entry.value
            }
            let unchanged = files.filter { file in
                done[file.identity] != nil && prints[file.identity].map { $0 == known[file.identity] } == true
            }
            if unchanged.count == files.count {
                return LoadSummary(
                    runID: last.runID, resumed: false, outcome: LoadSummary.alreadyLoaded,
                    files: files.map { LoadSummary.FileResult(file: $0, status: .alreadyLoaded) },
                    totals: try await sink.counts(runID: last.runID), seconds: Self.seconds(clock.now - started))
            }
            // `replace` empties the tables, so everything loads again; otherwise what is done stays done.
            if options.mode != .replace {
                carried = unchanged.map {
                    .put(scope: LoadCheckpoint.scope, key: $0.identity, value: done[$0.identity]!)
                }
            }
        }
        // A new run forgets the last run's checkpoints (but those carried over), records its files' fingerprints
        // and empties `replace` tables, with its `running` row; an unfinished run is continued from its
        // checkpoints (`--fresh` marks it abandoned instead).
        var newRun = SinkBatch()
        newRun.state = [.clear(scope: LoadCheckpoint.scope), .clear(scope: Self.fingerprintScope)] + carried
        newRun.state += prints.compactMap { entry in
            entry.value.map { .put(scope: Self.fingerprintScope, key: entry.key, value: $0) }
        }
        if options.mode == .replace { newRun.truncate = Array(Set(files.map(\.table))).sorted() }
        let ledger = try await RunLedger.begin(sink: sink, pipeline: Self.pipelineName, fresh: options.fresh) {
            [newRun] in
            newRun
        }
        // A continued run's checkpoints, or the ones a new run carried over.
        var checkpoints: [String: LoadCheckpoint] = [:]
        for entry in try await sink.state(scopePrefix: LoadCheckpoint.scope) where entry.scope == LoadCheckpoint.scope {
            checkpoints[entry.key] = LoadCheckpoint(json: entry.value)
        }
        let results = try await self.load(files, context: LoadContext(runID: ledger.runID), checkpoints: checkpoints)
        let outcome = try await ledger.finish(stopped: self.stop.isStopped)
        return LoadSummary(
            runID: ledger.runID, resumed: ledger.resumed, outcome: outcome.rawValue, files: results,
            totals: try await sink.counts(runID: ledger.runID), seconds: Self.seconds(clock.now - started))
    }

    /// The state scope of the fingerprints of a run's files.
    static let fingerprintScope = "load:fingerprints"

    /// The file's size and modification time, with the settings that shape its rows (table, format, mode, key,
    /// source columns), as JSON text (`nil` when it cannot be read): a file whose fingerprint changed since a
    /// completed load is loaded again.
    func fingerprint(_ file: LoadFile) -> String? {
        guard let stamp = FileStamp(file.location) else { return nil }
        return JSONWriter.string(
            .object(
                Record([
                    ("size", .int(stamp.size)), ("mtime_ns", .int(stamp.modifiedNanoseconds)),
                    ("table", .string(file.table)),
                    ("format", .string("\(file.format)")), ("mode", .string(self.options.mode.rawValue)),
                    ("key", .array(self.options.key.map(Value.string))),
                    ("source_columns", .bool(self.options.sourceColumns)),
                ])))
    }

    /// Loads `files` into the sink under `context` (at most ``LoadOptions/maxOpenFiles`` at once), each from its
    /// checkpoint in `checkpoints` (by ``LoadFile/identity``). The caller owns the run row; this is how a
    /// pipeline's `files` resource reads.
    public func load(_ files: [LoadFile], context: LoadContext, checkpoints: [String: LoadCheckpoint]) async throws
        -> [LoadSummary.FileResult]
    {
        progress?.start(files)
        defer { progress?.finish() }
        return try await files.concurrentMap(maxConcurrency: max(1, options.maxOpenFiles)) { file in
            try await self.load(file, context: context, resume: checkpoints[file.identity])
        }
    }

    // MARK: - One file

    /// Loads one file. Its own problems end it with an error row; a sink failure (disk full, a merge key the
    /// records lack) ends the whole load, whose run then stays unfinished, to be continued.
    private func load(_ file: LoadFile, context: LoadContext, resume: LoadCheckpoint?) async throws
        -> LoadSummary.FileResult
    {
        try await self.read(file, context: context, resume: resume)
    }

    /// Reads `file` from `resume` (its start when `nil`) and commits each unit with its checkpoint, or, with
    /// `take`, hands the units to it instead. With `end`, stops after the unit that reaches it (a
    /// ``FileBlock``'s last).
    func read(
        _ file: LoadFile, context: LoadContext, resume: LoadCheckpoint?, until end: LoadCheckpoint? = nil,
        take: ((LoadUnit) async throws -> Void)? = nil
    ) async throws -> LoadSummary.FileResult {
        let clock = ContinuousClock()
        let started = clock.now
        var result = LoadSummary.FileResult(file: file)
        if let resume, resume.done {
            result.status = .alreadyLoaded
            progress?.update(file, done: true, rows: 0, errors: 0, bytes: 0, size: 0)
            return result
        }
        if resume != nil { result.status = .resumed }
        var reader: (any UnitReader)?
        var pending: [LoadUnit] = []
        var chunks: ChunkReader?
        do {
            let input = try await ChunkReader(path: file.location, startOffset: resume?.offset ?? 0)
            chunks = input
            switch file.format {
            case .csv:
                var options = self.options
                if options.csv.delimiter == UInt8(ascii: ","), FileFormat.isTabSeparated(file.path) {
                    options.csv.delimiter = UInt8(ascii: "\t")
                }
                // Sniffed again on resume (the dialect is not stored); the header is skipped by the checkpoint.
                if options.sniff { options.csv = try await Self.sniff(file, options.csv) }
                reader =
                    context.transform == nil
                    ? try CSVUnitReader(file: file, options: options, context: context, resume: resume)
                    : try CSVRecordUnitReader(file: file, options: options, context: context, resume: resume)
            case .jsonl:
                reader = JSONLinesUnitReader(file: file, options: options, context: context, resume: resume)
            case .json:
                reader = try JSONUnitReader(file: file, options: options, context: context, resume: resume)
            }
            // One commit in flight while the next block is parsed.
            try await withThrowingTaskGroup(of: Void.self) { group in
                var inFlight = false
                var finished = false
                while !finished {
                    if self.stop.isStopped {
                        result.status = .stopped
                        break
                    }
                    let chunk = try await input.next()
                    finished = chunk == nil
                    try (chunk ?? []).withUnsafeBytes { try reader!.consume($0, isLast: finished) }
                    for unit in reader!.takeReady() {
                        if let take {
                            try await take(unit)
                        } else {
                            if inFlight { try await group.next() }
                            let batch = self.batch(for: unit, context: context)
                            group.addTask { try await self.commit(batch) }
                            inFlight = true
                        }
                        result.add(unit)
                        progress?.update(
                            file, done: false, rows: unit.written, errors: unit.errors.count,
                            bytes: input.diskBytesRead, size: input.fileSize)
                        if let end, unit.checkpoint.reaches(end) {
                            finished = true
                            break
                        }
                    }
                }
                try await group.waitForAll()
            }
        } catch let error as SinkFailure {
            throw error
        } catch {
            // The file ends here: what was read before the error is committed, then the error itself.
            reader?.closeAfterFailure()
            pending = reader?.takeReady() ?? []
            let (line, column) = Self.position(of: error) ?? (reader?.line ?? 1, nil)
            var collector = UnitCollector(file: file, context: context, sourceColumns: false, resume: nil)
            collector.fail(
                line: line, column: column, code: "file_error",
                message: Self.describe(error) + "; the rest of the file was not read", payload: nil)
            collector.close(
                block: nil, rows: [], written: 0, offset: pending.last?.checkpoint.offset ?? resume?.offset ?? 0,
                line: line, done: true)
            pending += collector.takeReady()
            for unit in pending {
                if let take {
                    try await take(unit)
                } else {
                    try await self.commit(self.batch(for: unit, context: context))
                }
                result.add(unit)
                progress?.update(
                    file, done: false, rows: unit.written, errors: unit.errors.count, bytes: 0, size: 0)
            }
            result.status = .failed(Self.describe(error))
        }
        result.seconds = Self.seconds(clock.now - started)
        progress?.update(
            file, done: true, rows: 0, errors: 0, bytes: chunks?.diskBytesRead ?? 0, size: chunks?.fileSize ?? 0)
        return result
    }

    private func commit(_ batch: SinkBatch) async throws {
        do {
            try await sink.commit(batch)
        } catch {
            throw SinkFailure(message: "writing to the destination failed: \(error)")
        }
    }

    func batch(for unit: LoadUnit, context: LoadContext) -> SinkBatch {
        var batch = SinkBatch()
        let key = options.mode == .merge ? options.key : []
        if let block = unit.block, block.rowCount > 0 {
            batch.writes = [TableWrite(table: unit.file.table, mode: options.mode, primaryKey: key, block: block)]
        } else if !unit.rows.isEmpty {
            batch.writes = [TableWrite(table: unit.file.table, mode: options.mode, primaryKey: key, rows: unit.rows)]
        }
        batch.errors = unit.errors
        batch.state = [.put(scope: context.scope, key: unit.file.identity, value: unit.checkpoint.json)]
        var counts = ResourceCounts(runID: context.runID, resource: context.resource ?? unit.file.table)
        counts.records = unit.records
        counts.filtered = unit.filtered
        counts.written = unit.written
        counts.rows = unit.written
        counts.errors = unit.errors.count
        batch.counts = [counts]
        return batch
    }

    private static func sniff(_ file: LoadFile, _ options: CSVOptions) async throws -> CSVOptions {
        let reader = try await ChunkReader(path: file.location, chunkSize: 64 << 10)
        var sample: [UInt8] = []
        while sample.count < 64 << 10, let chunk = try await reader.next() { sample += chunk }
        let found = CSVSniffer.sniff(sample: sample, isComplete: sample.count < 64 << 10, quote: options.quote)
        var sniffed = options
        sniffed.delimiter = found.delimiter
        sniffed.hasHeader = found.hasHeader
        return sniffed
    }

    private static func describe(_ error: any Error) -> String {
        "\(error)"
    }

    /// Where in the file a reader's error is, when it says.
    private static func position(of error: any Error) -> (line: Int, column: Int?)? {
        switch error {
        case let error as CSVError: (error.line, error.column)
        case let error as JSONError: (error.line, error.column)
        default: nil
        }
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }
}

/// A failure of the destination, not of a file: it ends the load.
public struct SinkFailure: Error, Sendable, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}
