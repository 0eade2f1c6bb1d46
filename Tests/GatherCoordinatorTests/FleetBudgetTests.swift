import GatherCore
import GatherPostgres
import GatherTesting
import Synchronization
import Testing

@testable import GatherCoordinator

/// The fleet's rate budget against a real PostgreSQL: four budgets (four workers' worth) drawing on one host's
/// rate start no more than the rate together, and a pause one of them shares holds the others back.
@Suite struct FleetBudgetTests {
    @Test(.timeLimit(.minutes(2)))
    func fourWorkersTogetherStayWithinOneRate() async throws {
        try await CoordinatorTests.withCoordinator("fleet_rate") { coordinator in
            let rate = Rate(count: 100, per: .seconds(1))
            let starts = Starts()
            let began = ContinuousClock.now
            let end = began + .seconds(3)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<4 {
                    let budget = FleetBudget(coordinator: coordinator)
                    // Each worker runs 20 requests at a time, far more than 100/s allows the four together.
                    for _ in 0..<20 {
                        group.addTask {
                            while ContinuousClock.now < end {
                                try await budget.take(key: "api.example.com", rate: rate)
                                starts.record()
                                try await Task.sleep(for: .milliseconds(20))
                            }
                        }
                    }
                }
                try await group.waitForAll()
            }
            let times = starts.all.sorted()
            let widest = busiestWindow(times)
            // The bucket holds one grant (5 tokens) and a grant not spent within 50 ms is dropped.
            #expect(widest <= 110, "\(widest) starts in one second for a fleet limit of 100/s")
            // At most the rate over the 3 s (tasks waiting at the end still start once after it: not counted).
            // How close to the rate the fleet runs is a benchmark's question (Benchmarks/scale: 0.94x), not a
            // timed test's: on a loaded machine this test may see far fewer; it must see some.
            let within = times.filter { $0 < end }.count
            #expect(within > 0 && within <= 320, "\(within) starts in 3 s at 100/s")
        }
    }

    @Test(.timeLimit(.minutes(2)))
    func aPauseOneWorkerSharesHoldsTheOthers() async throws {
        try await CoordinatorTests.withCoordinator("fleet_pause") { coordinator in
            let rate = Rate(count: 1000, per: .seconds(1))
            let one = FleetBudget(coordinator: coordinator)
            let other = FleetBudget(coordinator: coordinator)
            try await other.take(key: "h", rate: rate)  // the key is going
            await one.pause(key: "h", for: .milliseconds(600))
            // The other worker's tokens from before the pause are spent or expire in 50 ms; after that it waits.
            try await Task.sleep(for: .milliseconds(60))
            let asked = ContinuousClock.now
            try await other.take(key: "h", rate: rate)
            let waited = asked.duration(to: .now)
            #expect(waited >= .milliseconds(400), "the other worker waited \(waited) of the 600 ms pause")
        }
    }
}

/// Start times, recorded from many tasks.
private final class Starts: Sendable {
    private let times = Mutex<[ContinuousClock.Instant]>([])
    func record() { self.times.withLock { $0.append(.now) } }
    var all: [ContinuousClock.Instant] { self.times.withLock { $0 } }
}
