/// Why a job could not run at all (as opposed to one item failing, which becomes an error record).
///
/// The ``exitCode`` follows `gather`'s contract: 2 for a usage or configuration error, 3 for a fatal error.
public struct JobError: Error, Sendable, CustomStringConvertible {
    /// What went wrong and what to change.
    public var message: String
    /// The process exit code this error maps to.
    public var exitCode: Int32

    /// A usage or configuration error (exit code 2): the message says what to change.
    public static func usage(_ message: String) -> JobError { JobError(message: message, exitCode: 2) }
    /// A fatal error during the run (exit code 3).
    public static func fatal(_ message: String) -> JobError { JobError(message: message, exitCode: 3) }

    public var description: String { self.message }
}
