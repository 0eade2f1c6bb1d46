import Foundation
import Synchronization

/// A folder of a test's own under the temporary directory, deleted with everything in it by ``remove()`` or, at the
/// latest, when the last reference goes, so a test that throws halfway leaves nothing behind either.
///
/// Write `let folder = try ScratchFolder(); defer { folder.remove() }`: Swift may end an object's life after its
/// last use rather than at the end of the scope, and the `defer` keeps the folder until the test is done with the
/// paths it handed out.
public final class ScratchFolder: Sendable {
    public let path: String

    /// Makes `gather-NAME-XXXXXXXX` (NAME: the calling function's letters and digits).
    public init(_ name: String = #function) throws {
        let safe = name.filter { $0.isLetter || $0.isNumber }
        self.path = NSTemporaryDirectory() + "gather-\(safe)-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: self.path, withIntermediateDirectories: true)
    }

    deinit {
        self.remove()
    }

    /// The path of `name` in the folder.
    public func file(_ name: String) -> String { self.path + "/" + name }

    /// Writes `text` to `name` and returns its path.
    public func write(_ name: String, _ text: String) throws -> String {
        let path = self.file(name)
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    public func read(_ name: String) throws -> String { try String(contentsOfFile: self.file(name), encoding: .utf8) }

    /// Deletes the folder and what it holds now.
    public func remove() { try? FileManager.default.removeItem(atPath: self.path) }
}

extension ScratchFolder {
    /// A new folder for helpers that hand out a path rather than a folder: it stays until the test process exits,
    /// and is deleted then.
    public static func untilExit(_ name: String = #function) -> String {
        let folder: ScratchFolder
        do {
            folder = try ScratchFolder(name)
        } catch {
            fatalError("cannot make a scratch folder under \(NSTemporaryDirectory()): \(error)")
        }
        let first = keptUntilExit.withLock { kept in
            kept.append(folder)
            return kept.count == 1
        }
        if first { atexit { for folder in keptUntilExit.withLock({ $0 }) { folder.remove() } } }
        return folder.path
    }
}

/// The folders ``ScratchFolder/untilExit(_:)`` handed out, removed at exit.
private let keptUntilExit = Mutex<[ScratchFolder]>([])
