import CoreMetrics
import GatherCore
import Hummingbird
import NIOCore
import Prometheus
import Synchronization

/// `--metrics HOST:PORT`: Prometheus text at `GET /metrics` for as long as a command runs.
///
/// The libraries record through swift-metrics (`CoreMetrics`) and stay silent until a process bootstraps a
/// backend; the first call here bootstraps swift-prometheus's factory, once per process.
///
/// ```swift
/// try await MetricsEndpoint.serve(address: "127.0.0.1:9464") { url in print("metrics on \(url)") } body: {
///     try await job.run()
/// }
/// ```
public enum MetricsEndpoint {
    /// The process's registry; reading it bootstraps swift-metrics with it (once).
    static let registry: PrometheusCollectorRegistry = {
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        // Latencies from 1 ms to 1 minute; commits and service times fall in the same range.
        factory.defaultDurationHistogramBuckets = [
            .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(25),
            .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1),
            .milliseconds(2500), .seconds(5), .seconds(10), .seconds(30), .seconds(60),
        ]
        MetricsSystem.bootstrap(factory)
        return registry
    }()

    /// The metrics as Prometheus text (version 0.0.4), as `/metrics` serves them.
    public static func text() -> String {
        var bytes: [UInt8] = []
        Self.registry.emit(into: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Parses `HOST:PORT`, `:PORT` (all interfaces) or `PORT` (loopback).
    ///
    /// - Throws: ``ConfigurationError`` that says what to write.
    public static func parseAddress(_ text: String) throws -> (host: String, port: Int) {
        let help = "write the metrics address as HOST:PORT, like 127.0.0.1:9464 (port 0 picks a free one)"
        guard let colon = text.lastIndex(of: ":") else {
            guard let port = Int(text), (0...65535).contains(port) else {
                throw ConfigurationError("\"\(text)\" is not an address: \(help)")
            }
            return ("127.0.0.1", port)
        }
        var host = String(text[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port) else {
            throw ConfigurationError("\"\(text)\" has no valid port: \(help)")
        }
        return (host.isEmpty ? "0.0.0.0" : host, port)
    }

    /// Serves `/metrics` on `address` while `body` runs, and `linger` longer, so that a last scrape sees the
    /// final counts. `announce` gets the URL once the server listens.
    ///
    /// - Throws: ``ConfigurationError`` for a bad address, ``HTTPServerError`` when it cannot listen, or what
    ///   `body` throws.
    public static func serve<T: Sendable>(
        address: String, linger: Duration = .zero, announce: (String) -> Void, body: () async throws -> T
    ) async throws -> T {
        let (host, port) = try Self.parseAddress(address)
        _ = Self.registry
        let router = Router()
        router.get("/metrics") { _, _ -> Response in
            Response(
                status: .ok,
                headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: ResponseBody(byteBuffer: ByteBuffer(string: Self.text()))
            )
        }
        return try await HTTPServer.run(router: router, host: host, port: port, name: "metrics") { bound in
            let shown = host.contains(":") ? "[\(host)]" : host
            announce("http://\(shown):\(bound)/metrics")
            let result = try await body()
            if linger > .zero { try? await Task.sleep(for: linger) }
            return result
        }
    }
}
