import DequeModule
public import GatherCore
public import GatherProcess
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Turns concurrent requests into batches for a ``ProcessPool``, keeps every request's deadline, and sheds what
/// it cannot serve in time.
///
/// The algorithm (one dispatch loop per worker):
/// - **Greedy and work-conserving.** A loop with a free worker takes whole requests from the head of the queue,
///   oldest first, up to `maxSize` records (and `maxBytes`, when set). A request of several instances counts by
///   its records and is never split; one larger than `maxSize` goes alone.
/// - **No batching tax when idle.** When every other worker is idle too, what is queued leaves at once.
/// - **Company when busy.** When other workers are busy, a partial batch waits for more requests until it is full
///   or its oldest request has waited `maxWait`, and never longer than half the measured batch time (waiting 5 ms
///   to save part of a 2 ms batch would be a loss). Under load the queue fills while workers are busy, so batches
///   grow by themselves.
/// - **Deadlines.** At admission, a request whose estimated finish (the records queued ahead of it and its own,
///   spread over the workers, times the measured per-record service time) needs more than ``headroom`` (90 %)
///   of its remaining budget gets `deadline` (504) at once. At dispatch, a request whose deadline has passed, or
///   will before the batch can finish, is dropped the same way. An answer that arrives after the deadline is a
///   504, never a 200.
/// - **An idle worker always tries.** A request that finds the queue empty and a worker free is admitted and sent
///   whatever the estimate says (unless its deadline has passed). The estimate is learned only from batches that
///   run: without this, a spell of slow batches (an overload starving the workers of CPU) could leave it above
///   every deadline, shed everything, and never be corrected. Such a request costs only a worker that was idle.
/// - **Disconnects.** A request whose client closes the connection while it waits is withdrawn from the queue
///   (``ClientWatch``); one already in a batch is served and its answer dropped.
/// - **Shedding.** A full queue answers `queueFull` (429) with the time the queue needs to drain at the measured
///   rate.
/// - What a batch costs is fitted to the answered ones (``ServiceCost``: a fixed part per batch and a part per
///   record, by least squares with older batches weighing less).
public final class Batcher: Sendable {
    public struct Configuration: Sendable {
        /// Records per batch.
        public var maxSize = 64
        /// The longest the oldest request waits for company while other workers are busy.
        public var maxWait: Duration = .milliseconds(5)
        /// Bytes of request body per batch, when set.
        public var maxBytes: Int?
        /// Records waiting; beyond it requests are shed with 429.
        public var queueLimit = 2048
        /// The default time budget of a request.
        public var deadline: Duration = .seconds(1)
        /// Worker processes (one dispatch loop each).
        public var workers = 1

        public init() {}
    }

    /// Why a request was not answered by the model.
    public enum Rejection: Sendable, Equatable {
        /// The queue is full: try again after `retryAfter` (429).
        case queueFull(retryAfter: Duration)
        /// The deadline cannot be met, or has passed (504).
        case deadline(String)
        /// The workers failed on its batch twice, or none is left (503).
        case workers(String)
        /// The server is stopping (503).
        case stopping
        /// The client closed the connection while the request waited (logged as 499, never sent).
        case disconnected

        /// The metric label.
        public var reason: String {
            switch self {
            case .queueFull: "queue_full"
            case .deadline: "deadline"
            case .workers: "workers"
            case .stopping: "stopping"
            case .disconnected: "disconnected"
            }
        }
    }

    /// What became of a request.
    public enum Answer: Sendable {
        /// One outcome per record, in order, and how long the request queued.
        case answered([RecordOutcome], queued: Duration)
        case rejected(Rejection)
    }

    /// Why a batch left (the `gather_serve_batches_total{reason}` label).
    enum Release: String {
        case full, waited, idle
    }

    private struct Waiting: Sendable {
        var id: Int
        var records: [Value]
        var bytes: Int
        var arrived: ContinuousClock.Instant
        var deadline: ContinuousClock.Instant
        /// Admitted to an idle worker without the estimate: sent unless its deadline has passed.
        var probe: Bool
        var continuation: CheckedContinuation<Answer, Never>
    }

    private struct State: Sendable {
        var queue: Deque<Waiting> = []
        var queuedRecords = 0
        var nextID = 0
        /// Loops running a batch.
        var busy = 0
        /// Loops waiting for a request.
        var parked: [CheckedContinuation<Bool, Never>] = []
        var stopping = false
        /// What batches cost, fitted to the answered ones.
        var cost = ServiceCost()
    }

    public let configuration: Configuration
    let metrics: ServeMetrics
    private let state = Mutex(State())
    private let clock = ContinuousClock()

    init(configuration: Configuration, metrics: ServeMetrics) {
        self.configuration = configuration
        self.metrics = metrics
    }

    // MARK: - Requests

    /// Queues `records` (with `bytes` of body) and waits for their outcomes, or for the reason they were shed.
    /// When `client` goes away while the request waits, the request is withdrawn (``Rejection/disconnected``).
    public func submit(
        _ records: [Value], bytes: Int, deadline: ContinuousClock.Instant, client: ClientWatch.Client? = nil
    ) async -> Answer {
        let now = self.clock.now
        var interest: ClientWatch.Interest?
        defer { interest?.cancel() }
        return await withCheckedContinuation { continuation in
            enum Decision {
                case reject(Rejection)
                case queued(id: Int, loop: CheckedContinuation<Bool, Never>?)
            }
            let decision = self.state.withLock { state -> Decision in
                if state.stopping { return .reject(.stopping) }
                if state.queuedRecords > 0, state.queuedRecords + records.count > self.configuration.queueLimit {
                    return .reject(.queueFull(retryAfter: self.drainTime(state)))
                }
                let probe = state.queue.isEmpty && state.busy < self.configuration.workers
                if !probe, let estimate = self.estimate(state, adding: records.count, at: now),
                    estimate > now.duration(to: deadline) * Self.headroom
                {
                    return .reject(
                        .deadline(
                            "the queue ahead and its own batch need about \(Self.milliseconds(estimate)) ms, more "
                                + "than \(Int(Self.headroom * 100)) % of the "
                                + "\(Self.milliseconds(now.duration(to: deadline))) ms left before the deadline"))
                }
                let id = state.nextID
                state.nextID += 1
                state.queue.append(
                    Waiting(
                        id: id, records: records, bytes: bytes, arrived: now, deadline: deadline, probe: probe,
                        continuation: continuation))
                state.queuedRecords += records.count
                self.metrics.queueDepth(state.queuedRecords)
                return .queued(id: id, loop: state.parked.popLast())
            }
            switch decision {
            case .reject(let rejection):
                self.metrics.shed(rejection)
                continuation.resume(returning: .rejected(rejection))
            case .queued(let id, let loop):
                if let client {
                    interest = client.whenGone { self.withdraw(id) }
                    if interest == nil { self.withdraw(id) }
                }
                loop?.resume(returning: true)
            }
        }
    }

    /// Takes request `id` out of the queue, if it is still there, and answers it ``Rejection/disconnected``.
    private func withdraw(_ id: Int) {
        let withdrawn = self.state.withLock { state -> Waiting? in
            guard let index = state.queue.firstIndex(where: { $0.id == id }) else { return nil }
            let request = state.queue.remove(at: index)
            state.queuedRecords -= request.records.count
            self.metrics.queueDepth(state.queuedRecords)
            return request
        }
        guard let withdrawn else { return }
        self.metrics.shed(.disconnected)
        withdrawn.continuation.resume(returning: .rejected(.disconnected))
    }

    /// The share of a request's remaining budget that the admission estimate may use. The rest is headroom for
    /// the estimate's error (a batch that runs slower than the fitted cost) and for the answer's way back, so
    /// that under overload the accepted requests keep their deadline as their clients measure it.
    static let headroom = 0.9

    /// The measured time a request of `count` records would wait and be served, behind what is queued; `nil`
    /// before the first batch was measured.
    private func estimate(_ state: State, adding count: Int, at now: ContinuousClock.Instant) -> Duration? {
        guard state.cost.measured else { return nil }
        // The batches ahead and its own, spread over the workers, plus half a batch in progress when every
        // worker is busy.
        var seconds = state.cost.drain(
            records: state.queuedRecords + count, batch: self.configuration.maxSize,
            workers: self.configuration.workers)
        if state.busy >= self.configuration.workers {
            seconds += state.cost.seconds(forBatchOf: self.configuration.maxSize) / 2
        }
        // Its own batch may run slow; the errors of the batches ahead mostly cancel out.
        seconds += state.cost.overrun(at: now)
        return .seconds(seconds)
    }

    /// How long the queue takes to drain at the measured rate (at least a millisecond; a second before any
    /// batch was measured).
    private func drainTime(_ state: State) -> Duration {
        guard state.cost.measured else { return .seconds(1) }
        let seconds = state.cost.drain(
            records: state.queuedRecords, batch: self.configuration.maxSize, workers: self.configuration.workers)
        return .seconds(max(0.001, seconds))
    }

    static func milliseconds(_ duration: Duration) -> Int {
        Int((duration.seconds * 1000).rounded(.up))
    }

    // MARK: - Dispatch

    /// Runs one dispatch loop per worker until ``stop()`` is called and the queue is empty.
    func run(on pool: ProcessPool) async {
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<max(1, self.configuration.workers) {
                group.addTask { await self.dispatchLoop(pool) }
            }
        }
    }

    /// Refuses new requests (503) and lets the loops end once what is queued has been served.
    func stop() {
        let parked = self.state.withLock { state -> [CheckedContinuation<Bool, Never>] in
            state.stopping = true
            defer { state.parked = [] }
            return state.parked
        }
        for loop in parked { loop.resume(returning: false) }
    }

    /// `true` once a request is queued; `false` when stopping with nothing left.
    private func waitForWork() async -> Bool {
        await withCheckedContinuation { continuation in
            let ready = self.state.withLock { state -> Bool? in
                if !state.queue.isEmpty { return true }
                if state.stopping { return false }
                state.parked.append(continuation)
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }

    private func dispatchLoop(_ pool: ProcessPool) async {
        while await self.waitForWork() {
            let release = await self.waitForCompany()
            let (batch, dropped) = self.takeBatch()
            let now = self.clock.now
            for request in dropped {
                let rejection: Rejection =
                    if now > request.deadline {
                        .deadline("its deadline passed while it waited in the queue")
                    } else {
                        .deadline("it cannot be served before its deadline")
                    }
                self.metrics.shed(rejection)
                request.continuation.resume(returning: .rejected(rejection))
            }
            guard !batch.isEmpty else {
                self.state.withLock { $0.busy -= 1 }
                continue
            }
            await self.serve(batch, release: release, on: pool)
        }
    }

    /// Waits, when other workers are busy, until the queue holds a full batch or its oldest request has
    /// waited long enough; says why the batch leaves.
    private func waitForCompany() async -> Release {
        let maxWait = self.configuration.maxWait
        while true {
            let (release, until) = self.state.withLock { state -> (Release?, ContinuousClock.Instant?) in
                guard let oldest = state.queue.first else { return (.idle, nil) }
                if state.queuedRecords >= self.configuration.maxSize { return (.full, nil) }
                if state.busy == 0 || state.stopping { return (.idle, nil) }
                var wait = maxWait
                if state.cost.measured {
                    wait = min(wait, .seconds(state.cost.seconds(forBatchOf: state.queuedRecords) / 2))
                }
                let until = oldest.arrived + wait
                return self.clock.now >= until ? (.waited, nil) : (nil, until)
            }
            if let release { return release }
            // Short naps: a request that fills the batch is noticed within 250 µs.
            let nap = min(until.map { self.clock.now.duration(to: $0) } ?? .zero, .microseconds(250))
            try? await Task.sleep(for: max(nap, .microseconds(50)))
        }
    }

    /// Takes the batch from the head of the queue (marking the loop busy), and the requests dropped on the way:
    /// those that can no longer meet their deadline.
    private func takeBatch() -> (batch: [Waiting], dropped: [Waiting]) {
        let now = self.clock.now
        return self.state.withLock { state in
            var batch: [Waiting] = []
            var dropped: [Waiting] = []
            var records = 0
            var bytes = 0
            let cost = state.cost
            while let next = state.queue.first {
                let fits =
                    batch.isEmpty
                    || (records + next.records.count <= self.configuration.maxSize
                        && self.configuration.maxBytes.map { bytes + next.bytes <= $0 } ?? true)
                guard fits else { break }
                state.queue.removeFirst()
                state.queuedRecords -= next.records.count
                // Served in this batch, it would finish when a batch of the records so far and its own does.
                let finish =
                    now
                    + .seconds(cost.measured ? cost.slowSeconds(forBatchOf: records + next.records.count, at: now) : 0)
                if now >= next.deadline || (finish > next.deadline && !(batch.isEmpty && next.probe)) {
                    dropped.append(next)
                    continue
                }
                records += next.records.count
                bytes += next.bytes
                batch.append(next)
            }
            state.busy += 1
            self.metrics.queueDepth(state.queuedRecords)
            return (batch, dropped)
        }
    }

    /// Runs `batch` on a worker and answers each of its requests.
    private func serve(_ batch: [Waiting], release: Release, on pool: ProcessPool) async {
        let started = self.clock.now
        for request in batch { self.metrics.queueWait(request.arrived.duration(to: started)) }
        let records = batch.flatMap(\.records)
        let outcomes: [RecordOutcome]
        do {
            outcomes = try await pool.process(records)
        } catch {
            self.state.withLock { $0.busy -= 1 }
            for request in batch {
                self.metrics.shed(.workers(""))
                request.continuation.resume(returning: .rejected(.workers("\(error)")))
            }
            return
        }
        let elapsed = started.duration(to: self.clock.now)
        let lost = outcomes.allSatisfy { if case .lost = $0 { true } else { false } }
        self.state.withLock { state in
            state.busy -= 1
            if !lost { state.cost.add(records: records.count, seconds: elapsed.seconds, at: self.clock.now) }
        }
        self.metrics.batch(records: records.count, elapsed: elapsed, release: release)
        var offset = 0
        for request in batch {
            let count = request.records.count
            let mine = Array(outcomes[offset..<offset + count])
            offset += count
            request.continuation.resume(returning: .answered(mine, queued: request.arrived.duration(to: started)))
        }
    }
}

/// What a batch of n records costs, `fixed + perRecord × n` seconds, fitted by least squares to the answered
/// batches, each weighing 0.95 as much as the next. While every batch had the same size the two parts cannot be
/// told apart, and the whole cost counts as fixed (right for the size seen; waiting for variety, not guessing).
struct ServiceCost: Sendable {
    private var weight = 0.0
    private var sumN = 0.0
    private var sumT = 0.0
    private var sumNN = 0.0
    private var sumNT = 0.0
    private(set) var fixed = 0.0
    private(set) var perRecord = 0.0
    /// How much slower than the fit recent batches ran, at worst, as of `overrunAt`: each batch's overrun
    /// (measured before it joins the fit) raises it, and it fades by 1 % a batch (half in about 70 batches) and
    /// with time (``overrun(at:)``, half-life ``halfLife``), so that a slow spell is forgotten soon after it ends,
    /// busy or not.
    private var overrunThen = 0.0
    private var overrunAt: ContinuousClock.Instant?
    /// How long the last batch took.
    private var lastBatch = 0.0

    /// The overrun's half-life in time: a second, or 35 batches' time when batches are slow (1 s batches would
    /// otherwise forget most of a slow one before the next could confirm it, and admit too much in an overload).
    var halfLife: Double { max(1.0, 35 * self.lastBatch) }

    /// `true` once a batch was measured.
    var measured: Bool { self.weight > 0 }

    /// The overrun as of `now`.
    func overrun(at now: ContinuousClock.Instant) -> Double {
        guard let then = self.overrunAt, self.overrunThen > 0 else { return self.overrunThen }
        let age = max(0, then.duration(to: now).seconds)
        return self.overrunThen * pow(0.5, age / self.halfLife)
    }

    /// Adds a batch of `records` that took `seconds` and ended at `now`.
    mutating func add(records: Int, seconds: Double, at now: ContinuousClock.Instant) {
        let n = Double(records)
        let decay = 0.95
        if self.measured {
            self.overrunThen = max(seconds - self.seconds(forBatchOf: records), self.overrun(at: now) * 0.99)
            self.overrunAt = now
        }
        self.lastBatch = seconds
        self.weight = self.weight * decay + 1
        self.sumN = self.sumN * decay + n
        self.sumT = self.sumT * decay + seconds
        self.sumNN = self.sumNN * decay + n * n
        self.sumNT = self.sumNT * decay + n * seconds
        let meanN = self.sumN / self.weight
        let meanT = self.sumT / self.weight
        let variance = self.sumNN / self.weight - meanN * meanN
        if variance > 0.25 {
            let slope = (self.sumNT / self.weight - meanN * meanT) / variance
            self.perRecord = max(0, slope)
            self.fixed = max(0, meanT - self.perRecord * meanN)
        } else {
            self.perRecord = 0
            self.fixed = meanT
        }
    }

    /// The seconds a batch of `records` takes.
    func seconds(forBatchOf records: Int) -> Double {
        self.fixed + self.perRecord * Double(records)
    }

    /// The seconds a batch of `records` takes when it runs as slow as recent batches did at worst. A request is
    /// only sent to a worker (and only admitted) when its own batch would finish in time even then.
    func slowSeconds(forBatchOf records: Int, at now: ContinuousClock.Instant) -> Double {
        self.seconds(forBatchOf: records) + self.overrun(at: now)
    }

    /// The seconds `workers` take to serve `records` in batches of up to `batch`.
    func drain(records: Int, batch: Int, workers: Int) -> Double {
        guard records > 0 else { return 0 }
        let batches = (Double(records) / Double(max(1, batch))).rounded(.up)
        return (batches * self.fixed + Double(records) * self.perRecord) / Double(max(1, workers))
    }
}
