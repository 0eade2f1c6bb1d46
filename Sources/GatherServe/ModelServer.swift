import GatherCore
import GatherFormats
import GatherProcess
import GatherServer
import Hummingbird
import HummingbirdCore
import NIOCore
import Synchronization

/// `gather serve`: a model's worker processes behind an HTTP API, with adaptive batching (``Batcher``),
/// deadlines, load shedding and self-healing workers (``ProcessPool``).
///
/// - `POST /predict`: one JSON record, or `{"instances": [...]}`; answers `{"predictions": [...]}` in the same
///   order (the KServe / TF-Serving v1 shape). The header `X-Request-Deadline-Ms` sets the request's budget.
/// - `POST /v2/models/{name}/infer`: the same records as KServe v2 tensors (``OpenInference``), with
///   `GET /v2/health/live`, `GET /v2/health/ready`, `GET /v2/models/{name}` and `GET /v2/models/{name}/ready`.
/// - `GET /healthz` (the server is up), `GET /readyz` (every worker is running and loaded), `GET /metrics`.
///
/// Statuses: 400 invalid JSON; 413 a body over `max_body`; 422 a record the model rejected (`errors` names each
/// instance's index, the other instances keep their predictions); 429 the queue is full (`Retry-After` in whole
/// seconds and `X-Retry-After-Ms`, from the measured drain rate); 503 the workers failed on the batch twice, or
/// the server is stopping; 504 the deadline cannot be met or has passed. A client that closes its connection while
/// its request waits has the request withdrawn before it reaches a worker (counted as status 499, as nginx does).
public struct ModelServer: Sendable {
    public let file: ModelFile

    public init(_ file: ModelFile) {
        self.file = file
    }

    /// Starts the workers (all loaded before the port opens), serves until `stop` is set, then stops accepting,
    /// lets in-flight requests finish within `grace`, stops the workers and returns the summary.
    ///
    /// - Throws: ``ProcessPoolError`` when the workers cannot start, ``HTTPServerError`` when the address is taken.
    public func run(
        stop: StopSignal, grace: Duration = .seconds(10), announce: @Sendable (String) -> Void
    ) async throws -> String {
        _ = MetricsEndpoint.text()  // bootstraps swift-prometheus for this process
        let metrics = ServeMetrics()
        let started = ContinuousClock.now
        let file = self.file
        try await ProcessPool.withPool(file.pool) { pool in
            let batcher = Batcher(configuration: file.batching, metrics: metrics)
            let clients = ClientWatch()
            let router = Self.router(file: file, batcher: batcher, pool: pool, metrics: metrics, clients: clients)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { await batcher.run(on: pool) }
                try await HTTPServer.run(
                    router: router,
                    server: .http1(
                        configuration: .init(
                            additionalChannelHandlers: [clients.handler()],
                            idleTimeout: .nanoseconds(file.readTimeout.nanosecondsClamped))),
                    host: file.host, port: file.port,
                    name: "serve", maxConnections: file.maxConnections, grace: grace
                ) { port in
                    let shown = file.host.contains(":") ? "[\(file.host)]" : file.host
                    announce("http://\(shown):\(port)")
                    await stop.wait()
                }
                // Every connection is closed: nothing more can arrive.
                batcher.stop()
                try await group.waitForAll()
            }
            metrics.restarts(total: pool.statistics.restarts)
        }
        return metrics.render(name: file.name, elapsed: started.duration(to: .now))
    }

    /// Starts the workers, sends the model file's `example` (or `{}`) through the batcher once, and returns the
    /// latency and the answer.
    public func check() async throws -> (latency: Duration, answer: String) {
        let file = self.file
        return try await ProcessPool.withPool(file.pool) { pool in
            let batcher = Batcher(configuration: file.batching, metrics: ServeMetrics())
            return try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { await batcher.run(on: pool) }
                let started = ContinuousClock.now
                let answer = await batcher.submit(
                    [file.example ?? .object([:])], bytes: 0, deadline: started + file.batching.deadline)
                let latency = started.duration(to: .now)
                batcher.stop()
                try await group.waitForAll()
                switch answer {
                case .answered(let outcomes, _):
                    switch outcomes.first {
                    case .result(let value)?: return (latency, JSONWriter.string(value))
                    case .error(let message)?, .lost(let message)?:
                        throw ProcessPoolError("the model rejected the example: \(message)")
                    case nil: throw ProcessPoolError("the model answered nothing")
                    }
                case .rejected(let rejection):
                    throw ProcessPoolError("the example was not served: \(rejection)")
                }
            }
        }
    }

    // MARK: - Routes

    static let deadlineHeader = HTTPFields.Element.Name("X-Request-Deadline-Ms")!
    static let retryAfterMillisecondsHeader = HTTPFields.Element.Name("X-Retry-After-Ms")!

    static func router(
        file: ModelFile, batcher: Batcher, pool: ProcessPool, metrics: ServeMetrics, clients: ClientWatch
    ) -> Router<ServeContext> {
        let router = Router(context: ServeContext.self)
        let ready = { @Sendable () -> Response in
            let running = pool.pids.count
            let ready = running == file.pool.workers
            return Self.json(
                ready ? .ok : .serviceUnavailable,
                Record([
                    ("status", .string(ready ? "ready" : "not ready")), ("workers", .int(Int64(running))),
                    ("expected", .int(Int64(file.pool.workers))),
                ]))
        }
        let answer = { @Sendable (request: Request, context: ServeContext, api: API) async -> Response in
            let response = await Self.predict(
                request, api: api, client: clients.client(on: context.channel), file: file, batcher: batcher)
            metrics.answered(status: Int(response.status.code))
            if response.status.code == 503 { metrics.restarts(total: pool.statistics.restarts) }
            return response
        }
        router.post("/predict") { request, context in await answer(request, context, .v1) }
        router.post("/v2/models/:name/infer") { request, context -> Response in
            guard context.parameters.get("name") == file.name else { return Self.unknownModel(context, file) }
            return await answer(request, context, .openInference)
        }
        router.get("/v2/models/:name") { _, context -> Response in
            guard context.parameters.get("name") == file.name else { return Self.unknownModel(context, file) }
            return Self.json(
                .ok, Record([("name", .string(file.name)), ("platform", .string("gather")), ("versions", .array([]))]))
        }
        router.get("/v2/models/:name/ready") { _, context -> Response in
            guard context.parameters.get("name") == file.name else { return Self.unknownModel(context, file) }
            return ready()
        }
        router.get("/v2/health/live") { _, _ in Self.json(.ok, ["live": .bool(true)]) }
        router.get("/v2/health/ready") { _, _ in ready() }
        router.get("/healthz") { _, _ in Self.json(.ok, ["status": "alive"]) }
        router.get("/readyz") { _, _ in ready() }
        router.get("/metrics") { _, _ -> Response in
            metrics.restarts(total: pool.statistics.restarts)
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: ResponseBody(byteBuffer: ByteBuffer(string: MetricsEndpoint.text())))
        }
        return router
    }

    static func unknownModel(_ context: ServeContext, _ file: ModelFile) -> Response {
        Self.error(
            .notFound,
            "no model named '\(context.parameters.get("name") ?? "")' here; this server serves '\(file.name)'")
    }

    /// The two request shapes: KServe/TF-Serving v1 (`/predict`) and the KServe v2 open inference protocol.
    enum API {
        case v1, openInference
    }

    /// Reads, checks, batches and answers one `/predict` or `/v2/models/{name}/infer` request.
    static func predict(
        _ request: Request, api: API, client: ClientWatch.Client?, file: ModelFile, batcher: Batcher
    ) async -> Response {
        let arrived = ContinuousClock.now
        var budget = file.batching.deadline
        if let text = request.headers[Self.deadlineHeader] {
            guard let milliseconds = Int(text), milliseconds > 0 else {
                return Self.error(.badRequest, "X-Request-Deadline-Ms must be a whole number of milliseconds, like 250")
            }
            budget = .milliseconds(milliseconds)
        }
        let deadline = arrived + budget
        let body: ByteBuffer
        do {
            body = try await request.body.collect(upTo: file.maxBody)
        } catch is NIOTooManyBytesError {
            return Self.error(
                .contentTooLarge, "the body is larger than max_body (\(file.maxBody) bytes); send fewer instances")
        } catch let error as HTTPError where error.status == .contentTooLarge {
            return Self.error(
                .contentTooLarge, "the body is larger than max_body (\(file.maxBody) bytes); send fewer instances")
        } catch {
            // A client that stopped sending (read_timeout closed it) or reset the connection.
            return Self.error(.badRequest, "the body could not be read: \(error)")
        }
        let bytes = Array(body.readableBytesView)
        let parsed: Value
        do {
            parsed = try JSONReader.parse(bytes)
        } catch {
            return Self.error(.badRequest, "the body is not valid JSON: \(error)")
        }
        let records: [Value]
        var requestID: Value?
        switch api {
        case .v1:
            if case .object(let object) = parsed, let instances = object["instances"] {
                guard case .array(let list) = instances, !list.isEmpty else {
                    return Self.error(.badRequest, "instances must be a non-empty list of records")
                }
                records = list
            } else {
                records = [parsed]
            }
        case .openInference:
            do {
                (records, requestID) = try OpenInference.records(from: parsed)
            } catch {
                return Self.error(.badRequest, error.message)
            }
        }
        switch await batcher.submit(records, bytes: bytes.count, deadline: deadline, client: client) {
        case .rejected(let rejection):
            return Self.rejected(rejection)
        case .answered(let outcomes, _):
            if ContinuousClock.now > deadline {
                batcher.metrics.answeredLate()
                return Self.error(.gatewayTimeout, "the model answered after the request's deadline of \(budget)")
            }
            var predictions: [Value] = []
            var errors: [Value] = []
            var lost: String?
            for (index, outcome) in outcomes.enumerated() {
                switch outcome {
                case .result(let value): predictions.append(value)
                case .error(let message):
                    predictions.append(.null)
                    errors.append(.object(Record([("index", .int(Int64(index))), ("error", .string(message))])))
                case .lost(let message):
                    lost = message
                }
            }
            if let lost {
                batcher.metrics.shed(.workers(""))
                return Self.error(.serviceUnavailable, "the workers failed on this batch twice: \(lost)")
            }
            guard errors.isEmpty else {
                return Self.json(
                    .unprocessableContent,
                    Record([
                        ("error", .string("the model rejected \(errors.count) of \(records.count) instances")),
                        ("errors", .array(errors)), ("predictions", .array(predictions)),
                    ]))
            }
            switch api {
            case .v1: return Self.json(.ok, Record([("predictions", .array(predictions))]))
            case .openInference:
                return Self.json(.ok, OpenInference.response(model: file.name, id: requestID, predictions: predictions))
            }
        }
    }

    static func rejected(_ rejection: Batcher.Rejection) -> Response {
        switch rejection {
        case .queueFull(let retryAfter):
            var response = Self.error(
                .tooManyRequests, "the queue is full; retry after \(Batcher.milliseconds(retryAfter)) ms")
            let seconds = max(1, Int((retryAfter.seconds).rounded(.up)))
            response.headers[.retryAfter] = String(seconds)
            response.headers[Self.retryAfterMillisecondsHeader] = String(Batcher.milliseconds(retryAfter))
            return response
        case .deadline(let reason):
            return Self.error(.gatewayTimeout, "the deadline cannot be met: \(reason)")
        case .workers(let reason):
            return Self.error(.serviceUnavailable, "the workers could not serve it: \(reason)")
        case .stopping:
            var response = Self.error(.serviceUnavailable, "the server is stopping")
            response.headers[.retryAfter] = "1"
            return response
        case .disconnected:
            // Nobody reads it: the status is for the metrics and the summary.
            return Self.error(.init(code: 499, reasonPhrase: "Client Closed Request"), "the client went away")
        }
    }

    static func error(_ status: HTTPResponse.Status, _ message: String) -> Response {
        Self.json(status, Record([("error", .string(message))]))
    }

    static func json(_ status: HTTPResponse.Status, _ record: Record) -> Response {
        var bytes: [UInt8] = []
        JSONWriter.write(.object(record), into: &bytes)
        return Response(
            status: status, headers: [.contentType: "application/json"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}

/// The request context of `gather serve`: Hummingbird's, plus the connection, so that a request can be withdrawn
/// when its client goes (``ClientWatch``).
struct ServeContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    let channel: any Channel

    init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.channel = source.channel
    }
}
