import GatherCore

/// An ``Expression`` that could not be parsed or evaluated: what is wrong, how to fix it, and where.
///
/// Parse errors (unknown function, unterminated string, unexpected token, …) are thrown by
/// ``Expression/init(_:)``; evaluation errors (division by zero, a non-boolean operand of `and`,
/// a failed conversion, …) by ``Expression/evaluate(_:context:)``. Both point at the offending token.
///
/// ```swift
/// do {
///     _ = try Expression("upper(x) + uper(y)")
/// } catch {
///     print(error)
///     // column 12: unknown function 'uper' (did you mean 'upper'?)
///     //   upper(x) + uper(y)
///     //              ^
/// }
/// ```
public struct ExpressionError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What is wrong with the expression and what to write instead.
    public var message: String
    /// The 1-based column, in characters, of the offending token in ``source``.
    public var column: Int
    /// The expression text.
    public var source: String

    /// Creates an error with a message, the column it refers to and the expression text.
    ///
    /// - Parameters:
    ///   - message: What is wrong and how to fix it.
    ///   - column: The 1-based column, in characters, of the offending token.
    ///   - source: The expression text.
    public init(message: String, column: Int, source: String) {
        self.message = message
        self.column = column
        self.source = source
    }

    /// The message with its column, followed by the expression and a caret under the column.
    ///
    /// ```text
    /// column 12: unknown function 'uper' (did you mean 'upper'?)
    ///   upper(x) + uper(y)
    ///              ^
    /// ```
    public var description: String {
        // Line breaks and tabs would break the alignment of the caret: show them as spaces.
        var line = ""
        for character in source {
            line.append(character.isNewline || character == "\t" ? " " : character)
        }
        let pad = String(repeating: " ", count: 2 + max(0, column - 1))
        return "column \(column): \(message)\n  \(line)\n\(pad)^"
    }
}
