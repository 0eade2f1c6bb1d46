import CoreMetrics
import Synchronization

/// The fetcher's metrics through swift-metrics (silent until a process bootstraps a backend, as `--metrics` does):
///
/// | metric | labels | what |
/// |---|---|---|
/// | `gather_http_requests_total` | host, status_class (`2xx`…`5xx`, `error`) | every attempt, redirect hops included |
/// | `gather_http_retries_total` | host, cause (`http_500`, `connection_reset`, `response_action`…) | retries |
/// | `gather_http_rate_limit_waits_total` | host | attempts that waited for the host's limits (> 1 ms) |
/// | `gather_http_rate_limit_wait_seconds_total` | host | time spent waiting for admission |
/// | `gather_http_in_flight` | host | attempts on the wire now |
/// | `gather_http_request_duration_seconds` | host | one attempt, first byte sent to last byte received |
/// | `gather_http_response_bytes_total` | host | body bytes received (after decompression) |
///
/// Handles are made once per host (and cause) and cached: a request costs a lock and a dictionary lookup.
final class FetchMetrics: Sendable {
    struct Host: Sendable {
        /// By status class: index 1…5 for 1xx…5xx, 0 for a transport error.
        let requests: [Counter]
        let waits: Counter
        let waitSeconds: FloatingPointCounter
        let inFlight: Meter
        let duration: CoreMetrics.Timer
        let bytes: Counter

        init(_ host: String) {
            let dimensions = [("host", host)]
            self.requests = ["error", "1xx", "2xx", "3xx", "4xx", "5xx"].map { statusClass in
                Counter(
                    label: "gather_http_requests_total", dimensions: [("host", host), ("status_class", statusClass)])
            }
            self.waits = Counter(label: "gather_http_rate_limit_waits_total", dimensions: dimensions)
            self.waitSeconds = FloatingPointCounter(
                label: "gather_http_rate_limit_wait_seconds_total", dimensions: dimensions)
            self.inFlight = Meter(label: "gather_http_in_flight", dimensions: dimensions)
            self.duration = CoreMetrics.Timer(label: "gather_http_request_duration_seconds", dimensions: dimensions)
            self.bytes = Counter(label: "gather_http_response_bytes_total", dimensions: dimensions)
        }

        /// Records one finished attempt.
        func attempt(status: Int?, bytes: Int, duration: Duration) {
            let index = status.map { min(5, max(1, $0 / 100)) } ?? 0
            self.requests[index].increment()
            if bytes > 0 { self.bytes.increment(by: bytes) }
            self.duration.recordNanoseconds(duration.nanosecondsClamped)
        }

        /// Records the wait for a permit, when there was one.
        func admitted(after wait: Duration) {
            guard wait > .milliseconds(1) else { return }
            self.waits.increment()
            self.waitSeconds.increment(by: Double(wait.nanosecondsClamped) / 1e9)
        }
    }

    private let hosts = Mutex<[String: Host]>([:])
    private let retries = Mutex<[String: Counter]>([:])

    init() {}

    func host(_ name: String) -> Host {
        self.hosts.withLock { hosts in
            if let host = hosts[name] { return host }
            let host = Host(name)
            hosts[name] = host
            return host
        }
    }

    func retry(host: String, cause: String) {
        let counter = self.retries.withLock { counters in
            let key = host + "\u{0}" + cause
            if let counter = counters[key] { return counter }
            let counter = Counter(label: "gather_http_retries_total", dimensions: [("host", host), ("cause", cause)])
            counters[key] = counter
            return counter
        }
        counter.increment()
    }
}
