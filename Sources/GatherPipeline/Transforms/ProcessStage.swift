public import GatherConfig
import GatherCore
public import GatherProcess

/// The `process` transform: every record of a page goes, in batches, to long-lived worker processes running a
/// command (a Python model, any program that speaks the pool's frames), and what they answer replaces it.
///
/// ```yaml
/// transform:
///   - process: { command: [python3, score.py], workers: auto, batch: 256, timeout: 30s }
/// ```
///
/// - Records come back in input order per page, and a page's rows commit only after all of its batches have
///   answered, so the checkpoint stays exact: a killed run sends again only the pages it had not committed.
/// - A worker answers an object (the new record), a list (one record per element), `null` (the record is
///   dropped, like a filter) or an error for the record (an error row with the worker's message).
/// - A worker that crashes, hangs past `timeout` or garbles its output is restarted; its batch is tried once
///   more on another worker, then its records become error rows naming the exit status and the last stderr lines.
/// - The command is started before any request is sent: one that does not exist or fails at start-up is the
///   run's error, with the path that was tried.
/// - Relative paths (`score.py`) are relative to `cwd`, which defaults to the pipeline file's folder.
public struct ProcessStage: Sendable {
    /// Names the stage in messages and the summary: `scores.transform[2]`.
    public var id: String
    /// How its workers run.
    public var pool: ProcessPool.Configuration
    /// Records per message to a worker.
    public var batch: Int

    public init(id: String, pool: ProcessPool.Configuration, batch: Int) {
        self.id = id
        self.pool = pool
        self.batch = batch
    }

    public static let spec = ComponentSpec(
        name: "process", kind: "transform",
        summary: "Sends records in batches to worker processes running a command (Python with `gather_worker`, "
            + "or any program that speaks its frames) and keeps what they answer, in input order.",
        fields: ProcessPool.Configuration.specFields + [
            FieldSpec("batch", .int, default: "256", description: "Records per message to a worker.")
        ],
        examples: [
            "- process: { command: [python3, score.py], workers: auto, batch: 256, timeout: 30s }",
            "- process: \"python3 features.py --fast\"",
        ], shorthandField: "command")

    /// Builds the stage from its settings; problems are added to `errors` with their positions.
    static func build(
        _ object: ConfigObject, id: String, directory: String, errors: inout [ConfigError]
    ) -> ProcessStage? {
        guard let pool = ProcessPool.Configuration(object, directory: directory, errors: &errors) else { return nil }
        let batch = object.int(defaulted: "batch")
        if batch < 1 {
            errors.append(object.error(at: "batch", "batch: give 1 or more records per message"))
        }
        return ProcessStage(id: id, pool: pool, batch: max(1, batch))
    }

    /// Runs `records` through `pool` in batches of ``batch`` (as many at once as there are free workers) and
    /// returns one outcome per record, in order.
    func run(_ records: [Record], on pool: ProcessPool) async throws -> [RecordOutcome] {
        if records.count <= self.batch { return try await pool.process(records.map { .object($0) }) }
        let chunks = stride(from: 0, to: records.count, by: self.batch).map {
            records[$0..<min($0 + self.batch, records.count)].map { Value.object($0) }
        }
        return try await withThrowingTaskGroup(of: (Int, [RecordOutcome]).self) { group in
            for (index, chunk) in chunks.enumerated() {
                group.addTask { (index, try await pool.process(chunk)) }
            }
            var answers = [[RecordOutcome]](repeating: [], count: chunks.count)
            for try await (index, outcomes) in group { answers[index] = outcomes }
            return answers.flatMap { $0 }
        }
    }
}

/// The pools of a run's `process` stages, by stage id, started before any work and stopped after all of it.
public struct ProcessPools: Sendable {
    let pools: [String: ProcessPool]

    init(_ pools: [String: ProcessPool] = [:]) {
        self.pools = pools
    }

    /// What each stage's workers did, by stage id.
    public var statistics: [String: ProcessPool.Statistics] { self.pools.mapValues(\.statistics) }

    /// Starts a pool for each stage (all of them ready before `body` runs) and stops and reaps every worker
    /// however `body` ends.
    static func with<T: Sendable>(
        _ stages: [ProcessStage], stderr: (@Sendable (_ stage: String, _ worker: Int, _ line: String) -> Void)?,
        _ body: (ProcessPools) async throws -> T
    ) async throws -> T {
        func start(_ index: Int, _ started: [String: ProcessPool]) async throws -> T {
            guard index < stages.count else { return try await body(ProcessPools(started)) }
            let stage = stages[index]
            var configuration = stage.pool
            if let stderr {
                let id = stage.id
                configuration.stderrLine = { worker, line in stderr(id, worker, line) }
            }
            do {
                return try await ProcessPool.withPool(configuration) { pool in
                    var started = started
                    started[stage.id] = pool
                    return try await start(index + 1, started)
                }
            } catch let error as ProcessPoolError {
                throw PipelineError("\(stage.id) (process): \(error)")
            }
        }
        return try await start(0, [:])
    }
}
