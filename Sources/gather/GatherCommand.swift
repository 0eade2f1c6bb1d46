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
        abstract: "Concurrent data work: fetch many URLs politely and fast, and land the results.",
        version: "0.1.0",
        subcommands: [FetchCommand.self]
    )
}

/// Entry point. Exit codes: 0 all items succeeded; 1 some items failed (they are in the output); 2 a usage or
/// configuration error; 3 a fatal error; 130 interrupted by SIGINT or SIGTERM.
@main
enum GatherMain {
    static func main() async {
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

/// Human output on stderr (data goes to stdout).
enum Terminal {
    static func error(_ text: String) {
        var bytes = Array((text.hasSuffix("\n") ? text : text + "\n").utf8)
        _ = bytes.withUnsafeMutableBytes { Glibc.write(2, $0.baseAddress, $0.count) }
    }
}
