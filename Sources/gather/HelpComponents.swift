import Gather

/// `gather help COMPONENT` (a pipeline component's fields, defaults and examples) and `gather help --markdown`
/// (the reference in docs/reference.md). `gather help SUBCOMMAND` stays ArgumentParser's.
enum HelpComponents {
    /// Handles the arguments when they ask for component help; returns the exit code, or `nil` to go on.
    static func handle(_ arguments: [String]) -> Int32? {
        guard arguments.count >= 2, arguments[0] == "help" else { return nil }
        let topic = arguments[1]
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

    /// Every component of pipelines and model files.
    static let components = PipelineSpecs.all + ModelFile.specs
}
