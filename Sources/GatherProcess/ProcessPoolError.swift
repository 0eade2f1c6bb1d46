#if canImport(Glibc)
    import Glibc
#endif

/// Why the pool could not start or go on: the message names the command and says what to do.
public struct ProcessPoolError: Error, Sendable, CustomStringConvertible {
    /// What went wrong and what to do.
    public var message: String

    /// Creates an error with a message.
    public init(_ message: String) { self.message = message }

    static func system(_ call: String, _ number: Int32) -> ProcessPoolError {
        ProcessPoolError("\(call) failed: \(String(cString: strerror(number)))")
    }

    public var description: String { self.message }
}
