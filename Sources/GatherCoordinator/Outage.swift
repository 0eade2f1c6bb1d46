import GatherCore
import GatherPostgres
import Synchronization

/// How a worker rides out a coordinator it cannot reach for a while (PostgreSQL restarting, a failover, a network
/// partition): each statement that fails with a transient error (``isTransient(_:)``: the connection went away,
/// the server is shutting down or starting) is tried again after a backoff of 100 ms, doubling up to 5 s, for up
/// to ``limit``. Meanwhile ``problem`` says why; `report` hears one line when the coordinator stops answering and
/// one when it answers again (the CLI prints them on stderr). Any other error (a query the server refuses, a
/// constraint) is thrown at once.
///
/// Retrying is safe for every coordinator statement: claims and grants are single statements, and a completion
/// whose commit was lost with its connection is fenced when it runs again (the units it deleted are gone, so it
/// accepts nothing and writes nothing twice).
public final class Outage: Sendable {
    /// How long the coordinator may stay unreachable before the worker gives up.
    public let limit: Duration
    private let report: @Sendable (String) -> Void
    private let state = Mutex<(problem: String?, since: ContinuousClock.Instant)>((nil, .now))

    public init(limit: Duration = .seconds(60), report: @escaping @Sendable (String) -> Void = { _ in }) {
        self.limit = limit
        self.report = report
    }

    /// Why the coordinator cannot be reached now, or `nil`.
    public var problem: String? { self.state.withLock { $0.problem } }

    /// Runs `body`, again and again while it fails with a transient error, for up to ``limit``.
    ///
    /// - Parameter what: what the statement is for, as the error after ``limit`` says it ("claiming units").
    public func run<T>(
        _ what: String, isolation: isolated (any Actor)? = #isolation, _ body: () async throws -> T
    ) async throws -> T {
        var backoff = Duration.milliseconds(100)
        var since: ContinuousClock.Instant?
        while true {
            do {
                let result = try await body()
                if since != nil { self.answered() }
                return result
            } catch let error where isTransient(error) {
                let start = since ?? .now
                since = start
                let reason = describe(error)
                let problem = "the coordinator cannot be reached (\(reason)); retrying"
                let first = self.state.withLock { state in
                    defer { state.problem = problem }
                    if state.problem == nil { state.since = .now }
                    return state.problem == nil
                }
                if first { self.report("\(problem) for up to \(self.limit), while \(what)") }
                guard start.duration(to: .now) < self.limit else {
                    throw CoordinatorError(
                        "the coordinator has not answered for \(self.limit) while \(what): \(reason); check that "
                            + "its PostgreSQL is up and reachable from this host")
                }
                try await Task.sleep(for: backoff)
                backoff = min(backoff * 2, .seconds(5))
            }
        }
    }

    /// The coordinator answered: the problem is over (said once, by whoever notices first).
    private func answered() {
        let since = self.state.withLock { state -> ContinuousClock.Instant? in
            defer { state.problem = nil }
            return state.problem == nil ? nil : state.since
        }
        if let since {
            let seconds = (since.duration(to: .now).seconds * 10).rounded() / 10
            self.report("the coordinator answers again, after \(seconds) s")
        }
    }
}
