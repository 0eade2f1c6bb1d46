import ArgumentParser
import Gather

/// The retry flags `fetch` and `crawl` share.
struct RetryOptions: ParsableArguments {
    @Option(
        name: .long,
        help: "Retries after the first attempt (connection errors, timeouts and the --retry-on statuses).")
    var retries: Int = 3

    @Option(
        name: .long,
        help: ArgumentHelp("The statuses to retry, replacing the default 408,429,500,502-504.", valueName: "STATUSES"))
    var retryOn: String?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Also retry these methods (comma-separated, e.g. POST); a request with an Idempotency-Key header is "
                + "retried whatever its method.", valueName: "METHODS"))
    var retryMethods: String?

    func validate() throws {
        guard self.retries >= 0 else { throw ValidationError("--retries must be 0 or more") }
    }

    /// Sets `policy` from the flags.
    /// - Throws: ``ConfigurationError`` for a status list or method list that does not parse.
    func apply(to policy: inout RetryPolicy) throws {
        policy.maxAttempts = self.retries + 1
        try policy.apply(statuses: self.retryOn, methods: self.retryMethods)
    }
}
