/// One problem in a configuration file: where it is, what is wrong, and what to write instead.
///
/// ```swift
/// ConfigError(location: loc, message: "'timeout' must be a duration like 30s or 500ms, not 'soon'")
///     .description   // "pipeline.yaml:7:14: 'timeout' must be a duration like 30s or 500ms, not 'soon'"
/// ```
public struct ConfigError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Where the problem is; `nil` for problems with no place in a file (an unreadable file).
    public var location: SourceLocation?
    /// What is wrong and what to write instead.
    public var message: String

    public init(location: SourceLocation?, message: String) {
        self.location = location
        self.message = message
    }

    /// `file:line:column: message`, or just the message without a location.
    public var description: String {
        guard let location else { return message }
        return "\(location): \(message)"
    }
}

/// Every problem found in a configuration, reported together.
///
/// `description` is one error per line, sorted by location (errors without a location first).
///
/// ```swift
/// var errors = ConfigErrors()
/// errors.append(object.error(at: "parent", "unknown resource 'repo'; did you mean 'repos'?"))
/// try errors.throwIfAny()
/// ```
public struct ConfigErrors: Error, Sendable, CustomStringConvertible {
    /// The errors, in the order found.
    public var errors: [ConfigError]

    public init(_ errors: [ConfigError] = []) {
        self.errors = errors
    }

    /// `true` when nothing is wrong.
    public var isEmpty: Bool { errors.isEmpty }

    /// Adds one error.
    public mutating func append(_ error: ConfigError) {
        errors.append(error)
    }

    /// Adds several errors.
    public mutating func append(contentsOf other: ConfigErrors) {
        errors.append(contentsOf: other.errors)
    }

    /// Adds several errors.
    public mutating func append(contentsOf other: [ConfigError]) {
        errors.append(contentsOf: other)
    }

    /// Throws `self` when there is at least one error.
    public func throwIfAny() throws(ConfigErrors) {
        if !errors.isEmpty { throw self }
    }

    /// The errors sorted by location (stable for equal locations), duplicates removed.
    public var sorted: [ConfigError] {
        var seen = Set<ConfigError>()
        let unique = errors.filter { seen.insert($0).inserted }
        return unique.enumerated().sorted { a, b in
            switch (a.element.location, b.element.location) {
            case (nil, nil): return a.offset < b.offset
            case (nil, _): return true
            case (_, nil): return false
            case (let x?, let y?): return x == y ? a.offset < b.offset : x < y
            }
        }.map(\.element)
    }

    /// One error per line, sorted by location.
    public var description: String {
        sorted.map(\.description).joined(separator: "\n")
    }
}
