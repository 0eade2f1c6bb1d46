import Foundation
import GatherTesting
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The `gather` executable as a user runs it: a child process, real signals, real files.
@Suite struct GatherCommandTests {
    /// The test servers list their routes at `/` and with `gather fixture --routes`.
    @Test func fixtureServersListTheirRoutes() async throws {
        try await FixtureServer.withServer { server in
            let index = try await runGather(["fetch", "-", "-q"], stdin: server.url("/"))
            let record = try #require(try parseJSONLines(index.stdout).first)
            #expect(record["status"] as? Int == 200)
            let text = try #require(record["text"] as? String)
            #expect(text.contains("/json/ID") && text.contains("/ratelimit/KEY"), "\(text)")
        }
        try await SampleAPI.withServer(.init(itemCount: 5)) { api in
            let index = try await runGather(["fetch", "-", "-q"], stdin: api.url("/"))
            let text = try #require(try parseJSONLines(index.stdout).first?["text"] as? String)
            #expect(text.contains("/offset/items") && text.contains("/oauth/token"), "\(text)")
        }
        let routes = try await runGather(["fixture", "--routes"])
        #expect(routes.status == 0)
        #expect(routes.stdout.contains("/flaky/KEY"))
        let sample = try await runGather(["fixture", "--sample-api", "--routes"])
        #expect(sample.stdout.contains("/cursor/items"))
    }

    /// Shell completions for the three shells; another shell is a usage error.
    @Test func completionsForBashZshAndFish() async throws {
        for shell in ["bash", "zsh", "fish"] {
            let result = try await runGather(["completions", shell])
            #expect(result.status == 0, "\(shell): \(result.stderr)")
            #expect(result.stdout.contains("gather"), "\(shell)")
            #expect(result.stdout.contains("--into"), "\(shell): options are completed")
        }
        let other = try await runGather(["completions", "powershell"])
        #expect(other.status == 2)
        #expect(other.stderr.contains("bash, zsh or fish"), "\(other.stderr)")
    }

    @Test func exitCodeZeroWhenAllSucceed() async throws {
        try await FixtureServer.withServer { server in
            let input = (0..<5).map { server.url("/json/\($0)") }.joined(separator: "\n")
            let result = try await runGather(["fetch", "-", "--no-progress"], stdin: input)
            #expect(result.status == 0, "\(result.stderr)")
            #expect(try parseJSONLines(result.stdout).count == 5)
            #expect(result.stderr.contains("5 items, 5 succeeded, 0 failed"))
            #expect(result.stderr.contains("latency ms: p50"))
        }
    }

    @Test func exitCodeOneWhenSomeFail() async throws {
        try await FixtureServer.withServer { server in
            let input = [server.url("/json/1"), server.url("/status/404")].joined(separator: "\n")
            let result = try await runGather(["fetch", "-", "--retries", "0"], stdin: input)
            #expect(result.status == 1)
            #expect(try parseJSONLines(result.stdout).count == 2)
        }
    }

    @Test(arguments: [
        ["fetch", "--rate", "fast"],
        ["fetch", "--timeout", "soon"],
        ["fetch", "--concurrency", "0"],
        ["fetch", "--http1", "--http2"],
        ["fetch", "-H", "no colon here"],
        ["fetch", "/no/such/input.txt"],
        ["fetch", "--bogus-flag"],
        ["fetch", "--retry-on", "5xx"],
        ["fetch", "--retry-on", "504-502"],
        ["fetch", "--response-action", "404=skip"],
        ["fetch", "--response-action", "404"],
        ["fetch", "--into", "/tmp/never.jsonl"],
        ["fetch", "--into", "/tmp/never-a-database"],
        ["load", "/dev/null", "--into", "/tmp/never-a-destination"],
        ["crawl", "http://127.0.0.1:9/", "--retry-on", "abc", "--out", "/tmp/never.jsonl"],
    ])
    func usageErrorsExitTwoWithAHint(arguments: [String]) async throws {
        let result = try await runGather(arguments, stdin: "")
        #expect(result.status == 2, "\(arguments): \(result.stderr)")
        #expect(!result.stderr.isEmpty)
        if arguments.contains("--into") {
            // One parser for every command's destination, and it says which forms it takes.
            #expect(result.stderr.contains("--into: "), "\(result.stderr)")
            #expect(result.stderr.contains("sqlite:FILE"), "\(result.stderr)")
        }
    }

    @Test func aFlaky500OnFirstAttemptsEndsWithEveryItemStored() async throws {
        let scratch = try ScratchFolder()
        defer { scratch.remove() }
        try await FixtureServer.withServer { server in
            // Every third item answers an HTML 500 page to its first attempt; a 501 is never retried.
            var lines = (0..<30).map { i in server.url("/flaky/f\(i)?fail=\(i % 3 == 0 ? 1 : 0)&status=500&html=1") }
            lines.append(server.url("/status/501"))
            let result = try await runGather(
                [
                    "fetch", "-", "--no-progress", "--summary-json", scratch.file("s.json"), "--into",
                    scratch.file("r.db"),
                ], stdin: lines.joined(separator: "\n"))
            #expect(result.status == 1, "\(result.stderr)")
            #expect(result.stderr.contains("31 items, 30 succeeded, 1 failed"), "\(result.stderr)")
            #expect(result.stderr.contains("retries: 10 (http_500 10)"), "\(result.stderr)")
            let summary =
                try JSONSerialization.jsonObject(with: Data(try scratch.read("s.json").utf8)) as? [String: Any]
            #expect((summary?["retry_causes"] as? [String: Any])?["http_500"] as? Int == 10)
            #expect(server.stats.count("/status/501") == 1)
        }
    }

    @Test func retryOnAndResponseActionsFromTheCommandLine() async throws {
        try await FixtureServer.withServer { server in
            let lines = [
                server.url("/flaky/a?fail=1&status=500"),  // not in --retry-on: fails at once
                server.url("/flaky/b?fail=1&status=502"),  // retried
                server.url("/status/404"),  // ignored: no error
                server.url("/says/c?fail=1"),  // a 200 that says "rate limit exceeded": retried
            ]
            let result = try await runGather(
                [
                    "fetch", "-", "--no-progress", "--retry-on", "502-504", "--response-action", "404=ignore",
                    "--response-action", "content:rate limit exceeded=retry",
                ], stdin: lines.joined(separator: "\n"))
            #expect(result.status == 1, "\(result.stderr)")
            let records = try parseJSONLines(result.stdout)
            func record(_ url: String) -> [String: Any]? { records.first { ($0["url"] as? String) == url } }
            #expect(record(lines[0])?["attempts"] as? Int == 1)
            #expect(record(lines[0])?["error"] != nil)
            #expect(record(lines[1])?["attempts"] as? Int == 2)
            #expect(record(lines[1])?["error"] == nil)
            #expect(record(lines[2])?["ignored"] as? Bool == true)
            #expect(record(lines[2])?["error"] == nil)
            #expect(record(lines[3])?["attempts"] as? Int == 2)
            #expect(result.stderr.contains("4 items, 3 succeeded, 1 failed"), "\(result.stderr)")
            #expect(result.stderr.contains("ignored by a response action: 1"), "\(result.stderr)")
        }
    }

    @Test func aFailActionStopsTheRun() async throws {
        try await FixtureServer.withServer { server in
            let lines = [server.url("/status/401")] + (0..<50).map { server.url("/delay/\($0 + 20)") }
            let result = try await runGather(
                ["fetch", "-", "--no-progress", "--concurrency", "1", "--response-action", "401=fail"],
                stdin: lines.joined(separator: "\n"))
            #expect(result.status == 1, "\(result.stderr)")
            #expect(result.stderr.contains("stopped early"), "\(result.stderr)")
            #expect(try parseJSONLines(result.stdout).count < 51)
        }
    }

    @Test func summaryJSONIsWritten() async throws {
        let scratch = try ScratchFolder()
        defer { scratch.remove() }
        try await FixtureServer.withServer { server in
            let result = try await runGather(
                ["fetch", "-", "--quiet", "--summary-json", scratch.file("s.json"), "-o", scratch.file("o.jsonl")],
                stdin: server.url("/json/1") + "\n" + server.url("/json/2") + "\n")
            #expect(result.status == 0)
            #expect(result.stderr.isEmpty)
            let summary =
                try JSONSerialization.jsonObject(with: Data(try scratch.read("s.json").utf8)) as? [String: Any]
            #expect(summary?["items"] as? Int == 2)
            #expect((summary?["latency_ms"] as? [String: Any])?["p99"] != nil)
        }
    }

    @Test func insecureSaysLoudlyWhatItDisables() async throws {
        let result = try await runGather(["fetch", "-", "--insecure", "--quiet"], stdin: "")
        #expect(result.status == 0)
        #expect(result.stderr.contains("WARNING"))
        #expect(result.stderr.contains("certificate"))
    }

    @Test func intoSQLiteWritesRowsNotStdout() async throws {
        let scratch = try ScratchFolder()
        defer { scratch.remove() }
        try await FixtureServer.withServer { server in
            let input = (0..<3).map { server.url("/json/\($0)") }.joined(separator: "\n")
            let result = try await runGather(["fetch", "-", "--into", "sqlite:" + scratch.file("r.db")], stdin: input)
            #expect(result.status == 0, "\(result.stderr)")
            #expect(result.stdout.isEmpty)
            #expect(FileManager.default.fileExists(atPath: scratch.file("r.db")))
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func sigintLeavesACompleteValidOutputAndASummary() async throws {
        let scratch = try ScratchFolder()
        defer { scratch.remove() }
        try await FixtureServer.withServer { server in
            let urls = (0..<400).map { server.url("/json/\($0)?delay_ms=150") }
            let input = try scratch.write("in.txt", urls.joined(separator: "\n"))
            let output = scratch.file("out.jsonl")
            let result = try await runGather(
                [
                    "fetch", input, "--concurrency", "8", "--out", output, "--grace", "5s", "--summary-json",
                    scratch.file("s.json"),
                ]
            ) { process in
                // Wait until it has written some records, then interrupt it.
                for _ in 0..<200 {
                    try await Task.sleep(for: .milliseconds(20))
                    if server.stats.count() >= 24 { break }
                }
                kill(process.processIdentifier, SIGINT)
            }
            #expect(result.status == 130, "\(result.stderr)")
            #expect(result.stderr.contains("interrupted"))
            let text = try scratch.read("out.jsonl")
            #expect(text.hasSuffix("\n"))
            let records = try parseJSONLines(text)  // every line is whole, valid JSON
            #expect(records.count >= 24)
            #expect(records.count < 400)
            // Every request the server saw is in the output, and nothing twice.
            let seen = Set(records.compactMap { $0["url"] as? String })
            #expect(seen.count == records.count)
            #expect(records.count == server.stats.count())
            // In-flight requests were given the grace period, so they finished normally.
            #expect(records.allSatisfy { $0["status"] as? Int == 200 })
            let summary =
                try JSONSerialization.jsonObject(with: Data(try scratch.read("s.json").utf8)) as? [String: Any]
            #expect(summary?["items"] as? Int == records.count)
            #expect(summary?["interrupted"] as? Bool == true)
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func secondSignalCancelsInFlightAsErrorRecords() async throws {
        let scratch = try ScratchFolder()
        defer { scratch.remove() }
        try await FixtureServer.withServer { server in
            let urls = (0..<20).map { server.url("/delay/\(20_000 + $0)") }
            let input = try scratch.write("in.txt", urls.joined(separator: "\n"))
            let output = scratch.file("out.jsonl")
            let result = try await runGather(["fetch", input, "--concurrency", "4", "--out", output]) { process in
                for _ in 0..<200 {
                    try await Task.sleep(for: .milliseconds(20))
                    if server.stats.count() >= 4 { break }
                }
                kill(process.processIdentifier, SIGINT)
                try await Task.sleep(for: .milliseconds(200))
                kill(process.processIdentifier, SIGTERM)
            }
            #expect(result.status == 130)
            let records = try parseJSONLines(try scratch.read("out.jsonl"))
            #expect(records.count == 4)
            #expect(records.allSatisfy { ($0["error"] as? [String: Any])?["code"] as? String == "cancelled" })
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func sigintIsNotHeldUpByAQuietStdin() async throws {
        try await FixtureServer.withServer { server in
            let input = (0..<3).map { server.url("/json/\($0)") }.joined(separator: "\n") + "\n"
            let result = try await runGather(["fetch", "-", "--no-progress"], stdin: input, keepStdinOpen: true) {
                process in
                for _ in 0..<200 {
                    try await Task.sleep(for: .milliseconds(20))
                    if server.stats.count() >= 3 { break }
                }
                try await Task.sleep(for: .milliseconds(100))
                kill(process.processIdentifier, SIGINT)
            }
            #expect(result.status == 130, "\(result.stderr)")
            #expect(try parseJSONLines(result.stdout).count == 3)
        }
    }

    @Test func aMissingInputDoesNotTruncateAnExistingOutput() async throws {
        let scratch = try ScratchFolder()
        defer { scratch.remove() }
        let output = try scratch.write("keep.jsonl", "{\"precious\":true}\n")
        let result = try await runGather(["fetch", scratch.file("missing.txt"), "--out", output])
        #expect(result.status == 2)
        #expect(try scratch.read("keep.jsonl") == "{\"precious\":true}\n")
    }
}
