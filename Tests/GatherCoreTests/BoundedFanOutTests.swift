import Synchronization
import Testing

@testable import GatherCore

/// Tracks how many calls run at once.
final class ConcurrencyGauge: Sendable {
    private let state = Mutex<(current: Int, peak: Int)>((0, 0))
    func enter() {
        self.state.withLock {
            $0.current += 1; $0.peak = max($0.peak, $0.current)
        }
    }
    func leave() { self.state.withLock { $0.current -= 1 } }
    var peak: Int { self.state.withLock { $0.peak } }
}

struct Boom: Error, Equatable { var item: Int }

@Suite struct BoundedFanOutTests {
    @Test func neverExceedsMaxConcurrency() async throws {
        let gauge = ConcurrencyGauge()
        let results = try await Array(0..<200).concurrentMap(maxConcurrency: 7) { item in
            gauge.enter()
            defer { gauge.leave() }
            try await Task.sleep(for: .milliseconds(item % 5))
            return item * 2
        }
        #expect(results == (0..<200).map { $0 * 2 })
        #expect(gauge.peak <= 7)
        #expect(gauge.peak >= 2)  // it really ran concurrently
    }

    @Test func unorderedResultsAreComplete() async throws {
        let results = try await Array(0..<100).concurrentMap(maxConcurrency: 10, ordered: false) { item in
            try await Task.sleep(for: .milliseconds((100 - item) % 7))
            return item
        }
        #expect(results.sorted() == Array(0..<100))
    }

    @Test func orderedDeliveryFollowsInputEvenWhenLateItemsFinishFirst() async throws {
        var delivered: [Int] = []
        try await forEachConcurrently(AsyncElements(0..<60), maxConcurrency: 8, ordered: true) { item in
            try await Task.sleep(for: .milliseconds(item % 3 == 0 ? 15 : 1))
            return item
        } consume: {
            delivered.append($0)
        }
        #expect(delivered == Array(0..<60))
    }

    @Test func resultsModeKeepsGoingPastFailures() async {
        let results = await Array(0..<20).concurrentMapResults(maxConcurrency: 4) { item in
            if item % 5 == 0 { throw Boom(item: item) }
            return item
        }
        #expect(results.count == 20)
        for (index, result) in results.enumerated() {
            switch result {
            case .success(let value): #expect(value == index && index % 5 != 0)
            case .failure(let error): #expect((error as? Boom) == Boom(item: index))
            }
        }
    }

    @Test func firstErrorCancelsTheRest() async {
        let started = Mutex(0)
        await #expect(throws: Boom.self) {
            try await Array(0..<1000).concurrentForEach(maxConcurrency: 4) { item in
                started.withLock { $0 += 1 }
                if item == 3 { throw Boom(item: item) }
                try await Task.sleep(for: .seconds(10))
            }
        }
        // The sleepers were cancelled (else this test would take 10 s) and no new items started after the error.
        #expect(started.withLock { $0 } < 20)
    }

    @Test func cancellationPropagatesToTransforms() async {
        let cancelled = Mutex(0)
        let task = Task {
            try await Array(0..<100).concurrentForEach(maxConcurrency: 5) { _ in
                do {
                    try await Task.sleep(for: .seconds(30))
                } catch {
                    cancelled.withLock { $0 += 1 }
                    throw error
                }
            }
        }
        try? await Task.sleep(for: .milliseconds(100))
        task.cancel()
        _ = await task.result
        #expect(cancelled.withLock { $0 } == 5)
    }

    @Test func asyncInputIsPulledOnlyAsSlotsFreeUp() async throws {
        let pulled = Mutex(0)
        let gauge = ConcurrencyGauge()
        let stream = AsyncStream<Int> { continuation in
            for i in 0..<50 { continuation.yield(i) }
            continuation.finish()
        }
        let counting = stream.map { item -> Int in
            pulled.withLock { $0 += 1 }
            return item
        }
        var maxAhead = 0
        var done = 0
        try await forEachConcurrently(counting, maxConcurrency: 3) { item in
            gauge.enter()
            defer { gauge.leave() }
            try await Task.sleep(for: .milliseconds(2))
            return item
        } consume: { _ in
            done += 1
            maxAhead = max(maxAhead, pulled.withLock { $0 } - done)
        }
        #expect(done == 50)
        #expect(maxAhead <= 3)
        #expect(gauge.peak <= 3)
    }

    @Test func orderedBufferLimitHoldsBackNewWorkBehindASlowHead() async throws {
        let started = Mutex(0)
        var delivered: [Int] = []
        var maxAhead = 0
        try await forEachConcurrently(
            AsyncElements(0..<40),
            maxConcurrency: 4,
            ordered: true,
            bufferLimit: (bytes: 3, weight: { _ in 1 })
        ) { item in
            started.withLock { $0 += 1 }
            if item == 0 { try await Task.sleep(for: .milliseconds(100)) }
            return item
        } consume: { item in
            if item == 0 { maxAhead = started.withLock { $0 } }
            delivered.append(item)
        }
        #expect(delivered == Array(0..<40))
        // While item 0 was slow: 3 in flight beside it, and at most 4 finished ones held back (limit 3, then stop).
        #expect(maxAhead <= 1 + 3 + 4)
    }
}
