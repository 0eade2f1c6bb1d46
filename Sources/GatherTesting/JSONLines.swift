import Foundation

/// Parses JSON Lines with Foundation (an independent parser, so the test does not trust Gather's own).
public func parseJSONLines(_ text: String) throws -> [[String: Any]] {
    try text.split(separator: "\n").map { line in
        guard let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
            throw NSError(domain: "test", code: 1, userInfo: [NSLocalizedDescriptionKey: "not an object: \(line)"])
        }
        return object
    }
}
