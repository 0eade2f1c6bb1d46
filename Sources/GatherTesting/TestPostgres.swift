import GatherCore
public import GatherPostgres
import GatherStore

/// The PostgreSQL server tests run against: `scripts/test` starts a throwaway PostgreSQL 15 cluster
/// (`scripts/pg-cluster`) and exports its URL as `GATHER_PG_URL`; each test takes a database of its own.
///
/// Tests that need PostgreSQL fail, loudly, when there is no server: they never skip.
public enum TestPostgres {
    /// The cluster's URL, from `GATHER_PG_URL`.
    /// - Throws: ``PostgresError`` saying how to get a server.
    public static func serverURL() throws -> PostgresURL {
        let environment = PostgresURL.processEnvironment()
        guard let text = environment["GATHER_PG_URL"], !text.isEmpty else {
            throw PostgresError(
                "GATHER_PG_URL is not set: PostgreSQL tests need a server. Run them with scripts/test (which starts "
                    + "a throwaway PostgreSQL 15 cluster), or `eval \"$(scripts/pg-cluster start)\"` first")
        }
        return try PostgresURL(text)
    }

    /// A new, empty database on the test cluster (or on the cluster at `server`), named after `label` plus a
    /// random suffix.
    public static func freshDatabase(_ label: String, on server: PostgresURL? = nil) async throws -> PostgresURL {
        let url = try server ?? Self.serverURL()
        let safe = label.lowercased().map { $0.isLetter || $0.isNumber ? $0 : "_" }
        let name = "t_" + String(safe.prefix(40)) + "_" + String(UInt32.random(in: 0...UInt32.max), radix: 36)
        let server = try await PostgresServer.connect(url, maxConnections: 1)
        do {
            try await server.execute("CREATE DATABASE \(quoteIdentifier(name))")
        } catch {
            await server.close()
            throw PostgresError("cannot create the test database \(name): \(describe(error))")
        }
        await server.close()
        return url.with(database: name)
    }

    /// Runs `body` with a connection pool to `url`, closing it afterwards.
    public static func withServer<T: Sendable>(
        _ url: PostgresURL, _ body: (PostgresServer) async throws -> T
    ) async throws -> T {
        let server = try await PostgresServer.connect(url, maxConnections: 2)
        do {
            let result = try await body(server)
            await server.close()
            return result
        } catch {
            await server.close()
            throw error
        }
    }

    /// Every data table's rows (all columns but Gather's own `_gather_*` ones), sorted, as text: what a kill
    /// test compares with a clean run's.
    public static func snapshot(_ url: PostgresURL) async throws -> [String: [String]] {
        try await Self.withServer(url) { server in
            var tables: [String: [String]] = [:]
            let names = try await server.query(
                "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public' "
                    + "AND table_name NOT LIKE '\\_gather%'")
            for row in names {
                guard let table = row.first?.stringValue else { continue }
                let columns = try await server.query(
                    "SELECT column_name::text FROM information_schema.columns WHERE table_schema = 'public' "
                        + "AND table_name = $1 AND column_name NOT LIKE '\\_gather%' ORDER BY ordinal_position",
                    [.string(table)]
                ).compactMap { $0.first?.stringValue }
                let list = columns.map { quoteIdentifier($0) + "::text" }.joined(separator: ", ")
                tables[table] = try await server.query("SELECT \(list) FROM \(quoteIdentifier(table))").map {
                    "\($0)"
                }.sorted()
            }
            return tables
        }
    }
}
