import Foundation
import GatherCore
import GatherHTTP
import GatherSQLite
import GatherTesting
import Testing

@testable import GatherJobs

@Suite struct FetchJobTests {
    static func options(input: String, output: String?) -> FetchJob.Options {
        var options = FetchJob.Options()
        options.input = input
        options.output = output
        options.progress = false
        options.fetcher.proxy = .none
        options.fetcher.retry.initialBackoff = .milliseconds(5)
        options.fetcher.retry.maxBackoff = .milliseconds(20)
        return options
    }

    @Test func everyInputLineBecomesOneRecord() async throws {
        let scratch = try ScratchFolder()
        defer { scratch.remove() }
        try await FixtureServer.withServer { server in
            let lines = [
                server.url("/json/1"),
                "",
                "# a comment",
                server.url("/invalid-json"),
                server.url("/text"),
                server.url("/status/404"),
                "not a url",
                #"{"id": "req-7", "url": "\#(server.url("/echo"))", "method": "POST", "body": {"a": 1}}"#,
                #"{"id": 8, "url": }"#,
                "http://no-such-host.invalid/",
            ]
            let input = try scratch.write("in.txt", lines.joined(separator: "\n"))
            let summary = try await FetchJob(options: Self.options(input: input, output: scratch.file("out.jsonl")))
                .run()
            let records = try parseJSONLines(try scratch.read("out.jsonl"))
            #expect(records.count == 8)
            #expect(summary.items == 8)
            #expect(summary.succeeded + summary.failed == summary.items)
            #expect(summary.succeeded == 3)
            func record(_ url: String) -> [String: Any]? { records.first { ($0["url"] as? String) == url } }

            let ok = try #require(record(server.url("/json/1")))
            #expect(ok["status"] as? Int == 200)
            #expect((ok["data"] as? [String: Any])?["id"] as? String == "1")
            #expect(ok["attempts"] as? Int == 1)
            #expect(ok["elapsed_ms"] is Double || ok["elapsed_ms"] is Int)

            // Invalid JSON: the text is kept, and the error code says why.
            let invalid = try #require(record(server.url("/invalid-json")))
            #expect(invalid["text"] as? String == #"{"a": 1,, "b": tru}"#)
            #expect((invalid["error"] as? [String: Any])?["code"] as? String == "invalid_json")
            #expect(invalid["data"] == nil)

            let text = try #require(record(server.url("/text")))
            #expect(text["text"] as? String == "plain text, not JSON\n")
            #expect(text["error"] == nil)

            let notFound = try #require(record(server.url("/status/404")))
            #expect(notFound["status"] as? Int == 404)
            #expect((notFound["error"] as? [String: Any])?["code"] as? String == "http_status")

            let bad = try #require(record("not a url"))
            #expect((bad["error"] as? [String: Any])?["code"] as? String == "invalid_url")

            let posted = try #require(records.first { ($0["id"] as? String) == "req-7" })
            let echo = posted["data"] as? [String: Any]
            #expect(echo?["method"] as? String == "POST")
            #expect(echo?["body"] as? String == #"{"a":1}"#)

            // The malformed request line names its file and line.
            let malformed = try #require(
                records.first { ($0["error"] as? [String: Any])?["code"] as? String == "input" })
            let message = (malformed["error"] as? [String: Any])?["message"] as? String ?? ""
            #expect(message.contains("in.txt:9:"), "\(message)")

            let dns = try #require(record("http://no-such-host.invalid/"))
            #expect((dns["error"] as? [String: Any])?["code"] as? String == "dns")
        }
    }

    @Test func orderedOutputMatchesInputOrder() async throws {
        let scratch = try ScratchFolder()
        defer { scratch.remove() }
        try await FixtureServer.withServer { server in
            // Early lines are slow, late ones fast: completion order is far from input order.
            let urls = (0..<60).map { server.url("/json/\($0)?delay_ms=\(($0 % 6 == 0) ? 60 : 1)") }
            let input = try scratch.write("in.txt", urls.joined(separator: "\n") + "\n")
            var options = Self.options(input: input, output: scratch.file("out.jsonl"))
            options.ordered = true
            options.concurrency = 8
            _ = try await FetchJob(options: options).run()
            let records = try parseJSONLines(try scratch.read("out.jsonl"))
            #expect(records.map { $0["url"] as? String } == urls)
        }
    }

    @Test func urlTemplateFillsAndEncodesValues() async throws {
        let scratch = try ScratchFolder()
        defer { scratch.remove() }
        try await FixtureServer.withServer { server in
            let input = try scratch.write("ids.txt", "7\na b/c\n{\"id\": 9}\n")
            var options = Self.options(input: input, output: scratch.file("out.jsonl"))
            options.format = .template(server.url("/json/{id}"))
            options.ordered = true
            _ = try await FetchJob(options: options).run()
            let records = try parseJSONLines(try scratch.read("out.jsonl"))
            #expect(
                records.map { $0["url"] as? String } == [
                    server.url("/json/7"), server.url("/json/a%20b%2Fc"), server.url("/json/9"),
                ])
            #expect(records[0]["id"] as? String == "7")
            #expect(records[2]["id"] as? Int == 9)
            // The value stayed one path segment (the router matched /json/:id and saw it still encoded).
            #expect((records[1]["data"] as? [String: Any])?["id"] as? String == "a%20b%2Fc")
        }
    }

    @Test func invalidUTF8InputLineIsAnErrorRecordWithItsPosition() async throws {
        let scratch = try ScratchFolder()
        defer { scratch.remove() }
        let path = scratch.file("in.txt")
        var bytes = Array("http://127.0.0.1:1/ok\nhttp://x/".utf8)
        bytes += [0xFF, 0xFE]
        bytes += Array("\n".utf8)
        #expect(FileManager.default.createFile(atPath: path, contents: Data(bytes)))
        var options = Self.options(input: path, output: scratch.file("out.jsonl"))
        options.fetcher.retry = .none
        let summary = try await FetchJob(options: options).run()
        #expect(summary.items == 2)
        let records = try parseJSONLines(try scratch.read("out.jsonl"))
        let message = records.compactMap { ($0["error"] as? [String: Any])?["message"] as? String }
            .first { $0.contains("UTF-8") }
        #expect(message?.contains("in.txt:2:10") == true, "\(String(describing: message))")
    }

    @Test func recordsLandInSQLite() async throws {
        let scratch = try ScratchFolder()
        defer { scratch.remove() }
        try await FixtureServer.withServer { server in
            let urls = (0..<25).map { server.url("/json/\($0)") } + [server.url("/status/500")]
            let input = try scratch.write("in.txt", urls.joined(separator: "\n"))
            var options = Self.options(input: input, output: nil)
            options.database = .sqlite(path: scratch.file("results.db"))
            options.table = "my \"table\""
            options.fetcher.retry = .none
            let summary = try await FetchJob(options: options).run()
            #expect(summary.items == 26)
            let database = try SQLiteDatabase(path: scratch.file("results.db"))
            let rows = try database.query(
                #"SELECT COUNT(*), SUM(status = 200), SUM(error_code IS NOT NULL), MAX(json_extract(data, '$.name')) FROM "my ""table""""#
            )
            #expect(rows.first == [.int(26), .int(25), .int(1), .string("item 9")])
        }
    }

    @Test func saveDirGetsWholeFilesWithSafeNames() async throws {
        let scratch = try ScratchFolder()
        defer { scratch.remove() }
        try await FixtureServer.withServer { server in
            let lines = [
                #"{"id": "../../etc/passwd", "url": "\#(server.url("/json/a"))"}"#,
                server.url("/text"),
            ]
            let input = try scratch.write("in.txt", lines.joined(separator: "\n"))
            var options = Self.options(input: input, output: scratch.file("out.jsonl"))
            options.saveDirectory = scratch.file("bodies")
            options.ordered = true
            _ = try await FetchJob(options: options).run()
            let records = try parseJSONLines(try scratch.read("out.jsonl"))
            let files = records.compactMap { $0["file"] as? String }
            #expect(files == [scratch.file("bodies/000001-_.._etc_passwd.json"), scratch.file("bodies/000002.txt")])
            #expect(try String(contentsOfFile: files[1], encoding: .utf8) == "plain text, not JSON\n")
            #expect(records.allSatisfy { $0["data"] == nil && $0["text"] == nil })
        }
    }

    @Test func failFastStopsReadingButWritesWhatRan() async throws {
        let scratch = try ScratchFolder()
        defer { scratch.remove() }
        try await FixtureServer.withServer { server in
            let urls = [server.url("/status/400")] + (0..<200).map { server.url("/json/\($0)?delay_ms=5") }
            let input = try scratch.write("in.txt", urls.joined(separator: "\n"))
            var options = Self.options(input: input, output: scratch.file("out.jsonl"))
            options.failFast = true
            options.concurrency = 2
            let summary = try await FetchJob(options: options).run()
            #expect(summary.failed == 1)
            #expect(summary.items < 50)
            #expect(try parseJSONLines(try scratch.read("out.jsonl")).count == summary.items)
        }
    }

    @Test func summaryReconcilesAndSerializes() async throws {
        let scratch = try ScratchFolder()
        defer { scratch.remove() }
        try await FixtureServer.withServer { server in
            let urls = [server.url("/json/1"), server.url("/flaky/s?fail=1"), server.url("/status/404")]
            let input = try scratch.write("in.txt", urls.joined(separator: "\n"))
            let summary = try await FetchJob(options: Self.options(input: input, output: scratch.file("o.jsonl"))).run()
            #expect(summary.items == 3)
            #expect(summary.succeeded == 2)
            #expect(summary.failed == 1)
            #expect(summary.retries == 1)
            #expect(summary.statusClasses == ["2xx": 2, "4xx": 1])
            #expect(summary.errorCodes == ["http_status": 1])
            #expect(summary.latencyMs(percentile: 50) > 0)
            let json = JSONWriter.string(summary.value)
            #expect(json.contains(#""items":3"#))
            #expect(summary.text.contains("3 items, 2 succeeded, 1 failed"))
        }
    }

    @Test func saveDirKeepsErrorBodiesInTheRecordNotInFiles() async throws {
        let scratch = try ScratchFolder()
        defer { scratch.remove() }
        try await FixtureServer.withServer { server in
            let input = try scratch.write("in.txt", server.url("/flaky/sd?fail=9&status=503") + "\n")
            var options = Self.options(input: input, output: scratch.file("out.jsonl"))
            options.saveDirectory = scratch.file("bodies")
            options.fetcher.retry.maxAttempts = 2
            _ = try await FetchJob(options: options).run()
            let records = try parseJSONLines(try scratch.read("out.jsonl"))
            #expect(records.count == 1)
            #expect(records[0]["file"] == nil)
            #expect((records[0]["data"] as? [String: Any])?["error"] as? String == "try again")
            #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.file("bodies")).isEmpty)
        }
    }

    @Test func sqliteKeepsBinaryBodies() async throws {
        let scratch = try ScratchFolder()
        defer { scratch.remove() }
        try await FixtureServer.withServer { server in
            let input = try scratch.write("in.txt", server.url("/binary") + "\n")
            var options = Self.options(input: input, output: nil)
            options.database = .sqlite(path: scratch.file("r.db"))
            _ = try await FetchJob(options: options).run()
            let rows = try SQLiteDatabase(path: scratch.file("r.db")).query("SELECT body_base64 FROM fetch_results")
            #expect(rows == [[.string("//4AgA==")]])
        }
    }
}
