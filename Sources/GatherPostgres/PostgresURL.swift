import GatherCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A PostgreSQL connection URL: `postgres://user[:password]@host[:port]/database?sslmode=…` (also
/// `postgresql://`), as libpq and psql read it.
///
/// - The password comes from the URL, else `PGPASSWORD`, else the first matching line of `~/.pgpass` (or the
///   file `PGPASSFILE` names; `host:port:database:user:password`, `*` matches anything, `\:` and `\\` escape).
///   It is never part of ``description``: printed URLs show `***` in its place.
/// - `sslmode`: `disable`, `allow`/`prefer` (TLS when the server offers it; the default, as in libpq),
///   `require`, `verify-ca`/`verify-full` (TLS with the certificate checked). `host` may be a Unix socket
///   directory (`?host=/var/run/postgresql`).
/// - Percent-escapes are decoded in the user, password, database and host.
public struct PostgresURL: Sendable, Hashable, CustomStringConvertible {
    public enum TLSMode: String, Sendable, Hashable {
        case disable, prefer, require, verifyFull
    }

    public var user: String
    public var password: String?
    public var host: String
    public var port: Int
    public var database: String
    public var tls: TLSMode
    /// A Unix socket directory (`?host=/path`), instead of TCP.
    public var socketDirectory: String?

    /// Parses `text`, and finds the password where libpq would.
    /// - Throws: ``PostgresError`` naming what is wrong (never echoing a password).
    public init(_ text: String, environment: [String: String] = PostgresURL.processEnvironment()) throws(PostgresError)
    {
        let lower = text.lowercased()
        guard let scheme = ["postgres://", "postgresql://"].first(where: { lower.hasPrefix($0) }) else {
            throw PostgresError("a PostgreSQL URL starts with postgres:// (postgres://user@host:5432/database)")
        }
        var rest = Substring(text.dropFirst(scheme.count))
        var query = ""
        if let mark = rest.firstIndex(of: "?") {
            query = String(rest[rest.index(after: mark)...])
            rest = rest[..<mark]
        }
        var authority = rest
        var path = ""
        if let slash = rest.firstIndex(of: "/") {
            authority = rest[..<slash]
            path = String(rest[rest.index(after: slash)...])
        }
        var user: String?
        var password: String?
        if let at = authority.lastIndex(of: "@") {
            let credentials = authority[..<at]
            authority = authority[authority.index(after: at)...]
            if let colon = credentials.firstIndex(of: ":") {
                user = Self.decode(credentials[..<colon])
                password = Self.decode(credentials[credentials.index(after: colon)...])
            } else {
                user = Self.decode(credentials)
            }
        }
        var host = String(authority)
        var port = 5432
        if let colon = authority.lastIndex(of: ":"), !authority.hasSuffix("]") {
            host = String(authority[..<colon])
            guard let number = Int(authority[authority.index(after: colon)...]), (1...65535).contains(number) else {
                throw PostgresError("the port in the PostgreSQL URL is not a number from 1 to 65535")
            }
            port = number
        }
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        host = Self.decode(Substring(host))
        var tls = TLSMode.prefer
        var socket: String?
        for pair in query.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1)
            let key = String(parts[0])
            let value = parts.count > 1 ? Self.decode(parts[1]) : ""
            switch key {
            case "sslmode":
                switch value {
                case "disable": tls = .disable
                case "allow", "prefer": tls = .prefer
                case "require": tls = .require
                case "verify-ca", "verify-full": tls = .verifyFull
                default:
                    throw PostgresError(
                        "sslmode=\(value) is not known; use disable, prefer, require, verify-ca or verify-full")
                }
            case "host": if value.hasPrefix("/") { socket = value } else { host = value }
            case "user": user = value
            case "password": password = value
            case "port":
                guard let number = Int(value) else { throw PostgresError("port=\(value) is not a number") }
                port = number
            case "application_name", "connect_timeout", "options": break
            default:
                throw PostgresError(
                    "the URL parameter '\(key)' is not supported; Gather reads sslmode, host, port, user and password")
            }
        }
        self.user = user ?? environment["PGUSER"] ?? environment["USER"] ?? "postgres"
        self.host = host.isEmpty ? (environment["PGHOST"] ?? "127.0.0.1") : host
        self.port = port
        self.database = path.isEmpty ? self.user : Self.decode(Substring(path))
        self.tls = tls
        self.socketDirectory = socket
        self.password =
            password ?? environment["PGPASSWORD"]
            ?? Self.passwordFile(environment).flatMap {
                Self.lookup(pgpass: $0, host: socket ?? self.host, port: port, database: self.database, user: self.user)
            }
    }

    /// The URL without its password (`postgres://user:***@host:port/database`): safe to print or store.
    public var description: String {
        let secret = self.password == nil ? "" : ":***"
        var text = "postgres://\(self.user)\(secret)@\(self.host):\(self.port)/\(self.database)"
        if self.tls != .prefer { text += "?sslmode=\(self.tls == .verifyFull ? "verify-full" : self.tls.rawValue)" }
        return text
    }

    /// The same server, another database.
    public func with(database: String) -> PostgresURL {
        var copy = self
        copy.database = database
        return copy
    }

    /// `true` when `text` looks like a PostgreSQL URL.
    public static func matches(_ text: String) -> Bool {
        let lower = text.lowercased()
        return lower.hasPrefix("postgres://") || lower.hasPrefix("postgresql://")
    }

    /// The process environment.
    public static func processEnvironment() -> [String: String] { ProcessEnvironment.all() }

    /// The text of the password file (`PGPASSFILE` or `~/.pgpass`), if it can be read.
    private static func passwordFile(_ environment: [String: String]) -> String? {
        guard let path = environment["PGPASSFILE"] ?? environment["HOME"].map({ $0 + "/.pgpass" }) else { return nil }
        guard let file = fopen(path, "r") else { return nil }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = fread(&buffer, 1, buffer.count, file)
            if n <= 0 { break }
            bytes.append(contentsOf: buffer[0..<n])
            if bytes.count > 1 << 20 { break }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The password of the first `.pgpass` line matching host, port, database and user (`*` matches anything).
    static func lookup(pgpass: String, host: String, port: Int, database: String, user: String) -> String? {
        for line in pgpass.split(whereSeparator: { $0 == "\n" || $0 == "\r\n" }) where !line.hasPrefix("#") {
            var fields: [String] = []
            var current = ""
            var escaped = false
            for character in line {
                if escaped {
                    current.append(character)
                    escaped = false
                } else if character == "\\" {
                    escaped = true
                } else if character == ":" && fields.count < 4 {
                    fields.append(current)
                    current = ""
                } else {
                    current.append(character)
                }
            }
            fields.append(current)
            guard fields.count == 5 else { continue }
            let wanted = [host, String(port), database, user]
            let hostMatches = fields[0] == "*" || fields[0] == host || (fields[0] == "localhost" && host == "127.0.0.1")
            if hostMatches, zip(fields[1...3], wanted[1...3]).allSatisfy({ $0 == "*" || $0 == $1 }) {
                return fields[4]
            }
        }
        return nil
    }

    /// Decodes `%XX` escapes.
    private static func decode(_ text: Substring) -> String {
        guard text.contains("%") else { return String(text) }
        var bytes: [UInt8] = []
        var utf8 = text.utf8[...]
        while let byte = utf8.popFirst() {
            if byte == UInt8(ascii: "%"), utf8.count >= 2,
                let value = UInt8(String(decoding: utf8.prefix(2), as: UTF8.self), radix: 16)
            {
                bytes.append(value)
                utf8 = utf8.dropFirst(2)
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// A PostgreSQL failure: what failed, the server's reason, and what to do. Never contains a password.
public struct PostgresError: Error, Sendable, CustomStringConvertible {
    public var message: String
    /// The error it stands for was transient (``isTransient(_:)``): the same work may succeed once the server
    /// is back.
    public var transient: Bool
    public init(_ message: String, transient: Bool = false) {
        self.message = message
        self.transient = transient
    }
    public var description: String { self.message }
}
