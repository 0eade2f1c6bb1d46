import GatherCore
import GatherFormats
import Testing

@testable import GatherStream

/// The SSE parser against the WHATWG rules, event-time parsing, the t-digest's accuracy and the event buffer.
struct StreamPartsTests {
    @Test func sseLinesEndInCRLFOrLFOrCRAcrossChunks() {
        var parser = SSEParser()
        var events = parser.feed(Array("\u{FEFF}data: one\r".utf8))
        events += parser.feed(Array("\n\r\ndata:two\rdata: lines\r\rid: 7\nevent: reading\ndata: {}\n".utf8))
        events += parser.feed(Array("\n: heartbeat\n\ndata: cut off at the end".utf8))
        #expect(events.map(\.data) == ["one", "two\nlines", "{}"])
        #expect(events.map(\.type) == ["message", "message", "reading"])
        #expect(events.map(\.id) == [nil, nil, "7"])
        #expect(parser.comments == 1)
    }

    @Test func sseIDsPersistAnEmptyIDClearsAndRetryTakesOnlyDigits() {
        var parser = SSEParser(lastEventID: "41")
        let events = parser.feed(
            Array(
                "data: a\n\nid: 42\ndata: b\n\ndata: c\n\nid\ndata: d\n\nretry: 2x\nretry: 1500\nid: x\0y\ndata: e\n\n"
                    .utf8))
        #expect(events.map(\.id) == ["41", "42", "42", nil, nil])
        #expect(parser.retry == 1500)
    }

    @Test func eventTimesFromRFC3339AndEpochNumbers() throws {
        #expect(EventTime.parse("2026-01-01T00:00:00Z") == 1_767_225_600_000)
        #expect(EventTime.parse("2026-01-01T01:00:00.25+01:00") == 1_767_225_600_250)
        #expect(EventTime.parse("2026-01-01 00:00:00") == 1_767_225_600_000)
        #expect(EventTime.parse("2026-01-01") == 1_767_225_600_000)
        #expect(EventTime.parse("1969-12-31T23:59:59.999Z") == -1)
        #expect(EventTime.parse("2026-13-01T00:00:00Z") == nil)
        #expect(EventTime.parse("yesterday") == nil)
        let field = EventTime(field: "ts")
        #expect(try field.millis(of: ["ts": 1_767_225_600], arrival: 0) == 1_767_225_600_000)
        #expect(try field.millis(of: ["ts": 1_767_225_600_123], arrival: 0) == 1_767_225_600_123)
        #expect(try field.millis(of: ["ts": 1_767_225_600.5], arrival: 0) == 1_767_225_600_500)
        #expect(try field.millis(of: ["ts": "2026-01-01T00:00:00Z"], arrival: 0) == 1_767_225_600_000)
        let missing = #expect(throws: StreamEventError.self) { try field.millis(of: ["t": 1], arrival: 0) }
        #expect(missing?.code == "no_event_time")
        let bad = #expect(throws: StreamEventError.self) { try field.millis(of: ["ts": "soon"], arrival: 0) }
        #expect(bad?.code == "bad_event_time")
        #expect(EventTime.format(1_767_225_600_250) == "2026-01-01T00:00:00.250Z")
        #expect(EventTime.format(-1) == "1969-12-31T23:59:59.999Z")
    }

    @Test func theDigestIsWithinOnePercentOfRankAndRoundTripsExactly() throws {
        var digest = TDigest()
        var values = (0..<100_000).map { Double($0) }
        var generator = SystemRandomNumberGenerator()
        values.shuffle(using: &generator)
        for value in values { digest.add(value) }
        for q in [0.01, 0.25, 0.5, 0.9, 0.99, 0.999] {
            let estimate = try #require(digest.quantile(q))
            #expect(abs(estimate - q * 100_000) <= 1_000, "q=\(q): \(estimate)")
        }
        #expect(digest.state.count < 1_000, "the sketch stays small: \(digest.state.count) numbers")
        let restored = try #require(TDigest(state: digest.state))
        #expect(restored == digest)
        var small = TDigest()
        for value in [3.0, 1, 2, 4] { small.add(value) }
        #expect(small.quantile(0.5) == 2.5 && small.quantile(0) == 1 && small.quantile(1) == 4)
    }

    @Test func aggregatesParseAndSayWhatIsWrong() throws {
        #expect(try AggregateSpec(name: "p", parsing: "quantile(temp, 0.95)").function == .quantile(0.95))
        #expect(try AggregateSpec(name: "n", parsing: " count( ) ").function == .count)
        for (text, words) in [
            ("median(x)", "unknown aggregate 'median'"), ("avg()", "needs a field"), ("quantile(x)", "fraction"),
            ("sum(a, b)", "one field"), ("avg", "function(field)"),
        ] {
            let error = #expect(throws: ConfigurationError.self) { try AggregateSpec(name: "x", parsing: text) }
            #expect(error.map { "\($0)".contains(words) } == true, "\(text): \(String(describing: error))")
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func theBufferHoldsASenderBackUntilTheReaderTakes() async throws {
        let buffer = EventBuffer(capacity: 4)
        let sent = Task {
            for i in 0..<20 { await buffer.send([SourceEvent(payload: "\(i)", position: .int(Int64(i)))]) }
            buffer.finish()
        }
        try await Task.sleep(for: .milliseconds(100))
        // The sender filled the buffer and waits: memory is bounded by the capacity.
        #expect(buffer.count == 4)
        var received: [String] = []
        while !buffer.isDrained {
            let events = buffer.take(max: 3)
            #expect(events.count <= 3)
            received += events.map(\.payload)
            if events.isEmpty { await buffer.wait(timeout: .milliseconds(50)) }
        }
        await sent.value
        #expect(received == (0..<20).map(String.init))
    }
}

extension StreamPartsTests {
    /// A timer that fires before the waiter has parked must still wake it. With timeouts this short it usually
    /// fires first; the lost wake-up hung `gather run --idle-exit` on a busy CI machine.
    @Test(.timeLimit(.minutes(1)))
    func aWaitWhoseTimerFiresBeforeItParksStillReturns() async throws {
        let buffer = EventBuffer(capacity: 4)
        let clock = ContinuousClock()
        let started = clock.now
        for _ in 0..<5_000 { await buffer.wait(timeout: .nanoseconds(1)) }
        #expect(started.duration(to: clock.now) < .seconds(30))
        // Events and a finish still end a long wait at once.
        let waiter = Task { await buffer.wait(timeout: .seconds(60)) }
        try await Task.sleep(for: .milliseconds(20))
        await buffer.send([SourceEvent(payload: "x", position: .int(1))])
        await waiter.value
        #expect(buffer.take(max: 10).map(\.payload) == ["x"])
    }

    /// Large events fill the buffer by bytes long before its count: 1 KiB payloads against a 4 KiB byte bound.
    @Test(.timeLimit(.minutes(1)))
    func theBufferIsBoundedByBytesToo() async throws {
        let buffer = EventBuffer(capacity: 1_000, byteCapacity: 4_096)
        let payload = String(repeating: "x", count: 1_024)
        let sent = Task {
            for i in 0..<20 { await buffer.send([SourceEvent(payload: payload, position: .int(Int64(i)))]) }
            buffer.finish()
        }
        try await Task.sleep(for: .milliseconds(100))
        #expect(buffer.count == 4, "four 1 KiB events fill 4 KiB; the sender waits")
        var received = 0
        while !buffer.isDrained {
            let events = buffer.take(max: 2)
            received += events.count
            if events.isEmpty { await buffer.wait(timeout: .milliseconds(50)) }
        }
        await sent.value
        #expect(received == 20)
    }
}

extension StreamPartsTests {
    /// A server that sends an endless line cannot grow the parser past its bound: the event comes out cut off.
    @Test func anOversizedEventIsCutOffNotBuffered() {
        var parser = SSEParser()
        parser.maxEventBytes = 64
        let huge = String(repeating: "x", count: 10_000)
        var events = parser.feed(Array("data: {\"v\": \"\(huge)".utf8))
        events += parser.feed(Array("\"}\n\ndata: {\"ok\": 1}\n\n".utf8))
        #expect(events.count == 2)
        #expect(events.first?.data.utf8.count == 64 - "data: ".utf8.count)
        #expect(events.last?.data == #"{"ok": 1}"#)
    }

    /// A connection cut after an event's `id:` line but before its blank line resumes before that event.
    @Test func anIDCountsOnlyOnceItsEventIsComplete() {
        var parser = SSEParser(lastEventID: "6")
        let events = parser.feed(Array("id: 7\ndata: {\"a\":1}\n\nid: 8\ndata: {\"a\"".utf8))
        #expect(events.map(\.id) == ["7"])
        #expect(parser.lastEventID == "7")
    }
}

extension StreamPartsTests {
    /// An event without an `id:` line shares the last id but is not a repeat of it (only own ids dedupe).
    @Test func anEventWithoutAnIDOfItsOwnIsMarkedSo() {
        var parser = SSEParser()
        let events = parser.feed(Array("id: 7\ndata: a\n\ndata: b\n\n".utf8))
        #expect(events.map(\.id) == ["7", "7"])
        #expect(events.map(\.hasOwnID) == [true, false])
    }

    /// Times outside ±100 million days, and non-finite numbers, are error rows, never a crash (and never a
    /// checkpoint that cannot be read back).
    @Test func outOfRangeTimesAndNonFiniteNumbersAreErrors() throws {
        let field = EventTime(field: "ts")
        for value: Value in [.double(1e19), .string("1e19"), .int(.min), .int(.max), .double(-1e300)] {
            let error = #expect(throws: StreamEventError.self) { try field.millis(of: ["ts": value], arrival: 0) }
            #expect(error?.code == "bad_event_time", "\(value)")
        }
        for text in ["NaN", "inf", "1e999"] {
            let error = #expect(throws: StreamEventError.self) {
                try AggregateState.check(.sum, .string(text), field: "v")
            }
            #expect(error?.code == "wrong_type", "\(text)")
        }
        // A sum that overflows to infinity still round-trips through the checkpoint.
        var sum = AggregateState(.sum)
        sum.add(.sum, .double(1.7e308), time: 0)
        sum.add(.sum, .double(1.7e308), time: 0)
        let restored = try #require(
            AggregateState(encoded: try JSONReader.parse(JSONWriter.string(sum.encoded)), function: .sum))
        #expect(restored == sum)
    }
}
