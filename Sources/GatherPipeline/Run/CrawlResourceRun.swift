import GatherCore
import GatherCrawl

/// Runs a `crawl` resource: the ``Crawler`` with the pipeline's sink and fetcher, counting under the pipeline's
/// run, its frontier in scope RESOURCE (reset by a new run, continued by a resumed one).
enum CrawlResourceRun {
    static func run(_ resource: ResourceDefinition, shared: RunShared, resumed: Bool) async throws {
        guard var options = resource.crawl else { return }
        options.pipelineRun = (shared.runID, resumed)
        let crawler = try Crawler(sink: shared.sink, fetcher: shared.fetcher, options: options, stop: shared.stop)
        _ = try await crawler.run()
    }
}
