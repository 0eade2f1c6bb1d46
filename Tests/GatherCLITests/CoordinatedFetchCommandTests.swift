import GatherCoordinator
import GatherCore
import GatherJobs
import GatherPostgres
import GatherTesting
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// `gather fetch --coordinator` and `gather worker` sharing one run through a real PostgreSQL and a real HTTP
/// server: the host's rate holds for both processes together, measured at the server; a worker SIGKILLed
/// mid-lease loses its units to the other; and every input line's record is committed exactly once.
@Suite struct CoordinatedFetchCommandTests {
    // The limit covers the wait for the other kill tests (oneKillTestAtATime), as the map kill test's does.
    @Test(.timeLimit(.minutes(15)))
    func twoProcessesShareOneRateAndAKilledWorkersUnitsAreRedoneOnce() async throws {
        try await oneKillTestAtATime { try await self.body() }
    }

    private func body() async throws {
        try await FixtureServer.withServer { server in
            let scratch = try ScratchFolder()
            defer { scratch.remove() }
            // 300 distinct requests of 100 ms each, in units of 50 lines: at 40/s for the fleet, about 7.5 s.
            let lines = (1...300).map { server.url("/delay/100?n=\($0)") }
            let input = try scratch.write("urls.txt", lines.joined(separator: "\n") + "\n")
            let url = try await TestPostgres.freshDatabase("coordinated_fetch").description
            let common = ["--lease", "2s", "--quiet"]
            // The doomed worker joins, and is SIGKILLed once it holds a unit after committing one.
            async let doomed = runGather(["worker", url, "--name", "doomed", "--wait"] + common) { process in
                try await TestPostgres.withServer(try PostgresURL(url)) { db in
                    let deadline = ContinuousClock.now + .seconds(60)
                    while ContinuousClock.now < deadline {
                        let held = try? await db.query(
                            "SELECT count(*) FROM gather_units WHERE owner = 'doomed' AND state = 'leased'")
                        let done = try? await db.query("SELECT count(*) FROM fetch_results")
                        if (held?.first?.first?.intValue ?? 0) >= 1, (done?.first?.first?.intValue ?? 0) >= 100 {
                            break
                        }
                        try await Task.sleep(for: .milliseconds(20))
                    }
                }
                kill(process.processIdentifier, SIGKILL)
            }
            let fetch = try await runGather(
                [
                    "fetch", input, "--into", url, "--coordinator", url, "--name", "survivor", "--concurrency", "16",
                    "--rate", "40/s",
                ] + common)
            let killed = try await doomed
            #expect(killed.status == SIGKILL || killed.status == 128 + SIGKILL, "\(killed.stderr)")
            #expect(fetch.status == 0, "\(fetch.stderr)")
            try await TestPostgres.withServer(try PostgresURL(url)) { db in
                // Every line once, whoever fetched it and however often it was sent.
                let rows = try await db.query(
                    "SELECT count(*), count(DISTINCT line), min(line), max(line), count(error_code) FROM fetch_results")
                #expect(rows == [[.int(300), .int(300), .int(1), .int(300), .int(0)]], "\(rows)")
                #expect(try await db.query("SELECT state FROM gather_runs") == [[.string("done")]])
                #expect(try await db.query("SELECT count(*) FROM gather_units") == [[.int(0)]])
            }
            // `gather status` shows the run done, both workers, and the host's shared budget: 40/s, and at least
            // one grant per request sent (grants not spent in time are dropped, so there may be more).
            let status = try await runGather(["status", url])
            #expect(status.status == 0, "\(status.stderr)")
            #expect(status.stdout.contains("done") && status.stdout.contains("survivor"), "\(status.stdout)")
            #expect(status.stdout.contains("doomed") && status.stdout.contains("limits"), "\(status.stdout)")
            let limit = status.stdout.split(separator: "\n").first { $0.contains("40/s") }
            let granted = limit.flatMap { $0.split(separator: " ").dropFirst(2).first.flatMap { Int($0) } }
            #expect((granted ?? 0) >= 300, "\(status.stdout)")
            // The fleet's rate, measured where it matters: at the server, over every 1 s window.
            let arrivals = server.stats.arrivals().sorted()
            #expect(arrivals.count >= 300)
            let widest = busiestWindow(arrivals)
            // The bound is the limit + 10 %, which the scale benchmark checks at 200/s (214 of 220). At 40/s
            // one request is 2.5 %, and this runs under the whole suite's load (it saw 45 once): + 15 % here.
            #expect(widest <= 46, "\(widest) requests in one second; the fleet's limit is 40/s")
            // And the limit binds: the two together ran near it, not far under (300 requests took ≥ 6.5 s).
            let span = arrivals.first!.duration(to: arrivals.last!)
            #expect(span >= .seconds(6.5), "300 requests in \(span) at 40/s")
        }
    }

    /// `gather worker --concurrency` sets this host's requests in flight, whatever the run was started with: a run
    /// registered at concurrency 16, worked on by one worker at 3, never has more than 3 requests at the server.
    @Test(.timeLimit(.minutes(2)))
    func aWorkersConcurrencyIsItsOwn() async throws {
        try await FixtureServer.withServer { server in
            let scratch = try ScratchFolder()
            defer { scratch.remove() }
            let lines = (1...24).map { server.url("/delay/100?n=\($0)") }
            var options = FetchJob.Options()
            options.input = try scratch.write("urls.txt", lines.joined(separator: "\n") + "\n")
            options.concurrency = 16
            let run = try CoordinatedFetch.plan(options, unitSize: 8)
            let url = try await TestPostgres.freshDatabase("worker_concurrency")
            let store = try await PostgresStore.open(url)
            try await Coordinator(server: store.server).install()
            try await CoordinatedFetch.register(run, coordinator: Coordinator(server: store.server))
            await store.close()
            let worker = try await runGather(["worker", url.description, "--concurrency", "3", "--quiet"])
            #expect(worker.status == 0, "\(worker.stderr)")
            #expect(server.stats.count() == 24)
            let most = server.stats.highWater()
            #expect(most <= 3 && most >= 2, "\(most) requests at once")
            let zero = try await runGather(["worker", url.description, "--concurrency", "0"])
            #expect(zero.status == 2 && zero.stderr.contains("--concurrency 0"), "\(zero.stderr)")
        }
    }
}
