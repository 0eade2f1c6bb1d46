public import GatherCore
public import GatherFormats
public import GatherHTTP
import NIOCore

/// The outcome of one input item as `gather fetch` writes it: one JSON line, or one SQLite row.
///
/// ```json
/// {"line":1,"id":7,"url":"https://…/7","status":200,"elapsed_ms":12.3,"attempts":1,"data":{…}}
/// {"line":2,"url":"https://…/8","status":503,"elapsed_ms":2210.5,"attempts":4,"data":{…},
///  "error":{"code":"http_status","message":"HTTP 503 from https://…/8 (gave up after 4 attempts)"}}
/// ```
/// The body goes in `data` when it is JSON, in `text` when it is other UTF-8 text, in `body_base64` when it
/// is binary, and is named by `file` when it was saved to disk. `line` is the input line the item came from, so
/// records written in completion order can be joined back to the input.
public struct FetchRecord: Sendable {
    /// The stable code and message of a failed item.
    public struct Failure: Sendable, Hashable {
        /// The stable code (`timeout_read`, `http_status`, `invalid_json`, `input`, …).
        public var code: String
        /// What happened and what to do.
        public var message: String
    }

    /// The 1-based input line.
    public var line: Int
    /// The caller's identifier, if the input gave one.
    public var id: Value?
    /// The URL as given.
    public var url: String
    /// The last HTTP status, if a response arrived.
    public var status: Int?
    /// Time from first admission request to the end of the last attempt.
    public var elapsedMs: Double
    /// Of that, the time spent waiting for the host's slot, rate token or pause (written when 1 ms or more).
    public var waitedMs: Double
    /// Attempts made (0 when the input line was unusable).
    public var attempts: Int
    /// The JSON body as compact text: validated, insignificant whitespace removed, otherwise as the server sent
    /// it (numbers and string escapes unchanged, so nothing is rounded or re-encoded).
    public var dataJSON: [UInt8]?
    /// The body as text, when it is not JSON (or JSON that did not parse).
    public var text: String?
    /// The body as Base64, when it is neither JSON nor UTF-8 text.
    public var bodyBase64: String?
    /// The file the body was saved to.
    public var file: String?
    /// Why the item failed, if it did.
    public var failure: Failure?
    /// Body bytes received.
    public var bodyBytes: Int
    /// Retries by cause (`http_500`, `connection_reset`…).
    public var retryCauses: [String: Int] = [:]
    /// Redirects followed.
    public var redirects = 0
    /// A response action said `ignore`: no data, no error (written with `"ignored": true`).
    public var ignored = false
    /// A response action said `fail`: the run stops reading input after this item.
    public var stopsRun = false

    /// Builds the record of an item: from its fetch result, or from its input error.
    public init(item: FetchItem, result: FetchResult?, jsonConfiguration: JSONReader.Configuration = .init()) {
        self.line = item.line
        self.id = item.id
        self.url = item.request?.url ?? item.url
        self.attempts = result?.attempts ?? 0
        self.elapsedMs = ((result?.elapsed.milliseconds ?? 0) * 1000).rounded() / 1000
        self.waitedMs = ((result?.waited.milliseconds ?? 0) * 1000).rounded() / 1000
        self.bodyBytes = result?.response?.bodyBytes ?? 0
        self.file = result?.savedPath
        self.retryCauses = result?.retryCauses ?? [:]
        self.redirects = result?.redirects ?? 0
        self.ignored = result?.ignored ?? false
        self.stopsRun = result?.stopsResource ?? false
        guard let result else {
            self.failure = Failure(code: "input", message: item.inputError ?? "unusable input line \(item.line)")
            return
        }
        if let error = result.error { self.failure = Failure(code: error.code.description, message: error.message) }
        guard let response = result.response else { return }
        self.status = response.status
        guard result.savedPath == nil, response.body.readableBytes > 0 else { return }
        self.decodeBody(response, jsonConfiguration: jsonConfiguration)
    }

    private mutating func decodeBody(_ response: FetchResponse, jsonConfiguration: JSONReader.Configuration) {
        let body = response.body
        let looksJSON =
            response.isJSON
            || (response.mediaType == nil
                && body.readableBytesView.first(where: { $0 != 0x20 && $0 != 0x0A && $0 != 0x0D && $0 != 0x09 })
                    .map { $0 == UInt8(ascii: "{") || $0 == UInt8(ascii: "[") } ?? false)
        if looksJSON {
            let compact: Result<[UInt8], JSONError> = body.withUnsafeReadableBytes { bytes in
                var output: [UInt8] = []
                output.reserveCapacity(bytes.count)
                do throws(JSONError) {
                    try JSONReader.minify(bytes, into: &output, configuration: jsonConfiguration)
                    return .success(output)
                } catch {
                    return .failure(error)
                }
            }
            switch compact {
            case .success(let json):
                self.dataJSON = json
                return
            case .failure(let error):
                if self.failure == nil {
                    self.failure = Failure(
                        code: "invalid_json",
                        message: "the body of \(self.url) is declared JSON but does not parse: \(error.message) "
                            + "at line \(error.line), column \(error.column) (byte \(error.offset)); "
                            + "the raw body is in \"text\""
                    )
                }
            }
        }
        let bytes = Array(body.readableBytesView)
        if let text = String(validating: bytes, as: UTF8.self) {
            self.text = text
        } else {
            self.bodyBase64 = Base64.encode(bytes)
        }
    }

    /// True when the item did not end with a usable response.
    public var failed: Bool { self.failure != nil }

    /// The parsed JSON body, if it was JSON.
    public var data: Value? {
        self.dataJSON.flatMap { try? JSONReader.parse($0) }
    }

    /// The record as a JSON object, fields in the documented order.
    public var value: Value {
        var record = Record()
        if let id = self.id { record.append("id", id) }
        record.append("url", .string(self.url))
        record.append("status", self.status.map { .int(Int64($0)) } ?? .null)
        record.append("elapsed_ms", .double(self.elapsedMs))
        if self.waitedMs >= 1 { record.append("waited_ms", .double(self.waitedMs)) }
        record.append("attempts", .int(Int64(self.attempts)))
        if self.ignored { record.append("ignored", .bool(true)) }
        if let data = self.data { record.append("data", data) }
        if let text = self.text { record.append("text", .string(text)) }
        if let base64 = self.bodyBase64 { record.append("body_base64", .string(base64)) }
        if let file = self.file { record.append("file", .string(file)) }
        if let failure = self.failure {
            record.append(
                "error", .object(Record([("code", .string(failure.code)), ("message", .string(failure.message))])))
        }
        return .object(record)
    }

    /// Appends the record as one JSON line (with its `\n`): the same object as ``value``, with the body's JSON
    /// copied in as text rather than parsed and written again.
    public func writeJSONLine(into buffer: inout [UInt8]) {
        func key(_ name: StaticString, first: Bool = false) {
            if !first { buffer.append(UInt8(ascii: ",")) }
            buffer.append(UInt8(ascii: "\""))
            name.withUTF8Buffer { buffer.append(contentsOf: $0) }
            buffer.append(contentsOf: [UInt8(ascii: "\""), UInt8(ascii: ":")])
        }
        // One allocation for the whole line instead of a doubling per power of two.
        buffer.reserveCapacity(
            buffer.count + 128 + self.url.utf8.count + (self.dataJSON?.count ?? 0) + (self.text?.utf8.count ?? 0)
                + (self.bodyBase64?.utf8.count ?? 0) + (self.file?.utf8.count ?? 0)
                + (self.failure.map { $0.code.utf8.count + $0.message.utf8.count } ?? 0))
        buffer.append(UInt8(ascii: "{"))
        key("line", first: true)
        JSONWriter.write(.int(Int64(self.line)), into: &buffer)
        if let id = self.id {
            key("id")
            JSONWriter.write(id, into: &buffer)
        }
        key("url")
        JSONWriter.writeString(self.url, into: &buffer)
        key("status")
        JSONWriter.write(self.status.map { .int(Int64($0)) } ?? .null, into: &buffer)
        key("elapsed_ms")
        JSONWriter.write(.double(self.elapsedMs), into: &buffer)
        if self.waitedMs >= 1 {
            key("waited_ms")
            JSONWriter.write(.double(self.waitedMs), into: &buffer)
        }
        key("attempts")
        JSONWriter.write(.int(Int64(self.attempts)), into: &buffer)
        if self.ignored {
            key("ignored")
            buffer.append(contentsOf: "true".utf8)
        }
        if let json = self.dataJSON {
            key("data")
            buffer.append(contentsOf: json)
        }
        if let text = self.text {
            key("text")
            JSONWriter.writeString(text, into: &buffer)
        }
        if let base64 = self.bodyBase64 {
            key("body_base64")
            JSONWriter.writeString(base64, into: &buffer)
        }
        if let file = self.file {
            key("file")
            JSONWriter.writeString(file, into: &buffer)
        }
        if let failure = self.failure {
            key("error")
            buffer.append(UInt8(ascii: "{"))
            key("code", first: true)
            JSONWriter.writeString(failure.code, into: &buffer)
            key("message")
            JSONWriter.writeString(failure.message, into: &buffer)
            buffer.append(UInt8(ascii: "}"))
        }
        buffer.append(contentsOf: [UInt8(ascii: "}"), UInt8(ascii: "\n")])
    }
}
