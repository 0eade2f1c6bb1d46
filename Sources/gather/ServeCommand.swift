import ArgumentParser
import Gather
import GatherServer
import UnixSignals

/// `gather serve FILE`: a model's worker processes behind an HTTP API with adaptive batching, deadlines and
/// load shedding.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve a model (any program that speaks the worker protocol) behind a batching HTTP API.",
        discussion: """
            FILE is a model file (`gather help model-file`): the worker command, batching and limits. The workers \
            load the model once; the server answers POST /predict with one JSON record or {"instances": [...]} \
            as {"predictions": [...]}, in order, and GET /healthz, /readyz and /metrics (Prometheus).

            Requests are batched greedily by records (max_size, max_wait), each keeps its deadline \
            (limits.deadline, or the header X-Request-Deadline-Ms): one that cannot be served in time gets 504 \
            before it reaches a worker, a full queue answers 429 with Retry-After from the measured drain rate. \
            A worker that crashes or hangs is restarted; its batch's records are tried once more, each alone, on \
            another worker, and a record that fails again gets 503.

            SIGTERM or SIGINT: stop accepting, let requests in flight finish within --grace, print the summary \
            and exit 0. --check starts the workers, sends the file's example (model.example) through the model \
            once, prints the latency and exits.

            Exit codes: 0 stopped cleanly; 2 usage error (a bad model file, a worker that cannot start, a taken \
            port); 3 fatal error.
            """
    )

    @Argument(help: "The model file (YAML).")
    var file: String

    @Option(name: .long, help: "HOST:PORT to listen on, instead of the file's listen (port 0 picks a free one).")
    var listen: String?

    @Option(name: .long, help: "After SIGTERM/SIGINT, how long requests in flight may take to finish.")
    var grace: String = "10s"

    @Flag(name: .long, help: "Start the workers, run the example once, print the latency and exit.")
    var check = false

    @Flag(name: .shortAndLong, help: "No worker stderr and no summary on stderr.")
    var quiet = false

    func run() async throws {
        var model: ModelFile
        do {
            model = try ModelFile.load(path: self.file, environment: ProcessEnvironment.all())
        } catch {
            throw JobError.usage(error.description)
        }
        let grace: Duration
        do {
            if let listen = self.listen { (model.host, model.port) = try MetricsEndpoint.parseAddress(listen) }
            grace = try Duration(parsing: self.grace)
        } catch {
            throw JobError.usage("\(error)")
        }
        if !self.quiet {
            model.pool.stderrLine = { worker, line in Terminal.error("[worker \(worker)] \(line)") }
        }
        let server = ModelServer(model)
        let name = model.name
        let workers = model.pool.workers
        if self.check {
            do {
                let (latency, answer) = try await server.check()
                Terminal.output("\(answer)\n")
                Terminal.error(
                    "gather serve --check: \(model.name) answered in \(TextTable.decimal(latency.seconds * 1000)) ms "
                        + "with \(model.pool.workers) workers ready")
            } catch let error as ProcessPoolError {
                throw JobError.usage(error.message)
            }
            return
        }
        let stop = StopSignal()
        let signals = await UnixSignalsSequence(trapping: .sigint, .sigterm)
        let watcher = Task {
            for await signal in signals {
                Terminal.error("gather serve: \(signal): not accepting; requests in flight finish (at most \(grace))")
                stop.stop()
            }
        }
        defer { watcher.cancel() }
        do {
            let summary = try await server.run(stop: stop, grace: grace) { url in
                Terminal.output(url + "\n")
                Terminal.error("gather serve: \(name) on \(url) (POST /predict) with \(workers) workers")
            }
            if !self.quiet { Terminal.error(summary) }
        } catch let error as ProcessPoolError {
            throw JobError.usage(error.message)
        } catch let error as HTTPServerError {
            throw JobError.usage(error.message)
        }
    }
}
