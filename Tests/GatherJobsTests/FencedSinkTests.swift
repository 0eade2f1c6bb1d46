import GatherCoordinator
import GatherCore
import GatherPipeline
import GatherPostgres
import GatherStore
import GatherTesting
import Testing

@testable import GatherJobs

/// The fence of a shared pipeline run's commits, tried directly on a real PostgreSQL: a page committed by a worker
/// whose lease another worker has since claimed writes nothing (no rows, no state, no new units), and the current
/// holder's page is written once, even when its commit is tried again after the first went through.
@Suite struct FencedSinkTests {
    @Test(.timeLimit(.minutes(2)))
    func aLatePageWritesNothingAndARetriedPageIsWrittenOnce() async throws {
        let url = try await TestPostgres.freshDatabase("fenced_sink")
        let store = try await PostgresStore.open(url)
        let coordinator = Coordinator(server: store.server)
        try await coordinator.install()
        try await coordinator.register(run: "r", kind: "pipeline", configHash: "h")
        let item = WorkItem(key: "org=a", context: ["org": "a"])
        _ = try await coordinator.enqueue(run: "r", payloads: [PipelineUnit(resource: "repos", item: item).value])
        try await coordinator.seal(run: "r")
        let late = try #require(
            try await coordinator.claim(run: "r", worker: "late", count: 1, lease: .milliseconds(200)).first)
        try await Task.sleep(for: .milliseconds(500))
        let current = try #require(
            try await coordinator.claim(run: "r", worker: "current", count: 1, lease: .seconds(30)).first)
        #expect(current.unit == late.unit && current.epoch > late.epoch)

        /// Page `page` of the item: one row, the item's state after it, and a dependent item it found.
        func page(_ page: Int, by worker: String) -> SinkBatch {
            var batch = SinkBatch()
            let row = NormalizedRow(
                table: "repos", values: ["_gather_key": .string("r\(page)"), "worker": .string(worker)], isChild: false)
            batch.writes = [TableWrite(table: "repos", mode: .append, primaryKey: [], rows: [row])]
            batch.state = [
                .put(scope: PipelineItems.stateScope(of: "repos"), key: item.key, value: "{\"page\":\(page + 1)}")
            ]
            let child = WorkItem(key: "repo-\(page)", context: [:])
            batch.discovered = [
                DiscoveredWork(
                    kind: "contributors", key: child.key,
                    payload: PipelineUnit(resource: "contributors", item: child).value)
            ]
            return batch
        }
        let lateSink = FencedSink(store: store, worker: "late", outage: Outage())
        await #expect(throws: LeaseLost.self) {
            try await FencedSink.$lease.withValue(late) { try await lateSink.commit(page(0, by: "late")) }
        }
        let sink = FencedSink(store: store, worker: "current", outage: Outage())
        try await FencedSink.$lease.withValue(current) {
            try await sink.commit(page(0, by: "current"))
            // The same commit again, as after a lost reply: it finds the item's state already there.
            try await sink.commit(page(0, by: "current"), retried: true)
            // The next page, tried again after a failure that did not commit: written.
            try await sink.commit(page(1, by: "current"), retried: true)
        }
        let rows = try await store.server.query("SELECT _gather_key, worker FROM repos ORDER BY 1")
        #expect(rows == [[.string("r0"), .string("current")], [.string("r1"), .string("current")]])
        let state = try await store.server.query("SELECT value FROM _gather_state WHERE scope = 'work:repos'")
        #expect(state == [[.string("{\"page\":2}")]])
        // The leased item and the two dependent items, each once.
        #expect(try await coordinator.progress(run: "r").total == 3)
        await store.close()
    }
}
