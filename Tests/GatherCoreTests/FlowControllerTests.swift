import GatherTesting
import Synchronization
import Testing

@testable import GatherCore

/// The executor around the state machine: real tasks, real waits (short), no I/O.
@Suite struct FlowControllerTests {
    @Test func capHoldsAcrossManyTasks() async throws {
        let flow = FlowController(limits: FlowLimits(maxConcurrency: 3))
        let gauge = ConcurrencyGauge()
        try await Array(0..<60).concurrentForEach(maxConcurrency: 30) { _ in
            try await flow.withPermit(key: "h") {
                gauge.enter()
                defer { gauge.leave() }
                try await Task.sleep(for: .milliseconds(3))
            }
        }
        #expect(gauge.peak == 3)
        #expect(flow.inFlight(key: "h") == 0)
    }

    @Test func keysAreIndependent() async throws {
        let flow = FlowController(limits: FlowLimits(maxConcurrency: 1))
        let a = try await flow.acquire(key: "a")
        // "b" is not held back by "a": admitted while "a" holds its only slot (a wait would never end).
        let b = try await withTimeout(.seconds(10)) { try await flow.acquire(key: "b") }
        #expect(flow.inFlight(key: "a") == 1)
        #expect(flow.inFlight(key: "b") == 1)
        flow.release(a)
        flow.release(b)
        #expect(flow.inFlight(key: "a") == 0)
        #expect(flow.inFlight(key: "b") == 0)
    }

    @Test func overridesApplyPerKey() async throws {
        let flow = FlowController(
            limits: FlowLimits(maxConcurrency: 1), overrides: ["wide": FlowLimits(maxConcurrency: 5)])
        #expect(flow.limits(for: "wide").maxConcurrency == 5)
        #expect(flow.limits(for: "other").maxConcurrency == 1)
    }

    /// On a manual clock: a queued waiter fails exactly at its admission deadline, not a moment before, and leaves
    /// the queue, so the next one gets in at once.
    @Test func admissionTimeoutFailsAtItsDeadline() async throws {
        let clock = ManualClock()
        let flow = FlowController(limits: FlowLimits(maxConcurrency: 1), clock: clock)
        let held = try await flow.acquire(key: "h")
        let waiter = Task { try await flow.acquire(key: "h", timeout: .milliseconds(50)) }
        try await clock.waitForSleepers(1)  // its deadline timer
        clock.advance(by: .milliseconds(49))
        #expect(clock.sleepers == 1, "the waiter gave up before its deadline")
        clock.advance(by: .milliseconds(1))
        await #expect(throws: FlowControlError.self) { _ = try await waiter.value }
        flow.release(held)
        let next = try await withTimeout(.seconds(10)) { try await flow.acquire(key: "h", timeout: .milliseconds(50)) }
        flow.release(next)
        #expect(flow.inFlight(key: "h") == 0)
    }

    @Test func cancelledWaiterDoesNotLeakItsSlot() async throws {
        let flow = FlowController(limits: FlowLimits(maxConcurrency: 1))
        let held = try await flow.acquire(key: "h")
        let waiter = Task { try await flow.acquire(key: "h") }
        try await Task.sleep(for: .milliseconds(20))
        waiter.cancel()
        await #expect(throws: CancellationError.self) { _ = try await waiter.value }
        flow.release(held)
        let next = try await withTimeout(.seconds(2)) { try await flow.acquire(key: "h") }
        flow.release(next)
        #expect(flow.inFlight(key: "h") == 0)
    }

    /// On a manual clock: a `Retry-After: 0.2` holds the next start until exactly 200 ms later.
    @Test func aPauseHoldsTheNextStartToTheInstant() async throws {
        let clock = ManualClock()
        let flow = FlowController(limits: FlowLimits(), clock: clock)
        flow.observe(ServerHints(headers: [("Retry-After", "0.2")]), key: "h")
        let started = Task {
            let permit = try await flow.acquire(key: "h")
            flow.release(permit)
            return clock.now
        }
        try await clock.waitForSleepers(1)
        clock.advance(by: .milliseconds(199))
        #expect(clock.sleepers == 1, "the request started before the pause was over")
        clock.advance(by: .milliseconds(1))
        #expect(try await started.value == ManualClock.Instant(offset: .milliseconds(200)))
    }

    /// On a manual clock: at 5/s with no burst, starts are exactly 200 ms apart, each held until its moment, and a
    /// burst of 3 lets three start at once before the spacing applies.
    @Test(arguments: [1, 3])
    func aRateSpacesStartsExactly(burst: Int) async throws {
        let clock = ManualClock()
        let flow = FlowController(
            limits: FlowLimits(rate: Rate(count: 5, per: .seconds(1), burst: burst)), clock: clock)
        let starts = StartTimes()
        for index in 0..<6 {
            let request = Task {
                let permit = try await flow.acquire(key: "h")
                starts.append(clock.now.offset)
                flow.release(permit)
            }
            // It starts now, or it sleeps until its reserved start: then the clock goes there in two steps, to see
            // that it does not start a moment early.
            try await ManualClock.waitUntil {
                clock.sleepers == 1 || starts.count == index + 1
            } orSay: {
                "request \(index + 1) neither started nor slept on the clock"
            }
            if let next = clock.nextDeadline {
                clock.advance(by: clock.now.duration(to: next) - .milliseconds(1))
                try await Task.sleep(for: .milliseconds(5))
                #expect(starts.count == index, "a request started before its reserved moment")
                clock.advance(by: .milliseconds(1))
            }
            try await request.value
        }
        let expected: [Int] = burst == 1 ? [0, 200, 400, 600, 800, 1000] : [0, 0, 0, 200, 400, 600]
        #expect(starts.all == expected.map { .milliseconds($0) })
    }

    @Test func serverHintsCanBeIgnored() async throws {
        var limits = FlowLimits()
        limits.obeyServerHints = false
        let flow = FlowController(limits: limits)
        flow.pause(key: "h", for: .seconds(30))
        // The 30 s pause does not hold the request back (10 s, well under it, also allows for a busy machine).
        let permit = try await withTimeout(.seconds(10)) { try await flow.acquire(key: "h") }
        #expect(flow.inFlight(key: "h") == 1)
        flow.release(permit)
        #expect(flow.inFlight(key: "h") == 0)
    }
}

/// When requests started, recorded from their tasks.
private final class StartTimes: Sendable {
    private let list = Mutex<[Duration]>([])
    func append(_ start: Duration) { self.list.withLock { $0.append(start) } }
    var count: Int { self.list.withLock { $0.count } }
    var all: [Duration] { self.list.withLock { $0 } }
}
