import ArgumentParser
import Gather

/// The flags that share a run with `gather worker`s on other hosts (`map`, `fetch` and `load`).
struct CoordinatorOptions: ParsableArguments {
    @OptionGroup var link: CoordinatorLink

    @Option(name: .long, help: "With --coordinator: this worker's name (default: HOST-PID).")
    var name: String?

    /// This worker's name.
    var workerName: String { self.name ?? WorkerCommand.defaultName }

    /// `--lease` as a duration.
    func leaseDuration() throws -> Duration { try self.link.leaseDuration() }

    /// The coordinator's URL, when `into` may take the results (see ``CoordinatorLink/url(into:)``).
    func url(into: Destination?) throws -> PostgresURL? { try self.link.url(into: into) }
}

/// `--coordinator` and `--lease`: what every command that shares its run needs (`gather crawl` takes these
/// alone, its `--name` being the crawl's).
struct CoordinatorLink: ParsableArguments {
    @Option(
        name: .long,
        help: "Share the run with `gather worker`s on other hosts through this PostgreSQL database (--into too).")
    var coordinator: String?

    @Option(name: .long, help: "With --coordinator: how long a claimed unit stays this worker's without a heartbeat.")
    var lease: String = "30s"

    /// `--lease` as a duration.
    func leaseDuration() throws -> Duration {
        do {
            return try Duration(parsing: self.lease)
        } catch {
            throw JobError.usage("--lease: \(error)")
        }
    }

    /// The coordinator's URL, when `into` (the command's `--into`, nil when not given) may take the results: a
    /// unit's results and its completion commit in one transaction, so they must be the same database.
    func url(into: Destination?) throws -> PostgresURL? {
        guard let text = self.coordinator else { return nil }
        let url = try WorkerCommand.url(text)
        if let into {
            guard case .postgres(let target) = into, target.description == url.description else {
                throw JobError.usage(
                    "--into must be the coordinator's database (\(url)): a unit's results and its completion commit "
                        + "in one transaction, which is what keeps a worker whose lease ran out from writing twice")
            }
        }
        return url
    }
}
