import GatherPostgres
import Testing

@testable import GatherFiles

/// Every command parses its destination with ``Destination``; these are the spellings users write.
@Suite struct DestinationTests {
    @Test func everySpellingOfEveryKind() throws {
        #expect(try Destination("sqlite:a.db") == .sqlite(path: "a.db"))
        #expect(try Destination("sqlite://a.db") == .sqlite(path: "a.db"))
        #expect(try Destination("sqlite:///tmp/a.db") == .sqlite(path: "/tmp/a.db"))
        #expect(try Destination("SQLite:data") == .sqlite(path: "data"))
        #expect(try Destination("out/a.sqlite3") == .sqlite(path: "out/a.sqlite3"))
        #expect(try Destination("a.DB") == .sqlite(path: "a.DB"))
        #expect(try Destination("rows.jsonl") == .jsonLines(path: "rows.jsonl"))
        #expect(try Destination("rows.ndjson") == .jsonLines(path: "rows.ndjson"))
        #expect(try Destination("rows.csv") == .csv(path: "rows.csv"))
        let postgres = try Destination("postgres://ann:secret@127.0.0.1:5433/shop")
        guard case .postgres(let url) = postgres else {
            Issue.record("expected PostgreSQL, got \(postgres)")
            return
        }
        #expect(url.port == 5433 && url.database == "shop")
        #expect(postgres.description.contains("***") && !postgres.description.contains("secret"))
    }

    @Test func aCommandThatWritesToDatabasesRefusesFilesAndSaysWhy() throws {
        for text in ["rows.jsonl", "rows.csv"] {
            #expect(throws: DestinationError.self) { try Destination(text, accepting: .databases) }
            do {
                _ = try Destination(text, accepting: .databases)
            } catch {
                #expect("\(error)".contains("\(text) is a file, but this writes to a database"), "\(error)")
                #expect("\(error)".contains("sqlite:FILE"), "\(error)")
            }
        }
        #expect(try Destination("a.db", accepting: .databases) == .sqlite(path: "a.db"))
    }

    @Test func anUnknownNameListsTheFormsTheCommandTakes() throws {
        do {
            _ = try Destination("results", accepting: .databases)
            Issue.record("expected an error")
        } catch {
            let text = "\(error)"
            #expect(text.contains("cannot tell what kind of destination results is"), "\(text)")
            #expect(!text.contains("FILE.jsonl"), "a database-only command does not offer files: \(text)")
        }
        do {
            _ = try Destination("results")
            Issue.record("expected an error")
        } catch {
            #expect("\(error)".contains("FILE.jsonl") && "\(error)".contains("FILE.csv"), "\(error)")
        }
        #expect(throws: DestinationError.self) { try Destination("sqlite:") }
        #expect(throws: PostgresError.self) { try Destination("postgres://ann@h/db?sslmode=sometimes") }
    }

    @Test func relativePathsAreTakenFromTheGivenFolder() throws {
        #expect(try Destination("a.db").relative(to: "pipelines") == .sqlite(path: "pipelines/a.db"))
        #expect(try Destination("/abs/a.db").relative(to: "pipelines") == .sqlite(path: "/abs/a.db"))
        #expect(try Destination("a.csv").relative(to: ".") == .csv(path: "a.csv"))
        let postgres = try Destination("postgres://ann@h/db")
        #expect(postgres.relative(to: "pipelines") == postgres)
    }
}
