/// `${VAR}` expansion in scalar values.
///
/// - `${NAME}`: the variable's value; an error when it is not set.
/// - `${NAME:-default}`: the value, or `default` when the variable is unset or empty.
/// - `$$`: a literal `$`. Any other `$` (as in the JSONPath `$.items`) is kept as is.
///
/// Values come from the process environment first, then from the `.env` file beside the pipeline file.
/// Defaults are literal text (no nested `${…}`); `.env` values are not expanded either.
///
/// ```swift
/// let env = EnvironmentSubstitution(environment: ["USER": "ada"])
/// try env.expand("/users/${USER}/repos?per_page=${PER_PAGE:-100}").text   // "/users/ada/repos?per_page=100"
/// ```
public struct EnvironmentSubstitution: Sendable {
    /// The process environment (wins over `.env`).
    public var environment: [String: String]
    /// Variables from the `.env` file.
    public var dotEnv: [String: String]
    /// Where the `.env` file is (or would be), for the "not set" message.
    public var dotEnvPath: String?

    public init(environment: [String: String], dotEnv: [String: String] = [:], dotEnvPath: String? = nil) {
        self.environment = environment
        self.dotEnv = dotEnv
        self.dotEnvPath = dotEnvPath
    }

    /// The value of `name`: environment first, then `.env`.
    public func value(of name: String) -> String? {
        environment[name] ?? dotEnv[name]
    }

    /// `true` when `text` contains `$` and so may need expanding.
    static func mayContainReferences(_ text: String) -> Bool {
        text.utf8.contains(UInt8(ascii: "$"))
    }

    /// Expands every `${…}` and `$$` in `text`.
    ///
    /// - Returns: The expanded text and the expansions made (in order).
    /// - Throws: A message for the first problem: an unset variable, an unterminated or malformed reference.
    public func expand(_ text: String) throws(SubstitutionError) -> (text: String, substitutions: [Substitution]) {
        guard Self.mayContainReferences(text) else { return (text, []) }
        var output = ""
        var substitutions: [Substitution] = []
        let chars = Array(text)
        var i = 0
        while i < chars.count {
            let c = chars[i]
            guard c == "$", i + 1 < chars.count else {
                output.append(c)
                i += 1
                continue
            }
            if chars[i + 1] == "$" {
                output.append("$")
                i += 2
                continue
            }
            guard chars[i + 1] == "{" else {
                output.append(c)
                i += 1
                continue
            }
            guard let close = chars[(i + 2)...].firstIndex(of: "}") else {
                throw SubstitutionError(
                    message: "'${' is never closed; write ${NAME} or ${NAME:-default}, or $$ for a literal $")
            }
            let inner = String(chars[(i + 2)..<close])
            let name: String
            let fallback: String?
            if let range = inner.range(of: ":-") {
                name = String(inner[..<range.lowerBound])
                fallback = String(inner[range.upperBound...])
            } else {
                name = inner
                fallback = nil
            }
            guard Self.isValidName(name) else {
                throw SubstitutionError(
                    message: "'${\(inner)}' is not a valid variable reference; write ${NAME} or ${NAME:-default} "
                        + "(letters, digits and _), or $$ for a literal $")
            }
            let value: String
            if let found = self.value(of: name), !(found.isEmpty && fallback != nil) {
                value = found
            } else if let fallback {
                value = fallback
            } else {
                throw SubstitutionError(message: missingMessage(name), variable: name)
            }
            output += value
            substitutions.append(Substitution(variable: name, value: value))
            i = close + 1
        }
        return (output, substitutions)
    }

    func missingMessage(_ name: String) -> String {
        if let dotEnvPath {
            return "environment variable \(name) is not set; export it or add \(name)=… to \(dotEnvPath)"
        }
        return "environment variable \(name) is not set; export it or write ${\(name):-default}"
    }

    /// `[A-Za-z_][A-Za-z0-9_]*`
    static func isValidName<S: StringProtocol>(_ name: S) -> Bool {
        guard let first = name.unicodeScalars.first, first.isASCIILetterOrUnderscore else { return false }
        return name.unicodeScalars.allSatisfy { $0.isASCIILetterOrUnderscore || ("0"..."9").contains($0) }
    }
}

/// Why a `${…}` reference could not be expanded.
public struct SubstitutionError: Error, Sendable, Hashable {
    public var message: String
    /// The unset variable, if that is the problem.
    public var variable: String?

    public init(message: String, variable: String? = nil) {
        self.message = message
        self.variable = variable
    }
}

extension Unicode.Scalar {
    fileprivate var isASCIILetterOrUnderscore: Bool {
        ("a"..."z").contains(self) || ("A"..."Z").contains(self) || self == "_"
    }
}

/// Reads `.env` files: `KEY=VALUE` lines, `#` comments, an optional `export ` prefix, and single- or
/// double-quoted values (double quotes understand `\n`, `\t`, `\"` and `\\`; single quotes are literal).
/// An unquoted value ends at ` #` (a comment) and is trimmed.
public enum DotEnv {
    /// Parses the text of a `.env` file.
    ///
    /// - Returns: The variables, and a problem per malformed line (1-based line numbers).
    public static func parse(_ text: String) -> (variables: [String: String], problems: [(line: Int, message: String)])
    {
        var variables: [String: String] = [:]
        var problems: [(line: Int, message: String)] = []
        var lineNumber = 0
        for rawLine in text.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNumber += 1
            var line = Substring(rawLine.trimmingWhitespace())
            if line.isEmpty || line.hasPrefix("#") { continue }
            if line.hasPrefix("export ") { line = Substring(line.dropFirst("export ".count).trimmingWhitespace()) }
            guard let equals = line.firstIndex(of: "=") else {
                problems.append((lineNumber, "expected KEY=VALUE, not '\(line)'; comment it out with #"))
                continue
            }
            let key = line[..<equals].trimmingWhitespace()
            guard EnvironmentSubstitution.isValidName(key) else {
                problems.append((lineNumber, "'\(key)' is not a valid variable name; use letters, digits and _"))
                continue
            }
            let rest = Substring(line[line.index(after: equals)...].trimmingWhitespace())
            switch unquote(rest) {
            case .success(let value): variables[key] = value
            case .failure(let problem): problems.append((lineNumber, problem.message))
            }
        }
        return (variables, problems)
    }

    private struct Problem: Error {
        var message: String
    }

    private static func unquote(_ text: Substring) -> Result<String, Problem> {
        guard let quote = text.first, quote == "\"" || quote == "'" else {
            var value = text
            if let comment = value.range(of: " #") { value = value[..<comment.lowerBound] }
            return .success(value.trimmingWhitespace())
        }
        var value = ""
        var index = text.index(after: text.startIndex)
        while index < text.endIndex {
            let c = text[index]
            if c == quote { return .success(value) }
            if quote == "\"", c == "\\", text.index(after: index) < text.endIndex {
                index = text.index(after: index)
                switch text[index] {
                case "n": value.append("\n")
                case "t": value.append("\t")
                case "r": value.append("\r")
                default: value.append(text[index])
                }
            } else {
                value.append(c)
            }
            index = text.index(after: index)
        }
        return .failure(Problem(message: "the value's \(quote) is never closed; add \(quote) at the end of the line"))
    }
}
