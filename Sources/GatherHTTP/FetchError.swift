/// Why a fetch failed: a stable ``code`` (safe as a metrics label and in output records) and a message that
/// says what happened and what to do about it.
///
/// ```swift
/// if let error = result.error, error.code == .timeoutRead { … }
/// print(error)   // "timeout_read: no data from http://… for 30s (the idle read timeout); raise --read-timeout …"
/// ```
public struct FetchError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The stable code of a failure.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Backing: String, Sendable, Hashable {
            case invalidURL = "invalid_url"
            case dns = "dns"
            case connectionRefused = "connection_refused"
            case connectionReset = "connection_reset"
            case connectionClosed = "connection_closed"
            case timeoutConnect = "timeout_connect"
            case timeoutRead = "timeout_read"
            case timeoutRequest = "timeout_request"
            case timeoutAdmission = "timeout_admission"
            case tls = "tls"
            case tooManyRedirects = "too_many_redirects"
            case bodyTooLarge = "body_too_large"
            case httpStatus = "http_status"
            case invalidJSON = "invalid_json"
            case cancelled = "cancelled"
            case io = "io"
            case responseAction = "response_action"
            case other = "transport"
        }
        private let backing: Backing
        private init(_ backing: Backing) { self.backing = backing }

        /// The URL is not an absolute http(s) URL.
        public static let invalidURL = Code(.invalidURL)
        /// The host name did not resolve.
        public static let dns = Code(.dns)
        /// Nothing listens at the host and port.
        public static let connectionRefused = Code(.connectionRefused)
        /// The peer reset the connection.
        public static let connectionReset = Code(.connectionReset)
        /// The peer closed the connection before the response was complete.
        public static let connectionClosed = Code(.connectionClosed)
        /// No connection within the connect timeout.
        public static let timeoutConnect = Code(.timeoutConnect)
        /// No data for longer than the idle read timeout.
        public static let timeoutRead = Code(.timeoutRead)
        /// The whole request took longer than the request timeout.
        public static let timeoutRequest = Code(.timeoutRequest)
        /// No permit from the flow controller within the admission timeout.
        public static let timeoutAdmission = Code(.timeoutAdmission)
        /// The TLS handshake or certificate verification failed.
        public static let tls = Code(.tls)
        /// More redirects than allowed, or a redirect cycle.
        public static let tooManyRedirects = Code(.tooManyRedirects)
        /// The body (after decompression) passed the size cap.
        public static let bodyTooLarge = Code(.bodyTooLarge)
        /// The server answered with a status that is not 2xx or 3xx.
        public static let httpStatus = Code(.httpStatus)
        /// The body was declared JSON but did not parse.
        public static let invalidJSON = Code(.invalidJSON)
        /// The request was cancelled (for example by SIGINT) before it finished.
        public static let cancelled = Code(.cancelled)
        /// Writing the body to disk failed.
        public static let io = Code(.io)
        /// A response action said `retry` (and retries ran out) or `fail`.
        public static let responseAction = Code(.responseAction)
        /// Another transport failure.
        public static let other = Code(.other)

        public var description: String { self.backing.rawValue }
    }

    /// The stable code.
    public var code: Code
    /// What happened and what to do about it.
    public var message: String

    /// Creates an error.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(self.code): \(self.message)" }
}
