import GatherCoordinator
import GatherCore
import GatherFiles
import GatherFormats
import GatherJobs
import GatherPostgres
import GatherTesting
import Synchronization
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// `gather load --coordinator` and `gather worker` sharing one load through a real PostgreSQL: the files are cut
/// into blocks at record boundaries (quoted CSV newlines, JSON Lines, a JSON document), both processes load blocks,
/// and the tables hold exactly what a plain `gather load` of the same files writes, each row once.
@Suite struct CoordinatedLoadCommandTests {
    /// A CSV file of 6,000 rows, one in seven with a quoted newline and comma, and one ragged row near the end.
    static func csv() -> String {
        var text = "id,name,note,amount\n"
        for id in 1...6_000 {
            let note = id % 7 == 0 ? "\"first line \(id)\nsecond, with a comma\"" : "plain \(id)"
            text += "\(id),n\(id),\(note),\(Double(id) / 8)\n"
        }
        return text + "6001,ragged,row\n"
    }

    /// Every column of `table` as one text, rows in `id` order: two tables are equal when their digests are.
    static func digest(_ table: String, in url: PostgresURL) async throws -> [[Value]] {
        try await TestPostgres.withServer(url) { db in
            try await db.query(
                """
                SELECT count(*), count(DISTINCT id), md5(string_agg(concat_ws('|', id, name, note, amount), ',' ORDER BY id))
                FROM \(table)
                """)
        }
    }

    /// Registers the load of `file` in blocks of `blockRows` through the library, as `gather load --batch-rows`
    /// plans it, with no worker yet.
    static func register(_ file: String, blockRows: Int, in url: PostgresURL) async throws -> RunInfo {
        var options = LoadOptions()
        options.blockRows = blockRows
        let files = try FileLoader.files(for: [file], options: options)
        let run = try CoordinatedLoad.plan(files, options: options)
        let store = try await PostgresStore.open(url)
        let coordinator = Coordinator(server: store.server)
        try await coordinator.install()
        try await CoordinatedLoad.register(run, files: files, coordinator: coordinator, store: store)
        await store.close()
        return run
    }

    @Test(.timeLimit(.minutes(3)))
    func twoProcessesLoadTheBlocksOfOneFileAndWriteEveryRowOnce() async throws {
        let scratch = try ScratchFolder()
        defer { scratch.remove() }
        let file = try scratch.write("orders.csv", Self.csv())
        let url = try await TestPostgres.freshDatabase("coordinated_load")
        let plain = try await TestPostgres.freshDatabase("plain_load")
        // The run registered through the library, as `gather load --batch-rows 200` plans it: about 30 blocks.
        let run = try await Self.register(file, blockRows: 200, in: url)
        // A worker starts on it; once it has committed a block, `gather load` of the same file joins the run.
        let summaries = (scratch.file("helper.json"), scratch.file("starter.json"))
        async let helper = runGather(
            ["worker", url.description, "--name", "helper", "--quiet", "--summary-json", summaries.0]
        ) { _ in
            try await TestPostgres.withServer(url) { db in
                while (try? await db.query("SELECT count(*) FROM orders"))?.first?.first?.intValue ?? 0 == 0 {
                    try await Task.sleep(for: .milliseconds(10))
                }
            }
            let load = try await runGather(
                [
                    "load", file, "--into", url.description, "--coordinator", url.description, "--name", "starter",
                    "--batch-rows", "200", "--max-open", "2", "--summary-json", summaries.1,
                ])
            // The ragged row is an error row: exit 1, as a plain load's, whoever loaded its block.
            #expect(load.status == 1, "\(load.stderr)")
            #expect(load.stderr.contains("run \(run.id)"), "\(load.stderr)")
            #expect(load.stderr.contains("6001 records, 6000 rows, 1 error rows"), "\(load.stderr)")
        }
        let worker = try await helper
        #expect([0, 1].contains(worker.status), "\(worker.stderr)")
        let local = try await runGather(["load", file, "--into", plain.description, "--quiet"])
        #expect(local.status == 1, "\(local.stderr)")
        // The same rows as a plain load, each once, quoted newlines and all.
        let shared = try await Self.digest("orders", in: url)
        #expect(shared.first?.first == .int(6_000), "\(shared)")
        #expect(shared == (try await Self.digest("orders", in: plain)))
        let total = try await TestPostgres.withServer(url) { db in
            let errors = try await db.query("SELECT code, request FROM _gather_errors")
            #expect(errors == [[.string("csv.ragged_row"), .string("\(file):\(6_000 + 6_000 / 7 + 2):1")]])
            #expect(try await db.query("SELECT state FROM gather_runs") == [[.string("done")]])
            #expect(try await db.query("SELECT count(*) FROM gather_units") == [[.int(0)]])
            return try await db.query("SELECT total FROM gather_runs").first?.first?.intValue ?? 0
        }
        // Every block committed once, by one of the two; the worker did some.
        func units(_ path: String) throws -> Int64 {
            let summary = try JSONReader.parse(try String(contentsOfFile: path, encoding: .utf8))
            return summary["runs"]?.arrayValue?.compactMap { $0["units"]?.intValue }.reduce(0, +) ?? 0
        }
        let (byHelper, byStarter) = (try units(summaries.0), try units(summaries.1))
        #expect(byHelper >= 1 && byHelper + byStarter == total && total >= 30, "\(byHelper) + \(byStarter) of \(total)")
        // The same command again finds the run done: nothing is loaded twice.
        let again = try await runGather(
            ["load", file, "--into", url.description, "--coordinator", url.description, "--batch-rows", "200"])
        #expect(again.stderr.contains("0 units"), "\(again.stderr)")
        #expect(try await Self.digest("orders", in: url) == shared)
    }

    /// A worker SIGKILLed while it holds blocks: they are loaded again by the other after the lease, and the table
    /// equals a plain load's, each row once.
    @Test(.timeLimit(.minutes(15)))
    func aKilledWorkersBlocksAreLoadedOnceByTheOther() async throws {
        try await oneKillTestAtATime { try await self.killBody() }
    }

    private func killBody() async throws {
        let scratch = try ScratchFolder()
        defer { scratch.remove() }
        let file = try scratch.write("orders.csv", Self.csv())
        let url = try await TestPostgres.freshDatabase("coordinated_load_kill")
        let plain = try await TestPostgres.freshDatabase("plain_load_kill")
        _ = try await Self.register(file, blockRows: 100, in: url)
        // The doomed worker loads blocks two at a time, and is SIGKILLed once it has committed some and holds more.
        let heldAtKill = Mutex<Int64>(0)
        let doomed = try await runGather(
            ["worker", url.description, "--name", "doomed", "--concurrency", "2", "--lease", "2s", "--quiet"]
        ) { process in
            try await TestPostgres.withServer(url) { db in
                let deadline = ContinuousClock.now + .seconds(60)
                while ContinuousClock.now < deadline {
                    let rows = (try? await db.query("SELECT count(*) FROM orders"))?.first?.first?.intValue ?? 0
                    let held =
                        (try? await db.query(
                            "SELECT count(*) FROM gather_units WHERE owner = 'doomed' AND state = 'leased'"))?
                        .first?.first?.intValue ?? 0
                    if rows >= 500, held >= 1 { break }
                    try await Task.sleep(for: .milliseconds(5))
                }
                kill(process.processIdentifier, SIGKILL)
                let held = try await db.query(
                    "SELECT count(*) FROM gather_units WHERE owner = 'doomed' AND state = 'leased'")
                heldAtKill.withLock { $0 = held.first?.first?.intValue ?? 0 }
            }
        }
        #expect(doomed.status == SIGKILL || doomed.status == 128 + SIGKILL, "\(doomed.stderr)")
        // It died holding blocks (or the run was already done; then the check below says so).
        let left = try await TestPostgres.withServer(url) { db in
            try await db.query("SELECT count(*) FROM gather_units").first?.first?.intValue ?? 0
        }
        #expect(left == 0 || heldAtKill.withLock { $0 } >= 1, "killed holding \(heldAtKill.withLock { $0 })")
        // The same load again joins the run and finishes it, taking the dead worker's blocks once their lease ends.
        let load = try await runGather(
            [
                "load", file, "--into", url.description, "--coordinator", url.description, "--name", "survivor",
                "--batch-rows", "100", "--lease", "2s",
            ])
        #expect(load.status == 1, "\(load.stderr)")  // the ragged row, as in a plain load
        #expect(load.stderr.contains("6001 records, 6000 rows, 1 error rows"), "\(load.stderr)")
        let local = try await runGather(["load", file, "--into", plain.description, "--quiet"])
        #expect(local.status == 1, "\(local.stderr)")
        let shared = try await Self.digest("orders", in: url)
        #expect(shared.first?.first == .int(6_000), "\(shared)")
        #expect(shared == (try await Self.digest("orders", in: plain)))
        let ledger = try await TestPostgres.withServer(url) { db in
            [
                try await db.query("SELECT count(*) FROM _gather_errors"),
                try await db.query("SELECT state FROM gather_runs"),
                try await db.query("SELECT count(*) FROM gather_units"),
            ]
        }
        #expect(ledger == [[[.int(1)]], [[.string("done")]], [[.int(0)]]], "\(ledger)")
    }

    @Test(.timeLimit(.minutes(2)))
    func jsonDocumentsAndJSONLinesSplitIntoBlocksToo() async throws {
        let scratch = try ScratchFolder()
        defer { scratch.remove() }
        let records = (1...1_500).map { #"{"id": \#($0), "name": "n\#($0)", "tags": ["a", "b"]}"# }
        let document = try scratch.write("docs.json", "[\n" + records.joined(separator: ",\n") + "\n]\n")
        let lines = try scratch.write("events.jsonl", records.joined(separator: "\n") + "\n{not json}\n")
        let url = try await TestPostgres.freshDatabase("coordinated_json")
        let load = try await runGather(
            [
                "load", document, lines, "--into", url.description, "--coordinator", url.description,
                "--batch-rows", "100", "--quiet",
            ])
        #expect(load.status == 1, "\(load.stderr)")
        try await TestPostgres.withServer(url) { db in
            for table in ["docs", "events"] {
                let rows = try await db.query("SELECT count(*), count(DISTINCT id), min(id), max(id) FROM \(table)")
                #expect(rows == [[.int(1_500), .int(1_500), .int(1), .int(1_500)]], "\(table): \(rows)")
                // The nested lists went to child tables, two per record.
                let tags = try await db.query("SELECT count(*) FROM \(table)__tags")
                #expect(tags == [[.int(3_000)]], "\(table): \(tags)")
            }
            let errors = try await db.query("SELECT request FROM _gather_errors")
            #expect(errors == [[.string("\(lines):1501:2")]], "\(errors)")
        }
    }

    @Test func whatAFleetCannotShareIsRefusedWithTheReason() async throws {
        let scratch = try ScratchFolder()
        defer { scratch.remove() }
        let file = try scratch.write("a.csv", "id\n1\n")
        let url = try await TestPostgres.freshDatabase("coordinated_refusals").description
        let replace = try await runGather(
            ["load", file, "--into", url, "--coordinator", url, "--mode", "replace"])
        #expect(replace.status == 2 && replace.stderr.contains("--mode replace"), "\(replace.stderr)")
        let stdin = try await runGather(["load", "-", "--into", url, "--coordinator", url], stdin: "id\n1\n")
        #expect(stdin.status == 2 && stdin.stderr.contains("standard input"), "\(stdin.stderr)")
        let sqlite = try await runGather(["load", file, "--into", scratch.file("x.db"), "--coordinator", url])
        #expect(sqlite.status == 2 && sqlite.stderr.contains("coordinator's database"), "\(sqlite.stderr)")
    }
}
