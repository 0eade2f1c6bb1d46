public import GatherCore
import Synchronization

/// Progress of a load on standard error: a line per finished file, and every `interval` a line with the
/// overall share of bytes read and rows written, and each open file's share.
public final class LoadProgress: Sendable {
    private struct FileState {
        var name: String
        var rows = 0
        var errors = 0
        var bytes = 0
        var size = 0
        var done = false
        var started = false
    }

    private struct State {
        var files: [String: FileState] = [:]
        var order: [String] = []
        var ticker: Task<Void, Never>?
    }

    private let state = Mutex(State())
    private let interval: Duration
    private let write: @Sendable (String) -> Void

    /// Progress written with `write` (standard error by default) every `interval`.
    public init(
        interval: Duration = .seconds(2),
        write: @escaping @Sendable (String) -> Void = { line in StandardError.write(line + "\n") }
    ) {
        self.interval = interval
        self.write = write
    }

    func start(_ files: [LoadFile]) {
        let ticker = Task { [weak self, interval] in
            while !Task.isCancelled {
                try? await Task.sleep(for: interval)
                guard !Task.isCancelled, let self else { return }
                self.report()
            }
        }
        state.withLock { state in
            for file in files where state.files[file.identity] == nil {
                state.files[file.identity] = FileState(name: file.path)
                state.order.append(file.identity)
            }
            state.ticker = ticker
        }
    }

    func update(_ file: LoadFile, done: Bool, rows: Int, errors: Int, bytes: Int, size: Int) {
        let finished: FileState? = state.withLock { state in
            guard var entry = state.files[file.identity] else { return nil }
            entry.started = true
            entry.rows += rows
            entry.errors += errors
            if bytes > 0 { entry.bytes = bytes }
            if size > 0 { entry.size = size }
            let wasDone = entry.done
            entry.done = entry.done || done
            state.files[file.identity] = entry
            return done && !wasDone ? entry : nil
        }
        if let finished {
            write(
                "[load] \(finished.name): \(TextTable.count(finished.rows, "row")), "
                    + TextTable.count(finished.errors, "error row"))
        }
    }

    func finish() {
        state.withLock { $0.ticker?.cancel() }
    }

    private func report() {
        let line: String = state.withLock { state in
            let files = state.order.compactMap { state.files[$0] }
            let size = files.reduce(0) { $0 + $1.size }
            let bytes = files.reduce(0) { $0 + min($1.bytes, $1.size) }
            let rows = files.reduce(0) { $0 + $1.rows }
            let done = files.filter(\.done).count
            let open = files.filter { $0.started && !$0.done }.map { file in
                "\(file.name) \(file.size > 0 ? 100 * min(file.bytes, file.size) / file.size : 0)%"
            }
            return "[load] \(done)/\(TextTable.count(files.count, "file")), \(TextTable.count(rows, "row")), "
                + "\(size > 0 ? 100 * bytes / size : 0)% of bytes"
                + (open.isEmpty ? "" : " — " + open.joined(separator: ", "))
        }
        write(line)
    }
}
