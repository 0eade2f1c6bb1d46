import Foundation
import GatherCore
import GatherSQLite
import GatherTesting
import Testing

/// `--otlp-endpoint`: OpenTelemetry spans per request, page and commit, exported over OTLP/HTTP to a real
/// collector stand-in, checked against what the command did.
@Suite struct TracingCommandTests {
    /// OTLP/JSON, so the collector can read the spans without protobuf.
    static var environment: [String: String] {
        var environment = ProcessInfo.processInfo.environment
        environment["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/json"
        return environment
    }

    @Test(.timeLimit(.minutes(1)))
    func fetchSendsAClientSpanPerAttempt() async throws {
        let scratch = try ScratchFolder()
        defer { scratch.remove() }
        try await TraceCollector.withCollector { collector in
            try await FixtureServer.withServer { server in
                // 20 good items, one that answers 500 to its first attempt (two spans), one 404.
                var lines = (0..<20).map { server.url("/json/\($0)?key=s3cret") }
                lines += [server.url("/flaky/t1?fail=1&status=500"), server.url("/status/404")]
                let input = try scratch.write("in.txt", lines.joined(separator: "\n"))
                let result = try await runGather(
                    [
                        "fetch", input, "--no-progress", "--out", scratch.file("out.jsonl"), "--otlp-endpoint",
                        collector.endpoint,
                    ], environment: Self.environment)
                #expect(result.status == 1, "\(result.stderr)")
                #expect(collector.rejected.isEmpty, "\(collector.rejected)")
                let spans = collector.spans.filter { $0.name == "GET" }
                #expect(spans.count == 23, "\(collector.spans.map(\.name))")
                #expect(spans.allSatisfy { $0.kind == 3 && $0.attributes["server.port"] == .int(Int64(server.port)) })
                let statuses = spans.compactMap { $0.attributes["http.response.status_code"]?.intValue }.sorted()
                #expect(statuses == Array(repeating: 200, count: 21) + [404, 500])
                #expect(spans.filter { $0.statusCode == 2 }.count == 2, "the 404 and the 500 are errors")
                let retried = spans.filter { $0.attributes["url.full"] == .string(server.url("/flaky/t1")) }
                #expect(
                    retried.compactMap { $0.attributes["http.request.resend_count"]?.intValue }.sorted() == [0, 1])
                // The query string (where keys travel) stays out of the spans.
                #expect(!spans.contains { "\($0.attributes)".contains("s3cret") })
            }
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func aPipelineRunHasPageSpansWithTheirCommits() async throws {
        let scratch = try ScratchFolder()
        defer { scratch.remove() }
        let pipeline = try scratch.write(
            "p.yaml",
            """
            name: traced
            destination: sqlite:${OUT_DB}
            resources:
              - name: items
                http:
                  base_url: ${SAMPLE_API}
                  path: /offset/items
                  paginate: { type: offset, limit: 10, total: "$.total" }
                select: "$.items[*]"
                primary_key: id
            """)
        try await TraceCollector.withCollector { collector in
            try await SampleAPI.withServer(.init(itemCount: 50, repoCount: 1)) { api in
                var environment = Self.environment
                environment["SAMPLE_API"] = api.baseURL
                environment["OUT_DB"] = scratch.file("out.db")
                let result = try await runGather(
                    ["run", pipeline, "--otlp-endpoint", collector.endpoint], environment: environment)
                #expect(result.status == 0, "\(result.stderr)")
            }
            let spans = collector.spans
            let pages = spans.filter { $0.name == "page" }
            #expect(pages.count == 5, "\(spans.map(\.name))")
            #expect(
                Set(pages.compactMap { $0.attributes["gather.page.index"]?.intValue }) == [0, 1, 2, 3, 4])
            #expect(pages.allSatisfy { $0.attributes["gather.resource"] == .string("items") })
            #expect(spans.filter { $0.name == "GET" }.count == 5)
            // Each page's rows commit inside its span, in the same trace.
            let pageCommits = spans.filter { span in
                span.name == "commit" && pages.contains { $0.spanID == span.parentSpanID && $0.traceID == span.traceID }
            }
            #expect(pageCommits.count == 5, "\(spans.map { ($0.name, $0.parentSpanID) })")
            // The rows the commits report are the rows in the database (items and their child tables).
            let rows = pageCommits.compactMap { $0.attributes["gather.commit.rows"]?.intValue }.reduce(0, +)
            let database = try SQLiteDatabase(path: scratch.file("out.db"))
            let tables = try database.query(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '\\_%' ESCAPE '\\'")
            var stored: Int64 = 0
            for table in tables.compactMap({ $0.first?.stringValue }) {
                stored += try database.query("SELECT count(*) FROM \"\(table)\"").first?.first?.intValue ?? 0
            }
            #expect(stored > 50 && rows == stored, "\(tables)")
        }
    }

    @Test func aCollectorThatIsNotAURLIsAUsageError() async throws {
        let result = try await runGather(["fetch", "-", "--otlp-endpoint", "127.0.0.1:4318"], stdin: "")
        #expect(result.status == 2, "\(result.stderr)")
        #expect(result.stderr.contains("--otlp-endpoint"), "\(result.stderr)")
    }
}
