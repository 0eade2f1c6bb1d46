import Foundation
import GatherCore
import GatherFormats
import Testing

/// Runs the JSONPath Compliance Test Suite (`shared/conformance/jsonpath-cts/cts.json`) through
/// ``JSONPath``: invalid selectors must throw, valid ones must select the expected values (one of
/// the allowed results when the order is not deterministic) at the expected normalized paths.
///
/// The file is found by walking up from this source file to a directory holding
/// `shared/conformance/jsonpath-cts/cts.json`; set `JSONPATH_CTS` to a path to override.
@Suite("JSONPath conformance (jsonpath-compliance-test-suite)")
struct JSONPathConformanceTests {
    /// CTS cases that are known to fail, by name, with the reason. Empty when fully conformant.
    static let knownFailures: [String: String] = [:]

    /// The location of `cts.json`, or `nil` when it cannot be found.
    static let suiteFile: URL? = {
        if let override = ProcessInfo.processInfo.environment["JSONPATH_CTS"] {
            return URL(fileURLWithPath: override)
        }
        return ConformanceData.url("jsonpath-cts/cts.json")
    }()

    /// The outcome of one case: `nil` when it passed, else why it failed.
    static func failure(of test: Value) -> String? {
        guard let selector = test["selector"]?.stringValue else { return "case has no selector" }
        let path: JSONPath
        do {
            path = try JSONPath(selector)
        } catch {
            if test["invalid_selector"]?.boolValue == true { return nil }
            return "rejected a valid selector: \(error)"
        }
        if test["invalid_selector"]?.boolValue == true {
            return "accepted an invalid selector"
        }
        let document = test["document"] ?? .null
        let values = Value.array(path.select(in: document))
        let paths = Value.array(path.paths(in: document).map(Value.string))
        if let expected = test["result"] {
            guard values == expected else { return "selected \(values), expected \(expected)" }
            if let expectedPaths = test["result_paths"], paths != expectedPaths {
                return "paths \(paths), expected \(expectedPaths)"
            }
            return nil
        }
        if let alternatives = test["results"]?.arrayValue {
            let pathAlternatives = test["results_paths"]?.arrayValue
            for (i, expected) in alternatives.enumerated() where values == expected {
                if let pathAlternatives, i < pathAlternatives.count, paths != pathAlternatives[i] {
                    continue
                }
                return nil
            }
            return "selected \(values) at \(paths), expected one of \(alternatives)"
        }
        return "case has neither result nor results"
    }

    @Test("every CTS case passes, except the documented known failures")
    func compliance() throws {
        let url = try #require(Self.suiteFile, "cts.json not found; set JSONPATH_CTS")
        let suite = try JSONReader.parse([UInt8](try Data(contentsOf: url)))
        let tests = try #require(suite["tests"]?.arrayValue)
        var passed = 0
        var failures: [String] = []
        for test in tests {
            let name = test["name"]?.stringValue ?? "?"
            if let reason = Self.failure(of: test) {
                if Self.knownFailures[name] == nil {
                    failures.append("\(name) [\(test["selector"]?.stringValue ?? "")]: \(reason)")
                }
            } else {
                passed += 1
            }
        }
        print("JSONPath CTS: \(passed)/\(tests.count) passed")
        for failure in failures {
            Issue.record("\(failure)")
        }
        #expect(failures.isEmpty)
        #expect(passed + Self.knownFailures.count >= tests.count)
    }
}
