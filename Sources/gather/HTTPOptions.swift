import ArgumentParser
import Gather

/// The HTTP flags `fetch` and `crawl` share: per-host limits and the request timeout (their retries are
/// ``RetryOptions``). How many requests are in flight in all stays each command's own flag, as its default differs.
struct HTTPOptions: ParsableArguments {
    @Option(name: .long, help: "Requests in flight per host (default: up to --concurrency).")
    var perHost: Int?

    @Option(name: .long, help: "Request rate per host, like 20/s, 300/m or 5000/h (burst: 20/s:5).")
    var rate: String?

    @Option(name: .long, help: "Timeout for each whole request, like 30s, 500ms or 2m.")
    var timeout: String = "30s"

    func validate() throws {
        if let perHost = self.perHost, perHost < 1 {
            throw ValidationError("--per-host must be at least 1, e.g. --per-host 8")
        }
    }

    /// Sets `fetcher`'s per-host limits, its connections per host and its request timeout from the flags.
    /// `concurrency` is the command's requests in flight in all: without `--per-host`, a host may have them all.
    /// `capPerHost`: give the host limit that number too (a crawl's frontier is handed out by it), rather than none.
    /// - Throws: ``ConfigurationError`` for a rate or timeout that does not parse.
    func apply(to fetcher: inout Fetcher.Configuration, concurrency: Int, capPerHost: Bool = false) throws {
        fetcher.limits = FlowLimits(
            maxConcurrency: self.perHost ?? (capPerHost ? concurrency : nil),
            rate: try self.rate.map { try Rate(parsing: $0) })
        fetcher.connectionsPerHost = self.perHost ?? concurrency
        fetcher.timeouts.request = try Duration(parsing: self.timeout)
    }
}
