public import GatherCore
import GatherFormats
public import GatherHTTP
import Synchronization

/// One unit of work for `gather fetch`: a request built from one input line, or the reason the line could
/// not become one (it still produces an output record, so nothing is dropped silently).
public struct FetchItem: Sendable {
    /// The 1-based input line.
    public var line: Int
    /// The caller's identifier for the item (`id` of a JSONL request, or the template value).
    public var id: Value?
    /// The request to send, when the line was usable.
    public var request: FetchRequest?
    /// Why the line could not be used, naming the line and what to write instead.
    public var inputError: String?
    /// The URL as far as it is known (for the error record of an unusable line).
    public var url: String
}

extension FetchItem {
    /// The error item of an input line over the 16 MiB cap.
    static func tooLong(line: Int, length: Int, path: String) -> FetchItem {
        FetchItem(
            line: line,
            inputError:
                "\(path):\(line): the line is \(length) bytes long, over the 16 MiB cap; split it or fix the input",
            url: "")
    }
}

/// How input lines become requests.
public enum FetchInputFormat: Sendable {
    /// One URL per line, or a JSON object `{id, url, method, headers, body}` per line (told apart by `{`).
    /// Empty lines and lines starting with `#` are skipped.
    case lines
    /// Each line is a value substituted into the template's `{name}` placeholders (percent-encoded); a line
    /// that is a JSON object fills placeholders by key.
    case template(String)
}

/// The input of `gather fetch` as an `AsyncSequence` of ``FetchItem``, pulled one line at a time.
public struct FetchInput: AsyncSequence, Sendable {
    public typealias Element = FetchItem
    let path: String
    let format: FetchInputFormat
    let method: String
    let body: [UInt8]?
    let stop: StopSignal
    /// Lines already done (a resumed run): read past, not yielded.
    var skip = LineSet()

    /// Reads `path` (`-` for standard input) in `format`; `method` and `body` apply to plain URL lines.
    public init(path: String, format: FetchInputFormat, method: String = "GET", body: [UInt8]? = nil, stop: StopSignal)
    {
        self.path = path
        self.format = format
        self.method = method
        self.body = body
        self.stop = stop
    }

    public func makeAsyncIterator() -> Iterator {
        let stop = self.stop
        return Iterator(input: self, reader: Result { try LineReader(path: self.path, stop: stop) })
    }

    public struct Iterator: AsyncIteratorProtocol {
        let input: FetchInput
        let reader: Result<LineReader, any Error>

        public mutating func next() async throws -> FetchItem? {
            let reader = try self.reader.get()
            while !self.input.stop.isStopped, !Task.isCancelled {
                guard let line = try await reader.next() else { return nil }
                switch line {
                case .tooLong(let number, let length):
                    return FetchItem.tooLong(line: number, length: length, path: reader.path)
                case .tooLong(let number, _) where self.input.skip.contains(number):
                    continue
                case .text(let number, _) where self.input.skip.contains(number):
                    continue
                case .text(let number, let bytes):
                    if let item = self.input.item(line: number, bytes: bytes, path: reader.path) { return item }
                }
            }
            return nil
        }
    }

    /// Turns one line into an item; `nil` for lines that are skipped (blank, `#` comments).
    func item(line: Int, bytes: [UInt8], path: String) -> FetchItem? {
        guard let text = String(validating: bytes, as: UTF8.self) else {
            let offset = Self.firstInvalidUTF8(bytes)
            return FetchItem(
                line: line,
                inputError: "\(path):\(line):\(offset + 1): invalid UTF-8 at byte \(offset); save the input as UTF-8",
                url: String(decoding: bytes, as: UTF8.self)
            )
        }
        let trimmed = text.trimmingWhitespace()
        if trimmed.isEmpty || trimmed.hasPrefix("#") { return nil }
        switch self.format {
        case .lines:
            if trimmed.hasPrefix("{") { return self.jsonRequest(line: line, text: trimmed, path: path) }
            return FetchItem(
                line: line,
                request: FetchRequest(url: trimmed, method: self.method, body: self.body),
                url: trimmed
            )
        case .template(let template):
            return self.templated(template, line: line, text: trimmed, path: path)
        }
    }

    private func jsonRequest(line: Int, text: String, path: String) -> FetchItem {
        let value: Value
        do {
            value = try JSONReader.parse(text)
        } catch {
            return FetchItem(
                line: line,
                inputError: "\(path):\(line):\(error.column): \(error.message) (a request line must be a JSON object "
                    + "like {\"id\": 1, \"url\": \"https://…\"})",
                url: text
            )
        }
        guard case .object(let object) = value, case .string(let url)? = object["url"] else {
            return FetchItem(
                line: line,
                inputError: "\(path):\(line): a request object needs a \"url\" string, "
                    + "like {\"id\": 1, \"url\": \"https://…\"}",
                url: text
            )
        }
        var request = FetchRequest(url: url, method: object["method"]?.stringValue ?? self.method, body: self.body)
        if case .object(let headers)? = object["headers"] {
            for (name, value) in headers {
                request.headers.append((name, value.stringValue ?? JSONWriter.string(value)))
            }
        }
        switch object["body"] {
        case nil, .null?: break
        case .string(let body)?: request.body = Array(body.utf8)
        case let body?:
            var bytes: [UInt8] = []
            JSONWriter.write(body, into: &bytes)
            request.body = bytes
            if !request.headers.contains(where: { $0.name.lowercased() == "content-type" }) {
                request.headers.append(("Content-Type", "application/json"))
            }
        }
        return FetchItem(line: line, id: object["id"], request: request, url: url)
    }

    private func templated(_ template: String, line: Int, text: String, path: String) -> FetchItem {
        var fields: Record?
        if text.hasPrefix("{"), case .object(let object)? = try? JSONReader.parse(text) { fields = object }
        var url = ""
        var rest = Substring(template)
        while let open = rest.firstIndex(of: "{") {
            url += rest[..<open]
            guard let close = rest[open...].firstIndex(of: "}") else {
                rest = rest[open...]
                break
            }
            let name = String(rest[rest.index(after: open)..<close])
            let value: String
            if let fields {
                guard let field = fields[name] else {
                    return FetchItem(
                        line: line,
                        inputError: "\(path):\(line): no field \"\(name)\" for the template placeholder {\(name)}",
                        url: template
                    )
                }
                value = field.stringValue ?? JSONWriter.string(field)
            } else {
                value = text
            }
            url += Self.percentEncode(value)
            rest = rest[rest.index(after: close)...]
        }
        url += rest
        let id: Value = fields.map { $0["id"] ?? .object($0) } ?? .string(text)
        return FetchItem(
            line: line,
            id: id,
            request: FetchRequest(url: url, method: self.method, body: self.body),
            url: url
        )
    }

    /// Percent-encodes everything but RFC 3986 unreserved characters, so a value stays one path segment.
    static func percentEncode(_ value: String) -> String {
        URLEncoding.component(value)
    }

    /// The byte offset of the first invalid UTF-8 sequence in `bytes` (or `bytes.count` if there is none).
    static func firstInvalidUTF8(_ bytes: [UInt8]) -> Int {
        var iterator = bytes.makeIterator()
        var decoder = UTF8()
        var offset = 0
        while true {
            switch decoder.decode(&iterator) {
            case .scalarValue(let scalar): offset += UTF8.width(scalar)
            case .emptyInput: return offset
            case .error: return offset
            }
        }
    }
}

/// A set of input line numbers as a bitmap: one bit per line up to the largest, so the lines a resumed fetch of
/// a million-line input has done take 125 KB.
public struct LineSet: Sendable, Hashable {
    private var words: [UInt64] = []
    /// How many lines are in the set.
    public private(set) var count = 0

    public init() {}

    public func contains(_ line: Int) -> Bool {
        let word = line >> 6
        return line >= 0 && word < self.words.count && self.words[word] & (1 << UInt64(line & 63)) != 0
    }

    public mutating func insert(_ line: Int) {
        guard line >= 0 else { return }
        let word = line >> 6
        if word >= self.words.count { self.words += [UInt64](repeating: 0, count: word - self.words.count + 1) }
        let bit: UInt64 = 1 << UInt64(line & 63)
        if self.words[word] & bit == 0 {
            self.words[word] |= bit
            self.count += 1
        }
    }
}
