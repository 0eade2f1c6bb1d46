import ArgumentParser
import Gather

/// `gather map FILE --command CMD`: every line a task for a pool of worker processes; results committed as they
/// return, so an interrupted or killed map continues with only the unfinished tasks.
struct MapCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "map",
        abstract: "Run a program over every line of a JSON Lines file in parallel worker processes; resumable.",
        discussion: """
            Each line of FILE (a JSON value: a hyperparameter set, a record to score) is a task. --workers \
            processes run --command, each loading once and then answering batches of --batch tasks over \
            stdin/stdout (the protocol of python/gather_worker.py; `gather worker-template python` prints it). \
            Each result is a row of --table (default: the file's name) with the worker's fields plus input_line, \
            committed as soon as it returns; a task the worker cannot handle is an error row in _gather_errors \
            naming FILE:LINE and why.

            A worker that crashes, is killed, writes garbage or passes --timeout is restarted; its batch is tried \
            once more on another worker, then becomes error rows with the exit status or signal and the last \
            stderr lines. Workers never outlive gather (even a SIGKILL of gather kills them).

            Killed or interrupted, `gather map` run again does only the unfinished tasks; a map that completed is \
            not run again (--fresh runs every task again).

            Exit codes: 0 done; 1 done with error rows; 2 usage error (a command that cannot start included); \
            3 fatal error; 130 interrupted.
            """
    )

    @Argument(help: "The JSON Lines file of tasks.")
    var input: String

    @Option(name: .long, help: "The worker program and its arguments, e.g. 'python3 train.py' (no shell).")
    var command: String

    @Option(name: [.short, .long], help: "Worker processes: a number, or auto for one per core.")
    var workers: String = "auto"

    @Option(name: .long, help: "Tasks per message to a worker.")
    var batch: Int = 1

    @Option(name: .long, help: "Kill a worker whose batch takes longer than this, like 10m (default: no limit).")
    var timeout: String?

    @Option(
        name: .long, help: "Failures in a row (no answered batch between) a worker may have before it stays stopped.")
    var maxRestarts: Int = 10

    @Option(name: .long, help: "A cap on each worker's memory (address space), like 4GiB.")
    var memoryLimit: String?

    @Option(name: .long, help: "An environment variable for the workers, NAME=value (repeatable).")
    var env: [String] = []

    @Option(name: .long, help: "The workers' working directory.")
    var cwd: String?

    @Option(name: .long, help: "Where results go: x.db, sqlite:x.db, postgres://…, x.jsonl or x.csv.")
    var into: String

    @Option(name: .long, help: "The results table (default: the input file's name).")
    var table: String?

    @Flag(name: .long, help: "Run every task again instead of continuing (or skipping) the last run.")
    var fresh = false

    @Flag(name: [.short, .long], help: "No progress, no worker stderr and no summary on stderr.")
    var quiet = false

    @OptionGroup(title: "Scale-out")
    var scale: CoordinatorOptions

    @OptionGroup(title: "Watching")
    var observability: ObservabilityOptions

    func run() async throws {
        let destination: Destination
        do {
            destination = try Destination(self.into)
        } catch {
            throw JobError.usage("--into: \(error)")
        }
        var options: MapJob.Options
        do {
            options = MapJob.Options(
                input: self.input, command: try ProcessPool.words(self.command), destination: destination)
        } catch {
            throw JobError.usage("--command: \(error)")
        }
        if self.workers != "auto" {
            guard let count = Int(self.workers), count >= 1 else {
                throw JobError.usage("--workers \(self.workers): give a number of processes, or auto")
            }
            options.pool.workers = count
        }
        guard self.batch >= 1 else { throw JobError.usage("--batch must be at least 1") }
        options.batch = self.batch
        if let table = self.table { options.table = table }
        options.fresh = self.fresh
        options.progress = !self.quiet
        options.pool.maxRestarts = max(0, self.maxRestarts)
        options.pool.workingDirectory = self.cwd
        do {
            options.pool.timeout = try self.timeout.map { try Duration(parsing: $0) }
            options.pool.memoryLimit = try self.memoryLimit.map { try parseByteCount($0) }
        } catch {
            throw JobError.usage("\(error)")
        }
        for variable in self.env {
            guard let equals = variable.firstIndex(of: "="), equals != variable.startIndex else {
                throw JobError.usage("--env \(variable): write NAME=value")
            }
            options.pool.environment[String(variable[..<equals])] = String(variable[variable.index(after: equals)...])
        }
        if !self.quiet {
            options.pool.stderrLine = { worker, line in Terminal.error("[worker \(worker)] \(line)") }
        }
        if let url = try self.scale.url(into: destination) {
            try await Self.runCoordinated(
                options, url: url, lease: try self.scale.leaseDuration(), name: self.scale.workerName,
                quiet: self.quiet, observability: self.observability)
            return
        }
        let job = MapJob(options: options)
        let summary = try await self.observability.run(
            {
                try await GracefulStop.run(
                    message: "no new tasks; batches with workers finish and are saved "
                        + "(signal again to stop now; `gather map` continues where this stopped)",
                    stop: { job.stop.stop() }
                ) {
                    try await job.run()
                }
            }, summary: { $0.value })
        if !self.quiet { Terminal.error(summary.render(destination: destination.description)) }
        if summary.interrupted { throw ExitCode(130) }
        if summary.errors > 0 { throw ExitCode(1) }
    }
}

extension MapCommand {
    /// `gather map --coordinator URL`: registers the run (its tasks become units), then works on it like any
    /// `gather worker` until no unit is left.
    static func runCoordinated(
        _ options: MapJob.Options, url: PostgresURL, lease leaseDuration: Duration, name: String, quiet: Bool,
        observability: ObservabilityOptions
    ) async throws {
        let summary = try await observability.run(
            {
                try await Self.runCoordinated(options, url: url, lease: leaseDuration, name: name, quiet: quiet)
            }, summary: { WorkerCommand.value([$0.0], worker: name) })
        if !quiet { Terminal.error(WorkerCommand.render(summary.0, worker: name, progress: summary.1)) }
        if summary.2 { throw ExitCode(130) }
        if summary.1.failed > 0 || summary.0.errors > 0 { throw ExitCode(1) }
    }

    private static func runCoordinated(
        _ options: MapJob.Options, url: PostgresURL, lease leaseDuration: Duration, name: String, quiet: Bool
    ) async throws -> (CoordinatedSummary, QueueProgress, Bool) {
        try await WorkerCommand.withCoordinator(url) { coordinator, store in
            let run = try CoordinatedMap.plan(options)
            if !quiet { Terminal.error("gather map: run \(run.id) on \(url); `gather worker \(url)` joins it") }
            let stop = StopSignal()
            let outage = WorkerCommand.outage(name: "gather map", quiet: quiet)
            return try await GracefulStop.run(
                message: "no new units; units in hand finish and are saved (the others go back to the queue)",
                stop: { stop.stop() }
            ) {
                let summary = try await CoordinatedMap.work(
                    run: run, coordinator: coordinator, store: store, worker: name,
                    workers: options.pool.workers, lease: leaseDuration, stop: stop, outage: outage,
                    onceStarted: {
                        try await CoordinatedMap.register(
                            run, input: options.input, batch: options.batch, coordinator: coordinator, outage: outage)
                    })
                let progress = try await WorkerCommand.finish(run.id, coordinator: coordinator, name: name, outage)
                return (summary, progress, stop.isStopped)
            }
        }
    }
}

/// `gather worker-template python`: prints the worker side of the process protocol.
struct WorkerTemplateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker-template",
        abstract: "Print the helper a worker program uses to talk to gather (python: gather_worker.py).")

    @Argument(help: "The language (python).")
    var language: String = "python"

    func run() throws {
        guard self.language.lowercased() == "python" else {
            throw JobError.usage("no template for \(self.language): python is the one there is")
        }
        Terminal.output(ProcessPool.pythonWorkerTemplate + "\n")
    }
}
