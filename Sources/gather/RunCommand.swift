import ArgumentParser
import Gather

/// `gather run FILE`: runs a YAML pipeline.
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract:
            "Run a YAML pipeline: REST, files, SQL, crawl and stream resources → transforms → SQLite or PostgreSQL, "
            + "resumable after a crash.",
        discussion: """
            A run that was interrupted (Ctrl-C, a crash, SIGKILL) is continued by the next `gather run` of the \
            same pipeline: finished pages are not fetched again and no row is written twice. --fresh starts over \
            and forgets incremental cursors too.

            Stream resources (`stream:`) run until Ctrl-C or SIGTERM: what was read is committed with the open \
            windows and the source position, and the next run continues from there (exit 130). --idle-exit 10s \
            stops after 10 s without an event (exit 0); --flush-windows closes the open windows at the stop.

            --coordinator postgres://… (the pipeline's destination) shares the run with `gather worker`s on \
            other hosts: each work item of its http resources is a unit (and each page of a counted paginator), \
            each page committed with the item's state behind a fence, so a worker that dies mid-item loses it to \
            another, which goes on from the last page. Every host must have the same pipeline file at the same \
            path.

            See `gather help pipeline` for the file format and `gather help COMPONENT` for each component.

            Exit codes: 0 completed; 1 completed with error rows (in _gather_errors); 2 configuration error; \
            3 fatal error; 130 interrupted (run again to continue).
            """
    )

    @Argument(help: "The pipeline file (YAML).")
    var file: String

    @Option(name: .long, help: "Run only this resource (and the parents it needs); repeatable.")
    var resource: [String] = []

    @Flag(name: .long, help: "Discard saved state (resume positions and incremental cursors) and start over.")
    var fresh = false

    @Flag(name: [.short, .long], help: "No progress and no summary on stderr.")
    var quiet = false

    @Option(
        name: .long,
        help: "Stream resources: stop after this long without an event, and exit 0 (like 10s).",
        transform: { try Duration(parsing: $0) })
    var idleExit: Duration?

    @Flag(name: .long, help: "Stream resources: at the stop, close every open window as if the watermark had passed.")
    var flushWindows = false

    @OptionGroup(title: "Scale-out")
    var scale: CoordinatorOptions

    @OptionGroup(title: "Watching")
    var observability: ObservabilityOptions

    func run() async throws {
        let pipeline = try PipelineCommands.load(self.file)
        if let url = try self.scale.url(into: pipeline.destination) {
            guard !self.fresh else {
                throw JobError.usage(
                    "--fresh does not apply to a run shared through a coordinator: a new file (or --resource) is a "
                        + "new run, and the same one again joins or reports it")
            }
            try await self.runCoordinated(pipeline, url: url)
            return
        }
        var options = PipelineRunner.Options()
        options.resources = self.resource
        options.fresh = self.fresh
        options.idleExit = self.idleExit
        options.flushWindows = self.flushWindows
        options.progress = !self.quiet
        options.workerStderr = { stage, worker, line in Terminal.error("[\(stage) worker \(worker)] \(line)") }
        let summary = try await self.observability.run(
            {
                try await PipelineCommands.execute(pipeline, options: options)
            }, summary: { $0.value })
        if !self.quiet { Terminal.error(summary.render()) }
        if summary.outcome == "interrupted" { throw ExitCode(130) }
        if summary.total.errors > 0 { throw ExitCode(1) }
    }
}

extension RunCommand {
    /// `gather run FILE --coordinator URL`: registers the run (the root resources' items become units), then
    /// works on it like any `gather worker` until no item is left.
    func runCoordinated(_ pipeline: PipelineDefinition, url: PostgresURL) async throws {
        let (lease, name, quiet) = (try self.scale.leaseDuration(), self.scale.workerName, self.quiet)
        let run = try await CoordinatedPipeline.plan(path: self.file, name: pipeline.name, resources: self.resource)
        let outcome = try await WorkerCommand.shareRun(
            "run", run: run, url: url, name: name, quiet: quiet, observability: self.observability,
            summary: { $0.0 }
        ) { coordinator, store, stop, outage in
            let summary = try await Self.work(
                run: run, pipeline: pipeline, coordinator: coordinator, store: store, worker: name, lease: lease,
                stop: stop, outage: outage, registering: true)
            return (summary, try await WorkerCommand.totals(of: run.id, store: store, outage))
        }
        try WorkerCommand.end(outcome, worker: name, run: run.id, url: url, quiet: quiet) { "\($0.pages) pages" }
    }

    /// Runs `run`'s items with `pipeline` (registering the run first when `registering`): what `gather run
    /// --coordinator` and `gather worker` both do. The pipeline's rates hold for the fleet.
    static func work(
        run: RunInfo, pipeline: PipelineDefinition, coordinator: Coordinator, store: PostgresStore, worker: String,
        concurrency: Int? = nil, lease: Duration, stop: StopSignal, outage: Outage, registering: Bool = false
    ) async throws -> CoordinatedSummary {
        let spec = try CoordinatedPipeline.Spec(run.spec)
        var pipeline = pipeline
        let capacity = concurrency ?? pipeline.limits["*"]?.maxConcurrency ?? 16
        if let concurrency, pipeline.limits["*"]?.maxConcurrency == nil {
            // This worker's requests per host too, where the pipeline sets no limit of its own for every host.
            var limits = pipeline.limits["*"] ?? FlowLimits()
            limits.maxConcurrency = concurrency
            pipeline.limits["*"] = limits
        }
        let sink = CoordinatedPipeline.sink(store: store, worker: worker, outage: outage)
        do {
            return try await PipelineItems.with(
                pipeline, resources: spec.resources, sink: sink, runID: run.id,
                budget: FleetBudget(coordinator: coordinator, outage: outage)
            ) { items in
                if registering {
                    try await CoordinatedPipeline.register(
                        run, items: items, pipeline: pipeline, coordinator: coordinator, store: store, outage: outage)
                }
                return try await CoordinatedPipeline.work(
                    run: run, items: items, coordinator: coordinator, store: store, worker: worker,
                    capacity: capacity, lease: lease, stop: stop, outage: outage)
            }
        } catch let error as PipelineError {
            throw JobError.usage(error.message)
        }
    }

    /// `gather worker`'s side: the pipeline of `run`, read from the file it was started with (checked against
    /// the run's hash), which must write to the coordinator's database.
    static func pipeline(of run: RunInfo, coordinator url: String) async throws -> PipelineDefinition {
        let pipeline = try PipelineCommands.load(try await CoordinatedPipeline.file(of: run))
        guard case .postgres(let target) = pipeline.destination, target.description == url else {
            throw JobError.usage(
                "run \(run.id): its pipeline writes to \(pipeline.destination), not the coordinator's database")
        }
        return pipeline
    }
}

/// `gather validate FILE`: checks a pipeline without running it.
struct ValidateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Check a pipeline file: every error with file:line:column and what to write instead."
    )

    @Argument(help: "The pipeline file (YAML).")
    var file: String

    func run() async throws {
        let pipeline = try PipelineCommands.load(self.file)
        let resources = pipeline.resources.map { r in
            "  \(r.name) → table \(r.table) (\(r.write.rawValue)\(r.parent.map { ", per \($0) record" } ?? ""))"
        }
        Terminal.output(
            "\(self.file): OK — pipeline '\(pipeline.name)' into \(pipeline.destination), "
                + "\(pipeline.resources.count) resource\(pipeline.resources.count == 1 ? "" : "s"):\n"
                + resources.joined(separator: "\n") + "\n")
    }
}

/// Loading and running pipelines, shared by `run` and `demo`.
enum PipelineCommands {
    /// Loads and checks a pipeline file; what looks wrong but cannot be checked is printed as warnings.
    static func load(_ file: String) throws -> PipelineDefinition {
        let pipeline: PipelineDefinition
        do {
            pipeline = try PipelineLoader.load(path: file, environment: ProcessEnvironment.all())
        } catch {
            throw JobError.usage(error.description)
        }
        for warning in pipeline.warnings { Terminal.error("gather: warning: \(warning)") }
        return pipeline
    }

    /// Runs with SIGINT/SIGTERM handling: the first signal stops new requests and lets in-flight pages commit.
    static func execute(_ pipeline: PipelineDefinition, options: PipelineRunner.Options) async throws -> RunSummary {
        let stop = StopSignal()
        do {
            return try await GracefulStop.run(
                message: "no new requests; pages in flight finish and are saved "
                    + "(signal again to stop now; `gather run` continues where this stopped)",
                stop: { stop.stop() }
            ) {
                try await PipelineRunner(pipeline, options: options).run(stop: stop)
            }
        } catch let error as PipelineError {
            throw JobError.usage(error.message)
        }
    }
}
