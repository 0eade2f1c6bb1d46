import NIOPosix

/// Runs blocking system calls (file reads and writes, SQLite calls) on SwiftNIO's thread pool, so they never hold a thread
/// of Swift's cooperative pool. Callers hand off whole chunks (1 MiB reads, 256 KiB writes), not single calls.
///
/// Unlike `NIOThreadPool.runIfActive(_:) async`, a call that was already asked for runs even when the calling
/// task is cancelled: output must be flushed during a SIGINT shutdown.
public enum BlockingIO {
    public static func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        let eventLoop = MultiThreadedEventLoopGroup.singleton.any()
        return try await NIOThreadPool.singleton.runIfActive(eventLoop: eventLoop, body).get()
    }
}
