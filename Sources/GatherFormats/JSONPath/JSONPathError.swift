import GatherCore

/// A JSONPath expression that ``JSONPath/init(_:)`` rejected: what is wrong, how to fix it, and where.
///
/// ```swift
/// do {
///     _ = try JSONPath("$.a[01]")
/// } catch {
///     print(error.offset, error.message)
///     // 4 leading zeros are not allowed in an index: write 1 instead of 01
/// }
/// ```
public struct JSONPathError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What is wrong with the expression and what to write instead.
    public var message: String
    /// Where the problem was found: a 0-based position in Unicode scalars from the start of the
    /// expression (for ASCII expressions, the character offset).
    public var offset: Int

    /// Creates an error with a message and the position it refers to.
    ///
    /// - Parameters:
    ///   - message: What is wrong and how to fix it.
    ///   - offset: The 0-based Unicode scalar position in the expression.
    public init(message: String, offset: Int) {
        self.message = message
        self.offset = offset
    }

    /// The message with its position, e.g. `invalid JSONPath at offset 4: …`.
    public var description: String {
        "invalid JSONPath at offset \(offset): \(message)"
    }
}
