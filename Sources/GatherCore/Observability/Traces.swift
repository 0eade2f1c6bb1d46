import Synchronization
public import Tracing

/// Spans for requests, pages and commits, through swift-distributed-tracing.
///
/// Nothing is traced until a tracer is installed with ``install(_:)``: `gather … --otlp-endpoint URL` installs
/// swift-otel's OTLP exporter; an app that uses the library installs any `Tracer` it likes. Until then a span site
/// costs one relaxed atomic load, so the fetch hot path pays nothing for tracing it does not use.
///
/// ```swift
/// Traces.install(myTracer)
/// let rows = try await Traces.span("commit", attributes: ["gather.rows": 12]) { _ in try await sink.commit(batch) }
/// ```
public enum Traces {
    private static let installed = Atomic<Bool>(false)

    /// Whether spans are being made.
    public static var isOn: Bool { Self.installed.load(ordering: .relaxed) }

    /// Installs `tracer` as the process's tracer (`InstrumentationSystem.bootstrap`, so once per process) and
    /// starts making spans.
    public static func install(_ tracer: some Tracer) {
        InstrumentationSystem.bootstrap(tracer)
        Self.installed.store(true, ordering: .relaxed)
    }

    /// Runs `body` inside a span named `name` when tracing is on (the span is `nil` otherwise). A thrown error is
    /// recorded on the span and rethrown; the span ends when `body` returns.
    public static func span<T>(
        _ name: String,
        ofKind kind: SpanKind = .internal,
        attributes: SpanAttributes = [:],
        isolation: isolated (any Actor)? = #isolation,
        _ body: (_ span: (any Span)?) async throws -> T
    ) async rethrows -> T {
        guard Self.isOn else { return try await body(nil) }
        return try await withSpan(name, ofKind: kind, isolation: isolation) { span in
            if !attributes.isEmpty { span.attributes.merge(attributes) }
            return try await body(span)
        }
    }
}
