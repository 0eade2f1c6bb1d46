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

    @Test func admissionTimeoutFails() async throws {
        let flow = FlowController(limits: FlowLimits(maxConcurrency: 1))
        let held = try await flow.acquire(key: "h")
        await #expect(throws: FlowControlError.self) {
            _ = try await flow.acquire(key: "h", timeout: .milliseconds(50))
        }
        flow.release(held)
        // The timed-out waiter left the queue: the next one gets in at once.
        let next = try await withTimeout(.seconds(2)) { try await flow.acquire(key: "h", timeout: .milliseconds(50)) }
        flow.release(next)
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

    @Test func pauseDelaysTheNextStart() async throws {
        let flow = FlowController(limits: FlowLimits())
        flow.observe(ServerHints(headers: [("Retry-After", "0.2")]), key: "h")
        let clock = ContinuousClock()
        let start = clock.now
        let permit = try await flow.acquire(key: "h")
        flow.release(permit)
        #expect(start.duration(to: clock.now) >= .milliseconds(195))
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
