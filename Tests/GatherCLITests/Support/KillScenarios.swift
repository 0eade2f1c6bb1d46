import Foundation
import GatherCore
import GatherPostgres
import GatherSQLite
import GatherTesting

/// The kill test both `gather run` and `gather load` must pass: SIGKILL the command at points drawn from a fixed
/// seed until `kills` runs were really killed mid-way, at most two per destination; after its kills each
/// destination is run to the end and handed to `check`. A run that finishes before its kill point ends that
/// scenario (running again would start a new run). Returns how many runs were killed.
///
/// `run(destination, killAfter)` runs the command once, killing it after `killAfter` when given. A kill that
/// lands after the run recorded itself complete (between its last commit and its exit) is not a mid-way kill:
/// that scenario is finished, since running again would start a new run.
func killAndResume(
    seed: UInt64, kills: Int = 10, cleanDuration: Duration, earliest: Double,
    destination: (Int) -> String,
    run: (String, Duration?) async throws -> ProcessResult,
    completed: (String) async throws -> Bool = { try lastRunCompleted($0) },
    check: (String, Int) async throws -> Void
) async throws -> Int {
    var generator = SeededGenerator(seed: seed)
    // Kill points fall in the first 60 % of a clean run; a second kill in the same destination falls in what is
    // left after the first, since the resumed run has only that much work to do.
    var span = max(earliest + 0.2, Double(cleanDuration.nanosecondsClamped) / 1e9 * 0.6)
    var killed = 0
    var scenario = 0
    while killed < kills, scenario < 3 * kills {
        let target = destination(scenario)
        var finished = false
        var left = span
        for _ in 0..<2 where !finished && killed < kills {
            let delay = Double.random(in: earliest...max(earliest + 0.05, left), using: &generator)
            let started = ContinuousClock.now
            let result = try await run(target, .milliseconds(Int(delay * 1000)))
            let done = result.status == 0 ? true : try await completed(target)
            if done {
                finished = true
                // The clean run was timed on a busier machine than this one: later kill points fall within what a
                // whole run takes now.
                let whole = Double(started.duration(to: .now).nanosecondsClamped) / 1e9
                span = max(earliest + 0.2, min(span, whole * 0.6))
            } else {
                killed += 1
            }
            left -= delay
        }
        if !finished {
            let final = try await run(target, nil)
            guard final.status == 0 else {
                throw NSError(
                    domain: "kill test", code: Int(final.status),
                    userInfo: [NSLocalizedDescriptionKey: "the run after the kills failed: \(final.stderr)"])
            }
        }
        try await check(target, scenario)
        scenario += 1
    }
    return killed
}

/// Whether the newest `_gather_runs` row of the SQLite database at `path` says its run completed.
func lastRunCompleted(_ path: String) throws -> Bool {
    guard FileManager.default.fileExists(atPath: path) else { return false }
    // A kill that lands before the store made its tables leaves a file without them: not completed.
    let database = try SQLiteDatabase(path: path)
    let tables = try database.query("SELECT count(*) FROM sqlite_master WHERE name = '_gather_runs'")
    guard tables.first?.first?.intValue == 1 else { return false }
    let outcome = try database.query(
        "SELECT outcome FROM _gather_runs ORDER BY started_at DESC, rowid DESC LIMIT 1")
    return outcome.first?.first?.stringValue?.hasPrefix("completed") == true
}

/// Whether the newest `_gather_runs` row of the PostgreSQL database at `url` says its run completed.
func lastRunCompleted(_ url: PostgresURL) async throws -> Bool {
    // A run killed before it created Gather's tables has no `_gather_runs` yet: not completed.
    let rows = try? await TestPostgres.withServer(url) { server in
        try await server.query("SELECT outcome FROM _gather_runs ORDER BY started_at DESC, run_id DESC LIMIT 1")
    }
    return rows?.first?.first?.stringValue?.hasPrefix("completed") == true
}

/// Kill tests measure a clean run, then kill later runs at points drawn from its duration; two at once on a
/// 2-core machine make every duration wrong (the clean run slow, the killed ones finishing before their kill).
/// They take turns, and so do the tests that keep Python worker processes busy (serve, process stages), which
/// would skew a kill test's clean run the same way.
private let killTestGate = AsyncLock()

/// Runs a kill test's `body` while no other kill test runs.
func oneKillTestAtATime<T>(_ body: () async throws -> T) async throws -> T {
    await killTestGate.lock()
    do {
        let result = try await body()
        await killTestGate.unlock()
        return result
    } catch {
        await killTestGate.unlock()
        throw error
    }
}
