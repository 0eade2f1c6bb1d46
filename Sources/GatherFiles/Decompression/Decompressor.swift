import CZlib
import CZstd

/// Removes gzip or zstd compression from a stream of chunks, appending the plain bytes to a caller's buffer.
///
/// Feed the compressed file in order, chunk by chunk, and mark the last one; clear the output between
/// chunks once it has been consumed:
///
/// ```swift
/// let decompressor = try Decompressor(Compression.detect(magic: firstChunk))
/// var plain: [UInt8] = []
/// for (chunk, isLast) in chunks {
///     plain.removeAll(keepingCapacity: true)
///     try chunk.withUnsafeBytes { try decompressor.decode($0, isLast: isLast, into: &plain) }
///     try parser.feed(plain, isLast: isLast) { row in … }
/// }
/// ```
///
/// - gzip goes through zlib and accepts concatenated members (`cat a.gz b.gz`) and trailing zero padding;
///   zstd goes through libzstd and accepts concatenated and skippable frames; ``Compression/none`` copies.
/// - An empty input (no bytes at all) decodes to nothing. Input that stops inside a member or frame throws
///   ``DecompressionError/Code/truncatedData`` when the last chunk arrives.
///
/// **Memory.** The decoder holds zlib's 32 KiB window or a zstd window of at most 128 MiB (larger windows,
/// from `zstd --long`, are refused) and nothing that grows with the file. Each call appends, in steps of
/// 256 KiB written straight into `output`'s spare capacity, exactly what its input chunk decodes to: usually
/// 3–10 times the chunk, but a 1 MiB chunk of a decompression bomb can expand about 1000-fold (gzip) or more
/// (zstd). ``maxOutputPerCall`` caps that: a chunk that would decode to more throws
/// ``DecompressionError/Code/outputLimitExceeded`` instead of exhausting memory.
///
/// **Concurrency.** The decoder owns C library state and is deliberately not `Sendable`: use it from one task
/// at a time. A freshly made decoder can still be handed to another task (`sending`).
public final class Decompressor {
    /// The compression this decoder removes.
    public let compression: Compression
    /// The most bytes one ``decode(_:isLast:into:)`` call may append before it throws
    /// ``DecompressionError/Code/outputLimitExceeded`` (gzip and zstd; ``Compression/none`` appends its input).
    public let maxOutputPerCall: Int
    /// Compressed bytes consumed so far.
    public private(set) var compressedByteCount = 0
    /// Decompressed bytes produced so far.
    public private(set) var decompressedByteCount = 0

    /// The default ``maxOutputPerCall``: 1 GiB, far above what an honest chunk of a few MiB decodes to.
    public static let defaultMaxOutputPerCall = 1 << 30

    /// How much output capacity each step of a decoding loop offers the C library.
    private static let outputStep = 256 * 1024
    /// How much compressed input each libzstd call gets (about `ZSTD_DStreamInSize()`, one full block).
    private static let zstdInputPiece = 128 * 1024
    /// zstd's `ZSTD_error_frameParameter_windowTooLarge` (error code values are pinned since zstd 1.3.1;
    /// `zstd_errors.h` is not part of the CZstd module).
    private static let zstdWindowTooLarge = 16

    /// zlib state; zlib keeps a pointer back to it, so it lives at a fixed address.
    private let zlibStream: UnsafeMutablePointer<z_stream>?
    /// libzstd state.
    private let zstdStream: OpaquePointer?
    /// The last chunk has been decoded.
    private var finished = false
    /// The error that stopped decoding; every later call throws it again.
    private var failure: DecompressionError?
    /// Between gzip members or zstd frames: the input so far ends exactly where one ended (or nothing came yet).
    private var atBoundary = true
    /// Completed gzip members or zstd frames.
    private var completedUnits = 0
    /// For gzip: compressed bytes of the current member consumed so far.
    private var memberBytes = 0

    /// Creates a decoder.
    ///
    /// - Parameters:
    ///   - compression: What to remove; ``Compression/none`` copies bytes through.
    ///   - maxOutputPerCall: The most bytes one ``decode(_:isLast:into:)`` call may append; must be positive.
    /// - Throws: ``DecompressionError/Code/resourceFailure`` when the library cannot allocate its state.
    public init(_ compression: Compression, maxOutputPerCall: Int = Decompressor.defaultMaxOutputPerCall)
        throws(DecompressionError)
    {
        precondition(maxOutputPerCall > 0, "maxOutputPerCall must be positive")
        self.compression = compression
        self.maxOutputPerCall = maxOutputPerCall
        switch compression {
        case .none:
            zlibStream = nil
            zstdStream = nil
        case .gzip:
            let stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
            stream.initialize(to: z_stream())
            // windowBits 15 + 32: a 32 KiB window, and recognise the gzip (or zlib) header automatically.
            let status = inflateInit2_(stream, 15 + 32, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
            guard status == Z_OK else {
                stream.deinitialize(count: 1)
                stream.deallocate()
                throw DecompressionError(
                    code: .resourceFailure, compression: .gzip,
                    message:
                        "could not set up gzip decompression (zlib status \(status)); the system may be out of memory"
                )
            }
            zlibStream = stream
            zstdStream = nil
        case .zstd:
            guard let stream = ZSTD_createDStream() else {
                throw DecompressionError(
                    code: .resourceFailure, compression: .zstd,
                    message: "could not set up zstd decompression; the system may be out of memory"
                )
            }
            guard ZSTD_isError(ZSTD_initDStream(stream)) == 0 else {
                ZSTD_freeDStream(stream)
                throw DecompressionError(
                    code: .resourceFailure, compression: .zstd,
                    message: "could not set up zstd decompression; the system may be out of memory"
                )
            }
            zlibStream = nil
            zstdStream = stream
        }
    }

    deinit {
        if let zlibStream {
            inflateEnd(zlibStream)
            zlibStream.deinitialize(count: 1)
            zlibStream.deallocate()
        }
        if let zstdStream {
            ZSTD_freeDStream(zstdStream)
        }
    }

    /// Decodes the next chunk of compressed bytes and appends what it decodes to `output`.
    ///
    /// Everything the chunk decodes to is appended before the call returns; nothing is held back for later
    /// calls. Chunks may be any size, including empty, and may split members and frames anywhere.
    ///
    /// - Parameters:
    ///   - input: The next compressed bytes of the stream.
    ///   - isLast: `true` for the final chunk (it may be empty); the stream must end there.
    ///   - output: Receives the decompressed bytes, appended after its current contents.
    /// - Throws: ``DecompressionError`` with ``DecompressionError/Code/corruptData``,
    ///   ``DecompressionError/Code/truncatedData`` (only when `isLast`),
    ///   ``DecompressionError/Code/outputLimitExceeded``, ``DecompressionError/Code/unsupported``,
    ///   ``DecompressionError/Code/resourceFailure``, or ``DecompressionError/Code/invalidUsage`` after the
    ///   last chunk. `output` may hold part of the chunk's bytes when it throws; the decoder cannot go on, and
    ///   later calls throw the same error.
    public func decode(_ input: UnsafeRawBufferPointer, isLast: Bool, into output: inout [UInt8])
        throws(DecompressionError)
    {
        if let failure { throw failure }
        guard !finished else {
            throw DecompressionError(
                code: .invalidUsage, compression: compression,
                message: "\(compression.rawValue) data was fed after the last chunk; create a new Decompressor"
            )
        }
        if isLast { finished = true }
        do {
            switch compression {
            case .none:
                if !input.isEmpty {
                    output.append(addingCapacity: input.count) { span in
                        span.withUnsafeMutableBufferPointer { buffer, initialized in
                            UnsafeMutableRawBufferPointer(buffer).copyMemory(from: input)
                            initialized = input.count
                        }
                    }
                }
                compressedByteCount += input.count
                decompressedByteCount += input.count
            case .gzip:
                try decodeGzip(input, isLast: isLast, into: &output)
            case .zstd:
                try decodeZstd(input, isLast: isLast, into: &output)
            }
        } catch {
            failure = error
            throw error
        }
    }

    // MARK: - gzip

    private func decodeGzip(_ input: UnsafeRawBufferPointer, isLast: Bool, into output: inout [UInt8])
        throws(DecompressionError)
    {
        guard let stream = zlibStream else { return }
        var remaining = input
        var produced = 0
        while !remaining.isEmpty {
            if atBoundary && completedUnits > 0 {
                // Between members: skip zero padding (as gzip(1) does), then start the next member.
                let zeros = remaining.prefix { $0 == 0 }.count
                remaining = UnsafeRawBufferPointer(rebasing: remaining.dropFirst(zeros))
                compressedByteCount += zeros
                if remaining.isEmpty { break }
                inflateReset(stream)
                memberBytes = 0
            }
            let piece = min(remaining.count, Int(UInt32.max))
            stream.pointee.next_in = UnsafeMutablePointer(
                mutating: remaining.baseAddress!.assumingMemoryBound(to: UInt8.self)
            )
            stream.pointee.avail_in = UInt32(piece)
            atBoundary = false
            var status = Z_OK
            var outputFull = false
            repeat {
                let step = min(Self.outputStep, maxOutputPerCall - produced + 1)
                output.append(addingCapacity: step) { span in
                    span.withUnsafeMutableBufferPointer { buffer, initialized in
                        stream.pointee.next_out = buffer.baseAddress
                        stream.pointee.avail_out = UInt32(buffer.count)
                        status = inflate(stream, Z_NO_FLUSH)
                        initialized = buffer.count - Int(stream.pointee.avail_out)
                    }
                }
                outputFull = stream.pointee.avail_out == 0
                produced += step - Int(stream.pointee.avail_out)
                try checkOutputLimit(produced, near: compressedByteCount + piece - Int(stream.pointee.avail_in))
            } while status == Z_OK && (outputFull || stream.pointee.avail_in > 0)
            let consumed = piece - Int(stream.pointee.avail_in)
            compressedByteCount += consumed
            memberBytes += consumed
            remaining = UnsafeRawBufferPointer(rebasing: remaining.dropFirst(consumed))
            switch status {
            case Z_OK, Z_BUF_ERROR:
                // All input taken (Z_BUF_ERROR: no progress was possible without more).
                break
            case Z_STREAM_END:
                atBoundary = true
                completedUnits += 1
            case Z_MEM_ERROR:
                throw DecompressionError(
                    code: .resourceFailure, compression: .gzip,
                    message: "zlib ran out of memory while decompressing gzip data", offset: compressedByteCount
                )
            default:
                throw gzipCorrupt(status: status, stream: stream)
            }
        }
        decompressedByteCount += produced
        if isLast && !atBoundary {
            throw DecompressionError(
                code: .truncatedData, compression: .gzip,
                message: "unexpected end of gzip data after \(compressedByteCount) compressed bytes; "
                    + "the file is truncated (an incomplete download or copy?)",
                offset: compressedByteCount
            )
        }
    }

    private func gzipCorrupt(status: Int32, stream: UnsafeMutablePointer<z_stream>) -> DecompressionError {
        let reason = stream.pointee.msg.map { String(cString: $0) } ?? "zlib status \(status)"
        // A later "member" that fails within its 10-byte header is trailing data, not a damaged member.
        if completedUnits > 0 && memberBytes <= 10 {
            return trailingGarbage(after: "member", at: compressedByteCount - memberBytes, reason: reason)
        }
        return DecompressionError(
            code: .corruptData, compression: .gzip,
            message: "gzip data is corrupt at compressed byte \(compressedByteCount) (\(reason)); "
                + "the file is damaged or not gzip",
            offset: compressedByteCount
        )
    }

    // MARK: - zstd

    private func decodeZstd(_ input: UnsafeRawBufferPointer, isLast: Bool, into output: inout [UInt8])
        throws(DecompressionError)
    {
        guard let stream = zstdStream else { return }
        var produced = 0
        var start = 0
        // Feed libzstd in pieces: it does not report how far it got when it fails, so an error is located
        // within the piece that held it.
        while start < input.count {
            let end = min(start + Self.zstdInputPiece, input.count)
            var source = ZSTD_inBuffer(src: input.baseAddress! + start, size: end - start, pos: 0)
            var outputFull = false
            while source.pos < source.size || outputFull {
                let step = min(Self.outputStep, maxOutputPerCall - produced + 1)
                let consumedBefore = source.pos
                var result = 0
                var written = 0
                output.append(addingCapacity: step) { span in
                    span.withUnsafeMutableBufferPointer { buffer, initialized in
                        var target = ZSTD_outBuffer(dst: buffer.baseAddress, size: buffer.count, pos: 0)
                        result = ZSTD_decompressStream(stream, &target, &source)
                        written = target.pos
                        initialized = target.pos
                    }
                }
                let position = compressedByteCount + start + consumedBefore
                if ZSTD_isError(result) != 0 {
                    throw zstdError(result, from: position, to: compressedByteCount + end)
                }
                produced += written
                try checkOutputLimit(produced, near: position)
                outputFull = written == step
                if written > 0 || source.pos > consumedBefore {
                    // 0: a frame is complete and flushed; otherwise a hint of how much more input it needs.
                    // (A call that did nothing, after a frame ended exactly at a full output, returns a hint
                    // for the next frame and must not count as being inside one.)
                    atBoundary = result == 0
                    if atBoundary { completedUnits += 1 }
                }
            }
            start = end
        }
        compressedByteCount += input.count
        decompressedByteCount += produced
        if isLast && !atBoundary {
            throw DecompressionError(
                code: .truncatedData, compression: .zstd,
                message: "unexpected end of zstd data after \(compressedByteCount) compressed bytes; "
                    + "the file is truncated (an incomplete download or copy?)",
                offset: compressedByteCount
            )
        }
    }

    private func zstdError(_ result: Int, from start: Int, to end: Int) -> DecompressionError {
        let reason = String(cString: ZSTD_getErrorName(result))
        if 0 &- result == Self.zstdWindowTooLarge {
            return DecompressionError(
                code: .unsupported, compression: .zstd,
                message: "the zstd frame near compressed byte \(start) needs a window larger than 128 MiB (made with "
                    + "zstd --long or --ultra); recompress it without --long so it can be read with bounded memory",
                offset: start
            )
        }
        if atBoundary && completedUnits > 0 {
            return trailingGarbage(after: "frame", at: start, reason: reason)
        }
        return DecompressionError(
            code: .corruptData, compression: .zstd,
            message: "zstd data is corrupt between compressed bytes \(start) and \(end) (\(reason)); "
                + "the file is damaged or not zstd",
            offset: start
        )
    }

    // MARK: - Shared

    /// Bytes after the last complete gzip member or zstd frame that do not start another one.
    private func trailingGarbage(after unit: String, at start: Int, reason: String) -> DecompressionError {
        let name = compression.rawValue
        return DecompressionError(
            code: .corruptData, compression: compression,
            message: "unexpected data after the end of \(name) \(unit) \(completedUnits) at compressed byte "
                + "\(start) (\(reason)); the file has trailing garbage after valid \(name) data",
            offset: start
        )
    }

    private func checkOutputLimit(_ produced: Int, near offset: Int) throws(DecompressionError) {
        guard produced > maxOutputPerCall else { return }
        throw DecompressionError(
            code: .outputLimitExceeded, compression: compression,
            message: "decompressed data exceeds \(maxOutputPerCall) bytes per chunk near compressed byte "
                + "\(offset); the file may be a decompression bomb (raise maxOutputPerCall if it is "
                + "trusted)",
            offset: offset
        )
    }
}

@available(*, unavailable, message: "Decompressor owns C library state; use it from one task at a time")
extension Decompressor: Sendable {}
