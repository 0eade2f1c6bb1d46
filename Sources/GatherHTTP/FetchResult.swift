public import NIOCore
public import NIOHTTP1

/// A response as the ``Fetcher`` returns it: the status, the headers and the whole (decompressed) body.
public struct FetchResponse: Sendable {
    /// The HTTP status code.
    public var status: Int
    /// The protocol version the response came over (1.1, or 2.0 when HTTP/2 was negotiated).
    public var version: HTTPVersion
    /// The response headers, in order.
    public var headers: HTTPHeaders
    /// The body, decompressed, at most the configured cap. Empty when the body went to a file.
    public var body: ByteBuffer
    /// The number of body bytes received (after decompression), whether kept in ``body`` or written to a file.
    public var bodyBytes: Int
    /// Where the body was written, when it went to a file.
    public var savedPath: String?

    /// The first value of header `name` (case-insensitive).
    public func header(_ name: String) -> String? {
        self.headers.first(name: name)
    }

    /// The media type of `Content-Type`, lower-cased, without parameters (`application/json`).
    public var mediaType: String? {
        guard let value = self.header("Content-Type") else { return nil }
        return Self.mediaType(of: value)
    }

    /// Whether the body is declared as JSON (`application/json`, `application/*+json`, `text/json`,
    /// `application/x-ndjson`).
    public var isJSON: Bool {
        guard let value = self.header("Content-Type") else { return false }
        // The common exact spelling first, without building strings.
        if value.utf8.elementsEqual("application/json".utf8) { return true }
        let type = Self.mediaType(of: value)
        return type == "application/json" || type == "text/json" || type.hasSuffix("+json")
            || type == "application/x-ndjson"
    }

    static func mediaType(of contentType: String) -> String {
        let type = contentType.split(separator: ";", maxSplits: 1).first.map(String.init) ?? contentType
        return type.trimmingCharacters(in: " \t").lowercased()
    }
}

/// How one ``FetchRequest`` ended, after all its attempts.
///
/// A response and an error can both be present: a `503` after the last retry has its response (status,
/// headers, body) and an error that says why the fetcher gave up.
public struct FetchResult: Sendable {
    /// The request as given.
    public var request: FetchRequest
    /// The last response received, if any (after redirects: the last hop's).
    public var response: FetchResponse?
    /// Why the request failed, if it did. `nil` means a 2xx/3xx response.
    public var error: FetchError?
    /// Attempts made (1 = no retry).
    public var attempts: Int
    /// Of ``elapsed``, the time spent waiting for admission (the host's concurrency slot, rate token or pause),
    /// over all attempts: `elapsed - waited` is the time the requests were on the wire.
    public var waited: Duration = .zero
    /// From the first admission request to the end of the last attempt, including waits.
    public var elapsed: Duration
    /// Where the body was written, when it went to a file.
    public var savedPath: String?
    /// Redirects followed (each hop admitted by its own host's flow control).
    public var redirects = 0
    /// Retries by cause (`http_500`, `connection_reset`, `timeout_read`, `response_action`…); the values add up
    /// to `attempts - 1`.
    public var retryCauses: [String: Int] = [:]
    /// A response action said `ignore`: a success that carries no data.
    public var ignored = false
    /// A response action said `fail`: the caller should stop the resource (or the run) after this item.
    public var stopsResource = false

    mutating func countRetry(cause: String) {
        self.retryCauses[cause, default: 0] += 1
    }

    /// True when the request ended with a usable response.
    public var succeeded: Bool { self.error == nil }
}

extension String {
    func caseInsensitiveEquals(_ other: String) -> Bool {
        self.utf8.count == other.utf8.count && self.lowercased() == other.lowercased()
    }

    func trimmingCharacters(in set: String) -> String {
        var start = self.startIndex
        var end = self.endIndex
        while start < end, set.contains(self[start]) { start = self.index(after: start) }
        while end > start, set.contains(self[self.index(before: end)]) { end = self.index(before: end) }
        return String(self[start..<end])
    }
}
