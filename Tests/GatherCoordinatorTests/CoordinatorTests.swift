import GatherCore
import GatherPostgres
import GatherTesting
import Synchronization
import Testing

@testable import GatherCoordinator

/// The coordinator against a real PostgreSQL (the cluster `scripts/test` starts): claims that never overlap,
/// leases that expire and are reclaimed, and completion fenced by the epoch, so a late worker writes nothing.
@Suite struct CoordinatorTests {
    /// A coordinator on a fresh database with its tables and a `results (unit_id, worker, value)` table.
    static func withCoordinator(_ label: String, _ body: (Coordinator) async throws -> Void) async throws {
        let url = try await TestPostgres.freshDatabase(label)
        try await TestPostgres.withServer(url) { server in
            let coordinator = Coordinator(server: server)
            try await coordinator.install()
            try await coordinator.install()  // a second install (another worker starting) changes nothing
            try await server.execute("CREATE TABLE results (unit_id bigint, worker text, value bigint)")
            try await body(coordinator)
        }
    }

    /// Writes one result row per accepted lease: the payload's `n` times ten.
    static func write(_ tx: PostgresTransaction, _ accepted: [Lease], worker: String) async throws {
        for lease in accepted {
            guard case .object(let payload) = lease.payload, let n = payload["n"]?.intValue else { continue }
            try await tx.execute(
                "INSERT INTO results VALUES ($1, $2, $3)", [.int(lease.unit), .string(worker), .int(n * 10)])
        }
    }

    /// A worker that joins between the registration and the enqueue finds an empty queue: that must not end the
    /// run (it did: the run was marked done, and workers that came later never saw it).
    @Test(.timeLimit(.minutes(2)))
    func anEmptyQueueEndsOnlyASealedRun() async throws {
        try await Self.withCoordinator("seal") { coordinator in
            try await coordinator.register(run: "r", kind: "fetch", configHash: "h")
            #expect(try await coordinator.finishIfDone(run: "r") == false)
            #expect(try await coordinator.openRuns().map(\.id) == ["r"])
            try await coordinator.enqueue(run: "r", payloads: [["n": 1]])
            try await coordinator.seal(run: "r")
            #expect(try await coordinator.finishIfDone(run: "r") == false)  // a unit is left
            let leases = try await coordinator.claim(run: "r", worker: "w", count: 1, lease: .seconds(30))
            try await coordinator.complete(leases, worker: "w")
            #expect(try await coordinator.finishIfDone(run: "r"))
            #expect(try await coordinator.openRuns().isEmpty)
        }
    }

    /// A registrar killed between registering its run and sealing it left the run half enqueued: it never
    /// finished, and the same command run again joined it without enqueuing the rest. Now the next registrar goes
    /// on from where the first stopped, and two at once enqueue each unit once.
    @Test(.timeLimit(.minutes(2)))
    func aRegistrarThatStoppedHalfWayIsResumedAndTwoAtOnceEnqueueEachUnitOnce() async throws {
        try await Self.withCoordinator("seeder") { coordinator in
            let units = (1...1000).map { Value.object(["n": .int(Int64($0))]) }
            // The first registrar enqueues 450 of the 1,000 units (two batches of 200 and part of a third that
            // never commits: 400 are in) and stops.
            let first = try await coordinator.register(run: "r", kind: "fetch", configHash: "h")
            #expect(first == .created)
            var stopped = try #require(Seeder(coordinator: coordinator, run: "r", registration: first))
            for unit in units.prefix(450) { try await stopped.add(unit) }
            #expect(try await coordinator.progress(run: "r").total == 400)
            #expect(try await coordinator.finishIfDone(run: "r") == false)
            // A worker drains what is there meanwhile: the run is still not done.
            let early = try await coordinator.claim(run: "r", worker: "w", count: 1000, lease: .seconds(30))
            try await coordinator.complete(early, worker: "w")
            #expect(try await coordinator.finishIfDone(run: "r") == false)
            // The same command again: it joins an unsealed run and goes on after unit 400.
            let again = try await coordinator.register(run: "r", kind: "fetch", configHash: "h")
            #expect(again == .unsealed(seeded: 400))
            var resumed = try #require(Seeder(coordinator: coordinator, run: "r", registration: again))
            for unit in units { try await resumed.add(unit) }
            try await resumed.finish()
            #expect(try await coordinator.register(run: "r", kind: "fetch", configHash: "h") == .joined)
            #expect(Seeder(coordinator: coordinator, run: "r", registration: .joined) == nil)
            let rest = try await coordinator.claim(run: "r", worker: "w", count: 1000, lease: .seconds(30))
            let ns = (early + rest).compactMap { lease -> Int64? in
                guard case .object(let payload) = lease.payload else { return nil }
                return payload["n"]?.intValue
            }
            #expect(ns.sorted() == Array(1...1000))
            try await coordinator.complete(rest, worker: "w")
            #expect(try await coordinator.finishIfDone(run: "r"))

            // Two registrars of one new run at once, each registering it (one creates it, the other finds it
            // unsealed), in batches of 7 and 13: every unit once, in order.
            try await withThrowingTaskGroup(of: Void.self) { group in
                for batch in [7, 13] {
                    group.addTask {
                        let registration = try await coordinator.register(run: "s", kind: "fetch", configHash: "h")
                        #expect(registration != .joined)
                        var seeder = try #require(
                            Seeder(coordinator: coordinator, run: "s", registration: registration, batch: batch))
                        for unit in units { try await seeder.add(unit) }
                        try await seeder.finish()
                    }
                }
                try await group.waitForAll()
            }
            let all = try await coordinator.claim(run: "s", worker: "w", count: 2000, lease: .seconds(30))
            let order = all.compactMap { lease -> Int64? in
                guard case .object(let payload) = lease.payload else { return nil }
                return payload["n"]?.intValue
            }
            #expect(order == Array(1...1000), "\(order.count) units")
            #expect(all.map(\.unit) == Array(1...1000))
        }
    }

    /// A statement the server cuts off (its backend terminated, as a restart or failover does) is tried again
    /// by ``Outage`` and succeeds; one the server refuses fails at once; and a coordinator that stays away past
    /// the limit ends in an error that says what the worker was doing.
    @Test(.timeLimit(.minutes(2)))
    func anOutageIsRiddenOutAndOnlyTransientErrorsAreRetried() async throws {
        try await Self.withCoordinator("outage") { coordinator in
            let reports = Mutex<[String]>([])
            let outage = Outage(limit: .seconds(20), report: { line in reports.withLock { $0.append(line) } })
            let attempts = Mutex(0)
            let server = coordinator.server
            async let answer = outage.run("testing") {
                let attempt = attempts.withLock {
                    $0 += 1; return $0
                }
                if attempt == 1 { _ = try await server.query("SELECT pg_sleep(30), 'outage-test'") }
                return try await server.query("SELECT 7")
            }
            // Terminate the sleeping backend from the pool's other connection, as a fast shutdown does (57P01).
            var terminated = false
            for _ in 0..<200 where !terminated {
                let rows = try await server.query(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        + "WHERE query LIKE 'SELECT pg_sleep(30), ''outage-test''%' AND pid <> pg_backend_pid()")
                terminated = rows.first?.first == .bool(true)
                if !terminated { try await Task.sleep(for: .milliseconds(20)) }
            }
            #expect(terminated)
            #expect(try await answer == [[.int(7)]])
            #expect(attempts.withLock { $0 } == 2)
            #expect(outage.problem == nil)
            // One line when it stopped answering (saying what was being done), one when it was back.
            let said = reports.withLock { $0 }
            #expect(said.count == 2, "\(said)")
            #expect(said.first?.contains("cannot be reached") == true && said.first?.contains("testing") == true)
            #expect(said.last?.hasPrefix("the coordinator answers again") == true, "\(said)")
            // Refused by the server (no such table): not retried.
            let refused = Mutex(0)
            await #expect(throws: (any Error).self) {
                try await outage.run("testing") {
                    refused.withLock { $0 += 1 }
                    return try await server.query("SELECT * FROM no_such_table")
                }
            }
            #expect(refused.withLock { $0 } == 1)
            // Away for longer than the limit: the error names what was being done.
            let short = Outage(limit: .milliseconds(300))
            do {
                _ = try await short.run("claiming units of r") { () async throws -> Int in
                    throw PostgresError("connection refused", transient: true)
                }
                Issue.record("an outage past the limit did not throw")
            } catch {
                #expect("\(error)".contains("has not answered"), "\(error)")
                #expect("\(error)".contains("claiming units of r"), "\(error)")
                #expect(short.problem?.contains("connection refused") == true)
            }
        }
    }

    @Test(.timeLimit(.minutes(2)))
    func workersShareUnitsAndEachIsDoneOnce() async throws {
        try await Self.withCoordinator("share") { coordinator in
            #expect(try await coordinator.register(run: "r1", kind: "map", configHash: "abc") == .created)
            // Not sealed yet: another registrar would go on seeding it.
            #expect(
                try await coordinator.register(run: "r1", kind: "map", configHash: "abc") == .unsealed(seeded: 0))
            let ids = try await coordinator.enqueue(run: "r1", payloads: (1...200).map { ["n": .int(Int64($0))] })
            #expect(ids == Array(1...200))
            // Four workers claim batches of 7 concurrently until nothing is left.
            try await withThrowingTaskGroup(of: Void.self) { group in
                for w in 0..<4 {
                    group.addTask {
                        let name = "w\(w)"
                        while true {
                            let leases = try await coordinator.claim(
                                run: "r1", worker: name, count: 7, lease: .seconds(30))
                            if leases.isEmpty { break }
                            let accepted = try await coordinator.complete(leases, worker: name) { tx, accepted in
                                try await Self.write(tx, accepted, worker: name)
                            }
                            #expect(accepted == leases, "nobody else held these")
                        }
                    }
                }
                try await group.waitForAll()
            }
            let rows = try await coordinator.server.query(
                "SELECT count(*), count(DISTINCT unit_id), sum(value), count(DISTINCT worker) FROM results")
            #expect(rows == [[.int(200), .int(200), .int(201_000), .int(4)]])
            let progress = try await coordinator.progress(run: "r1")
            #expect(progress == QueueProgress(total: 200, ready: 0, leased: 0, expired: 0, failed: 0))
            #expect(progress.done == 200 && progress.isFinished)
            // The queue is empty: done units are deleted.
            #expect(try await coordinator.server.query("SELECT count(*) FROM gather_units") == [[.int(0)]])
        }
    }

    @Test(.timeLimit(.minutes(2)))
    func aWorkerWhoseLeaseWasTakenOverWritesNothing() async throws {
        try await Self.withCoordinator("fence") { coordinator in
            try await coordinator.register(run: "r", kind: "map", configHash: "h")
            try await coordinator.enqueue(run: "r", payloads: [["n": 1], ["n": 2]])
            // A claims both with a short lease, then stalls (a pause, a partition) past it.
            let slow = try await coordinator.claim(run: "r", worker: "A", count: 2, lease: .milliseconds(200))
            #expect(slow.map(\.epoch) == [1, 1])
            #expect(try await coordinator.claim(run: "r", worker: "B", count: 2, lease: .seconds(30)).isEmpty)
            try await Task.sleep(for: .milliseconds(400))
            #expect(try await coordinator.progress(run: "r").expired == 2)
            // B reclaims the expired units (epoch 2) and completes one of them.
            let taken = try await coordinator.claim(run: "r", worker: "B", count: 1, lease: .seconds(30))
            #expect(taken.map(\.unit) == [1] && taken.map(\.epoch) == [2])
            try await coordinator.complete(taken, worker: "B") { tx, accepted in
                try await Self.write(tx, accepted, worker: "B")
            }
            // A wakes up and completes both: unit 1 is fenced off (B has it, epoch 2 ≠ 1); unit 2's lease expired
            // but nobody claimed it, so A's epoch still holds and its result counts.
            nonisolated(unsafe) var written: [Int64] = []
            let accepted = try await coordinator.complete(slow, worker: "A") { tx, accepted in
                written = accepted.map(\.unit)
                try await Self.write(tx, accepted, worker: "A")
            }
            #expect(accepted.map(\.unit) == [2])
            #expect(written == [2], "the writer sees only the accepted units")
            // A heartbeat for a lost lease says it was lost.
            #expect(try await coordinator.heartbeat(worker: "A", leases: slow, lease: .seconds(1)).count == 2)
            let rows = try await coordinator.server.query("SELECT unit_id, worker, value FROM results ORDER BY 1")
            #expect(rows == [[.int(1), .string("B"), .int(10)], [.int(2), .string("A"), .int(20)]])
        }
    }

    @Test(.timeLimit(.minutes(2)))
    func heartbeatsKeepALeaseAndADeadWorkersUnitsAreRedoneOnce() async throws {
        try await Self.withCoordinator("heartbeat") { coordinator in
            try await coordinator.register(run: "r", kind: "map", configHash: "h")
            try await coordinator.enqueue(run: "r", payloads: (1...6).map { ["n": .int(Int64($0))] })
            // A holds units 1–3 and keeps them alive past several lease lengths.
            let held = try await coordinator.claim(run: "r", worker: "A", count: 3, lease: .milliseconds(300))
            for _ in 0..<6 {
                try await Task.sleep(for: .milliseconds(100))
                #expect(try await coordinator.heartbeat(worker: "A", leases: held, lease: .milliseconds(300)).isEmpty)
                #expect(
                    try await coordinator.claim(run: "r", worker: "B", count: 10, lease: .seconds(30)).map(\.unit)
                        .allSatisfy { $0 > 3 }, "B must not get A's live units")
            }
            // Then A dies (no more heartbeats, no completion). Once its leases run out, C gets them.
            try await Task.sleep(for: .milliseconds(400))
            let redo = try await coordinator.claim(run: "r", worker: "C", count: 10, lease: .seconds(30))
            #expect(redo.map(\.unit) == [1, 2, 3])
            #expect(redo.allSatisfy { $0.attempts == 2 && $0.epoch == 2 })
            try await coordinator.complete(redo, worker: "C") { tx, accepted in
                try await Self.write(tx, accepted, worker: "C")
            }
            // B's units (4–6) were leased by B in the loop above and are completed by B.
            let mine = try await coordinator.server.query(
                "SELECT unit_id, epoch FROM gather_units WHERE owner = 'B' ORDER BY 1")
            let leases = mine.map {
                Lease(
                    run: "r", unit: $0[0].intValue!, epoch: $0[1].intValue!, payload: ["n": .int($0[0].intValue!)],
                    attempts: 1)
            }
            try await coordinator.complete(leases, worker: "B") { tx, accepted in
                try await Self.write(tx, accepted, worker: "B")
            }
            let rows = try await coordinator.server.query(
                "SELECT count(*), count(DISTINCT unit_id), sum(value) FROM results")
            #expect(rows == [[.int(6), .int(6), .int(210)]])
            #expect(try await coordinator.progress(run: "r").isFinished)
        }
    }

    @Test(.timeLimit(.minutes(2)))
    func fourWorkersShareOneRateAndAPauseHoldsThemAll() async throws {
        try await Self.withCoordinator("budget") { coordinator in
            // 100 requests a second for the fleet, a burst of 10; four workers ask for grants of 10 (a tenth of a
            // second) as fast as they can for 2 s.
            let started = ContinuousClock.now
            let total = try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<4 {
                    group.addTask {
                        var taken = 0
                        while ContinuousClock.now < started + .seconds(2) {
                            let grant = try await coordinator.grant(key: "api.example", rate: 100, burst: 10, want: 10)
                            taken += grant.granted
                            if grant.granted == 0 { try await Task.sleep(for: .milliseconds(10)) }
                        }
                        return taken
                    }
                }
                return try await group.reduce(0, +)
            }
            let seconds = started.duration(to: .now).seconds
            // At most the rate over the time plus the burst; and the fleet gets nearly all of it.
            #expect(Double(total) <= 100 * seconds + 10 + 1, "\(total) in \(seconds) s")
            #expect(Double(total) >= 0.8 * 100 * 2, "\(total) in \(seconds) s")
            // One worker saw Retry-After: 500 ms. Every worker's grants are 0 until then.
            try await coordinator.pause(key: "api.example", for: .milliseconds(500))
            let paused = try await coordinator.grant(key: "api.example", rate: 100, burst: 10, want: 10)
            #expect(paused.granted == 0)
            #expect((paused.pausedFor ?? .zero) > .milliseconds(300), "\(String(describing: paused.pausedFor))")
            try await Task.sleep(for: .milliseconds(600))
            #expect(try await coordinator.grant(key: "api.example", rate: 100, burst: 10, want: 10).granted > 0)
        }
    }

    @Test(.timeLimit(.minutes(2)))
    func aRunStartedWithAnotherConfigurationRefusesToBeJoined() async throws {
        try await Self.withCoordinator("config") { coordinator in
            try await coordinator.register(run: "r", kind: "map", configHash: "aaaa1111")
            let error = await #expect(throws: CoordinatorError.self) {
                try await coordinator.register(run: "r", kind: "map", configHash: "bbbb2222")
            }
            #expect(error?.description.contains("another configuration") == true, "\(String(describing: error))")
            // A failed unit stays with its reason and is not claimed again.
            try await coordinator.enqueue(run: "r", payloads: [["n": 1]])
            let lease = try #require(
                try await coordinator.claim(run: "r", worker: "A", count: 1, lease: .seconds(5)).first)
            #expect(try await coordinator.fail(lease, worker: "A", reason: "the worker rejected it"))
            #expect(try await coordinator.claim(run: "r", worker: "A", count: 1, lease: .seconds(5)).isEmpty)
            let progress = try await coordinator.progress(run: "r")
            #expect(progress.failed == 1 && progress.isFinished)
        }
    }
}
