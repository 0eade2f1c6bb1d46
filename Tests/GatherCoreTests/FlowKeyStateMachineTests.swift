import GatherTesting
import Testing

@testable import GatherCore

@Suite struct FlowKeyStateMachineTests {
    typealias Machine = FlowKeyStateMachine<ManualClock.Instant>

    @Test func concurrencyCapQueuesAndHandsOverInOrder() {
        var machine = Machine(limits: FlowLimits(maxConcurrency: 2))
        #expect(machine.acquire(waiter: 1, now: .at(0)) == .admitted(startAt: .at(0)))
        #expect(machine.acquire(waiter: 2, now: .at(0)) == .admitted(startAt: .at(0)))
        #expect(machine.acquire(waiter: 3, now: .at(0)) == .enqueued)
        #expect(machine.acquire(waiter: 4, now: .at(0)) == .enqueued)
        #expect(machine.inFlight == 2)
        #expect(machine.release(now: .at(10)) == .admit(waiter: 3, startAt: .at(10)))
        #expect(machine.inFlight == 2)
        #expect(machine.release(now: .at(20)) == .admit(waiter: 4, startAt: .at(20)))
        #expect(machine.release(now: .at(30)) == .none)
        #expect(machine.release(now: .at(30)) == .none)
        #expect(machine.inFlight == 0)
        #expect(machine.isIdle(now: .at(30)))
    }

    @Test func newcomersDoNotOvertakeTheQueue() {
        var machine = Machine(limits: FlowLimits(maxConcurrency: 1))
        _ = machine.acquire(waiter: 1, now: .at(0))
        #expect(machine.acquire(waiter: 2, now: .at(0)) == .enqueued)
        #expect(machine.tryAcquire(now: .at(0)) == nil)
    }

    @Test func cancelledWaiterLeavesTheQueue() {
        var machine = Machine(limits: FlowLimits(maxConcurrency: 1))
        _ = machine.acquire(waiter: 1, now: .at(0))
        _ = machine.acquire(waiter: 2, now: .at(0))
        _ = machine.acquire(waiter: 3, now: .at(0))
        let first = machine.cancel(waiter: 2)
        let second = machine.cancel(waiter: 2)
        #expect(first)
        #expect(!second)
        #expect(machine.release(now: .at(5)) == .admit(waiter: 3, startAt: .at(5)))
    }

    @Test func rateSpacesStartsEvenly() throws {
        var machine = Machine(limits: FlowLimits(rate: try Rate(parsing: "10/s")))
        let starts = (0..<5).map { id -> ManualClock.Instant? in
            if case .admitted(let start) = machine.acquire(waiter: UInt64(id), now: .at(0)) { return start }
            return nil
        }
        #expect(starts == [.at(0), .at(100), .at(200), .at(300), .at(400)])
    }

    @Test func burstAllowsBackToBackThenSpaces() throws {
        var machine = Machine(limits: FlowLimits(rate: try Rate(parsing: "10/s:3")))
        var starts: [ManualClock.Instant] = []
        for id in 0..<5 {
            if case .admitted(let start) = machine.acquire(waiter: UInt64(id), now: .at(0)) { starts.append(start) }
        }
        #expect(starts == [.at(0), .at(0), .at(0), .at(100), .at(200)])
    }

    @Test func idleBucketRefills() throws {
        var machine = Machine(limits: FlowLimits(rate: try Rate(parsing: "10/s")))
        _ = machine.acquire(waiter: 1, now: .at(0))
        _ = machine.release(now: .at(1))
        // A second later the budget is back: no wait.
        #expect(machine.acquire(waiter: 2, now: .at(1000)) == .admitted(startAt: .at(1000)))
    }

    @Test func pauseHoldsEveryStartUntilItEnds() {
        var machine = Machine(limits: FlowLimits())
        machine.pause(until: .at(5000))
        #expect(machine.acquire(waiter: 1, now: .at(100)) == .admitted(startAt: .at(5000)))
        // An earlier pause does not shorten a later one.
        machine.pause(until: .at(1000))
        #expect(machine.acquire(waiter: 2, now: .at(200)) == .admitted(startAt: .at(5000)))
        #expect(machine.acquire(waiter: 3, now: .at(6000)) == .admitted(startAt: .at(6000)))
    }

    @Test func pauseArrivingDuringTheWaitIsSeenOnRecheck() throws {
        var machine = Machine(limits: FlowLimits(rate: try Rate(parsing: "10/s")))
        _ = machine.acquire(waiter: 1, now: .at(0))
        guard case .admitted(let start) = machine.acquire(waiter: 2, now: .at(0)) else {
            Issue.record("expected admission")
            return
        }
        #expect(start == .at(100))
        machine.pause(until: .at(2000))  // a 429 arrived while waiter 2 slept
        let later = machine.recheck(now: .at(100))
        #expect(later.map { $0 >= .at(2000) } == true)
        #expect(machine.recheck(now: .at(2500)) == nil)
    }

    @Test func pausedMachineIsNotIdle() {
        var machine = Machine(limits: FlowLimits())
        machine.pause(until: .at(100))
        #expect(!machine.isIdle(now: .at(50)))
        #expect(machine.isIdle(now: .at(150)))
    }

    @Test func lateWakeupsDoNotBunchUp() throws {
        var machine = Machine(limits: FlowLimits(rate: try Rate(parsing: "10/s")))
        for id in 0..<3 { _ = machine.acquire(waiter: UInt64(id), now: .at(0)) }  // reserved 0, 100, 200
        #expect(machine.recheck(now: .at(0)) == nil)
        #expect(machine.recheck(now: .at(180)) == nil)  // woke 80 ms late: goes, the next slot moves to 280
        // On time, but too close behind the late one: it may go a quarter interval early (255), not at 200.
        #expect(machine.recheck(now: .at(200)) == .at(255))
        #expect(machine.recheck(now: .at(255)) == nil)
        #expect(machine.recheck(now: .at(300)) == .at(355))  // the next: 280 + 100, less the slack
    }

    @Test func givingUpHandsTheRateSlotBack() throws {
        var machine = Machine(limits: FlowLimits(rate: try Rate(parsing: "1/s")))
        _ = machine.acquire(waiter: 1, now: .at(0))  // starts at 0
        for id in 2...50 {
            // Each newcomer would start a second after the last; its deadline is sooner, so it gives up.
            guard case .admitted(let start) = machine.acquire(waiter: UInt64(id), now: .at(10)) else { continue }
            #expect(start == .at(1000))
            _ = machine.abandon(reservedStart: start, now: .at(10))
        }
    }
}
