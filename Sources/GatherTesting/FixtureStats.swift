import Synchronization

/// What a ``FixtureServer`` saw: requests per path, the most requests in flight at once per path, and when
/// each request arrived. Tests assert caps and rates against these.
public final class FixtureStats: Sendable {
    private struct PathStats {
        var count = 0
        var inFlight = 0
        var highWater = 0
        var arrivals: [ContinuousClock.Instant] = []
        var headers: [[(String, String)]] = []
    }
    private let paths = Mutex<[String: PathStats]>([:])
    private let counters = Mutex<[String: Int]>([:])

    init() {}

    func begin(path: String, headers: [(String, String)]) {
        let now = ContinuousClock.now
        self.paths.withLock { paths in
            for key in [path, "*"] {
                paths[key, default: PathStats()].count += 1
                paths[key]!.inFlight += 1
                paths[key]!.highWater = max(paths[key]!.highWater, paths[key]!.inFlight)
                paths[key]!.arrivals.append(now)
                if key == path { paths[key]!.headers.append(headers) }
            }
        }
    }

    func end(path: String) {
        self.paths.withLock { paths in
            paths[path]?.inFlight -= 1
            paths["*"]?.inFlight -= 1
        }
    }

    /// Bumps and returns a named counter (used by the fail-N-times endpoints).
    func bump(_ name: String) -> Int {
        self.counters.withLock { counters in
            counters[name, default: 0] += 1
            return counters[name]!
        }
    }

    /// Requests seen for `path` (exact path, no query), or for every path with `"*"`.
    public func count(_ path: String = "*") -> Int {
        self.paths.withLock { $0[path]?.count ?? 0 }
    }

    /// The most requests that were in flight at once for `path` (or `"*"` for all paths together).
    public func highWater(_ path: String = "*") -> Int {
        self.paths.withLock { $0[path]?.highWater ?? 0 }
    }

    /// When each request for `path` (or `"*"`) arrived, in arrival order.
    public func arrivals(_ path: String = "*") -> [ContinuousClock.Instant] {
        self.paths.withLock { $0[path]?.arrivals ?? [] }
    }

    /// The headers of each request for `path`, in arrival order (names lower-case).
    public func requestHeaders(_ path: String) -> [[(String, String)]] {
        self.paths.withLock { $0[path]?.headers ?? [] }
    }
}

/// The most of `times` that fall in any window of `length` (sliding, not aligned to the clock): what a rate limit
/// must keep under, measured where the requests arrive.
public func busiestWindow(_ times: [ContinuousClock.Instant], length: Duration = .seconds(1)) -> Int {
    let sorted = times.sorted()
    var widest = 0
    var first = 0
    for last in sorted.indices {
        while sorted[first].duration(to: sorted[last]) >= length { first += 1 }
        widest = max(widest, last - first + 1)
    }
    return widest
}
