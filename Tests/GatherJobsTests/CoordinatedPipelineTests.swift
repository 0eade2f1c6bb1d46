import GatherCoordinator
import GatherCore
import GatherPipeline
import GatherPostgres
import GatherStore
import GatherTesting
import Testing

@testable import GatherJobs

/// A shared pipeline run through the library, against a real PostgreSQL and the sample API: a counted offset
/// paginator's pages are units, and a page that comes back after its item was completed (its holder died after
/// committing it, before the unit's completion; or its commit is tried again after a lost reply) fetches and
/// writes nothing: the page marks outlive the item's completion.
@Suite struct CoordinatedPipelineTests {
    static let pipeline = """
        name: pages
        destination: postgres://unused
        resources:
          - name: items
            http:
              base_url: ${SAMPLE_API}
              path: /offset/items
              paginate: { type: offset, limit: 20, total: "$.total" }
            select: "$.items[*]"
            write: append
        """

    @Test(.timeLimit(.minutes(2)))
    func aPageUnitRedoneAfterItsItemCompletedWritesNothing() async throws {
        try await SampleAPI.withServer(SampleAPI.Configuration(itemCount: 100)) { api in
            let url = try await TestPostgres.freshDatabase("coordinated_pipeline_pages")
            let pipeline = try PipelineLoader.parse(
                text: Self.pipeline, file: "pages.yaml", environment: ["SAMPLE_API": api.baseURL])
            let store = try await PostgresStore.open(url)
            let coordinator = Coordinator(server: store.server)
            try await coordinator.install()
            let run = RunInfo(id: "pipeline-pages-test", kind: "pipeline", spec: .object([:]), configHash: "h")
            let sink = CoordinatedPipeline.sink(store: store, worker: "w", outage: Outage())
            try await PipelineItems.with(pipeline, resources: [], sink: sink, runID: run.id, budget: nil) { items in
                let registration = try await coordinator.register(run: run.id, kind: "pipeline", configHash: "h")
                var seeder = try #require(Seeder(coordinator: coordinator, run: run.id, registration: registration))
                for (resource, item) in try items.rootItems() {
                    try await seeder.add(PipelineUnit(resource: resource, item: item).value)
                }
                try await seeder.finish()
                let first = try await CoordinatedPipeline.work(
                    run: run, items: items, coordinator: coordinator, store: store, worker: "w", capacity: 4)
                // The item and its 4 other pages (100 records, 20 a page), each a unit.
                #expect(first.units == 5, "\(first)")
                let requests = api.stats.requestCount(pathPrefix: "/offset/")
                #expect(requests == 5)
                let state = try await store.server.query(
                    "SELECT value FROM _gather_state WHERE scope = 'work:items'")
                #expect(state.first?.first?.stringValue?.contains(#""done":true"#) == true, "\(state)")
                // Page 3 again, as when its holder died after committing it, or as its commit tried again after
                // a lost reply: the item is complete by now, and the page's mark is still there.
                let item = try #require(try items.rootItems().first?.item)
                let page3 = PipelineUnit(resource: "items", item: item, page: 3)
                let reopened = try await coordinator.register(run: "again", kind: "pipeline", configHash: "h")
                var again = try #require(Seeder(coordinator: coordinator, run: "again", registration: reopened))
                try await again.add(page3.value)
                try await again.finish()
                let second = try await CoordinatedPipeline.work(
                    run: RunInfo(id: "again", kind: "pipeline", spec: .object([:]), configHash: "h"), items: items,
                    coordinator: coordinator, store: store, worker: "w2", capacity: 1)
                #expect(second.units == 1 && second.fenced == 0, "\(second)")
                #expect(api.stats.requestCount(pathPrefix: "/offset/") == requests)
                // The retried commit of that page (its rows and mark, as the page wrote them): nothing written.
                let retry = try await coordinator.register(run: "retry", kind: "pipeline", configHash: "h")
                var seeded = try #require(Seeder(coordinator: coordinator, run: "retry", registration: retry))
                try await seeded.add(page3.value)
                try await seeded.finish()
                let lease = try #require(
                    try await coordinator.claim(run: "retry", worker: "w3", count: 1, lease: .seconds(30)).first)
                var batch = SinkBatch()
                let row = NormalizedRow(
                    table: "items", values: ["_gather_key": .string("again"), "id": .int(999)], isChild: false)
                batch.writes = [TableWrite(table: "items", mode: .append, primaryKey: [], rows: [row])]
                batch.state = [.put(scope: PipelineItems.pageScope(of: page3), key: "3", value: "null")]
                let fenced = FencedSink(store: store, worker: "w3", outage: Outage())
                try await FencedSink.$lease.withValue(lease) { try await fenced.commit(batch, retried: true) }
                let rows = try await store.server.query("SELECT count(*), count(DISTINCT _gather_key) FROM items")
                #expect(rows == [[.int(100), .int(100)]], "\(rows)")
                let after = try await store.server.query("SELECT value FROM _gather_state WHERE scope = 'work:items'")
                #expect(after == state)
            }
            await store.close()
        }
    }
}
