import GatherCore
import Testing

@Suite struct StopSignalTests {
    @Test func stopWakesEveryWaiterAndLaterWaitsReturnAtOnce() async {
        let signal = StopSignal()
        #expect(!signal.isStopped)
        let woken = await withTaskGroup(of: Int.self) { group in
            for index in 0..<8 {
                group.addTask {
                    await signal.wait()
                    return index
                }
            }
            // No waiter returns before the stop: the group is still waiting on all eight.
            signal.stop(interrupted: false)
            var woken = 0
            for await _ in group { woken += 1 }
            return woken
        }
        #expect(woken == 8)
        #expect(signal.isStopped)
        #expect(!signal.wasInterrupted)
        await signal.wait()  // already stopped: returns at once
    }

    @Test func aSignalIsAnInterruptionAndFailFastIsNot() {
        let signal = StopSignal()
        signal.stop()
        #expect(signal.isStopped && signal.wasInterrupted)
        let failFast = StopSignal()
        failFast.stop(interrupted: false)
        #expect(failFast.isStopped && !failFast.wasInterrupted)
    }
}
