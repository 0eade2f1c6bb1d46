import Foundation
import Gather
import Logging
import OTel
import ServiceLifecycle

/// OpenTelemetry traces for `--otlp-endpoint`: swift-otel's OTLP/HTTP exporter installed as the tracer
/// (``Traces/install(_:)``), its batch processor running beside the command, and every span flushed before the
/// command returns.
enum TraceExport {
    /// Runs `body` with traces exported to `endpoint` (or where `OTEL_*` variables say, when
    /// `OTEL_TRACES_EXPORTER=otlp`); without either, runs `body` alone.
    static func withTracing<T: Sendable>(endpoint: String?, _ body: () async throws -> T) async throws -> T {
        let environment = ProcessInfo.processInfo.environment
        guard endpoint != nil || environment["OTEL_TRACES_EXPORTER"] == "otlp" else { return try await body() }
        var configuration = OTel.Configuration.default
        configuration.serviceName = "gather"
        configuration.resourceAttributes["service.version"] = GatherVersion.current
        configuration.logs.enabled = false
        configuration.metrics.enabled = false  // metrics are Prometheus's (--metrics)
        configuration.traces.enabled = true
        configuration.traces.exporter = .otlp
        if let endpoint {
            // The collector's base URL, as OTEL_EXPORTER_OTLP_ENDPOINT is; spans go to its /v1/traces.
            configuration.traces.otlpExporter.endpoint =
                endpoint.hasSuffix("/v1/traces")
                ? endpoint : (endpoint.hasSuffix("/") ? endpoint + "v1/traces" : endpoint + "/v1/traces")
        }
        configuration.diagnosticLogLevel = .warning  // export failures reach stderr; start-up chatter does not
        let (tracer, service) = try OTel.makeTracingBackend(configuration: configuration)
        Traces.install(tracer)
        var logger = Logger(label: "gather.otel")
        logger.logLevel = .warning
        let group = ServiceGroup(services: [service], gracefulShutdownSignals: [], logger: logger)
        return try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            let result: Result<T, any Error>
            do {
                result = .success(try await body())
            } catch {
                result = .failure(error)
            }
            // A graceful shutdown makes the batch processor export what it holds before the command exits.
            await group.triggerGracefulShutdown()
            try? await tasks.next()
            return try result.get()
        }
    }
}
