import GatherCore
import Testing

@testable import GatherPipeline

/// The work items of a dependent resource: saved ones first, then the parent's, each run once, in memory bounded
/// by the saved items and a window of recent keys (not by the parent's record count).
@Suite struct PrefixedSequenceTests {
    @Test func manyParentRecordsKeepMemoryBoundedAndRepeatsAreDropped() async throws {
        let (stream, continuation) = AsyncStream<WorkItem>.makeStream()
        let producer = Task {
            continuation.yield(WorkItem(key: "saved-1", context: [:]))  // the interrupted run left it: not again
            for i in 0..<1_000_000 {
                continuation.yield(WorkItem(key: "k\(i)", context: [:]))
                if i % 1000 == 0 { continuation.yield(WorkItem(key: "k\(i)", context: [:])) }  // overlapping pages
            }
            continuation.finish()
        }
        let sequence = PrefixedSequence(
            prefix: [WorkItem(key: "saved-1", context: [:]), WorkItem(key: "saved-2", context: [:])], rest: stream)
        var iterator = sequence.makeAsyncIterator()
        var count = 0
        var mostHeld = 0
        var first: [String] = []
        while let item = await iterator.next() {
            count += 1
            if first.count < 3 { first.append(item.key) }
            mostHeld = max(mostHeld, iterator.keysHeld)
        }
        await producer.value
        #expect(first == ["saved-1", "saved-2", "k0"])
        #expect(count == 2 + 1_000_000)
        // 1,000,000 parent records went by (over fifteen times the window); memory held the window and the saved ones.
        #expect(mostHeld <= 2 + PrefixedSequence.recentKeys)
    }
}
