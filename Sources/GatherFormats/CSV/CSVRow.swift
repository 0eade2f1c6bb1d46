import GatherCore

/// Where one field lies in the parser's buffer.
///
/// `flags & CSVFieldSpan.decode == 0`: the bytes `start..<end` are the field's value (an unquoted
/// field, or the inside of a quoted field without doubled quotes). Otherwise `start..<end` is the
/// raw text from the opening quote on, to be decoded (doubled quotes, text after a closing quote).
@usableFromInline
struct CSVFieldSpan {
    @usableFromInline var start: Int
    @usableFromInline var end: Int
    @usableFromInline var flags: UInt8

    @inlinable
    init(start: Int, end: Int, flags: UInt8) {
        self.start = start
        self.end = end
        self.flags = flags
    }

    @usableFromInline static let decode: UInt8 = 1
}

/// The parser's buffer of field spans for the current record (grown by doubling, never shrunk).
final class CSVSpanStorage {
    private(set) var pointer: UnsafeMutablePointer<CSVFieldSpan>
    private(set) var capacity: Int

    init(capacity: Int) {
        self.pointer = .allocate(capacity: capacity)
        self.capacity = capacity
    }

    deinit {
        pointer.deallocate()
    }

    /// A copy holding the first `count` spans (for copy-on-write).
    func copy(count: Int) -> CSVSpanStorage {
        let copy = CSVSpanStorage(capacity: capacity)
        copy.pointer.initialize(from: pointer, count: count)
        return copy
    }

    func grow(keeping count: Int) {
        let larger = UnsafeMutablePointer<CSVFieldSpan>.allocate(capacity: capacity * 2)
        larger.initialize(from: pointer, count: count)
        pointer.deallocate()
        pointer = larger
        capacity *= 2
    }
}

/// A cursor over ``CSVSpanStorage`` kept in local variables while scanning, so that appending a
/// span is a store and an increment.
struct CSVSpanList {
    struct LimitExceeded: Error {}

    /// Kept alive by the parser's `spanStorage` while the list is in use.
    unowned(unsafe) let storage: CSVSpanStorage
    var pointer: UnsafeMutablePointer<CSVFieldSpan>
    var capacity: Int
    var count: Int
    let limit: Int

    init(storage: CSVSpanStorage, count: Int, limit: Int) {
        self.storage = storage
        self.pointer = storage.pointer
        self.capacity = storage.capacity
        self.count = count
        self.limit = limit
    }

    @inline(__always)
    mutating func append(_ start: Int, _ end: Int, _ flags: UInt8) throws(LimitExceeded) {
        if count == capacity {
            guard count < limit else { throw LimitExceeded() }
            storage.grow(keeping: count)
            pointer = storage.pointer
            capacity = storage.capacity
        }
        pointer[count] = CSVFieldSpan(start: start, end: end, flags: flags)
        count &+= 1
    }
}

/// A row's error, boxed so that rows without one carry a single null pointer.
@usableFromInline
final class CSVErrorBox: Sendable {
    @usableFromInline let error: CSVError

    init(_ error: CSVError) {
        self.error = error
    }
}

/// One record delivered by ``CSVParser/feed(_:isLast:emit:)``.
///
/// A row is a view into the parser's buffers: it is **valid only during the `emit` call** that
/// received it. Read the fields there (``CSVField/string``, ``CSVField/withUnsafeBytes(_:)``,
/// ``strings``) or copy them out; do not keep the row, its fields or their raw buffers.
///
/// ```swift
/// try parser.feed(chunk, isLast: false) { row in
///     if row.isHeader { columns = row.strings; return }
///     if let error = row.error { rejects.append(error); return }
///     let name = row[2].string
/// }
/// ```
public struct CSVRow: RandomAccessCollection {
    public typealias Index = Int
    public typealias Element = CSVField

    @usableFromInline let base: UnsafePointer<UInt8>
    @usableFromInline let spans: UnsafeBufferPointer<CSVFieldSpan>
    @usableFromInline let quote: UInt8

    /// The number of fields. With ``CSVOptions/RaggedRowPolicy/pad`` this is the expected count.
    public let count: Int
    /// The 1-based physical line on which the record starts.
    public let line: Int
    /// The byte offset in the stream where the record starts (after a UTF-8 byte order mark).
    /// A parser created with `startOffset:` this offset and `startLine:` ``line`` resumes here.
    public let byteOffset: Int
    /// The record's length in bytes, its line end included.
    public let byteCount: Int
    /// `true` for the header record (the first record when ``CSVOptions/hasHeader`` is on).
    public let isHeader: Bool
    @usableFromInline let errorBox: CSVErrorBox?

    init(
        base: UnsafePointer<UInt8>,
        spans: UnsafeBufferPointer<CSVFieldSpan>,
        quote: UInt8,
        count: Int,
        line: Int,
        byteOffset: Int,
        byteCount: Int,
        isHeader: Bool,
        errorBox: CSVErrorBox?
    ) {
        self.base = base
        self.spans = spans
        self.quote = quote
        self.count = count
        self.line = line
        self.byteOffset = byteOffset
        self.byteCount = byteCount
        self.isHeader = isHeader
        self.errorBox = errorBox
    }

    /// A problem with this record that did not stop parsing (ragged, invalid UTF-8, text after a
    /// closing quote); `nil` for a good row.
    @inlinable
    public var error: CSVError? { errorBox?.error }

    /// `true` when ``error`` is `nil` (cheaper than reading the error).
    @inlinable
    public var isValid: Bool { errorBox == nil }

    @inlinable public var startIndex: Int { 0 }
    @inlinable public var endIndex: Int { count }

    /// The number of fields the record had in the input (differs from ``count`` only when
    /// ``CSVOptions/RaggedRowPolicy/pad`` padded or cut it).
    @inlinable public var sourceFieldCount: Int { spans.count }

    /// The field at `index` (`0..<count`). A field padded by ``CSVOptions/RaggedRowPolicy/pad`` is
    /// ``CSVField/isMissing``.
    @inlinable
    public subscript(index: Int) -> CSVField {
        precondition(index >= 0 && index < count, "CSV field index out of range")
        if index < spans.count {
            return CSVField(base: base, span: spans[index], quote: quote)
        }
        return CSVField(base: base, span: CSVFieldSpan(start: 0, end: 0, flags: 0), quote: quote, isMissing: true)
    }

    /// Every field as a `String` (ill-formed UTF-8 repaired with U+FFFD; missing fields are `""`).
    public var strings: [String] {
        var result: [String] = []
        result.reserveCapacity(count)
        for index in 0..<count { result.append(self[index].string) }
        return result
    }

    /// Every field as a ``Value``: `.string`, or `.null` for a missing (padded) field.
    public var values: [Value] {
        var result: [Value] = []
        result.reserveCapacity(count)
        for index in 0..<count {
            let field = self[index]
            result.append(field.isMissing ? .null : .string(field.string))
        }
        return result
    }
}

/// One field of a ``CSVRow``; like the row, valid only during the `emit` call.
public struct CSVField {
    @usableFromInline let base: UnsafePointer<UInt8>
    @usableFromInline let span: CSVFieldSpan
    @usableFromInline let quote: UInt8
    /// `true` for a field that ``CSVOptions/RaggedRowPolicy/pad`` added to a short row.
    public let isMissing: Bool

    @inlinable
    init(base: UnsafePointer<UInt8>, span: CSVFieldSpan, quote: UInt8, isMissing: Bool = false) {
        self.base = base
        self.span = span
        self.quote = quote
        self.isMissing = isMissing
    }

    /// `true` when the raw bytes must be decoded (the field was quoted and held doubled quotes or
    /// text after the closing quote). When `false`, ``rawBytes`` is the value itself (zero-copy).
    @inlinable
    public var needsDecoding: Bool { span.flags & CSVFieldSpan.decode != 0 }

    /// The field's bytes in the input. When ``needsDecoding`` is `false` these are the value
    /// (without enclosing quotes); otherwise the raw text starting at the opening quote.
    @inlinable
    public var rawBytes: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: base + span.start, count: span.end - span.start)
    }

    /// `true` when the value is the empty string (or the field is missing).
    public var isEmpty: Bool {
        needsDecoding ? decodedCount == 0 : span.end == span.start
    }

    /// Calls `body` with the value's UTF-8 bytes: the input itself when no decoding is needed,
    /// else a temporary decoded copy. The buffer is valid only inside `body`.
    @inlinable
    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        if !needsDecoding { return try body(rawBytes) }
        let capacity = span.end - span.start
        return try withUnsafeTemporaryAllocation(of: UInt8.self, capacity: capacity) { buffer in
            let written = decode(into: buffer.baseAddress!)
            return try body(UnsafeRawBufferPointer(start: buffer.baseAddress, count: written))
        }
    }

    /// The value as a `String`; ill-formed UTF-8 becomes U+FFFD.
    @inlinable
    public var string: String {
        if !needsDecoding {
            return String(
                decoding: UnsafeBufferPointer(start: base + span.start, count: span.end - span.start), as: UTF8.self)
        }
        return decodedString()
    }

    /// The decoded value of a field that ``needsDecoding``.
    @usableFromInline
    func decodedString() -> String {
        String(unsafeUninitializedCapacity: span.end - span.start) { buffer in
            decode(into: buffer.baseAddress!)
        }
    }

    /// The value's UTF-8 bytes, copied.
    public var bytes: [UInt8] {
        withUnsafeBytes { Array($0) }
    }

    /// The decoded length without writing it.
    var decodedCount: Int {
        var count = 0
        walk { _ in count &+= 1 }
        return count
    }

    /// Writes the decoded value to `out` (which has room for the raw length) and returns its length.
    @usableFromInline
    func decode(into out: UnsafeMutablePointer<UInt8>) -> Int {
        var written = 0
        walk { byte in
            out[written] = byte
            written &+= 1
        }
        return written
    }

    /// Calls `body` for each byte of the decoded value of a raw field that starts with its
    /// opening quote: inside the quotes a doubled quote is one quote and a single quote closes
    /// them; after that every byte, quotes included, is literal (Python's `csv` semantics).
    @inline(__always)
    private func walk(_ body: (UInt8) -> Void) {
        var i = span.start &+ 1
        let end = span.end
        var quoted = true
        while i < end {
            let c = base[i]
            if quoted && c == quote {
                if i &+ 1 < end && base[i &+ 1] == quote {
                    body(c)
                    i &+= 2
                    continue
                }
                quoted = false
                i &+= 1
                continue
            }
            body(c)
            i &+= 1
        }
    }
}
