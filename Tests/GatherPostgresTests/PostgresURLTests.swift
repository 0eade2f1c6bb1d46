import Foundation
import GatherPostgres
import Testing

/// URLs, where passwords come from, and that a printed URL never shows one.
@Suite struct PostgresURLTests {
    @Test func partsAreParsedAndDecoded() throws {
        let url = try PostgresURL(
            "postgres://ann%40corp:p%3Ass@db.example.com:6543/sales%2D1?sslmode=require", environment: [:])
        #expect(url.user == "ann@corp")
        #expect(url.password == "p:ss")
        #expect(url.host == "db.example.com")
        #expect(url.port == 6543)
        #expect(url.database == "sales-1")
        #expect(url.tls == .require)
        #expect(url.description == "postgres://ann@corp:***@db.example.com:6543/sales-1?sslmode=require")
        let defaults = try PostgresURL("postgresql://bob@localhost", environment: [:])
        #expect(
            defaults.port == 5432 && defaults.database == "bob" && defaults.tls == .prefer && defaults.password == nil)
        #expect(defaults.description == "postgres://bob@localhost:5432/bob")
    }

    @Test func passwordsComeFromTheURLThenPGPASSWORDThenThePasswordFile() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("pgpass-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = folder.appendingPathComponent("pgpass").path
        try """
        # comment
        other.host:5432:*:ann:wrong
        db.example.com:5432:sales:ann:from\\:file\\\\x
        *:*:*:*:fallback
        """.write(toFile: file, atomically: true, encoding: .utf8)
        let url = "postgres://ann@db.example.com/sales"
        #expect(try PostgresURL(url, environment: ["PGPASSFILE": file]).password == "from:file\\x")
        #expect(
            try PostgresURL("postgres://ann@db.example.com/other", environment: ["PGPASSFILE": file]).password
                == "fallback")
        #expect(try PostgresURL(url, environment: ["PGPASSFILE": file, "PGPASSWORD": "env"]).password == "env")
        #expect(
            try PostgresURL("postgres://ann:inline@db.example.com/sales", environment: ["PGPASSWORD": "env"]).password
                == "inline")
        let found = try PostgresURL(url, environment: ["PGPASSFILE": file])
        #expect(!found.description.contains("from"))
        #expect(found.description.contains("***"))
    }

    @Test func mistakesAreNamedWithoutEchoingThePassword() {
        #expect(throws: PostgresError.self) { try PostgresURL("mysql://x@y/z", environment: [:]) }
        do {
            _ = try PostgresURL("postgres://ann:topsecret@h:99999/db", environment: [:])
            Issue.record("a port out of range was accepted")
        } catch {
            #expect("\(error)".contains("port"))
            #expect(!"\(error)".contains("topsecret"))
        }
        do {
            _ = try PostgresURL("postgres://ann:topsecret@h/db?sslmode=sometimes", environment: [:])
            Issue.record("an unknown sslmode was accepted")
        } catch {
            #expect("\(error)".contains("sslmode=sometimes"))
            #expect(!"\(error)".contains("topsecret"))
        }
    }
}
