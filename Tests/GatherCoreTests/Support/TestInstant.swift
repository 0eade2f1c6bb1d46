/// A point on a fake timeline, for driving state machines without a clock.
struct TestInstant: InstantProtocol, CustomStringConvertible {
    var offset: Duration

    static func at(_ milliseconds: Int) -> TestInstant { TestInstant(offset: .milliseconds(milliseconds)) }

    func advanced(by duration: Duration) -> TestInstant { TestInstant(offset: self.offset + duration) }
    func duration(to other: TestInstant) -> Duration { other.offset - self.offset }
    static func < (a: TestInstant, b: TestInstant) -> Bool { a.offset < b.offset }

    var description: String { "t+\(self.offset)" }
}
