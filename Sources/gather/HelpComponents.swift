import Gather

/// `gather help COMPONENT` (a pipeline component's fields, defaults and examples) and `gather help --markdown`
/// (the reference in docs/reference.md). `gather help SUBCOMMAND` stays ArgumentParser's.
enum HelpComponents {
    /// Handles the arguments when they ask for component help; returns the exit code, or `nil` to go on.
    static func handle(_ arguments: [String]) -> Int32? {
        guard arguments.count >= 2, arguments[0] == "help" else { return nil }
        let topic = arguments[1]
        if topic == "--markdown" {
            Terminal.output(SpecDocs.markdown(for: PipelineSpecs.all, title: "Pipeline reference"))
            return 0
        }
        if ["run", "validate", "demo", "fetch", "fixture", "help"].contains(topic) { return nil }
        let matches = PipelineSpecs.all.filter { $0.name == topic || $0.kind == topic }
        guard !matches.isEmpty else {
            let names = Array(Set(PipelineSpecs.all.map(\.name) + PipelineSpecs.all.map(\.kind))).sorted()
            let suggestion = Suggestions.didYouMean(topic, among: names).map { "; did you mean '\($0)'?" } ?? ""
            Terminal.error(
                "gather: no component '\(topic)'\(suggestion)\nComponents: \(names.joined(separator: ", "))")
            return 2
        }
        Terminal.output(matches.map { $0.helpText() }.joined(separator: "\n\n") + "\n")
        return 0
    }
}
