import Foundation
import GatherCore
import GatherHTTP
import GatherTesting
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// `--metrics`: a Prometheus endpoint scraped while `gather` runs, whose counters agree with the summary.
@Suite struct MetricsCommandTests {
    @Test(.timeLimit(.minutes(1)))
    func fetchMetricsAreLiveAndAgreeWithTheSummary() async throws {
        let scratch = try ScratchFolder()
        defer { scratch.remove() }
        try await FixtureServer.withServer { server in
            // 40 slow items (the run lasts about a second at concurrency 4), 5 of which fail their first attempt
            // with a 500, and 2 that fail for good (404).
            var lines = (0..<40).map { i in
                i < 5 ? server.url("/flaky/m\(i)?fail=1&status=500") : server.url("/json/\(i)?delay_ms=80")
            }
            lines += [server.url("/status/404"), server.url("/status/404")]
            let input = try scratch.write("in.txt", lines.joined(separator: "\n"))
            let port = try freeLoopbackPort()
            let metricsURL = "http://127.0.0.1:\(port)/metrics"
            let summaryPath = scratch.file("summary.json")
            nonisolated(unsafe) var during: [String: Double] = [:]
            nonisolated(unsafe) var after: [String: Double] = [:]
            let result = try await runGather(
                [
                    "fetch", input, "--no-progress", "--concurrency", "4", "--out", scratch.file("out.jsonl"),
                    "--metrics", "127.0.0.1:\(port)", "--metrics-linger", "2s", "--summary-json", summaryPath,
                ]
            ) { _ in
                (during, after) = try await scrapeDuringAndAfter(
                    metricsURL, once: "gather_records_read_total", summary: summaryPath, within: .seconds(10))
            }
            #expect(result.status == 1, "\(result.stderr)")
            #expect(result.stderr.contains("gather: metrics on \(metricsURL)"))
            let read = try #require(during["gather_records_read_total"])
            #expect(read < 42, "the first scrape should land mid-run")
            let summary = try #require(
                try JSONSerialization.jsonObject(with: Data(try scratch.read("summary.json").utf8)) as? [String: Any])
            let items = try #require(summary["items"] as? Int)
            let failed = try #require(summary["failed"] as? Int)
            let retries = try #require(summary["retries"] as? Int)
            #expect(items == 42 && failed == 2 && retries == 5)
            #expect(after["gather_records_read_total"] == Double(items))
            #expect(after["gather_records_written_total"] == Double(items - failed))
            #expect(after["gather_records_errored_total"] == Double(failed))
            #expect(after["gather_http_retries_total"] == Double(retries))
            #expect(after["gather_http_requests_total"] == Double(items + retries))
            #expect(after["gather_http_request_duration_seconds_count"] == Double(items + retries))
            #expect(after["gather_http_in_flight"] == 0)
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func loadReportsCommitsAndRecordsPerTable() async throws {
        let scratch = try ScratchFolder()
        defer { scratch.remove() }
        let rows = (0..<500).map { "\($0),name \($0)" } + ["oops,\"unterminated"]
        let csv = try scratch.write("people.csv", "id,name\n" + rows.joined(separator: "\n") + "\n")
        let port = try freeLoopbackPort()
        let summaryPath = scratch.file("summary.json")
        nonisolated(unsafe) var after: [String: Double] = [:]
        let result = try await runGather(
            [
                "load", csv, "--into", scratch.file("out.db"), "--quiet", "--batch-rows", "100", "--metrics",
                // A long linger: on a busy CI machine the scrape below can start late.
                "127.0.0.1:\(port)", "--metrics-linger", "6s", "--summary-json", summaryPath,
            ]
        ) { _ in
            try await Fetcher.withFetcher { fetcher in
                let deadline = ContinuousClock.now + .seconds(10)
                while ContinuousClock.now < deadline, !FileManager.default.fileExists(atPath: summaryPath) {
                    try await Task.sleep(for: .milliseconds(50))
                }
                try await Task.sleep(for: .milliseconds(100))
                after = await scrape("http://127.0.0.1:\(port)/metrics", fetcher) ?? [:]
            }
        }
        #expect(result.status == 1, "\(result.stderr)")
        let summary = try #require(
            try JSONSerialization.jsonObject(with: Data(try scratch.read("summary.json").utf8)) as? [String: Any])
        #expect(summary["rows"] as? Int == 500)
        #expect(summary["errors"] as? Int == 1)
        #expect(after["gather_records_written_total"] == 500)
        #expect(after["gather_records_errored_total"] == 1)
        #expect((after["gather_commits_total"] ?? 0) >= 5)
        #expect(after["gather_commit_duration_seconds_count"] == after["gather_commits_total"])
    }

    @Test func aTakenPortIsAUsageError() async throws {
        try await FixtureServer.withServer { server in
            let result = try await runGather(
                ["fetch", "-", "--no-progress", "--metrics", "127.0.0.1:\(server.port)"], stdin: server.url("/json/1"))
            #expect(result.status == 2, "\(result.stderr)")
            #expect(result.stderr.contains("--metrics"), "\(result.stderr)")
            let bad = try await runGather(["fetch", "-", "--metrics", "localhost:http"], stdin: "")
            #expect(bad.status == 2)
        }
    }

    @Test(.timeLimit(.minutes(2)))
    func streamMetricsShowLagOpenWindowsAndAgreeWithTheSummary() async throws {
        let scratch = try ScratchFolder()
        defer { scratch.remove() }
        let feed = SensorStream.Configuration(
            count: 4_000, keys: 5, jitter: 2_000, rate: 2_000, dropEvery: 1_500, duplicateEvery: 400)
        try await SensorStream.withServer(feed) { stream in
            let pipeline = try scratch.write(
                "sensors.yaml",
                StreamCommandTests.windowPipeline("type: sse\nurl: \(stream.url)\ncommit_interval: 100ms"))
            let port = try freeLoopbackPort()
            let metricsURL = "http://127.0.0.1:\(port)/metrics"
            let summaryPath = scratch.file("summary.json")
            nonisolated(unsafe) var during: [String: Double] = [:]
            nonisolated(unsafe) var after: [String: Double] = [:]
            let result = try await runGather(
                [
                    // A loaded CI machine can take seconds to send the first event: idle-exit counts from the start.
                    "run", pipeline, "--idle-exit", "5s", "--quiet", "--metrics", "127.0.0.1:\(port)",
                    "--metrics-linger", "3s", "--summary-json", summaryPath,
                ]
            ) { _ in
                (during, after) = try await scrapeDuringAndAfter(
                    metricsURL, once: "gather_stream_lag_seconds", summary: summaryPath, within: .seconds(30))
            }
            #expect(result.status == 0, "\(result.stderr)")
            #expect(try #require(during["gather_stream_events_total"]) < 4_000, "the first scrape should land mid-run")
            let summary = try #require(
                try JSONSerialization.jsonObject(with: Data(try scratch.read("summary.json").utf8)) as? [String: Any])
            let streams = try #require(summary["streams"] as? [String: Any])
            let readings = try #require(streams["readings"] as? [String: Any])
            #expect(readings["events"] as? Int == 4_000)
            #expect(after["gather_stream_events_total"] == 4_000)
            #expect(after["gather_stream_open_windows"] == Double(try #require(readings["open_windows"] as? Int)))
            #expect((after["gather_stream_open_windows"] ?? 0) > 0, "windows are still open at an idle exit")
            let reconnects = try #require(readings["reconnects"] as? Int)
            #expect(reconnects >= 2)
            #expect(after["gather_stream_reconnects_total"] == Double(reconnects))
            #expect(after["gather_stream_duplicates_total"] == Double(try #require(readings["duplicates"] as? Int)))
            // The feed's event times are in 2026-01-01: the committed watermark is far behind now.
            #expect((after["gather_stream_lag_seconds"] ?? 0) > 3600)
            #expect((after["gather_stream_close_to_commit_seconds_count"] ?? 0) > 0)
        }
    }
}

/// Scrapes `url` while a command runs: first as soon as the series `once` is there (the counters partway), then
/// after the command wrote its `--summary-json` file (the endpoint lingers): the final counts.
func scrapeDuringAndAfter(
    _ url: String, once: String, summary: String, within limit: Duration
) async throws -> (during: [String: Double], after: [String: Double]) {
    try await Fetcher.withFetcher { fetcher in
        let deadline = ContinuousClock.now + limit
        var during: [String: Double] = [:]
        while ContinuousClock.now < deadline {
            if let scrape = await scrape(url, fetcher), scrape[once] != nil {
                during = scrape
                break
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        while ContinuousClock.now < deadline, !FileManager.default.fileExists(atPath: summary) {
            try await Task.sleep(for: .milliseconds(50))
        }
        try await Task.sleep(for: .milliseconds(100))
        return (during, await scrape(url, fetcher) ?? [:])
    }
}

/// Scrapes Prometheus text and sums each metric's samples over its labels (histogram buckets left out).
func scrape(_ url: String, _ fetcher: Fetcher) async -> [String: Double]? {
    let result = await fetcher.fetch(FetchRequest(url: url))
    guard let response = result.response, response.status == 200 else { return nil }
    var sums: [String: Double] = [:]
    for line in String(buffer: response.body).split(separator: "\n") where !line.hasPrefix("#") {
        guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else {
            continue
        }
        let name = String(line[..<space].prefix { $0 != "{" && $0 != " " })
        if name.hasSuffix("_bucket") { continue }
        sums[name, default: 0] += value
    }
    return sums
}

/// A port nothing listens on right now (bound, read and closed).
func freeLoopbackPort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw POSIXError(.EMFILE) }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = 0
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let bound = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard bound == 0 else { throw POSIXError(.EADDRINUSE) }
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
    }
    return Int(UInt16(bigEndian: address.sin_port))
}
