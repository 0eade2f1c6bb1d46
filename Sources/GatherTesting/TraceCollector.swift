import GatherCore
import GatherFormats
import GatherServer
import Hummingbird
import Synchronization

/// An OpenTelemetry collector stand-in on `127.0.0.1:0`: `POST /v1/traces` in OTLP/JSON
/// (`OTEL_EXPORTER_OTLP_PROTOCOL=http/json`), every span kept for a test to assert on.
///
/// ```swift
/// try await TraceCollector.withCollector { collector in
///     // gather fetch … --otlp-endpoint collector.endpoint, with OTEL_EXPORTER_OTLP_PROTOCOL=http/json
///     #expect(collector.spans.filter { $0.name == "GET" }.count == 20)
/// }
/// ```
public struct TraceCollector: Sendable {
    /// One span as the collector received it.
    public struct Span: Sendable {
        public var name: String
        public var traceID: String
        public var spanID: String
        public var parentSpanID: String
        /// OTLP's `SpanKind` number (3 is client).
        public var kind: Int64
        /// Attribute values as strings, integers or booleans.
        public var attributes: [String: Value]
        /// OTLP's status code (2 is error; 0 or missing is unset).
        public var statusCode: Int64
    }

    /// The port the collector listens on.
    public let port: Int
    private let received: Received

    /// `http://127.0.0.1:PORT`, the base URL to give `--otlp-endpoint`.
    public var endpoint: String { "http://127.0.0.1:\(self.port)" }

    /// Every span received so far.
    public var spans: [Span] { self.received.spans.withLock { $0 } }

    /// Export requests that were not OTLP/JSON, with why.
    public var rejected: [String] { self.received.rejected.withLock { $0 } }

    /// Starts a collector, runs `body`, and stops the collector however `body` ends.
    public static func withCollector<T: Sendable>(_ body: (TraceCollector) async throws -> T) async throws -> T {
        let received = Received()
        let router = Router()
        router.post("/v1/traces") { request, _ -> Response in
            let buffer = try await request.body.collect(upTo: 64 << 20)
            received.add(Array(buffer: buffer))
            return Response(
                status: .ok, headers: [.contentType: "application/json"],
                body: ResponseBody(byteBuffer: ByteBuffer(string: "{}")))
        }
        return try await HTTPServer.run(router: router, name: "otlp") { port in
            try await body(TraceCollector(port: port, received: received))
        }
    }

    final class Received: Sendable {
        let spans = Mutex<[Span]>([])
        let rejected = Mutex<[String]>([])

        func add(_ bytes: [UInt8]) {
            let document: Value
            do {
                document = try JSONReader.parse(bytes)
            } catch {
                self.rejected.withLock { $0.append("not JSON (\(error)); set OTEL_EXPORTER_OTLP_PROTOCOL=http/json") }
                return
            }
            var found: [Span] = []
            for resource in document["resourceSpans"]?.arrayValue ?? [] {
                for scope in resource["scopeSpans"]?.arrayValue ?? [] {
                    for span in scope["spans"]?.arrayValue ?? [] { found.append(Self.span(span)) }
                }
            }
            self.spans.withLock { $0 += found }
        }

        private static func span(_ json: Value) -> Span {
            var attributes: [String: Value] = [:]
            for attribute in json["attributes"]?.arrayValue ?? [] {
                guard let key = attribute["key"]?.stringValue, let value = attribute["value"] else { continue }
                if let text = value["stringValue"]?.stringValue {
                    attributes[key] = .string(text)
                } else if let number = value["intValue"] {
                    // Protobuf's JSON mapping writes 64-bit integers as strings.
                    attributes[key] =
                        number.intValue.map(Value.int) ?? number.stringValue.flatMap(Int64.init).map(Value.int)
                } else if let flag = value["boolValue"] {
                    attributes[key] = flag
                } else {
                    attributes[key] = value
                }
            }
            return Span(
                name: json["name"]?.stringValue ?? "",
                traceID: json["traceId"]?.stringValue ?? "",
                spanID: json["spanId"]?.stringValue ?? "",
                parentSpanID: json["parentSpanId"]?.stringValue ?? "",
                kind: Self.enumeration(
                    json["kind"],
                    names: ["SPAN_KIND_UNSPECIFIED", "SPAN_KIND_INTERNAL", "SPAN_KIND_SERVER", "SPAN_KIND_CLIENT"]),
                attributes: attributes,
                statusCode: Self.enumeration(
                    json["status"]?["code"], names: ["STATUS_CODE_UNSET", "STATUS_CODE_OK", "STATUS_CODE_ERROR"]))
        }

        /// An enum field, which protobuf's JSON mapping may write as its number or its name.
        private static func enumeration(_ value: Value?, names: [String]) -> Int64 {
            if let number = value?.intValue { return number }
            if let name = value?.stringValue, let index = names.firstIndex(of: name) { return Int64(index) }
            return 0
        }
    }
}
