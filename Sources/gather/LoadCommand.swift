import ArgumentParser
import Gather
import Synchronization

/// `gather load FILES... --into DEST`: CSV / JSON Lines / JSON files into SQLite, PostgreSQL, JSON Lines or CSV.
struct LoadCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "load",
        abstract:
            "Load CSV, JSON Lines and JSON files (gzip or zstd too) into SQLite, PostgreSQL, JSONL or CSV, resumably.",
        discussion: """
            FILES are paths, globs ('data/*.csv.gz') and directories. Several files are read at once (--max-open); \
            one file's errors never stop the others. Column types are inferred (integer, real, boolean, timestamp, \
            text) and widen when a later value needs it; no value is ever dropped or changed.

            DEST: a SQLite database (sqlite:x.db, or a name ending in .db, .sqlite or .sqlite3), a PostgreSQL \
            database (postgres://user@host:5432/db?sslmode=prefer; the password from the URL, PGPASSWORD or \
            ~/.pgpass, never printed; rows go in with COPY), out.jsonl or out.csv. Bad records (ragged CSV rows, invalid JSON, invalid UTF-8) become error rows naming their \
            file:line[:column]: in the _gather_errors table, or in DEST.errors.jsonl beside a file destination \
            (whose state is kept in DEST.gather.db).

            `-` reads standard input (as table stdin unless --table says otherwise; a JSON array, JSON Lines \
            or CSV by its first byte unless --format says). It is copied to a temporary file first, and each \
            load of it is a new input: an interrupted one is not continued.

            A load that was killed or interrupted is continued by the next `gather load` into the same \
            destination: each file resumes at its last committed checkpoint, and no row is written twice. \
            After a completed load the same command does nothing (already loaded); a new file, or one whose \
            size or modification time changed, loads in a new run by --mode. --fresh loads every file again.

            Exit codes: 0 loaded (or already loaded); 1 loaded with error rows; 2 usage error; 3 fatal error; \
            130 interrupted.
            """
    )

    @Argument(help: "Files, globs or directories to load; - reads standard input.")
    var files: [String]

    @Option(name: .long, help: "Destination: sqlite:x.db, x.db, postgres://user@host/db, out.jsonl or out.csv.")
    var into: String

    @Option(name: .long, help: "Table name (default: each file's name without extensions and part numbers).")
    var table: String?

    @Option(name: .long, help: "append (default), replace (empty the table first) or merge (upsert by --key).")
    var mode: String = "append"

    @Option(name: .long, help: "Merge key field(s), comma-separated.")
    var key: String?

    @Option(name: .long, help: "csv, jsonl or json (default: from each file's extension).")
    var format: String?

    @Option(name: .long, help: "CSV delimiter: one character, or 'tab' (default ',', or tab for .tsv).")
    var delimiter: String?

    @Option(name: .long, help: "CSV quote character (default \").")
    var quote: String?

    @Flag(name: .long, help: "CSV files have no header row (columns are named column_1, column_2, …).")
    var noHeader = false

    @Flag(name: .long, help: "Guess each CSV file's delimiter and header from its first 64 KiB.")
    var sniff = false

    @Option(name: .long, help: "Rows with the wrong number of fields: error (default), pad or skip.")
    var ragged: String = "error"

    @Flag(name: .long, help: "Replace invalid UTF-8 with U+FFFD instead of making the record an error row.")
    var replaceInvalidUtf8 = false

    @Option(name: .long, help: "JSON documents: the path of the array of records, e.g. $.data.items.")
    var jsonPath: String?

    @Flag(name: .long, help: "Add source_file and source_line columns.")
    var sourceColumns = false

    @Option(name: .long, help: "Files read at the same time.")
    var maxOpen: Int = 4

    @Option(
        name: .long,
        help: "Rows per transaction, each with its file's checkpoint (default 16384; 65536 into PostgreSQL).")
    var batchRows: Int?

    @Flag(name: .long, help: "Start over instead of continuing an interrupted load.")
    var fresh = false

    @Flag(name: [.short, .long], help: "No progress and no summary on stderr.")
    var quiet = false

    @OptionGroup(title: "Scale-out")
    var scale: CoordinatorOptions

    @OptionGroup(title: "Watching")
    var observability: ObservabilityOptions

    func run() async throws {
        var options = LoadOptions()
        options.table = table
        options.fresh = fresh
        options.sourceColumns = sourceColumns
        options.jsonPath = jsonPath
        options.sniff = sniff
        options.maxOpenFiles = maxOpen
        guard let mode = WriteMode(rawValue: mode) else {
            throw JobError.usage("--mode \(mode) is not a mode; use append, replace or merge")
        }
        options.mode = mode
        options.key = key.map { $0.split(separator: ",").map { String($0).trimmingSpaces() } } ?? []
        if mode == .merge, options.key.isEmpty {
            throw JobError.usage("--mode merge needs --key FIELD[,FIELD…]: the fields that identify a row")
        }
        if let format {
            guard let parsed = FileFormat(rawValue: format) else {
                throw JobError.usage("--format \(format) is not a format; use csv, jsonl or json")
            }
            options.format = parsed
        }
        options.csv.hasHeader = !noHeader
        options.replaceInvalidUTF8 = replaceInvalidUtf8
        switch ragged {
        case "error": options.csv.raggedRows = .error
        case "pad": options.csv.raggedRows = .pad
        case "skip": options.csv.raggedRows = .skip
        default: throw JobError.usage("--ragged \(ragged) is not a policy; use error, pad or skip")
        }
        if let quote {
            guard quote.utf8.count == 1 else { throw JobError.usage("--quote must be one ASCII character") }
            options.csv.quote = quote.utf8.first!
        }
        if let delimiter {
            let bytes = delimiter == "tab" || delimiter == "\\t" ? [UInt8(ascii: "\t")] : Array(delimiter.utf8)
            guard bytes.count == 1 else {
                throw JobError.usage("--delimiter must be one ASCII character (or 'tab'), not '\(delimiter)'")
            }
            options.csv.delimiter = bytes[0]
        }
        do {
            try options.csv.validate()
        } catch {
            throw JobError.usage("\(error)")
        }
        let destination: Destination
        do {
            destination = try Destination(into)
        } catch {
            throw JobError.usage("--into: \(error)")
        }
        switch destination {
        case .sqlite, .postgres: break
        case .jsonLines, .csv:
            // A JSON Lines or CSV file holds one row per record: nested lists stay JSON text inside it.
            options.lists = .json
            if options.mode == .merge {
                throw JobError.usage(
                    "--mode merge needs a database destination (sqlite:… or postgres://…); files can only append "
                        + "or replace")
            }
        }
        // A PostgreSQL commit costs round trips and a WAL flush: bigger transactions amortize them (measured on
        // the ingest-csv bench: 16,384 rows per commit spent a quarter of the time between COPYs).
        if case .postgres = destination {
            options.blockRows = max(1, batchRows ?? 65_536)
        } else {
            options.blockRows = max(1, batchRows ?? 16_384)
        }
        // The files are found before the destination is opened: a load that cannot start leaves nothing behind.
        var files: [LoadFile]
        do {
            files = try FileLoader.files(for: self.files.filter { $0 != "-" }, options: options)
        } catch {
            throw JobError.usage("\(error)")
        }
        if let url = try self.scale.url(into: destination) {
            guard !self.files.contains("-") else {
                throw JobError.usage(
                    "--coordinator cannot share standard input with other hosts: write it to a file they can read")
            }
            try await self.runCoordinated(files, options: options, url: url)
            return
        }
        var spooled: SpooledInput?
        defer { spooled?.remove() }
        if self.files.contains("-") {
            let input = try SpooledInput.standardInput(name: "stdin")
            spooled = input
            files.append(
                LoadFile(
                    path: "stdin", location: input.path,
                    identity: "stdin:" + String(UInt64.random(in: 0...UInt64.max), radix: 36),
                    format: options.format ?? Self.impliedFormat(of: input.head), table: options.table ?? "stdin"))
        }
        let stop = StopSignal()
        let summary: LoadSummary
        let inputs = files
        let digest = Mutex(ErrorDigest())
        do {
            summary = try await destination.withSink(connections: 2) { opened in
                let sink = DigestingSink(opened)
                defer { digest.withLock { $0 = sink.digest } }
                let loader = FileLoader(
                    sink: sink, options: options, progress: quiet ? nil : LoadProgress(), stop: stop)
                return try await self.observability.run(
                    {
                        try await GracefulStop.run(
                            message: "stopping; blocks being written are committed "
                                + "(signal again to stop now; `gather load` continues where this stopped)",
                            stop: { stop.stop() }
                        ) {
                            try await loader.run(inputs)
                        }
                    }, summary: { $0.value })
            }
        } catch let error as SinkFailure {
            throw JobError.fatal(error.message + " (run the same command again to continue)")
        } catch let error as JobError {
            throw error
        } catch let error as ExitCode {
            throw error
        } catch {
            throw JobError.fatal("\(error)")
        }
        if !quiet {
            let why = digest.withLock { $0 }.render(rows: destination.errorRows(runID: summary.runID))
            Terminal.error(([summary.render(destination: destination.description)] + why).joined(separator: "\n"))
        }
        if summary.outcome == "interrupted" { throw ExitCode(130) }
        if summary.outcome == LoadSummary.alreadyLoaded { return }
        if summary.errors > 0 { throw ExitCode(1) }
    }
}

extension LoadCommand {
    /// `gather load --coordinator URL`: reads the files once to find their blocks and enqueues them as the run's
    /// units, while working on them like any `gather worker` (`--max-open` blocks at once) until none is left.
    func runCoordinated(_ files: [LoadFile], options: LoadOptions, url: PostgresURL) async throws {
        let (lease, name, quiet, capacity) = (
            try self.scale.leaseDuration(), self.scale.workerName, self.quiet, max(1, self.maxOpen)
        )
        let run = try CoordinatedLoad.plan(files, options: options)
        let outcome = try await WorkerCommand.shareRun(
            "load", run: run, url: url, name: name, quiet: quiet, observability: self.observability,
            summary: { $0.0 }
        ) { coordinator, store, stop, outage in
            // Blocks are worked on as soon as the first are enqueued; the run is not done before the registrar
            // has read every file.
            let summary = try await withThrowingTaskGroup(of: CoordinatedSummary?.self) { group in
                group.addTask {
                    try await CoordinatedLoad.register(
                        run, files: files, coordinator: coordinator, store: store, stop: stop, outage: outage)
                    return nil
                }
                group.addTask {
                    try await CoordinatedLoad.work(
                        run: run, coordinator: coordinator, store: store, worker: name, capacity: capacity,
                        lease: lease, stop: stop, outage: outage)
                }
                var summary = CoordinatedSummary()
                for try await result in group { if let result { summary = result } }
                return summary
            }
            return (summary, try await WorkerCommand.totals(of: run.id, store: store, outage))
        }
        try WorkerCommand.end(outcome, worker: name, run: run.id, url: url, quiet: quiet) { "\($0.records) records" }
    }

    /// The format of standard input given without --format: a JSON array, JSON Lines objects, or else CSV.
    static func impliedFormat(of head: [UInt8]) -> FileFormat {
        let first = head.drop(while: { [0x20, 0x09, 0x0A, 0x0D, 0xEF, 0xBB, 0xBF].contains($0) }).first
        switch first {
        case UInt8(ascii: "["): return .json
        case UInt8(ascii: "{"): return .jsonl
        default: return .csv
        }
    }
}

extension String {
    func trimmingSpaces() -> String {
        String(self.drop(while: { $0 == " " }).reversed().drop(while: { $0 == " " }).reversed())
    }
}
