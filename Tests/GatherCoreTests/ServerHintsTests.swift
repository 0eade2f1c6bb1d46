import Foundation
import Testing

@testable import GatherCore

@Suite struct ServerHintsTests {
    let now = Date(timeIntervalSince1970: 784_111_777)  // Sun, 06 Nov 1994 08:49:37 GMT

    @Test func retryAfterSeconds() {
        #expect(ServerHints(headers: [("Retry-After", "120")], now: self.now).pause == .seconds(120))
    }

    @Test(arguments: [
        "Sun, 06 Nov 1994 08:50:07 GMT",  // IMF-fixdate
        "Sunday, 06-Nov-94 08:50:07 GMT",  // RFC 850
        "Sun Nov  6 08:50:07 1994",  // asctime
    ])
    func retryAfterHTTPDate(text: String) {
        #expect(ServerHints(headers: [("retry-after", text)], now: self.now).retryAfter == .seconds(30))
    }

    @Test func retryAfterInThePastMeansNow() {
        #expect(
            ServerHints(headers: [("Retry-After", "Sun, 06 Nov 1994 08:00:00 GMT")], now: self.now).retryAfter == .zero)
    }

    @Test func garbageIsIgnored() {
        #expect(ServerHints(headers: [("Retry-After", "soon")], now: self.now).pause == nil)
    }

    @Test func rateLimitResetWhenNothingRemains() {
        let hints = ServerHints(headers: [("RateLimit-Remaining", "0"), ("RateLimit-Reset", "15")], now: self.now)
        #expect(hints.pause == .seconds(15))
        let plenty = ServerHints(headers: [("RateLimit-Remaining", "10"), ("RateLimit-Reset", "15")], now: self.now)
        #expect(plenty.pause == nil)
    }

    @Test func githubStyleEpochReset() {
        let now = Date(timeIntervalSince1970: 1_795_000_000)  // 2026: Unix times above 10^9 are read as times
        let reset = String(Int(now.timeIntervalSince1970) + 42)
        let hints = ServerHints(headers: [("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", reset)], now: now)
        #expect(hints.pause == .seconds(42))
    }

    @Test func structuredRateLimitHeader() {
        let hints = ServerHints(headers: [("RateLimit", "limit=100, remaining=0, reset=50")], now: self.now)
        #expect(hints.pause == .seconds(50))
    }

    @Test(arguments: ["1e20", "inf", "1e400", "nan", "99999999999999999999", "Sun, 06 Nov 99999999999999 08:49:37 GMT"])
    func hostileValuesNeitherCrashNorWaitForever(text: String) {
        let hints = ServerHints(
            headers: [("Retry-After", text), ("X-RateLimit-Remaining", "0"), ("X-RateLimit-Reset", text)], now: self.now
        )
        #expect((hints.pause ?? .zero) <= .seconds(10 * 365 * 86400))
    }
}
