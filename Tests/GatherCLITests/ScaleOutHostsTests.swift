import Foundation
import GatherCoordinator
import GatherCore
import GatherFormats
import GatherPostgres
import GatherTesting
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Scale-out "as separate hosts" (issue 16): every `gather` process runs in a network namespace of its own
/// (`scripts/netns`: gather-w1 … gather-w4 on a private test subnet), PostgreSQL runs in another (gather-srv), and
/// the fixture HTTP server listens on the bridge's address on the test runner's side. `scripts/test` makes the
/// namespaces and the cluster, runs this suite alone (its own phase), and removes them; where namespaces cannot be
/// made it says why and these tests are skipped with that reason.
///
/// Each test checks the contract with real processes on real (virtual) links: every input line's record committed
/// exactly once, whatever was killed, cut off or restarted, and the fleet's rate held at the server.
@Suite(.serialized, .enabled(if: Hosts.available, Hosts.unavailable))
struct ScaleOutHostsTests {
    /// Four hosts (a registrar and three workers) finish one run exactly, and their requests together keep the
    /// host's rate, measured at the server over every 1 s window.
    @Test(.timeLimit(.minutes(5)))
    func fourHostsFinishARunExactlyAndHoldTheFleetsRate() async throws {
        try await Hosts.withRun("four", lines: 480, delayMs: 100) { run in
            let summaries = run.scratch.file("summary")
            try FileManager.default.createDirectory(atPath: summaries, withIntermediateDirectories: true)
            let results = try await run.fleet(
                registrar: ["--rate", "60/s", "--concurrency", "16", "--summary-json", summaries + "/w1.json"],
                workers: [2, 3, 4].map { ($0, ["--summary-json", summaries + "/w\($0).json"]) })
            for result in results { #expect(result.status == 0, "\(result.stderr)") }
            try await run.expectEveryLineOnce()
            // Every host did part of it.
            for k in 1...4 {
                let units = try Hosts.summed("units", in: summaries + "/w\(k).json")
                #expect(units >= 1, "gather-w\(k) committed no unit")
            }
            let arrivals = run.server.stats.arrivals().sorted()
            #expect(arrivals.count >= 480)
            // The issue's bound is the limit + 10 % (the scale benchmark checks it at 200/s); at 60/s one request
            // is 1.7 %, and four processes on two cores jitter: + 15 % here.
            let widest = busiestWindow(arrivals)
            #expect(widest <= 69, "\(widest) requests in one second; the fleet's limit is 60/s")
            let span = arrivals.first!.duration(to: arrivals.last!)
            #expect(span >= .seconds(7), "480 requests in \(span) at 60/s")
        }
    }

    /// A host SIGKILLed while it holds units: once its leases run out (2 s) the others redo them, within the
    /// lease plus a little, and each line's record is committed once.
    @Test(.timeLimit(.minutes(5)))
    func aKilledHostsUnitsAreRedoneOnceAfterItsLease() async throws {
        try await Hosts.withRun("kill", lines: 600, delayMs: 100) { run in
            async let doomed = run.gather(on: 2, ["worker", run.db, "--name", "doomed", "--wait", "--lease", "2s"]) {
                process in
                try await run.waitUntil("doomed holds a unit after 100 records") {
                    let held = try await run.count("gather_units WHERE owner = 'doomed' AND state = 'leased'")
                    let done = try await run.count("fetch_results")
                    return held >= 1 && done >= 100
                }
                kill(process.processIdentifier, SIGKILL)
                let killed = ContinuousClock.now
                // Its units are claimed again once the lease runs out: none is left leased to it.
                try await run.waitUntil("the others reclaim doomed's units") {
                    try await run.count("gather_units WHERE owner = 'doomed' AND state = 'leased'") == 0
                }
                let recovery = killed.duration(to: .now)
                #expect(recovery < .seconds(6), "reclaimed \(recovery) after the kill; the lease is 2 s")
            }
            let registrar = try await run.gather(on: 1, run.fetch(["--lease", "2s", "--concurrency", "16"]))
            let killed = try await doomed
            #expect(killed.status == SIGKILL || killed.status == 128 + SIGKILL, "\(killed.stderr)")
            #expect(registrar.status == 0, "\(registrar.stderr)")
            try await run.expectEveryLineOnce()
        }
    }

    /// A host cut off (its link down) past its lease: the others redo its units; when the link is back its late
    /// commits are refused by the fence (its summary counts them), and nothing is written twice.
    @Test(.timeLimit(.minutes(5)))
    func aPartitionedHostsLateCommitIsRefusedByTheFence() async throws {
        try await Hosts.withRun("partition", lines: 600, delayMs: 100) { run in
            let summary = run.scratch.file("victim.json")
            async let victim = run.gather(
                on: 2, ["worker", run.db, "--name", "victim", "--wait", "--lease", "2s", "--summary-json", summary]
            ) { process in
                try await run.waitUntil("the victim holds a unit after 100 records") {
                    let held = try await run.count("gather_units WHERE owner = 'victim' AND state = 'leased'")
                    let done = try await run.count("fetch_results")
                    return held >= 1 && done >= 100
                }
                try await Hosts.netns("cut", "gather-w2")
                do {
                    // Past its lease: the others claim its units again (and may finish them).
                    try await run.waitUntil("the others reclaim the victim's units") {
                        try await run.count("gather_units WHERE owner = 'victim' AND state = 'leased'") == 0
                    }
                    try await run.waitUntil("the run is done without the victim") {
                        try await run.count("gather_runs WHERE state = 'done'") == 1
                    }
                } catch {
                    try? await Hosts.netns("heal", "gather-w2")
                    throw error
                }
                try await Hosts.netns("heal", "gather-w2")
                // Back on the network, it finishes the units it held and tries to commit them: fenced. SIGTERM
                // lets it save what is in hand and exit.
                try await Task.sleep(for: .seconds(3))
                kill(process.processIdentifier, SIGTERM)
                try await run.expectExit(process, within: .seconds(60), "the victim, after its SIGTERM")
            }
            let registrar = try await run.gather(on: 1, run.fetch(["--lease", "2s", "--concurrency", "16"]))
            let late = try await victim
            #expect(registrar.status == 0, "\(registrar.stderr)")
            #expect([0, 130].contains(late.status), "\(late.stderr)")
            let fenced = try Hosts.summed("fenced", in: summary)
            #expect(
                fenced >= 1,
                "the victim's late commits: \((try? String(contentsOfFile: summary, encoding: .utf8)) ?? "")")
            try await run.expectEveryLineOnce()
        }
    }

    /// PostgreSQL restarted mid-run and down for 3 s: every host waits for it, reconnects and finishes.
    @Test(.timeLimit(.minutes(5)))
    func theHostsRideOutAPostgreSQLRestart() async throws {
        try await Hosts.withRun("restart", lines: 600, delayMs: 100) { run in
            let started = try await run.fleet(
                registrar: ["--lease", "5s", "--concurrency", "16"], workers: [(2, ["--lease", "5s"])]
            ) {
                try await run.waitUntil("100 records") { try await run.count("fetch_results") >= 100 }
                // Mid-run: what is not committed yet has to be committed after the restart.
                let before = try await run.count("fetch_results")
                #expect(before < 600, "the run was done before the restart")
                try await Hosts.netns(
                    "exec", "gather-srv", Hosts.root + "/scripts/pg-cluster", "restart", Hosts.pgDirectory, "3")
            }
            for result in started { #expect(result.status == 0, "\(result.stderr)") }
            try await run.expectEveryLineOnce()
        }
    }
}

/// The namespaces and the PostgreSQL cluster `scripts/test` made for ``ScaleOutHostsTests``.
enum Hosts {
    static let environment = ProcessInfo.processInfo.environment
    static var available: Bool {
        environment["GATHER_NETNS_PG_URL"] != nil && environment["GATHER_NETNS_BRIDGE_IP"] != nil
    }
    static var unavailable: Comment {
        Comment(
            rawValue: environment["GATHER_NETNS_SKIP"]
                ?? "network namespaces were not set up: run these tests through scripts/test, as root")
    }
    static var bridge: String { environment["GATHER_NETNS_BRIDGE_IP"] ?? "127.0.0.1" }
    static var pgURL: String { environment["GATHER_NETNS_PG_URL"] ?? "" }
    static var pgDirectory: String { environment["GATHER_NETNS_PG_DIR"] ?? "" }
    static var root: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().path
    }

    /// Runs `scripts/netns` with `arguments` and waits for it. Its output goes to /dev/null: a server it starts
    /// must not hold the test runner's stdout open (the runner's `tee` would wait for it). Spawned and reaped
    /// here, not by Foundation's `Process`: its child that started a daemon (`pg-cluster restart`) was never
    /// reaped, and the test waited for it forever.
    static func netns(_ arguments: String...) async throws {
        let argv = ["/bin/bash", root + "/scripts/netns"] + arguments
        let status = await withCheckedContinuation { continuation in
            Thread.detachNewThread {
                continuation.resume(returning: Self.spawnAndWait(argv))
            }
        }
        guard status == 0 else {
            throw PostgresError("scripts/netns \(arguments.joined(separator: " ")) exited \(status)")
        }
    }

    /// posix_spawn `argv` with stdin, stdout and stderr on /dev/null, and waitpid for it: its exit
    /// status, or -1 when it could not start.
    private static func spawnAndWait(_ argv: [String]) -> Int32 {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        for fd: Int32 in [0, 1, 2] {
            posix_spawn_file_actions_addopen(&actions, fd, "/dev/null", fd == 0 ? O_RDONLY : O_WRONLY, 0)
        }
        var pid: pid_t = 0
        var cArgs = argv.map { strdup($0) } + [nil]
        defer { for arg in cArgs { free(arg) } }
        guard posix_spawn(&pid, argv[0], &actions, nil, &cArgs, environ) == 0 else { return -1 }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            if errno != EINTR { return -1 }
        }
        return (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    }

    /// The sum of `field` over the runs of a worker's `--summary-json` (`units`, `fenced`, …).
    static func summed(_ field: String, in path: String) throws -> Int64 {
        let summary = try JSONReader.parse(try String(contentsOfFile: path, encoding: .utf8))
        return summary["runs"]?.arrayValue?.compactMap { $0[field]?.intValue }.reduce(0, +) ?? 0
    }

    /// A fixture server on the bridge, a fresh database on the namespaces' cluster, and `lines` input URLs
    /// (`/delay/MS?n=N`), for `body`.
    static func withRun(
        _ label: String, lines: Int, delayMs: Int, _ body: @escaping @Sendable (Run) async throws -> Void
    ) async throws {
        try await oneKillTestAtATime {
            try await FixtureServer.withServer(host: Self.bridge) { server in
                let scratch = try ScratchFolder()
                defer { scratch.remove() }
                let urls = (1...lines).map { server.url("/delay/\(delayMs)?n=\($0)") }
                let input = try scratch.write("urls.txt", urls.joined(separator: "\n") + "\n")
                let db = try await TestPostgres.freshDatabase(label, on: try PostgresURL(Self.pgURL)).description
                try await body(Run(server: server, scratch: scratch, input: input, db: db, lines: lines))
            }
        }
    }

    struct Run: Sendable {
        let server: FixtureServer
        let scratch: ScratchFolder
        let input: String
        let db: String
        let lines: Int

        /// `gather fetch --coordinator` of the input with `extra` options.
        func fetch(_ extra: [String]) -> [String] {
            ["fetch", self.input, "--into", self.db, "--coordinator", self.db, "--quiet"] + extra
        }

        /// Runs gather in gather-wK.
        func gather(
            on host: Int, _ arguments: [String], whileRunning: ((Process) async throws -> Void)? = nil
        ) async throws -> ProcessResult {
            try await runGather(
                arguments + (arguments.contains("--quiet") ? [] : ["--quiet"]),
                launcher: ["/usr/bin/env", "ip", "netns", "exec", "gather-w\(host)"], whileRunning: whileRunning)
        }

        /// The registrar on gather-w1 and, once its run exists, `workers` (gather-wK with extra options) joining
        /// it; `meanwhile` runs alongside. Returns every process's result, the registrar's first.
        func fleet(
            registrar: [String], workers: [(Int, [String])],
            meanwhile: (@Sendable () async throws -> Void)? = nil
        ) async throws -> [ProcessResult] {
            async let first = self.gather(on: 1, self.fetch(registrar))
            try await self.waitUntil("the run is registered") { try await self.count("gather_runs") >= 1 }
            let others = try await withThrowingTaskGroup(of: (Int, ProcessResult?).self) { group in
                for (host, extra) in workers {
                    group.addTask {
                        (host, try await self.gather(on: host, ["worker", self.db, "--name", "w\(host)"] + extra))
                    }
                }
                if let meanwhile {
                    group.addTask {
                        try await meanwhile(); return (0, nil)
                    }
                }
                var results: [Int: ProcessResult] = [:]
                for try await (host, result) in group { if let result { results[host] = result } }
                return results.keys.sorted().compactMap { results[$0] }
            }
            return [try await first] + others
        }

        /// Rows of `from` (a table, with a WHERE clause if wanted) on the run's database.
        func count(_ from: String) async throws -> Int64 {
            try await TestPostgres.withServer(try PostgresURL(self.db)) { db in
                try await db.query("SELECT count(*) FROM \(from)").first?.first?.intValue ?? 0
            }
        }

        /// Polls `condition` (every 50 ms, errors counting as false: the server may be restarting) for up to a
        /// minute.
        func waitUntil(_ what: String, _ condition: @Sendable () async throws -> Bool) async throws {
            let deadline = ContinuousClock.now + .seconds(60)
            while ContinuousClock.now < deadline {
                if (try? await condition()) == true { return }
                try await Task.sleep(for: .milliseconds(50))
            }
            throw PostgresError("waited a minute for: \(what)")
        }

        /// Waits up to `limit` for `process` to exit. One that does not is a failure, recorded with what it was
        /// doing (its kernel state and threads, and its sessions as the database sees them), and then SIGKILLed,
        /// so a hang fails in a minute with evidence instead of at the suite's time limit.
        func expectExit(_ process: Process, within limit: Duration, _ what: String) async throws {
            let deadline = ContinuousClock.now + limit
            while process.isRunning, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(100)) }
            guard process.isRunning else { return }
            let pid = process.processIdentifier
            let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
            let kernel = status.split(separator: "\n").filter { $0.hasPrefix("State") || $0.hasPrefix("Threads") }
            let sessions = try? await TestPostgres.withServer(try PostgresURL(self.db)) { db in
                try await db.query(
                    """
                    SELECT client_addr::text, state, coalesce(wait_event, ''), left(query, 80),
                        extract(epoch FROM now() - state_change)::int
                    FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()
                    """)
            }
            kill(pid, SIGKILL)
            let text =
                "\(what) did not exit within \(limit): \(kernel.joined(separator: ", ")); its database's sessions "
                + "(client, state, wait, query, seconds in state): \(sessions ?? [])"
            Issue.record(Comment(rawValue: text))
        }

        /// Every input line's record once, none an error, the run done and its queue empty.
        func expectEveryLineOnce() async throws {
            try await TestPostgres.withServer(try PostgresURL(self.db)) { db in
                let rows = try await db.query(
                    "SELECT count(*), count(DISTINCT line), min(line), max(line), count(error_code) FROM fetch_results")
                let n = Int64(self.lines)
                #expect(rows == [[.int(n), .int(n), .int(1), .int(n), .int(0)]], "\(rows)")
                #expect(try await db.query("SELECT state FROM gather_runs") == [[.string("done")]])
                #expect(try await db.query("SELECT count(*) FROM gather_units") == [[.int(0)]])
            }
        }
    }
}
