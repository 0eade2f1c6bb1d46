import ArgumentParser
import Gather
import GatherTesting
import UnixSignals

#if canImport(Glibc)
    import Glibc
#endif

/// `gather fixture`: serves the test fixture on 127.0.0.1 until interrupted, for demos and manual tries.
struct FixtureCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fixture",
        abstract: "Serve the fixture HTTP server (JSON, delays, 429s, resets, gzip…) on 127.0.0.1.",
        discussion: "Prints its base URL on the first line of stdout, then serves until SIGINT or SIGTERM."
    )

    @Option(name: .long, help: "Also write the base URL to this file once listening.")
    var urlFile: String?

    func run() async throws {
        try await FixtureServer.withServer { server in
            Terminal.output(server.baseURL + "\n")
            if let path = self.urlFile, !FileBytes.write(Array((server.baseURL + "\n").utf8), to: path) {
                throw JobError.fatal("cannot write \(path)")
            }
            let signals = await UnixSignalsSequence(trapping: .sigint, .sigterm)
            for await signal in signals {
                Terminal.error("gather fixture: \(signal), stopping")
                break
            }
        }
    }
}
