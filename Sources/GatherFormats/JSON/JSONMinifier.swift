import GatherCore

/// The engine behind ``JSONReader/minify(_:into:configuration:)``: validates a document with the
/// same grammar as ``JSONParser`` (through the shared ``JSONLexer``) and copies it without the
/// whitespace between tokens.
///
/// Nothing is decoded or built. Tokens are never copied one by one: the output receives whole
/// spans of input, from the end of one whitespace run to the start of the next. The caller
/// pre-fills the output with the input, so while no whitespace has been dropped yet
/// (`written == copyStart`) the bytes are already in place and nothing is copied at all.
///
/// Depth is bounded by a stack of expected closing brackets (one byte per open container), never
/// by the call stack. The stack starts in caller-provided memory and moves to the heap only for
/// deeper documents, so the minifier is non-copyable and frees it in `deinit`.
struct JSONMinifier: ~Copyable {
    private let lexer: JSONLexer
    private var pos = 0
    private let maxDepth: Int
    private let allowTrailingData: Bool

    /// Where the output goes; holds a copy of the input on entry (see the type's documentation).
    private let dest: UnsafeMutablePointer<UInt8>
    /// Bytes of output produced so far.
    private var written = 0
    /// The first input byte not yet accounted for in the output.
    private var copyStart = 0

    /// `]` or `}` for each open container, innermost last.
    private var closers: UnsafeMutablePointer<UInt8>
    private var depth = 0
    private var closerCapacity: Int
    private var closersOnHeap = false

    /// Creates a minifier of `base[0..<count]` into `dest`, which must hold a copy of those bytes.
    ///
    /// `stack` is scratch memory for the bracket stack; it must outlive the minifier.
    init(
        base: UnsafePointer<UInt8>,
        count: Int,
        dest: UnsafeMutablePointer<UInt8>,
        stack: UnsafeMutableBufferPointer<UInt8>,
        configuration: JSONReader.Configuration
    ) {
        self.lexer = JSONLexer(base: base, end: count)
        self.dest = dest
        self.maxDepth = configuration.maxDepth
        self.allowTrailingData = configuration.allowTrailingData
        self.closers = stack.baseAddress.unsafelyUnwrapped
        self.closerCapacity = stack.count
    }

    deinit {
        if closersOnHeap { closers.deallocate() }
    }

    /// Validates the whole input as one value followed by optional whitespace, writes the
    /// minified value to `dest`, and returns its length.
    mutating func minifyDocument() throws(JSONError) -> Int {
        try lexer.checkNoByteOrderMark()
        skipWhitespace()
        try minifyValue()
        let valueEnd = pos
        pos = lexer.skipWhitespace(from: pos)
        if pos < end && !allowTrailingData {
            throw lexer.trailingData(at: pos)
        }
        flush(upTo: valueEnd)
        return written
    }

    // MARK: - Grammar

    /// Validates one complete value (scalar or container tree) starting at `pos`; the same state
    /// machine as ``JSONParser``'s, without the values.
    private mutating func minifyValue() throws(JSONError) {
        valueLoop: while true {
            // Expect a value at `pos`.
            switch byte(at: pos) {
            case UInt8(ascii: "\""):
                try skipString()
            case UInt8(ascii: "{"):
                if depth >= maxDepth { throw lexer.depthError(at: pos, maxDepth: maxDepth) }
                pos &+= 1
                skipWhitespace()
                if byte(at: pos) == UInt8(ascii: "}") {
                    pos &+= 1
                } else {
                    push(UInt8(ascii: "}"))
                    try skipKeyAndColon()
                    continue valueLoop
                }
            case UInt8(ascii: "["):
                if depth >= maxDepth { throw lexer.depthError(at: pos, maxDepth: maxDepth) }
                pos &+= 1
                skipWhitespace()
                if byte(at: pos) == UInt8(ascii: "]") {
                    pos &+= 1
                } else {
                    push(UInt8(ascii: "]"))
                    continue valueLoop
                }
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                let number = try lexer.scanNumber(at: pos)
                if !number.isCertainlyFinite {
                    _ = try lexer.slowDouble(from: pos, to: number.end)
                }
                pos = number.end
            case UInt8(ascii: "t"):
                pos = try lexer.expectLiteral(JSONLexer.trueWord, at: pos)
            case UInt8(ascii: "f"):
                pos = try lexer.expectFalse(at: pos)
            case UInt8(ascii: "n"):
                pos = try lexer.expectLiteral(JSONLexer.nullWord, at: pos)
            default:
                throw lexer.expectedValue(at: pos)
            }

            // After a value: close containers or move to the next element.
            while depth > 0 {
                skipWhitespace()
                let c = byte(at: pos)
                let closer = closers[depth &- 1]
                if c == UInt8(ascii: ",") {
                    pos &+= 1
                    skipWhitespace()
                    if closer == UInt8(ascii: "}") { try skipKeyAndColon() }
                    continue valueLoop
                }
                if c == closer {
                    pos &+= 1
                    depth &-= 1
                    continue
                }
                if closer == UInt8(ascii: "}") { throw lexer.expectedObjectContinuation(at: pos) }
                throw lexer.expectedArrayContinuation(at: pos)
            }
            return
        }
    }

    /// Validates `"key"` `:` and the whitespace after it.
    @inline(__always)
    private mutating func skipKeyAndColon() throws(JSONError) {
        guard byte(at: pos) == UInt8(ascii: "\"") else { throw lexer.expectedKey(at: pos) }
        try skipString()
        skipWhitespace()
        guard byte(at: pos) == UInt8(ascii: ":") else { throw lexer.expectedColon(at: pos) }
        pos &+= 1
        skipWhitespace()
    }

    @inline(__always)
    private mutating func push(_ closer: UInt8) {
        if depth == closerCapacity { growClosers() }
        closers[depth] = closer
        depth &+= 1
    }

    @inline(never)
    private mutating func growClosers() {
        let newCapacity = closerCapacity * 2
        let newClosers = UnsafeMutablePointer<UInt8>.allocate(capacity: newCapacity)
        newClosers.update(from: closers, count: depth)
        if closersOnHeap { closers.deallocate() }
        closers = newClosers
        closerCapacity = newCapacity
        closersOnHeap = true
    }

    // MARK: - Strings

    /// Validates the string whose opening quote is at `pos` and moves past its closing quote.
    ///
    /// Escapes are checked, not decoded; UTF-8 is validated (over the raw bytes, escapes being
    /// ASCII) only if some byte is >= 0x80, after the closing quote is found, as the parser does.
    @inline(__always)
    private mutating func skipString() throws(JSONError) {
        let start = pos &+ 1
        var high: UInt64 = 0
        var i = lexer.scanPlain(from: start, high: &high)
        if i >= end || base[i] != UInt8(ascii: "\"") {
            i = try skipEscapedString(scanned: i, high: &high)
        }
        if high & JSONLexer.highBits != 0 && UTF8Validation.firstInvalidOffset(base, from: start, to: i) != nil {
            throw lexer.invalidUTF8Error(from: start, to: i)
        }
        pos = i &+ 1
    }

    /// The slow path of ``skipString()``: from `scanned`, the first `\`, control byte or end of
    /// input, to the closing quote, whose offset is returned.
    @inline(never)
    private func skipEscapedString(scanned: Int, high: inout UInt64) throws(JSONError) -> Int {
        var i = scanned
        while true {
            guard i < end else { throw lexer.unterminatedString(at: i) }
            let c = base[i]
            if c == UInt8(ascii: "\"") {
                return i
            }
            if c == UInt8(ascii: "\\") {
                let e = byte(at: i &+ 1)
                if e == UInt8(ascii: "u") {
                    // Surrogates need no pairing check: the parser accepts lone ones too.
                    _ = try lexer.hex4(at: i &+ 2)
                    i &+= 6
                } else {
                    guard JSONLexer.unescape(e) != 0 else { throw lexer.invalidEscape(at: i) }
                    i &+= 2
                }
                continue
            }
            if c < 0x20 {
                throw lexer.controlCharacter(at: i)
            }
            i = lexer.scanPlain(from: i, high: &high)
        }
    }

    // MARK: - Bytes, whitespace and output

    private var base: UnsafePointer<UInt8> { lexer.base }
    private var end: Int { lexer.end }

    @inline(__always)
    private func byte(at offset: Int) -> UInt8 {
        lexer.byte(at: offset)
    }

    /// Skips whitespace at `pos`; a run of it ends the current output span.
    @inline(__always)
    private mutating func skipWhitespace() {
        if pos < end && base[pos] <= 0x20 {
            let runStart = pos
            pos = lexer.skipWhitespace(from: pos)
            if pos != runStart {
                flush(upTo: runStart)
                copyStart = pos
            }
        }
    }

    /// Moves `base[copyStart..<stop]` to the output.
    @inline(__always)
    private mutating func flush(upTo stop: Int) {
        let count = stop &- copyStart
        if written != copyStart {
            if count <= 16 && copyStart &+ 16 <= end {
                // Two 8-byte moves. Bytes past `count` land where later spans will be written, and
                // `written + 16 <= copyStart + 16 <= end` keeps them inside `dest`.
                let from = UnsafeRawPointer(base + copyStart)
                let to = UnsafeMutableRawPointer(dest + written)
                to.storeBytes(of: from.loadUnaligned(as: UInt64.self), as: UInt64.self)
                (to + 8).storeBytes(of: (from + 8).loadUnaligned(as: UInt64.self), as: UInt64.self)
            } else {
                (dest + written).update(from: base + copyStart, count: count)
            }
        }
        written &+= count
    }
}
