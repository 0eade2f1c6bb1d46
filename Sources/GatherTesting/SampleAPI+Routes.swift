import GatherCore
import Hummingbird
import NIOCore

extension SampleAPI {
    static let maxPageSize = 1000
    private static let linkHeader = HTTPFields.Element.Name("Link")!
    private static let nextCursorHeader = HTTPFields.Element.Name("X-Next-Cursor")!
    private static let apiKeyHeader = HTTPFields.Element.Name("X-API-Key")!

    /// A JSON response.
    static func json(_ value: Value, status: HTTPResponse.Status = .ok) -> Response {
        Response(
            status: status,
            headers: [.contentType: "application/json"],
            body: ResponseBody(byteBuffer: ByteBuffer(string: JSONWriter.string(value)))
        )
    }

    static func addRoutes(to router: Router<BasicRequestContext>, store: SampleStore, stats: SampleAPIStats) {
        // Items, one route per pagination style.
        router.get("/offset/items") { request, _ in try Self.offsetItems(request, store: store) }
        router.get("/pages/items") { request, _ in
            let items = try Self.items(request, store: store)
            let page = try Self.page(request, count: items.count, defaultSize: store.configuration.pageSize)
            return Self.json([
                "page": .int(Int64(page.number)),
                "total_pages": .int(Int64(page.total)),
                "data": .array(items[page.range].map(Self.item)),
            ])
        }
        router.get("/cursor/items") { request, _ in
            let items = try Self.items(request, store: store)
            let limit = try Self.intParameter(request, "limit", default: store.configuration.pageSize, min: 1)
            var after = 0
            if let cursor = request.uri.queryParameters.get("cursor"), !cursor.isEmpty {
                guard let id = Self.decodeCursor(cursor) else {
                    throw SampleAPIError(.badRequest, "cursor \"\(cursor)\" is not one this API issued")
                }
                after = id
            }
            let rest = items.drop { $0.id <= after }
            let data = rest.prefix(limit)
            let next = rest.count > data.count ? data.last.map { Self.encodeCursor($0.id) } : nil
            var response = Self.json([
                "data": .array(data.map(Self.item)),
                "meta": ["next_cursor": next.map(Value.string) ?? .null],
            ])
            if let next { response.headers[Self.nextCursorHeader] = next }
            return response
        }
        router.get("/jsonlink/items") { request, _ in
            let items = try Self.items(request, store: store)
            let page = try Self.page(request, count: items.count, defaultSize: store.configuration.pageSize)
            let next = page.number < page.total ? Self.url(request, store: store, page: page.number + 1) : nil
            return Self.json([
                "results": .array(items[page.range].map(Self.item)),
                "next": next.map(Value.string) ?? .null,
            ])
        }
        router.get("/link/items") { request, _ in
            let items = try Self.items(request, store: store)
            return try Self.linkPaged(request, store: store, items.map(Self.item))
        }

        // Repos and their contributors, GitHub style (bare arrays, `Link` headers).
        router.get("/repos") { request, _ in
            try Self.linkPaged(request, store: store, try Self.repos(request, store: store))
        }
        router.get("/orgs/:org/repos") { request, context in
            let org = context.parameters.get("org") ?? ""
            guard SampleData.orgs.contains(org) else {
                throw SampleAPIError(.notFound, "no organisation \"\(org)\"")
            }
            let repos = try Self.repos(request, store: store).filter { $0["org"]?.stringValue == org }
            return try Self.linkPaged(request, store: store, repos)
        }
        router.get("/repos/:id/contributors") { request, context in
            let id = context.parameters.get("id", as: Int.self) ?? 0
            guard id >= 1, id <= store.configuration.repoCount else {
                throw SampleAPIError(.notFound, "no repository \(context.parameters.get("id") ?? "")")
            }
            let count = store.configuration.contributorsPerRepo(id)
            let contributors = count > 0 ? (1...count).map { SampleData.contributor(repo: id, $0) } : []
            return try Self.linkPaged(request, store: store, contributors)
        }

        // Authentication.
        router.get("/auth/bearer/items") { request, _ in
            guard Self.bearerToken(request) == store.configuration.bearerToken else {
                return Self.unauthorized("invalid_token", challenge: "Bearer")
            }
            return try Self.offsetItems(request, store: store)
        }
        router.get("/auth/basic/items") { request, _ in
            guard let (user, password) = Self.basicCredentials(request),
                user == store.configuration.basicUser, password == store.configuration.basicPassword
            else {
                return Self.unauthorized("unauthorized", challenge: #"Basic realm="sample""#)
            }
            return try Self.offsetItems(request, store: store)
        }
        router.get("/auth/apikey/items") { request, _ in
            let key = request.headers[Self.apiKeyHeader] ?? request.uri.queryParameters.get("api_key")
            guard key == store.configuration.apiKey else {
                return Self.unauthorized("invalid_api_key", challenge: nil)
            }
            return try Self.offsetItems(request, store: store)
        }
        router.post("/oauth/token") { request, _ in
            let body = try await request.body.collect(upTo: 64 << 10)
            let form = Self.formFields(String(buffer: body))
            guard form["grant_type"] == "client_credentials" else {
                return Self.json(["error": "unsupported_grant_type"], status: .badRequest)
            }
            let basic = Self.basicCredentials(request)
            let client = basic?.0 ?? form["client_id"]
            let secret = basic?.1 ?? form["client_secret"]
            guard client == store.configuration.clientID, secret == store.configuration.clientSecret else {
                return Self.json(["error": "invalid_client"], status: .unauthorized)
            }
            let lifetime = store.configuration.tokenLifetime.components
            let seconds = lifetime.seconds + (lifetime.attoseconds > 0 ? 1 : 0)
            return Self.json([
                "access_token": .string(store.issueToken()),
                "token_type": "bearer",
                "expires_in": .int(seconds),
            ])
        }
        router.get("/oauth/items") { request, _ in
            guard let token = Self.bearerToken(request), store.isValid(token: token) else {
                return Self.unauthorized("invalid_token", challenge: #"Bearer error="invalid_token""#)
            }
            return try Self.offsetItems(request, store: store)
        }

        // Administration, for tests and the demo.
        router.post("/admin/revoke-tokens") { _, _ in
            Self.json(["revoked": .int(Int64(store.revokeTokens()))])
        }
        router.post("/admin/touch") { request, _ in
            let ids: [Int]
            if let list = request.uri.queryParameters.get("ids") {
                let parsed = list.split(separator: ",").map { Int($0.trimmingPrefix(" ")) }
                guard parsed.allSatisfy({ $0 != nil }) else {
                    throw SampleAPIError(.badRequest, "ids must be comma-separated integers")
                }
                ids = parsed.compactMap { $0 }
            } else {
                ids = store.spreadIDs(count: try Self.intParameter(request, "n", default: 1, min: 0))
            }
            return Self.json(["touched": .array(store.touch(ids: ids).map { .int(Int64($0)) })])
        }
        router.get("/admin/stats") { _, _ in
            let counts = stats.countsByPath().sorted { $0.key < $1.key }
            return Self.json([
                "requests": .object(Record(counts.map { ($0.key, Value.int(Int64($0.value))) })),
                "injected_failures": .int(Int64(stats.injectedFailures())),
                "max_in_flight": .int(Int64(stats.maxInFlight())),
            ])
        }

        // Awkward shapes.
        router.get("/hostile/items") { _, _ in Self.json(.array(SampleData.hostile())) }
        router.get("/nested/orders") { request, _ in
            let page = try Self.page(request, count: SampleData.orderCount, defaultSize: 10)
            return Self.json([
                "page": .int(Int64(page.number)),
                "total_pages": .int(Int64(page.total)),
                "data": .array(page.range.map { SampleData.order($0 + 1) }),
            ])
        }
    }

    // MARK: Helpers

    private typealias Stamp = (id: Int, updatedAt: Int)

    private static func item(_ stamp: Stamp) -> Value { SampleData.item(stamp.id, updatedAt: stamp.updatedAt) }

    private static func offsetItems(_ request: Request, store: SampleStore) throws -> Response {
        let items = try Self.items(request, store: store)
        let offset = try Self.intParameter(request, "offset", default: 0, min: 0)
        let limit = try Self.intParameter(request, "limit", default: store.configuration.pageSize, min: 1)
        return Self.json([
            "total": .int(Int64(items.count)),
            "offset": .int(Int64(offset)),
            "items": .array(items.dropFirst(offset).prefix(limit).map(Self.item)),
        ])
    }

    /// The `since` cutoff in epoch seconds (`Int.min` without one).
    private static func since(_ request: Request) throws -> Int {
        guard let text = request.uri.queryParameters.get("since"), !text.isEmpty else { return .min }
        guard let since = SampleTime.parse(text) else {
            throw SampleAPIError(.badRequest, "since \"\(text)\" is not a timestamp like 2024-01-01T00:00:00Z")
        }
        return since
    }

    /// The items `since` asks for, by id.
    private static func items(_ request: Request, store: SampleStore) throws -> [Stamp] {
        let since = try Self.since(request)
        return store.itemStamps().filter { $0.updatedAt > since }
    }

    /// The repos `since` asks for, by id.
    private static func repos(_ request: Request, store: SampleStore) throws -> [Value] {
        let since = try Self.since(request)
        guard store.configuration.repoCount > 0 else { return [] }
        return (1...store.configuration.repoCount).filter { SampleData.repoStamp($0) > since }.map(SampleData.repo)
    }

    private struct Page {
        var number: Int
        var size: Int
        var total: Int
        var range: Range<Int>
    }

    /// `page` (from 1) and `per_page` of `count` records.
    private static func page(_ request: Request, count: Int, defaultSize: Int) throws -> Page {
        let number = try Self.intParameter(request, "page", default: 1, min: 1)
        let size = try Self.intParameter(request, "per_page", default: defaultSize, min: 1)
        let start = min(count, (number - 1).multipliedReportingOverflow(by: size).partialValue)
        let end = min(count, start + size)
        return Page(number: number, size: size, total: (count + size - 1) / size, range: max(0, start)..<end)
    }

    /// A bare JSON array of one page, with a `Link` header naming the next and last pages while there are more.
    private static func linkPaged(_ request: Request, store: SampleStore, _ records: [Value]) throws -> Response {
        let page = try Self.page(request, count: records.count, defaultSize: store.configuration.pageSize)
        var response = Self.json(.array(Array(records[page.range])))
        if page.number < page.total {
            let next = Self.url(request, store: store, page: page.number + 1)
            let last = Self.url(request, store: store, page: page.total)
            response.headers[Self.linkHeader] = #"<\#(next)>; rel="next", <\#(last)>; rel="last""#
        }
        return response
    }

    /// The absolute URL of this request with `page` set, every other query parameter kept as sent.
    private static func url(_ request: Request, store: SampleStore, page: Int) -> String {
        let origin = request.head.authority.map { "http://\($0)" } ?? store.baseURL
        var parts = (request.uri.query ?? "").split(separator: "&").map(String.init)
        if let index = parts.firstIndex(where: { $0 == "page" || $0.hasPrefix("page=") }) {
            parts[index] = "page=\(page)"
        } else {
            parts.append("page=\(page)")
        }
        return origin + request.uri.path + "?" + parts.joined(separator: "&")
    }

    private static func intParameter(_ request: Request, _ name: String, default value: Int, min: Int) throws -> Int {
        guard let text = request.uri.queryParameters.get(name), !text.isEmpty else { return value }
        guard let number = Int(text), number >= min else {
            throw SampleAPIError(.badRequest, "\(name) must be an integer of at least \(min), not \"\(text)\"")
        }
        return name == "limit" || name == "per_page" ? Swift.min(number, Self.maxPageSize) : number
    }

    private static func unauthorized(_ error: String, challenge: String?) -> Response {
        var response = Self.json(["error": .string(error)], status: .unauthorized)
        if let challenge { response.headers[.wwwAuthenticate] = challenge }
        return response
    }

    /// The token of an `Authorization: Bearer …` header.
    private static func bearerToken(_ request: Request) -> String? {
        guard let header = request.headers[.authorization] else { return nil }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { return nil }
        return String(parts[1])
    }

    /// User and password of an `Authorization: Basic …` header.
    private static func basicCredentials(_ request: Request) -> (String, String)? {
        guard let header = request.headers[.authorization] else { return nil }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "basic", let bytes = base64Decode(parts[1]) else {
            return nil
        }
        let text = String(decoding: bytes, as: UTF8.self)
        guard let colon = text.firstIndex(of: ":") else { return nil }
        return (String(text[..<colon]), String(text[text.index(after: colon)...]))
    }

    /// Standard or URL-safe base64, padding optional.
    private static func base64Decode(_ text: Substring) -> [UInt8]? {
        var out: [UInt8] = []
        var buffer: UInt32 = 0
        var bits = 0
        for c in text.utf8 {
            let v: UInt8
            switch c {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): v = c - UInt8(ascii: "A")
            case UInt8(ascii: "a")...UInt8(ascii: "z"): v = c - UInt8(ascii: "a") + 26
            case UInt8(ascii: "0")...UInt8(ascii: "9"): v = c - UInt8(ascii: "0") + 52
            case UInt8(ascii: "+"), UInt8(ascii: "-"): v = 62
            case UInt8(ascii: "/"), UInt8(ascii: "_"): v = 63
            case UInt8(ascii: "="): continue
            default: return nil
            }
            buffer = (buffer << 6 | UInt32(v)) & 0xFFFF
            bits += 6
            if bits >= 8 {
                bits -= 8
                out.append(UInt8(truncatingIfNeeded: buffer >> UInt32(bits)))
            }
        }
        return out
    }

    /// The fields of an `application/x-www-form-urlencoded` body (the first of each name).
    private static func formFields(_ body: String) -> [String: String] {
        var fields: [String: String] = [:]
        for pair in body.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = Self.formDecode(parts[0])
            if fields[name] == nil { fields[name] = parts.count > 1 ? Self.formDecode(parts[1]) : "" }
        }
        return fields
    }

    /// Undoes form encoding: `+` is a space, `%XX` a byte.
    private static func formDecode(_ text: Substring) -> String {
        var bytes: [UInt8] = []
        let input = Array(text.utf8)
        var i = 0
        while i < input.count {
            let c = input[i]
            if c == UInt8(ascii: "+") {
                bytes.append(UInt8(ascii: " "))
            } else if c == UInt8(ascii: "%"), i + 2 < input.count,
                let high = Self.hexValue(input[i + 1]), let low = Self.hexValue(input[i + 2])
            {
                bytes.append(high << 4 | low)
                i += 2
            } else {
                bytes.append(c)
            }
            i += 1
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)

    /// An opaque cursor: the hex of `after:ID`.
    private static func encodeCursor(_ id: Int) -> String {
        var out: [UInt8] = []
        for byte in "after:\(id)".utf8 {
            out.append(hexDigits[Int(byte >> 4)])
            out.append(hexDigits[Int(byte & 0xF)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static func decodeCursor(_ cursor: String) -> Int? {
        let hex = Array(cursor.utf8)
        guard hex.count % 2 == 0 else { return nil }
        var bytes: [UInt8] = []
        var i = 0
        while i < hex.count {
            guard let high = hexDigits.firstIndex(of: hex[i]), let low = hexDigits.firstIndex(of: hex[i + 1]) else {
                return nil
            }
            bytes.append(UInt8(high << 4 | low))
            i += 2
        }
        let text = String(decoding: bytes, as: UTF8.self)
        guard text.hasPrefix("after:") else { return nil }
        return Int(text.dropFirst(6))
    }
}

/// A JSON error answer (`{"error": message}`) a handler throws.
struct SampleAPIError: HTTPResponseError {
    var status: HTTPResponse.Status
    var message: String

    init(_ status: HTTPResponse.Status, _ message: String) {
        self.status = status
        self.message = message
    }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        SampleAPI.json(["error": .string(self.message)], status: self.status)
    }
}
