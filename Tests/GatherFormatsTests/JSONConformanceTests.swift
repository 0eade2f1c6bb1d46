import Foundation
import GatherCore
import GatherFormats
import Testing

/// Runs JSONTestSuite (`shared/conformance/json-test-suite/test_parsing`) through ``JSONReader``:
/// every `y_` file must parse, every `n_` file must be rejected, and every `i_` file must either
/// parse or throw, without crashing.
@Suite("JSON conformance (JSONTestSuite)")
struct JSONConformanceTests {
    struct Case: CustomTestStringConvertible, Sendable {
        let name: String
        let url: URL
        var testDescription: String { name }
    }

    /// `shared/conformance/json-test-suite/test_parsing`, found by walking up from this file
    /// (`main/Tests/GatherCoreTests/` → `main/../shared/`). `nil` if it is not there.
    static let suiteDirectory: URL? = ConformanceData.url("json-test-suite/test_parsing")

    static let cases: [Case] = {
        guard let dir = suiteDirectory,
            let names = try? FileManager.default.contentsOfDirectory(atPath: dir.path)
        else { return [] }
        return names.filter { $0.hasSuffix(".json") }.sorted().map {
            Case(name: $0, url: dir.appendingPathComponent($0))
        }
    }()

    /// Parses one file; `nil` when the reader accepted it, else the error.
    static func outcome(of testCase: Case) throws -> JSONError? {
        let bytes = [UInt8](try Data(contentsOf: testCase.url))
        do {
            _ = try JSONReader.parse(bytes)
            return nil
        } catch {
            return error
        }
    }

    @Test("every test file behaves as its prefix demands", arguments: cases)
    func file(_ testCase: Case) throws {
        let error = try Self.outcome(of: testCase)
        if testCase.name.hasPrefix("y_") {
            #expect(error == nil, "must parse: \(error.map(String.init(describing:)) ?? "")")
        } else if testCase.name.hasPrefix("n_") {
            #expect(error != nil, "must be rejected")
            if let error {
                #expect(error.offset >= 0 && error.line >= 1 && error.column >= 1)
                #expect(!error.message.isEmpty)
            }
        }
        // i_: either outcome is fine; reaching this line means it did not crash.
    }

    @Test("summary: all y accepted, all n rejected")
    func summary() throws {
        let dir = try #require(Self.suiteDirectory, "shared/conformance/json-test-suite/test_parsing not found")
        var counts: [String: (total: Int, accepted: Int)] = ["y": (0, 0), "n": (0, 0), "i": (0, 0)]
        for testCase in Self.cases {
            let prefix = String(testCase.name.prefix(1))
            let accepted = try Self.outcome(of: testCase) == nil
            counts[prefix, default: (0, 0)].total += 1
            if accepted { counts[prefix, default: (0, 0)].accepted += 1 }
        }
        let y = counts["y"]!, n = counts["n"]!, i = counts["i"]!
        print(
            "JSONTestSuite (\(dir.path)): y \(y.accepted)/\(y.total) accepted, "
                + "n \(n.total - n.accepted)/\(n.total) rejected, "
                + "i \(i.accepted) accepted + \(i.total - i.accepted) rejected of \(i.total)"
        )
        #expect(y.total == 95)
        #expect(n.total == 188)
        #expect(i.total == 35)
        #expect(y.accepted == y.total)
        #expect(n.accepted == 0)
    }

    @Test("100,000 opening brackets fail cleanly with depthLimit")
    func deepNesting() {
        let bytes = [UInt8](repeating: UInt8(ascii: "["), count: 100_000)
        #expect {
            _ = try JSONReader.parse(bytes)
        } throws: { error in
            guard let error = error as? JSONError else { return false }
            return error.code == .depthLimit && error.offset == 512
        }
        let objects = String(repeating: #"{"a":"#, count: 100_000)
        #expect(throws: JSONError.self) { _ = try JSONReader.parse(objects) }
    }

    @Test("nesting up to maxDepth is accepted, one more level is not")
    func depthBoundary() throws {
        let ok = String(repeating: "[", count: 512) + String(repeating: "]", count: 512)
        _ = try JSONReader.parse(ok)
        let tooDeep = "[" + ok + "]"
        let error = try #require(throws: JSONError.self) { try JSONReader.parse(tooDeep) }
        #expect(error.code == .depthLimit)
        var config = JSONReader.Configuration()
        config.maxDepth = 2
        _ = try JSONReader.parse("[[1]]", configuration: config)
        #expect(throws: JSONError.self) { try JSONReader.parse("[{\"a\":[]}]", configuration: config) }
    }
}
