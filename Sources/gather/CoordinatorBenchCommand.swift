import ArgumentParser
import Gather

/// `gather coordinator-bench postgres://…` (hidden): the coordinator's own cost, with trivial units. It is what
/// `Benchmarks/scale/overhead.sh` runs next to pgbench; it is not a user command.
///
/// Two phases on one fresh run each, with `--workers` loops, each on a connection of its own:
/// - **drain**: `--units` units are enqueued first (timed apart), then the loops claim `--batch` at a time and
///   complete them, fenced, writing one result row per unit in the same transaction, until none is left;
/// - **steady**: a producer enqueues while the loops drain, so the queue stays short, as in a long run.
///
/// Every second it samples `pg_stat_user_tables` for `gather_units` (live and dead rows, autovacuum runs), to
/// show whether vacuum keeps up with the deletes. One JSON line per phase on stdout.
struct CoordinatorBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "coordinator-bench",
        abstract: "Measure claims plus fenced commits per second with trivial units (Benchmarks/scale/overhead.sh).",
        shouldDisplay: false)

    @Argument(help: "A PostgreSQL database to use, postgres://…")
    var coordinator: String

    @Option(name: .long, help: "Worker loops, each on its own connection.")
    var workers = 4

    @Option(name: .long, help: "Units per phase.")
    var units = 100_000

    @Option(name: .long, help: "Units per claim (and per commit).")
    var batch = 100

    func run() async throws {
        let url = try WorkerCommand.url(self.coordinator)
        guard self.workers >= 1, self.units >= 1, self.batch >= 1 else {
            throw JobError.usage("--workers, --units and --batch must be at least 1")
        }
        let setup = try await PostgresServer.connect(url, maxConnections: 2)
        let coordinator = Coordinator(server: setup)
        try await coordinator.install()
        try await setup.execute(
            "CREATE TABLE IF NOT EXISTS gather_bench_results (unit_id bigint, worker text, n bigint)")
        var loops: [Coordinator] = []
        for _ in 0..<self.workers {
            loops.append(Coordinator(server: try await PostgresServer.connect(url, maxConnections: 1)))
        }
        for steady in [false, true] {
            let line = try await self.phase(steady: steady, coordinator: coordinator, loops: loops)
            print(JSONWriter.string(line))
        }
        for loop in loops { await loop.server.close() }
        await setup.close()
    }

    private func phase(steady: Bool, coordinator: Coordinator, loops: [Coordinator]) async throws -> Value {
        let run = "bench-\(steady ? "steady" : "drain")-\(UInt32.random(in: 0...UInt32.max))"
        let registration = try await coordinator.register(run: run, kind: "bench", configHash: "bench")
        guard var seeder = Seeder(coordinator: coordinator, run: run, registration: registration, batch: 1000)
        else { throw JobError.usage("run \(run) exists already") }
        let payloads = (1...self.units).map { Value.object(["n": .int(Int64($0))]) }
        var enqueueSeconds = 0.0
        if !steady {
            let started = ContinuousClock.now
            for payload in payloads { try await seeder.add(payload) }
            try await seeder.finish()
            enqueueSeconds = started.duration(to: .now).seconds
        }
        let samples = Samples()
        let producer = seeder
        let batch = self.batch
        let started = ContinuousClock.now
        // Each loop returns its claims; the producer and the sampler return nil.
        let claims = try await withThrowingTaskGroup(of: Int?.self) { group in
            if steady {
                // The producer: enqueues in batches as fast as it can; the loops drain meanwhile.
                group.addTask {
                    var seeder = producer
                    for payload in payloads { try await seeder.add(payload) }
                    try await seeder.finish()
                    return nil
                }
            }
            group.addTask {
                while !Task.isCancelled {
                    await samples.add(try await Self.sample(coordinator))
                    try await Task.sleep(for: .seconds(1))
                }
                return nil
            }
            for (index, loop) in loops.enumerated() {
                group.addTask { try await Self.work(loop, run: run, worker: "bench-\(index)", batch: batch) }
            }
            var claims = 0
            var loopsLeft = loops.count
            while loopsLeft > 0, let result = try await group.next() {
                guard let result else { continue }
                claims += result
                loopsLeft -= 1
            }
            group.cancelAll()
            return claims
        }
        let seconds = started.duration(to: .now).seconds
        let after = try await Self.sample(coordinator)
        await samples.add(after)
        let progress = try await coordinator.progress(run: run)
        let written = try await coordinator.server.query(
            "SELECT count(*), count(DISTINCT unit_id) FROM gather_bench_results WHERE worker LIKE $1",
            [.string(run + "/%")])
        let all = await samples.all
        return .object(
            Record([
                ("phase", .string(steady ? "steady" : "drain")), ("units", .int(Int64(self.units))),
                ("workers", .int(Int64(loops.count))), ("batch", .int(Int64(self.batch))),
                ("enqueue_units_per_s", steady ? .null : .double(Double(self.units) / max(enqueueSeconds, 1e-9))),
                ("seconds", .double(seconds)), ("units_per_s", .double(Double(self.units) / max(seconds, 1e-9))),
                ("claims", .int(Int64(claims))), ("left", .int(Int64(progress.total - progress.done))),
                ("results", written.first?[0] ?? .null), ("distinct_results", written.first?[1] ?? .null),
                ("dead_rows_max", .int(all.map(\.dead).max() ?? 0)),
                ("live_rows_max", .int(all.map(\.live).max() ?? 0)),
                ("autovacuums", .int((all.last?.autovacuums ?? 0) - (all.first?.autovacuums ?? 0))),
                ("table_bytes_after", .int(after.bytes)),
            ]))
    }

    /// Claims and completes until the run is done; returns the claims that found units.
    private static func work(_ coordinator: Coordinator, run: String, worker: String, batch: Int) async throws -> Int? {
        var claims = 0
        let writer = run + "/" + worker
        while true {
            let leases = try await coordinator.claim(run: run, worker: writer, count: batch, lease: .seconds(30))
            if leases.isEmpty {
                if try await coordinator.finishIfDone(run: run) { return claims }
                try await Task.sleep(for: .milliseconds(2))
                continue
            }
            claims += 1
            try await coordinator.complete(leases, worker: writer) { tx, accepted in
                try await tx.execute(
                    """
                    INSERT INTO gather_bench_results
                    SELECT (f->>'unit')::bigint, $1, (f->>'n')::bigint FROM jsonb_array_elements($2::jsonb) AS f
                    """,
                    [
                        .string(writer),
                        .array(accepted.map { .object(["unit": .int($0.unit), "n": $0.payload["n"] ?? .null]) }),
                    ])
            }
        }
    }

    struct Sample: Sendable {
        var live: Int64
        var dead: Int64
        var autovacuums: Int64
        var bytes: Int64
    }

    private static func sample(_ coordinator: Coordinator) async throws -> Sample {
        let row = try await coordinator.server.query(
            """
            SELECT n_live_tup, n_dead_tup, autovacuum_count, pg_total_relation_size('gather_units')
            FROM pg_stat_user_tables WHERE relname = 'gather_units'
            """
        ).first
        return Sample(
            live: row?[0].intValue ?? 0, dead: row?[1].intValue ?? 0, autovacuums: row?[2].intValue ?? 0,
            bytes: row?[3].intValue ?? 0)
    }

    private actor Samples {
        var all: [Sample] = []
        func add(_ sample: Sample) { self.all.append(sample) }
    }
}
