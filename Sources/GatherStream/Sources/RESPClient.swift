import NIOCore
import NIOPosix

/// A reply of the Redis serialization protocol (RESP2).
public enum RESPValue: Sendable, Hashable {
    case simple(String)
    case error(String)
    case integer(Int64)
    /// `nil` is the null bulk string. The bytes are a slice of the read buffer (no copy): a reply of 10,000 stream
    /// entries holds 30,000 of them.
    case bulk(ByteBuffer?)
    /// `nil` is the null array.
    case array([RESPValue]?)

    public var text: String? {
        switch self {
        case .simple(let s): s
        case .bulk(let bytes?): String(buffer: bytes)
        case .integer(let n): String(n)
        default: nil
        }
    }

    public var elements: [RESPValue]? {
        if case .array(let values?) = self { return values }
        return nil
    }
}

/// A minimal Redis client on SwiftNIO: one connection, commands pipelined in order, replies matched first in,
/// first out. Enough for streams (XADD, XGROUP, XREADGROUP, XACK, XPENDING); written here because the packages
/// this machine offers have no Redis client, and RESP2 is small.
public final class RESPClient: Sendable {
    private let channel: any Channel

    private init(channel: any Channel) {
        self.channel = channel
    }

    /// Connects to `redis://HOST:PORT` (the path and credentials are not used).
    public static func connect(url: String, timeout: Duration = .seconds(5)) async throws -> RESPClient {
        let (host, port) = try Self.hostAndPort(url)
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(TimeAmount(timeout))
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandlers([
                        ByteToMessageHandler(RESPDecoder()), RESPClientHandler(),
                    ])
                }
            }
            .connect(host: host, port: port).get()
        return RESPClient(channel: channel)
    }

    static func hostAndPort(_ url: String) throws -> (String, Int) {
        guard url.hasPrefix("redis://") else {
            throw RESPError("'\(url)' is not a redis:// URL; write redis://127.0.0.1:6379")
        }
        var rest = Substring(url.dropFirst("redis://".count))
        if let slash = rest.firstIndex(of: "/") { rest = rest[..<slash] }
        if let at = rest.lastIndex(of: "@") { rest = rest[rest.index(after: at)...] }
        if let colon = rest.lastIndex(of: ":"), let port = Int(rest[rest.index(after: colon)...]) {
            return (String(rest[..<colon]), port)
        }
        return (rest.isEmpty ? "127.0.0.1" : String(rest), 6379)
    }

    /// Sends one command and waits for its reply; a Redis error reply throws. Without a reply within `timeout`
    /// the connection is closed (a half-open socket) and the command fails.
    @discardableResult
    public func send(_ arguments: [String], timeout: Duration = .seconds(30)) async throws -> RESPValue {
        let promise = self.channel.eventLoop.makePromise(of: RESPValue.self)
        var buffer = self.channel.allocator.buffer(capacity: 64)
        buffer.writeString("*\(arguments.count)\r\n")
        for argument in arguments {
            buffer.writeString("$\(argument.utf8.count)\r\n")
            buffer.writeString(argument)
            buffer.writeString("\r\n")
        }
        let written = self.channel.eventLoop.makePromise(of: Void.self)
        let channel = self.channel
        // A write that fails (the connection already closed) never reaches the handler's queue.
        written.futureResult.whenFailure { error in promise.fail(error) }
        let deadline = channel.eventLoop.scheduleTask(in: TimeAmount(timeout)) { channel.close(promise: nil) }
        promise.futureResult.whenComplete { _ in deadline.cancel() }
        channel.writeAndFlush(RESPRequest(bytes: buffer, promise: promise), promise: written)
        let reply = try await promise.futureResult.get()
        if case .error(let message) = reply { throw RESPError(message) }
        return reply
    }

    public func close() async {
        try? await self.channel.close()
    }
}

public struct RESPError: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }

    /// A failure that retrying cannot fix: a URL that is not `redis://`, a key of another type (`WRONGTYPE`), a
    /// refused login (`NOAUTH`, `WRONGPASS`, `NOPERM`), or a command the server does not know (Redis before 5.0
    /// has no streams).
    public var isPermanent: Bool {
        self.description.contains("is not a redis:// URL")
            || ["WRONGTYPE", "NOAUTH", "WRONGPASS", "NOPERM", "ERR unknown command"].contains {
                self.description.hasPrefix($0)
            }
    }
}

struct RESPRequest {
    var bytes: ByteBuffer
    var promise: EventLoopPromise<RESPValue>
}

/// Writes requests and completes their promises with the replies, in order.
final class RESPClientHandler: ChannelDuplexHandler {
    typealias InboundIn = RESPValue
    typealias OutboundIn = RESPRequest
    typealias OutboundOut = ByteBuffer

    private var waiting: CircularBuffer<EventLoopPromise<RESPValue>> = []

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let request = self.unwrapOutboundIn(data)
        self.waiting.append(request.promise)
        context.write(self.wrapOutboundOut(request.bytes), promise: promise)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let reply = self.unwrapInboundIn(data)
        self.waiting.popFirst()?.succeed(reply)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.failAll(error)
        context.close(promise: nil)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.failAll(RESPError("the Redis connection closed"))
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.failAll(RESPError("the Redis connection closed"))
        context.fireChannelInactive()
    }

    private func failAll(_ error: any Error) {
        while let promise = self.waiting.popFirst() { promise.fail(error) }
    }
}

/// Decodes RESP2 replies as their bytes arrive: each element is taken off the buffer as soon as it is whole, and the
/// arrays still open wait on a stack. So a reply of 10,000 stream entries that arrives in 25 reads is parsed once,
/// not again from its start after every read.
struct RESPDecoder: ByteToMessageDecoder {
    typealias InboundOut = RESPValue

    /// The arrays being filled, outermost first: how many elements each still lacks, and those it has.
    private var open: [(missing: Int, values: [RESPValue])] = []

    private enum Element {
        case value(RESPValue)
        case array(count: Int)
    }

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        while true {
            var copy = buffer
            guard let element = try Self.element(&copy) else { return .needMoreData }
            buffer = copy
            var value: RESPValue
            switch element {
            case .array(let count) where count > 0:
                var values: [RESPValue] = []
                values.reserveCapacity(min(count, 65_536))
                self.open.append((count, values))
                continue
            case .array(let count): value = .array(count < 0 ? nil : [])
            case .value(let scalar): value = scalar
            }
            // Place the value; every array it completes is itself a value for the one around it.
            while !self.open.isEmpty {
                self.open[self.open.count - 1].values.append(value)
                self.open[self.open.count - 1].missing -= 1
                guard self.open[self.open.count - 1].missing == 0 else { break }
                value = .array(self.open.removeLast().values)
            }
            if self.open.isEmpty {
                context.fireChannelRead(NIOAny(value))
                return .continue
            }
        }
    }

    private static func line(_ buffer: inout ByteBuffer) -> String? {
        guard let end = buffer.readableBytesView.firstIndex(of: 0x0D) else { return nil }
        let length = end - buffer.readerIndex
        guard buffer.readableBytes >= length + 2 else { return nil }
        let text = buffer.readString(length: length)
        buffer.moveReaderIndex(forwardBy: 2)
        return text
    }

    /// The integer of a header line (`$15`, `*2`, `:7` after their first byte), read in place: replies of
    /// thousands of entries have five headers an entry, and none of them becomes a String. `nil` until the line
    /// is whole.
    private static func integerLine(_ buffer: inout ByteBuffer) throws -> Int? {
        let view = buffer.readableBytesView
        var index = view.startIndex
        let negative = index < view.endIndex && view[index] == UInt8(ascii: "-")
        if negative { index += 1 }
        var value = 0
        var digits = 0
        while index < view.endIndex {
            let byte = view[index]
            if byte == 0x0D {
                guard index + 1 < view.endIndex else { return nil }
                guard digits > 0, view[index + 1] == 0x0A else { throw RESPError("bad number in a Redis reply") }
                buffer.moveReaderIndex(forwardBy: index + 2 - view.startIndex)
                return negative ? -value : value
            }
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9"), digits < 18 else {
                throw RESPError("bad number in a Redis reply")
            }
            value = value * 10 + Int(byte - UInt8(ascii: "0"))
            digits += 1
            index += 1
        }
        return nil
    }

    /// One scalar, or an array's header; `nil` until it is whole.
    private static func element(_ buffer: inout ByteBuffer) throws -> Element? {
        guard let kind = buffer.readInteger(as: UInt8.self) else { return nil }
        switch kind {
        case UInt8(ascii: "+"):
            guard let header = Self.line(&buffer) else { return nil }
            return .value(.simple(header))
        case UInt8(ascii: "-"):
            guard let header = Self.line(&buffer) else { return nil }
            return .value(.error(header))
        case UInt8(ascii: ":"):
            guard let n = try Self.integerLine(&buffer) else { return nil }
            return .value(.integer(Int64(n)))
        case UInt8(ascii: "$"):
            guard let length = try Self.integerLine(&buffer) else { return nil }
            if length < 0 { return .value(.bulk(nil)) }
            guard buffer.readableBytes >= length + 2, let bytes = buffer.readSlice(length: length) else { return nil }
            buffer.moveReaderIndex(forwardBy: 2)
            return .value(.bulk(bytes))
        case UInt8(ascii: "*"):
            guard let count = try Self.integerLine(&buffer) else { return nil }
            return .array(count: count)
        default:
            throw RESPError("not a RESP reply (first byte \(kind))")
        }
    }
}
