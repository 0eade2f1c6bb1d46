import CZstd

/// zstd-compresses bytes with libzstd (level 3), optionally with a content checksum in the frame.
public func zstdCompress(_ input: [UInt8], checksum: Bool = false) -> [UInt8] {
    let context = ZSTD_createCCtx()!
    defer { ZSTD_freeCCtx(context) }
    ZSTD_CCtx_setParameter(context, ZSTD_c_compressionLevel, 3)
    ZSTD_CCtx_setParameter(context, ZSTD_c_checksumFlag, checksum ? 1 : 0)
    var output = [UInt8](repeating: 0, count: ZSTD_compressBound(input.count))
    let size = output.withUnsafeMutableBytes { out in
        input.withUnsafeBytes { ZSTD_compress2(context, out.baseAddress, out.count, $0.baseAddress, $0.count) }
    }
    precondition(ZSTD_isError(size) == 0, "ZSTD_compress2 failed")
    return Array(output[0..<size])
}
