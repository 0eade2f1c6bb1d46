import Hummingbird
import HummingbirdCore
import Logging
import ServiceLifecycle

/// Runs a Hummingbird router on `127.0.0.1:0` for the length of `body`: the one server lifecycle of the
/// fixture server and the sample API.
enum LoopbackServer {
    /// Starts `router` with `server`, calls `body` with the port, and stops the server however `body` ends.
    static func run<T: Sendable>(
        router: Router<BasicRequestContext>, server: HTTPServerBuilder, name: String,
        _ body: (Int) async throws -> T
    ) async throws -> T {
        let (ports, portContinuation) = AsyncStream<Int>.makeStream()
        var logger = Logger(label: "gather.\(name)")
        logger.logLevel = .critical
        let app = Application(
            router: router,
            server: server,
            configuration: .init(address: .hostname("127.0.0.1", port: 0), serverName: "gather-\(name)"),
            onServerRunning: { channel in
                portContinuation.yield(channel.localAddress?.port ?? 0)
                portContinuation.finish()
            },
            logger: logger
        )
        // Stop gracefully first (stop accepting, let open requests end), and cancel only what is still running
        // after a second: cancelling a server that is still accepting can drop a just-accepted connection.
        let services = ServiceGroup(
            configuration: .init(services: [app], gracefulShutdownSignals: [], cancellationSignals: [], logger: logger)
        )
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await services.run() }
            var iterator = ports.makeAsyncIterator()
            guard let port = await iterator.next(), port > 0 else {
                group.cancelAll()
                throw FixtureError(message: "the \(name) server did not start")
            }
            let result: Result<T, any Error>
            do {
                result = .success(try await body(port))
            } catch {
                result = .failure(error)
            }
            await services.triggerGracefulShutdown()
            group.addTask {
                try? await Task.sleep(for: .seconds(1))
                throw CancellationError()
            }
            _ = try? await group.next()
            group.cancelAll()
            return try result.get()
        }
    }
}
