import AsyncHTTPClient
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1

/// Collects a response in memory, on the connection's event loop, with the body cap checked as each part
/// arrives. Used through AsyncHTTPClient's delegate API, whose deadline covers the whole request: connecting,
/// the head and every body byte.
final class BodyCollector: HTTPClientResponseDelegate {
    typealias Response = FetchResponse

    private struct State {
        var head: HTTPResponseHead?
        var body: ByteBuffer?
        var received = 0
    }

    private let state = NIOLockedValueBox(State())
    private let limit: Int
    private let url: String

    init(limit: Int, url: String) {
        self.limit = limit
        self.url = url
    }

    func didReceiveHead(task: HTTPClient.Task<FetchResponse>, _ head: HTTPResponseHead) -> EventLoopFuture<Void> {
        if let declared = head.headers.first(name: "content-length").flatMap(Int.init), declared > self.limit,
            head.headers.first(name: "content-encoding") == nil
        {
            return task.eventLoop.makeFailedFuture(
                FetchError.bodyTooLarge(url: self.url, limit: self.limit, declared: declared)
            )
        }
        self.state.withLockedValue { $0.head = head }
        return task.eventLoop.makeSucceededVoidFuture()
    }

    func didReceiveBodyPart(task: HTTPClient.Task<FetchResponse>, _ buffer: ByteBuffer) -> EventLoopFuture<Void> {
        let limit = self.limit
        let fits = self.state.withLockedValue { state -> Bool in
            state.received += buffer.readableBytes
            guard state.received <= limit else { return false }
            if state.body == nil {
                state.body = buffer
            } else {
                state.body!.writeImmutableBuffer(buffer)
            }
            return true
        }
        guard fits else {
            return task.eventLoop.makeFailedFuture(FetchError.bodyTooLarge(url: self.url, limit: limit, declared: nil))
        }
        return task.eventLoop.makeSucceededVoidFuture()
    }

    func didFinishRequest(task: HTTPClient.Task<FetchResponse>) throws -> FetchResponse {
        let state = self.state.withLockedValue { $0 }
        guard let head = state.head else { throw HTTPClientError.remoteConnectionClosed }
        return FetchResponse(
            status: Int(head.status.code),
            version: head.version,
            headers: head.headers,
            body: state.body ?? ByteBuffer(),
            bodyBytes: state.received,
            savedPath: nil
        )
    }
}
