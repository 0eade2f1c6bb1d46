public import GatherCore

/// Enqueues a run's first units, in order, from a sequence its registrar produces the same way every time (the
/// lines of an input file, say), and seals the run at the end, so that a registrar that stopped half way (killed
/// between registering the run and sealing it) is resumed by the next one: the same command run again skips the
/// units already enqueued and adds the rest. Two registrars at once add each unit once (``Coordinator/seed(run:payloads:after:)``
/// is a compare-and-set on the count).
///
/// ```swift
/// let registration = try await coordinator.register(run: id, kind: "fetch", configHash: hash)
/// guard var seeder = Seeder(coordinator: coordinator, run: id, registration: registration) else { return }
/// for unit in units { try await seeder.add(unit) }
/// try await seeder.finish()
/// ```
public struct Seeder: Sendable {
    private let coordinator: Coordinator
    private let run: String
    private let batch: Int
    private let outage: Outage
    /// First units known to be in the queue.
    private var seeded: Int64
    /// Units produced so far (skipped or not).
    private var produced: Int64 = 0
    private var pending: [Value] = []
    /// The count of first units at which the queue's statistics are refreshed next.
    private var analyzeAt: Int64 = 5000

    /// A seeder for a run just registered, or `nil` when there is nothing to seed (the run is sealed).
    /// A coordinator that cannot be reached for a while is waited for by `outage`: a lost `seed` is safe to repeat.
    public init?(
        coordinator: Coordinator, run: String, registration: RunRegistration, batch: Int = 200,
        outage: Outage = Outage()
    ) {
        switch registration {
        case .joined: return nil
        case .created: self.seeded = 0
        case .unsealed(let seeded): self.seeded = seeded
        }
        self.coordinator = coordinator
        self.run = run
        self.batch = max(1, batch)
        self.outage = outage
    }

    /// The next unit of the sequence: skipped when it is enqueued already, else enqueued (in batches).
    public mutating func add(_ unit: Value) async throws {
        self.produced += 1
        guard self.produced > self.seeded else { return }
        self.pending.append(unit)
        if self.pending.count >= self.batch { try await self.flush() }
    }

    /// Enqueues what is pending and seals the run.
    public mutating func finish() async throws {
        try await self.flush()
        let (coordinator, run) = (self.coordinator, self.run)
        try await self.outage.run("sealing \(run)") { try await coordinator.seal(run: run) }
        if self.seeded >= 1000 { await coordinator.analyze() }
    }

    private mutating func flush() async throws {
        while !self.pending.isEmpty {
            let after = self.produced - Int64(self.pending.count)
            let (coordinator, run, pending) = (self.coordinator, self.run, self.pending)
            let (now, sealed) = try await self.outage.run("enqueuing the units of \(run)") {
                try await coordinator.seed(run: run, payloads: pending, after: after)
            }
            guard now >= after, !sealed || now >= self.produced else {
                throw CoordinatorError(
                    "run \(self.run) has \(now) first units\(sealed ? " and is sealed" : "") where at least "
                        + "\(sealed ? self.produced : after) were expected: its input changed since it was registered")
            }
            self.seeded = now
            if now >= self.analyzeAt {
                await self.coordinator.analyze()
                self.analyzeAt = now * 10
            }
            // Another registrar got further: keep only what it has not enqueued.
            self.pending = Array(self.pending.suffix(Int(max(0, self.produced - now))))
        }
    }
}
