public import GatherCoordinator
public import GatherCore
public import GatherFiles
import GatherFormats
public import GatherPostgres
public import GatherStore

/// `gather load` spread over many hosts through a ``Coordinator``: the process that starts the run reads each
/// file once, without writing, to find its blocks (``FileBlock``: byte ranges that start and end at record
/// boundaries, quoted CSV newlines included), and enqueues them as units. It and every `gather worker` claim
/// blocks, parse them, and commit each block's rows and error rows together with its fenced completion: a
/// worker that dies, or stalls past its lease, loses its blocks to the others, and no row is written twice.
///
/// Every host reads the files at the paths the run was started with (a shared mount, or the same copies): a
/// block whose file is missing or has another size on a worker becomes an error row that says so. The rows go
/// to the coordinator's own database: the fence and the rows must commit in one transaction.
public enum CoordinatedLoad {
    /// What a worker needs to read the blocks of a load run, as the run stores it.
    public struct Spec: Sendable, Equatable {
        public var format: FileFormat?
        public var table: String?
        public var mode: WriteMode
        public var key: [String]
        public var delimiter: UInt8
        public var quote: UInt8
        public var hasHeader: Bool
        public var ragged: String
        public var replaceInvalidUTF8: Bool
        public var sniff: Bool
        public var jsonPath: String?
        public var sourceColumns: Bool
        public var blockRows: Int
        public var blockBytes: Int
        public var lists: Normalizer.NestedLists
        /// The Gather version that started the run: workers of another version refuse to join.
        public var version = GatherVersion.current

        public init(options: LoadOptions) {
            self.format = options.format
            self.table = options.table
            self.mode = options.mode
            self.key = options.key
            self.delimiter = options.csv.delimiter
            self.quote = options.csv.quote
            self.hasHeader = options.csv.hasHeader
            self.ragged = Self.name(of: options.csv.raggedRows)
            self.replaceInvalidUTF8 = options.csv.replaceInvalidUTF8
            self.sniff = options.sniff
            self.jsonPath = options.jsonPath
            self.sourceColumns = options.sourceColumns
            self.blockRows = options.blockRows
            self.blockBytes = options.blockBytes
            self.lists = options.lists
        }

        init(_ value: Value) throws {
            guard case .object(let spec) = value, let mode = spec["mode"]?.stringValue.flatMap(WriteMode.init),
                let rows = spec["block_rows"]?.intValue, let bytes = spec["block_bytes"]?.intValue
            else { throw CoordinatorError("the run's spec is not a load spec") }
            self.format = spec["format"]?.stringValue.flatMap(FileFormat.init)
            self.table = spec["table"]?.stringValue
            self.mode = mode
            self.key = spec["key"]?.arrayValue?.compactMap(\.stringValue) ?? []
            self.delimiter = UInt8(clamping: spec["delimiter"]?.intValue ?? 44)
            self.quote = UInt8(clamping: spec["quote"]?.intValue ?? 34)
            self.hasHeader = spec["header"]?.boolValue ?? true
            self.ragged = spec["ragged"]?.stringValue ?? "error"
            self.replaceInvalidUTF8 = spec["replace_invalid_utf8"]?.boolValue ?? false
            self.sniff = spec["sniff"]?.boolValue ?? false
            self.jsonPath = spec["json_path"]?.stringValue
            self.sourceColumns = spec["source_columns"]?.boolValue ?? false
            self.blockRows = Int(rows)
            self.blockBytes = Int(bytes)
            self.lists = spec["lists"]?.stringValue.flatMap(Normalizer.NestedLists.init) ?? .tables
            self.version = spec["gather_version"]?.stringValue ?? ""
        }

        var value: Value {
            var fields: [(String, Value)] = [
                ("mode", .string(self.mode.rawValue)), ("key", .array(self.key.map(Value.string))),
                ("delimiter", .int(Int64(self.delimiter))), ("quote", .int(Int64(self.quote))),
                ("header", .bool(self.hasHeader)), ("ragged", .string(self.ragged)),
                ("replace_invalid_utf8", .bool(self.replaceInvalidUTF8)), ("sniff", .bool(self.sniff)),
                ("source_columns", .bool(self.sourceColumns)), ("block_rows", .int(Int64(self.blockRows))),
                ("block_bytes", .int(Int64(self.blockBytes))), ("lists", .string(self.lists.rawValue)),
                ("gather_version", .string(self.version)),
            ]
            if let format = self.format { fields.append(("format", .string(format.rawValue))) }
            if let table = self.table { fields.append(("table", .string(table))) }
            if let path = self.jsonPath { fields.append(("json_path", .string(path))) }
            return .object(Record(fields))
        }

        /// The loader options this spec stands for.
        public var options: LoadOptions {
            var options = LoadOptions()
            options.format = self.format
            options.table = self.table
            options.mode = self.mode
            options.key = self.key
            options.csv.delimiter = self.delimiter
            options.csv.quote = self.quote
            options.csv.hasHeader = self.hasHeader
            options.csv.raggedRows = Self.policy(named: self.ragged)
            options.csv.replaceInvalidUTF8 = self.replaceInvalidUTF8
            options.sniff = self.sniff
            options.jsonPath = self.jsonPath
            options.sourceColumns = self.sourceColumns
            options.blockRows = max(1, self.blockRows)
            options.blockBytes = max(1, self.blockBytes)
            options.lists = self.lists
            options.maxOpenFiles = 1
            return options
        }

        static func name(of policy: CSVOptions.RaggedRowPolicy) -> String {
            switch policy {
            case .error: "error"
            case .pad: "pad"
            case .skip: "skip"
            case .allow: "allow"
            }
        }

        static func policy(named name: String) -> CSVOptions.RaggedRowPolicy {
            switch name {
            case "pad": .pad
            case "skip": .skip
            case "allow": .allow
            default: .error
            }
        }
    }

    /// The run that loading `files` with `options` makes, named by a hash of the settings and of every file
    /// (path, size, modification time): the same load again is the same run.
    ///
    /// - Throws: a usage error for `--mode replace`, which would empty the tables once per worker.
    public static func plan(_ files: [LoadFile], options: LoadOptions) throws -> RunInfo {
        guard options.mode != .replace else {
            throw JobError.usage(
                "--mode replace cannot be shared by a fleet (each worker would empty the table); empty it first, "
                    + "then load with --mode append, or use --mode merge --key …")
        }
        let spec = Spec(options: options)
        var text = JSONWriter.string(spec.value)
        for file in files {
            guard let stamp = FileStamp(file.location) else {
                throw JobError.usage("cannot read \(file.path)")
            }
            text += "|\(stamp.path)|\(stamp.size)|\(stamp.modifiedNanoseconds)|\(file.table)|\(file.format)"
        }
        let hash = UnitLoop.hash(text)
        return RunInfo(id: "load-\(hash)", kind: "load", spec: spec.value, configHash: hash)
    }

    /// Registers `run` (from ``plan(_:options:)``) and enqueues the blocks of `files` as its units, once: the
    /// files are read here, without writing, and each block is enqueued as soon as it is found, so workers start
    /// on the first blocks while the rest are read. A run that exists already is joined; one whose registrar
    /// stopped part way is enqueued on from where it stopped (``Seeder``: the same files give the same blocks).
    ///
    /// `stop` ends the reading early, leaving the run open for the same command to go on with.
    public static func register(
        _ run: RunInfo, files: [LoadFile], coordinator: Coordinator, store: PostgresStore,
        stop: StopSignal = StopSignal(), outage: Outage = Outage()
    ) async throws {
        let spec = try Spec(run.spec)
        let registration = try await outage.run("registering \(run.id)") {
            try await coordinator.register(run: run.id, kind: "load", configHash: run.configHash, spec: run.spec)
        }
        guard
            var seeder = Seeder(
                coordinator: coordinator, run: run.id, registration: registration, batch: 100, outage: outage)
        else { return }
        let loader = FileLoader(sink: store, options: spec.options, stop: stop)
        let context = LoadContext(runID: run.id)
        for file in files {
            let size = FileStamp(file.location)?.size ?? -1
            let whole = try await loader.blocks(of: file, context: context) { block in
                try await seeder.add(Self.payload(block, size: size))
            }
            if !whole { return }
        }
        try await seeder.finish()
    }

    /// Works on `run` until no block is left (or `stop` fires): claims blocks (`capacity` in hand, parsed at
    /// once), and commits each block's rows and error rows with its fenced completion into `store`.
    public static func work(
        run: RunInfo, coordinator: Coordinator, store: PostgresStore, worker: String, capacity: Int,
        lease: Duration = .seconds(30), stop: StopSignal = StopSignal(), outage: Outage = Outage()
    ) async throws -> CoordinatedSummary {
        let spec = try Spec(run.spec)
        try UnitLoop.requireSameVersion(spec.version, run: run.id)
        // Its own stop signal: a block in hand is always read to its end (part of one is never committed).
        let loader = FileLoader(sink: store, options: spec.options)
        let context = LoadContext(runID: run.id)
        try await outage.run("joining \(run.id)") { try await coordinator.join(worker: worker) }
        return try await UnitLoop.run(
            run, coordinator: coordinator, store: store, worker: worker, capacity: max(1, capacity), lease: lease,
            stop: stop, outage: outage
        ) { lease in
            var write = SinkBatch()
            var records = 0
            var rows = 0
            switch Self.block(lease.payload) {
            case .success(let (block, size)):
                if let here = FileStamp(block.file.location)?.size, here != size {
                    write.errors = [
                        Self.error(
                            block, run: run.id,
                            "\(block.file.path) is \(here) bytes on this host but \(size) where the run started; "
                                + "every host must read the same files (a shared mount, or identical copies)")
                    ]
                } else {
                    (write, records, rows) = try await loader.batch(for: block, context: context)
                }
            case .failure(let error):
                write.errors = [
                    ErrorRow(
                        runID: run.id, resource: "load", request: "unit \(lease.unit)", code: "bad_unit",
                        message: "\(error)", payload: String(JSONWriter.string(lease.payload).prefix(1024)),
                        at: Timestamp.now())
                ]
            }
            return UnitLoop.Outcome(write: write, tasks: records, results: rows, errors: write.errors.count)
        }
    }

    /// A block as a unit's payload.
    static func payload(_ block: FileBlock, size: Int64) -> Value {
        var fields: [(String, Value)] = [
            ("path", .string(block.file.path)), ("location", .string(block.file.location)),
            ("identity", .string(block.file.identity)), ("format", .string(block.file.format.rawValue)),
            ("table", .string(block.file.table)), ("size", .int(size)),
            ("end", .string(block.end.json)),
        ]
        if let start = block.start { fields.append(("start", .string(start.json))) }
        return .object(Record(fields))
    }

    /// The block a unit's payload holds, with the file's size where the run started.
    static func block(_ payload: Value) -> Result<(FileBlock, Int64), CoordinatorError> {
        guard case .object(let unit) = payload, let path = unit["path"]?.stringValue,
            let format = unit["format"]?.stringValue.flatMap(FileFormat.init),
            let table = unit["table"]?.stringValue, let size = unit["size"]?.intValue,
            let end = unit["end"]?.stringValue.flatMap(LoadCheckpoint.init(json:))
        else { return .failure(CoordinatorError("the unit is not a file block")) }
        let start = unit["start"]?.stringValue.flatMap(LoadCheckpoint.init(json:))
        if unit["start"] != nil, start == nil { return .failure(CoordinatorError("the block's start is unreadable")) }
        let file = LoadFile(
            path: path, location: unit["location"]?.stringValue, identity: unit["identity"]?.stringValue ?? path,
            format: format, table: table)
        return .success((FileBlock(file: file, start: start, end: end), size))
    }

    static func error(_ block: FileBlock, run: String, _ message: String) -> ErrorRow {
        ErrorRow(
            runID: run, resource: block.file.table, request: "\(block.file.path):\(block.start?.line ?? 1)",
            code: "file_error", message: message, payload: nil, at: Timestamp.now())
    }
}
