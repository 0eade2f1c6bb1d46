import GatherCore
import NIOCore
import NIOPosix
import Synchronization

/// A message the server delivered (`MSG` or `HMSG`).
public struct NATSMessage: Sendable {
    public var subject: String
    public var replyTo: String?
    /// The status of a status message without data (`NATS/1.0 408 Request Timeout`): 404, 408, 409, 503…;
    /// `nil` for a message that carries data.
    public var status: Int?
    public var statusDescription: String
    public var payload: ByteBuffer

    public var text: String { String(buffer: self.payload) }
}

public struct NATSError: Error, Sendable, CustomStringConvertible {
    public var description: String
    /// Retrying cannot fix it: a refused login, a missing stream, JetStream not enabled, a bad URL.
    public var permanent: Bool

    public init(_ description: String, permanent: Bool = false) {
        self.description = description
        self.permanent = permanent
    }
}

/// A minimal client of the NATS protocol on SwiftNIO: CONNECT (with user and password or a token from the URL),
/// publish, request/reply through one inbox, and JetStream pulls. Written here because the packages this
/// machine offers have no NATS client, and the text protocol is small: libnats would be a C target, a static
/// link and a second event loop for the ~15 commands a durable pull consumer needs.
///
/// Two subscriptions on one connection: `INBOX.r.*` answers requests (each routed to its waiter by subject), and
/// `INBOX.p` receives pulled JetStream messages, collected into batches by ``pull(_:batch:expires:)``.
public final class NATSClient: Sendable {
    private let channel: any Channel
    private let router: NATSRouter

    private init(channel: any Channel, router: NATSRouter) {
        self.channel = channel
        self.router = router
    }

    /// Connects to `nats://[USER:PASSWORD@|TOKEN@]HOST[:PORT]`, logs in, and subscribes its inbox. A refused login
    /// throws a permanent error.
    public static func connect(url: String, timeout: Duration = .seconds(5)) async throws -> NATSClient {
        let address = try NATSAddress(url)
        let router = NATSRouter(inbox: "_INBOX." + Self.token())
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(TimeAmount(timeout))
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandlers([
                        ByteToMessageHandler(FrameDecoder<NATSDecoder>()), NATSHandler(router: router),
                    ])
                }
            }
            .connect(host: address.host, port: address.port).get()
        let client = NATSClient(channel: channel, router: router)
        var options: [(String, Value)] = [
            ("verbose", .bool(false)), ("pedantic", .bool(false)), ("headers", .bool(true)),
            ("no_responders", .bool(true)), ("protocol", .int(1)), ("lang", .string("swift")),
            ("version", .string(GatherVersion.current)), ("name", .string("gather")),
        ]
        if let user = address.user { options.append(("user", .string(user))) }
        if let password = address.password { options.append(("pass", .string(password))) }
        if let token = address.token { options.append(("auth_token", .string(token))) }
        var hello = "CONNECT " + JSONWriter.string(.object(Record(options))) + "\r\n"
        hello += "SUB \(router.inbox).r.* 1\r\nSUB \(router.inbox).p 2\r\n"
        client.write(hello)
        do {
            try await client.flush(timeout: timeout)
        } catch {
            await client.close()
            throw error
        }
        return client
    }

    static func token() -> String {
        String(UInt64.random(in: 0...UInt64.max), radix: 36) + String(UInt32.random(in: 0...UInt32.max), radix: 36)
    }

    private func write(_ text: String) {
        var buffer = self.channel.allocator.buffer(capacity: text.utf8.count)
        buffer.writeString(text)
        self.channel.writeAndFlush(buffer, promise: nil)
    }

    /// Publishes each `(subject, payload)` in one write.
    public func publish(_ messages: [(subject: String, payload: String)], reply: String? = nil) {
        guard !messages.isEmpty else { return }
        var buffer = self.channel.allocator.buffer(capacity: messages.count * 64)
        for message in messages {
            buffer.writeString("PUB \(message.subject) ")
            if let reply { buffer.writeString(reply + " ") }
            buffer.writeString("\(message.payload.utf8.count)\r\n")
            buffer.writeString(message.payload)
            buffer.writeString("\r\n")
        }
        self.channel.writeAndFlush(buffer, promise: nil)
    }

    public func publish(_ subject: String, _ payload: String, reply: String? = nil) {
        self.publish([(subject, payload)], reply: reply)
    }

    /// A round trip (PING, PONG): everything written before it has reached the server, and an `-ERR` it caused
    /// is thrown here.
    public func flush(timeout: Duration = .seconds(10)) async throws {
        let channel = self.channel
        let promise = channel.eventLoop.makePromise(of: Void.self)
        self.router.awaitPong(promise)
        let deadline = channel.eventLoop.scheduleTask(in: TimeAmount(timeout)) {
            promise.fail(NATSError("no PONG from the NATS server within \(timeout)"))
            channel.close(promise: nil)
        }
        promise.futureResult.whenComplete { _ in deadline.cancel() }
        self.write("PING\r\n")
        try await promise.futureResult.get()
    }

    /// Publishes `payload` to `subject` and waits for the one reply. "No responders" (nobody subscribes to
    /// `subject`) comes back as a message with status 503.
    public func request(_ subject: String, _ payload: String, timeout: Duration = .seconds(10)) async throws
        -> NATSMessage
    {
        let channel = self.channel
        let promise = channel.eventLoop.makePromise(of: NATSMessage.self)
        let reply = self.router.awaitReply(promise)
        let router = self.router
        let deadline = channel.eventLoop.scheduleTask(in: TimeAmount(timeout)) {
            router.cancelReply(reply)
            promise.fail(NATSError("no reply to \(subject) within \(timeout)"))
        }
        promise.futureResult.whenComplete { _ in deadline.cancel() }
        self.publish(subject, payload, reply: reply)
        return try await promise.futureResult.get()
    }

    /// A JetStream pull: asks `subject` (`$JS.API.CONSUMER.MSG.NEXT.STREAM.CONSUMER`) for up to `batch` messages
    /// and returns what came: `batch` messages, or fewer followed by a status (404 no messages, 408 the request
    /// expired, 409 …), which is returned too. With `noWait` the server answers at once with what it has;
    /// otherwise it holds the request until `batch` messages came or `expires` passed. Without an end by
    /// `expires` plus `grace`, the connection is taken for dead: it is closed and this throws.
    public func pull(
        _ subject: String, batch: Int, expires: Duration, noWait: Bool = false, grace: Duration = .seconds(10)
    ) async throws -> [NATSMessage] {
        let channel = self.channel
        let promise = channel.eventLoop.makePromise(of: [NATSMessage].self)
        self.router.awaitPull(promise, batch: batch)
        let router = self.router
        let deadline = channel.eventLoop.scheduleTask(in: TimeAmount(expires + grace)) {
            router.failPull(NATSError("the NATS server sent nothing for \(expires + grace) after a pull"))
            channel.close(promise: nil)
        }
        promise.futureResult.whenComplete { _ in deadline.cancel() }
        let nanos =
            Int64(expires.components.seconds) * 1_000_000_000
            + expires.components.attoseconds / 1_000_000_000
        let request = noWait ? "{\"batch\":\(batch),\"no_wait\":true}" : "{\"batch\":\(batch),\"expires\":\(nanos)}"
        self.publish(subject, request, reply: self.router.inbox + ".p")
        return try await promise.futureResult.get()
    }

    public func close() async {
        try? await self.channel.close()
    }
}

/// Where a `nats://` URL points, and its credentials.
struct NATSAddress {
    var host = "127.0.0.1"
    var port = 4222
    var user: String?
    var password: String?
    var token: String?

    init(_ url: String) throws {
        guard url.hasPrefix("nats://") else {
            throw NATSError("'\(url)' is not a nats:// URL; write nats://127.0.0.1:4222", permanent: true)
        }
        var rest = Substring(url.dropFirst("nats://".count))
        if let slash = rest.firstIndex(of: "/") { rest = rest[..<slash] }
        if let at = rest.lastIndex(of: "@") {
            let credentials = rest[..<at]
            rest = rest[rest.index(after: at)...]
            if let colon = credentials.firstIndex(of: ":") {
                self.user = URLEncoding.decode(credentials[..<colon])
                self.password = URLEncoding.decode(credentials[credentials.index(after: colon)...])
            } else {
                self.token = URLEncoding.decode(credentials)
            }
        }
        if let colon = rest.lastIndex(of: ":") {
            guard let port = Int(rest[rest.index(after: colon)...]) else {
                throw NATSError("'\(url)' has no valid port; write nats://HOST:4222", permanent: true)
            }
            self.port = port
            rest = rest[..<colon]
        }
        if !rest.isEmpty { self.host = String(rest) }
    }
}

/// Matches what the server sends to what waits for it. Its state lives behind a lock because callers register
/// from any thread while the handler delivers on the event loop.
final class NATSRouter: Sendable {
    let inbox: String
    private struct State {
        var replies: [String: EventLoopPromise<NATSMessage>] = [:]
        var nextReply = 0
        var pongs: [EventLoopPromise<Void>] = []
        var pull: (promise: EventLoopPromise<[NATSMessage]>, batch: Int)?
        var pulled: [NATSMessage] = []
        var closed: NATSError?
    }
    private let state = Mutex(State())

    init(inbox: String) { self.inbox = inbox }

    func awaitPong(_ promise: EventLoopPromise<Void>) {
        let closed = self.state.withLock { state -> NATSError? in
            if state.closed == nil { state.pongs.append(promise) }
            return state.closed
        }
        if let closed { promise.fail(closed) }
    }

    func awaitReply(_ promise: EventLoopPromise<NATSMessage>) -> String {
        let (subject, closed) = self.state.withLock { state -> (String, NATSError?) in
            state.nextReply += 1
            let subject = "\(self.inbox).r.\(state.nextReply)"
            if state.closed == nil { state.replies[subject] = promise }
            return (subject, state.closed)
        }
        if let closed { promise.fail(closed) }
        return subject
    }

    func cancelReply(_ subject: String) {
        _ = self.state.withLock { $0.replies.removeValue(forKey: subject) }
    }

    func awaitPull(_ promise: EventLoopPromise<[NATSMessage]>, batch: Int) {
        let failure = self.state.withLock { state -> NATSError? in
            if let closed = state.closed { return closed }
            if state.pull != nil { return NATSError("a pull is already waiting on this connection") }
            state.pull = (promise, batch)
            return nil
        }
        if let failure { promise.fail(failure) }
    }

    func failPull(_ error: NATSError) {
        let pull = self.state.withLock { state -> EventLoopPromise<[NATSMessage]>? in
            defer {
                state.pull = nil
                state.pulled = []
            }
            return state.pull?.promise
        }
        pull?.fail(error)
    }

    /// One message from the server.
    func deliver(_ message: NATSMessage, sid: Int) {
        if sid == 1 {
            let waiter = self.state.withLock { $0.replies.removeValue(forKey: message.subject) }
            waiter?.succeed(message)
            return
        }
        let done = self.state.withLock { state -> (EventLoopPromise<[NATSMessage]>, [NATSMessage])? in
            state.pulled.append(message)
            guard let pull = state.pull, message.status != nil || state.pulled.count >= pull.batch else { return nil }
            defer {
                state.pull = nil
                state.pulled = []
            }
            return (pull.promise, state.pulled)
        }
        if let (promise, messages) = done { promise.succeed(messages) }
    }

    func pong() {
        let promise = self.state.withLock { $0.pongs.isEmpty ? nil : $0.pongs.removeFirst() }
        promise?.succeed(())
    }

    /// `-ERR`: a login refused, a protocol error. The server closes the connection after most of them.
    func serverError(_ text: String) {
        let lower = text.lowercased()
        let permanent = lower.contains("authorization") || lower.contains("authentication")
        self.close(NATSError("the NATS server said: \(text)", permanent: permanent))
    }

    func close(_ error: NATSError) {
        let (replies, pongs, pull) = self.state.withLock { state in
            if state.closed == nil { state.closed = error }
            defer {
                state.replies = [:]
                state.pongs = []
                state.pull = nil
                state.pulled = []
            }
            return (Array(state.replies.values), state.pongs, state.pull?.promise)
        }
        for promise in replies { promise.fail(error) }
        for promise in pongs { promise.fail(error) }
        pull?.fail(error)
    }
}

enum NATSFrame {
    case info
    case message(NATSMessage, sid: Int)
    case ping
    case pong
    case ok
    case error(String)
}

/// Answers PING and hands the rest to the router.
final class NATSHandler: ChannelInboundHandler {
    typealias InboundIn = NATSFrame
    typealias OutboundOut = ByteBuffer

    private let router: NATSRouter

    init(router: NATSRouter) { self.router = router }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch self.unwrapInboundIn(data) {
        case .ping:
            context.writeAndFlush(
                self.wrapOutboundOut(context.channel.allocator.buffer(string: "PONG\r\n")), promise: nil)
        case .pong: self.router.pong()
        case .message(let message, let sid): self.router.deliver(message, sid: sid)
        case .error(let text): self.router.serverError(text)
        case .info, .ok: break
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.router.close(NATSError("the NATS connection failed: \(error)"))
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.router.close(NATSError("the NATS connection closed"))
        context.fireChannelInactive()
    }
}

/// A wire protocol whose frames are parsed from the front of a buffer; `nil` when the frame is not whole yet.
protocol FrameParser {
    associatedtype Frame
    static func parse(_ buffer: inout ByteBuffer) throws -> Frame?
}

/// Decodes `Parser`'s frames; a frame that is not whole yet leaves the buffer as it was, to wait for more bytes.
struct FrameDecoder<Parser: FrameParser>: ByteToMessageDecoder {
    typealias InboundOut = Parser.Frame

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        var copy = buffer
        guard let frame = try Parser.parse(&copy) else { return .needMoreData }
        buffer = copy
        context.fireChannelRead(NIOAny(frame))
        return .continue
    }
}

/// Parses the server's side of the protocol.
enum NATSDecoder: FrameParser {

    static func parse(_ buffer: inout ByteBuffer) throws -> NATSFrame? {
        guard let end = buffer.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) else {
            if buffer.readableBytes > 64 * 1024 { throw NATSError("a NATS protocol line longer than 64 KiB") }
            return nil
        }
        var line = buffer.readString(length: end - buffer.readerIndex)!
        buffer.moveReaderIndex(forwardBy: 1)
        if line.hasSuffix("\r") { line.removeLast() }
        let parts = line.split(separator: " ", omittingEmptySubsequences: true)
        guard let op = parts.first?.uppercased() else { return try Self.parse(&buffer) }
        switch op {
        case "MSG", "HMSG":
            let headers = op == "HMSG"
            // MSG subject sid [reply] size; HMSG subject sid [reply] header-size total-size
            let sizes = headers ? 2 : 1
            guard parts.count == 3 + sizes || parts.count == 4 + sizes, let sid = Int(parts[2]),
                let total = Int(parts[parts.count - 1]), total >= 0
            else { throw NATSError("a malformed NATS message line: \(line)") }
            let headerSize = headers ? Int(parts[parts.count - 2]) ?? -1 : 0
            guard headerSize >= 0, headerSize <= total else {
                throw NATSError("a malformed NATS message line: \(line)")
            }
            guard buffer.readableBytes >= total + 2 else { return nil }
            var status: Int?
            var description = ""
            if headerSize > 0 {
                let block = buffer.readString(length: headerSize)!
                let first = block.prefix { $0 != "\r" && $0 != "\n" }.split(separator: " ", maxSplits: 2)
                if first.count >= 2, let code = Int(first[1]) {
                    status = code
                    description = first.count == 3 ? String(first[2]) : ""
                }
            }
            let payload = buffer.readSlice(length: total - headerSize)!
            buffer.moveReaderIndex(forwardBy: 2)
            // A header block with a status and no data is a status message; a data message may carry headers too.
            if status != nil && payload.readableBytes > 0 { status = nil }
            let message = NATSMessage(
                subject: String(parts[1]), replyTo: parts.count == 4 + sizes ? String(parts[3]) : nil,
                status: status, statusDescription: description, payload: payload)
            return .message(message, sid: sid)
        case "PING": return .ping
        case "PONG": return .pong
        case "+OK": return .ok
        case "-ERR":
            var text = line.dropFirst(4).drop { $0 == " " || $0 == "'" }
            while text.last == "'" || text.last == " " { text.removeLast() }
            return .error(String(text))
        case "INFO": return .info
        default: throw NATSError("not the NATS protocol: \(line.prefix(80))")
        }
    }
}
