import GatherConfig
import GatherCore
import GatherExpressions
import GatherFormats
import GatherPipeline
import GatherTesting
import Testing

@Suite struct PipelineLoaderTests {
    /// The issue's pipeline file, exactly as written: the contract.
    static let contract = """
        name: github
        destination: sqlite:github.db          # a path ending .db/.sqlite works too; postgres:// comes with the PostgreSQL issue
        defaults:
          http:
            base_url: https://api.github.com
            headers: { Accept: application/vnd.github+json }
            auth: { type: bearer, token: "${GITHUB_TOKEN}" }
            timeout: 30s
            retry: { attempts: 5, max_delay: 60s }
        limits:
          api.github.com: { concurrency: 8, rate: 5000/h }
        resources:
          - name: repos
            for_each: { org: [apple, swiftlang] }
            http:
              path: /orgs/{org}/repos
              params: { per_page: 100 }
              paginate: { type: link_header }
            select: "$[*]"                     # RFC 9535 JSONPath into each response
            primary_key: id
            write: merge                       # append | replace | merge
            incremental: { cursor: updated_at, param: since, initial: "2024-01-01T00:00:00Z" }
          - name: contributors
            from: repos                        # once per record of `repos`
            http:
              path: /repos/{repos.full_name}/contributors
              paginate: { type: link_header }
            include: { repo_id: repos.id }
            primary_key: [repo_id, login]
            write: merge
            transform:
              - filter: "contributions >= 10"
              - fields: { repo_id: repo_id, login: login, commits: contributions }
        """

    @Test func theIssuesPipelineFileLoadsAsWritten() throws {
        let pipeline = try PipelineLoader.parse(
            text: Self.contract, file: "github.yaml", environment: ["GITHUB_TOKEN": "ghp_secret_value"])
        #expect(pipeline.name == "github")
        #expect(pipeline.destination == .sqlite(path: "github.db"))
        #expect(pipeline.defaults.baseURL == "https://api.github.com")
        #expect(pipeline.defaults.timeout == .seconds(30))
        #expect(pipeline.defaults.retry?.maxAttempts == 5)
        #expect(pipeline.defaults.retry?.maxBackoff == .seconds(60))
        #expect(pipeline.limits["api.github.com"]?.maxConcurrency == 8)
        #expect(pipeline.limits["api.github.com"]?.rate == Rate(count: 5000, per: .seconds(3600)))
        #expect(pipeline.secrets.contains("ghp_secret_value"))
        let repos = try #require(pipeline.resource(named: "repos"))
        #expect(repos.forEach.map(\.name) == ["org"])
        #expect(repos.forEach.first?.values == ["apple", "swiftlang"])
        #expect(repos.http.params.first?.value == "100")
        #expect(repos.write == .merge)
        #expect(repos.primaryKey == ["id"])
        #expect(repos.incremental?.param == "since")
        #expect(repos.incremental?.initial == "2024-01-01T00:00:00Z")
        let contributors = try #require(pipeline.resource(named: "contributors"))
        #expect(contributors.parent == "repos")
        #expect(contributors.primaryKey == ["repo_id", "login"])
        #expect(contributors.include.map(\.path) == ["repos.id"])
        #expect(contributors.transforms.count == 2)
        let bearer = try #require(pipeline.defaults.auth as? BearerAuth, "auth is not bearer")
        #expect(bearer.token == "ghp_secret_value")
    }

    @Test func expressionErrorsPointAtTheirColumnInTheFile() {
        let text = """
            name: p
            destination: x.db
            resources:
              - name: r
                http: { path: /r }
                transform:
                  - fields: { total: "price * * qty" }
            """
        #expect(throws: ConfigErrors.self) { try PipelineLoader.parse(text: text, file: "p.yaml") }
        do {
            _ = try PipelineLoader.parse(text: text, file: "p.yaml")
        } catch {
            // `"price * * qty"` starts at column 27; the second `*` is its 9th character.
            #expect(error.description.contains("p.yaml:7:35"), "\(error.description)")
        }
    }

    @Test func aPipelineDestinationIsADatabaseParsedLikeEveryOtherCommands() throws {
        func destination(_ text: String) throws -> String {
            let file = "name: p\ndestination: \(text)\nresources:\n  - name: r\n    http: { path: /r }\n"
            return try PipelineLoader.parse(text: file, file: "p.yaml").destination.description
        }
        #expect(try destination("sqlite://a.db") == "sqlite:a.db")
        #expect(try destination("a.sqlite3") == "sqlite:a.sqlite3")
        for (text, expected) in [
            ("out.jsonl", "p.yaml:2:14: out.jsonl is a file, but this writes to a database"),
            ("results", "p.yaml:2:14: cannot tell what kind of destination results is"),
        ] {
            do {
                _ = try destination(text)
                Issue.record("\(text) was accepted")
            } catch {
                #expect("\(error)".contains(expected), "\(error)")
            }
        }
    }

    /// Settings left out take their spec's default (the one `docs/reference.md` shows): the loader restates none.
    @Test func absentSettingsTakeTheDefaultsTheReferenceShows() throws {
        let text = """
            name: p
            destination: x.db
            resources:
              - name: r
                http: { path: /r, paginate: offset }
            """
        let pipeline = try PipelineLoader.parse(text: text, file: "p.yaml")
        let resource = try #require(pipeline.resource(named: "r"))
        func specDefault(_ spec: ComponentSpec, _ field: String) -> String? {
            spec.fields.first { $0.name == field }?.defaultValue
        }
        #expect(String(resource.fanOut) == specDefault(PipelineSpecs.resource, "fan_out"))
        #expect(String(resource.parallelPages) == specDefault(PipelineSpecs.resource, "parallel_pages"))
        #expect(resource.write.rawValue == specDefault(PipelineSpecs.resource, "write"))
        let paginator = try #require(resource.http.paginator)
        let offset = try #require(paginator.kind as? OffsetPaginator, "expected offset pagination")
        #expect(String(offset.limit) == specDefault(OffsetPaginator.spec, "limit"))
        #expect(offset.offsetParam == specDefault(OffsetPaginator.spec, "offset_param"))
        #expect(offset.limitParam == specDefault(OffsetPaginator.spec, "limit_param"))
        #expect(String(paginator.stopOnEmpty) == specDefault(OffsetPaginator.spec, "stop_on_empty"))
    }

    @Test func crossResourceChecks() {
        let text = """
            name: p
            destination: x.db
            resources:
              - name: a
                http: { path: "/a/{org}" }
                include: { x: y }
              - name: b
                from: c
                http: { path: /b }
              - name: a
                http: { path: /a }
                write: merge
            """
        do {
            _ = try PipelineLoader.parse(text: text, file: "p.yaml")
            Issue.record("expected errors")
        } catch {
            let text = error.description
            #expect(text.contains("{org}"), "\(text)")
            #expect(text.contains("include copies parent fields"), "\(text)")
            #expect(text.contains("there is no resource 'c'"), "\(text)")
            #expect(text.contains("a second resource is called 'a'"), "\(text)")
            #expect(text.contains("merge needs a primary_key"), "\(text)")
        }
    }

    /// A resource has one source. Before `ResourceSource`, a resource with both `files:` and `crawl:` was accepted
    /// and ran twice, once as each.
    @Test(arguments: [
        ("files: { paths: [a.csv] }", "crawl: { start: [\"http://127.0.0.1/\"] }", "files and crawl"),
        ("sql: { query: \"SELECT 1 AS one\" }", "files: { paths: [a.csv] }", "sql and files"),
        ("sql: { query: \"SELECT 1 AS one\" }", "stream: { type: tail, path: x.jsonl }", "sql and stream"),
    ])
    func aResourceWithTwoSourcesIsAnErrorAtTheSecond(first: String, second: String, named: String) {
        let text = """
            name: p
            destination: x.db
            resources:
              - name: both
                \(first)
                \(second)
            """
        do {
            _ = try PipelineLoader.parse(text: text, file: "p.yaml")
            Issue.record("expected an error for \(named)")
        } catch {
            let text = error.description
            #expect(text.contains("p.yaml:6:"), "\(text)")
            #expect(text.contains("a resource reads from one source, but this one has \(named)"), "\(text)")
            #expect(text.contains("split it into one resource each"), "\(text)")
        }
    }

    @Test func aSQLResourceHasTheSQLSource() throws {
        let one = try PipelineLoader.parse(
            text: "name: p\ndestination: x.db\nresources:\n  - name: q\n    sql: { query: SELECT 1 }\n", file: "p.yaml")
        guard case .sql(let source)? = one.resources.first?.source else {
            Issue.record("a sql resource should have the sql source")
            return
        }
        #expect(source.query == "SELECT 1")
    }

    @Test func specsAreWellFormed() {
        for spec in PipelineSpecs.all {
            #expect(spec.specProblems().isEmpty, "\(spec.name): \(spec.specProblems())")
        }
    }
}

/// Every example the reference shows for a paginator, an auth scheme or a transform loads into that very
/// component: the loader reads them through the lists the reference is generated from, so the two cannot drift.
@Suite struct ComponentExampleTests {
    private func load(http: String = "", transform: String = "") throws -> ResourceDefinition {
        func indented(_ text: String) -> String {
            text.split(separator: "\n", omittingEmptySubsequences: false).map { "      " + $0 }.joined(separator: "\n")
        }
        let text = """
            name: p
            destination: sqlite:x.db
            resources:
              - name: r
                http:
                  path: /r
            \(indented(http))
            """ + (transform.isEmpty ? "" : "\n    transform:\n\(indented(transform))")
        let variables = (try Regex(#"\$\{(\w+)"#)).self
        var environment: [String: String] = [:]
        for match in text.matches(of: variables) { environment[String(match.output[1].substring ?? "")] = "x" }
        let pipeline = try PipelineLoader.parse(text: text, file: "p.yaml", environment: environment)
        return try #require(pipeline.resource(named: "r"))
    }

    @Test func paginatorExamplesLoadIntoTheirKind() throws {
        for kind in Paginator.kinds {
            #expect(!kind.spec.examples.isEmpty, "\(kind.spec.name) has no example")
            for example in kind.spec.examples {
                let paginator = try #require(try self.load(http: example).http.paginator, "\(example)")
                #expect(type(of: paginator.kind).spec.name == kind.spec.name, "\(example)")
            }
        }
    }

    @Test func authExamplesLoadIntoTheirScheme() throws {
        for scheme in Authenticator.schemes {
            #expect(!scheme.spec.examples.isEmpty, "\(scheme.spec.name) has no example")
            for example in scheme.spec.examples {
                let auth = try #require(try self.load(http: example).http.auth, "\(example)")
                #expect(type(of: auth).spec.name == scheme.spec.name, "\(example)")
            }
        }
    }

    @Test func transformExamplesLoadIntoTheirStep() throws {
        for step in Transform.recordTransforms {
            #expect(!step.spec.examples.isEmpty, "\(step.spec.name) has no example")
            for example in step.spec.examples {
                let transforms = try self.load(transform: example).transforms
                guard transforms.count == 1, case .record(let loaded) = transforms[0] else {
                    Issue.record("\(example) loaded as \(transforms)")
                    continue
                }
                #expect(type(of: loaded).spec.name == step.spec.name, "\(example)")
            }
        }
    }
}

@Suite struct TransformChainTests {
    let context = ExpressionContext(now: "2026-11-23T00:00:00Z")

    @Test func fieldsFilterFlattenExplodeDropAndSelect() throws {
        let record: Record = ["id": 1, "name": " ada ", "tags": ["a", "b"], "geo": ["lat": 1.5, "pos": ["x": 2]]]
        let chain = TransformChain([
            .filter(try Expression("id > 0")),
            .fields(
                [
                    ("id", try Expression("id")), ("name", try Expression("upper(trim(name))")),
                    ("tags", try Expression("tags")), ("geo", try Expression("geo")), ("at", try Expression("now()")),
                ],
                keepOthers: false),
            .flatten(separator: "__", depth: nil),
            .explode(field: "tags"),
            .drop(["geo__lat"]),
        ])
        guard case .records(let out) = chain.apply(record, context: self.context) else {
            Issue.record("expected records")
            return
        }
        #expect(out.count == 2)
        #expect(out[0]["name"] == "ADA")
        #expect(out[0]["tags"] == "a")
        #expect(out[1]["tags"] == "b")
        #expect(out[0]["geo__pos__x"] == 2)
        #expect(out[0]["geo__lat"] == nil)
        #expect(out[0]["at"] == "2026-11-23T00:00:00Z")

        let select = TransformChain([.select(try JSONPath("$.items[*]"))])
        guard case .records(let items) = select.apply(["items": [["a": 1], 7]], context: self.context) else {
            Issue.record("expected records")
            return
        }
        #expect(items == [["a": 1], ["value": 7]])
    }

    @Test func filteredAndFailedOutcomes() throws {
        let chain = TransformChain([
            .filter(try Expression("n >= 10")), .fields([("x", try Expression("int(s)"))], keepOthers: true),
        ])
        guard case .filtered = chain.apply(["n": 3], context: self.context) else {
            Issue.record("expected filtered")
            return
        }
        guard case .failed(let code, let message) = chain.apply(["n": 30, "s": "abc"], context: self.context) else {
            Issue.record("expected failure")
            return
        }
        #expect(code == "transform")
        #expect(message.contains("field 'x'"))
        guard case .records(let ok) = chain.apply(["n": 30, "s": "42"], context: self.context) else {
            Issue.record("expected records")
            return
        }
        #expect(ok.first?["x"] == 42)
    }
}

@Suite struct ReconciliationTests {
    /// Every record taken from a response is written, filtered out, or an error row.
    @Test func everyRecordIsWrittenFilteredOrAnErrorRow() async throws {
        try await SampleAPI.withServer(.init(itemCount: 200)) { api in
            var items = try resource(
                "items", path: "/link/items", paginator: LinkHeaderPaginator(), key: ["id"], write: .merge)
            items.transforms = [
                .filter(try Expression("category != 'toys'")),
                // Fails for every 5th item: int('item-…') is not a number.
                .fields(
                    [("id", try Expression("id")), ("n", try Expression("if(id % 5 == 0, int(name), id)"))],
                    keepOthers: false),
            ]
            let (summary, db) = try await run([items], api: api)
            let counts = summary.resources[0]
            #expect(counts.records == 200)
            #expect(counts.filtered == 50)
            #expect(counts.errors == 30)  // ids divisible by 5 that are not toys (i % 4 == 3)
            #expect(counts.records == counts.written + counts.filtered + counts.errors)
            #expect(try db.count("items") == Int64(counts.written))
            #expect(try db.query("SELECT count(*), min(code) FROM _gather_errors") == [[30, "transform"]])
            let payload = try db.query("SELECT payload FROM _gather_errors LIMIT 1").first?.first?.stringValue ?? ""
            #expect(payload.contains("\"id\""))
        }
    }
}
