import GatherCore
import GatherStore
import Testing

@Suite struct ErrorDigestTests {
    @Test func groupsByReasonAndRanksByCount() {
        var digest = ErrorDigest()
        for key in 1...3 {
            digest.add(resource: "items", code: "expression", message: "division by zero", example: "k\(key)")
        }
        digest.add(resource: "items", code: "missing_field", message: "no field 'idd'", example: "k9")
        for key in 1...2 {
            digest.add(resource: "users", code: "expression", message: "division by zero", example: "u\(key)")
        }
        #expect(digest.total == 6)
        #expect(digest.reasons.map(\.count) == [3, 1, 2])
        let lines = digest.render(limit: 2, rows: "_gather_errors")
        #expect(lines[0].contains("all of them are in _gather_errors"))
        #expect(lines[1] == "    3 × items [expression] division by zero")
        #expect(lines[2] == "        e.g. k1")
        #expect(lines[3] == "    2 × users [expression] division by zero")
        #expect(lines[4] == "        e.g. u1")
        #expect(lines[5] == "    … and 1 more with other reasons")
        #expect(ErrorDigest().render(rows: "x").isEmpty)
    }

    @Test func memoryIsBoundedByDistinctReasons() {
        var digest = ErrorDigest()
        for n in 0..<(ErrorDigest.capacity + 50) {
            digest.add(resource: "r", code: "c", message: "reason \(n)", example: "\(n)")
        }
        digest.add(resource: "r", code: "c", message: "reason 0", example: "again")
        #expect(digest.reasons.count == ErrorDigest.capacity)
        #expect(digest.unlisted == 50)
        #expect(digest.total == ErrorDigest.capacity + 51)
        #expect(digest.reasons[0].count == 2 && digest.reasons[0].example == "0")
        #expect(
            digest.render(limit: 1, rows: "x").last == "    … and \(ErrorDigest.capacity + 49) more with other reasons")
    }

    @Test func countsSayOneOrMany() {
        #expect(TextTable.count(1, "page") == "1 page")
        #expect(TextTable.count(0, "page") == "0 pages")
        #expect(TextTable.count(3, "error row") == "3 error rows")
        #expect(TextTable.count(2, "retry", "retries") == "2 retries")
    }
}
