public import GatherCore
public import GatherExpressions
import GatherProcess
public import GatherStore

/// What became of one record that went through a resource's transforms.
public typealias TransformOutcome = RecordTransformResult

/// Applies a resource's ``Transform`` steps to each record, in order.
///
/// - `select`: a JSONPath into the record; each object it selects becomes a record, other values become
///   `{"value": …}` records.
/// - `fields`: each output field from an expression; with `keep_others`, the record's other fields stay.
/// - `filter`: keeps the record when the expression is `true` (`null`, a missing field or `false` drop it).
/// - `flatten`: nested objects become `a__b` fields.
/// - `explode`: one record per element of a list field.
/// - `drop`: removes fields.
/// - `process`: batches of records to worker processes (``ProcessStage``); only ``apply(page:context:)`` runs it.
public struct TransformChain: Sendable {
    public let steps: [Transform]
    /// The pools of the run's `process` stages.
    let pools: ProcessPools

    public init(_ steps: [Transform]) {
        self.init(steps, pools: ProcessPools())
    }

    init(_ steps: [Transform], pools: ProcessPools) {
        self.steps = steps
        self.pools = pools
    }

    /// `true` when a step sends records to worker processes, so only ``apply(page:context:)`` can run the chain.
    public var hasProcessStage: Bool {
        self.steps.contains { if case .process = $0 { true } else { false } }
    }

    /// The `process` stages, in order.
    var processStages: [ProcessStage] {
        self.steps.compactMap { if case .process(let stage) = $0 { stage } else { nil } }
    }

    /// What became of one input record after every step, `process` stages included: the records to write, the
    /// failures of its parts (a worker's error for one of them), and whether a filter (or a worker's `null`)
    /// removed something.
    public struct PageOutcome: Sendable {
        public var records: [Record] = []
        public var failures: [(code: String, message: String, record: Record)] = []
        public var filtered = false
    }

    /// Runs every step over a page's records, sending them to worker processes in batches at each `process`
    /// step, and returns one outcome per input record, in order.
    ///
    /// - Throws: `PipelineError` when a stage has no worker left (each failed more than `max_restarts` times).
    func apply(page records: [Record], context: ExpressionContext) async throws -> [PageOutcome] {
        var outcomes = [PageOutcome](repeating: PageOutcome(), count: records.count)
        guard self.hasProcessStage else {
            for (index, record) in records.enumerated() {
                switch self.apply(record, context: context) {
                case .records(let out): outcomes[index].records = out
                case .filtered: outcomes[index].filtered = true
                case .failed(let code, let message): outcomes[index].failures = [(code, message, record)]
                }
            }
            return outcomes
        }
        // The records still flowing, with the input record each came from.
        var alive = records.enumerated().map { (origin: $0.offset, record: $0.element) }
        var start = 0
        // Each process step, then the end: the plain steps before each run record by record.
        let stops = self.steps.indices.filter { if case .process = self.steps[$0] { true } else { false } }
        for position in stops + [self.steps.count] {
            // The plain steps since the last stage, record by record.
            if position > start {
                let segment = self.steps[start..<position]
                var next: [(origin: Int, record: Record)] = []
                for item in alive {
                    switch Self.apply(segment, offset: start, to: item.record, context: context) {
                    case .records(let out): next += out.map { (item.origin, $0) }
                    case .filtered: outcomes[item.origin].filtered = true
                    case .failed(let code, let message):
                        outcomes[item.origin].failures.append((code, message, item.record))
                    }
                }
                alive = next
            }
            start = position + 1
            guard position < self.steps.count, case .process(let stage) = self.steps[position], !alive.isEmpty else {
                continue
            }
            guard let pool = self.pools.pools[stage.id] else {
                throw PipelineError("\(stage.id) (process): its workers were not started")
            }
            let answers: [RecordOutcome]
            do {
                answers = try await stage.run(alive.map(\.record), on: pool)
            } catch let error as ProcessPoolError {
                throw PipelineError("\(stage.id) (process): \(error)")
            }
            var next: [(origin: Int, record: Record)] = []
            for (item, answer) in zip(alive, answers) {
                switch answer {
                case .result(.object(let record)): next.append((item.origin, record))
                case .result(.null): outcomes[item.origin].filtered = true
                case .result(.array(let values)):
                    for value in values {
                        if case .object(let record) = value {
                            next.append((item.origin, record))
                        } else {
                            next.append((item.origin, ["value": value]))
                        }
                    }
                case .result(let value): next.append((item.origin, ["value": value]))
                case .error(let message), .lost(let message):
                    outcomes[item.origin].failures.append(
                        ("process", "transform step \(position + 1) (process): \(message)", item.record))
                }
            }
            alive = next
        }
        for item in alive { outcomes[item.origin].records.append(item.record) }
        return outcomes
    }

    /// Runs every step over `record` (a chain with a `process` step needs ``apply(page:context:)``).
    public func apply(_ record: Record, context: ExpressionContext) -> TransformOutcome {
        Self.apply(self.steps[...], offset: 0, to: record, context: context)
    }

    /// Runs `steps` (numbered from `offset + 1` in messages) over `record`.
    private static func apply(
        _ steps: ArraySlice<Transform>, offset: Int, to record: Record, context: ExpressionContext
    ) -> TransformOutcome {
        if steps.isEmpty { return .records([record]) }
        var current = [record]
        var filteredAny = false
        for (index, step) in steps.enumerated() {
            let position = offset + index
            var next: [Record] = []
            next.reserveCapacity(current.count)
            guard case .record(let transform) = step else {
                return .failed(
                    code: "transform",
                    message: "transform step \(position + 1) runs worker processes; it needs the page-level apply")
            }
            for record in current {
                do {
                    if try !transform.apply(record, context: context, into: &next) { filteredAny = true }
                } catch {
                    let name = type(of: transform).spec.name
                    return .failed(
                        code: "transform",
                        message: "transform step \(position + 1) (\(name))" + (error.part.map { ", \($0)" } ?? "")
                            + ": \(error.message)")
                }
            }
            current = next
            if current.isEmpty { break }
        }
        if current.isEmpty && filteredAny { return .filtered }
        return .records(current)
    }
}
