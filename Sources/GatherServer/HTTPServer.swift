public import Hummingbird
public import HummingbirdCore
import Logging
import ServiceLifecycle

/// Runs a Hummingbird router for the length of a body: the one server lifecycle of Gather's HTTP servers (the
/// test fixtures, the Prometheus endpoint, and what serves models).
///
/// ```swift
/// let router = Router()
/// router.get("/healthz") { _, _ in "ok" }
/// try await HTTPServer.run(router: router, name: "health") { port in
///     print("listening on 127.0.0.1:\(port)")
/// }
/// ```
public enum HTTPServer {
    /// Starts `router` on `host:port` (port 0 picks a free one), calls `body` with the port it got, and stops the
    /// server however `body` ends: gracefully first (stop accepting, let open requests end), then cancelled
    /// after a second.
    ///
    /// - Throws: ``HTTPServerError`` when the server cannot listen (the port is taken, the host is not local),
    ///   or what `body` throws.
    ///
    /// `maxConnections` caps the connections open at once (more wait in the listen backlog); `grace` is how long
    /// open requests may take to finish once `body` has ended.
    public static func run<Context: RequestContext, T: Sendable>(
        router: Router<Context>, server: HTTPServerBuilder = .http1(), host: String = "127.0.0.1",
        port: Int = 0, name: String, maxConnections: Int? = nil, grace: Duration = .seconds(1),
        _ body: (Int) async throws -> T
    ) async throws -> T where Context.Source == ApplicationRequestContextSource {
        let (ports, portContinuation) = AsyncStream<Int>.makeStream()
        var logger = Logger(label: "gather.\(name)")
        logger.logLevel = .critical
        let app = Application(
            router: router,
            server: server,
            configuration: .init(
                address: .hostname(host, port: port), serverName: "gather-\(name)",
                availableConnectionsDelegate: maxConnections.map { MaximumAvailableConnections($0) }),
            onServerRunning: { channel in
                portContinuation.yield(channel.localAddress?.port ?? 0)
                portContinuation.finish()
            },
            logger: logger
        )
        // Cancelling a server that is still accepting can drop a just-accepted connection, so stop gracefully
        // first and cancel only what is still running a second later.
        let services = ServiceGroup(
            configuration: .init(services: [app], gracefulShutdownSignals: [], cancellationSignals: [], logger: logger)
        )
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                do {
                    try await services.run()
                } catch {
                    // A server that never started (the port is taken) ends the port stream, so `body` never runs.
                    portContinuation.finish()
                    throw error
                }
            }
            var iterator = ports.makeAsyncIterator()
            guard let bound = await iterator.next(), bound > 0 else {
                let reason = await Self.failure(of: &group)
                group.cancelAll()
                throw HTTPServerError(
                    "the \(name) server could not listen on \(host):\(port)\(reason.map { ": \($0)" } ?? ""); "
                        + "choose another address or a free port")
            }
            let result: Result<T, any Error>
            do {
                result = .success(try await body(bound))
            } catch {
                result = .failure(error)
            }
            await services.triggerGracefulShutdown()
            group.addTask {
                try? await Task.sleep(for: grace)
                throw CancellationError()
            }
            _ = try? await group.next()
            group.cancelAll()
            return try result.get()
        }
    }

    private static func failure(of group: inout ThrowingTaskGroup<Void, any Error>) async -> String? {
        do {
            try await group.next()
            return nil
        } catch {
            return "\(error)"
        }
    }
}

/// A server that could not start.
public struct HTTPServerError: Error, Sendable, CustomStringConvertible {
    /// What went wrong and what to do.
    public var message: String
    /// Creates an error with a message.
    public init(_ message: String) { self.message = message }
    public var description: String { self.message }
}
