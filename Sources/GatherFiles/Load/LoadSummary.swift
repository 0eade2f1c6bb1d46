public import GatherCore
public import GatherStore

/// What a load did: per file, and in total (totals include an interrupted earlier attempt of the same run).
public struct LoadSummary: Sendable {
    /// How one file ended.
    public enum Status: Sendable, Hashable {
        case loaded
        /// Continued from its checkpoint.
        case resumed
        /// Done in an earlier attempt of this run; skipped.
        case alreadyLoaded
        /// Stopped by a signal before its end (the next load continues it).
        case stopped
        /// Ended early by a problem of the file itself (its error row says where).
        case failed(String)

        public var text: String {
            switch self {
            case .loaded: "loaded"
            case .resumed: "resumed"
            case .alreadyLoaded: "already loaded"
            case .stopped: "stopped"
            case .failed: "failed"
            }
        }
    }

    /// One file's result in this attempt.
    public struct FileResult: Sendable {
        public var file: LoadFile
        public var status: Status = .loaded
        /// Records read (rows plus error rows).
        public var records = 0
        public var rows = 0
        public var errors = 0
        public var seconds = 0.0

        init(file: LoadFile, status: Status = .loaded) {
            self.file = file
            self.status = status
        }

        mutating func add(_ unit: LoadUnit) {
            records += unit.records
            rows += unit.written
            errors += unit.errors.count
        }
    }

    public var runID: String
    public var resumed: Bool
    /// `completed`, `completed_with_errors`, `interrupted`, or ``alreadyLoaded`` (nothing ran).
    public var outcome: String

    /// The outcome when every file was loaded by the last, completed run and is unchanged since.
    public static let alreadyLoaded = "already loaded"
    public var files: [FileResult]
    /// Per table, for the whole run.
    public var totals: [ResourceCounts]
    public var seconds: Double

    /// Rows written by the whole run.
    public var rows: Int { totals.reduce(0) { $0 + $1.written } }
    /// Error rows of the whole run.
    public var errors: Int { totals.reduce(0) { $0 + $1.errors } }

    /// The summary as a JSON object (`--summary-json`): the same figures as ``render(destination:)``.
    public var value: Value {
        var tables = Record()
        for counts in self.totals { tables[counts.resource] = counts.value }
        let files: [Value] = self.files.map { result in
            var record = Record([
                ("path", .string(result.file.path)), ("table", .string(result.file.table)),
                ("records", .int(Int64(result.records))), ("rows", .int(Int64(result.rows))),
                ("errors", .int(Int64(result.errors))), ("seconds", .double(result.seconds)),
                ("status", .string(result.status.text)),
            ])
            if case .failed(let message) = result.status { record["message"] = .string(message) }
            return .object(record)
        }
        return .object(
            Record([
                ("command", "load"), ("run_id", .string(self.runID)), ("outcome", .string(self.outcome)),
                ("resumed", .bool(self.resumed)), ("seconds", .double(self.seconds)),
                ("rows", .int(Int64(self.rows))), ("errors", .int(Int64(self.errors))), ("tables", .object(tables)),
                ("files", .array(files)),
            ]))
    }

    /// The summary as text: a line, a table of files, and the first error of each failed file.
    public func render(destination: String) -> String {
        if self.outcome == Self.alreadyLoaded {
            return "gather load: already loaded (run \(runID)): \(TextTable.count(files.count, "file")), "
                + "\(TextTable.count(rows, "row")), \(TextTable.count(errors, "error row")) in \(destination); "
                + "a file that changes loads again, "
                + "--fresh loads every file again"
        }
        var lines = [
            "gather load: \(outcome)\(resumed ? " (resumed)" : "") in \(TextTable.decimal(seconds)) s → "
                + "\(destination) (run \(runID))"
        ]
        var table = [["file", "table", "records", "rows", "errors", "seconds", "status"]]
        for result in files {
            table.append([
                result.file.path, result.file.table, "\(result.records)", "\(result.rows)", "\(result.errors)",
                TextTable.decimal(result.seconds), result.status.text,
            ])
        }
        lines += TextTable.render(table)
        let rate = seconds > 0 ? Int(Double(files.reduce(0) { $0 + $1.rows }) / seconds) : 0
        lines.append(
            "\(TextTable.count(rows, "row")) written, \(TextTable.count(errors, "error row"))"
                + (seconds >= 0.5 ? "; \(rate) rows/s in this attempt" : ""))
        for result in files {
            if case .failed(let message) = result.status { lines.append("\(result.file.path): \(message)") }
        }
        return lines.joined(separator: "\n")
    }
}
