import ArgumentParser
import Gather
import GatherServer

/// The flags every long-running command shares for being watched from outside: a Prometheus endpoint while it
/// runs, and the summary as JSON when it ends (the same figures the summary on stderr shows).
struct ObservabilityOptions: ParsableArguments {
    @Option(
        name: .long,
        help: ArgumentHelp(
            "Serve Prometheus metrics at http://ADDRESS/metrics while this runs (e.g. 127.0.0.1:9464).",
            valueName: "HOST:PORT"))
    var metrics: String?

    @Option(
        name: .long,
        help: "With --metrics, keep serving this long after the work ends, so a last scrape sees the final counts.")
    var metricsLinger: String = "0s"

    @Option(name: .long, help: "Also write the summary as JSON to this file.")
    var summaryJson: String?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Send OpenTelemetry traces (a span per request, page and commit) to this OTLP/HTTP collector, e.g. "
                + "http://127.0.0.1:4318. OTEL_EXPORTER_OTLP_* variables apply (protocol, headers, timeout); "
                + "OTEL_TRACES_EXPORTER=otlp turns tracing on without this flag.",
            valueName: "URL"))
    var otlpEndpoint: String?

    func validate() throws {
        if let address = self.metrics {
            do {
                _ = try MetricsEndpoint.parseAddress(address)
            } catch {
                throw ValidationError("--metrics: \(error)")
            }
        }
        if let endpoint = self.otlpEndpoint, !(endpoint.hasPrefix("http://") || endpoint.hasPrefix("https://")) {
            throw ValidationError("--otlp-endpoint: '\(endpoint)' is not an http:// or https:// URL")
        }
        do {
            _ = try Duration(parsing: self.metricsLinger)
        } catch {
            throw ValidationError("--metrics-linger: \(error)")
        }
    }

    /// Runs `body` with the metrics endpoint up when `--metrics` was given (its URL goes to stderr), then writes
    /// `summary` of its result to `--summary-json` before the endpoint's linger, so a scrape after the file
    /// appears sees the same final figures.
    func run<T: Sendable>(_ body: () async throws -> T, summary: (T) -> Value) async throws -> T {
        try await TraceExport.withTracing(endpoint: self.otlpEndpoint) {
            try await self.serveMetrics(body, summary: summary)
        }
    }

    private func serveMetrics<T: Sendable>(_ body: () async throws -> T, summary: (T) -> Value) async throws -> T {
        guard let address = self.metrics else {
            let result = try await body()
            try self.writeSummary(summary(result))
            return result
        }
        let linger = (try? Duration(parsing: self.metricsLinger)) ?? .zero
        do {
            return try await MetricsEndpoint.serve(
                address: address, linger: linger, announce: { Terminal.error("gather: metrics on \($0)") }
            ) {
                let result = try await body()
                try self.writeSummary(summary(result))
                return result
            }
        } catch let error as HTTPServerError {
            throw JobError.usage("--metrics: \(error)")
        }
    }

    /// Writes `summary` to `--summary-json`, when given.
    private func writeSummary(_ summary: Value) throws {
        guard let path = self.summaryJson else { return }
        var bytes: [UInt8] = []
        JSONWriter.write(summary, into: &bytes)
        bytes.append(UInt8(ascii: "\n"))
        guard FileBytes.write(bytes, to: path) else {
            throw JobError.fatal("cannot write the summary to \(path)")
        }
    }
}
