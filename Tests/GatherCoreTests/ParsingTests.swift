import Testing

@testable import GatherCore

@Suite struct ParsingTests {
    @Test(arguments: [
        ("500ms", Duration.milliseconds(500)), ("1s", .seconds(1)), ("1.5s", .milliseconds(1500)),
        ("2m", .seconds(120)),
        ("1h", .seconds(3600)), ("30", .seconds(30)), ("250us", .microseconds(250)),
    ])
    func durations(text: String, expected: Duration) throws {
        #expect(try Duration(parsing: text) == expected)
    }

    @Test(arguments: ["", "fast", "10 parsecs", "-1s", "1.2.3s"])
    func badDurationsSayWhatToWrite(text: String) {
        #expect(throws: ConfigurationError.self) { try Duration(parsing: text) }
        do {
            _ = try Duration(parsing: text)
        } catch {
            #expect(error.message.contains("500ms") || error.message.contains("30s"))
        }
    }

    @Test func rates() throws {
        let perSecond = try Rate(parsing: "20/s")
        #expect(perSecond.interval == .milliseconds(50))
        #expect(perSecond.burst == 1)
        let perHour = try Rate(parsing: "5000/h")
        #expect(perHour.interval == .milliseconds(720))
        let burst = try Rate(parsing: "10/m:5")
        #expect(burst.burst == 5)
        #expect(burst.description == "10/m:5")
    }

    @Test(arguments: ["20", "20/x", "/s", "0/s", "20/s:0", "abc"])
    func badRates(text: String) {
        #expect(throws: ConfigurationError.self) { try Rate(parsing: text) }
    }

    @Test func byteCounts() throws {
        #expect(try parseByteCount("64MiB") == 64 << 20)
        #expect(try parseByteCount("10MB") == 10_000_000)
        #expect(try parseByteCount("512KiB") == 512 << 10)
        #expect(try parseByteCount("1024") == 1024)
        #expect(throws: ConfigurationError.self) { try parseByteCount("lots") }
    }

    @Test func base64() {
        #expect(Base64.encode(Array("user:pass".utf8)) == "dXNlcjpwYXNz")
        #expect(Base64.encode(Array("a".utf8)) == "YQ==")
        #expect(Base64.encode(Array("ab".utf8)) == "YWI=")
        #expect(Base64.encode([]) == "")
    }
}
