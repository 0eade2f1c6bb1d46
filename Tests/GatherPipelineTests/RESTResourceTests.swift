import GatherCore
import GatherFormats
import GatherHTTP
import GatherPipeline
import GatherSQLite
import GatherStore
import GatherTesting
import Testing

@Suite struct PaginatorTests {
    @Test func offsetWithTotalFetchesPagesInParallel() async throws {
        try await SampleAPI.withServer(.init(itemCount: 250, latency: .milliseconds(20))) { api in
            let items = try resource(
                "items", path: "/offset/items",
                paginator: OffsetPaginator(
                    limit: 10, offsetParam: "offset", limitParam: "limit", total: JSONPath("$.total")),
                select: "$.items[*]", key: ["id"], write: .merge)
            let (summary, db) = try await run([items], api: api)
            #expect(try db.count("items") == 250)
            #expect(try db.ints("SELECT count(DISTINCT id) FROM items") == [250])
            #expect(summary.resources[0].pages == 25)
            #expect(summary.resources[0].written == 250)
            #expect(api.stats.maxInFlight(pathPrefix: "/offset/") > 4)
        }
    }

    @Test func pageNumberWithTotalPages() async throws {
        try await SampleAPI.withServer(.init(itemCount: 95)) { api in
            var items = try resource(
                "items", path: "/pages/items",
                paginator: PageNumberPaginator(
                    param: "page", start: 1, totalPages: JSONPath("$.total_pages"), total: nil, pageSize: 10,
                    pageSizeParam: "per_page"), key: ["id"])
            items.select = nil  // the first list field ("data") is found without select
            let (summary, db) = try await run([items], api: api)
            #expect(try db.count("items") == 95)
            #expect(summary.resources[0].pages == 10)
        }
    }

    @Test func pageNumberWithoutTotalStopsOnEmptyPage() async throws {
        try await SampleAPI.withServer(.init(itemCount: 45)) { api in
            let items = try resource(
                "items", path: "/pages/items",
                paginator: PageNumberPaginator(
                    param: "page", start: 1, totalPages: nil, total: nil, pageSize: 10, pageSizeParam: "per_page"),
                select: "$.data[*]")
            let (summary, db) = try await run([items], api: api)
            #expect(try db.count("items") == 45)
            #expect(summary.resources[0].pages == 6)  // 5 full or partial pages and the empty one
        }
    }

    @Test func cursorFromBodyAndFromHeader() async throws {
        try await SampleAPI.withServer(.init(itemCount: 60, pageSize: 25)) { api in
            let body = try resource(
                "body", path: "/cursor/items",
                paginator: CursorPaginator(param: "cursor", next: JSONPath("$.meta.next_cursor"), header: nil),
                select: "$.data[*]")
            let header = try resource(
                "header", path: "/cursor/items",
                paginator: CursorPaginator(param: "cursor", next: nil, header: "X-Next-Cursor"),
                select: "$.data[*]")
            let (summary, db) = try await run([body, header], api: api)
            #expect(try db.count("body") == 60)
            #expect(try db.count("header") == 60)
            #expect(summary.resources.map(\.pages) == [3, 3])
        }
    }

    @Test func jsonLinkAndLinkHeader() async throws {
        try await SampleAPI.withServer(.init(itemCount: 70, pageSize: 20)) { api in
            let json = try resource(
                "json", path: "/jsonlink/items", paginator: JSONLinkPaginator(next: JSONPath("$.next")),
                select: "$.results[*]")
            let link = try resource("link", path: "/link/items", paginator: LinkHeaderPaginator())
            let (summary, db) = try await run([json, link], api: api)
            #expect(try db.count("json") == 70)
            #expect(try db.count("link") == 70)
            #expect(summary.resources.map(\.pages) == [4, 4])
        }
    }

    @Test func maxPagesAndMaxItems() async throws {
        try await SampleAPI.withServer(.init(itemCount: 200, pageSize: 20)) { api in
            var pages = try resource("pages", path: "/link/items", paginator: LinkHeaderPaginator())
            pages.http.paginator?.maxPages = 3
            var items = try resource("items", path: "/link/items", paginator: LinkHeaderPaginator())
            items.http.paginator?.maxItems = 50
            var offset = try resource(
                "offset", path: "/offset/items",
                paginator: OffsetPaginator(
                    limit: 20, offsetParam: "offset", limitParam: "limit", total: JSONPath("$.total")))
            offset.http.paginator?.maxItems = 50
            let (_, db) = try await run([pages, items, offset], api: api)
            #expect(try db.count("pages") == 60)
            #expect(try db.count("items") == 50)
            #expect(try db.count("offset") == 50)
        }
    }

    /// 503 (JSON, `Retry-After: 0`) and 500 (an HTML error page, as a web framework's) on a third of first
    /// attempts: both retried by default, nothing lost, the retries counted by cause.
    @Test(arguments: [503, 500])
    func transientFailuresAreRetriedAndNothingIsLost(status: Int) async throws {
        var configuration = SampleAPI.Configuration(itemCount: 300, transientFailureEvery: 3)
        configuration.transientFailureStatus = status
        try await SampleAPI.withServer(configuration) { api in
            let items = try resource(
                "items", path: "/offset/items",
                paginator: OffsetPaginator(
                    limit: 25, offsetParam: "offset", limitParam: "limit", total: JSONPath("$.total")),
                key: ["id"])
            let (summary, db) = try await run([items], api: api)
            #expect(api.stats.injectedFailures() > 0)
            #expect(try db.count("items") == 300)
            #expect(summary.resources[0].retries == api.stats.injectedFailures())
            #expect(summary.retryCauses == ["http_\(status)": api.stats.injectedFailures()])
            #expect(summary.render().contains("retries by cause: http_\(status) \(api.stats.injectedFailures())"))
            #expect(try db.count("_gather_errors") == 0)
        }
    }

    @Test func responseActionsIgnoreAndFailInAResource() async throws {
        try await FixtureServer.withServer { server in
            // A 404 that means "no data" is no error; a 403 stops the resource: its other items are error rows
            // that say why, never requests.
            var ignore = ResourceDefinition(name: "missing")
            ignore.http.path = server.url("/status/404")
            ignore.http.responseActions = [ResponseAction(statuses: [404], action: .ignore)]
            var denied = ResourceDefinition(name: "denied")
            denied.http.path = server.url("/status/403")
            denied.http.responseActions = [ResponseAction(statuses: [401, 403], action: .fail)]
            let path = temporaryDirectory() + "/out.db"
            let pipeline = PipelineDefinition(
                name: "actions", destination: .sqlite(path: path), resources: [ignore, denied])
            let summary = try await PipelineRunner(pipeline, options: PipelineRunner.Options()).run()
            let db = try SQLiteDatabase(path: path)
            #expect(summary.resources.first { $0.resource == "missing" }?.errors == 0)
            #expect(summary.resources.first { $0.resource == "missing" }?.records == 0)
            let codes = try db.query("SELECT code FROM _gather_errors").map { $0.first?.stringValue }
            #expect(codes == ["response_action"])
            #expect(server.stats.count("/status/403") == 1)
        }
    }
}

@Suite struct AuthTests {
    private func offset(_ name: String, _ path: String, _ auth: (any AuthScheme)?) throws -> ResourceDefinition {
        var r = try resource(
            name, path: path,
            paginator: OffsetPaginator(
                limit: 50, offsetParam: "offset", limitParam: "limit", total: JSONPath("$.total")))
        r.http.auth = auth
        return r
    }

    @Test func eachAuthType() async throws {
        try await SampleAPI.withServer(.init(itemCount: 120)) { api in
            let resources = try [
                offset("bearer", "/auth/bearer/items", BearerAuth(token: "demo-token")),
                offset("basic", "/auth/basic/items", BasicAuth(username: "demo", password: "s3cret-pass")),
                offset(
                    "key_header", "/auth/apikey/items",
                    APIKeyAuth(name: "X-API-Key", value: "k-123456", location: .header)
                ),
                offset(
                    "key_query", "/auth/apikey/items", APIKeyAuth(name: "api_key", value: "k-123456", location: .query)),
                offset(
                    "oauth", "/oauth/items",
                    OAuth2ClientCredentials(
                        tokenURL: api.url("/oauth/token"), clientID: "gather-client", clientSecret: "client-s3cret",
                        scope: nil, audience: nil)),
            ]
            let (summary, db) = try await run(resources, api: api)
            for name in ["bearer", "basic", "key_header", "key_query", "oauth"] {
                #expect(try db.count(name) == 120, "\(name)")
            }
            #expect(summary.total.errors == 0)
            #expect(api.stats.requestCount(pathPrefix: "/oauth/token") == 1)
        }
    }

    @Test func oauthTokenIsRefreshedAfterExpiryOrRevocation() async throws {
        try await SampleAPI.withServer(.init(itemCount: 100, pageSize: 10, tokenLifetime: .seconds(60))) { api in
            var r = try resource("oauth", path: "/oauth/items", paginator: LinkHeaderPaginator())
            r.http.path = "/oauth/items"
            r.http.paginator = Paginator(
                kind: OffsetPaginator(limit: 10, offsetParam: "offset", limitParam: "limit", total: nil))
            r.http.auth = OAuth2ClientCredentials(
                tokenURL: api.url("/oauth/token"), clientID: "gather-client", clientSecret: "client-s3cret", scope: nil,
                audience: nil)
            let path = temporaryDirectory() + "/o.db"
            try await run([r], api: api, database: path)
            api.revokeTokens()
            let (summary, db) = try await run([r], api: api, database: path)
            #expect(summary.total.errors == 0)
            #expect(try db.count("oauth") == 200)
            #expect(api.stats.requestCount(pathPrefix: "/oauth/token") == 2)
        }
    }

    @Test func wrongCredentialsBecomeRedactedErrorRows() async throws {
        try await SampleAPI.withServer(.init(itemCount: 10)) { api in
            let secret = "wrong-but-secret-token"
            let r = try offset("bearer", "/auth/bearer/items?token=\(secret)", BearerAuth(token: secret))
            let (summary, db) = try await run([r], api: api, secrets: [secret])
            #expect(summary.total.errors == 1)
            let rows = try db.query("SELECT request, code, message, payload FROM _gather_errors")
            #expect(rows.count == 1)
            #expect(rows[0][1] == "http_status")
            let everything =
                try db.query("SELECT * FROM _gather_errors") + db.query("SELECT * FROM _gather_state")
                + db.query("SELECT * FROM _gather_runs")
            #expect(!"\(everything)".contains(secret))
            #expect("\(rows[0][0])".contains("***"))
            #expect(!summary.render().contains(secret))
        }
    }
}

@Suite struct DependentAndIncrementalTests {
    @Test func dependentResourceFansOutPerParentWithIncludedFields() async throws {
        try await SampleAPI.withServer(.init(repoCount: 12)) { api in
            var repos = try resource(
                "repos", path: "/orgs/{org}/repos", paginator: LinkHeaderPaginator(), key: ["id"], write: .merge)
            repos.forEach = [("org", ["org-a", "org-b"])]
            var contributors = try resource(
                "contributors", path: "/repos/{repos.id}/contributors", paginator: LinkHeaderPaginator(),
                key: ["repo_id", "login"],
                write: .merge)
            contributors.parent = "repos"
            contributors.include = [("repo_id", "repos.id"), ("repo_name", "repos.full_name")]
            let (_, db) = try await run([repos, contributors], api: api)
            #expect(try db.count("repos") == 12)
            let expected = (1...12).reduce(0) { $0 + api.contributors(repo: $1).count }
            #expect(try db.count("contributors") == Int64(expected))
            let mismatched = try db.query(
                "SELECT count(*) FROM contributors c JOIN repos r ON r.id = c.repo_id WHERE c.repo_name != r.full_name OR c.repo != c.repo_id"
            )
            #expect(mismatched == [[0]])
        }
    }

    @Test func secondRunFetchesAndMergesExactlyTheChangedRecords() async throws {
        try await SampleAPI.withServer(.init(itemCount: 120, pageSize: 25)) { api in
            var items = try resource(
                "items", path: "/link/items", paginator: LinkHeaderPaginator(), key: ["id"], write: .merge)
            items.incremental = Incremental(cursor: "updated_at", param: "since", initial: "2023-01-01T00:00:00Z")
            let path = temporaryDirectory() + "/inc.db"
            let first = try await run([items], api: api, database: path)
            #expect(first.summary.resources[0].records == 120)
            let firstMax = try first.db.query("SELECT max(updated_at) FROM items").first?.first?.stringValue
            let touched = api.touch(count: 7)
            #expect(touched.count == 7)
            let second = try await run([items], api: api, database: path)
            #expect(second.summary.resources[0].records == 7)
            #expect(try second.db.count("items") == 120)
            #expect(api.stats.sinceValues(pathPrefix: "/link/").contains(firstMax ?? "?"))
            let changed = try second.db.query(
                "SELECT id, updated_at FROM items WHERE id IN (\(touched.map(String.init).joined(separator: ",")))")
            #expect(changed.count == 7)
            for row in changed {
                let id = Int(row[0].intValue ?? 0)
                #expect(row[1] == api.item(id: id)?["updated_at"])
            }
            let third = try await run([items], api: api, database: path)
            #expect(third.summary.resources[0].records == 0)
        }
    }

    @Test func incrementalStateIsPerForEachValue() async throws {
        try await SampleAPI.withServer(.init(repoCount: 10)) { api in
            var repos = try resource(
                "repos", path: "/orgs/{org}/repos", paginator: LinkHeaderPaginator(), key: ["id"], write: .merge)
            repos.forEach = [("org", ["org-a", "org-b"])]
            repos.incremental = Incremental(cursor: "updated_at", param: "since", initial: nil)
            let path = temporaryDirectory() + "/inc.db"
            try await run([repos], api: api, database: path)
            let db = try SQLiteDatabase(path: path)
            let keys = try db.query("SELECT key FROM _gather_state WHERE scope = 'incremental:repos' ORDER BY key")
            #expect(keys == [["org=org-a"], ["org=org-b"]])
        }
    }
}

@Suite struct SinkBehaviourTests {
    @Test func childTablesAndFlattenedColumns() async throws {
        try await SampleAPI.withServer { api in
            let orders = try resource(
                "orders", path: "/nested/orders",
                paginator: PageNumberPaginator(
                    param: "page", start: 1, totalPages: JSONPath("$.total_pages"), total: nil, pageSize: nil,
                    pageSizeParam: nil),
                key: ["id"], write: .merge)
            let (_, db) = try await run([orders], api: api)
            #expect(try db.count("orders") == 30)
            let lines = api.orders().reduce(0) { $0 + ($1["lines"]?.arrayValue?.count ?? 0) }
            #expect(try db.count("orders__lines") == Int64(lines))
            let columns = try db.query("SELECT name FROM pragma_table_info('orders')").compactMap {
                $0.first?.stringValue
            }
            #expect(columns.contains("customer__address__city"))
            let orphans = try db.query(
                "SELECT count(*) FROM orders__lines l LEFT JOIN orders o ON o._gather_key = l._gather_parent_key WHERE o.id IS NULL"
            )
            #expect(orphans == [[0]])
        }
    }

    @Test func writeModes() async throws {
        try await SampleAPI.withServer(.init(itemCount: 40)) { api in
            let path = temporaryDirectory() + "/modes.db"
            func items(_ name: String, _ mode: WriteMode) throws -> ResourceDefinition {
                try resource(
                    name, path: "/link/items", paginator: LinkHeaderPaginator(), key: mode == .merge ? ["id"] : [],
                    write: mode)
            }
            let resources = try [items("appended", .append), items("replaced", .replace), items("merged", .merge)]
            try await run(resources, api: api, database: path)
            let (_, db) = try await run(resources, api: api, database: path)
            #expect(try db.count("appended") == 80)
            #expect(try db.count("replaced") == 40)
            #expect(try db.count("merged") == 40)
            #expect(try db.count("appended__tags") == 160)
            #expect(try db.count("replaced__tags") == 80)
            #expect(try db.count("merged__tags") == 80)
        }
    }

    @Test func hostileKeysBecomeHarmlessColumns() async throws {
        try await SampleAPI.withServer { api in
            let (_, db) = try await run([try resource("hostile", path: "/hostile/items")], api: api)
            #expect(try db.count("hostile") == Int64(api.hostileRecords().count))
            let columns = try db.query("SELECT name FROM pragma_table_info('hostile')").compactMap {
                $0.first?.stringValue
            }
            #expect(columns.contains("\"; DROP TABLE x; --"))
            #expect(try db.query("SELECT count(*) FROM sqlite_master WHERE name = 'hostile'") == [[1]])
        }
    }
}
