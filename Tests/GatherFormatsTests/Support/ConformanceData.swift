import Foundation

/// Third-party conformance data in `../shared/conformance`, found by walking up from this file
/// (`main/Tests/GatherCoreTests/Support/` → `main/../shared/`).
enum ConformanceData {
    /// `shared/conformance/<relative>`, or `nil` when it is not there.
    static func url(_ relative: String) -> URL? {
        var dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        for _ in 0..<7 {
            dir = dir.deletingLastPathComponent()
            let candidate = dir.appendingPathComponent("shared/conformance/" + relative)
            if FileManager.default.fileExists(atPath: candidate.path) { return candidate }
        }
        return nil
    }
}
