import GatherCore
import GatherStore
import Testing

@testable import GatherStream

/// Windows, lateness, sessions, and the checkpoint round trip that makes a restart exact.
struct WindowOperatorTests {
    static func spec(_ kind: WindowSpec.Kind, allowed: Int64 = 0, _ aggregates: [(String, String)]? = nil) throws
        -> WindowSpec
    {
        let list = aggregates ?? [("n", "count()"), ("total", "sum(v)"), ("top", "max(v)"), ("mean", "avg(v)")]
        return WindowSpec(
            kind: kind, key: ["k"], aggregates: try list.map { try AggregateSpec(name: $0.0, parsing: $0.1) },
            allowedLateness: allowed)
    }

    static func event(_ key: String, _ v: Value) -> Record { Record([("k", .string(key)), ("v", v)]) }

    /// Feeds (key, value, time) events with a watermark of newest − delay after each, like the job does.
    static func feed(
        _ windows: inout WindowOperator, _ events: [(String, Value, Int64)], delay: Int64, newest: inout Int64
    ) throws -> [WindowOperator.Outcome] {
        var outcomes: [WindowOperator.Outcome] = []
        for (key, value, time) in events {
            newest = max(newest, time)
            windows.advance(to: newest - delay)
            outcomes.append(try windows.add(Self.event(key, value), time: time))
        }
        return outcomes
    }

    @Test func tumblingWindowsCloseWhenTheWatermarkPassesTheirEnd() throws {
        var windows = WindowOperator(try Self.spec(.tumbling(size: 1000)))
        var newest = Int64.min
        _ = try Self.feed(
            &windows, [("a", 1, 100), ("b", 5, 200), ("a", 2, 900), ("a", 4, 1100)], delay: 0, newest: &newest)
        let rows = windows.drainRows()
        // The watermark reached 1100: [0, 1000) closed for both keys; [1000, 2000) is still open.
        #expect(rows.count == 2)
        #expect(rows[0]["k"] == "a" && rows[0]["n"] == 2 && rows[0]["total"] == 3 && rows[0]["top"] == 2)
        #expect(rows[0]["mean"] == .double(1.5))
        #expect(rows[0]["window_start"] == "1970-01-01T00:00:00Z" && rows[0]["window_end"] == "1970-01-01T00:00:01Z")
        #expect(rows[1]["k"] == "b" && rows[1]["n"] == 1)
        #expect(windows.openWindows == 1)
        windows.flushAll()
        let last = windows.drainRows()
        #expect(last.count == 1 && last[0]["n"] == 1 && last[0]["total"] == 4)
        #expect(windows.openWindows == 0)
    }

    @Test func lateEventsUpdateTheirRowWithinTheAllowedLatenessAndGoToTheSideTableAfter() throws {
        var windows = WindowOperator(try Self.spec(.tumbling(size: 1000), allowed: 500))
        var newest = Int64.min
        var outcomes = try Self.feed(&windows, [("a", 1, 100), ("a", 1, 1200)], delay: 0, newest: &newest)
        #expect(windows.drainRows().count == 1)
        // 1200 − 100 is behind the watermark, but [0, 1000) takes events until 1500: its row is written again.
        outcomes += try Self.feed(&windows, [("a", 10, 300)], delay: 0, newest: &newest)
        #expect(outcomes.last == .added(late: true))
        let updated = windows.drainRows()
        #expect(updated.count == 1 && updated[0]["n"] == 2 && updated[0]["total"] == 11)
        // Past 1500 the window is forgotten: a later straggler is late, with the reason.
        _ = try Self.feed(&windows, [("a", 1, 1600)], delay: 0, newest: &newest)
        let tooLate = try Self.feed(&windows, [("a", 1, 400)], delay: 0, newest: &newest)
        guard case .late(let reason) = tooLate[0] else {
            Issue.record("expected late, got \(tooLate[0])")
            return
        }
        #expect(reason.contains("behind the watermark") && reason.contains("allowed lateness"))
    }

    @Test func slidingWindowsHoldEachEventSizeOverEveryTimes() throws {
        var windows = WindowOperator(try Self.spec(.sliding(size: 3000, every: 1000), [("n", "count()")]))
        _ = try windows.add(Self.event("a", 1), time: 2500)
        windows.flushAll()
        let starts = windows.drainRows().map { $0["window_start"]?.stringValue ?? "" }
        #expect(starts == ["1970-01-01T00:00:00Z", "1970-01-01T00:00:01Z", "1970-01-01T00:00:02Z"])
    }

    @Test func sessionsJoinAcrossGapsAndEndAGapAfterTheirLastEvent() throws {
        var windows = WindowOperator(try Self.spec(.session(gap: 1000), [("n", "count()"), ("first", "first(v)")]))
        var newest = Int64.min
        // 0 and 1500 are two sessions until 800 bridges them.
        _ = try Self.feed(
            &windows, [("a", 1, 0), ("a", 2, 1500), ("a", 3, 800), ("b", 4, 7000)], delay: 2000, newest: &newest)
        // The watermark (5000) closed a's merged session [0, 2500).
        let rows = windows.drainRows()
        #expect(rows.count == 1)
        #expect(rows[0]["n"] == 3 && rows[0]["first"] == 1)
        #expect(
            rows[0]["window_start"] == "1970-01-01T00:00:00Z" && rows[0]["window_end"] == "1970-01-01T00:00:02.500Z")
    }

    @Test func aMissingKeyOrANonNumberIsAnErrorThatChangesNothing() throws {
        var windows = WindowOperator(try Self.spec(.tumbling(size: 1000)))
        #expect(throws: StreamEventError.self) { try windows.add(Record([("v", 1)]), time: 0) }
        let error = #expect(throws: StreamEventError.self) { try windows.add(Self.event("a", "warm"), time: 0) }
        #expect(error?.code == "wrong_type" && error?.message.contains("'v'") == true)
        #expect(windows.openWindows == 0)
    }

    /// A checkpoint taken anywhere, restored into a fresh operator, continues exactly as the original does: the
    /// rows of both runs are the same, including floating-point sums, first/last and the t-digest.
    @Test(arguments: [
        WindowSpec.Kind.tumbling(size: 60_000), .sliding(size: 120_000, every: 30_000), .session(gap: 20_000),
    ])
    func aRestoredCheckpointContinuesExactly(kind: WindowSpec.Kind) throws {
        let aggregates = [
            ("n", "count()"), ("s", "sum(v)"), ("lo", "min(v)"), ("hi", "max(v)"), ("m", "avg(v)"),
            ("f", "first(v)"), ("l", "last(v)"), ("d", "count_distinct(v)"), ("p90", "quantile(v, 0.9)"),
        ]
        let spec = try Self.spec(kind, allowed: 10_000, aggregates)
        // Seeded, so the run is the same every time; jitter up to 90 s against a 15 s delay and 10 s lateness
        // makes late events certain.
        var generator = SplitMix(seed: 2026)
        let events: [(String, Value, Int64)] = (0..<5_000).map { i in
            let jitter = Int64.random(in: 0...90_000, using: &generator)
            return (
                "k\(Int.random(in: 0..<7, using: &generator))",
                .double(Double.random(in: 0..<100, using: &generator).rounded() / 10 + 0.1),
                Int64(i) * 1_000 - jitter
            )
        }
        func run(_ events: ArraySlice<(String, Value, Int64)>, _ windows: inout WindowOperator, newest: inout Int64)
            throws -> ([Record], [String])
        {
            var rows: [Record] = []
            var late: [String] = []
            for (key, value, time) in events {
                newest = max(newest, time)
                windows.advance(to: newest - 15_000)
                if case .late(let reason) = try windows.add(Self.event(key, value), time: time) { late.append(reason) }
                rows += windows.drainRows()
            }
            return (rows, late)
        }
        var clean = WindowOperator(spec)
        var newest = Int64.min
        var (cleanRows, cleanLate) = try run(events[...], &clean, newest: &newest)
        clean.flushAll()
        cleanRows += clean.drainRows()

        for cut in [1, 777, 2_500, 4_999] {
            var first = WindowOperator(spec)
            var newestFirst = Int64.min
            var (rows, late) = try run(events[..<cut], &first, newest: &newestFirst)
            var store: [String: String] = [:]
            for change in first.checkpoint(scope: "w") {
                switch change {
                case .put(_, let key, let value): store[key] = value
                case .delete(_, let key): store[key] = nil
                default: break
                }
            }
            var second = WindowOperator(spec)
            try second.restore(
                store.map { StateEntry(scope: "w", key: $0.key, value: $0.value) },
                watermark: newestFirst - 15_000)
            var newestSecond = newestFirst
            let rest = try run(events[cut...], &second, newest: &newestSecond)
            rows += rest.0
            late += rest.1
            second.flushAll()
            rows += second.drainRows()
            #expect(rows == cleanRows, "cut at \(cut)")
            #expect(late == cleanLate, "cut at \(cut)")
        }
        if case .tumbling = kind {
            #expect(!cleanLate.isEmpty, "the jitter should make some events late")
        }
    }
}

/// A seeded generator (SplitMix64), for tests that must be the same on every run.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { self.state = seed }
    mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        var z = self.state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
