import GatherCore
import GatherTesting
import NIOCore
import Testing

@testable import GatherHTTP

/// Retries by status (and by response action), response actions, and redirects followed through flow control.
@Suite struct FetcherRetryAndRedirectTests {
    static func configuration(_ change: (inout Fetcher.Configuration) -> Void = { _ in }) -> Fetcher.Configuration {
        FetcherTests.configuration(change)
    }

    @Test func anHTML500IsRetriedByDefault() async throws {
        try await FixtureServer.withServer { server in
            try await Fetcher.withFetcher(configuration: Self.configuration()) { fetcher in
                let result = await fetcher.fetch(FetchRequest(url: server.url("/flaky/a?fail=1&status=500&html=1")))
                #expect(result.error == nil)
                #expect(result.response?.status == 200)
                #expect(result.attempts == 2)
                #expect(result.retryCauses == ["http_500": 1])
                let timeout = await fetcher.fetch(FetchRequest(url: server.url("/flaky/b?fail=1&status=408")))
                #expect(timeout.error == nil && timeout.attempts == 2)
            }
            #expect(server.stats.count("/flaky/a") == 2)
        }
    }

    @Test(arguments: [501, 505, 404, 409])
    func statusesOutsideTheSetAreNotRetried(status: Int) async throws {
        try await FixtureServer.withServer { server in
            try await Fetcher.withFetcher(configuration: Self.configuration()) { fetcher in
                let result = await fetcher.fetch(FetchRequest(url: server.url("/status/\(status)")))
                #expect(result.attempts == 1)
                #expect(result.error?.code == .httpStatus)
            }
            #expect(server.stats.count("/status/\(status)") == 1)
        }
    }

    @Test func aStatusListReplacesTheDefaultSet() async throws {
        try await FixtureServer.withServer { server in
            let configuration = Self.configuration { try? $0.retry.apply(statuses: "502-504", methods: nil) }
            try await Fetcher.withFetcher(configuration: configuration) { fetcher in
                let result = await fetcher.fetch(FetchRequest(url: server.url("/flaky/c?fail=1&status=500")))
                #expect(result.attempts == 1)
                #expect(result.response?.status == 500)
            }
        }
    }

    @Test func postIsRetriedOnlyWhenListedOrWithAnIdempotencyKey() async throws {
        try await FixtureServer.withServer { server in
            try await Fetcher.withFetcher(configuration: Self.configuration()) { fetcher in
                let plain = await fetcher.fetch(
                    FetchRequest(url: server.url("/flaky/p1?fail=1"), method: "POST", body: Array("{}".utf8)))
                #expect(plain.attempts == 1)
                #expect(plain.response?.status == 503)
                let keyed = await fetcher.fetch(
                    FetchRequest(
                        url: server.url("/flaky/p2?fail=1"), method: "POST", headers: [("Idempotency-Key", "k-1")],
                        body: Array("{}".utf8)))
                #expect(keyed.error == nil && keyed.attempts == 2)
            }
            let listed = Self.configuration { try? $0.retry.apply(statuses: nil, methods: "post") }
            try await Fetcher.withFetcher(configuration: listed) { fetcher in
                let result = await fetcher.fetch(
                    FetchRequest(url: server.url("/flaky/p3?fail=1"), method: "POST", body: Array("{}".utf8)))
                #expect(result.error == nil && result.attempts == 2)
            }
        }
    }

    @Test func responseActionsIgnoreRetryAndFail() async throws {
        try await FixtureServer.withServer { server in
            let configuration = Self.configuration {
                $0.responseActions = [
                    try! ResponseAction(parsing: "404=ignore"),
                    try! ResponseAction(parsing: "content:rate limit exceeded=retry"),
                    try! ResponseAction(parsing: "json:$[?@.error == 'quota']=retry"),
                    try! ResponseAction(parsing: "401,403=fail"),
                ]
            }
            try await Fetcher.withFetcher(configuration: configuration) { fetcher in
                let ignored = await fetcher.fetch(FetchRequest(url: server.url("/status/404")))
                #expect(ignored.error == nil)
                #expect(ignored.ignored)
                #expect(ignored.attempts == 1)

                let limited = await fetcher.fetch(FetchRequest(url: server.url("/says/x?fail=2")))
                #expect(limited.error == nil)
                #expect(limited.attempts == 3)
                #expect(limited.retryCauses == ["response_action": 2])
                #expect(limited.response.map { String(buffer: $0.body) }?.contains(#""id":"x""#) == true)

                let quota = await fetcher.fetch(FetchRequest(url: server.url("/says/q?fail=1&text=quota")))
                #expect(quota.error == nil && quota.attempts == 2)

                let denied = await fetcher.fetch(FetchRequest(url: server.url("/status/403")))
                #expect(denied.error?.code == .responseAction)
                #expect(denied.stopsResource)
                #expect(denied.attempts == 1)

                // No rule matches: the status decides as usual.
                let plain = await fetcher.fetch(FetchRequest(url: server.url("/json/1")))
                #expect(plain.error == nil && !plain.ignored)
            }
            #expect(server.stats.count("/says/x") == 3)
        }
    }

    @Test func responseActionsParseAndRefuseBadForms() throws {
        let both = try ResponseAction(parsing: "429+content:slow down=retry")
        #expect(both.statuses == [429] && both.content == "slow down" && both.action == .retry)
        #expect(try ResponseAction(parsing: "500-503=fail").statuses == [500, 501, 502, 503])
        #expect(throws: ConfigurationError.self) { try ResponseAction(parsing: "404") }
        #expect(throws: ConfigurationError.self) { try ResponseAction(parsing: "404=skip") }
        #expect(throws: ConfigurationError.self) { try ResponseAction(parsing: "content:=retry") }
        #expect(throws: ConfigurationError.self) { try ResponseAction(parsing: "json:$[=retry") }
    }

    @Test func aRedirectToAnotherOriginCarriesNoCredentials() async throws {
        try await FixtureServer.withServer { server in
            let configuration = Self.configuration { $0.authorization = .bearer("s3cret") }
            try await Fetcher.withFetcher(configuration: configuration) { fetcher in
                // 127.0.0.1 → localhost: another host, so another origin.
                let away = server.url("/echo", scheme: "http")
                var request = FetchRequest(
                    url: server.url("/redirect-to?url=" + URLEncoding.component(away)),
                    headers: [("Cookie", "session=1"), ("X-Api-Key", "k3y")])
                request.credentialHeaders = ["x-api-key"]
                let result = await fetcher.fetch(request)
                #expect(result.error == nil)
                #expect(result.redirects == 1)
                let echo = result.response.map { String(buffer: $0.body) } ?? ""
                #expect(echo.contains(#""method":"GET""#))
                #expect(!echo.contains("s3cret"))
                #expect(!echo.contains("session=1"))
                #expect(!echo.contains("k3y"))

                // The same origin keeps them.
                var same = request
                same.url = server.url("/redirect-to?url=/echo")
                let kept = await fetcher.fetch(same)
                let echoed = kept.response.map { String(buffer: $0.body) } ?? ""
                #expect(echoed.contains("Bearer s3cret"))
                #expect(echoed.contains("session=1"))
                #expect(echoed.contains("k3y"))
            }
        }
    }

    @Test func redirectMethodsFollowRFC9110() async throws {
        try await FixtureServer.withServer { server in
            try await Fetcher.withFetcher(configuration: Self.configuration()) { fetcher in
                let body = Array(#"{"q":1}"#.utf8)
                let seeOther = await fetcher.fetch(
                    FetchRequest(
                        url: server.url("/redirect-to?status=303&url=/echo"), method: "POST",
                        headers: [("Content-Type", "application/json")], body: body))
                let first = seeOther.response.map { String(buffer: $0.body) } ?? ""
                #expect(first.contains(#""method":"GET""#))
                #expect(first.contains(#""body":"""#))
                let temporary = await fetcher.fetch(
                    FetchRequest(
                        url: server.url("/redirect-to?status=307&url=/echo"), method: "POST",
                        headers: [("Content-Type", "application/json")], body: body))
                let second = temporary.response.map { String(buffer: $0.body) } ?? ""
                #expect(second.contains(#""method":"POST""#))
                #expect(second.contains(#""body":"{\"q\":1}""#))
                let notHTTP = await fetcher.fetch(
                    FetchRequest(url: server.url("/redirect-to?url=" + URLEncoding.component("ftp://x/y"))))
                #expect(notHTTP.error?.code == .invalidURL)
            }
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func aRedirectIsHeldToItsTargetHostsRate() async throws {
        try await FixtureServer.withServer { server in
            // No limit on 127.0.0.1, 5/s on localhost: the hops to localhost must arrive at 5/s.
            let configuration = Self.configuration {
                $0.limits = FlowLimits(maxConcurrency: 32)
                $0.limitOverrides["localhost"] = FlowLimits(maxConcurrency: 32, rate: Rate(count: 5, per: .seconds(1)))
            }
            let target = URLEncoding.component(server.url("/json/hop", scheme: "http"))
            try await Fetcher.withFetcher(configuration: configuration) { fetcher in
                let results = try await Array(0..<11).concurrentMap(maxConcurrency: 11) { _ in
                    await fetcher.fetch(FetchRequest(url: server.url("/redirect-to?url=" + target)))
                }
                #expect(results.allSatisfy { $0.error == nil && $0.redirects == 1 })
            }
            let first = server.stats.arrivals("/redirect-to")
            let hops = server.stats.arrivals("/json/hop").sorted()
            #expect(first.count == 11)
            #expect(hops.count == 11)
            // Unlimited, the first requests all arrive at once; the hops are spread at 5/s: 11 take nominally
            // 2.0 s. The server stamps arrivals, and on the busy 2-core CI a stalled server thread stamps the
            // first hop late by a few hundred ms (1.74 s was seen), so the bound is 1.5 s: a limiter that let
            // the hops through unpaced would put all 11 within a few milliseconds.
            #expect((first.max()! - first.min()!) < .milliseconds(1500))
            #expect(hops.last! - hops.first! >= .milliseconds(1500))
            // No second holds a burst: nominally 8 hops take 1.4 s. (The server stamps arrivals, and a stalled
            // server thread on the busy 2-core CI bunches its stamps by a few hundred ms, so 7 within a second
            // is tolerated; a limiter that let the queue through at once would put all 11 within one.)
            for index in 7..<hops.count {
                #expect(hops[index] - hops[index - 7] >= .seconds(1), "more than 7 hops within one second")
            }
        }
    }
}
