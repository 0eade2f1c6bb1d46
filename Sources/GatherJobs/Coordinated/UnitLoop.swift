import CoreMetrics
import GatherCoordinator
public import GatherCore
import GatherPostgres
import GatherStore
import Synchronization

/// What one worker did on one coordinated run (`gather map`, `gather fetch` or `gather worker`).
public struct CoordinatedSummary: Sendable {
    public var run = ""
    /// Units committed by this worker.
    public var units = 0
    /// Tasks (or requests) in those units.
    public var tasks = 0
    /// Rows written for them.
    public var results = 0
    /// Error rows among them.
    public var errors = 0
    /// Units whose lease was lost before their results were committed (the results were dropped).
    public var fenced = 0
    /// Units whose commit lost its connection and, tried again, found the unit gone: either that commit went
    /// through (the rows are this worker's) or the lease had been lost; the results table says which.
    public var unsure = 0

    public init() {}

    /// The same figures as JSON (`--summary-json`).
    public var value: Value {
        .object(
            Record([
                ("run", .string(self.run)), ("units", .int(Int64(self.units))), ("tasks", .int(Int64(self.tasks))),
                ("results", .int(Int64(self.results))), ("errors", .int(Int64(self.errors))),
                ("fenced", .int(Int64(self.fenced))), ("unsure", .int(Int64(self.unsure))),
            ]))
    }
}

/// The loop a worker runs on one coordinated run, whatever its units hold: claims units while it has room for
/// more (`SELECT … FOR UPDATE SKIP LOCKED`), does each, and commits what it produced together with its fenced
/// completion, in one transaction on the coordinator's database. Leases are renewed every third of their length
/// while their units run; a unit whose lease was lost meanwhile commits nothing (``CoordinatedSummary/fenced``).
/// Idle, it waits for the doorbell (LISTEN/NOTIFY) or for a lease to run out, never polling in a tight loop.
/// A coordinator that cannot be reached for a while (restarting, cut off) is waited for (``Outage``): the units in
/// hand keep running, and their commits are tried again once it answers, fenced as ever.
///
/// What a worker records through swift-metrics (Prometheus with `--metrics`):
/// - `gather_worker_units_total{run, outcome}`: units committed (`done`), lost after the lease ran out
///   (`fenced`), or whose commit lost its reply (`unsure`: committed, or fenced);
/// - `gather_worker_tasks_total{run}`: tasks in the committed units;
/// - `gather_worker_claims_total{run}`: claim queries that returned units;
/// - `gather_worker_leases_held`: units this worker holds now.
enum UnitLoop {
    /// What doing one unit produced: the rows and error rows to commit with its completion, and its counts.
    struct Outcome: Sendable {
        var write: SinkBatch
        var tasks: Int
        var results: Int
        var errors: Int
        /// Units it found (a crawl's new links), enqueued in the same transaction unless their key was seen before.
        var followUps: [(key: String, payload: Value)] = []
        /// At most this many units for the run in all (a crawl's `--max-pages`).
        var followUpLimit: Int64? = nil
        /// The unit found its lease gone while it ran (it commits as it goes: a pipeline item's pages), so it
        /// stopped; nothing is left to commit, and it counts as fenced.
        var leaseLost = false
    }

    static func run(
        _ run: RunInfo, coordinator: Coordinator, store: PostgresStore, worker: String, capacity: Int,
        lease: Duration, stop: StopSignal, outage: Outage,
        perform: @escaping @Sendable (Lease) async throws -> Outcome
    ) async throws -> CoordinatedSummary {
        let held = HeldLeases()
        let metrics = Metrics(run: run.id)
        var summary = CoordinatedSummary()
        summary.run = run.id
        let heartbeat = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: lease / 3)
                _ = try? await coordinator.heartbeat(worker: worker, leases: held.all, lease: lease)
            }
        }
        defer { heartbeat.cancel() }
        try await coordinator.withWakeups { bell in
            try await withThrowingTaskGroup(of: (Lease, Outcome, Committed).self) { group in
                var inFlight = 0
                while true {
                    // Keep `capacity` units in hand.
                    while inFlight < capacity, !stop.isStopped {
                        let leases = try await outage.run("claiming units of \(run.id)") {
                            try await coordinator.claim(
                                run: run.id, worker: worker, count: capacity - inFlight, lease: lease)
                        }
                        if leases.isEmpty { break }
                        held.add(leases)
                        metrics.claims.increment()
                        metrics.held.record(held.count)
                        for lease in leases {
                            inFlight += 1
                            // Each unit commits in its own task, so one unit's commit (which waits its turn for
                            // the schema lock) holds up neither the others' nor the next claim.
                            group.addTask {
                                let outcome = try await perform(lease)
                                if outcome.leaseLost { return (lease, outcome, .fenced) }
                                let committed = try await Self.commit(
                                    outcome, of: lease, run: run, store: store, worker: worker, outage: outage)
                                return (lease, outcome, committed)
                            }
                        }
                    }
                    guard let (lease, outcome, committed) = try await group.next() else {
                        if stop.isStopped { break }
                        if try await outage.run(
                            "checking whether \(run.id) is done",
                            {
                                try await coordinator.finishIfDone(run: run.id)
                            })
                        {
                            break
                        }
                        // Others hold the rest: wait for new units (the doorbell) or for a lease to run out.
                        await bell.wait(timeout: min(lease / 2, .seconds(1)))
                        continue
                    }
                    inFlight -= 1
                    held.remove(lease)
                    metrics.held.record(held.count)
                    switch committed {
                    case .done:
                        summary.units += 1
                        summary.tasks += outcome.tasks
                        summary.results += outcome.results
                        summary.errors += outcome.errors
                        metrics.done.increment()
                        metrics.tasks.increment(by: outcome.tasks)
                    case .unsure:
                        summary.unsure += 1
                        metrics.unsure.increment()
                    case .fenced:
                        summary.fenced += 1
                        metrics.fenced.increment()
                    }
                }
            }
        }
        return summary
    }

    /// What became of a unit's commit.
    enum Committed: Sendable {
        /// Written with its completion.
        case done
        /// Refused: the lease had been lost.
        case fenced
        /// Refused on a second try after the first lost its connection: the first went through, or the lease had
        /// been lost.
        case unsure
    }

    /// Commits `outcome` with the fenced completion of `lease`, and the follow-up units, in one transaction. Tried
    /// again when the connection is lost: if the lost commit went through, the fence accepts nothing the second
    /// time (the unit is gone), and it counts as unsure, not fenced.
    static func commit(
        _ outcome: Outcome, of lease: Lease, run: RunInfo, store: PostgresStore, worker: String, outage: Outage
    ) async throws -> Committed {
        let attempts = Mutex(0)
        let accepted = try await outage.run("committing unit \(lease.unit) of \(run.id)") {
            attempts.withLock { $0 += 1 }
            let accepted = Mutex(false)
            try await store.commit { tx in
                let fenced = try await Coordinator.fence([lease], worker: worker, in: tx).isEmpty
                accepted.withLock { $0 = !fenced }
                if !fenced, !outcome.followUps.isEmpty {
                    try await Coordinator.enqueueNew(
                        run: run.id, keyed: outcome.followUps, limit: outcome.followUpLimit, in: tx)
                }
                return fenced ? SinkBatch() : outcome.write
            }
            return accepted.withLock { $0 }
        }
        if accepted { return .done }
        return attempts.withLock { $0 } > 1 ? .unsure : .fenced
    }

    struct Metrics: Sendable {
        let done: Counter
        let fenced: Counter
        let unsure: Counter
        let tasks: Counter
        let claims: Counter
        let held = Gauge(label: "gather_worker_leases_held")

        init(run: String) {
            self.done = Counter(label: "gather_worker_units_total", dimensions: [("run", run), ("outcome", "done")])
            self.fenced = Counter(
                label: "gather_worker_units_total", dimensions: [("run", run), ("outcome", "fenced")])
            self.unsure = Counter(
                label: "gather_worker_units_total", dimensions: [("run", run), ("outcome", "unsure")])
            self.tasks = Counter(label: "gather_worker_tasks_total", dimensions: [("run", run)])
            self.claims = Counter(label: "gather_worker_claims_total", dimensions: [("run", run)])
        }
    }

    /// FNV-1a, 64 bits, as hex: a stable name for a configuration.
    static func hash(_ text: String) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash &*= 0x100_0000_01b3
        }
        return String(hash, radix: 16)
    }
}

/// The leases a worker holds while their units run, for its heartbeats.
private final class HeldLeases: Sendable {
    private let leases = Mutex<[Int64: Lease]>([:])

    var all: [Lease] { self.leases.withLock { Array($0.values) } }
    var count: Int { self.leases.withLock { $0.count } }
    func add(_ leases: [Lease]) { self.leases.withLock { for lease in leases { $0[lease.unit] = lease } } }
    func remove(_ lease: Lease) { self.leases.withLock { _ = $0.removeValue(forKey: lease.unit) } }
}

extension UnitLoop {
    /// Refuses to work on a run another Gather version started: it might do the units differently.
    static func requireSameVersion(_ version: String, run: String) throws {
        guard version == GatherVersion.current else {
            throw JobError.usage(
                "run \(run) was started by Gather \(version.isEmpty ? "of unknown version" : version); "
                    + "this worker is \(GatherVersion.current): run the same version on every host")
        }
    }
}
