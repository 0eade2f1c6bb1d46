import GatherCore
import GatherFormats
import GatherHTTP
import GatherTesting
import NIOCore
import Testing

/// The sample API, driven through the fetcher.
@Suite struct SampleAPITests {
    struct Answer {
        var status: Int
        var body: Value
        var link: String?
        var nextCursor: String?
    }

    static func withFetcher<T: Sendable>(
        _ configuration: SampleAPI.Configuration = .init(),
        _ body: (SampleAPI, Fetcher) async throws -> T
    ) async throws -> T {
        var fetcherConfiguration = Fetcher.Configuration()
        fetcherConfiguration.proxy = .none
        fetcherConfiguration.retry.initialBackoff = .milliseconds(5)
        fetcherConfiguration.retry.maxBackoff = .milliseconds(20)
        return try await SampleAPI.withServer(configuration) { api in
            try await Fetcher.withFetcher(configuration: fetcherConfiguration) { fetcher in
                try await body(api, fetcher)
            }
        }
    }

    static func get(
        _ fetcher: Fetcher, _ url: String, method: String = "GET", headers: [(name: String, value: String)] = [],
        body: String? = nil
    ) async throws -> Answer {
        let result = await fetcher.fetch(
            FetchRequest(url: url, method: method, headers: headers, body: body.map { Array($0.utf8) }))
        let response = try #require(result.response, "\(url): \(String(describing: result.error))")
        return Answer(
            status: response.status,
            body: try JSONReader.parse(String(buffer: response.body)),
            link: response.header("Link"),
            nextCursor: response.header("X-Next-Cursor")
        )
    }

    static func ids(_ values: Value?) -> [Int] {
        (values?.arrayValue ?? []).compactMap { $0["id"]?.intValue.map(Int.init) }
    }

    /// The `rel="next"` URL of a `Link` header.
    static func nextLink(_ header: String?) -> String? {
        guard let header else { return nil }
        for part in header.split(separator: ",") where part.contains(#"rel="next""#) {
            guard let open = part.firstIndex(of: "<"), let close = part.firstIndex(of: ">") else { return nil }
            return String(part[part.index(after: open)..<close])
        }
        return nil
    }

    @Test func offsetAndPagePagination() async throws {
        try await Self.withFetcher { api, fetcher in
            let offset = try await Self.get(fetcher, api.url("/offset/items?offset=240&limit=25"))
            #expect(offset.body["total"] == 250)
            #expect(offset.body["offset"] == 240)
            #expect(Self.ids(offset.body["items"]) == Array(241...250))
            #expect(offset.body["items"]?[0] == api.item(id: 241))
            #expect(api.item(id: 241)?["updated_at"] == "2024-01-01T04:01:00Z")
            #expect(api.item(id: 241)?["category"] == "books")
            #expect(api.item(id: 3)?["price"] == 3.5)
            #expect(api.item(id: 3)?["in_stock"] == false)

            let page = try await Self.get(fetcher, api.url("/pages/items?page=10&per_page=25"))
            #expect(page.body["page"] == 10)
            #expect(page.body["total_pages"] == 10)
            #expect(Self.ids(page.body["data"]) == Array(226...250))
            let past = try await Self.get(fetcher, api.url("/pages/items?page=11&per_page=25"))
            #expect(past.body["data"] == [])

            let bad = try await Self.get(fetcher, api.url("/pages/items?page=0"))
            #expect(bad.status == 400)
            #expect(api.stats.requestCount(pathPrefix: "/pages/") == 3)
            #expect(api.stats.statusCount(400) == 1)
        }
    }

    @Test func cursorJSONLinkAndLinkHeaderWalkEverything() async throws {
        try await Self.withFetcher { api, fetcher in
            var ids: [Int] = []
            var url: String? = api.url("/cursor/items?limit=40")
            var pages = 0
            while let current = url {
                let answer = try await Self.get(fetcher, current)
                ids += Self.ids(answer.body["data"])
                let next = answer.body["meta"]?["next_cursor"]?.stringValue
                #expect(answer.nextCursor == next)
                url = next.map { api.url("/cursor/items?limit=40&cursor=\($0)") }
                pages += 1
            }
            #expect(ids == Array(1...250))
            #expect(pages == 7)
            #expect(try await Self.get(fetcher, api.url("/cursor/items?cursor=zz")).status == 400)

            ids = []
            url = api.url("/jsonlink/items")
            while let current = url {
                let answer = try await Self.get(fetcher, current)
                ids += Self.ids(answer.body["results"])
                url = answer.body["next"]?.stringValue
            }
            #expect(ids == Array(1...250))
            #expect(api.stats.requestCount(pathPrefix: "/jsonlink/") == 10)

            ids = []
            url = api.url("/link/items?per_page=100")
            var links: [String?] = []
            while let current = url {
                let answer = try await Self.get(fetcher, current)
                ids += Self.ids(answer.body)
                links.append(answer.link)
                url = Self.nextLink(answer.link)
            }
            #expect(ids == Array(1...250))
            #expect(
                links[0]
                    == #"<\#(api.baseURL)/link/items?per_page=100&page=2>; rel="next", "#
                    + #"<\#(api.baseURL)/link/items?per_page=100&page=3>; rel="last""#)
            #expect(links.count == 3 && links[2] == nil)
        }
    }

    @Test func reposOrgsAndContributors() async throws {
        try await Self.withFetcher { api, fetcher in
            let all = try await Self.get(fetcher, api.url("/repos?per_page=5"))
            #expect(Self.ids(all.body) == [1, 2, 3, 4, 5])
            #expect(all.link?.contains("page=3>; rel=\"last\"") == true)
            #expect(all.body[1]?["full_name"] == "org-a/repo-2")

            let orgA = try await Self.get(fetcher, api.url("/orgs/org-a/repos"))
            #expect(Self.ids(orgA.body) == [2, 4, 6, 8, 10, 12])
            #expect(orgA.link == nil)
            #expect(try await Self.get(fetcher, api.url("/orgs/org-c/repos")).status == 404)

            var contributors: [Value] = []
            var url: String? = api.url("/repos/4/contributors?per_page=10")
            while let current = url {
                let answer = try await Self.get(fetcher, current)
                contributors += answer.body.arrayValue ?? []
                url = Self.nextLink(answer.link)
            }
            #expect(contributors.count == 28)
            #expect(contributors == api.contributors(repo: 4))
            let none = try await Self.get(fetcher, api.url("/repos/6/contributors"))
            #expect(none.body == [] && none.link == nil)
            #expect(try await Self.get(fetcher, api.url("/repos/99/contributors")).status == 404)
        }
    }

    @Test func staticAuthentication() async throws {
        try await Self.withFetcher { api, fetcher in
            let bearer = api.url("/auth/bearer/items")
            #expect(try await Self.get(fetcher, bearer).status == 401)
            #expect(try await Self.get(fetcher, bearer, headers: [("Authorization", "Bearer nope")]).status == 401)
            let ok = try await Self.get(fetcher, bearer, headers: [("Authorization", "Bearer demo-token")])
            #expect(ok.status == 200 && ok.body["total"] == 250)

            let basic = api.url("/auth/basic/items?limit=5")
            #expect(try await Self.get(fetcher, basic).status == 401)
            let good = [(name: "Authorization", value: "Basic ZGVtbzpzM2NyZXQtcGFzcw==")]
            #expect(try await Self.get(fetcher, basic, headers: good).status == 200)

            #expect(try await Self.get(fetcher, api.url("/auth/apikey/items")).status == 401)
            #expect(try await Self.get(fetcher, api.url("/auth/apikey/items?api_key=k-123456")).status == 200)
            let header = try await Self.get(
                fetcher, api.url("/auth/apikey/items"), headers: [("X-API-Key", "k-123456")])
            #expect(header.status == 200)
        }
    }

    @Test func oauthTokensExpireAndCanBeRevoked() async throws {
        // 1.5 s: long enough that the busy CI machine gets from the token to its first use in time.
        try await Self.withFetcher(.init(tokenLifetime: .milliseconds(1500))) { api, fetcher in
            let form = [(name: "Content-Type", value: "application/x-www-form-urlencoded")]
            let tokenURL = api.url("/oauth/token")
            let wrong = try await Self.get(
                fetcher, tokenURL, method: "POST", headers: form,
                body: "grant_type=client_credentials&client_id=gather-client&client_secret=nope")
            #expect(wrong.status == 401 && wrong.body == ["error": "invalid_client"])

            func token() async throws -> String {
                let answer = try await Self.get(
                    fetcher, tokenURL, method: "POST", headers: form,
                    body: "grant_type=client_credentials&client_id=gather-client&client_secret=client-s3cret")
                #expect(answer.status == 200)
                #expect(answer.body["token_type"] == "bearer" && answer.body["expires_in"] == 2)
                return try #require(answer.body["access_token"]?.stringValue)
            }
            func items(_ token: String) async throws -> Int {
                try await Self.get(fetcher, api.url("/oauth/items"), headers: [("Authorization", "Bearer \(token)")])
                    .status
            }
            let first = try await token()
            #expect(first == "tok-1")
            #expect(try await items(first) == 200)
            try await Task.sleep(for: .milliseconds(1600))
            #expect(try await items(first) == 401)

            // Client credentials by basic auth work too.
            let basic = try await Self.get(
                fetcher, tokenURL, method: "POST",
                headers: form + [("Authorization", "Basic Z2F0aGVyLWNsaWVudDpjbGllbnQtczNjcmV0")],
                body: "grant_type=client_credentials")
            let second = try #require(basic.body["access_token"]?.stringValue)
            #expect(second == "tok-2")
            #expect(try await items(second) == 200)
            let revoked = try await Self.get(fetcher, api.url("/admin/revoke-tokens"), method: "POST")
            #expect(revoked.body == ["revoked": 2])
            #expect(try await items(second) == 401)
        }
    }

    @Test func sinceFilteringAndTouch() async throws {
        try await Self.withFetcher { api, fetcher in
            let since = try await Self.get(fetcher, api.url("/offset/items?since=2024-01-01T04:00:00Z"))
            #expect(since.body["total"] == 10)
            #expect(Self.ids(since.body["items"]) == Array(241...250))
            #expect(api.latestItemUpdatedAt == "2024-01-01T04:10:00Z")

            let touched = try await Self.get(fetcher, api.url("/admin/touch?ids=9,1,5,999"), method: "POST")
            #expect(touched.body == ["touched": [1, 5, 9]])
            #expect(api.item(id: 9)?["updated_at"] == "2024-01-01T04:13:00Z")
            let changed = try await Self.get(fetcher, api.url("/link/items?since=2024-01-01T04:10:00Z"))
            #expect(Self.ids(changed.body) == [1, 5, 9])
            let offsetZone = try await Self.get(fetcher, api.url("/pages/items?since=2024-01-01T05:11:00%2B01:00"))
            #expect(Self.ids(offsetZone.body["data"]) == [5, 9])

            let spread = try await Self.get(fetcher, api.url("/admin/touch?n=5"), method: "POST")
            #expect(spread.body == ["touched": [50, 100, 150, 200, 250]])
            let cursor = try await Self.get(fetcher, api.url("/cursor/items?since=2024-01-01T04:13:00Z"))
            #expect(Self.ids(cursor.body["data"]) == [50, 100, 150, 200, 250])
            #expect(api.items(updatedAfter: "2024-01-01T04:13:00Z").count == 5)
            #expect(try await Self.get(fetcher, api.url("/offset/items?since=yesterday")).status == 400)

            let repos = try await Self.get(fetcher, api.url("/repos?since=2024-01-01T10:00:00Z"))
            #expect(Self.ids(repos.body) == [11, 12])

            #expect(
                api.stats.sinceValues()
                    == [
                        "2024-01-01T04:00:00Z", "2024-01-01T04:10:00Z", "2024-01-01T05:11:00+01:00",
                        "2024-01-01T04:13:00Z", "yesterday", "2024-01-01T10:00:00Z",
                    ])
            #expect(api.stats.sinceValues(pathPrefix: "/link/") == ["2024-01-01T04:10:00Z"])
        }
    }

    @Test func transientFailuresAreRetriedOncePerURL() async throws {
        try await Self.withFetcher(.init(transientFailureEvery: 3)) { api, fetcher in
            var ids: [Int] = []
            var expected = 0
            for page in 1...25 {
                let path = "/pages/items?page=\(page)&per_page=10"
                if api.failsFirst(path) { expected += 1 }
                let answer = try await Self.get(fetcher, api.url(path))
                #expect(answer.status == 200)
                ids += Self.ids(answer.body["data"])
            }
            #expect(ids == Array(1...250))
            #expect(expected > 0)
            #expect(api.stats.injectedFailures() == expected)
            #expect(api.stats.requestCount(pathPrefix: "/pages/") == 25 + expected)
            #expect(api.stats.statusCount(503) == expected)
        }
    }

    @Test func latencyShowsConcurrency() async throws {
        try await Self.withFetcher(.init(latency: .milliseconds(100))) { api, fetcher in
            let answers = try await Array(0..<6).concurrentMap(maxConcurrency: 6) { i in
                try await Self.get(fetcher, api.url("/offset/items?offset=\(i * 25)"))
            }
            #expect(answers.allSatisfy { $0.status == 200 })
            #expect(api.stats.maxInFlight(pathPrefix: "/offset/") >= 2)
            #expect(api.stats.maxInFlight(pathPrefix: "/pages/") == 0)
            let stats = try await Self.get(fetcher, api.url("/admin/stats"))
            #expect(stats.body["requests"]?["/offset/items"] == 6)
        }
    }

    @Test func awkwardShapes() async throws {
        try await Self.withFetcher { api, fetcher in
            let hostile = try await Self.get(fetcher, api.url("/hostile/items"))
            #expect(hostile.body.arrayValue?.count == 3)
            let first = try #require(hostile.body[0]?.objectValue)
            #expect(
                first.keys == [
                    "id", "\"; DROP TABLE x; --", "Name With Spaces", "name with spaces", "ünïcødé", "", "nested",
                ])
            #expect(first["\"; DROP TABLE x; --"] == "boom")
            #expect(hostile.link == nil)

            var orders: [Value] = []
            for page in 1...4 {
                let answer = try await Self.get(fetcher, api.url("/nested/orders?page=\(page)"))
                #expect(answer.body["total_pages"] == 3)
                orders += answer.body["data"]?.arrayValue ?? []
            }
            #expect(orders == api.orders())
            #expect(orders.count == 30)
            #expect(orders[0]["customer"]?["address"]?["city"]?.stringValue != nil)
            #expect(orders[1]["lines"]?.arrayValue?.count == 3)
        }
    }
}
