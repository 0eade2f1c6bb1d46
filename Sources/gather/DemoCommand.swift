import ArgumentParser
import Gather
import GatherTesting

#if canImport(Glibc)
    import Glibc
#endif

/// `gather demo`: a bundled sample API on loopback, an example pipeline into demo.db, the summary and some rows.
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run an example pipeline against a bundled sample API on 127.0.0.1 into demo.db (no network).",
        discussion: """
            The sample API pages its repos with Link headers (per org), its contributors per repo, and its items \
            by offset with a total (fetched in parallel). It adds a little latency and fails some requests once \
            with 503, which Gather retries. Run it twice: the second run is incremental and merges what changed.
            """
    )

    @Option(name: .long, help: "The SQLite database to write.")
    var into: String = "demo.db"

    @Flag(name: .long, help: "Print the demo pipeline's YAML and exit.")
    var printPipeline = false

    @Flag(name: .long, help: "Start over: discard saved state and incremental cursors.")
    var fresh = false

    func run() async throws {
        if self.printPipeline {
            Terminal.output(DemoPipeline.yaml)
            return
        }
        let configuration = SampleAPI.Configuration(
            itemCount: 2000, repoCount: 40, latency: .milliseconds(15), transientFailureEvery: 9)
        let into = self.into
        let fresh = self.fresh
        try await SampleAPI.withServer(configuration) { api in
            Terminal.error("gather demo: sample API on \(api.baseURL); pipeline: `gather demo --print-pipeline`")
            let directory = try TemporaryFolder.make()
            let path = directory + "/demo.yaml"
            defer {
                unlink(path)
                rmdir(directory)
            }
            guard FileBytes.write(Array(DemoPipeline.yaml.utf8), to: path) else {
                throw JobError.fatal("cannot write \(path)")
            }
            var pipeline = try PipelineLoader.load(
                path: path, environment: ["SAMPLE_API": api.baseURL, "DEMO_DB": into])
            pipeline.destination = .sqlite(path: into)
            var options = PipelineRunner.Options()
            options.progress = true
            options.fresh = fresh
            let summary = try await PipelineCommands.execute(pipeline, options: options)
            Terminal.error(summary.render())
            let db = try SQLiteDatabase(path: into)
            let rows = try db.query(
                """
                SELECT r.full_name, c.login, c.commits FROM contributors c JOIN repos r ON r.id = c.repo_id
                ORDER BY c.commits DESC, r.full_name, c.login LIMIT 5
                """)
            var text = "\nTop contributors (SELECT … FROM contributors JOIN repos … in \(into)):\n"
            for row in rows {
                text += "  \(row[0].stringValue ?? "?")  \(row[1].stringValue ?? "?")  \(row[2])\n"
            }
            let items = try db.query("SELECT category, count(*), round(avg(price_with_tax), 2) FROM items GROUP BY 1")
            text += "Items by category (count, average price with tax):\n"
            for row in items { text += "  \(row[0].stringValue ?? "?")  \(row[1])  \(row[2])\n" }
            try db.close()
            Terminal.output(text)
            if summary.outcome == "interrupted" { throw ExitCode(130) }
        }
    }
}

/// The pipeline `gather demo` runs (also `examples/github-style.yaml`'s shape).
enum DemoPipeline {
    static let yaml = """
        # gather demo: repos per org (Link header pages), their contributors (one request chain per repo),
        # and a catalogue of items (offset pages with a total, fetched in parallel).
        name: demo
        destination: sqlite:${DEMO_DB:-demo.db}
        defaults:
          http:
            base_url: ${SAMPLE_API}
            headers: { Accept: application/json }
            auth: { type: bearer, token: demo-token }
            timeout: 10s
            retry: { attempts: 4, max_delay: 2s }
        limits:
          127.0.0.1: { concurrency: 16, rate: 400/s }
        resources:
          - name: repos
            for_each: { org: [org-a, org-b] }
            http:
              path: /orgs/{org}/repos
              params: { per_page: 10 }
              paginate: link_header
            primary_key: id
            write: merge
            incremental: { cursor: updated_at, param: since, initial: "2023-01-01T00:00:00Z" }
          - name: contributors
            from: repos
            http:
              path: /repos/{repos.id}/contributors
              paginate: link_header
            include: { repo_id: repos.id }
            primary_key: [repo_id, login]
            write: merge
            transform:
              - filter: "contributions >= 10"
              - fields: { repo_id: repo_id, login: login, commits: contributions }
          - name: items
            http:
              path: /auth/bearer/items
              paginate: { type: offset, limit: 100, total: "$.total" }
            select: "$.items[*]"
            primary_key: id
            write: merge
            transform:
              - fields:
                  id: id
                  name: upper(name)
                  category: category
                  price: price
                  price_with_tax: round(price * 1.2, 2)
                  in_stock: in_stock
                  updated_at: updated_at

        """
}

/// A fresh folder under /tmp.
enum TemporaryFolder {
    static func make() throws -> String {
        var template = Array("/tmp/gather-XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { buffer -> String? in
            guard let result = mkdtemp(buffer.baseAddress!) else { return nil }
            return String(cString: result)
        }
        guard let made else { throw JobError.fatal("cannot create a temporary folder under /tmp") }
        return made
    }
}
