// The umbrella module: `import Gather` gives a library user the values, JSON, bounded fan-out, flow control,
// retry policy, the HTTP fetcher, the SQLite sink and the jobs the `gather` command runs.
@_exported import GatherConfig
@_exported import GatherCoordinator
@_exported import GatherCore
@_exported import GatherCrawl
@_exported import GatherExpressions
@_exported import GatherFiles
@_exported import GatherFormats
@_exported import GatherHTML
@_exported import GatherHTTP
@_exported import GatherJobs
@_exported import GatherPipeline
@_exported import GatherPostgres
@_exported import GatherProcess
@_exported import GatherSQLite
@_exported import GatherServe
@_exported import GatherStore
@_exported import GatherStream
