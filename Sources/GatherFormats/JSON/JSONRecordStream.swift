import GatherCore

/// A streaming splitter that finds the records of a large JSON document, fed in chunks, in bounded
/// memory: the elements of the top-level array, or of the array at a member path such as
/// `$.data.items`.
///
/// Feed chunks of any size; `emit` receives each record's raw bytes with the line, column and byte
/// offset where it starts. Records that lie within one chunk are passed without copying; only a
/// record that spans chunks is copied (at most ``maxRecordSize`` bytes). Parse each record with
/// ``RawRecord/parse(configuration:)``, which validates it with ``JSONReader`` and reports errors
/// at their position in the whole stream.
///
/// ```swift
/// var stream = try JSONRecordStream(path: "$.data.items")
/// while let chunk = try file.read(upToCount: 1 << 20) {
///     try chunk.withUnsafeBytes { bytes in
///         try stream.feed(bytes, isLast: false) { record in
///             try insert(record.parse())   // errors say "line 5120, column 7"
///         }
///     }
/// }
/// try stream.finish { record in try insert(record.parse()) }
/// ```
///
/// What is selected:
/// - **No path, or `$`:** the top-level value. An array's elements are the records; an object is
///   emitted as the single record. With `$[*]` the top-level value must be an array.
/// - **`$.a.b`, `$['a']["b"]`, `$.a.b[*]`:** the value reached by following object members from the
///   root, with the same rule: an array's elements are the records, an object is one record, and a
///   trailing `[*]` (or `.*`) requires an array. Other JSONPath forms (descendants, indexes, slices,
///   filters, a `[*]` before the end) are rejected by ``init(path:maxRecordSize:maxDepth:)``.
/// - If a member on the path occurs more than once in its object, the first occurrence is streamed
///   (a full parse with ``JSONPath`` would use the last; streaming cannot look ahead).
/// - Elements that are not objects are emitted too: the caller decides what to do with them.
///
/// What is checked: the structure around the records (brackets, braces, commas, colons, member
/// names, whitespace, nothing after the top-level value), bracket matching and nesting depth inside
/// records and skipped values, and that each value starts with a valid byte. The text of records and
/// scalars is not validated here: that happens when a record is parsed. Errors are
/// ``JSONError``s with line, column and byte offset; after one is thrown (by the stream or by
/// `emit`), the stream must not be used again.
///
/// Messages number records from 1; ``RawRecord/index`` counts from 0.
///
/// Positions: offsets count every byte of the stream, a UTF-8 byte order mark included (it is
/// skipped). Lines end at `\n` (so CRLF counts once); columns count bytes from the start of the line
/// (on line 1, from after the byte order mark).
public struct JSONRecordStream: Sendable {
    /// One record: its raw bytes and where it starts. Valid only during the `emit` call.
    public struct RawRecord {
        /// The record's bytes, from its first byte to its last (no surrounding whitespace). Only valid
        /// during the `emit` call: copy them (or parse them) to keep them.
        public let bytes: UnsafeRawBufferPointer
        /// The 0-based number of the record in the stream.
        public let index: Int
        /// The 0-based byte offset of the record's first byte in the stream.
        public let offset: Int
        /// The 1-based line of the record's first byte.
        public let line: Int
        /// The 1-based column (in bytes) of the record's first byte.
        public let column: Int

        /// Parses the record with ``JSONReader``; an error's position is that in the whole stream.
        ///
        /// ```swift
        /// try stream.feed(bytes, isLast: true) { record in
        ///     let value = try record.parse()   // throws e.g. "json.syntax at line 7, column 12 (byte 140): ..."
        /// }
        /// ```
        public func parse(configuration: JSONReader.Configuration = .init()) throws(JSONError) -> Value {
            do {
                return try JSONReader.parse(bytes, configuration: configuration)
            } catch {
                throw locate(error)
            }
        }

        /// Moves an error about ``bytes`` (as thrown by ``JSONReader``) to its position in the stream.
        public func locate(_ error: JSONError) -> JSONError {
            var moved = error
            moved.offset = offset + error.offset
            moved.line = line + error.line - 1
            if error.line == 1 {
                moved.column = column + error.column - 1
            }
            return moved
        }

        /// The record's bytes as text (for messages and debugging).
        public var text: String { String(decoding: bytes, as: UTF8.self) }
    }

    /// The path as given (`"$"` when none was).
    public let path: String
    /// The object members followed from the root to the selected value (empty for `$`).
    public let memberNames: [String]
    /// `true` when the path ends in `[*]`: the selected value must be an array (not an object).
    public let requiresArray: Bool
    /// The largest record, in bytes, that may be emitted.
    public let maxRecordSize: Int
    /// How deeply arrays and objects may nest inside a record or a skipped value.
    public let maxDepth: Int
    /// Records emitted so far.
    public private(set) var recordCount = 0
    /// Bytes fed so far.
    public private(set) var bytesFed = 0
    /// `true` once the last chunk has been fed.
    public private(set) var isFinished = false

    private enum State: UInt8 {
        /// At the start of the stream, possibly inside a byte order mark.
        case byteOrderMark
        /// Expecting the value at the current path level (the root, or a member on the path).
        case pathValue
        /// After `{` of an object on the path: a member name or `}`.
        case objectFirstKey
        /// After `,` in an object on the path: a member name.
        case objectKey
        /// Inside a member name of an object on the path.
        case key
        /// After `\` inside a member name.
        case keyEscape
        /// After a member name: `:`.
        case colon
        /// After `:` of a member that is not on the path: its value, to be skipped.
        case memberValue
        /// After a member's value in an object on the path: `,` or `}`.
        case objectNext
        /// After `[` of the selected array: a record or `]`.
        case arrayFirst
        /// After `,` in the selected array: a record.
        case arrayElement
        /// After a record: `,` or `]`.
        case arrayNext
        /// Inside an array or object (a record or a skipped value), outside strings.
        case nested
        /// Inside a string of a record or a skipped value.
        case string
        /// After `\` inside such a string.
        case stringEscape
        /// Inside a number or literal of a record or a skipped value.
        case scalar
        /// After the top-level value: only whitespace may follow.
        case end
    }

    private let nameBytes: [[UInt8]]
    private var state = State.byteOrderMark
    private var failed = false
    private var byteOrderMarkMatched = 0

    // Where we are on the path.
    /// Open objects on the path (0 at the root).
    private var level = 0
    /// `true` until the selected value is reached.
    private var searching = true
    /// `true` while the selected array is open.
    private var inArray = false
    /// Where the selected array (or the object being searched) starts, for messages.
    private var containerLine = 1
    private var containerColumn = 1

    // The member name being read in an object on the path (only while searching).
    private var keyStart = 0
    private var keyBytes: [UInt8] = []
    private var keyHasEscape = false
    private var keyTruncated = false
    private var keyMatched = false
    /// The first member names of the object being searched, for the "not found" message.
    private var keysSeen: [String] = []
    private var keysSeenCount = 0
    private static let maxKeyBytes = 1 << 16
    private static let maxKeysListed = 20

    // The value being scanned: a record, or a value that is skipped.
    private var valueIsRecord = false
    private var depth = 0
    /// One bit per open container, innermost lowest: 1 for an object, 0 for an array.
    private var kinds: UInt64 = 0
    /// The bits pushed out of ``kinds`` when nesting deeper than 64.
    private var deepKinds: [UInt8] = []
    /// Chunk index of the value's first byte, when it is in the current chunk.
    private var valueStart = 0
    private var valueOffset = 0
    private var valueLine = 1
    private var valueColumn = 1
    /// `true` when the record began in an earlier chunk: its bytes so far are in ``carry``.
    private var recordCarried = false
    private var carry: [UInt8] = []

    // Lines: counted lazily, up to the stream offset `countedTo`.
    private var chunkOffset = 0
    private var line = 1
    private var lineStart = 0
    private var countedTo = 0

    /// Creates a stream that selects the records at `path`.
    ///
    /// - Parameters:
    ///   - path: `nil` or `"$"` for the top-level value; otherwise a JSONPath made of member names
    ///     only (`$.data.items`, `$['data']['items']`), optionally ending in `[*]`.
    ///   - maxRecordSize: The largest record in bytes (default 64 MiB); a longer one throws
    ///     ``JSONError/Code/recordTooLarge``. This bounds the memory a record spanning chunks needs.
    ///   - maxDepth: How deeply arrays and objects may nest inside one record or skipped value
    ///     (default 512, as ``JSONReader/Configuration/maxDepth``).
    /// - Throws: ``JSONPathError`` when the path is not valid JSONPath, or uses a form that cannot be
    ///   streamed (the message names the form and suggests a streamable path).
    ///
    /// ```swift
    /// let stream = try JSONRecordStream(path: "$.results[*]")
    /// _ = try JSONRecordStream(path: "$..items")   // throws: descendant segments cannot be streamed
    /// ```
    public init(path: String?, maxRecordSize: Int = 64 << 20, maxDepth: Int = 512) throws(JSONPathError) {
        let expression = path ?? "$"
        var parser = JSONPathParser(expression)
        let query = try parser.parseQuery()
        let offsets = Self.segmentOffsets(of: expression)
        var names: [String] = []
        var requiresArray = false
        for (k, segment) in query.segments.enumerated() {
            let offset = k < offsets.count ? offsets[k] : 0
            let prefix = Self.display(names)
            if requiresArray {
                throw Self.unsupported(
                    "[*] can only end a streamed path, as the records are the elements of one array; "
                        + "stream \(prefix)[*] and take what you need from each record when loading",
                    at: offset
                )
            }
            var example = "items"
            if case .name(let name)? = segment.selectors.first { example = name }
            if segment.isDescendant {
                throw Self.unsupported(
                    "descendant segments (..) cannot be streamed; name every member from the root down to it "
                        + "instead, e.g. \(Self.display(names + ["parent", example]))",
                    at: offset
                )
            }
            guard segment.selectors.count == 1 else {
                throw Self.unsupported(
                    "a segment with several selectors cannot be streamed; stream one array at a time, "
                        + "e.g. \(Self.display(names + [example]))",
                    at: offset
                )
            }
            switch segment.selectors[0] {
            case .name(let name):
                names.append(name)
            case .wildcard:
                requiresArray = true
            case .index:
                throw Self.unsupported(
                    "an index selector cannot be streamed; stream all the elements with \(prefix)[*] "
                        + "and pick records when loading",
                    at: offset
                )
            case .slice:
                throw Self.unsupported(
                    "a slice cannot be streamed; stream all the elements with \(prefix)[*] "
                        + "and pick records when loading",
                    at: offset
                )
            case .filter:
                throw Self.unsupported(
                    "a filter cannot be streamed; stream all the elements with \(prefix)[*] "
                        + "and filter the records when loading",
                    at: offset
                )
            }
        }
        self.path = expression
        self.memberNames = names
        self.nameBytes = names.map { Array($0.utf8) }
        self.requiresArray = requiresArray
        self.maxRecordSize = maxRecordSize
        self.maxDepth = maxDepth
    }

    // MARK: - Feeding

    /// Scans `chunk`, calling `emit` for each record it completes (in order).
    ///
    /// - Parameters:
    ///   - chunk: The next bytes of the stream; only read during the call.
    ///   - isLast: `true` for the final chunk (which may be empty): the document must then be complete.
    ///   - emit: Receives each record; it is valid only during the call. Errors it throws stop the stream.
    /// - Throws: ``JSONError``, or whatever `emit` throws.
    public mutating func feed(
        _ chunk: UnsafeRawBufferPointer,
        isLast: Bool,
        emit: (RawRecord) throws -> Void
    ) throws {
        if failed || isFinished {
            if isFinished && !failed && chunk.isEmpty { return }
            throw JSONError(
                code: .invalidUsage,
                message: failed
                    ? "the stream already failed; create a new one to start again"
                    : "feed called after the last chunk",
                offset: bytesFed,
                line: line,
                column: bytesFed - lineStart + 1
            )
        }
        failed = true  // until this call returns normally
        let count = chunk.count
        chunkOffset = bytesFed
        bytesFed += count
        if count > 0, let base = chunk.baseAddress?.assumingMemoryBound(to: UInt8.self) {
            try scan(base, count: count, emit: emit)
            advanceLines(base, to: count)
        }
        if isLast {
            try checkEnd()
            isFinished = true
        }
        failed = false
    }

    /// Scans an array of bytes; see ``feed(_:isLast:emit:)-(UnsafeRawBufferPointer,_,_)``.
    public mutating func feed(_ chunk: [UInt8], isLast: Bool, emit: (RawRecord) throws -> Void) throws {
        try chunk.withUnsafeBytes { try feed($0, isLast: isLast, emit: emit) }
    }

    /// Ends the stream, checking that the document is complete. Same as feeding an empty last chunk.
    public mutating func finish(emit: (RawRecord) throws -> Void) throws {
        try feed(UnsafeRawBufferPointer(start: nil, count: 0), isLast: true, emit: emit)
    }

    // MARK: - Scanning

    private static let quote = UInt8(ascii: "\"")
    private static let backslash = UInt8(ascii: "\\")
    private static let quoteMask: UInt64 = 0x2222_2222_2222_2222
    private static let backslashMask: UInt64 = 0x5C5C_5C5C_5C5C_5C5C

    /// Scans `base[0..<n]`, the chunk at stream offset ``chunkOffset``.
    private mutating func scan(_ base: UnsafePointer<UInt8>, count n: Int, emit: (RawRecord) throws -> Void) throws {
        var i = 0
        keyStart = 0
        while i < n {
            switch state {
            case .nested, .string, .stringEscape, .scalar:
                let end = try scanValue(base, from: i, count: n)
                guard end >= 0 else {
                    i = n
                    continue
                }
                i = end
                try finishValue(base, end: end, emit: emit)

            case .key, .keyEscape:
                i = scanKey(base, from: i, count: n)

            case .byteOrderMark:
                let expected: UInt8 = byteOrderMarkMatched == 0 ? 0xEF : byteOrderMarkMatched == 1 ? 0xBB : 0xBF
                if base[i] == expected {
                    byteOrderMarkMatched += 1
                    i += 1
                    if byteOrderMarkMatched == 3 {
                        lineStart = 3
                        state = .pathValue
                    }
                } else if byteOrderMarkMatched == 0 {
                    state = .pathValue
                } else {
                    throw makeError(
                        .syntax,
                        "the input starts with an incomplete UTF-8 byte order mark; it must be UTF-8 encoded JSON",
                        base,
                        at: i
                    )
                }

            default:
                i = Self.skipWhitespace(base, from: i, count: n)
                guard i < n else { break }
                i = try structural(base, at: i, emit: emit)
            }
        }
        if state == .key || state == .keyEscape {
            appendKeyBytes(base, from: keyStart, to: n)
        }
        if valueIsRecord && (state == .nested || state == .string || state == .stringEscape || state == .scalar) {
            try carryRecord(base, count: n)
        }
    }

    /// Handles the non-whitespace byte at `i` in a structural state; returns where to go on.
    private mutating func structural(
        _ base: UnsafePointer<UInt8>,
        at i: Int,
        emit: (RawRecord) throws -> Void
    ) throws -> Int {
        let c = base[i]
        switch state {
        case .pathValue:
            if level == nameBytes.count {
                return try beginSelected(base, at: i)
            }
            guard c == UInt8(ascii: "{") else {
                if Self.typeName(c) == "?" {
                    throw makeError(
                        .syntax,
                        "unexpected \(Self.describe(c)); expected a JSON value (an object on the way to \(path))",
                        base,
                        at: i
                    )
                }
                throw makeError(.pathNotFound, notAnObjectMessage(c), base, at: i)
            }
            (containerLine, containerColumn) = location(base, at: i)
            level += 1
            keysSeen.removeAll()
            keysSeenCount = 0
            state = .objectFirstKey
            return i + 1

        case .objectFirstKey, .objectKey:
            if c == Self.quote {
                keyBytes.removeAll(keepingCapacity: true)
                keyHasEscape = false
                keyTruncated = false
                keyStart = i + 1
                state = .key
                return i + 1
            }
            if c == UInt8(ascii: "}") {
                if state == .objectKey {
                    throw makeError(
                        .syntax,
                        "unexpected '}' after ','; remove the trailing comma or add another member",
                        base,
                        at: i
                    )
                }
                return try closeObject(base, at: i)
            }
            throw makeError(
                .syntax,
                "unexpected \(Self.describe(c)); expected '\"' to start a member name"
                    + (state == .objectFirstKey ? " or '}' to end the object" : "")
                    + " (member names are double-quoted strings)",
                base,
                at: i
            )

        case .colon:
            guard c == UInt8(ascii: ":") else {
                throw makeError(
                    .syntax,
                    "unexpected \(Self.describe(c)); expected ':' after the member name",
                    base,
                    at: i
                )
            }
            state = searching && keyMatched ? .pathValue : .memberValue
            return i + 1

        case .memberValue:
            return try beginValue(base, at: i, isRecord: false)

        case .objectNext:
            if c == UInt8(ascii: ",") {
                state = .objectKey
                return i + 1
            }
            if c == UInt8(ascii: "}") {
                return try closeObject(base, at: i)
            }
            throw makeError(
                .syntax,
                "unexpected \(Self.describe(c)); expected ',' or '}' after a member's value (is a ',' missing?)",
                base,
                at: i
            )

        case .arrayFirst, .arrayElement:
            if c == UInt8(ascii: "]") {
                if state == .arrayElement {
                    throw makeError(
                        .syntax,
                        "unexpected ']' after ','; remove the trailing comma or add another element",
                        base,
                        at: i
                    )
                }
                return closeArray(i)
            }
            return try beginValue(base, at: i, isRecord: true)

        case .arrayNext:
            if c == UInt8(ascii: ",") {
                state = .arrayElement
                return i + 1
            }
            if c == UInt8(ascii: "]") {
                return closeArray(i)
            }
            throw makeError(
                .syntax,
                "unexpected \(Self.describe(c)); expected ',' or ']' after record \(recordCount) "
                    + "(is a ',' missing?)",
                base,
                at: i
            )

        case .end:
            throw makeError(
                .trailingData,
                "unexpected \(Self.describe(c)) after the end of the document; a JSON document holds "
                    + "one top-level value (for one value per line, read the file as JSON Lines)",
                base,
                at: i
            )

        case .byteOrderMark, .key, .keyEscape, .nested, .string, .stringEscape, .scalar:
            preconditionFailure("not a structural state")
        }
    }

    /// At the selected value: opens the array, or starts the object that is the single record.
    private mutating func beginSelected(_ base: UnsafePointer<UInt8>, at i: Int) throws -> Int {
        let c = base[i]
        if c == UInt8(ascii: "[") {
            (containerLine, containerColumn) = location(base, at: i)
            searching = false
            inArray = true
            state = .arrayFirst
            return i + 1
        }
        if c == UInt8(ascii: "{") && !requiresArray {
            searching = false
            return try beginValue(base, at: i, isRecord: true)
        }
        let what = Self.typeName(c)
        if what == "?" {
            throw makeError(
                .syntax,
                "unexpected \(Self.describe(c)); expected a JSON value (the array at \(path))",
                base,
                at: i
            )
        }
        let hint =
            c == UInt8(ascii: "{")
            ? "remove the [*] to load the object as one record"
            : "point the path at an array of records (or an object, loaded as one record)"
        let subject = memberNames.isEmpty ? "the document" : Self.display(memberNames)
        throw makeError(.notAnArray, "no array at \(path): \(subject) is \(what); \(hint)", base, at: i)
    }

    /// The message for a value on the path that should be an object and is not.
    private func notAnObjectMessage(_ c: UInt8) -> String {
        let what = Self.typeName(c)
        if level == 0 {
            if c == UInt8(ascii: "[") {
                return "no array at \(path): the document is an array, not an object; "
                    + "to stream its elements, use the path $ (or none)"
            }
            return "no array at \(path): the document is \(what), not an object"
        }
        let subject = Self.display(Array(memberNames[0..<level]))
        var message = "no array at \(path): \(subject) is \(what), not an object"
        if c == UInt8(ascii: "[") {
            message += "; to stream its elements, use the path \(subject)"
        }
        return message
    }

    /// `}` of an object on the path at `i`.
    private mutating func closeObject(_ base: UnsafePointer<UInt8>, at i: Int) throws -> Int {
        if searching {
            let subject = level == 1 ? "the document" : Self.display(Array(memberNames[0..<(level - 1)]))
            let name = memberNames[level - 1]
            var message = "no array at \(path): \(subject) has no member \(Self.quoted(name))"
            if keysSeenCount == 0 {
                message += " (it is an empty object)"
            } else {
                let listed = keysSeen.map(Self.quoted).joined(separator: ", ")
                let more = keysSeenCount > keysSeen.count ? " and \(keysSeenCount - keysSeen.count) more" : ""
                message += " (its keys: \(listed)\(more)); check the spelling and case of the path"
            }
            message += "; the object starts at line \(containerLine), column \(containerColumn)"
            throw makeError(.pathNotFound, message, base, at: i)
        }
        level -= 1
        state = level == 0 ? .end : .objectNext
        return i + 1
    }

    /// `]` of the selected array at `i`.
    private mutating func closeArray(_ i: Int) -> Int {
        inArray = false
        state = level == 0 ? .end : .objectNext
        return i + 1
    }

    /// Starts a record or a skipped value at `i`.
    private mutating func beginValue(_ base: UnsafePointer<UInt8>, at i: Int, isRecord: Bool) throws -> Int {
        let c = base[i]
        valueIsRecord = isRecord
        valueStart = i
        valueOffset = chunkOffset + i
        (valueLine, valueColumn) = location(base, at: i)
        recordCarried = false
        depth = 0
        switch c {
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            depth = 1
            kinds = UInt64(c >> 5 & 1)
            state = .nested
            return i + 1
        case Self.quote:
            state = .string
            return i + 1
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "t"), UInt8(ascii: "f"),
            UInt8(ascii: "n"):
            state = .scalar
            return i
        default:
            throw makeError(
                .syntax,
                "unexpected \(Self.describe(c)); expected a JSON value (object, array, string, number, "
                    + "true, false or null)",
                base,
                at: i
            )
        }
    }

    /// The value in progress ended just before `end`: emits it if it is a record, and moves on.
    private mutating func finishValue(
        _ base: UnsafePointer<UInt8>,
        end: Int,
        emit: (RawRecord) throws -> Void
    ) throws {
        if valueIsRecord {
            valueIsRecord = false
            if recordCarried {
                guard carry.count + end <= maxRecordSize else { throw tooLarge() }
                carry.append(contentsOf: UnsafeBufferPointer(start: base, count: end))
                let (index, offset, line, column) = (recordCount, valueOffset, valueLine, valueColumn)
                try carry.withUnsafeBytes { bytes in
                    try emit(RawRecord(bytes: bytes, index: index, offset: offset, line: line, column: column))
                }
                recordCarried = false
                if carry.capacity > 4 << 20 {
                    carry = []
                } else {
                    carry.removeAll(keepingCapacity: true)
                }
            } else {
                guard end - valueStart <= maxRecordSize else { throw tooLarge() }
                try emit(
                    RawRecord(
                        bytes: UnsafeRawBufferPointer(start: base + valueStart, count: end - valueStart),
                        index: recordCount,
                        offset: valueOffset,
                        line: valueLine,
                        column: valueColumn
                    )
                )
            }
            recordCount += 1
        }
        if inArray {
            state = .arrayNext
        } else {
            state = level == 0 ? .end : .objectNext
        }
    }

    /// At the end of a chunk inside a record: keeps its bytes so far.
    private mutating func carryRecord(_ base: UnsafePointer<UInt8>, count n: Int) throws {
        let from = recordCarried ? 0 : valueStart
        guard carry.count + (n - from) <= maxRecordSize else { throw tooLarge() }
        carry.append(contentsOf: UnsafeBufferPointer(start: base + from, count: n - from))
        recordCarried = true
    }

    private func tooLarge() -> JSONError {
        JSONError(
            code: .recordTooLarge,
            message: "record \(recordCount + 1) is longer than the limit of \(maxRecordSize) bytes; "
                + "raise maxRecordSize if the data is right (an unclosed string or bracket also makes a "
                + "record run on)",
            offset: valueOffset,
            line: valueLine,
            column: valueColumn
        )
    }

    /// Scans the record or skipped value in progress from `start`.
    ///
    /// - Returns: The index just past the value, or -1 when the chunk ends first.
    @inline(__always)
    private mutating func scanValue(_ base: UnsafePointer<UInt8>, from start: Int, count n: Int) throws -> Int {
        var i = start
        var state = self.state
        var depth = self.depth
        var kinds = self.kinds
        defer {
            self.state = state
            self.depth = depth
            self.kinds = kinds
        }
        while true {
            switch state {
            case .string:
                i = CSVBytes.firstOf(
                    base, from: i, to: n, Self.quote, Self.quoteMask, Self.backslash, Self.backslashMask)
                if i == n { return -1 }
                if base[i] == Self.backslash {
                    i &+= 2  // the escaped byte is never special
                    if i > n {
                        state = .stringEscape
                        return -1
                    }
                    continue
                }
                i &+= 1
                if depth == 0 { return i }
                state = .nested

            case .stringEscape:
                if i == n { return -1 }
                i &+= 1
                state = .string

            case .scalar:
                while i < n && Self.isScalarByte(base[i]) { i &+= 1 }
                return i == n ? -1 : i

            case .nested:
                // Outside strings only '"', '[', ']', '{' and '}' matter. `c & 0xD9 == 0x59` holds for
                // those four brackets and for 'Y', 'y', '_' and DEL, which valid JSON has only in strings.
                while i < n {
                    let c = base[i]
                    if c == Self.quote || c & 0xD9 == 0x59 { break }
                    i &+= 1
                }
                if i == n { return -1 }
                let c = base[i]
                if c == Self.quote {
                    state = .string
                } else if c & 0xDF == 0x5B {  // '[' or '{'
                    if depth >= maxDepth {
                        throw makeError(
                            .depthLimit,
                            "arrays and objects nest deeper than \(maxDepth) levels here; "
                                + "raise maxDepth if the data is right",
                            base,
                            at: i
                        )
                    }
                    if depth >= 64 { deepKinds.append(UInt8(truncatingIfNeeded: kinds >> 63)) }
                    kinds = kinds << 1 | UInt64(c >> 5 & 1)
                    depth &+= 1
                } else if c & 0xDF == 0x5D {  // ']' or '}'
                    if kinds & 1 != UInt64(c >> 5 & 1) {
                        let expected = kinds & 1 == 1 ? "'}' to close an object" : "']' to close an array"
                        throw makeError(
                            .syntax,
                            "unexpected \(Self.describe(c)); expected \(expected) (brackets must match)",
                            base,
                            at: i
                        )
                    }
                    kinds >>= 1
                    if depth > 64 { kinds |= UInt64(deepKinds.removeLast()) << 63 }
                    depth &-= 1
                    if depth == 0 { return i &+ 1 }
                }
                i &+= 1

            default:
                preconditionFailure("not a value state")
            }
        }
    }

    /// `true` for the bytes numbers and literals are made of (letters, digits, `.`, `+`, `-`).
    @inline(__always)
    private static func isScalarByte(_ c: UInt8) -> Bool {
        c &- UInt8(ascii: "0") < 10 || (c | 0x20) &- UInt8(ascii: "a") < 26 || c == UInt8(ascii: ".")
            || c == UInt8(ascii: "-") || c == UInt8(ascii: "+")
    }

    @inline(__always)
    private static func skipWhitespace(_ base: UnsafePointer<UInt8>, from start: Int, count n: Int) -> Int {
        var i = start
        while i < n {
            let c = base[i]
            guard c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 else { return i }
            i &+= 1
        }
        return i
    }

    // MARK: - Member names

    /// Scans a member name of an object on the path from `start`; returns where it stopped.
    private mutating func scanKey(_ base: UnsafePointer<UInt8>, from start: Int, count n: Int) -> Int {
        var i = start
        if state == .keyEscape {
            i += 1
            state = .key
        }
        while true {
            i = CSVBytes.firstOf(base, from: i, to: n, Self.quote, Self.quoteMask, Self.backslash, Self.backslashMask)
            if i == n { return n }
            if base[i] == Self.backslash {
                keyHasEscape = true
                i += 2
                if i > n {
                    state = .keyEscape
                    return n
                }
                continue
            }
            break
        }
        state = .colon
        if searching {
            appendKeyBytes(base, from: keyStart, to: i)
            keyMatched = finishKey()
        }
        return i + 1
    }

    private mutating func appendKeyBytes(_ base: UnsafePointer<UInt8>, from start: Int, to end: Int) {
        guard searching, !keyTruncated, end > start else { return }
        let room = Self.maxKeyBytes - keyBytes.count
        if end - start > room {
            keyBytes.append(contentsOf: UnsafeBufferPointer(start: base + start, count: room))
            keyTruncated = true
        } else {
            keyBytes.append(contentsOf: UnsafeBufferPointer(start: base + start, count: end - start))
        }
    }

    /// Decodes the member name just read, notes it for messages, and says whether it is the one on the path.
    private mutating func finishKey() -> Bool {
        let target = nameBytes[level - 1]
        var matched = !keyTruncated && !keyHasEscape && keyBytes == target
        if keysSeen.count < Self.maxKeysListed || (keyHasEscape && !keyTruncated) {
            var name = String(decoding: keyBytes, as: UTF8.self)
            if keyHasEscape && !keyTruncated {
                let decoded = try? JSONReader.parse([Self.quote] + keyBytes + [Self.quote])
                if case .string(let s)? = decoded { name = s }
                matched = name.unicodeScalars.elementsEqual(memberNames[level - 1].unicodeScalars)
            }
            if keysSeen.count < Self.maxKeysListed {
                keysSeen.append(name.count > 40 ? String(name.prefix(40)) + "…" : name)
            }
        }
        keysSeenCount += 1
        return matched
    }

    // MARK: - End of input

    /// After the last chunk: the document must be complete.
    private mutating func checkEnd() throws {
        let message: String
        switch state {
        case .end:
            return
        case .byteOrderMark:
            message = "the input is empty; expected a JSON array (or object)"
        case .pathValue where level == 0:
            message = "the input is empty; expected a JSON array (or object)"
        case .nested, .string, .stringEscape, .scalar:
            let what = valueIsRecord ? "record \(recordCount + 1)" : "a value"
            let inside = state == .string || state == .stringEscape ? " (inside a string)" : ""
            message =
                "the input ends inside \(what)\(inside), which starts at line \(valueLine), column "
                + "\(valueColumn); the document is truncated"
        case .arrayFirst, .arrayElement, .arrayNext:
            message =
                "the input ends inside the array at \(path), which starts at line \(containerLine), "
                + "column \(containerColumn); the document is truncated (expected ',' or ']')"
        default:
            message =
                "the input ends before the document is complete (\(level) object(s) still open); "
                + "the document is truncated"
        }
        throw JSONError(
            code: .unexpectedEnd,
            message: message,
            offset: bytesFed,
            line: line,
            column: bytesFed - lineStart + 1
        )
    }

    // MARK: - Positions

    /// Counts the lines up to chunk index `end` (not before what was counted already).
    private mutating func advanceLines(_ base: UnsafePointer<UInt8>, to end: Int) {
        let from = countedTo - chunkOffset
        guard end > from else { return }
        let newlines = CSVBytes.count(of: CSVBytes.newline, base, from: from, to: end)
        if newlines > 0 {
            line += newlines
            var j = end - 1
            while base[j] != CSVBytes.newline { j -= 1 }
            lineStart = chunkOffset + j + 1
        }
        countedTo = chunkOffset + end
    }

    /// The line and column of chunk index `i`.
    private mutating func location(_ base: UnsafePointer<UInt8>, at i: Int) -> (line: Int, column: Int) {
        advanceLines(base, to: i)
        return (line, chunkOffset + i - lineStart + 1)
    }

    private mutating func makeError(
        _ code: JSONError.Code,
        _ message: String,
        _ base: UnsafePointer<UInt8>,
        at i: Int
    ) -> JSONError {
        let (line, column) = location(base, at: i)
        return JSONError(code: code, message: message, offset: chunkOffset + i, line: line, column: column)
    }

    // MARK: - Text helpers

    /// `'x'` for a printable ASCII byte, else `byte 0xNN`.
    private static func describe(_ c: UInt8) -> String {
        if c >= 0x20 && c < 0x7F { return "'\(Character(Unicode.Scalar(c)))'" }
        let hex = String(c, radix: 16, uppercase: true)
        return "byte 0x" + (hex.count < 2 ? "0" : "") + hex
    }

    /// "an object", "a string"… from a value's first byte; "?" when no value starts with it.
    private static func typeName(_ c: UInt8) -> String {
        switch c {
        case UInt8(ascii: "{"): return "an object"
        case UInt8(ascii: "["): return "an array"
        case quote: return "a string"
        case UInt8(ascii: "t"), UInt8(ascii: "f"): return "a boolean"
        case UInt8(ascii: "n"): return "null"
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return "a number"
        default: return "?"
        }
    }

    private static func quoted(_ name: String) -> String {
        var out = "\""
        for c in name.unicodeScalars {
            if c == "\"" || c == "\\" { out += "\\" }
            out.unicodeScalars.append(c)
        }
        return out + "\""
    }

    /// `$.a.b`, with `['…']` for names that are not plain identifiers.
    static func display(_ names: [String]) -> String {
        var out = "$"
        for name in names {
            let plain =
                !name.isEmpty
                && name.unicodeScalars.enumerated().allSatisfy { k, c in
                    c == "_" || (c >= "a" && c <= "z") || (c >= "A" && c <= "Z") || (k > 0 && c >= "0" && c <= "9")
                }
            if plain {
                out += "." + name
            } else {
                out += JSONPath.normalizedPath([.name(name)]).dropFirst()
            }
        }
        return out
    }

    private static func unsupported(_ message: String, at offset: Int) -> JSONPathError {
        JSONPathError(
            message: message + " (streamable paths: $, $.name.name… or $['name']…, optionally ending in [*])",
            offset: offset
        )
    }

    /// The Unicode-scalar offsets where the segments of a valid JSONPath expression start.
    static func segmentOffsets(of expression: String) -> [Int] {
        let scalars = Array(expression.unicodeScalars)
        var offsets: [Int] = []
        var i = 1  // after '$'
        func isBlank(_ c: Unicode.Scalar) -> Bool { c == " " || c == "\t" || c == "\n" || c == "\r" }
        func skipBracket() {
            var nesting = 0
            while i < scalars.count {
                let c = scalars[i]
                if c == "'" || c == "\"" {
                    i += 1
                    while i < scalars.count && scalars[i] != c {
                        i += scalars[i] == "\\" ? 2 : 1
                    }
                } else if c == "[" {
                    nesting += 1
                } else if c == "]" {
                    nesting -= 1
                    if nesting == 0 {
                        i += 1
                        return
                    }
                }
                i += 1
            }
        }
        while true {
            while i < scalars.count && isBlank(scalars[i]) { i += 1 }
            guard i < scalars.count else { return offsets }
            offsets.append(i)
            if scalars[i] == "[" {
                skipBracket()
                continue
            }
            i += 1  // '.'
            if i < scalars.count && scalars[i] == "." {
                i += 1
                if i < scalars.count && scalars[i] == "[" {
                    skipBracket()
                    continue
                }
            }
            while i < scalars.count && scalars[i] != "." && scalars[i] != "[" && !isBlank(scalars[i]) { i += 1 }
        }
    }
}
