import NIOCore
import NIOEmbedded
import Testing

@testable import GatherStream

/// The RESP2 decoder the Redis source reads replies with, fed as a socket may deliver them.
@Suite struct RESPDecoderTests {
    /// An `XREADGROUP` reply of two entries, with an integer, a simple string, a null bulk and an empty array after.
    static let replies = Array(
        ("*1\r\n*2\r\n$8\r\nreadings\r\n*2\r\n*2\r\n$3\r\n1-0\r\n*2\r\n$4\r\ndata\r\n$9\r\n{\"t\":1.5}\r\n"
            + "*2\r\n$15\r\n1767225600405-7\r\n*2\r\n$4\r\ndata\r\n$0\r\n\r\n"
            + ":-42\r\n+OK\r\n$-1\r\n*0\r\n*-1\r\n").utf8)

    static let expected: [RESPValue] = [
        .array([
            .array([
                .bulk(ByteBuffer(string: "readings")),
                .array([
                    .array([
                        .bulk(ByteBuffer(string: "1-0")),
                        .array([.bulk(ByteBuffer(string: "data")), .bulk(ByteBuffer(string: "{\"t\":1.5}"))]),
                    ]),
                    .array([
                        .bulk(ByteBuffer(string: "1767225600405-7")),
                        .array([.bulk(ByteBuffer(string: "data")), .bulk(ByteBuffer())]),
                    ]),
                ]),
            ])
        ]),
        .integer(-42), .simple("OK"), .bulk(nil), .array([]), .array(nil),
    ]

    private func decode(_ bytes: [UInt8], chunk: Int) throws -> [RESPValue] {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(RESPDecoder()))
        var start = 0
        while start < bytes.count {
            let end = min(bytes.count, start + chunk)
            try channel.writeInbound(ByteBuffer(bytes: bytes[start..<end]))
            start = end
        }
        var values: [RESPValue] = []
        while let value = try channel.readInbound(as: RESPValue.self) { values.append(value) }
        _ = try channel.finish()
        return values
    }

    @Test(arguments: [1, 2, 3, 7, 64, 100_000])
    func repliesSplitAnywhereDecodeTheSame(chunk: Int) throws {
        #expect(try self.decode(Self.replies, chunk: chunk) == Self.expected)
    }

    @Test(arguments: ["$1x\r\nab\r\n", "*\r\n", ":12345678901234567890\r\n", "$4\n"])
    func aMalformedLengthIsAnError(reply: String) {
        #expect(throws: (any Error).self) { _ = try self.decode(Array(reply.utf8) + Array("\r\n".utf8), chunk: 64) }
    }
}
