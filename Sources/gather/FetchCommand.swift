import ArgumentParser
import Gather
import Logging

/// `gather fetch`: many HTTP requests at once, bounded, retried, rate-limited, one record per input line.
struct FetchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fetch",
        abstract: "Fetch many URLs concurrently, politely, with retries; write one JSON line (or row) per input.",
        discussion: """
            INPUT is a file (or - for stdin) with one URL per line, or one JSON request per line:
              {"id": 7, "url": "https://…", "method": "POST", "headers": {…}, "body": {…}}
            or, with --url-template 'https://host/items/{id}', one value per line.

            Each output line is {"line", "id"?, "url", "status", "elapsed_ms", "attempts", "data"}: \
            "line" is the input line (records come in completion order; --ordered keeps input order), \
            the parsed JSON body in "data" ("text" for other bodies), or "error": {"code", "message"} \
            when the item failed.

            With --into DB the rows carry their run_id and the run is kept in the database: a fetch that was \
            interrupted or killed continues when the same command runs again (lines already written are \
            skipped, nothing is written twice), and a finished fetch of the same input file (same size and \
            modification time) does nothing and says so; --fresh fetches every line again. Standard input \
            has no identity: each fetch of it is a new run.

            Exit codes: 0 all succeeded; 1 some failed (they are in the output); 2 usage or \
            configuration error; 3 fatal error; 130 interrupted (SIGINT/SIGTERM: the output is flushed \
            and complete).
            """
    )

    @Argument(help: "The input file of URLs or JSON requests (or of template values); - for stdin.")
    var input: String = "-"

    @Option(name: .long, help: "Build each URL from this template; {name} is replaced by each input value.")
    var urlTemplate: String?

    @Option(name: .long, help: "The file of values for --url-template (instead of INPUT).")
    var values: String?

    @Option(name: [.short, .long], help: "Requests in flight in all.")
    var concurrency: Int = 64

    @OptionGroup(title: "Limits")
    var http: HTTPOptions

    @OptionGroup(title: "Retries")
    var retry: RetryOptions

    @Option(
        name: .long,
        help: ArgumentHelp(
            "A rule applied to every response before its status: 404=ignore, 'content:rate limit=retry', "
                + "'json:$.error=retry', 401,403=fail (repeatable; the first match wins).",
            valueName: "CONDITION=ACTION"))
    var responseAction: [String] = []

    @Option(name: .long, help: "Timeout for connecting.")
    var connectTimeout: String = "10s"

    @Option(name: .long, help: "Timeout for silence while reading a response.")
    var readTimeout: String = "30s"

    @Option(name: .long, help: "Longest wait for a per-host slot before an item fails (default: no limit).")
    var admissionTimeout: String?

    @Option(name: [.customShort("H"), .long], help: "A header for every request, as 'Name: value' (repeatable).")
    var header: [String] = []

    @Option(name: [.customShort("X"), .long], help: "The method for plain URL lines.")
    var method: String = "GET"

    @Option(name: [.short, .long], help: "The request body for plain URL lines (@FILE reads a file).")
    var data: String?

    @Option(name: .long, help: "Send 'Authorization: Bearer TOKEN' (prefer the GATHER_BEARER_TOKEN variable).")
    var bearer: String?

    @Option(name: .long, help: "Basic auth as user:password.")
    var user: String?

    @Option(name: .long, help: "The largest body accepted, after decompression, like 64MiB.")
    var maxBody: String = "64MiB"

    @Option(name: .long, help: "Redirects to follow (0 to return 3xx responses as they are).")
    var maxRedirects: Int = 10

    @Flag(name: .long, help: "Speak HTTP/1.1 only.")
    var http1 = false

    @Flag(name: .long, help: "Prefer HTTP/2 (the default: negotiated over TLS; cleartext h2c is not offered).")
    var http2 = false

    @Flag(name: .long, help: "Stop reading input after the first failed item (in-flight items finish).")
    var failFast = false

    @Flag(name: .long, help: "Do not verify TLS certificates (unsafe: anyone on the path can read and alter traffic).")
    var insecure = false

    @Option(name: [.short, .long], help: "Write JSON Lines here instead of stdout.")
    var out: String?

    @Flag(name: .long, help: "Write records in input order (bounded reorder buffer).")
    var ordered = false

    @Option(name: .long, help: "Stream bodies to files in this folder instead of records.")
    var saveDir: String?

    @Option(
        name: .long,
        help: "Write records to this database (x.db, sqlite:x.db, or postgres://user@host/db) instead of stdout.")
    var into: String?

    @Option(name: .long, help: "The table for --into.")
    var table: String = "fetch_results"

    @Flag(name: .long, help: "With --into: fetch every line again instead of continuing or skipping a finished run.")
    var fresh = false

    @OptionGroup(title: "Scale-out")
    var scale: CoordinatorOptions

    @OptionGroup(title: "Watching")
    var observability: ObservabilityOptions

    @Option(
        name: .long, help: "After SIGINT/SIGTERM, how long in-flight requests may finish before they are cancelled.")
    var grace: String = "2s"

    @Flag(name: .long, help: "No progress line.")
    var noProgress = false

    @Flag(name: [.short, .long], help: "No summary on stderr.")
    var quiet = false

    func validate() throws {
        guard self.concurrency >= 1 else {
            throw ValidationError("--concurrency must be at least 1, e.g. --concurrency 64")
        }
        if self.http1 && self.http2 { throw ValidationError("choose one of --http1 and --http2") }
        if self.urlTemplate == nil && self.values != nil {
            throw ValidationError("--values goes with --url-template 'https://host/items/{id}'")
        }
        for header in self.header where !header.contains(":") {
            throw ValidationError("invalid header \"\(header)\": write it as 'Name: value'")
        }
    }

    func makeOptions() throws -> FetchJob.Options {
        var options = FetchJob.Options()
        options.input = self.values ?? self.input
        if let template = self.urlTemplate { options.format = .template(template) }
        options.method = self.method.uppercased()
        if let data = self.data {
            if data.hasPrefix("@") {
                let path = String(data.dropFirst())
                guard let bytes = FileBytes.read(path) else {
                    throw JobError.usage("cannot read the body file \(path) given to --data")
                }
                options.body = bytes
            } else {
                options.body = Array(data.utf8)
            }
        }
        options.concurrency = self.concurrency
        options.ordered = self.ordered
        options.saveDirectory = self.saveDir
        if let into = self.into {
            do {
                options.database = try Destination(into, accepting: .databases)
            } catch {
                throw JobError.usage("--into: \(error)")
            }
            options.output = self.out
        } else {
            options.output = self.out ?? "-"
        }
        options.table = self.table
        options.fresh = self.fresh
        options.failFast = self.failFast
        options.progress = !self.noProgress

        var fetcher = Fetcher.Configuration()
        try self.http.apply(to: &fetcher, concurrency: self.concurrency)
        try self.retry.apply(to: &fetcher.retry)
        fetcher.responseActions = try self.responseAction.map { try ResponseAction(parsing: $0) }
        fetcher.timeouts.connect = try Duration(parsing: self.connectTimeout)
        fetcher.timeouts.read = try Duration(parsing: self.readTimeout)
        fetcher.timeouts.admission = try self.admissionTimeout.map { try Duration(parsing: $0) }
        fetcher.maxBodyBytes = try parseByteCount(self.maxBody)
        fetcher.maxRedirects = self.maxRedirects
        fetcher.httpVersion = self.http1 ? .http1Only : .automatic
        fetcher.verifyTLS = !self.insecure
        for header in self.header {
            let parts = header.split(separator: ":", maxSplits: 1)
            let name = parts[0].trimmingWhitespace()
            let value = parts.count > 1 ? parts[1].trimmingWhitespace() : ""
            fetcher.headers.removeAll { $0.name.lowercased() == name.lowercased() }
            fetcher.headers.append((name, value))
        }
        let bearer = self.bearer ?? ProcessEnvironment.value("GATHER_BEARER_TOKEN")
        if let bearer { fetcher.authorization = .bearer(bearer) }
        if let user = self.user {
            let parts = user.split(separator: ":", maxSplits: 1).map(String.init)
            fetcher.authorization = .basic(user: parts[0], password: parts.count > 1 ? parts[1] : "")
        }
        options.fetcher = fetcher
        return options
    }

    func run() async throws {
        let options = try self.makeOptions()
        let grace = try Duration(parsing: self.grace)
        if self.insecure {
            Terminal.error(
                "gather: WARNING: --insecure turns off TLS certificate and host name verification for every "
                    + "https request: anyone on the network path can read and change this traffic."
            )
        }
        var logger = Logger(label: "gather")
        logger.logLevel = ProcessEnvironment.value("GATHER_LOG_LEVEL").flatMap(Logger.Level.init(rawValue:)) ?? .warning

        if let url = try self.scale.url(into: options.database) {
            try await self.runCoordinated(options, url: url)
            return
        }
        let job = FetchJob(options: options, logger: logger)
        var summary = try await self.observability.run(
            {
                try await GracefulStop.run(
                    message:
                        "no new requests; \(job.inFlight) in flight get \(grace) to finish (signal again to cancel them now)",
                    grace: grace, stop: { job.stop.stop() }
                ) {
                    try await job.run()
                }
            }, summary: { $0.value })

        if let into = self.into {
            summary.errorRecords = "\(into), table \(self.table) (rows with error_code set)"
        }
        if !self.quiet { Terminal.error(summary.text) }
        if summary.interrupted { throw ExitCode(130) }
        if summary.failed > 0 { throw ExitCode(1) }
    }
}

extension FetchCommand {
    /// `gather fetch --coordinator URL`: registers the run (its input lines become units), then works on it like
    /// any `gather worker` until no unit is left. The records go to the coordinator's database.
    func runCoordinated(_ options: FetchJob.Options, url: PostgresURL) async throws {
        let (lease, name, quiet) = (try self.scale.leaseDuration(), self.scale.workerName, self.quiet)
        let run = try CoordinatedFetch.plan(options)
        let outcome = try await WorkerCommand.shareRun(
            "fetch", run: run, url: url, name: name, quiet: quiet, observability: self.observability,
            summary: { $0 }
        ) { coordinator, store, stop, outage in
            try await CoordinatedFetch.register(run, coordinator: coordinator, outage: outage)
            return try await CoordinatedFetch.work(
                run: run, coordinator: coordinator, store: store, worker: name, lease: lease, stop: stop,
                outage: outage)
        }
        if !quiet {
            Terminal.error(WorkerCommand.render(outcome.result, worker: name, progress: outcome.progress))
            Terminal.error("records: \(url), table \(options.table) (rows with error_code set for failures)")
        }
        if outcome.stopped { throw ExitCode(130) }
        if outcome.progress.failed > 0 || outcome.result.errors > 0 { throw ExitCode(1) }
    }
}
