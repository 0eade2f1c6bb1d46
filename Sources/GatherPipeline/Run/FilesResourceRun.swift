import GatherCore
import GatherFiles
import GatherStore

/// Runs a `files` resource: `gather load`'s reader (many files at once, checkpoints committed with the rows in
/// state scope `files:RESOURCE`), with the resource's transforms applied to every record.
enum FilesResourceRun {
    static func run(_ resource: ResourceDefinition, shared: RunShared) async throws {
        guard let source = resource.files else { return }
        var options = source.options
        options.table = resource.table
        options.mode = resource.write
        options.key = resource.primaryKey
        options.lists = resource.lists
        let scope = "files:" + resource.name
        var checkpoints: [String: LoadCheckpoint] = [:]
        for entry in try await shared.sink.state(scopePrefix: scope) where entry.scope == scope {
            checkpoints[entry.key] = LoadCheckpoint(json: entry.value)
        }
        let loader = FileLoader(sink: shared.sink, options: options, stop: shared.stop)
        let files: [LoadFile]
        do {
            files = try loader.files(for: source.paths)
        } catch {
            // Missing input is this resource's failure, not the run's: an error row, and the others go on.
            var batch = SinkBatch()
            batch.errors = [
                ErrorRow(
                    runID: shared.runID, resource: resource.name, request: source.paths.joined(separator: " "),
                    code: "file_not_found", message: "\(error)", payload: nil,
                    at: Timestamp.now())
            ]
            var counts = ResourceCounts(runID: shared.runID, resource: resource.name)
            counts.errors = 1
            batch.counts = [counts]
            try await shared.sink.commit(batch)
            return
        }
        var transform: (@Sendable (Record) -> RecordTransformResult)?
        if !resource.transforms.isEmpty {
            let chain = TransformChain(resource.transforms)
            let context = shared.expressionContext
            transform = { record in chain.apply(record, context: context) }
        }
        _ = try await loader.load(
            files,
            context: LoadContext(runID: shared.runID, scope: scope, resource: resource.name, transform: transform),
            checkpoints: checkpoints)
    }
}
