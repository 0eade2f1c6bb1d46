import ArgumentParser
import Gather

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The `gather` command: parses arguments and hands them to the library's jobs.
struct GatherCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gather",
        abstract: "Concurrent data work: fetch many URLs politely and fast, run YAML pipelines, land the results.",
        discussion: "`gather help COMPONENT` describes a pipeline component (pipeline, resource, http, offset, …).",
        version: GatherVersion.current,
        subcommands: [
            DemoCommand.self, RunCommand.self, ValidateCommand.self, LoadCommand.self, FetchCommand.self,
            CrawlCommand.self, MapCommand.self, WorkerCommand.self, StatusCommand.self, ServeCommand.self,
            WorkerTemplateCommand.self, FixtureCommand.self, CompletionsCommand.self, CoordinatorBenchCommand.self,
        ]
    )
}

/// `gather completions bash|zsh|fish`: the shell completion script, for commands, options and their values.
struct CompletionsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "completions",
        abstract: "Print the shell completion script for bash, zsh or fish.",
        discussion: """
            bash: gather completions bash > ~/.local/share/bash-completion/completions/gather
            zsh:  gather completions zsh > ~/.zfunc/_gather  (with fpath+=(~/.zfunc) before compinit in ~/.zshrc)
            fish: gather completions fish > ~/.config/fish/completions/gather.fish
            """
    )

    @Argument(help: "bash, zsh or fish.")
    var shell: String

    func run() throws {
        guard let completion = CompletionShell(rawValue: self.shell) else {
            throw JobError.usage("no completions for '\(self.shell)'; use bash, zsh or fish")
        }
        Terminal.output(GatherCommand.completionScript(for: completion))
    }
}

/// Entry point. Exit codes: 0 all items succeeded; 1 some items failed (they are in the output); 2 a usage or
/// configuration error; 3 a fatal error; 130 interrupted by SIGINT or SIGTERM.
@main
enum GatherMain {
    static func main() async {
        if let code = HelpComponents.handle(Array(CommandLine.arguments.dropFirst())) { exit(code) }
        do {
            var command = try GatherCommand.parseAsRoot()
            if var command = command as? any AsyncParsableCommand {
                try await command.run()
            } else {
                try command.run()
            }
        } catch let error as JobError {
            Terminal.error("gather: \(error.message)")
            exit(error.exitCode)
        } catch let error as ConfigurationError {
            Terminal.error("gather: \(error.message)")
            exit(2)
        } catch {
            let code = GatherCommand.exitCode(for: error)
            let message = GatherCommand.fullMessage(for: error)
            if code == .success {
                if !message.isEmpty { print(message) }
                exit(0)
            }
            if !message.isEmpty { Terminal.error(message) }
            exit(code == .validationFailure ? 2 : code.rawValue)
        }
    }
}

/// Unbuffered writes to the standard streams: data on stdout, people on stderr.
enum Terminal {
    /// Writes a line for people to stderr (adding the line break if missing).
    static func error(_ text: String) {
        self.write(text.hasSuffix("\n") ? text : text + "\n", to: 2)
    }

    /// Writes data to stdout as given.
    static func output(_ text: String) {
        self.write(text, to: 1)
    }

    private static func write(_ text: String, to descriptor: Int32) {
        var bytes = Array(text.utf8)
        _ = bytes.withUnsafeMutableBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
    }
}
