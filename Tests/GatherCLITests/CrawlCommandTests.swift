import Foundation
import GatherCore
import GatherFormats
import GatherTesting
import Testing

/// `gather crawl` as a child process: the JSON Lines it writes, usage errors, and the SIGKILL resume test.
@Suite struct CrawlCommandTests {
    /// The URLs of a JSON Lines crawl output, one per line, in order.
    static func urls(_ path: String) throws -> [String] {
        let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        return try text.split(separator: "\n").map { line in
            try JSONReader.parse(String(line)).objectValue?["url"]?.stringValue ?? ""
        }
    }

    @Test func crawlWritesOneLinePerPageWithFields() async throws {
        let folder = try ScratchFolder()
        defer { folder.remove() }
        try await CrawlSite.withServer(.init(pageCount: 30)) { site in
            let out = folder.file("pages.jsonl")
            let result = try await runGather([
                "crawl", site.baseURL + "/", "--same-host", "-e", "title=css:title::text", "-e",
                "price=xpath:normalize-space(//span[@class='price'])", "--out", out,
            ])
            #expect(result.status == 0, "\(result.stderr)")
            #expect(result.stderr.contains("gather crawl: completed"), "\(result.stderr)")
            let urls = try Self.urls(out)
            #expect(Set(urls) == site.expectedURLs())
            #expect(urls.count == Set(urls).count)
            let text = try String(contentsOfFile: out, encoding: .utf8)
            #expect(text.contains(#""title":"Page 9 & co","price":"9.99""#), "\(text.prefix(400))")
        }
    }

    @Test func usageErrorsNameWhatToWrite() async throws {
        let noStart = try await runGather(["crawl", "--out", "x.jsonl"])
        #expect(noStart.status == 2)
        #expect(noStart.stderr.contains("start URL"), "\(noStart.stderr)")
        let badSelector = try await runGather(["crawl", "http://127.0.0.1:1/", "-e", "t=css:div >", "--out", "x.jsonl"])
        #expect(badSelector.status == 2)
        #expect(badSelector.stderr.contains("column"), "\(badSelector.stderr)")
        let badField = try await runGather(["crawl", "http://127.0.0.1:1/", "-e", "oops", "--out", "x.jsonl"])
        #expect(badField.status == 2)
        #expect(badField.stderr.contains("NAME=css:"), "\(badField.stderr)")
    }

    /// SIGKILL at 10 seeded points during a crawl of 2,000 pages, then run again: the output has every page
    /// exactly once.
    @Test(.timeLimit(.minutes(15))) func killedCrawlsResumeWithEveryPageOnce() async throws {
        try await oneKillTestAtATime {
            let folder = try ScratchFolder()
            defer { folder.remove() }
            try await CrawlSite.withServer(.init(pageCount: 2000, latency: .milliseconds(1))) { site in
                func crawl(_ out: String, killAfter: Duration? = nil) async throws -> ProcessResult {
                    try await runGather([
                        "crawl", site.baseURL + "/", "--same-host", "-c", "8", "-e", "title=css:title::text",
                        "--out", out, "--quiet",
                    ]) { process in
                        guard let killAfter else { return }
                        try await Task.sleep(for: killAfter)
                        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
                    }
                }
                let clean = folder.file("clean.jsonl")
                let started = ContinuousClock.now
                let cleanRun = try await crawl(clean)
                let cleanDuration = started.duration(to: .now)
                #expect(cleanRun.status == 0, "\(cleanRun.stderr)")
                let expected = site.expectedURLs()
                #expect(Set(try Self.urls(clean)) == expected)
                let killed = try await killAndResume(
                    seed: 6_2026_1123, cleanDuration: cleanDuration, earliest: 0.1,
                    destination: { folder.file("killed-\($0).jsonl") }, run: { try await crawl($0, killAfter: $1) },
                    completed: { try lastRunCompleted($0 + ".gather.db") }
                ) { out, scenario in
                    let urls = try Self.urls(out)
                    #expect(urls.count == expected.count, "scenario \(scenario): \(urls.count) lines")
                    #expect(Set(urls) == expected, "scenario \(scenario)")
                }
                #expect(killed == 10, "only \(killed) crawls were killed before finishing")
            }
        }
    }
}
