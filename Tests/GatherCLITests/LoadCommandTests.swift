import Foundation
import GatherCore
import GatherFiles
import GatherSQLite
import GatherTesting
import Testing

/// `gather load` end to end: the real executable, real files, real SQLite databases.
@Suite struct LoadCommandTests {
    /// Deterministic CSV rows with the awkward cases: quoted commas, doubled quotes, newlines inside quotes,
    /// non-ASCII text, empty fields. `first` numbers the ids so several files do not collide.
    static func csvRows(_ count: Int, first: Int = 1) -> [String] {
        (first..<(first + count)).map { id in
            let name: String
            switch id % 7 {
            case 0: name = "\"Smith, J\""
            case 1: name = "\"say \"\"hi\"\"\""
            case 2: name = "\"two\nlines\""
            case 3: name = "José"
            default: name = "n\(id)"
            }
            let amount = id % 5 == 0 ? "" : "\(id).\(id % 100)"
            let flag = id % 2 == 0 ? "true" : "false"
            return "\(id),\(name),\(amount),\(flag),2024-01-\(String(format: "%02d", id % 28 + 1))"
        }
    }

    static let csvHeader = "id,name,amount,flag,day"

    static func csv(_ count: Int, first: Int = 1) -> String {
        ([Self.csvHeader] + Self.csvRows(count, first: first)).joined(separator: "\n") + "\n"
    }

    /// Every row of `table`, in a stable order, as text.
    static func snapshot(_ db: String, _ table: String) throws -> [String] {
        try SQLiteDatabase(path: db).query("SELECT * FROM \"\(table)\" ORDER BY 1, 2").map { row in
            row.map { JSONWriter.string($0) }.joined(separator: "|")
        }
    }

    static func errors(_ db: String) throws -> [(request: String, code: String, message: String)] {
        try SQLiteDatabase(path: db).query("SELECT request, code, message FROM _gather_errors ORDER BY id").map {
            ($0[0].stringValue ?? "", $0[1].stringValue ?? "", $0[2].stringValue ?? "")
        }
    }

    @Test func loadsCSVWithInferredTypesAndExactText() async throws {
        let folder = try ScratchFolder()
        defer { folder.remove() }
        let file = try folder.write("people.csv", Self.csv(50))
        let db = folder.file("out.db")
        let result = try await runGather(["load", file, "--into", "sqlite:" + db, "--quiet"])
        #expect(result.status == 0, "\(result.stderr)")
        let database = try SQLiteDatabase(path: db)
        #expect(try database.query("SELECT count(*) FROM people") == [[50]])
        let types = try database.query(
            "SELECT column_name, type FROM _gather_columns WHERE table_name = 'people' ORDER BY position")
        #expect(
            types == [
                ["id", "integer"], ["name", "text"], ["amount", "real"], ["flag", "boolean"], ["day", "timestamp"],
            ])
        #expect(
            try database.query("SELECT name FROM people WHERE id IN (1, 2, 3, 7) ORDER BY id") == [
                ["say \"hi\""], ["two\nlines"], ["José"], ["Smith, J"],
            ])
        #expect(
            try database.query("SELECT typeof(id), typeof(amount), flag FROM people WHERE id = 2") == [
                ["integer", "real", 1]
            ])
        #expect(try database.query("SELECT amount FROM people WHERE id = 5") == [[.null]])

        // Repeated and empty header names keep every field.
        let twice = try folder.write("twice.csv", "a,A,,a\n1,2,3,4\n")
        #expect(try await runGather(["load", twice, "--into", db, "--quiet"]).status == 0)
        #expect(try database.query("SELECT * FROM twice") == [[1, 2, 3, 4]])
        let names = try database.query(
            "SELECT column_name FROM _gather_columns WHERE table_name = 'twice' ORDER BY position")
        #expect(names == [["a"], ["A_2"], ["column_3"], ["a_3"]])
    }

    /// The malformed-CSV suite: each bad record is an error row naming file:line (physical lines, so records
    /// with newlines inside quotes shift them), and every good row is loaded.
    @Test func malformedCSVRowsAreErrorRowsWithExactLines() async throws {
        let folder = try ScratchFolder()
        defer { folder.remove() }
        var bytes =
            Array(
                """
                id,name,note
                1,a,"multi
                line note"
                2,b,ok
                3,c
                4,d,"x","extra"
                5,e,fine

                6,f,"another
                two-line"
                """.utf8) + [0x0A]
        bytes += Array("7,g,bad \u{FF}".utf8).dropLast(2) + [0xFF, 0xFE, 0x0A]  // invalid UTF-8 on line 11, column 9
        bytes += Array("8,h,last\n9,i,\"never closed\n".utf8)
        let file = folder.file("bad.csv")
        try Data(bytes).write(to: URL(fileURLWithPath: file))
        let db = folder.file("out.db")
        let result = try await runGather(["load", file, "--into", db, "--quiet"])
        #expect(result.status == 1, "\(result.stderr)")
        let database = try SQLiteDatabase(path: db)
        #expect(try database.query("SELECT id FROM bad ORDER BY id") == [[1], [2], [5], [6], [8]])
        let errors = try Self.errors(db)
        #expect(errors.map(\.request) == ["\(file):5:1", "\(file):6:1", "\(file):11:9", "\(file):13:5"])
        #expect(errors.map(\.code) == ["csv.ragged_row", "csv.ragged_row", "csv.invalid_utf8", "file_error"])
        #expect(errors[0].message.contains("expected 3 fields, found 2"), "\(errors[0].message)")
        #expect(errors[0].message.contains("--ragged pad"), "\(errors[0].message)")
        #expect(errors[3].message.contains("unterminated") || errors[3].message.contains("quote"), "\(errors[3])")
        // The invalid UTF-8 message names the command-line flag, not an internal option.
        #expect(errors[2].message.contains("--replace-invalid-utf8"), "\(errors[2].message)")
        #expect(!errors[2].message.contains("replaceInvalidUTF8"), "\(errors[2].message)")

        // Opting in to replacement loads the invalid UTF-8 row with U+FFFD.
        let replaced = folder.file("replaced.db")
        _ = try await runGather(["load", file, "--into", replaced, "--replace-invalid-utf8", "--quiet"])
        #expect(
            try SQLiteDatabase(path: replaced).query("SELECT note FROM bad WHERE id = 7") == [["bad \u{FFFD}\u{FFFD}"]])
        // --ragged pad keeps short rows (missing fields are null).
        let padded = folder.file("padded.db")
        _ = try await runGather(["load", file, "--into", padded, "--ragged", "pad", "--quiet"])
        #expect(try SQLiteDatabase(path: padded).query("SELECT note FROM bad WHERE id = 3") == [[.null]])
    }

    /// A lone surrogate escape is invalid text, as invalid UTF-8 is: an error row that says how to keep it,
    /// unless --replace-invalid-utf8 asks for U+FFFD.
    @Test func loneSurrogateEscapesFollowTheInvalidUTF8Rule() async throws {
        let folder = try ScratchFolder()
        defer { folder.remove() }
        let file = try folder.write(
            "u.jsonl", #"{"a":"ok"}"# + "\n" + #"{"a":"x\ud800"}"# + "\n" + #"{"a":"\ud83d\ude00"}"# + "\n")
        let db = folder.file("out.db")
        let result = try await runGather(["load", file, "--into", db, "--quiet"])
        #expect(result.status == 1, "\(result.stderr)")
        #expect(try SQLiteDatabase(path: db).query("SELECT a FROM u ORDER BY 1") == [["ok"], ["😀"]])
        let errors = try Self.errors(db)
        #expect(errors.map(\.request) == ["\(file):2:8"])
        #expect(errors.map(\.code) == ["invalid_utf8"])
        #expect(errors.first?.message.contains("--replace-invalid-utf8") == true, "\(errors)")
        let replaced = folder.file("replaced.db")
        #expect(try await runGather(["load", file, "--into", replaced, "--replace-invalid-utf8", "-q"]).status == 0)
        #expect(try SQLiteDatabase(path: replaced).query("SELECT a FROM u WHERE a LIKE 'x%'") == [["x\u{FFFD}"]])
    }

    /// `-` reads standard input, with its format told by the first byte; a load that cannot start (a missing
    /// file) creates no database.
    @Test func standardInputLoadsAndAFailedLoadLeavesNothing() async throws {
        let folder = try ScratchFolder()
        defer { folder.remove() }
        let db = folder.file("stdin.db")
        let csv = try await runGather(["load", "-", "--into", db, "-q"], stdin: "a,b\n1,x\n2,y\n")
        #expect(csv.status == 0, "\(csv.stderr)")
        #expect(try SQLiteDatabase(path: db).query("SELECT a, b FROM stdin ORDER BY a") == [[1, "x"], [2, "y"]])
        let lines = try await runGather(
            ["load", "-", "--into", db, "--table", "events", "-q"], stdin: "{\"n\":1}\n{\"n\":\n")
        #expect(lines.status == 1, "\(lines.stderr)")
        #expect(try SQLiteDatabase(path: db).query("SELECT n FROM events") == [[1]])
        #expect(try Self.errors(db).map(\.request) == ["stdin:2:6"])

        let missing = folder.file("never.db")
        let failed = try await runGather(["load", folder.file("nothere.csv"), "--into", missing])
        #expect(failed.status == 2)
        #expect(failed.stderr.contains("does not exist"), "\(failed.stderr)")
        #expect(!FileManager.default.fileExists(atPath: missing))
    }

    /// The malformed JSON Lines suite: line and column of each bad record; blank lines are not records.
    @Test func malformedJSONLinesAreErrorRowsWithExactLinesAndColumns() async throws {
        let folder = try ScratchFolder()
        defer { folder.remove() }
        var bytes = Array(
            """
            {"id": 1, "tags": ["a", "b"], "address": {"city": "Oslo"}}
            {"id": 2}
            {"id": 3, "name": "x",}
            [1, 2]

            {"id": 6, "name": "ok"}

            """.utf8)
        bytes += Array("{\"id\": 8, \"name\": \"".utf8) + [0xC3, 0x28] + Array("\"}\n{\"id\": 9}".utf8)
        let file = folder.file("events.jsonl")
        try Data(bytes).write(to: URL(fileURLWithPath: file))
        let db = folder.file("out.db")
        let result = try await runGather(["load", file, "--into", db, "--quiet"])
        #expect(result.status == 1, "\(result.stderr)")
        let database = try SQLiteDatabase(path: db)
        #expect(
            try database.query("SELECT id, address__city FROM events ORDER BY id") == [
                [1, "Oslo"], [2, .null], [6, .null], [9, .null],
            ])
        #expect(try database.query("SELECT value FROM events__tags ORDER BY _gather_pos") == [["a"], ["b"]])
        let errors = try Self.errors(db)
        #expect(errors.map(\.request) == ["\(file):3:23", "\(file):4", "\(file):7:20"])
        #expect(errors.map(\.code) == ["invalid_json", "not_an_object", "invalid_utf8"])
    }

    /// A value that contradicts the sample widens the column and keeps its exact text, even after the table
    /// was created from earlier blocks (`--batch-rows 4`).
    @Test func typesWidenWithoutLosingValues() async throws {
        let folder = try ScratchFolder()
        defer { folder.remove() }
        let rows = [
            "zip,qty,ok,seen", "12345,1,true,2024-05-01", "23456,2,false,2024-05-02", "34567,3,true,2024-05-03",
            "45678,4,false,2024-05-04", "01234,2.5,maybe,soon", "56789,5,TRUE,2024-05-06",
        ]
        let file = try folder.write("w.csv", rows.joined(separator: "\n") + "\n")
        let db = folder.file("out.db")
        let result = try await runGather(["load", file, "--into", db, "--batch-rows", "4", "--quiet"])
        #expect(result.status == 0, "\(result.stderr)")
        let database = try SQLiteDatabase(path: db)
        #expect(
            try database.query("SELECT zip, qty, ok, seen FROM w ORDER BY rowid") == [
                ["12345", 1, "true", "2024-05-01"], ["23456", 2, "false", "2024-05-02"],
                ["34567", 3, "true", "2024-05-03"],
                ["45678", 4, "false", "2024-05-04"], ["01234", 2.5, "maybe", "soon"],
                ["56789", 5, "TRUE", "2024-05-06"],
            ])
        let types = try database.query(
            "SELECT column_name, type FROM _gather_columns WHERE table_name = 'w' ORDER BY position")
        #expect(types == [["zip", "text"], ["qty", "real"], ["ok", "text"], ["seen", "text"]])
    }

    /// Three files at once, one malformed halfway: the other two load completely, and the third's bad rows are
    /// error rows naming the file and line, while its good rows after them still load.
    @Test func oneMalformedFileDoesNotStopTheOthers() async throws {
        let folder = try ScratchFolder()
        defer { folder.remove() }
        let a = try folder.write("part-1.csv", Self.csv(3000, first: 1))
        let b = try folder.write("part-2.csv", Self.csv(3000, first: 10_001))
        var lines = [Self.csvHeader] + Self.csvRows(3000, first: 20_001).map { $0 }
        // Rows 1,500 to 1,502 of the third file are broken (ragged, ragged, invalid UTF-8 marker replaced below).
        lines[1500] = "21500,short"
        lines[1501] = "21501,a,1.5,true,2024-01-01,extra"
        let text = lines.joined(separator: "\n") + "\n"
        let c = try folder.write("part-3.csv", text)
        let db = folder.file("out.db")
        let result = try await runGather(["load", folder.path + "/part-*.csv", "--into", db, "--table", "parts"])
        #expect(result.status == 1, "\(result.stderr)")
        #expect(result.stderr.contains("part-3.csv"), "\(result.stderr)")
        let database = try SQLiteDatabase(path: db)
        #expect(try database.query("SELECT count(*) FROM parts WHERE id < 10000") == [[3000]])
        #expect(try database.query("SELECT count(*) FROM parts WHERE id BETWEEN 10001 AND 20000") == [[3000]])
        #expect(try database.query("SELECT count(*) FROM parts WHERE id > 20000") == [[2998]])
        // Physical lines: the header is line 1 and rows with a newline inside quotes take two lines.
        let linesBefore = { (index: Int) -> Int in
            1 + lines[1..<index].reduce(0) { $0 + 1 + $1.filter { $0 == "\n" }.count } + 1
        }
        let errors = try Self.errors(db)
        #expect(errors.map(\.request) == ["\(c):\(linesBefore(1500)):1", "\(c):\(linesBefore(1501)):1"])
        _ = (a, b)
    }

    @Test func gzipAndZstdFilesLoadLikePlainOnes() async throws {
        let folder = try ScratchFolder()
        defer { folder.remove() }
        let text = Self.csv(4000)
        let plain = try folder.write("plain.csv", text)
        let gz = folder.file("packed.csv.gz")
        let zst = folder.file("squeezed.csv.zst")
        try Data(gzipCompress(Array(text.utf8))).write(to: URL(fileURLWithPath: gz))
        try Data(zstdCompress(Array(text.utf8))).write(to: URL(fileURLWithPath: zst))
        let db = folder.file("out.db")
        let result = try await runGather(["load", plain, gz, zst, "--into", db, "--quiet"])
        #expect(result.status == 0, "\(result.stderr)")
        let expected = try Self.snapshot(db, "plain")
        #expect(expected.count == 4000)
        let sameGzip = try Self.snapshot(db, "packed") == expected
        let sameZstd = try Self.snapshot(db, "squeezed") == expected
        #expect(sameGzip)
        #expect(sameZstd)
    }

    @Test func jsonDocumentsStreamTheSelectedArray() async throws {
        let folder = try ScratchFolder()
        defer { folder.remove() }
        let file = try folder.write(
            "api.json",
            """
            {"meta": {"count": 3, "items": "not these"},
             "data": {"items": [
               {"id": 1, "name": "a"},
               {"id": 2, "name": "b", "extra": true},
               {"id": 3, "name": "c"}
             ]}}
            """)
        let db = folder.file("out.db")
        let result = try await runGather(["load", file, "--into", db, "--json-path", "$.data.items", "--quiet"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(
            try SQLiteDatabase(path: db).query("SELECT id, name, extra FROM api ORDER BY id") == [
                [1, "a", .null], [2, "b", 1], [3, "c", .null],
            ])
        let top = try folder.write("list.json", #"[{"k": 1}, {"k": 2}]"#)
        _ = try await runGather(["load", top, "--into", db, "--quiet"])
        #expect(try SQLiteDatabase(path: db).query("SELECT k FROM list ORDER BY k") == [[1], [2]])
    }

    @Test func mergeReplaceAndSourceColumns() async throws {
        let folder = try ScratchFolder()
        defer { folder.remove() }
        let first = try folder.write("v1.csv", "id,price\n1,10\n2,20\n")
        let second = try folder.write("v2.csv", "id,price\n2,25\n3,30\n")
        let db = folder.file("out.db")
        for file in [first, second] {
            let result = try await runGather([
                "load", file, "--into", db, "--table", "prices", "--mode", "merge", "--key", "id", "--quiet",
            ])
            #expect(result.status == 0, "\(result.stderr)")
        }
        #expect(
            try SQLiteDatabase(path: db).query("SELECT id, price FROM prices ORDER BY id") == [
                [1, 10], [2, 25], [3, 30],
            ])
        let replaced = try await runGather([
            "load", second, "--into", db, "--table", "prices", "--mode", "replace", "--source-columns", "--quiet",
        ])
        #expect(replaced.status == 0, "\(replaced.stderr)")
        #expect(
            try SQLiteDatabase(path: db).query("SELECT id, source_file, source_line FROM prices ORDER BY id") == [
                [2, .string(second), 2], [3, .string(second), 3],
            ])
        let missingKey = try await runGather(["load", first, "--into", db, "--mode", "merge"])
        #expect(missingKey.status == 2)
        #expect(missingKey.stderr.contains("--key"))
    }

    /// JSON Lines and CSV destinations: exact values, errors beside the output, a TSV and a CSV in one load, and
    /// a SIGKILLed load into JSON Lines continued to exactly the clean output.
    @Test(.timeLimit(.minutes(3))) func fileDestinationsAndTheirResume() async throws {
        let folder = try ScratchFolder()
        defer { folder.remove() }
        let tsv = try folder.write("t.tsv", "id\tcode\n1\t007\n2\t12\n3\n")
        let jsonl = folder.file("out.jsonl")
        let first = try await runGather(["load", tsv, "--into", jsonl, "--quiet"])
        #expect(first.status == 1, "\(first.stderr)")
        #expect(try folder.read("out.jsonl") == "{\"id\":1,\"code\":\"007\"}\n{\"id\":2,\"code\":12}\n")
        #expect(try folder.read("out.jsonl.errors.jsonl").contains("t.tsv:4:1"))
        let csvOut = folder.file("out.csv")
        let second = try await runGather(["load", tsv, "--into", csvOut, "--ragged", "pad", "--quiet"])
        #expect(second.status == 0, "\(second.stderr)")
        #expect(try folder.read("out.csv") == "id,code\n1,007\n2,12\n3,\n")

        let big = try folder.write("big.csv", Self.csv(40_000))
        let clean = folder.file("clean.jsonl")
        #expect(try await runGather(["load", big, "--into", clean, "--batch-rows", "1000", "--quiet"]).status == 0)
        let expected = try folder.read("clean.jsonl")
        let killed = folder.file("killed.jsonl")
        var kills = 0
        var finished = false
        for delay in [150, 400, 700] where !finished {
            let result = try await runGather(["load", big, "--into", killed, "--batch-rows", "1000", "--quiet"]) {
                process in
                try await Task.sleep(for: .milliseconds(delay))
                if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            }
            if try result.status == 0 || lastRunCompleted(killed + ".gather.db") {
                finished = true
            } else {
                kills += 1
            }
        }
        if !finished {
            let final = try await runGather(["load", big, "--into", killed, "--batch-rows", "1000", "--quiet"])
            #expect(final.status == 0, "\(final.stderr)")
        }
        #expect(kills >= 1, "no load was killed mid-way")
        let same = try folder.read("killed.jsonl") == expected
        #expect(same, "the resumed output differs from a clean load's")
    }

    /// Ctrl-C stops a load gracefully (exit 130, the run recorded as interrupted); the next load continues it.
    @Test(.timeLimit(.minutes(2))) func interruptedLoadsContinue() async throws {
        let folder = try ScratchFolder()
        defer { folder.remove() }
        let big = try folder.write("big.csv", Self.csv(300_000))
        let db = folder.file("out.db")
        let stopped = try await runGather(["load", big, "--into", db, "--batch-rows", "500"]) { process in
            // Interrupt once the first block is committed: the signal handler is installed by then (a fixed delay
            // raced a slow start on a busy machine, and the default SIGINT action killed the process).
            for _ in 0..<500 {
                try await Task.sleep(for: .milliseconds(20))
                let committed = try? SQLiteDatabase(path: db).query(
                    "SELECT count(*) FROM _gather_state WHERE scope = 'load:files'")
                if let count = committed?.first?.first?.intValue, count > 0 { break }
            }
            if process.isRunning { kill(process.processIdentifier, SIGINT) }
        }
        #expect(stopped.status == 130, "\(stopped.stderr)")
        #expect(stopped.stderr.contains("interrupted"), "\(stopped.stderr)")
        let database = try SQLiteDatabase(path: db)
        #expect(try database.query("SELECT outcome FROM _gather_runs") == [["interrupted"]])
        let resumed = try await runGather(["load", big, "--into", db, "--batch-rows", "500", "--quiet"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(try database.query("SELECT count(*), count(DISTINCT id) FROM big") == [[300_000, 300_000]])
        #expect(try database.query("SELECT outcome FROM _gather_runs") == [["completed"]])
    }

    @Test func unknownPathsAndFormatsAreUsageErrors() async throws {
        let folder = try ScratchFolder()
        defer { folder.remove() }
        let missing = try await runGather(["load", folder.file("nope.csv"), "--into", folder.file("x.db")])
        #expect(missing.status == 2)
        #expect(missing.stderr.contains("nope.csv does not exist"), "\(missing.stderr)")
        let odd = try folder.write("data.txt", "a,b\n1,2\n")
        let unknown = try await runGather(["load", odd, "--into", folder.file("x.db")])
        #expect(unknown.status == 2)
        #expect(unknown.stderr.contains("--format"), "\(unknown.stderr)")
        let badDestination = try await runGather(["load", odd, "--into", folder.file("x.parquet"), "--format", "csv"])
        #expect(badDestination.status == 2)
        #expect(badDestination.stderr.contains("sqlite:"), "\(badDestination.stderr)")
    }

    /// SIGKILL at seeded points during a multi-file load (CSV, gzip CSV and JSON Lines, small transactions),
    /// then load again: every table equals a clean load's, with no duplicates and no lost rows.
    @Test(.timeLimit(.minutes(15))) func killedLoadsResumeToExactlyTheCleanResult() async throws {
        try await oneKillTestAtATime {
            let folder = try ScratchFolder()
            defer { folder.remove() }
            let inputs = folder.path + "/in"
            try FileManager.default.createDirectory(atPath: inputs, withIntermediateDirectories: true)
            _ = try folder.write("in/alpha.csv", Self.csv(30_000, first: 1))
            _ = try folder.write("in/beta.csv", Self.csv(30_000, first: 100_001))
            try Data(gzipCompress(Array(Self.csv(20_000, first: 200_001).utf8))).write(
                to: URL(fileURLWithPath: folder.file("in/gamma.csv.gz")))
            let events = (1...20_000).map { #"{"id": \#($0), "kind": "k\#($0 % 9)", "tags": ["x", "y\#($0 % 3)"]}"# }
            _ = try folder.write("in/delta.jsonl", events.joined(separator: "\n") + "\n")
            let tables = ["alpha", "beta", "gamma", "delta", "delta__tags"]

            func load(_ db: String, killAfter: Duration? = nil) async throws -> ProcessResult {
                try await runGather([
                    "load", inputs, "--into", db, "--batch-rows", "1500", "--max-open", "2", "--quiet",
                ]) {
                    process in
                    guard let killAfter else { return }
                    try await Task.sleep(for: killAfter)
                    if process.isRunning { kill(process.processIdentifier, SIGKILL) }
                }
            }
            let clean = folder.file("clean.db")
            let started = ContinuousClock.now
            let cleanRun = try await load(clean)
            let cleanDuration = started.duration(to: .now)
            #expect(cleanRun.status == 0, "\(cleanRun.stderr)")
            var expected: [String: [String]] = [:]
            for table in tables { expected[table] = try Self.snapshot(clean, table) }
            #expect(expected["alpha"]?.count == 30_000)
            #expect(expected["delta__tags"]?.count == 40_000)

            let killed = try await killAndResume(
                seed: 4_2026_1123, cleanDuration: cleanDuration, earliest: 0.05,
                destination: { folder.file("killed-\($0).db") }, run: { try await load($0, killAfter: $1) }
            ) { db, scenario in
                for table in tables {
                    let have = try Self.snapshot(db, table)
                    let want = expected[table] ?? []
                    let duplicates = have.count - Set(have).count
                    let same = have == want
                    #expect(
                        same,
                        "scenario \(scenario), \(table): \(have.count) rows, expected \(want.count); \(duplicates) duplicated"
                    )
                }
                #expect(try SQLiteDatabase(path: db).query("SELECT count(*) FROM _gather_errors") == [[0]])
            }
            #expect(killed == 10, "only \(killed) loads were killed before finishing")
        }
    }
}
