import AsyncHTTPClient
import GatherCore
import NIOCore
import NIOHTTPCompression
import NIOPosix
import NIOSSL

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

extension FetchError {
    static func bodyTooLarge(url: String, limit: Int, declared: Int?) -> FetchError {
        let what = declared.map { "declares \($0) bytes" } ?? "passed \(limit) bytes"
        return FetchError(
            .bodyTooLarge,
            "the body of \(url) \(what), over the cap of \(limit) bytes: raise --max-body, or use --save-dir"
        )
    }

    /// How the retry policy sees this failure.
    var retryFailure: RetryPolicy.Failure? {
        switch self.code {
        case .connectionRefused, .connectionReset, .connectionClosed, .timeoutConnect, .timeoutRead, .timeoutRequest,
            .other:
            return .transport
        case .cancelled:
            return .permanent
        default:
            return .permanent
        }
    }

    /// Maps what AsyncHTTPClient and SwiftNIO throw to a stable code and a message that says what to do.
    static func classify(_ error: any Error, url: String, configuration: Fetcher.Configuration) -> FetchError {
        let timeouts = configuration.timeouts
        switch error {
        case let error as FetchError:
            return error
        case is CancellationError:
            return FetchError(.cancelled, "cancelled before \(url) finished")
        case let error as HTTPClientError:
            switch error {
            case .connectTimeout, .tlsHandshakeTimeout, .httpProxyHandshakeTimeout, .socksHandshakeTimeout:
                return FetchError(
                    .timeoutConnect,
                    "no connection to \(url) within the connect timeout of \(timeouts.connect): check that the "
                        + "host is up, or raise --connect-timeout"
                )
            case .readTimeout:
                return FetchError(
                    .timeoutRead,
                    "no data from \(url) for \(timeouts.read) (the idle read timeout): the server stalled; "
                        + "raise --read-timeout if it is just slow"
                )
            case .deadlineExceeded:
                return FetchError(
                    .timeoutRequest,
                    "\(url) did not complete within the request timeout of \(timeouts.request): raise --timeout"
                )
            case .remoteConnectionClosed:
                return FetchError(
                    .connectionClosed, "the server closed the connection before the response to \(url) was complete")
            case .cancelled:
                return FetchError(.cancelled, "cancelled before \(url) finished")
            case .redirectLimitReached, .redirectCycleDetected:
                return FetchError(
                    .tooManyRedirects,
                    "\(url) redirected more than \(configuration.maxRedirects) times or in a cycle: check the URL"
                )
            case .invalidURL, .emptyHost, .emptyScheme:
                return FetchError(.invalidURL, "\"\(url)\" is not a valid URL: write it as http://host/path")
            default:
                if String(describing: error).contains("unsupportedScheme") {
                    return FetchError(.invalidURL, "\"\(url)\" has a scheme other than http or https")
                }
                return FetchError(.other, "\(url): \(error)")
            }
        case let error as NIOConnectionError:
            if let first = error.connectionErrors.first?.error {
                return Self.classify(first, url: url, configuration: configuration)
            }
            return FetchError(
                .dns,
                "cannot resolve the host \(error.host) of \(url): check the spelling, or your DNS and network"
            )
        case let error as IOError:
            switch error.errnoCode {
            case ECONNREFUSED:
                return FetchError(
                    .connectionRefused, "connection refused by \(url): is the server running on that port?")
            case ECONNRESET, EPIPE:
                return FetchError(.connectionReset, "the connection to \(url) was reset by the peer")
            case ETIMEDOUT:
                return FetchError(.timeoutConnect, "connecting to \(url) timed out")
            default:
                return FetchError(.other, "\(url): \(error)")
            }
        case let error as NIOHTTPDecompression.DecompressionError:
            if error == .limit {
                return FetchError(
                    .bodyTooLarge,
                    "the decompressed body of \(url) passed the cap of \(configuration.maxBodyBytes) bytes "
                        + "(a decompression bomb?): raise --max-body if it is expected"
                )
            }
            return FetchError(.other, "\(url): the compressed body is corrupt (\(error))")
        case let error as NIOSSLError:
            return FetchError(
                .tls, "TLS with \(url) failed: \(error); check the certificate (or --insecure for testing)")
        case let error as BoringSSLError:
            return FetchError(
                .tls, "TLS with \(url) failed: \(error); check the certificate (or --insecure for testing)")
        case let error as ChannelError:
            switch error {
            case .connectTimeout:
                return FetchError(.timeoutConnect, "no connection to \(url) within \(timeouts.connect)")
            case .eof, .ioOnClosedChannel, .alreadyClosed, .outputClosed, .inputClosed:
                return FetchError(.connectionClosed, "the connection to \(url) closed early")
            default:
                return FetchError(.other, "\(url): \(error)")
            }
        default:
            let text = String(describing: error)
            if text.contains("NXDOMAIN") || text.contains("getaddrinfo") || text.contains("resolve") {
                return FetchError(.dns, "cannot resolve the host of \(url): \(text)")
            }
            return FetchError(.other, "\(url): \(text)")
        }
    }
}
