public import GatherCore
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// What a worker made of one record: its result, or why it failed (the worker's message, or the exit status,
/// signal and last stderr lines of a worker that died on the batch).
public enum RecordOutcome: Sendable, Hashable {
    /// What the worker answered for the record.
    case result(Value)
    /// The worker's error for this record (or for its whole batch): the model rejected it.
    case error(String)
    /// Two workers died on the record's batch (or, with ``ProcessPool/Configuration/isolatesFailures``, one on
    /// its batch and another on the record alone): exit, signal, timeout, garbled output; why, with the last
    /// stderr lines.
    case lost(String)
}

/// N long-lived worker processes running one command (a Python model, a training script, any program), fed
/// batches of records over stdin/stdout: the one place Gather spawns, frames, restarts, times out and reaps
/// processes (pipeline `process` stages, `gather map` and serving use it).
///
/// ```swift
/// var configuration = ProcessPool.Configuration(command: ["python3", "score.py"])
/// configuration.timeout = .seconds(30)
/// try await ProcessPool.withPool(configuration) { pool in
///     let outcomes = try await pool.process([["x": 1], ["x": 2]])   // one outcome per record, in order
/// }
/// ```
///
/// - One batch in flight per worker; ``process(_:)`` waits for a free one, so callers may run as many batches
///   at once as they like and every worker stays busy.
/// - A worker that exits, is killed (SIGSEGV, the OOM killer), writes something that is not a frame, answers the
///   wrong batch, or passes ``Configuration/timeout`` (then SIGTERM, SIGKILL) is started again after a backoff.
///   Its batch is tried once more on another worker; if that fails too, every record of it is an error naming
///   what happened and the last stderr lines.
/// - Workers die with Gather, even by SIGKILL (`PR_SET_PDEATHSIG`), and ``withPool(_:_:)`` reaps every one on
///   every way out.
public final class ProcessPool: Sendable {
    /// How to run the workers.
    public struct Configuration: Sendable {
        /// The program and its arguments (no shell); the program is searched in `PATH` without a slash.
        public var command: [String]
        /// Worker processes; default: the number of cores.
        public var workers: Int
        /// The longest a batch may take before its worker is killed; `nil`: no limit.
        public var timeout: Duration?
        /// The longest a worker may take to load and say it is ready.
        public var startupTimeout: Duration = .seconds(60)
        /// Failures in a row (with no answered batch between them) allowed per worker slot before it stays
        /// stopped: a crash loop ends, a rare crash in a long run does not.
        public var maxRestarts = 10
        /// After a worker fails on a batch, send its records again each alone (instead of as the batch), so a
        /// record that crashes the worker costs only itself. Serving sets it: a batch mixes the requests of many
        /// clients. It costs a failure per bad record, and a worker that fails on everything uses up its
        /// restarts sooner.
        public var isolatesFailures = false
        /// Variables added to Gather's own environment.
        public var environment: [String: String] = [:]
        /// The workers' working directory; `nil`: Gather's.
        public var workingDirectory: String?
        /// A cap on each worker's address space (RLIMIT_AS), in bytes: a worker past it fails to allocate
        /// (Python raises MemoryError for the batch), instead of pushing the machine into the OOM killer.
        public var memoryLimit: Int?
        /// Where each line a worker writes to stderr goes, with the worker's number; default: nowhere.
        public var stderrLine: @Sendable (_ worker: Int, _ line: String) -> Void = { _, _ in }

        /// A pool of `command` with one worker per core.
        public init(command: [String]) {
            self.command = command
            self.workers = ProcessPool.coreCount
        }

        var commandText: String { self.command.joined(separator: " ") }
    }

    /// What the pool did so far.
    public struct Statistics: Sendable, Hashable {
        /// Batches answered (by a worker, or as errors after two failed tries).
        public var batches = 0
        /// Worker failures: exits, signals, protocol errors and timeouts.
        public var failures = 0
        /// Of those, timeouts.
        public var timeouts = 0
        /// Batches whose records were sent again after a worker failed on them.
        public var retried = 0
        /// Batches whose records all became errors because two workers failed on them (with
        /// ``Configuration/isolatesFailures``: records, each its own batch the second time).
        public var lost = 0
        /// Workers started again after a failure, over all slots.
        public var restarts = 0

        /// All zero.
        public init() {}

        /// One line for a summary: `workers: 2 failures (1 timeouts), 2 restarts, 1 batches retried, 0 lost…`.
        public var summary: String {
            "workers: \(self.failures) failures (\(self.timeouts) timeouts), \(self.restarts) restarts, "
                + "\(self.retried) batches retried, \(self.lost) lost to repeated failures"
        }

        /// The figures as a JSON object (`--summary-json`).
        public var value: Value {
            .object(
                Record([
                    ("batches", .int(Int64(self.batches))), ("failures", .int(Int64(self.failures))),
                    ("timeouts", .int(Int64(self.timeouts))), ("restarts", .int(Int64(self.restarts))),
                    ("retried_batches", .int(Int64(self.retried))), ("lost_batches", .int(Int64(self.lost))),
                ]))
        }
    }

    /// The number of cores (`workers: auto`).
    public static var coreCount: Int { max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))) }

    public let configuration: Configuration
    private let workers: [Worker]
    private let idle: IdleWorkers
    private let closing = Atomic<Bool>(false)
    private let restarts = Mutex<[Task<Void, Never>]>([])
    private let stats = Mutex(Statistics())

    private init(configuration: Configuration) {
        self.configuration = configuration
        self.workers = (0..<max(1, configuration.workers)).map { Worker(index: $0 + 1, configuration: configuration) }
        self.idle = IdleWorkers(count: self.workers.count)
    }

    /// Starts the workers (all of them ready before `body` runs), runs `body`, and stops and reaps every worker
    /// however `body` ends.
    ///
    /// - Throws: ``ProcessPoolError`` when a worker cannot start (a command that does not exist, a script that
    ///   fails at import), or what `body` throws.
    public static func withPool<T: Sendable>(
        _ configuration: Configuration, _ body: (ProcessPool) async throws -> T
    ) async throws -> T {
        // A worker that dies while Gather writes to it must not kill Gather with SIGPIPE: writes fail instead.
        signal(SIGPIPE, SIG_IGN)
        let pool = ProcessPool(configuration: configuration)
        do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for worker in pool.workers { group.addTask { try await worker.start() } }
                try await group.waitForAll()
            }
        } catch {
            await pool.shutdown()
            throw error
        }
        let result: Result<T, any Error>
        do {
            result = .success(try await body(pool))
        } catch {
            result = .failure(error)
        }
        await pool.shutdown()
        return try result.get()
    }

    /// The process ids of the running workers.
    public var pids: [Int32] { self.workers.compactMap(\.pid) }

    /// What the pool did so far.
    public var statistics: Statistics {
        var statistics = self.stats.withLock { $0 }
        statistics.restarts = self.workers.reduce(0) { $0 + $1.restarts }
        return statistics
    }

    /// Runs one batch on a free worker and returns one outcome per record, in order.
    ///
    /// When a worker fails on the batch (dies, times out, garbles its answer), the batch is sent once more, to
    /// another worker; with ``Configuration/isolatesFailures``, each of its records is, alone, so one record that
    /// crashes the model costs only itself, never the records that happened to share its batch (a server's
    /// other clients). A record on which a second worker fails too is ``RecordOutcome/lost(_:)``, with both
    /// reasons.
    ///
    /// - Throws: ``ProcessPoolError`` when no worker is left (each failed more than `maxRestarts` times), or
    ///   `CancellationError`.
    public func process(_ records: [Value]) async throws -> [RecordOutcome] {
        guard !records.isEmpty else { return [] }
        return try await self.process(records, after: nil)
    }

    /// `records` on a worker; `after`: the failure of the batch they came from, and the worker it failed on.
    private func process(_ records: [Value], after: (reason: String, worker: Int)?) async throws -> [RecordOutcome] {
        try Task.checkCancellation()
        guard let index = await self.idle.take(avoiding: after?.worker) else {
            throw ProcessPoolError(
                "no worker of \(self.configuration.commandText) is left: each failed more than max_restarts "
                    + "(\(self.configuration.maxRestarts)) times in a row"
                    + (after.map { "; the last: \($0.reason)" } ?? ""))
        }
        let worker = self.workers[index]
        let result = await worker.run(records, timeout: self.configuration.timeout)
        switch result {
        case .answered(let outcomes):
            self.idle.give(index)
            if after == nil { self.stats.withLock { $0.batches += 1 } }
            return outcomes
        case .failed(let reason), .timedOut(let reason):
            self.stats.withLock { stats in
                stats.failures += 1
                if case .timedOut = result { stats.timeouts += 1 }
            }
            self.restartInBackground(worker, index: index)
            if let after {
                self.stats.withLock { $0.lost += 1 }
                let alone = self.configuration.isolatesFailures ? " alone" : ""
                let message = "\(after.reason); tried again\(alone) on another worker: \(reason)"
                return Array(repeating: .lost(message), count: records.count)
            }
            self.stats.withLock { stats in
                stats.batches += 1
                stats.retried += 1
            }
            let failure = (reason: reason, worker: index)
            guard self.configuration.isolatesFailures, records.count > 1 else {
                return try await self.process(records, after: failure)
            }
            // Each record again, alone, on the others; the outcomes in the batch's order.
            return try await withThrowingTaskGroup(of: (Int, [RecordOutcome]).self) { group in
                for (position, record) in records.enumerated() {
                    group.addTask { (position, try await self.process([record], after: failure)) }
                }
                var outcomes = [RecordOutcome](repeating: .lost(reason), count: records.count)
                for try await (position, alone) in group { outcomes[position] = alone.first ?? .lost(reason) }
                return outcomes
            }
        }
    }

    private func restartInBackground(_ worker: Worker, index: Int) {
        let task = Task {
            let restarted = await worker.restart { self.closing.load(ordering: .relaxed) }
            if restarted { self.idle.give(index) } else { self.idle.retire(index) }
        }
        self.restarts.withLock { $0.append(task) }
    }

    /// Stops every worker (stdin closed, 2 s to exit, then SIGTERM and SIGKILL) and reaps it.
    private func shutdown() async {
        self.closing.store(true, ordering: .relaxed)
        self.idle.close()
        for task in self.restarts.withLock({ $0 }) { await task.value }
        await withTaskGroup(of: Void.self) { group in
            for worker in self.workers { group.addTask { await worker.stop(grace: .seconds(2)) } }
        }
    }
}

/// The free worker slots, and the callers waiting for one.
final class IdleWorkers: Sendable {
    private struct State {
        var free: [Int]
        var alive: Int
        var waiters: [(avoiding: Int?, continuation: CheckedContinuation<Int?, Never>)] = []
        var closed = false
    }
    private let state: Mutex<State>

    init(count: Int) {
        self.state = Mutex(State(free: Array(0..<count), alive: count))
    }

    /// A free slot (another than `avoiding` when one is free), or `nil` when none is left alive.
    func take(avoiding: Int?) async -> Int? {
        await withCheckedContinuation { continuation in
            let ready: Int?? = self.state.withLock { state in
                if state.closed || state.alive == 0 { return .some(nil) }
                if let position = state.free.firstIndex(where: { $0 != avoiding }) ?? state.free.indices.first {
                    return .some(state.free.remove(at: position))
                }
                state.waiters.append((avoiding, continuation))
                return .none
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }

    /// Gives a slot back (ready for work).
    func give(_ index: Int) {
        let waiter = self.state.withLock { state -> CheckedContinuation<Int?, Never>? in
            if let position = state.waiters.firstIndex(where: { $0.avoiding != index }) ?? state.waiters.indices.first {
                return state.waiters.remove(at: position).continuation
            }
            state.free.append(index)
            return nil
        }
        waiter?.resume(returning: index)
    }

    /// A slot that will not work again; when none is left, every waiter gets `nil`.
    func retire(_ index: Int) {
        let waiters = self.state.withLock { state -> [CheckedContinuation<Int?, Never>] in
            state.alive -= 1
            guard state.alive <= 0 else { return [] }
            defer { state.waiters = [] }
            return state.waiters.map(\.continuation)
        }
        for waiter in waiters { waiter.resume(returning: nil) }
    }

    func close() {
        let waiters = self.state.withLock { state -> [CheckedContinuation<Int?, Never>] in
            state.closed = true
            defer { state.waiters = [] }
            return state.waiters.map(\.continuation)
        }
        for waiter in waiters { waiter.resume(returning: nil) }
    }
}
