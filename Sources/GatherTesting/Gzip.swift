import CZlib

/// gzip-compresses bytes with zlib (used by the fixture server's compressed endpoints).
public func gzipCompress(_ input: [UInt8], level: Int32 = 6) -> [UInt8] {
    var stream = z_stream()
    // windowBits 15 + 16 asks zlib for a gzip header and trailer.
    guard
        deflateInit2_(
            &stream, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)
        ) == Z_OK
    else { preconditionFailure("zlib deflateInit2 failed") }
    defer { deflateEnd(&stream) }
    var output = [UInt8](repeating: 0, count: Int(deflateBound(&stream, UInt(input.count))) + 32)
    var input = input
    let produced: Int = input.withUnsafeMutableBufferPointer { inBuffer in
        output.withUnsafeMutableBufferPointer { outBuffer in
            stream.next_in = inBuffer.baseAddress
            stream.avail_in = UInt32(inBuffer.count)
            stream.next_out = outBuffer.baseAddress
            stream.avail_out = UInt32(outBuffer.count)
            let status = deflate(&stream, Z_FINISH)
            precondition(status == Z_STREAM_END, "zlib deflate did not finish")
            return outBuffer.count - Int(stream.avail_out)
        }
    }
    return Array(output[0..<produced])
}
