import GatherCore
import GatherExpressions
import Synchronization

extension SampleAPI {
    /// What the sample API serves and how it misbehaves. Everything is deterministic.
    public struct Configuration: Sendable {
        /// Items `1...itemCount`.
        public var itemCount: Int
        /// Repositories `1...repoCount`.
        public var repoCount: Int
        /// How many contributors repository `id` has (see ``defaultContributorCount(repo:)``).
        public var contributorsPerRepo: @Sendable (Int) -> Int
        /// The page size when a request names none.
        public var pageSize: Int
        /// Added to every data request (every `GET` outside `/admin`), inside the in-flight count.
        public var latency: Duration
        /// When `N`, the first request to every page URL whose FNV-1a hash is a multiple of `N` gets a 503 with
        /// `Retry-After: 0`; repeats of that URL succeed. `nil`: never.
        public var transientFailureEvery: Int?
        /// The status of those injected failures: 503 (JSON, `Retry-After: 0`), or 500 (an HTML error page, as a
        /// web framework's, without `Retry-After`), or any other.
        public var transientFailureStatus = 503
        /// How long an OAuth2 token from `/oauth/token` stays valid.
        public var tokenLifetime: Duration
        /// The token `/auth/bearer/items` accepts.
        public var bearerToken: String
        /// The user `/auth/basic/items` accepts.
        public var basicUser: String
        /// The password `/auth/basic/items` accepts.
        public var basicPassword: String
        /// The key `/auth/apikey/items` accepts.
        public var apiKey: String
        /// The OAuth2 client id `/oauth/token` accepts.
        public var clientID: String
        /// The OAuth2 client secret `/oauth/token` accepts.
        public var clientSecret: String

        /// Creates a configuration; the defaults are what `gather demo` uses.
        public init(
            itemCount: Int = 250,
            repoCount: Int = 12,
            contributorsPerRepo: @escaping @Sendable (Int) -> Int = Configuration.defaultContributorCount(repo:),
            pageSize: Int = 25,
            latency: Duration = .zero,
            transientFailureEvery: Int? = nil,
            tokenLifetime: Duration = .seconds(60),
            bearerToken: String = "demo-token",
            basicUser: String = "demo",
            basicPassword: String = "s3cret-pass",
            apiKey: String = "k-123456",
            clientID: String = "gather-client",
            clientSecret: String = "client-s3cret"
        ) {
            self.itemCount = max(0, itemCount)
            self.repoCount = max(0, repoCount)
            self.contributorsPerRepo = contributorsPerRepo
            self.pageSize = max(1, pageSize)
            self.latency = latency
            self.transientFailureEvery = transientFailureEvery.map { max(1, $0) }
            self.tokenLifetime = tokenLifetime
            self.bearerToken = bearerToken
            self.basicUser = basicUser
            self.basicPassword = basicPassword
            self.apiKey = apiKey
            self.clientID = clientID
            self.clientSecret = clientSecret
        }

        /// The default contributor count: `(id * 7) % 31`, except that every sixth repository has none
        /// (so with 12 repos: 7, 14, 21, 28, 4, 0, 18, 25, 1, 8, 15, 0).
        @Sendable public static func defaultContributorCount(repo id: Int) -> Int {
            id % 6 == 0 ? 0 : (id * 7) % 31
        }
    }
}

/// `YYYY-MM-DDTHH:MM:SSZ` timestamps as seconds since 1970, without Foundation.
enum SampleTime {
    /// 2024-01-01T00:00:00Z.
    static let base = 1_704_067_200

    static func format(_ epoch: Int) -> String {
        ExpressionContext.timestamp(secondsSince1970: Int64(epoch))
    }

    /// Parses `YYYY-MM-DD`, `YYYY-MM-DDTHH:MM:SS` with optional fraction (ignored) and `Z` or `±HH:MM`
    /// (no zone: UTC). Returns whole seconds, rounded down.
    static func parse(_ text: String) -> Int? {
        let b = Array(text.utf8)
        func number(_ start: Int, _ count: Int) -> Int? {
            guard start + count <= b.count else { return nil }
            var n = 0
            for c in b[start..<start + count] {
                guard c >= 48, c <= 57 else { return nil }
                n = n * 10 + Int(c - 48)
            }
            return n
        }
        func byte(_ i: Int) -> UInt8? { i < b.count ? b[i] : nil }
        guard let year = number(0, 4), byte(4) == UInt8(ascii: "-"), let month = number(5, 2),
            byte(7) == UInt8(ascii: "-"), let day = number(8, 2), (1...12).contains(month), (1...31).contains(day)
        else { return nil }
        var epoch = days(year: year, month: month, day: day) * 86_400
        if b.count == 10 { return epoch }
        guard let t = byte(10), t == UInt8(ascii: "T") || t == UInt8(ascii: "t") || t == UInt8(ascii: " "),
            let hour = number(11, 2), byte(13) == UInt8(ascii: ":"), let minute = number(14, 2),
            byte(16) == UInt8(ascii: ":"), let second = number(17, 2), hour < 24, minute < 60, second < 61
        else { return nil }
        epoch += hour * 3600 + minute * 60 + second
        var i = 19
        if byte(i) == UInt8(ascii: ".") {
            i += 1
            while let c = byte(i), c >= 48, c <= 57 { i += 1 }
        }
        guard let zone = byte(i) else { return epoch }
        if zone == UInt8(ascii: "Z") || zone == UInt8(ascii: "z") {
            return i + 1 == b.count ? epoch : nil
        }
        // "+" may arrive as a space when a query string was form-decoded.
        guard zone == UInt8(ascii: "+") || zone == UInt8(ascii: "-") || zone == UInt8(ascii: " "),
            let hours = number(i + 1, 2)
        else { return nil }
        let minutesAt = byte(i + 3) == UInt8(ascii: ":") ? i + 4 : i + 3
        guard let minutes = number(minutesAt, 2), minutesAt + 2 == b.count else { return nil }
        let offset = hours * 3600 + minutes * 60
        return zone == UInt8(ascii: "-") ? epoch + offset : epoch - offset
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
    private static func days(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }
}

/// The records the sample API serves, built on demand from their ids.
enum SampleData {
    static let categories = ["tools", "books", "garden", "toys"]
    static let orgs = ["org-a", "org-b"]
    static let orderCount = 30
    private static let names = ["Ada", "Grace", "Linus", "Barbara", "Alan", "Edsger", "Margaret"]
    private static let cities = ["Lisbon", "Oslo", "Kyoto", "Quito", "Accra"]

    static func initialItemStamp(_ id: Int) -> Int { SampleTime.base + id * 60 }

    static func item(_ i: Int, updatedAt: Int) -> Value {
        [
            "id": .int(Int64(i)),
            "name": .string("item-\(i)"),
            "category": .string(categories[i % 4]),
            "price": .double(Double(i % 97) + 0.5),
            "in_stock": .bool(i % 3 != 0),
            "tags": [.string("t\(i % 5)"), .string("t\(i % 7)")],
            "dimensions": ["w": .int(Int64(i % 10)), "h": .int(Int64(i % 13))],
            "updated_at": .string(SampleTime.format(updatedAt)),
        ]
    }

    static func repoOrg(_ r: Int) -> String { r % 2 == 0 ? "org-a" : "org-b" }

    static func repoStamp(_ r: Int) -> Int { SampleTime.base + r * 3600 }

    static func repo(_ r: Int) -> Value {
        [
            "id": .int(Int64(r)),
            "name": .string("repo-\(r)"),
            "full_name": .string("\(repoOrg(r))/repo-\(r)"),
            "org": .string(repoOrg(r)),
            "stars": .int(Int64(r * 11 % 50)),
            "updated_at": .string(SampleTime.format(repoStamp(r))),
        ]
    }

    static func contributor(repo r: Int, _ k: Int) -> Value {
        ["login": .string("user-\(k)"), "contributions": .int(Int64((r * k * 13) % 40)), "repo": .int(Int64(r))]
    }

    static func order(_ n: Int) -> Value {
        let lines: [Value] = (1...(1 + n % 3)).map { k in
            [
                "sku": .string("sku-\(n)-\(k)"),
                "qty": .int(Int64(k + n % 4)),
                "price": .double(Double((n * k) % 50) + 0.25),
            ]
        }
        return [
            "id": .int(Int64(n)),
            "customer": [
                "name": .string("\(names[n % names.count]) \(n)"),
                "address": ["city": .string(cities[n % cities.count]), "zip": .string("\(10_000 + n)")],
            ],
            "lines": .array(lines),
            "notes": ["a", "b"],
        ]
    }

    static func hostile() -> [Value] {
        (1...3).map { (i: Int) -> Value in
            let suffix = i == 1 ? "" : "-\(i)"
            let fields: [(String, Value)] = [
                ("id", .int(Int64(i))),
                ("\"; DROP TABLE x; --", .string("boom" + suffix)),
                ("Name With Spaces", .string("a" + suffix)),
                ("name with spaces", .string("b" + suffix)),
                ("ünïcødé", .int(Int64(i))),
                ("", .int(Int64(i + 1))),
                ("nested", .object(["a": .object(["b": .int(Int64(i))])])),
            ]
            return .object(Record(fields))
        }
    }
}

/// The sample API's mutable state: item timestamps, OAuth2 tokens, and which URLs already failed once.
final class SampleStore: Sendable {
    private struct State {
        var itemStamps: [Int]
        var tokens: [String: ContinuousClock.Instant] = [:]
        var tokenCounter = 0
        var failedURLs: Set<String> = []
        var baseURL = ""
    }

    let configuration: SampleAPI.Configuration
    private let state: Mutex<State>

    init(configuration: SampleAPI.Configuration) {
        self.configuration = configuration
        let stamps = (0..<configuration.itemCount).map { SampleData.initialItemStamp($0 + 1) }
        self.state = Mutex(State(itemStamps: stamps))
    }

    var baseURL: String {
        get { self.state.withLock { $0.baseURL } }
        set { self.state.withLock { $0.baseURL = newValue } }
    }

    /// `(id, updated_at)` of every item, by id.
    func itemStamps() -> [(id: Int, updatedAt: Int)] {
        self.state.withLock { state in
            state.itemStamps.enumerated().map { (id: $0.offset + 1, updatedAt: $0.element) }
        }
    }

    /// Gives the existing `ids` (sorted, deduplicated) new timestamps, a minute apart and later than every item's.
    func touch(ids: [Int]) -> [Int] {
        self.state.withLock { state in
            let touched = Set(ids).filter { $0 >= 1 && $0 <= state.itemStamps.count }.sorted()
            var latest = state.itemStamps.max() ?? SampleTime.base
            for id in touched {
                latest += 60
                state.itemStamps[id - 1] = latest
            }
            return touched
        }
    }

    /// `count` ids spread evenly over the items: `step, 2·step, …` with `step = itemCount / count`.
    func spreadIDs(count: Int) -> [Int] {
        let n = min(max(0, count), self.configuration.itemCount)
        guard n > 0 else { return [] }
        let step = self.configuration.itemCount / n
        return (1...n).map { $0 * step }
    }

    func issueToken() -> String {
        let expiry = ContinuousClock.now.advanced(by: self.configuration.tokenLifetime)
        return self.state.withLock { state in
            state.tokenCounter += 1
            let token = "tok-\(state.tokenCounter)"
            state.tokens[token] = expiry
            return token
        }
    }

    func isValid(token: String) -> Bool {
        let now = ContinuousClock.now
        return self.state.withLock { state in state.tokens[token].map { now < $0 } ?? false }
    }

    @discardableResult
    func revokeTokens() -> Int {
        self.state.withLock { state in
            defer { state.tokens.removeAll() }
            return state.tokens.count
        }
    }

    /// Whether this request for `url` (path and query) should get an injected 503: the first one for a URL whose
    /// hash is a multiple of `transientFailureEvery`.
    func shouldFail(url: String) -> Bool {
        guard let every = self.configuration.transientFailureEvery, Self.isFailing(url: url, every: every) else {
            return false
        }
        return self.state.withLock { $0.failedURLs.insert(url).inserted }
    }

    static func isFailing(url: String, every: Int) -> Bool {
        fnv1a(url) % UInt64(every) == 0
    }

    /// 64-bit FNV-1a of the UTF-8 bytes.
    static func fnv1a(_ text: String) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        return hash
    }
}
