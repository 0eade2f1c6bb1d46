/// A file that cannot be read or loaded, with what to do about it.
public struct FileError: Error, Sendable, CustomStringConvertible {
    /// What happened, naming the file (and line where there is one), and what to do.
    public var message: String

    public init(_ message: String) {
        self.message = message
    }

    public var description: String { message }
}
