import AsyncHTTPClient
public import GatherCore
public import Logging
import NIOCore
import NIOHTTP1
import Tracing

/// Fetches HTTP resources politely: every attempt is admitted by a per-host ``FlowController``, failed
/// attempts are retried by the ``RetryPolicy`` (through the same admission), and every attempt has a deadline
/// and a body-size cap.
///
/// One fetcher owns one connection pool per proxy route (AsyncHTTPClient underneath), sized from the limits.
/// Create it with ``withFetcher(configuration:logger:_:)`` so the pool is always shut down:
///
/// ```swift
/// var configuration = Fetcher.Configuration()
/// configuration.limits = FlowLimits(maxConcurrency: 8)
/// try await Fetcher.withFetcher(configuration: configuration) { fetcher in
///     let result = await fetcher.fetch(FetchRequest(url: "https://api.example.com/items"))
///     if let response = result.response { print(response.status, response.bodyBytes) }
/// }
/// ```
public final class Fetcher: Sendable {
    /// The configuration the fetcher was created with.
    public let configuration: Configuration
    /// The admission controller every attempt passes through (shared with callers that want to add limits).
    public let flow: FlowController<ContinuousClock>
    private let clients: HTTPClients
    private let logger: Logger
    /// The logger handed to AsyncHTTPClient: ``logger`` when it logs debug messages (all AsyncHTTPClient logs are
    /// debug or trace), otherwise a no-op one. AsyncHTTPClient sets request metadata on it for every request, and
    /// a `StreamLogHandler` re-renders its whole metadata string on every set, even when nothing is ever logged
    /// (profiled: 4 % of fetch-static's CPU).
    private let clientLogger: Logger
    /// The fetcher's default headers, then auth: what ``prepare(_:hop:sameOrigin:)`` sends for a request without
    /// headers of its own to its own origin, built once.
    private let defaultHeaders: HTTPHeaders
    private let metrics = FetchMetrics()

    init(configuration: Configuration, logger: Logger) {
        self.configuration = configuration
        self.flow = FlowController(limits: configuration.limits, overrides: configuration.limitOverrides)
        self.clients = HTTPClients(configuration: configuration)
        self.logger = logger
        self.clientLogger =
            logger.logLevel <= .debug ? logger : Logger(label: logger.label, factory: { _ in SwiftLogNoOpLogHandler() })
        var headers = HTTPHeaders()
        for (name, value) in configuration.headers { headers.add(name: name, value: value) }
        if let authorization = configuration.authorization {
            headers.add(name: "Authorization", value: authorization.headerValue)
        }
        self.defaultHeaders = headers
    }

    /// Creates a fetcher, runs `body` with it, and shuts its connection pools down however `body` ends.
    ///
    /// - Parameters:
    ///   - configuration: Limits, retries, timeouts and the rest; see ``Configuration``.
    ///   - logger: Where the fetcher logs (at debug level and below); silent by default.
    /// - Throws: What `body` throws.
    public static func withFetcher<T: Sendable>(
        configuration: Configuration = Configuration(),
        logger: Logger = Logger(label: "gather.fetch", factory: { _ in SwiftLogNoOpLogHandler() }),
        _ body: (Fetcher) async throws -> T
    ) async throws -> T {
        let fetcher = Fetcher(configuration: configuration, logger: logger)
        let result: T
        do {
            result = try await body(fetcher)
        } catch {
            await fetcher.clients.shutdown()
            throw error
        }
        await fetcher.clients.shutdown()
        return result
    }

    /// The result of a request not sent (or not retried) because the run is stopping.
    private static func notSent(_ result: FetchResult, elapsed: Duration) -> FetchResult {
        var result = result
        if result.attempts == 0 || result.error == nil {
            result.error = FetchError(.cancelled, "not sent: the run was stopping")
        } else if var error = result.error {
            error.message += " (not retried: the run was stopping)"
            result.error = error
        }
        result.elapsed = elapsed
        return result
    }

    /// Fetches one request with admission, retries, redirects, response actions and caps, and never throws: a
    /// failure is a ``FetchResult`` with an ``FetchResult/error``.
    ///
    /// Redirects (301, 302, 303, 307, 308 with a `Location`) are followed here, not inside the HTTP client, so
    /// every hop is admitted by its own host's flow control (concurrency, rate, `Retry-After`) and retried by the
    /// policy like a first request. A hop to another origin (scheme, host or port) carries no credentials: no
    /// `Authorization`, `Proxy-Authorization` or `Cookie`, and none of the request's ``FetchRequest/credentialHeaders``.
    /// 303 (and 301/302 after a POST) turn the request into a GET without a body, as browsers, curl and aiohttp do.
    ///
    /// - Parameters:
    ///   - request: What to fetch.
    ///   - savePath: Stream the body to this file instead of keeping it in memory. An extension for the
    ///     response's media type is added (`.json`, `.html`, `.txt`, `.xml`, `.csv`, `.bin`); the body is written
    ///     as `PATH.EXT.part` and renamed when complete.
    ///   - stop: Checked before every attempt (the first one included): once it fired, no request is
    ///     sent and the result is a `cancelled` error. `gather fetch` uses it so that after SIGINT no new
    ///     request starts, not even a queued one or a retry.
    public func fetch(
        _ request: FetchRequest,
        savePath: String? = nil,
        stop: StopSignal? = nil
    ) async -> FetchResult {
        let clock = ContinuousClock()
        let started = clock.now
        var result = FetchResult(request: request, response: nil, error: nil, attempts: 0, elapsed: .zero)
        guard let firstTarget = RequestTarget(url: request.url) else {
            result.error = FetchError(
                .invalidURL,
                "\"\(request.url)\" is not an absolute http or https URL: write it as http://host/path"
            )
            return result
        }
        let retry = request.retry ?? self.configuration.retry
        let actions = request.responseActions ?? self.configuration.responseActions
        var hop = Hop(url: request.url, target: firstTarget, method: request.method, body: request.body)
        var visited: Set<String> = []
        var attemptsThisHop = 0

        var route = self.route(request, hop: hop, origin: firstTarget)

        while true {
            let (key, client, prepared, hostMetrics) = (route.key, route.client, route.prepared, route.metrics)
            if stop?.isStopped == true { return Self.notSent(result, elapsed: started.duration(to: clock.now)) }
            // Attempts are the first request and its retries; following a redirect is not an attempt.
            let counted = result.attempts == 0 || attemptsThisHop > 0
            if counted { result.attempts += 1 }
            attemptsThisHop += 1
            let permit: FlowPermit
            let asked = clock.now
            do {
                permit = try await self.flow.acquire(key: key, timeout: self.configuration.timeouts.admission)
            } catch let error as FlowControlError {
                result.error = FetchError(.timeoutAdmission, error.description)
                result.elapsed = started.duration(to: clock.now)
                return result
            } catch {
                result.error = FetchError(.cancelled, "cancelled while waiting for admission to \(key)")
                result.elapsed = started.duration(to: clock.now)
                return result
            }
            // The fleet's share of the host's rate, when other processes draw on the same budget.
            if let budget = self.configuration.sharedBudget, let rate = self.flow.limits(for: key).rate {
                do {
                    try await budget.take(key: key, rate: rate)
                } catch {
                    self.flow.release(permit)
                    result.error =
                        error is CancellationError
                        ? FetchError(.cancelled, "cancelled while waiting for the fleet's rate for \(key)")
                        : FetchError(.timeoutAdmission, "no share of the fleet's rate for \(key): \(error)")
                    result.elapsed = started.duration(to: clock.now)
                    return result
                }
            }
            // A request queued for admission when the run began stopping is not sent once admitted either.
            if stop?.isStopped == true {
                self.flow.release(permit)
                if counted { result.attempts -= 1 }
                return Self.notSent(result, elapsed: started.duration(to: clock.now))
            }
            let sent = clock.now
            result.waited += asked.duration(to: sent)
            hostMetrics.admitted(after: asked.duration(to: sent))
            hostMetrics.inFlight.increment()
            let outcome =
                Traces.isOn
                ? await self.tracedAttempt(
                    prepared, client: client, savePath: savePath, hop: hop, number: attemptsThisHop)
                : await self.attempt(prepared, client: client, savePath: savePath)
            hostMetrics.inFlight.decrement()
            var retryAfter: Duration?
            var failure: RetryPolicy.Failure?
            var redirect: String?
            switch outcome {
            case .success(let response):
                hostMetrics.attempt(
                    status: response.status, bytes: response.bodyBytes, duration: sent.duration(to: clock.now))
                // Every header ServerHints reads starts with "r" or "x": most responses have none, so skip it.
                let hints =
                    response.headers.contains(where: { Self.mayBeHint($0.name) })
                    ? ServerHints(headers: response.headers.lazy.map { ($0.name, $0.value) }) : ServerHints()
                self.flow.observe(hints, key: key)
                if let budget = self.configuration.sharedBudget, let pause = hints.pause, pause > .zero {
                    await budget.pause(key: key, for: pause)
                }
                retryAfter = hints.retryAfter
                result.response = response
                result.error = nil
                failure = nil
                if let action = actions.isEmpty
                    ? nil : ResponseAction.first(in: actions, status: response.status, body: response.body)
                {
                    switch action.action {
                    case .ignore:
                        result.ignored = true
                    case .retry:
                        failure = .action
                        result.error = FetchError(
                            .responseAction, "HTTP \(response.status) from \(hop.url) matched \(action)")
                    case .fail:
                        self.flow.release(permit)
                        result.error = FetchError(
                            .responseAction,
                            "HTTP \(response.status) from \(hop.url) matched \(action): the resource stops here; "
                                + "check the credentials or the request")
                        result.stopsResource = true
                        result.elapsed = started.duration(to: clock.now)
                        return result
                    }
                } else if response.status >= 400 {
                    failure = .status(response.status)
                    result.error = FetchError(.httpStatus, "HTTP \(response.status) from \(hop.url)")
                } else if Self.redirectStatuses.contains(response.status), self.configuration.maxRedirects > 0,
                    let location = response.headers.first(name: "location")
                {
                    redirect = location
                } else {
                    result.savedPath = response.savedPath
                }
            case .failure(let error):
                hostMetrics.attempt(status: nil, bytes: 0, duration: sent.duration(to: clock.now))
                result.error = error
                failure = error.retryFailure
            }
            self.flow.release(permit)
            result.elapsed = started.duration(to: clock.now)

            if let location = redirect, let response = result.response {
                visited.insert(hop.url)
                let next = URLEncoding.resolve(location, against: hop.url)
                guard let target = RequestTarget(url: next) else {
                    result.error = FetchError(
                        .invalidURL, "\(hop.url) redirected to \"\(location)\", which is not an http or https URL")
                    return result
                }
                guard result.redirects < self.configuration.maxRedirects, !visited.contains(next) else {
                    result.error = FetchError(
                        .tooManyRedirects,
                        "\(request.url) redirected more than \(self.configuration.maxRedirects) times or in a "
                            + "cycle: check the URL")
                    return result
                }
                result.redirects += 1
                let changesToGET =
                    response.status == 303 ? hop.method != "HEAD" : (response.status <= 302 && hop.method == "POST")
                hop = Hop(
                    url: next, target: target, method: changesToGET ? "GET" : hop.method,
                    body: changesToGET ? nil : hop.body)
                route = self.route(request, hop: hop, origin: firstTarget)
                attemptsThisHop = 0
                continue
            }
            guard let failure else { return result }
            if Task.isCancelled {
                if result.error?.code != .httpStatus {
                    result.error = FetchError(.cancelled, "cancelled before \(request.url) finished")
                }
                return result
            }
            switch retry.decide(
                attempt: attemptsThisHop,
                elapsed: result.elapsed,
                failure: failure,
                method: hop.method,
                idempotencyKey: request.headers.contains { $0.name.caseInsensitiveEquals("Idempotency-Key") },
                retryAfter: retryAfter
            ) {
            case .retry(let wait):
                let cause = Self.cause(of: failure, error: result.error)
                result.countRetry(cause: cause)
                self.metrics.retry(host: hop.target.host, cause: cause)
                self.logger.debug(
                    "fetch.retry",
                    metadata: ["gather.request.url": "\(hop.url)", "gather.retry.wait": "\(wait)"]
                )
                do {
                    try await clock.sleep(for: wait)
                } catch {
                    result.error = FetchError(.cancelled, "cancelled while waiting to retry \(request.url)")
                    return result
                }
            case .stop(let reason):
                if var error = result.error, attemptsThisHop > 1 || error.code != .httpStatus {
                    error.message += " (\(reason))"
                    result.error = error
                }
                return result
            }
        }
    }

    private static func mayBeHint(_ name: String) -> Bool {
        guard let first = name.utf8.first else { return false }
        return first | 0x20 == UInt8(ascii: "r") || first | 0x20 == UInt8(ascii: "x")
    }

    /// The statuses followed as redirects when they carry a `Location`.
    static let redirectStatuses: Set<Int> = [301, 302, 303, 307, 308]

    /// The stable name of a retry's cause, for the summary and metrics: `http_500`, `connection_reset`,
    /// `timeout_read`, `response_action`…
    static func cause(of failure: RetryPolicy.Failure, error: FetchError?) -> String {
        switch failure {
        case .status(let status): return "http_\(status)"
        case .action: return "response_action"
        case .transport, .permanent: return error?.code.description ?? "transport"
        }
    }

    /// What every attempt of one hop uses, worked out once per hop: its flow key, client, request and metrics.
    private struct Route {
        var key: String
        var client: HTTPClient
        var prepared: PreparedRequest
        var metrics: FetchMetrics.Host
    }

    private func route(_ request: FetchRequest, hop: Hop, origin: RequestTarget) -> Route {
        Route(
            key: self.configuration.flowKey(hop.target.host, hop.url),
            client: self.clients.client(scheme: hop.target.scheme, host: hop.target.host),
            prepared: self.prepare(request, hop: hop, sameOrigin: hop.target.sameOrigin(as: origin)),
            metrics: self.metrics.host(hop.target.host))
    }

    /// One hop of a request: the original, or where a redirect sent it.
    private struct Hop {
        var url: String
        var target: RequestTarget
        var method: String
        var body: [UInt8]?
    }

    /// The request as sent on every attempt: the fetcher's default headers, then auth, then the request's own.
    private struct PreparedRequest: Sendable {
        var url: String
        var method: HTTPMethod
        var headers: HTTPHeaders
        var body: ByteBuffer?
        var timeout: Duration
    }

    /// Headers that carry credentials; a redirect to another origin drops them.
    static let credentialHeaderNames: Set<String> = ["authorization", "proxy-authorization", "cookie"]

    private func prepare(_ request: FetchRequest, hop: Hop, sameOrigin: Bool) -> PreparedRequest {
        PreparedRequest(
            url: hop.url,
            method: HTTPMethod(rawValue: hop.method),
            // Most requests carry no headers of their own: they share the defaults built once.
            headers: request.headers.isEmpty && sameOrigin
                ? self.defaultHeaders : self.headers(for: request, hop: hop, sameOrigin: sameOrigin),
            body: hop.body.map { ByteBuffer(bytes: $0) },
            timeout: request.timeout ?? self.configuration.timeouts.request
        )
    }

    /// The fetcher's default headers, then auth (to the request's own origin only), then the request's own
    /// (without credentials on another origin, and without Content-Type once a redirect dropped the body).
    private func headers(for request: FetchRequest, hop: Hop, sameOrigin: Bool) -> HTTPHeaders {
        var headers = HTTPHeaders()
        for (name, value) in self.configuration.headers
        where !request.headers.contains(where: { $0.name.caseInsensitiveEquals(name) }) {
            headers.add(name: name, value: value)
        }
        if sameOrigin, let authorization = self.configuration.authorization,
            !request.headers.contains(where: { $0.name.caseInsensitiveEquals("Authorization") })
        {
            headers.add(name: "Authorization", value: authorization.headerValue)
        }
        for (name, value) in request.headers {
            if !sameOrigin {
                let lowered = name.lowercased()
                if Self.credentialHeaderNames.contains(lowered) || request.credentialHeaders.contains(lowered) {
                    continue
                }
            }
            if hop.body == nil, request.body != nil, name.caseInsensitiveEquals("Content-Type") { continue }
            headers.add(name: name, value: value)
        }
        return headers
    }

    /// ``attempt(_:client:savePath:)`` inside a client span (OpenTelemetry's HTTP conventions). The query string
    /// is left out of the span: it often carries keys.
    private func tracedAttempt(
        _ request: PreparedRequest, client: HTTPClient, savePath: String?, hop: Hop, number: Int
    ) async -> Result<FetchResponse, FetchError> {
        let path = hop.url.firstIndex(of: "?").map { String(hop.url[..<$0]) } ?? hop.url
        let attributes: SpanAttributes = [
            "http.request.method": .string(hop.method), "server.address": .string(hop.target.host),
            "server.port": .int64(Int64(hop.target.port)), "url.scheme": .string(hop.target.scheme),
            "url.full": .string(path), "http.request.resend_count": .int64(Int64(number - 1)),
        ]
        return await Traces.span(hop.method, ofKind: .client, attributes: attributes) { span in
            let outcome = await self.attempt(request, client: client, savePath: savePath)
            switch outcome {
            case .success(let response):
                span?.attributes["http.response.status_code"] = SpanAttribute.int64(Int64(response.status))
                span?.attributes["http.response.body.size"] = SpanAttribute.int64(Int64(response.bodyBytes))
                if response.status >= 400 { span?.setStatus(SpanStatus(code: .error)) }
            case .failure(let error):
                span?.attributes["error.type"] = SpanAttribute.string(error.code.description)
                span?.setStatus(SpanStatus(code: .error, message: error.message))
            }
            return outcome
        }
    }

    /// One attempt, bounded by the request timeout from the first byte sent to the last byte received.
    private func attempt(_ request: PreparedRequest, client: HTTPClient, savePath: String?) async
        -> Result<FetchResponse, FetchError>
    {
        let timeout = request.timeout
        do {
            guard let savePath else {
                return .success(try await self.collect(request, client: client))
            }
            let response = try await withTimeout(timeout) {
                try await self.stream(request, client: client, savePath: savePath)
            }
            return .success(response)
        } catch is TimeoutError {
            return .failure(
                FetchError(
                    .timeoutRequest,
                    "\(request.url) did not complete within the request timeout of \(timeout): raise --timeout, "
                        + "or check the server"
                )
            )
        } catch {
            return .failure(FetchError.classify(error, url: request.url, configuration: self.configuration))
        }
    }

    /// The in-memory path: AsyncHTTPClient's delegate API, whose deadline covers the whole request (connect, head
    /// and every body byte), with the body collected on the event loop: no task hop per body part.
    private func collect(_ request: PreparedRequest, client: HTTPClient) async throws -> FetchResponse {
        let deadline = NIODeadline.now() + TimeAmount(request.timeout)
        let ahcRequest = try HTTPClient.Request(
            url: request.url,
            method: request.method,
            headers: request.headers,
            body: request.body.map { .byteBuffer($0) }
        )
        let collector = BodyCollector(limit: self.configuration.maxBodyBytes, url: request.url)
        let task = client.execute(
            request: ahcRequest, delegate: collector, deadline: deadline, logger: self.clientLogger)
        return try await withTaskCancellationHandler {
            try await task.futureResult.get()
        } onCancel: {
            task.cancel()
        }
    }

    /// The streaming-to-file path: the async API (its deadline covers only the head, so the caller adds
    /// `withTimeout`), bytes written as they arrive.
    private func stream(_ request: PreparedRequest, client: HTTPClient, savePath: String) async throws
        -> FetchResponse
    {
        var streaming = HTTPClientRequest(url: request.url)
        streaming.method = request.method
        streaming.headers = request.headers
        streaming.body = request.body.map { .bytes($0) }
        let deadline = NIODeadline.now() + TimeAmount(request.timeout)
        let response = try await client.execute(streaming, deadline: deadline, logger: self.clientLogger)
        let maxBody = self.configuration.maxBodyBytes
        if let declared = response.headers.first(name: "content-length").flatMap(Int.init), declared > maxBody,
            response.headers.first(name: "content-encoding") == nil
        {
            throw FetchError.bodyTooLarge(url: request.url, limit: maxBody, declared: declared)
        }
        let code = Int(response.status.code)
        let followed =
            Self.redirectStatuses.contains(code) && self.configuration.maxRedirects > 0
            && response.headers.first(name: "location") != nil
        if code >= 400 || followed {
            // An error body (or a redirect's) is not the data asked for: keep it in the record (capped), write no
            // file.
            var body = ByteBuffer()
            for try await chunk in response.body {
                guard body.readableBytes + chunk.readableBytes <= maxBody else {
                    throw FetchError.bodyTooLarge(url: request.url, limit: maxBody, declared: nil)
                }
                body.writeImmutableBuffer(chunk)
            }
            return FetchResponse(
                status: Int(response.status.code),
                version: response.version,
                headers: response.headers,
                body: body,
                bodyBytes: body.readableBytes,
                savedPath: nil
            )
        }
        let mediaType = response.headers.first(name: "content-type")
            .map { String($0.split(separator: ";").first ?? "").trimmingCharacters(in: " \t").lowercased() }
        let path = savePath + BodyFile.fileExtension(mediaType: mediaType)
        let received = try await BodyFile.write(response.body, to: path, limit: maxBody, url: request.url)
        return FetchResponse(
            status: Int(response.status.code),
            version: response.version,
            headers: response.headers,
            body: ByteBuffer(),
            bodyBytes: received,
            savedPath: path
        )
    }
}

extension TimeAmount {
    init(_ duration: Duration) {
        self = .nanoseconds(duration.nanosecondsClamped)
    }
}
