import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A minimal HTTP proxy on 127.0.0.1 that answers `CONNECT host:port` by tunnelling to a fixed local port
/// (whatever host was asked for), and records each CONNECT target: enough to prove a client goes through
/// a proxy, without any network beyond loopback.
///
/// Blocking sockets on threads of its own, so it never touches the test's cooperative pool.
public final class ConnectProxy: Sendable {
    /// The proxy's port.
    public let port: Int
    private let listener: Int32
    private let targets = TargetLog()

    /// Starts a proxy that tunnels every CONNECT to `127.0.0.1:forwardPort`.
    public init(forwardTo forwardPort: Int) throws {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = Self.loopback(port: 0)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard listener >= 0, bound == 0, listen(listener, 64) == 0 else {
            throw FixtureError(message: "the proxy could not listen")
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &length) }
        }
        self.port = Int(UInt16(bigEndian: address.sin_port))
        self.listener = listener
        let targets = self.targets
        Self.spawn {
            while true {
                let client = accept(listener, nil, nil)
                if client < 0 { return }  // the listener was closed
                Self.spawn { Self.serve(client, forwardPort: forwardPort, targets: targets) }
            }
        }
    }

    deinit {
        shutdown(self.listener, Int32(SHUT_RDWR))
        close(self.listener)
    }

    /// The `host:port` of every CONNECT received, in order.
    public var connectTargets: [String] { self.targets.entries.withLock { $0 } }

    private static func serve(_ client: Int32, forwardPort: Int, targets: TargetLog) {
        var head: [UInt8] = []
        var byte: UInt8 = 0
        while !head.ends(with: Array("\r\n\r\n".utf8)), head.count < 8192, read(client, &byte, 1) == 1 {
            head.append(byte)
        }
        let requestLine = String(decoding: head.prefix { $0 != UInt8(ascii: "\r") }, as: UTF8.self)
        let parts = requestLine.split(separator: " ")
        guard parts.count >= 2, parts[0] == "CONNECT" else {
            Self.send(client, "HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
            close(client)
            return
        }
        targets.entries.withLock { $0.append(String(parts[1])) }
        let upstream = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = Self.loopback(port: forwardPort)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(upstream, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else {
            Self.send(client, "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
            close(client)
            close(upstream)
            return
        }
        Self.send(client, "HTTP/1.1 200 Connection Established\r\n\r\n")
        Self.spawn { Self.pipe(from: upstream, to: client) }
        Self.pipe(from: client, to: upstream)
    }

    /// Copies bytes until either side closes, then closes both directions.
    private static func pipe(from source: Int32, to destination: Int32) {
        var buffer = [UInt8](repeating: 0, count: 16384)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(source, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            var offset = 0
            while offset < n {
                let written = buffer.withUnsafeBytes { write(destination, $0.baseAddress! + offset, n - offset) }
                if written <= 0 { break }
                offset += written
            }
        }
        shutdown(destination, Int32(SHUT_WR))
        shutdown(source, Int32(SHUT_RD))
    }

    private static func send(_ socket: Int32, _ text: String) {
        var bytes = Array(text.utf8)
        _ = bytes.withUnsafeMutableBytes { write(socket, $0.baseAddress, $0.count) }
    }

    private static func loopback(port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        return address
    }

    /// Runs `body` on a new detached POSIX thread.
    private static func spawn(_ body: @escaping @Sendable () -> Void) {
        final class Box: Sendable {
            let body: @Sendable () -> Void
            init(_ body: @escaping @Sendable () -> Void) { self.body = body }
        }
        let box = Unmanaged.passRetained(Box(body)).toOpaque()
        var thread = pthread_t()
        pthread_create(
            &thread, nil,
            { raw in
                let box = Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue()
                box.body()
                return nil
            }, box)
        pthread_detach(thread)
    }
}

/// The CONNECT targets seen, shared with the connection threads.
private final class TargetLog: Sendable {
    let entries = Mutex<[String]>([])
}

extension Array where Element == UInt8 {
    fileprivate func ends(with suffix: [UInt8]) -> Bool {
        self.count >= suffix.count && Array(self[(self.count - suffix.count)...]) == suffix
    }
}
