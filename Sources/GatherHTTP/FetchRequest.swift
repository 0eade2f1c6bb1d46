public import GatherCore

/// One HTTP request for the ``Fetcher``: a URL, a method, headers and an optional body.
///
/// ```swift
/// var request = FetchRequest(url: "https://api.example.com/items/7")
/// request.headers.append(("Accept", "application/json"))
/// ```
public struct FetchRequest: Sendable {
    /// The absolute `http` or `https` URL, as given.
    public var url: String
    /// The method, upper-case (`GET` by default).
    public var method: String
    /// Extra headers, sent after the fetcher's default headers (a header given here replaces a default one).
    public var headers: [(name: String, value: String)]
    /// The request body, if any.
    public var body: [UInt8]?
    /// The whole-request timeout for this request, instead of the fetcher's.
    public var timeout: Duration?
    /// The retry policy for this request, instead of the fetcher's.
    public var retry: RetryPolicy?
    /// Response actions for this request, instead of the fetcher's (``Fetcher/Configuration/responseActions``).
    public var responseActions: [ResponseAction]?
    /// Names (lower-case) of the request's own headers that carry credentials (an API key header, say): like
    /// `Authorization` and `Cookie`, they are not sent after a redirect to another origin.
    public var credentialHeaders: Set<String> = []

    /// Creates a request.
    public init(
        url: String, method: String = "GET", headers: [(name: String, value: String)] = [], body: [UInt8]? = nil,
        timeout: Duration? = nil, retry: RetryPolicy? = nil
    ) {
        self.timeout = timeout
        self.retry = retry
        self.url = url
        self.method = method.uppercased()
        self.headers = headers
        self.body = body
    }
}
