import Foundation
import GatherCore
import GatherPipeline
import GatherSQLite
import GatherTesting
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// `crawl` resources and YAML extraction specs.
@Suite struct CrawlResourceTests {
    @Test func aCrawlResourceWritesPagesWithListRecordsAndCounts() async throws {
        try await CrawlSite.withServer(.init(pageCount: 20)) { site in
            let folder = temporaryDirectory()
            let yaml = """
                name: shop
                destination: sqlite:out.db
                resources:
                  - name: pages
                    crawl:
                      start: ${SITE}/
                      same_host: true
                      max_depth: 3
                      extract:
                        fields:
                          title: css:title::text
                          price: { css: span.price::text, regex: "([0-9]+)\\\\.", type: integer }
                  - name: links
                    crawl:
                      start: ${SITE}/p/1
                      prefixes: ["${SITE}/p/"]
                      max_pages: 1
                      extract:
                        list: css:a[href]
                        fields: { href: css:a::attr(href), text: "xpath:normalize-space(.)" }
                """
            let pipeline = try PipelineLoader.parse(
                text: yaml, file: folder + "/p.yaml", environment: ["SITE": site.baseURL])
            let summary = try await PipelineRunner(pipeline, options: .init()).run()
            #expect(summary.outcome == "completed", "\(summary)")
            let db = try SQLiteDatabase(path: folder + "/out.db")
            #expect(try db.query("SELECT max(depth) FROM pages") == [[3]])
            #expect(try db.query("SELECT title, price FROM pages WHERE url LIKE '%/p/6'") == [["Page 6 & co", 6]])
            let links = try db.query("SELECT href, text FROM links ORDER BY rowid").map { "\($0)" }
            #expect(links.first == "[\"2\", \"child\"]", "\(links)")
            #expect(links.count == 7, "\(links)")
            let counts = summary.resources.first { $0.resource == "pages" }
            #expect(try db.query("SELECT count(*) FROM pages") == [[.int(Int64(counts?.rows ?? -1))]])
            #expect(summary.resources.first { $0.resource == "links" }?.pages == 1)
            #expect(try db.query("SELECT count(*) FROM _gather_errors") == [[0]])
        }
    }

    @Test func extractionSpecMistakesHavePositions() throws {
        let folder = temporaryDirectory()
        let path = folder + "/spec.yaml"
        let text = """
            fields:
              title: "css:h1 >"
              price: { css: span, typ: real }
              both: { css: a, xpath: //a }
            """
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        do {
            _ = try ExtractionConfig.load(path: path)
            Issue.record("a broken spec loaded")
        } catch {
            let message = "\(error)"
            #expect(message.contains("spec.yaml:2:"), "\(message)")
            #expect(message.contains("column"), "\(message)")
            #expect(message.contains("spec.yaml:3:") && message.contains("typ"), "\(message)")
            #expect(message.contains("needs css or xpath"), "\(message)")
        }
    }
}
