import NIOCore
import Synchronization

/// Tells the ``Batcher`` when a client has gone, so that its queued records are withdrawn before they reach a
/// worker.
///
/// Hummingbird allows remote half-closure, so a client that closes its socket does not close the channel: NIO reads
/// the end of input (it keeps reading while a request waits; the body was read whole) and passes
/// `ChannelEvent.inputClosed` up the pipeline. ``handler()`` puts a small handler in every connection's pipeline
/// that reports that event, and the channel's end, here. One entry per connection that has had a request queued
/// holds the requests waiting on it; it goes when the channel does, so memory follows the open connections, not
/// the requests served.
public final class ClientWatch: Sendable {
    private struct Entry {
        var gone = false
        var next = 0
        var waiting: [Int: @Sendable () -> Void] = [:]
    }

    /// Connections that have had a request queued, or whose client has gone, by channel.
    private let entries = Mutex<[ObjectIdentifier: Entry]>([:])

    public init() {}

    /// The connections being watched.
    public var watched: Int { self.entries.withLock { $0.count } }

    /// A new handler for one connection's pipeline (Hummingbird's `additionalChannelHandlers`).
    public func handler() -> any RemovableChannelHandler { HangUpHandler(watch: self) }

    /// A handle on one request's client: ``ClientWatch/Client/whenGone(_:)``.
    public struct Client: Sendable {
        let watch: ClientWatch
        let channel: any Channel

        /// Calls `action` once if the client goes before the returned ``Interest`` is cancelled; `nil` (and no
        /// call) when it has gone already.
        public func whenGone(_ action: @escaping @Sendable () -> Void) -> Interest? {
            self.watch.register(ObjectIdentifier(self.channel), active: self.channel.isActive, action)
        }
    }

    /// One registered `whenGone` action; cancel it once the request is answered.
    public struct Interest: Sendable {
        let watch: ClientWatch
        let key: ObjectIdentifier
        let token: Int

        public func cancel() {
            self.watch.entries.withLock { entries in
                _ = entries[self.key]?.waiting.removeValue(forKey: self.token)
            }
        }
    }

    /// The client on `channel`.
    public func client(on channel: any Channel) -> Client { Client(watch: self, channel: channel) }

    private func register(_ key: ObjectIdentifier, active: Bool, _ action: @escaping @Sendable () -> Void)
        -> Interest?
    {
        guard active else { return nil }
        let token = self.entries.withLock { entries -> Int? in
            var entry = entries[key] ?? Entry()
            guard !entry.gone else { return nil }
            let token = entry.next
            entry.next += 1
            entry.waiting[token] = action
            entries[key] = entry
            return token
        }
        return token.map { Interest(watch: self, key: key, token: $0) }
    }

    /// The client closed its side: the requests waiting on it go, and so does any later one.
    fileprivate func inputClosed(_ key: ObjectIdentifier) {
        let actions = self.entries.withLock { entries -> [@Sendable () -> Void] in
            var entry = entries[key] ?? Entry()
            defer {
                entry.gone = true
                entry.waiting = [:]
                entries[key] = entry
            }
            return Array(entry.waiting.values)
        }
        for action in actions { action() }
    }

    /// The channel is closed: its entry goes.
    fileprivate func inactive(_ key: ObjectIdentifier) {
        let actions = self.entries.withLock { $0.removeValue(forKey: key).map { Array($0.waiting.values) } ?? [] }
        for action in actions { action() }
    }
}

/// Reports a connection's end of input and its end to its ``ClientWatch``; passes everything on unchanged.
private final class HangUpHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny

    let watch: ClientWatch

    init(watch: ClientWatch) { self.watch = watch }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed {
            self.watch.inputClosed(ObjectIdentifier(context.channel))
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.watch.inactive(ObjectIdentifier(context.channel))
        context.fireChannelInactive()
    }
}
