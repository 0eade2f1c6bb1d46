import Foundation
import GatherCore
import GatherFormats
import GatherPostgres
import GatherTesting
import Testing

/// `gather run --coordinator` and `gather worker` sharing one pipeline run through a real PostgreSQL and the
/// sample API: root items (a paginated resource, a `for_each` resource), the pages of the counted one, and
/// dependent items (each parent record's contributors) are units; a worker SIGKILLed in the middle of an item loses it to the other, which goes on from
/// the last page committed; and the tables equal a plain `gather run`'s, each row once.
@Suite struct CoordinatedRunCommandTests {
    @Test(.timeLimit(.minutes(15)))
    func twoProcessesShareAPipelineAndAKilledWorkersItemsAreFinishedOnce() async throws {
        try await oneKillTestAtATime { try await self.body() }
    }

    private func body() async throws {
        let folder = try ScratchFolder()
        defer { folder.remove() }
        let pipeline = try folder.write("kill.yaml", PipelineCommandTests.killPipeline)
        let configuration = SampleAPI.Configuration(
            itemCount: 1600, repoCount: 40, latency: .milliseconds(12), transientFailureEvery: 11)
        try await SampleAPI.withServer(configuration) { api in
            let plain = try await TestPostgres.freshDatabase("plain_run")
            let shared = try await TestPostgres.freshDatabase("coordinated_run")
            func environment(_ url: PostgresURL) -> [String: String] {
                var environment = ProcessInfo.processInfo.environment
                environment["SAMPLE_API"] = api.baseURL
                environment["OUT_DB"] = url.description
                return environment
            }
            let clean = try await runGather(["run", pipeline, "--quiet"], environment: environment(plain))
            #expect(clean.status == 0, "\(clean.stderr)")
            let expected = try await TestPostgres.snapshot(plain)
            #expect(expected["items"]?.count == 1600 && (expected["contributors"]?.count ?? 0) >= 40)

            // The doomed worker joins first and is SIGKILLed once it holds an item after some pages were
            // committed; the registrar (with its own worker loop) finishes the run.
            let doomed = Task {
                try await runGather(
                    ["worker", shared.description, "--name", "doomed", "--wait", "--lease", "2s", "--quiet"],
                    environment: environment(shared)
                ) { process in
                    try await TestPostgres.withServer(shared) { db in
                        let deadline = ContinuousClock.now + .seconds(60)
                        while ContinuousClock.now < deadline {
                            let held = try? await db.query(
                                "SELECT count(*) FROM gather_units WHERE owner = 'doomed' AND state = 'leased'")
                            let pages = try? await db.query(
                                "SELECT coalesce(sum(pages), 0) FROM _gather_resource_runs")
                            if (held?.first?.first?.intValue ?? 0) >= 1, (pages?.first?.first?.intValue ?? 0) >= 30 {
                                break
                            }
                            try await Task.sleep(for: .milliseconds(10))
                        }
                    }
                    kill(process.processIdentifier, SIGKILL)
                }
            }
            try await Task.sleep(for: .milliseconds(300))
            let run = try await runGather(
                [
                    "run", pipeline, "--coordinator", shared.description, "--name", "survivor", "--lease", "2s",
                ], environment: environment(shared))
            let killed = try await doomed.value
            #expect(killed.status == SIGKILL || killed.status == 128 + SIGKILL, "\(killed.stderr)")
            #expect(run.status == 0, "\(run.stderr)")
            #expect(run.stderr.contains("0 left"), "\(run.stderr)")
            // The same rows as a plain run, each once, however the items were shared and cut off.
            let got = try await TestPostgres.snapshot(shared)
            for (table, rows) in expected {
                let have = got[table] ?? []
                let same = have == rows  // not in the expectation: it would print every row
                let missing = Set(rows).subtracting(have)
                #expect(
                    same,
                    "\(table): \(have.count) rows, expected \(rows.count); \(missing.count) missing (\(missing.sorted().prefix(5))), \(have.count - Set(have).count) duplicated, \(Set(have).subtracting(rows).count) unexpected"
                )
            }
            try await TestPostgres.withServer(shared) { db in
                let errors = try await db.query("SELECT code, message FROM _gather_errors LIMIT 5")
                #expect(errors.isEmpty, "\(errors)")
                #expect(try await db.query("SELECT state FROM gather_runs") == [[.string("done")]])
                // Units: the items resource (its first page) and its 79 other pages (1,600 records, 20 a page,
                // counted: each page a unit), 2 repos items (org-a, org-b), and one per repo for contributors.
                let total = try await db.query("SELECT total FROM gather_runs").first?.first?.intValue ?? 0
                #expect(total == 1 + 79 + 2 + Int64(expected["repos"]?.count ?? 0), "\(total) units")
            }
            // The same command again joins the finished run: nothing is fetched or written twice.
            let again = try await runGather(
                ["run", pipeline, "--coordinator", shared.description], environment: environment(shared))
            #expect(again.status == 0 && again.stderr.contains("0 units"), "\(again.stderr)")
        }
    }
}
