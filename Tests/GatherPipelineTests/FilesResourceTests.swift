import GatherConfig
import GatherCore
import GatherPipeline
import GatherSQLite
import GatherTesting
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// `files` resources: `gather load`'s reader inside a pipeline, with transforms and the run's state.
@Suite struct FilesResourceTests {
    static func write(_ path: String, _ bytes: [UInt8]) {
        let file = fopen(path, "wb")!
        _ = bytes.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, file) }
        fclose(file)
    }

    @Test func readsFilesThroughTransformsIntoTheRunsTables() async throws {
        let folder = temporaryDirectory()
        mkdir(folder + "/data", 0o755)
        Self.write(folder + "/data/s1.csv", Array("id,name,amount\n1,a,10\n2,b,25\n3,c,\n4,d,x\n".utf8))
        Self.write(folder + "/data/s2.csv.gz", gzipCompress(Array("id,name,amount\n5,e,50\n6,f\n".utf8)))
        Self.write(folder + "/data/e.jsonl", Array("{\"id\": 7, \"name\": \"g\", \"amount\": 70}\n{oops\n".utf8))
        let yaml = """
            name: files
            destination: sqlite:out.db
            resources:
              - name: sales
                files:
                  paths: [data/*.csv*, data/e.jsonl]
                  source_columns: true
                write: merge
                primary_key: id
                transform:
                  - filter: "amount is not null"
                  - fields: { id: id, name: upper(name), doubled: "amount * 2", line: source_line }
              - name: missing
                files: { paths: data/nothing-*.csv }
            """
        let pipeline = try PipelineLoader.parse(text: yaml, file: folder + "/p.yaml")
        let summary = try await PipelineRunner(pipeline, options: .init()).run()
        #expect(summary.outcome == "completed_with_errors")
        let db = try SQLiteDatabase(path: folder + "/out.db")
        #expect(
            try db.query("SELECT id, name, doubled, line FROM sales ORDER BY id") == [
                [1, "A", 20, 2], [2, "B", 50, 3], [5, "E", 100, 2], [7, "G", 140, 1],
            ])
        let errors = try db.query("SELECT resource, request, code FROM _gather_errors ORDER BY request")
        let requests = errors.compactMap { $0[1].stringValue?.split(separator: "/").last.map(String.init) }
        #expect(requests == ["e.jsonl:2:2", "nothing-*.csv", "s1.csv:5", "s2.csv.gz:3:1"], "\(errors)")
        #expect(errors.map { $0[2] } == ["invalid_json", "file_not_found", "transform", "csv.ragged_row"])
        let sales = summary.resources.first { $0.resource == "sales" }
        #expect(sales?.records == 8)
        #expect(sales?.written == 4)
        #expect(sales?.filtered == 1)
        #expect(sales?.errors == 3)

        // A second run merges the same rows again: nothing is duplicated.
        _ = try await PipelineRunner(pipeline, options: .init()).run()
        #expect(try db.query("SELECT count(*) FROM sales") == [[4]])
    }

    @Test func filesResourcesRejectHTTPAndParents() throws {
        let yaml = """
            name: bad
            destination: sqlite:out.db
            resources:
              - name: a
                files: { paths: x.csv }
                http: { path: /items }
              - name: b
                from: a
                http: { path: "/items/{a.id}" }
            """
        #expect(throws: ConfigErrors.self) { try PipelineLoader.parse(text: yaml, file: "/tmp/p.yaml") }
        do {
            _ = try PipelineLoader.parse(text: yaml, file: "/tmp/p.yaml")
        } catch {
            #expect(error.description.contains("a files resource takes no http"), "\(error)")
            #expect(error.description.contains("cannot be another resource's parent"), "\(error)")
        }
    }
}
