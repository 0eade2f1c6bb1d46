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

    @OptionGroup(title: "Watching")
    var observability: ObservabilityOptions

    func run() async throws {
        let pipeline = try PipelineCommands.load(self.file)
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
