import Gather

/// `gather help` (the commands, then the components), `gather help COMPONENT` (a pipeline component's fields,
/// defaults and examples), `gather help expressions` (the expression language, `--markdown` for
/// docs/expressions.md) and `gather help --markdown` (the reference in docs/reference.md). `gather help
/// SUBCOMMAND` stays ArgumentParser's.
enum HelpComponents {
    /// Handles the arguments when they ask for component help; returns the exit code, or `nil` to go on.
    static func handle(_ arguments: [String]) -> Int32? {
        guard arguments.first == "help" else { return nil }
        guard arguments.count >= 2 else {
            Terminal.output(GatherCommand.helpMessage() + "\n\n" + Self.topics)
            return 0
        }
        let topic = arguments[1]
        if topic == "expressions" || topic == "expression" {
            let markdown = ExpressionReference.markdown()
            Terminal.output(arguments.contains("--markdown") ? markdown : Self.plain(markdown))
            return 0
        }
        if topic == "--markdown" {
            Terminal.output(SpecDocs.markdown(for: Self.components, title: "Pipeline and model file reference"))
            return 0
        }
        // A subcommand's name asks for its usage (ArgumentParser's help), even where a component shares it.
        let subcommands = GatherCommand.configuration.subcommands.map { $0.configuration.commandName ?? "" }
        if subcommands.contains(topic) || topic == "help" { return nil }
        let matches = Self.components.filter { $0.name == topic || $0.kind == topic }
        guard !matches.isEmpty else {
            let names = Array(Set(Self.components.map(\.name) + Self.components.map(\.kind))).sorted()
            let suggestion = Suggestions.didYouMean(topic, among: names).map { "; did you mean '\($0)'?" } ?? ""
            Terminal.error(
                "gather: no component '\(topic)'\(suggestion)\nComponents: \(names.joined(separator: ", "))")
            return 2
        }
        Terminal.output(matches.map { $0.helpText() }.joined(separator: "\n\n") + "\n")
        return 0
    }

    /// What `gather help TOPIC` explains besides the commands.
    static var topics: String {
        let names = Array(Set(Self.components.map(\.name))).sorted()
        var lines = [
            "HELP TOPICS (gather help TOPIC):", "  expressions   the expression language of filters and fields",
        ]
        var line = "  components: "
        for (index, name) in names.enumerated() {
            let item = name + (index < names.count - 1 ? "," : "")
            if line.count + item.count + 1 > 100 {
                lines.append(line)
                line = "              "
            }
            line += " " + item
        }
        lines.append(line)
        lines.append("The whole reference is docs/reference.md (gather help --markdown) and docs/expressions.md.")
        return lines.joined(separator: "\n")
    }

    /// Markdown made easier to read in a terminal: no HTML comments, no table rules.
    static func plain(_ markdown: String) -> String {
        markdown.split(separator: "\n", omittingEmptySubsequences: false).filter {
            !$0.hasPrefix("<!--") && !$0.hasPrefix("| ---")
        }.joined(separator: "\n")
    }

    /// Every component of pipelines and model files.
    static let components = PipelineSpecs.all + ModelFile.specs
}
