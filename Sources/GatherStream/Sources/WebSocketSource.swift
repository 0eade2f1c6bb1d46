import GatherCore
import GatherFormats
import HTTPTypes
import Logging
import NIOCore
import NIOWebSocket
import Synchronization
import WSClient

/// A WebSocket feed: one connection, reopened after every drop with an exponential backoff and full jitter;
/// `subscribe` messages sent after each connect; a ping every `pingInterval`, and a connection whose pong does not
/// come back before the next ping is closed and reopened.
///
/// **Resume.** A WebSocket has no standard way to ask for what was missed. When the messages carry an increasing
/// integer `sequence` field, it is the position: messages at or below the newest seen are dropped as duplicates
/// (and counted), and, when `resumeParameter` is set, every reconnect (and a restart, from the committed position)
/// asks for what follows by adding `?PARAMETER=LAST` to the URL; `{position}` in a subscribe message is replaced
/// by the same number. With both, the feed is exact across drops and kills, as far as the server keeps history.
/// Without a sequence, what the server sends while nobody is connected is lost: the reconnect count says it
/// happened.
public struct WebSocketSource: StreamSource {
    public var url: String
    public var headers: [(name: String, value: String)]
    /// Text messages sent after every connect, in order.
    public var subscribe: [String]
    /// The message field holding an increasing integer sequence number.
    public var sequence: String?
    /// The query parameter that asks the server for what follows a sequence number.
    public var resumeParameter: String?
    public var pingInterval: Duration
    /// The largest message accepted; a larger one closes the connection (code 1009) and is reported.
    public var maxMessage: Int

    public init(
        url: String, headers: [(name: String, value: String)] = [], subscribe: [String] = [],
        sequence: String? = nil, resumeParameter: String? = nil, pingInterval: Duration = .seconds(15),
        maxMessage: Int = 16 << 20
    ) {
        self.url = url
        self.headers = headers
        self.subscribe = subscribe
        self.sequence = sequence
        self.resumeParameter = resumeParameter
        self.pingInterval = pingInterval
        self.maxMessage = maxMessage
    }

    public var description: String { "websocket \(self.url)" }

    public func run(from position: Value?, into buffer: EventBuffer, status: SourceStatus) async throws {
        guard self.url.hasPrefix("ws://") || self.url.hasPrefix("wss://") else {
            throw StreamSourceError("'\(self.url)' is not a WebSocket URL: it starts with ws:// or wss://")
        }
        let sequence = SequenceMark(newest: position?.intValue)
        var logger = Logger(label: "gather.websocket")
        logger.logLevel = .critical
        var configuration = WebSocketClientConfiguration(
            maxFrameSize: min(self.maxMessage, 1 << 24), closeTimeout: .seconds(2),
            autoPing: .enabled(timePeriod: self.pingInterval))
        for header in self.headers {
            if let name = HTTPField.Name(header.name) { configuration.additionalHeaders[name] = header.value }
        }
        try await ReconnectBackoff.reconnecting(status: status) { attempt in
            let close = try await WebSocketClient.connect(
                url: self.connectURL(after: sequence.newest), configuration: configuration, logger: logger
            ) { inbound, outbound, _ in
                status.connected()
                let resumeFrom = sequence.newest.map(String.init) ?? ""
                for message in self.subscribe {
                    try await outbound.write(.text(message.replacing("{position}", with: resumeFrom)))
                }
                for try await message in inbound.messages(maxSize: self.maxMessage) {
                    let payload: String
                    switch message {
                    case .text(let text): payload = text
                    case .binary(let bytes): payload = String(decoding: bytes.readableBytesView, as: UTF8.self)
                    }
                    var position: Value?
                    if let field = self.sequence, let number = Self.sequenceNumber(in: payload, field: field) {
                        guard sequence.advance(to: number) else {
                            status.duplicate()
                            continue
                        }
                        position = .int(number)
                    }
                    attempt.delivered()
                    guard await buffer.send([SourceEvent(payload: payload, position: position)]) else {
                        attempt.stop()
                        return
                    }
                }
            }
            return close.map(Self.describe) ?? "the connection ended without a close frame"
        }
    }

    /// The URL to connect to, asking for what follows `newest` when the server supports it.
    func connectURL(after newest: Int64?) -> String {
        guard let parameter = self.resumeParameter, let newest else { return self.url }
        return URLEncoding.setting(parameter, to: String(newest), in: self.url)
    }

    /// The integer at `field` of a JSON object message, if it has one.
    static func sequenceNumber(in payload: String, field: String) -> Int64? {
        guard case .object(let record)? = try? JSONReader.parse(Array(payload.utf8)) else { return nil }
        switch record[field] {
        case .int(let number)?: return number
        case .string(let text)?: return Int64(text)
        default: return nil
        }
    }

    static func describe(_ close: WebSocketCloseFrame) -> String {
        let code = UInt16(webSocketErrorCode: close.closeCode)
        let reason = close.reason.flatMap { $0.isEmpty ? nil : $0 }
        return "the server closed the connection with code \(code)" + (reason.map { " (\($0))" } ?? "")
    }
}

/// The newest sequence number, shared by the connection handler and the reconnect loop.
private final class SequenceMark: Sendable {
    private let state: Mutex<Int64?>

    init(newest: Int64?) { self.state = Mutex(newest) }

    var newest: Int64? { self.state.withLock { $0 } }

    /// `false` for a number at or below the newest seen (a duplicate).
    func advance(to number: Int64) -> Bool {
        self.state.withLock { newest in
            if let last = newest, number <= last { return false }
            newest = number
            return true
        }
    }
}
