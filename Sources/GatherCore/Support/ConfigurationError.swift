/// A setting that cannot be used as written: a bad duration, rate, header or flag value.
///
/// The message says what was wrong and what to write instead, so a command-line tool can print it as is:
///
/// ```swift
/// do { _ = try Duration(parsing: "10 parsecs") }
/// catch let error as ConfigurationError { print(error) }
/// // invalid duration "10 parsecs": write a number with a unit, like 500ms, 30s, 2m or 1h
/// ```
public struct ConfigurationError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What was wrong and how to fix it.
    public var message: String

    /// Creates an error with a message that names the bad value and says what to write instead.
    public init(_ message: String) {
        self.message = message
    }

    public var description: String { self.message }
}
