import GatherCore
import GatherFormats
import GatherPipeline
import GatherSQLite
import GatherStore
import GatherTesting

#if canImport(Glibc)
    import Glibc
#endif

/// A fresh temporary folder.
func temporaryDirectory() -> String {
    ScratchFolder.untilExit("pipeline")
}

/// A resource against the sample API.
func resource(
    _ name: String, path: String, paginator: (any PaginatorKind)? = nil, select: String? = nil, key: [String] = [],
    write: WriteMode = .append
) throws -> ResourceDefinition {
    var r = ResourceDefinition(name: name)
    r.http.path = path
    r.http.paginator = paginator.map { Paginator(kind: $0) }
    r.select = try select.map { try JSONPath($0) }
    r.primaryKey = key
    r.write = write
    return r
}

/// Runs `resources` against `api` into `database` (a new temporary one by default).
@discardableResult
func run(
    _ resources: [ResourceDefinition], api: SampleAPI, database: String? = nil, secrets: [String] = [],
    fresh: Bool = false, limits: [String: FlowLimits] = [:], name: String = "test"
) async throws -> (summary: RunSummary, db: SQLiteDatabase) {
    let path = database ?? temporaryDirectory() + "/out.db"
    var pipeline = PipelineDefinition(
        name: name, destination: .sqlite(path: path), limits: limits, resources: resources, secrets: secrets)
    pipeline.defaults.baseURL = api.baseURL
    var options = PipelineRunner.Options()
    options.fresh = fresh
    let summary = try await PipelineRunner(pipeline, options: options).run()
    return (summary, try SQLiteDatabase(path: path))
}

extension SQLiteDatabase {
    func count(_ table: String) throws -> Int64 {
        try self.query("SELECT count(*) FROM \(quoteIdentifier(table))").first?.first?.intValue ?? -1
    }

    func ints(_ sql: String) throws -> [Int64] {
        try self.query(sql).compactMap { $0.first?.intValue }
    }
}
