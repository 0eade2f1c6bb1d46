import Dispatch
import GatherCore
import GatherFormats
import GatherSQLite
public import GatherStore
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// A JSON Lines or CSV file as a ``Sink``: the rows go to the file, everything else (state, runs, counters,
/// error rows) to a SQLite database beside it, `<path>.gather.db` (see ``sidecarPath(for:)``).
///
/// **Rows.** Every top-level row is one line of the file, in commit order, whatever its table:
///
/// - JSON Lines: one object per row. Cells of a ``RowBlock`` are written as typed: integers and reals as
///   numbers with the exact text they were read from, booleans as `true`/`false`, nulls as `null`, text and
///   timestamps as strings holding the original bytes (so `007` stays the string `"007"`). A ``NormalizedRow``
///   is written as its record (nested objects flattened as the ``Normalizer`` did, lists as JSON arrays),
///   without Gather's internal columns (`_gather_key`, `_gather_parent_key`, `_gather_root_key`, `_gather_pos`).
/// - CSV (RFC 4180, `,`, LF line ends): a header line written with the first rows, then one line per row. A
///   field holding `,`, `"`, CR or LF is quoted, quotes doubled. NULL is an empty field; a row whose only field
///   is empty is written `""` so that readers do not skip it as a blank line. Cells of a ``RowBlock`` are written
///   as their original text; values of a ``NormalizedRow`` as text (reals in shortest round-trip form, lists
///   and objects as JSON). The header is fixed by the first rows written: a later row with a column the header
///   lacks ends the commit with an error (a row lacking a column gets an empty field).
///
/// A file holds one table: child rows (nested lists stored as child tables) are refused, so loads into a file
/// store lists as JSON (``Normalizer/NestedLists/json``). ``WriteMode/merge`` is refused too: a file cannot
/// update rows in place. A batch with ``SinkBatch/truncate`` (replace mode) empties the file first, whatever
/// tables it names; a CSV file then gets a new header with its next rows.
///
/// **Error rows** go to the sidecar's `_gather_errors` and, one JSON object per line, to `<path>.errors.jsonl`
/// (``errorsPath(for:)``), created with the first error row. The errors file is never emptied by replace
/// mode, like `_gather_errors`.
///
/// **Exactly once.** ``commit(_:)`` first writes the batch's rows (and error lines) after the committed end of
/// the file, then commits the rest of the batch to the sidecar together with the file's new length. Opening
/// the sink again truncates the file to the committed length, so rows written by a commit that did not finish
/// (a killed process) are dropped, and the loader rewrites them from its checkpoint. Replacing writes the new
/// content to `<path>.gather-replace`, commits, then renames it over the file; opening finishes or discards an
/// interrupted replacement. These guarantees hold for a killed process; the files are not `fsync`ed, so
/// after a power loss the file may be shorter than the sidecar says, which opening reports as an error.
///
/// **Opening.** An output file that was deleted takes its sidecar and errors file with it: the next load or
/// crawl into it starts over. With no committed length in the sidecar (a new destination), the file starts empty: an
/// existing file of that name is overwritten. Otherwise the file is kept (up to its committed length) and
/// new rows are appended, as a SQLite table keeps its rows; use replace mode to start it over. A file
/// shorter than its committed length was changed outside Gather, and opening fails with what to do.
///
/// Commits run one at a time, in order, on the sink's own queue, never on Swift's cooperative pool.
public final class FileSink: Sink {
    public enum Format: Sendable { case jsonLines, csv }

    /// The output file.
    public let path: String
    public let format: Format

    /// The SQLite database that holds the state, runs and error rows of the file at `path`.
    public static func sidecarPath(for path: String) -> String { path + ".gather.db" }
    /// The JSON Lines file of the error rows committed to the file at `path`.
    public static func errorsPath(for path: String) -> String { path + ".errors.jsonl" }
    /// Where a replacement of the file's content is written before it is renamed over the file.
    static func replacementPath(for path: String) -> String { path + ".gather-replace" }

    /// The state scope (in the sidecar) of the sink's own bookkeeping; hidden from ``state(scopePrefix:)``.
    static let stateScope = "_sink:file"
    enum StateKey {
        /// The committed length of the file in bytes.
        static let length = "length"
        /// The committed length of the errors file in bytes.
        static let errorsLength = "errors_length"
        /// The CSV header (a JSON array of names), once written.
        static let columns = "columns"
        /// Present while a committed replacement may not have been renamed over the file yet.
        static let replacing = "replacing"
    }

    /// The columns Gather adds to normalized rows, which are not part of the records.
    static let internalColumns: Set<String> = [
        Normalizer.keyColumn, Normalizer.parentKeyColumn, Normalizer.rootKeyColumn, Normalizer.positionColumn,
    ]

    private let store: SQLiteStore
    /// Runs commits one at a time, in order, off the cooperative pool.
    private let queue = DispatchQueue(label: "gather.file.sink")
    /// The open files and their committed lengths. Locked by the queue's work (and by `init`/`deinit`), which
    /// never contend: the lock only makes the sink `Sendable` without `@unchecked`.
    private let files: Mutex<Files>

    struct Files: Sendable {
        /// The output file's descriptor.
        var output: Int32
        /// The committed length of the output file.
        var length: Int
        /// The CSV header, once written (`nil` while the file is empty).
        var columns: [String]?
        /// The errors file's descriptor (-1 until the first error row).
        var errors: Int32
        /// The committed length of the errors file.
        var errorsLength: Int
        var closed = false
        /// Set when the files and the sidecar may disagree until the sink is opened again.
        var broken: String?
    }

    /// Opens the file at `path` (creating it and its sidecar if needed), repairing what an interrupted commit
    /// left: bytes after the committed length are dropped, a committed replacement is finished.
    /// Blocks: call it off the cooperative pool.
    /// - Throws: ``FileError`` when a file cannot be opened, or was changed outside Gather.
    public init(path: String, format: Format) throws {
        self.path = path
        self.format = format
        let sidecar = Self.sidecarPath(for: path)
        // The output was deleted: its state goes with it, and the next run starts over.
        if access(path, F_OK) != 0, access(sidecar, F_OK) == 0 {
            for leftover in [sidecar, sidecar + "-wal", sidecar + "-shm", Self.errorsPath(for: path)] {
                unlink(leftover)
            }
        }
        var output = try Self.openFile(path, flags: O_WRONLY | O_CREAT | O_CLOEXEC, doing: "create")
        var errors: Int32 = -1
        do {
            let store: SQLiteStore
            do {
                store = try SQLiteStore(path: sidecar)
            } catch {
                throw FileError("cannot open \(sidecar), where Gather keeps the state of \(path): \(error)")
            }
            var saved: [String: String] = [:]
            for entry in try store.stateNow(scopePrefix: Self.stateScope) where entry.scope == Self.stateScope {
                saved[entry.key] = entry.value
            }
            var repairs: [StateChange] = []

            // A replacement: committed (finish the rename) or not (discard it).
            let replacement = Self.replacementPath(for: path)
            if saved[StateKey.replacing] != nil {
                if access(replacement, F_OK) == 0 {
                    guard rename(replacement, path) == 0 else {
                        throw FileError(
                            "cannot rename \(replacement) to \(path): \(Self.reason()); rename it by hand, then "
                                + "run again")
                    }
                    Self.closeFile(output)
                    output = try Self.openFile(path, flags: O_WRONLY | O_CLOEXEC, doing: "open")
                }
                repairs.append(.delete(scope: Self.stateScope, key: StateKey.replacing))
            } else if unlink(replacement) != 0 && errno != ENOENT {
                throw FileError("cannot remove \(replacement), left by an unfinished replacement: \(Self.reason())")
            }

            // The output: cut back to the committed length.
            var length = 0
            var columns: [String]?
            if let recorded = saved[StateKey.length].flatMap({ Int($0) }) {
                try Self.cut(output, path: path, to: recorded, sidecar: sidecar)
                length = recorded
                if format == .csv, recorded > 0 {
                    let header = saved[StateKey.columns].flatMap { try? JSONReader.parse($0) }?.arrayValue
                    guard let names = header?.compactMap(\.stringValue), names.count == header?.count else {
                        throw FileError(
                            "\(sidecar) does not hold the CSV header of \(path); delete both to start over")
                    }
                    columns = names
                }
            } else {
                try Self.cut(output, path: path, to: 0, sidecar: sidecar)
                repairs.append(.put(scope: Self.stateScope, key: StateKey.length, value: "0"))
            }

            // The errors file: the same, or removed when no error row was committed.
            let errorsPath = Self.errorsPath(for: path)
            let errorsLength = saved[StateKey.errorsLength].flatMap { Int($0) } ?? 0
            if errorsLength == 0 {
                if unlink(errorsPath) != 0 && errno != ENOENT {
                    throw FileError("cannot remove \(errorsPath), left by an unfinished load: \(Self.reason())")
                }
            } else {
                errors = open(errorsPath, O_WRONLY | O_CLOEXEC)
                guard errors >= 0 else {
                    throw FileError(
                        "cannot open \(errorsPath): \(Self.reason()); Gather wrote \(errorsLength) bytes of error "
                            + "rows to it. Delete \(path), \(errorsPath) and \(sidecar) to start over")
                }
                try Self.cut(errors, path: errorsPath, to: errorsLength, sidecar: sidecar)
            }

            if !repairs.isEmpty {
                var batch = SinkBatch()
                batch.state = repairs
                try store.commitNow(batch)
            }
            self.store = store
            self.files = Mutex(
                Files(output: output, length: length, columns: columns, errors: errors, errorsLength: errorsLength))
        } catch {
            Self.closeFile(output)
            if errors >= 0 { Self.closeFile(errors) }
            throw error
        }
    }

    deinit {
        self.files.withLock { files in
            guard !files.closed else { return }
            Self.closeFile(files.output)
            if files.errors >= 0 { Self.closeFile(files.errors) }
        }
    }

    /// Closes the files once the commits asked for have run (off the cooperative pool), and the state sidecar.
    public func close() async throws {
        try await BlockingIO.run { try self.closeFiles() }
        try await self.store.close()
    }

    /// Closes the files once the commits asked for have run. Blocks.
    private func closeFiles() throws {
        try self.queue.sync {
            try self.files.withLock { files in
                guard !files.closed else { return }
                files.closed = true
                var failure: String?
                for (descriptor, name) in [(files.output, path), (files.errors, Self.errorsPath(for: path))]
                where descriptor >= 0 {
                    if Self.closeFile(descriptor) != 0, failure == nil {
                        failure = "cannot close \(name): \(Self.reason())"
                    }
                }
                files.output = -1
                files.errors = -1
                if let failure { throw FileError(failure) }
            }
        }
    }

    public func commit(_ batch: SinkBatch) async throws {
        guard !batch.isEmpty else { return }
        let started = ContinuousClock.now
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            self.queue.async {
                continuation.resume(with: Result { try self.files.withLock { try self.commit(batch, files: &$0) } })
            }
        }
        SinkMetrics.committed(
            batch, sink: self.format == .csv ? "csv" : "jsonl", duration: ContinuousClock.now - started)
    }

    public func state(scopePrefix: String) async throws -> [StateEntry] {
        try await self.store.state(scopePrefix: scopePrefix).filter { $0.scope != Self.stateScope }
    }

    public func lastRun(pipeline: String) async throws -> RunRow? {
        try await self.store.lastRun(pipeline: pipeline)
    }

    public func counts(runID: String) async throws -> [ResourceCounts] {
        try await self.store.counts(runID: runID)
    }

    /// A crawl's frontier lives in the sidecar, committed with the file's new length.
    public func frontier(scope: String, after: Int64, limit: Int) async throws -> [FrontierEntry] {
        try await self.store.frontier(scope: scope, after: after, limit: limit)
    }

    // MARK: - Committing

    /// Writes the rows and error lines, then commits the rest of `batch` with the new lengths (on the queue).
    private func commit(_ batch: SinkBatch, files: inout Files) throws {
        if files.closed { throw FileError("\(path) is already closed") }
        if let broken = files.broken { throw FileError(broken) }
        for write in batch.writes where !write.isEmpty {
            if write.mode == .merge {
                throw FileError(
                    "merge mode updates rows by key, which a file cannot do: \(path) can only be appended to or "
                        + "replaced; load into SQLite (sqlite:FILE) to merge")
            }
            if let child = write.rows.first(where: \.isChild) {
                throw FileError(
                    "\(path) holds one table, but the rows of \(write.table) have a child table \(child.table) "
                        + "(a nested list); store nested lists as JSON (lists: json) or load into SQLite")
            }
        }

        // Render everything first: a batch that cannot be written changes nothing.
        let replacing = !batch.truncate.isEmpty && files.length > 0
        let start = batch.truncate.isEmpty ? files.length : 0
        var columns = batch.truncate.isEmpty ? files.columns : nil
        var rows: [UInt8] = []
        let estimate = batch.writes.reduce(0) { $0 + Self.estimatedSize(of: $1) }
        try JSONOutput.withOutput(appendingTo: &rows, reservingCapacity: estimate) { out in
            for write in batch.writes where !write.isEmpty {
                switch self.format {
                case .jsonLines:
                    if !write.rows.isEmpty { Self.appendJSONLines(write.rows, to: &out) }
                    if let block = write.block, block.rowCount > 0 { Self.appendJSONLines(block, to: &out) }
                case .csv:
                    if !write.rows.isEmpty {
                        try self.appendCSV(write.rows, table: write.table, columns: &columns, to: &out)
                    }
                    if let block = write.block, block.rowCount > 0 {
                        try self.appendCSV(block, table: write.table, columns: &columns, to: &out)
                    }
                }
            }
        }
        var errorLines: [UInt8] = []
        for error in batch.errors { Self.appendJSONLine(error, to: &errorLines) }
        let length = start + rows.count
        let errorsLength = files.errorsLength + errorLines.count

        var sidecar = batch
        sidecar.writes = []
        sidecar.truncate = []
        sidecar.state.append(.put(scope: Self.stateScope, key: StateKey.length, value: String(length)))
        sidecar.state.append(.put(scope: Self.stateScope, key: StateKey.errorsLength, value: String(errorsLength)))
        if self.format == .csv {
            if let columns {
                let json = JSONWriter.string(.array(columns.map(Value.string)))
                sidecar.state.append(.put(scope: Self.stateScope, key: StateKey.columns, value: json))
            } else {
                sidecar.state.append(.delete(scope: Self.stateScope, key: StateKey.columns))
            }
        }
        if replacing { sidecar.state.append(.put(scope: Self.stateScope, key: StateKey.replacing, value: "true")) }

        let replacementPath = Self.replacementPath(for: path)
        let errorsPath = Self.errorsPath(for: path)
        var replacement: Int32 = -1
        do {
            if replacing {
                replacement = try Self.openFile(
                    replacementPath, flags: O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, doing: "create")
                try rows.withUnsafeBytes { try Self.writeAll($0, to: replacement, at: 0, path: replacementPath) }
            } else if !rows.isEmpty {
                try rows.withUnsafeBytes { try Self.writeAll($0, to: files.output, at: start, path: path) }
            }
            if !errorLines.isEmpty {
                if files.errors < 0 {
                    // Nothing committed yet (opening removed any file): what it holds is stale.
                    files.errors = try Self.openFile(
                        errorsPath, flags: O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, doing: "create")
                }
                try errorLines.withUnsafeBytes {
                    try Self.writeAll($0, to: files.errors, at: files.errorsLength, path: errorsPath)
                }
            }
            try self.store.commitNow(sidecar)
        } catch {
            // Nothing was committed: drop what was written.
            if replacement >= 0 {
                Self.closeFile(replacement)
                unlink(replacementPath)
            }
            if ftruncate(files.output, off_t(files.length)) != 0
                || (files.errors >= 0 && ftruncate(files.errors, off_t(files.errorsLength)) != 0)
            {
                files.broken =
                    "\(path) could not be cut back after a failed commit (\(Self.reason())); open it again to repair it"
            }
            throw error
        }

        if replacing {
            guard rename(replacementPath, path) == 0 else {
                files.broken =
                    "cannot rename \(replacementPath) to \(path): \(Self.reason()); open the destination again to "
                    + "finish replacing it"
                Self.closeFile(replacement)
                throw FileError(files.broken!)
            }
            Self.closeFile(files.output)
            files.output = replacement
        }
        files.length = length
        files.errorsLength = errorsLength
        files.columns = columns
        if replacing {
            var done = SinkBatch()
            done.state = [.delete(scope: Self.stateScope, key: StateKey.replacing)]
            do {
                try self.store.commitNow(done)
            } catch {
                files.broken = "cannot record that \(path) was replaced: \(error); open it again to repair it"
                throw error
            }
        }
    }

    private static func estimatedSize(of write: TableWrite) -> Int {
        guard let block = write.block else { return write.rows.count * 64 }
        return write.rows.count * 64 + block.byteCount + block.cells.count * 4 + block.rowCount * 2
            + block.rowCount * block.fields.reduce(0) { $0 + $1.utf8.count + 4 }
    }

    // MARK: - JSON Lines

    /// Writes a block's rows as JSON objects, cell by cell from its arena.
    private static func appendJSONLines(_ block: RowBlock, to out: inout JSONOutput) {
        // `{"name":` before the first cell, `,"name":` before the others.
        var prefixes: [UInt8] = []
        var prefixEnds: [Int] = []
        for (index, field) in block.fields.enumerated() {
            prefixes.append(index == 0 ? UInt8(ascii: "{") : UInt8(ascii: ","))
            JSONWriter.writeString(field, into: &prefixes)
            prefixes.append(UInt8(ascii: ":"))
            prefixEnds.append(prefixes.count)
        }
        let width = block.fields.count
        prefixes.withUnsafeBytes { prefixes in
            block.bytes.withUnsafeBytes { arena in
                block.cells.withUnsafeBufferPointer { cells in
                    var index = 0
                    for _ in 0..<block.rowCount {
                        if width == 0 { out.byte(UInt8(ascii: "{")) }
                        var prefixStart = 0
                        for column in 0..<width {
                            let prefixEnd = prefixEnds[column]
                            out.bytes(UnsafeRawBufferPointer(rebasing: prefixes[prefixStart..<prefixEnd]))
                            prefixStart = prefixEnd
                            let cell = cells[index &+ column]
                            let text = UnsafeRawBufferPointer(
                                rebasing: arena[Int(cell.offset)..<Int(cell.offset) &+ Int(cell.length)])
                            switch cell.kind {
                            case .null:
                                out.literal("null")
                            case .integer, .real:
                                if isJSONNumber(text) {
                                    out.bytes(text)
                                } else if cell.kind == .integer {
                                    out.int(cell.integer)
                                } else {
                                    out.double(cell.real)
                                }
                            case .boolean:
                                out.literal(cell.integer != 0 ? "true" : "false")
                            case .timestamp, .text:
                                out.escaped(text)
                            }
                        }
                        index &+= width
                        out.byte(UInt8(ascii: "}"))
                        out.byte(UInt8(ascii: "\n"))
                    }
                }
            }
        }
    }

    /// Writes normalized top-level rows as JSON objects, without Gather's internal columns.
    private static func appendJSONLines(_ rows: [NormalizedRow], to out: inout JSONOutput) {
        for row in rows {
            var record = Record()
            record.reserveCapacity(row.values.count)
            for (key, value) in row.values where !Self.isInternal(key) { record.append(key, value) }
            out.value(.object(record))
            out.byte(UInt8(ascii: "\n"))
        }
    }

    private static func appendJSONLine(_ error: ErrorRow, to lines: inout [UInt8]) {
        var record = Record()
        record.append("run_id", .string(error.runID))
        record.append("resource", .string(error.resource))
        record.append("request", .string(error.request))
        record.append("code", .string(error.code))
        record.append("message", .string(error.message))
        record.append("payload", error.payload.map(Value.string) ?? .null)
        record.append("created_at", .string(error.at))
        JSONWriter.write(.object(record), into: &lines)
        lines.append(UInt8(ascii: "\n"))
    }

    @inline(__always)
    private static func isInternal(_ key: String) -> Bool {
        key.utf8.first == UInt8(ascii: "_") && Self.internalColumns.contains(key)
    }

    /// `true` when `text` is a number in JSON's grammar: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
    static func isJSONNumber(_ text: UnsafeRawBufferPointer) -> Bool {
        let n = text.count
        var i = 0
        @inline(__always) func digit(_ at: Int) -> Bool { at < n && text[at] &- UInt8(ascii: "0") < 10 }
        if i < n && text[i] == UInt8(ascii: "-") { i += 1 }
        guard i < n else { return false }
        if text[i] == UInt8(ascii: "0") {
            i += 1
        } else {
            guard digit(i) else { return false }
            while digit(i) { i += 1 }
        }
        if i < n && text[i] == UInt8(ascii: ".") {
            i += 1
            guard digit(i) else { return false }
            while digit(i) { i += 1 }
        }
        if i < n && text[i] | 0x20 == UInt8(ascii: "e") {
            i += 1
            if i < n && (text[i] == UInt8(ascii: "+") || text[i] == UInt8(ascii: "-")) { i += 1 }
            guard digit(i) else { return false }
            while digit(i) { i += 1 }
        }
        return i == n
    }

    // MARK: - CSV

    private func newColumnError(_ column: String, table: String, header: [String]) -> FileError {
        FileError(
            "\(path): column '\(column)' of table \(table) is not in the CSV header (\(header.joined(separator: ", "))) "
                + "written with the first rows; a CSV destination needs the same columns in every file and record. "
                + "Load into SQLite or JSON Lines instead")
    }

    /// Writes a block's rows as CSV lines (and the header, if `columns` is not set yet), cells as their text.
    private func appendCSV(
        _ block: RowBlock, table: String, columns: inout [String]?, to out: inout JSONOutput
    ) throws {
        if columns == nil {
            columns = block.fields
            Self.appendCSVHeader(block.fields, to: &out)
        }
        let header = columns ?? []
        // For each header column, the block's field index (-1: not in the block, an empty field).
        let positions: [Int]
        if header == block.fields {
            positions = Array(header.indices)
        } else {
            var indexes: [String: Int] = [:]
            for (index, field) in block.fields.enumerated() where indexes[field] == nil { indexes[field] = index }
            if let extra = block.fields.first(where: { !header.contains($0) }) {
                throw self.newColumnError(extra, table: table, header: header)
            }
            positions = header.map { indexes[$0] ?? -1 }
        }
        let width = block.fields.count
        block.bytes.withUnsafeBytes { arena in
            block.cells.withUnsafeBufferPointer { cells in
                var index = 0
                for _ in 0..<block.rowCount {
                    let lineStart = out.count
                    for (column, position) in positions.enumerated() {
                        if column > 0 { out.byte(UInt8(ascii: ",")) }
                        guard position >= 0 else { continue }
                        let cell = cells[index &+ position]
                        guard cell.kind != .null else { continue }
                        out.csvField(
                            UnsafeRawBufferPointer(
                                rebasing: arena[Int(cell.offset)..<Int(cell.offset) &+ Int(cell.length)]))
                    }
                    if out.count == lineStart && !positions.isEmpty { out.literal("\"\"") }
                    out.byte(UInt8(ascii: "\n"))
                    index &+= width
                }
            }
        }
    }

    /// Writes normalized top-level rows as CSV lines (and the header, if `columns` is not set yet: the columns
    /// of these rows in order of first appearance).
    private func appendCSV(
        _ rows: [NormalizedRow], table: String, columns: inout [String]?, to out: inout JSONOutput
    ) throws {
        if columns == nil {
            var seen: Set<String> = []
            var names: [String] = []
            for row in rows {
                for (key, _) in row.values where !Self.isInternal(key) && seen.insert(key).inserted {
                    names.append(key)
                }
            }
            columns = names
            Self.appendCSVHeader(names, to: &out)
        }
        let header = columns ?? []
        var indexes: [String: Int] = [:]
        for (index, name) in header.enumerated() where indexes[name] == nil { indexes[name] = index }
        var slots = [Value?](repeating: nil, count: header.count)
        var scratch: [UInt8] = []
        for row in rows {
            for index in slots.indices { slots[index] = nil }
            for (key, value) in row.values where !Self.isInternal(key) {
                guard let index = indexes[key] else { throw self.newColumnError(key, table: table, header: header) }
                slots[index] = value  // the last of repeated keys wins, as in a record lookup
            }
            let lineStart = out.count
            for (index, slot) in slots.enumerated() {
                if index > 0 { out.byte(UInt8(ascii: ",")) }
                switch slot {
                case nil, .null?:
                    break
                case .bool(let b)?:
                    out.literal(b ? "true" : "false")
                case .int(let n)?:
                    out.int(n)
                case .string(var s)?:
                    s.withUTF8 { out.csvField(UnsafeRawBufferPointer($0)) }
                case .double(let d)? where !d.isFinite:
                    break
                case let value?:
                    // Reals in shortest round-trip form, lists and objects as JSON.
                    scratch.removeAll(keepingCapacity: true)
                    JSONWriter.write(value, into: &scratch)
                    scratch.withUnsafeBytes { out.csvField($0) }
                }
            }
            if out.count == lineStart && !slots.isEmpty { out.literal("\"\"") }
            out.byte(UInt8(ascii: "\n"))
        }
    }

    private static func appendCSVHeader(_ names: [String], to out: inout JSONOutput) {
        for (index, name) in names.enumerated() {
            if index > 0 { out.byte(UInt8(ascii: ",")) }
            var name = name
            name.withUTF8 { out.csvField(UnsafeRawBufferPointer($0)) }
        }
        if names.count == 1 && names[0].isEmpty { out.literal("\"\"") }
        out.byte(UInt8(ascii: "\n"))
    }

    // MARK: - Files

    private static func reason() -> String { String(cString: strerror(errno)) }

    private static func openFile(_ path: String, flags: Int32, doing verb: String) throws -> Int32 {
        let descriptor = open(path, flags, 0o644)
        guard descriptor >= 0 else { throw FileError("cannot \(verb) \(path): \(Self.reason())") }
        return descriptor
    }

    @discardableResult
    private static func closeFile(_ descriptor: Int32) -> Int32 {
        #if canImport(Darwin)
            Darwin.close(descriptor)
        #elseif canImport(Musl)
            Musl.close(descriptor)
        #else
            Glibc.close(descriptor)
        #endif
    }

    /// Cuts the file open as `descriptor` back to its committed `length`; a shorter file is an error.
    private static func cut(_ descriptor: Int32, path: String, to length: Int, sidecar: String) throws {
        var info = stat()
        guard fstat(descriptor, &info) == 0 else { throw FileError("cannot read the size of \(path): \(reason())") }
        let size = Int(info.st_size)
        if size < length {
            throw FileError(
                "\(path) holds \(size) bytes, but Gather committed \(length) bytes to it: it was changed or cut "
                    + "outside Gather. Delete it together with \(sidecar) (and \(errorsPath(for: path))) to start "
                    + "over, or restore it")
        }
        if size > length {
            guard ftruncate(descriptor, off_t(length)) == 0 else {
                throw FileError(
                    "cannot drop the uncommitted end of \(path) (bytes \(length) to \(size)): \(reason())")
            }
        }
    }

    private static func writeAll(_ bytes: UnsafeRawBufferPointer, to descriptor: Int32, at offset: Int, path: String)
        throws
    {
        guard let base = bytes.baseAddress else { return }
        var done = 0
        while done < bytes.count {
            let written = pwrite(descriptor, base + done, min(bytes.count - done, 1 << 30), off_t(offset + done))
            if written < 0 {
                if errno == EINTR { continue }
                throw FileError("cannot write to \(path): \(reason())")
            }
            done += written
        }
    }
}

// MARK: - CSV fields

extension JSONOutput {
    /// Non-zero iff some byte of `w` is zero (a borrow only starts at a zero byte).
    @inline(__always)
    private static func zeroByte(_ w: UInt64) -> UInt64 {
        (w &- 0x0101_0101_0101_0101) & ~w & 0x8080_8080_8080_8080
    }

    /// `true` when a CSV field must be quoted: it holds `,`, `"`, CR or LF.
    static func csvNeedsQuotes(_ text: UnsafeRawBufferPointer) -> Bool {
        let n = text.count
        guard let start = text.baseAddress else { return false }
        var i = 0
        while i &+ 8 <= n {
            let w = start.loadUnaligned(fromByteOffset: i, as: UInt64.self)
            let special =
                Self.zeroByte(w ^ 0x2C2C_2C2C_2C2C_2C2C) | Self.zeroByte(w ^ 0x2222_2222_2222_2222)
                | Self.zeroByte(w ^ 0x0D0D_0D0D_0D0D_0D0D) | Self.zeroByte(w ^ 0x0A0A_0A0A_0A0A_0A0A)
            if special != 0 { return true }
            i &+= 8
        }
        while i < n {
            switch text[i] {
            case UInt8(ascii: ","), UInt8(ascii: "\""), 0x0D, 0x0A: return true
            default: i &+= 1
            }
        }
        return false
    }

    /// Appends `text` as a CSV field (RFC 4180): as is, or quoted with quotes doubled when it holds `,`, `"`,
    /// CR or LF.
    mutating func csvField(_ text: UnsafeRawBufferPointer) {
        guard Self.csvNeedsQuotes(text) else {
            self.bytes(text)
            return
        }
        self.byte(UInt8(ascii: "\""))
        var runStart = 0
        for i in 0..<text.count where text[i] == UInt8(ascii: "\"") {
            self.bytes(UnsafeRawBufferPointer(rebasing: text[runStart...i]))  // through the quote
            self.byte(UInt8(ascii: "\""))  // and doubles it
            runStart = i &+ 1
        }
        self.bytes(UnsafeRawBufferPointer(rebasing: text[runStart...]))
        self.byte(UInt8(ascii: "\""))
    }
}
