import ArgumentParser
import Gather
import GatherTesting
import UnixSignals

#if canImport(Glibc)
    import Glibc
#endif

/// `gather fixture`: serves the test fixture on 127.0.0.1 until interrupted, for demos and manual tries.
struct FixtureCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fixture",
        abstract: "Serve the fixture HTTP server (JSON, delays, 429s, resets, gzip…) or the sample API on 127.0.0.1.",
        discussion: """
            Prints its base URL on the first line of stdout, then serves until SIGINT or SIGTERM. GET / on the \
            fixture server and the sample API lists their routes; --routes prints them without serving.
            """
    )

    @Flag(name: .long, help: "Print the routes of the server chosen (fixture, --sample-api) and exit.")
    var routes = false

    @Option(name: .long, help: "Also write the base URL to this file once listening.")
    var urlFile: String?

    @Flag(name: .long, help: "Serve the sample REST API (the one `gather demo` uses) instead.")
    var sampleAPI = false

    @Option(name: .long, help: "Serve a generated web site of this many pages for crawling instead (CrawlSite).")
    var crawlSite: Int?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Serve this many sensor readings as server-sent events at /events instead (SensorStream: ids 1…N, "
                + "resumable with Last-Event-ID, event times out of order by up to 5 s)."))
    var sensorStream: Int?

    @Option(name: .long, help: "Sensor stream: number of sensors (keys).")
    var sensors: Int = 10_000

    @Option(name: .long, help: "Sensor stream: events per second (default: as fast as the client reads).")
    var rate: Double?

    @Option(name: .long, help: "Sample API: number of items.")
    var items: Int = 250

    @Option(name: .long, help: "Sample API: default page size.")
    var pageSize: Int = 25

    @Option(name: .long, help: "Sample API and crawl site: latency of every data request, like 50ms.")
    var latency: String = "0ms"

    @Option(name: .long, help: "Sample API: fail the first request to every Nth page URL with 503.")
    var failEvery: Int?

    func run() async throws {
        if self.routes {
            if self.sensorStream != nil {
                Terminal.output(
                    RouteList(
                        "gather fixture --sensor-stream N", [("/events", "server-sent events; Last-Event-ID resumes")]
                    ).text)
            } else if self.crawlSite != nil {
                Terminal.output(
                    RouteList(
                        "gather fixture --crawl-site N",
                        [
                            ("/", "the index, linking to /p/1"),
                            ("/p/N", "page N, linking to 2N, 2N+1 and others"),
                            ("/robots.txt", "disallows /private/"), ("/sitemap.xml", "a sitemap"),
                        ]
                    ).text)
            } else {
                Terminal.output((self.sampleAPI ? SampleAPI.routeList : FixtureServer.routeList).text)
            }
            return
        }
        if let count = self.sensorStream {
            // 600 ms of event time per event over 1M events is 10 minutes; 1,000 events per write keeps the
            // generator well ahead of any single client on this machine.
            let configuration = SensorStream.Configuration(
                count: max(1, count), keys: max(1, self.sensors), microsPerEvent: 600_000_000 / Int64(max(1, count)),
                jitter: 5_000, batch: 1_000, rate: self.rate, retry: 1_000)
            try await SensorStream.withServer(configuration) { stream in
                try await self.serve(stream.url)
            }
            return
        }
        if let pages = self.crawlSite {
            let configuration = CrawlSite.Configuration(
                pageCount: max(1, pages), latency: try Duration(parsing: self.latency))
            try await CrawlSite.withServer(configuration) { site in
                try await self.serve(site.baseURL)
            }
            return
        }
        if self.sampleAPI {
            let configuration = SampleAPI.Configuration(
                itemCount: self.items, pageSize: self.pageSize, latency: try Duration(parsing: self.latency),
                transientFailureEvery: self.failEvery)
            try await SampleAPI.withServer(configuration) { api in
                try await self.serve(api.baseURL)
            }
            return
        }
        try await FixtureServer.withServer { server in
            try await self.serve(server.baseURL)
        }
    }

    /// Prints the base URL (and writes it to `--url-file`), then waits for SIGINT or SIGTERM.
    private func serve(_ baseURL: String) async throws {
        Terminal.output(baseURL + "\n")
        if let path = self.urlFile, !FileBytes.write(Array((baseURL + "\n").utf8), to: path) {
            throw JobError.fatal("cannot write \(path)")
        }
        let signals = await UnixSignalsSequence(trapping: .sigint, .sigterm)
        for await signal in signals {
            Terminal.error("gather fixture: \(signal), stopping")
            break
        }
    }
}
