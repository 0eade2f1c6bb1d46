import Foundation
import GatherCore
import Yams

/// Reads YAML pipeline files into ``ConfigNode`` trees with source positions, and expands `${VAR}` references.
///
/// ```swift
/// let root = try ConfigLoader.load(path: "github.yaml")
/// let pipeline = try pipelineSpec.validate(root)
/// ```
///
/// - Anchors and aliases are resolved (an alias carries the location of its anchor); merge keys (`<<: *base`)
///   are applied, with keys written in the mapping winning over merged ones.
/// - A key written twice in one mapping is an error at the second one.
/// - Keys are never expanded; only scalar values are, after parsing, so locations stay exact.
public enum ConfigLoader {
    /// Reads, parses and expands the file at `path`. Variables come from `environment`, then from a `.env`
    /// file in the same directory, if there is one.
    ///
    /// - Throws: Every problem found: unreadable file, YAML syntax (one), duplicate keys, unset variables.
    public static func load(
        path: String, environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(ConfigErrors) -> ConfigNode {
        let (node, errors) = try self.loadKeepingErrors(path: path, environment: environment)
        try errors.throwIfAny()
        return node
    }

    /// Like ``load(path:environment:)``, but a file that parses is returned with the problems found expanding it
    /// (an unset variable leaves its value unexpanded), so that a caller can check the rest and report every
    /// problem at once. Errors that leave no tree (an unreadable file, YAML syntax) are thrown.
    public static func loadKeepingErrors(
        path: String, environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(ConfigErrors) -> (ConfigNode, ConfigErrors) {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            let reason = FileManager.default.fileExists(atPath: path) ? "it is not readable UTF-8 text" : "no such file"
            throw ConfigErrors([
                ConfigError(location: nil, message: "cannot read pipeline file \(path): \(reason); check the path")
            ])
        }
        let directory = (path as NSString).deletingLastPathComponent
        return try parseKeepingErrors(text: text, file: path, environment: environment, dotEnvDirectory: directory)
    }

    /// Parses YAML `text` (reported as `file`) and expands `${VAR}` references from `environment`, then from
    /// `dotEnvDirectory/.env` when that directory is given and the file exists.
    public static func parse(
        text: String, file: String, environment: [String: String] = ProcessInfo.processInfo.environment,
        dotEnvDirectory: String? = nil
    ) throws(ConfigErrors) -> ConfigNode {
        let (node, errors) = try self.parseKeepingErrors(
            text: text, file: file, environment: environment, dotEnvDirectory: dotEnvDirectory)
        try errors.throwIfAny()
        return node
    }

    /// Like ``parse(text:file:environment:dotEnvDirectory:)``, returning the expansion problems with the tree.
    public static func parseKeepingErrors(
        text: String, file: String, environment: [String: String] = ProcessInfo.processInfo.environment,
        dotEnvDirectory: String? = nil
    ) throws(ConfigErrors) -> (ConfigNode, ConfigErrors) {
        var errors = ConfigErrors()
        var substitution = EnvironmentSubstitution(environment: environment)
        if let dotEnvDirectory {
            let path = dotEnvDirectory.isEmpty ? ".env" : (dotEnvDirectory as NSString).appendingPathComponent(".env")
            substitution.dotEnvPath = path
            if let dotEnvText = try? String(contentsOfFile: path, encoding: .utf8) {
                let parsed = DotEnv.parse(dotEnvText)
                substitution.dotEnv = parsed.variables
                for problem in parsed.problems {
                    errors.append(
                        ConfigError(
                            location: SourceLocation(file: path, line: problem.line, column: 1),
                            message: problem.message))
                }
            }
        }
        let node = try parseYAML(text: text, file: file)
        let expanded = expand(node, with: substitution, errors: &errors)
        return (expanded, errors)
    }

    /// Parses YAML `text` without expanding variables.
    public static func parseYAML(text: String, file: String) throws(ConfigErrors) -> ConfigNode {
        var source = text
        var renamedKeys: [Position: Unicode.Scalar] = [:]
        var root: Node?
        // Yams rejects duplicate keys at the *first* occurrence. Make that key unique (its first character
        // becomes a private-use character, which keeps every column) and parse again, so that our own check
        // reports the second one.
        while true {
            do {
                root = try Yams.compose(yaml: source)
                break
            } catch YamlError.duplicatedKeysInMapping(_, let context) {
                let position = Position(line: context.mark.line, column: context.mark.column)
                guard renamedKeys[position] == nil, renamedKeys.count < 4096,
                    let placeholder = Unicode.Scalar(0xE000 + UInt32(renamedKeys.count)),
                    let original = renameKey(in: &source, at: position, to: placeholder)
                else {
                    throw ConfigErrors([
                        ConfigError(
                            location: location(file, context.mark),
                            message: "duplicate key in this mapping; remove or rename one of them")
                    ])
                }
                renamedKeys[position] = original
            } catch {
                throw ConfigErrors([syntaxError(error, file: file, text: text)])
            }
        }
        guard let root else {
            return ConfigNode(.null, location: SourceLocation(file: file, line: 1, column: 1))
        }
        var errors = ConfigErrors()
        let converter = Converter(file: file, renamedKeys: renamedKeys)
        let node = converter.convert(root, errors: &errors)
        try errors.throwIfAny()
        return node
    }

    struct Position: Hashable {
        var line: Int
        var column: Int
    }

    static func location(_ file: String, _ mark: Mark?) -> SourceLocation {
        SourceLocation(file: file, line: mark?.line ?? 1, column: mark?.column ?? 1)
    }

    /// Replaces the first character of the key starting at `position` with `placeholder`; returns the one replaced.
    private static func renameKey(
        in text: inout String, at position: Position, to placeholder: Unicode.Scalar
    ) -> Unicode.Scalar? {
        var scalars = Array(text.unicodeScalars)
        var line = 1
        var index = 0
        while line < position.line, index < scalars.count {
            if scalars[index] == "\n" { line += 1 }
            index += 1
        }
        index += position.column - 1
        if index < scalars.count, scalars[index] == "\"" || scalars[index] == "'" {
            index += 1
            if index < scalars.count, scalars[index] == "\\" { return nil }
        }
        guard index < scalars.count, scalars[index] != "\n", scalars[index] != "\"", scalars[index] != "'",
            scalars[index] != "&", scalars[index] != "!", scalars[index] != "*", scalars[index] != "{",
            scalars[index] != "["
        else { return nil }
        let original = scalars[index]
        scalars[index] = placeholder
        var rebuilt = String.UnicodeScalarView()
        rebuilt.append(contentsOf: scalars)
        text = String(rebuilt)
        return original
    }

    private static func syntaxError(_ error: any Error, file: String, text: String) -> ConfigError {
        guard let yamlError = error as? YamlError else {
            return ConfigError(location: nil, message: "invalid YAML in \(file): \(error); \(generalHint)")
        }
        switch yamlError {
        case .scanner(let context, let problem, let mark, _), .parser(let context, let problem, let mark, _),
            .composer(let context, let problem, let mark, _):
            var message = "invalid YAML: \(problem)"
            if let context, context.mark.line > 0 {
                message += " (\(context.text) at line \(context.mark.line), column \(context.mark.column))"
            }
            return ConfigError(location: location(file, mark), message: message + "; " + hint(problem, mark, text))
        case .reader(let problem, _, _, _):
            return ConfigError(
                location: SourceLocation(file: file, line: 1, column: 1),
                message: "cannot read YAML: \(problem); save the file as UTF-8 text")
        default:
            return ConfigError(location: nil, message: "invalid YAML in \(file): \(yamlError); \(generalHint)")
        }
    }

    private static let generalHint =
        "check the indentation, and quote values that contain ': ' or ' #' or start with a special character"

    /// What to do about a libYAML problem.
    private static func hint(_ problem: String, _ mark: Mark, _ text: String) -> String {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        let line = mark.line >= 1 && mark.line <= lines.count ? lines[mark.line - 1] : ""
        if line.prefix(while: { $0 == " " || $0 == "\t" }).contains("\t") {
            return "indent with spaces, not tabs"
        }
        if problem.contains("expected ',' or '}'") || problem.contains("expected ',' or ']'") {
            return "inside { } or [ ], quote values that contain {, }, [, ], ',' or ': ', like "
                + "{ path: \"/orgs/{org}/repos\" }"
        }
        if problem.contains("undefined alias") {
            return "define the anchor (&name) before using it as *name"
        }
        if problem.contains("another document") {
            return "a configuration file holds one document; remove the '---' separator"
        }
        return generalHint
    }

    /// Expands `${…}` in every scalar value (not in keys).
    static func expand(
        _ node: ConfigNode, with substitution: EnvironmentSubstitution, errors: inout ConfigErrors
    ) -> ConfigNode {
        switch node.kind {
        case .null:
            return node
        case .scalar(let text, let quoted):
            guard EnvironmentSubstitution.mayContainReferences(text) else { return node }
            do {
                let (expanded, substitutions) = try substitution.expand(text)
                return ConfigNode(
                    .scalar(expanded, quoted: quoted), location: node.location, substitutions: substitutions)
            } catch {
                errors.append(ConfigError(location: node.location, message: error.message))
                // The rest of the file is still checked: unset variables read as empty text here, and what that
                // makes fail at this value is not reported again (PipelineLoader drops errors at this location).
                var lenient = substitution
                var failure: SubstitutionError? = error
                while let variable = failure?.variable, lenient.environment[variable] == nil {
                    lenient.environment[variable] = ""
                    do {
                        let (expanded, substitutions) = try lenient.expand(text)
                        return ConfigNode(
                            .scalar(expanded, quoted: quoted), location: node.location, substitutions: substitutions)
                    } catch {
                        if let variable = error.variable, variable != failure?.variable {
                            errors.append(ConfigError(location: node.location, message: error.message))
                        }
                        failure = error
                    }
                }
                return node
            }
        case .sequence(let elements):
            let expanded = elements.map { expand($0, with: substitution, errors: &errors) }
            return ConfigNode(
                .sequence(expanded), location: node.location,
                containsSubstitution: expanded.contains { $0.containsSubstitution })
        case .mapping(let entries):
            let expanded = entries.map {
                (key: $0.key, keyLocation: $0.keyLocation, value: expand($0.value, with: substitution, errors: &errors))
            }
            return ConfigNode(
                .mapping(expanded), location: node.location,
                containsSubstitution: expanded.contains { $0.value.containsSubstitution })
        }
    }
}

/// Turns a Yams node tree into ``ConfigNode``s: locations, restored key names, merge keys, duplicate keys.
private struct Converter {
    let file: String
    let renamedKeys: [ConfigLoader.Position: Unicode.Scalar]

    typealias Entry = (key: String, keyLocation: SourceLocation, value: ConfigNode)

    func convert(_ node: Node, errors: inout ConfigErrors) -> ConfigNode {
        let location = ConfigLoader.location(file, node.mark)
        switch node {
        case .scalar(let scalar):
            // Quoted and block scalars, and `!!str`-tagged ones, are strings; plain ones are typed later.
            let quoted = scalar.style != .plain || scalar.tag.rawValue == Tag.Name.str.rawValue
            if !quoted, scalar.tag.rawValue.isEmpty, YAMLCoreSchema.isNull(plain: scalar.string) {
                return ConfigNode(.null, location: location)
            }
            return ConfigNode(.scalar(scalar.string, quoted: quoted), location: location)
        case .alias:
            // `compose` resolves aliases to the nodes they name; a bare alias node cannot occur.
            errors.append(ConfigError(location: location, message: "unresolved alias; define the &anchor before it"))
            return ConfigNode(.null, location: location)
        case .sequence(let sequence):
            return ConfigNode(.sequence(sequence.map { convert($0, errors: &errors) }), location: location)
        case .mapping(let mapping):
            var entries: [Entry] = []
            var merged: [Entry] = []
            for (keyNode, valueNode) in mapping {
                let keyLocation = ConfigLoader.location(file, keyNode.mark)
                guard let key = keyText(keyNode) else {
                    errors.append(
                        ConfigError(
                            location: keyLocation,
                            message: "a key must be plain text, not a list or mapping; write name: value"))
                    continue
                }
                let value = convert(valueNode, errors: &errors)
                if key == "<<", keyNode.scalar?.style == .plain {
                    merged.append(contentsOf: mergeEntries(value, errors: &errors))
                    continue
                }
                if let first = entries.first(where: { $0.key == key }) {
                    errors.append(
                        ConfigError(
                            location: keyLocation,
                            message: "duplicate key '\(key)' (first at line \(first.keyLocation.line), column "
                                + "\(first.keyLocation.column)); remove one of them"))
                    continue
                }
                entries.append((key, keyLocation, value))
            }
            for entry in merged where !entries.contains(where: { $0.key == entry.key }) {
                entries.append(entry)
            }
            return ConfigNode(.mapping(entries), location: location)
        }
    }

    /// The key as text, with a renamed first character restored.
    private func keyText(_ node: Node) -> String? {
        guard case .scalar(let scalar) = node else { return nil }
        guard let mark = node.mark,
            let original = renamedKeys[ConfigLoader.Position(line: mark.line, column: mark.column)]
        else { return scalar.string }
        var restored = String.UnicodeScalarView()
        restored.append(original)
        restored.append(contentsOf: scalar.string.unicodeScalars.dropFirst())
        return String(restored)
    }

    /// The entries a merge key (`<<: *base` or `<<: [*a, *b]`) brings in; earlier mappings win.
    private func mergeEntries(_ value: ConfigNode, errors: inout ConfigErrors) -> [Entry] {
        switch value.kind {
        case .mapping(let entries):
            return entries
        case .sequence(let elements):
            var result: [Entry] = []
            for element in elements {
                guard case .mapping(let entries) = element.kind else {
                    errors.append(
                        ConfigError(
                            location: element.location, message: "'<<' merges mappings; write <<: *anchor"))
                    continue
                }
                for entry in entries where !result.contains(where: { $0.key == entry.key }) {
                    result.append(entry)
                }
            }
            return result
        default:
            errors.append(
                ConfigError(
                    location: value.location,
                    message: "'<<' merges a mapping; write <<: *anchor, naming a mapping marked &anchor"))
            return []
        }
    }
}
