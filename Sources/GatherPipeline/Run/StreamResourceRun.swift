import GatherCore
import GatherStore
import GatherStream

/// Runs a `stream` resource: ``StreamJob`` from GatherStream with the resource's transforms, its table and the
/// run's sink, until the run stops (SIGINT/SIGTERM), the stream is idle for `--idle-exit`, or the source ends.
enum StreamResourceRun {
    struct Options: Sendable {
        var idleExit: Duration?
        var flushWindows = false
    }

    static func run(_ resource: ResourceDefinition, shared: RunShared, options: Options) async throws {
        guard let stream = resource.stream else { return }
        var configuration = StreamJob.Configuration(
            resource: resource.name, table: resource.table, eventTime: stream.eventTime)
        if let late = stream.lateTable { configuration.lateTable = late }
        configuration.maxDelay = stream.maxDelay
        configuration.idle = stream.idle
        configuration.partition = stream.partition
        configuration.window = stream.window
        configuration.write = resource.write
        configuration.primaryKey = resource.primaryKey
        configuration.lists = resource.lists
        configuration.commitEvents = stream.commitEvents
        configuration.commitInterval = stream.commitInterval
        configuration.idleExit = options.idleExit
        configuration.flushWindows = options.flushWindows
        var transform: (@Sendable (Record) -> RecordTransformResult)?
        if !resource.transforms.isEmpty {
            let chain = TransformChain(resource.transforms)
            let context = shared.expressionContext
            transform = { record in chain.apply(record, context: context) }
        }
        let job = StreamJob(configuration, source: stream.source, transform: transform)
        let statistics = StreamStatistics(resource: resource.name)
        shared.progress.attachStream(resource.name, statistics)
        // Streams commit on their own schedule: the progress line is redrawn on a timer.
        let ticker = Task {
            while !Task.isCancelled {
                try await Task.sleep(for: .seconds(1))
                shared.progress.changed()
            }
        }
        defer { ticker.cancel() }
        do {
            _ = try await job.run(sink: shared.sink, runID: shared.runID, statistics: statistics, stop: shared.stop)
        } catch let error as StreamError {
            throw PipelineError(error.description)
        }
    }
}
