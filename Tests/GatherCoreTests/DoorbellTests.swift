import Testing

@testable import GatherCore

/// The doorbell idle workers wait on: a ring wakes one wait, a ring with nobody waiting is kept for the next, and
/// neither a timeout nor a cancellation is ever kept as a ring.
@Suite struct DoorbellTests {
    @Test func aRingWakesTheWaitAndARingWhileNobodyWaitsIsKeptOnce() async {
        let bell = Doorbell()
        bell.ring()
        bell.ring()
        let clock = ContinuousClock()
        // Kept as one: the first wait returns at once, the second waits for its timeout.
        #expect(await clock.measure { await bell.wait(timeout: .seconds(30)) } < .seconds(5))
        #expect(await clock.measure { await bell.wait(timeout: .milliseconds(300)) } >= .milliseconds(250))
        async let woken: Duration = clock.measure { await bell.wait(timeout: .seconds(30)) }
        try? await Task.sleep(for: .milliseconds(50))
        bell.ring()
        #expect(await woken < .seconds(5))
    }

    /// The bug: a wait ended by a ring cancelled its timer, the cancelled timer rang the bell, and so the next
    /// wait returned at once, and cancelled its timer, which rang again: an idle loop spun forever.
    @Test func aWaitEndedByARingLeavesNoRingBehind() async {
        let bell = Doorbell()
        let clock = ContinuousClock()
        for _ in 0..<3 {
            bell.ring()
            await bell.wait(timeout: .seconds(30))
            try? await Task.sleep(for: .milliseconds(20))  // the cancelled timer has run by now
            #expect(await clock.measure { await bell.wait(timeout: .milliseconds(300)) } >= .milliseconds(250))
        }
    }

    @Test func aCancelledWaitReturnsAndLeavesNoRingBehind() async {
        let bell = Doorbell()
        let clock = ContinuousClock()
        let waiting = Task { await clock.measure { await bell.wait(timeout: .seconds(30)) } }
        try? await Task.sleep(for: .milliseconds(50))
        waiting.cancel()
        #expect(await waiting.value < .seconds(5))
        // Cancelled before it waits: it returns at once too.
        let early = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return await clock.measure { await bell.wait(timeout: .seconds(30)) }
        }
        #expect(await early.value < .seconds(5))
        #expect(await clock.measure { await bell.wait(timeout: .milliseconds(300)) } >= .milliseconds(250))
    }
}
