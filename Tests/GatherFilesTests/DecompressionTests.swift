import CZstd
import GatherFiles
import GatherTesting
import Testing

// MARK: - Helpers

/// Deterministic CSV-like bytes: repetitive enough to compress, varied enough to exercise real blocks.
private func sampleBytes(count: Int, seed: UInt64 = 42) -> [UInt8] {
    let alphabet = Array("abcdefghij0123456789,,\"\n".utf8)
    var state = seed
    return [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
        for index in 0..<count {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            buffer[index] = alphabet[Int(state >> 59) % alphabet.count]
        }
        initialized = count
    }
}

private func compress(_ input: [UInt8], _ compression: Compression) -> [UInt8] {
    switch compression {
    case .none: return input
    case .gzip: return gzipCompress(input)
    case .zstd: return zstdCompress(input)
    }
}

/// Decodes `input` in chunks of `chunkSize` bytes, marking the one that reaches the end as the last.
private func decompress(
    _ input: [UInt8], _ compression: Compression, chunkSize: Int, maxOutputPerCall: Int = 1 << 30
) throws -> [UInt8] {
    let decompressor = try Decompressor(compression, maxOutputPerCall: maxOutputPerCall)
    var output: [UInt8] = []
    var start = 0
    repeat {
        let end = min(start + chunkSize, input.count)
        try input[start..<end].withUnsafeBytes {
            try decompressor.decode($0, isLast: end == input.count, into: &output)
        }
        start = end
    } while start < input.count
    return output
}

/// The error a decode throws, or `nil` when it succeeds.
private func decodeError(_ input: [UInt8], _ compression: Compression, chunkSize: Int) -> DecompressionError? {
    do {
        _ = try decompress(input, compression, chunkSize: chunkSize)
        return nil
    } catch {
        return error as? DecompressionError
    }
}

// MARK: - Detection

@Test func detectsCompressionByMagic() {
    #expect(Compression.detect(magic: [0x1f, 0x8b, 0x08, 0x00]) == .gzip)
    #expect(Compression.detect(magic: [0x1f, 0x8b]) == .gzip)
    #expect(Compression.detect(magic: [0x28, 0xb5, 0x2f, 0xfd, 0x24]) == .zstd)
    #expect(Compression.detect(magic: gzipCompress(Array("x".utf8))[...]) == .gzip)
    #expect(Compression.detect(magic: zstdCompress(Array("x".utf8)).prefix(4)) == .zstd)
    #expect(Compression.detect(magic: [0x28, 0xb5, 0x2f]) == .none)
    #expect(Compression.detect(magic: [0x1f]) == .none)
    #expect(Compression.detect(magic: [UInt8]()) == .none)
    #expect(Compression.detect(magic: Array("id,name\n".utf8)) == .none)
}

@Test func impliesCompressionByPath() {
    #expect(Compression.implied(byPath: "data/orders.csv.gz") == .gzip)
    #expect(Compression.implied(byPath: "ORDERS.JSONL.GZIP") == .gzip)
    #expect(Compression.implied(byPath: "orders.csv.zst") == .zstd)
    #expect(Compression.implied(byPath: "/tmp/orders.zstd") == .zstd)
    #expect(Compression.implied(byPath: "orders.csv") == .none)
    #expect(Compression.implied(byPath: "gz") == .none)
    #expect(Compression.implied(byPath: "") == .none)
}

// MARK: - Round trips

@Test(arguments: [Compression.none, .gzip, .zstd], [1, 7, 65_536, 10_000_000])
func roundTripsInChunks(compression: Compression, chunkSize: Int) throws {
    let plain = sampleBytes(count: 200_000)
    let compressed = compress(plain, compression)
    let decompressor = try Decompressor(compression)
    var output: [UInt8] = []
    var start = 0
    while start < compressed.count {
        let end = min(start + chunkSize, compressed.count)
        try compressed[start..<end].withUnsafeBytes {
            try decompressor.decode($0, isLast: end == compressed.count, into: &output)
        }
        start = end
    }
    let matches = output == plain
    #expect(matches)
    #expect(decompressor.compressedByteCount == compressed.count)
    #expect(decompressor.decompressedByteCount == plain.count)
}

@Test(arguments: [Compression.gzip, .zstd])
func emptyChunksAndCallerClearedOutput(compression: Compression) throws {
    let plain = sampleBytes(count: 100_000, seed: 7)
    let compressed = compress(plain, compression)
    let decompressor = try Decompressor(compression)
    var collected: [UInt8] = []
    var output: [UInt8] = []
    var start = 0
    while start < compressed.count {
        let end = min(start + 4096, compressed.count)
        output.removeAll(keepingCapacity: true)
        try [UInt8]().withUnsafeBytes { try decompressor.decode($0, isLast: false, into: &output) }
        try compressed[start..<end].withUnsafeBytes { try decompressor.decode($0, isLast: false, into: &output) }
        collected += output
        start = end
    }
    output.removeAll(keepingCapacity: true)
    try [UInt8]().withUnsafeBytes { try decompressor.decode($0, isLast: true, into: &output) }
    let matches = collected == plain && output.isEmpty
    #expect(matches)
}

@Test(arguments: [Compression.none, .gzip, .zstd])
func emptyInputDecodesToNothing(compression: Compression) throws {
    #expect(try decompress([], compression, chunkSize: 1).isEmpty)
    // A compressed empty payload is a complete member or frame.
    #expect(try decompress(compress([], compression), compression, chunkSize: 1).isEmpty)
}

@Test(arguments: [Compression.gzip, .zstd])
func highlyCompressibleChunkExpandsInOneCall(compression: Compression) throws {
    let plain = [UInt8](repeating: 0x61, count: 8 << 20)
    let compressed = compress(plain, compression)
    let output = try decompress(compressed, compression, chunkSize: compressed.count + 1)
    let matches = output == plain
    #expect(matches)
    // Exactly at the limit is allowed.
    let atLimit = try decompress(compressed, compression, chunkSize: compressed.count + 1, maxOutputPerCall: 8 << 20)
    #expect(atLimit.count == plain.count)
}

@Test(arguments: [Compression.gzip, .zstd])
func outputLimitStopsDecompressionBombs(compression: Compression) throws {
    let compressed = compress([UInt8](repeating: 0, count: 8 << 20), compression)
    #expect(compressed.count < 400_000)
    var caught: DecompressionError?
    do {
        _ = try decompress(compressed, compression, chunkSize: compressed.count, maxOutputPerCall: 1 << 20)
    } catch {
        caught = error as? DecompressionError
    }
    #expect(caught?.code == .outputLimitExceeded)
    #expect(caught?.description.contains("exceeds 1048576 bytes per chunk") == true)
    #expect(caught?.description.contains("decompression bomb") == true)
}

// MARK: - Multiple members and frames

@Test(arguments: [1, 7, 65_536])
func gzipMultiMember(chunkSize: Int) throws {
    let parts = [
        sampleBytes(count: 70_000, seed: 1), [], sampleBytes(count: 5, seed: 2), sampleBytes(count: 90_000, seed: 3),
    ]
    let file = parts.flatMap { gzipCompress($0) }
    let output = try decompress(file, .gzip, chunkSize: chunkSize)
    let matches = output == parts.flatMap { $0 }
    #expect(matches)
}

@Test func gzipTrailingZeroPaddingIsIgnored() throws {
    let plain = sampleBytes(count: 10_000)
    let file = gzipCompress(plain) + [UInt8](repeating: 0, count: 512)
    let output = try decompress(file, .gzip, chunkSize: 100)
    let matches = output == plain
    #expect(matches)
}

@Test(arguments: [1, 7, 65_536])
func zstdMultiFrameWithSkippableFrame(chunkSize: Int) throws {
    let parts = [sampleBytes(count: 70_000, seed: 4), [], sampleBytes(count: 90_000, seed: 5)]
    // A skippable frame: magic 0x184D2A50 and a 4-byte length, little-endian, then that many bytes.
    let skippable: [UInt8] = [0x50, 0x2a, 0x4d, 0x18, 3, 0, 0, 0, 9, 9, 9]
    let file = zstdCompress(parts[0]) + skippable + zstdCompress(parts[1]) + zstdCompress(parts[2], checksum: true)
    let output = try decompress(file, .zstd, chunkSize: chunkSize)
    let matches = output == parts.flatMap { $0 }
    #expect(matches)
}

// MARK: - Damaged input

@Test(arguments: [Compression.gzip, .zstd], [1, 7, 65_536])
func truncatedInputThrowsAtTheEnd(compression: Compression, chunkSize: Int) throws {
    let compressed = compress(sampleBytes(count: 50_000), compression)
    for keep in [1, 5, compressed.count / 2, compressed.count - 1] {
        let error = decodeError(Array(compressed.prefix(keep)), compression, chunkSize: chunkSize)
        #expect(error?.code == .truncatedData, "keeping \(keep) bytes")
        #expect(error?.offset == keep)
        #expect(error?.description.hasPrefix("unexpected end of \(compression.rawValue) data") == true)
    }
}

@Test func gzipCorruptHeaderAndChecksum() {
    var badMethod = gzipCompress(sampleBytes(count: 1000))
    badMethod[2] = 7
    let header = decodeError(badMethod, .gzip, chunkSize: 7)
    #expect(header?.code == .corruptData)
    #expect(header?.description.contains("unknown compression method") == true)
    #expect(header?.description.hasPrefix("gzip data is corrupt at compressed byte") == true)

    var badCRC = gzipCompress(sampleBytes(count: 1000))
    badCRC[badCRC.count - 6] ^= 0xff
    let crc = decodeError(badCRC, .gzip, chunkSize: 65_536)
    #expect(crc?.code == .corruptData)
    #expect(crc?.description.contains("incorrect data check") == true)
    #expect(crc.map { $0.offset! > badCRC.count - 8 } == true)

    let notGzip = decodeError(Array("id,name\n1,a\n".utf8), .gzip, chunkSize: 65_536)
    #expect(notGzip?.code == .corruptData)
}

@Test func zstdCorruptMagicAndChecksum() {
    var badMagic = zstdCompress(sampleBytes(count: 1000))
    badMagic[0] = 0x29
    let magic = decodeError(badMagic, .zstd, chunkSize: 7)
    #expect(magic?.code == .corruptData)
    #expect(magic?.description.hasPrefix("zstd data is corrupt between compressed bytes 0 and") == true)
    #expect(magic?.description.contains("Unknown frame descriptor") == true)

    var badChecksum = zstdCompress(sampleBytes(count: 1000), checksum: true)
    badChecksum[badChecksum.count - 1] ^= 0xff
    let checksum = decodeError(badChecksum, .zstd, chunkSize: 65_536)
    #expect(checksum?.code == .corruptData)
    #expect(checksum?.description.contains("checksum") == true)
    #expect(checksum?.description.contains("between compressed bytes 0 and \(badChecksum.count)") == true)
    #expect(checksum?.offset == 0)
}

@Test(arguments: [Compression.gzip, .zstd])
func corruptionAnywhereIsAnErrorNotACrash(compression: Compression) {
    let plain = sampleBytes(count: 30_000)
    let compressed = compression == .zstd ? zstdCompress(plain, checksum: true) : gzipCompress(plain)
    for position in stride(from: 0, to: compressed.count, by: max(1, compressed.count / 25)) {
        var damaged = compressed
        damaged[position] ^= 0x5a
        let error = decodeError(damaged, compression, chunkSize: 4096)
        #expect(error != nil, "flipped byte \(position) of \(compressed.count)")
    }
}

@Test(arguments: [Compression.gzip, .zstd], [3, 65_536])
func trailingGarbageIsReported(compression: Compression, chunkSize: Int) {
    let file = compress(sampleBytes(count: 1000), compression) + Array("hello, world".utf8)
    let error = decodeError(file, compression, chunkSize: chunkSize)
    #expect(error?.code == .corruptData)
    #expect(error?.description.contains("trailing garbage") == true)
    #expect(error?.offset == file.count - 12)
}

@Test func zstdWindowOverLimitIsRefused() throws {
    // Frame header without content size; window descriptor exponent 18 → a 256 MiB window; one empty raw block.
    let bigWindow: [UInt8] = [0x28, 0xb5, 0x2f, 0xfd, 0x00, 18 << 3, 0x01, 0x00, 0x00]
    let error = decodeError(bigWindow, .zstd, chunkSize: 65_536)
    #expect(error?.code == .unsupported)
    #expect(error?.description.contains("--long") == true)
    // The same frame with a 64 MiB window is fine.
    let smallWindow: [UInt8] = [0x28, 0xb5, 0x2f, 0xfd, 0x00, 16 << 3, 0x01, 0x00, 0x00]
    #expect(try decompress(smallWindow, .zstd, chunkSize: 1).isEmpty)
}

// MARK: - Usage

@Test func feedingAfterTheLastChunkIsAnError() throws {
    let decompressor = try Decompressor(.gzip)
    var output: [UInt8] = []
    let file = gzipCompress(Array("a,b\n".utf8))
    try file.withUnsafeBytes { try decompressor.decode($0, isLast: true, into: &output) }
    #expect(output == Array("a,b\n".utf8))
    #expect(throws: DecompressionError.self) {
        try file.withUnsafeBytes { try decompressor.decode($0, isLast: true, into: &output) }
    }
}

@Test(arguments: [Compression.gzip, .zstd])
func errorsAreSticky(compression: Compression) throws {
    let decompressor = try Decompressor(compression)
    var output: [UInt8] = []
    let garbage = Array("not compressed at all".utf8)
    var first: DecompressionError?
    var second: DecompressionError?
    do { try garbage.withUnsafeBytes { try decompressor.decode($0, isLast: false, into: &output) } } catch {
        first = error as? DecompressionError
    }
    let valid = compress(Array("a,b\n".utf8), compression)
    do { try valid.withUnsafeBytes { try decompressor.decode($0, isLast: true, into: &output) } } catch {
        second = error as? DecompressionError
    }
    #expect(first?.code == .corruptData)
    #expect(first == second)
}

@Test func aNewDecompressorCanBeSentToAnotherTask() async throws {
    let plain = sampleBytes(count: 10_000)
    let file = zstdCompress(plain)
    let decompressor = try Decompressor(.zstd)
    let output = try await Task {
        var output: [UInt8] = []
        try file.withUnsafeBytes { try decompressor.decode($0, isLast: true, into: &output) }
        return output
    }.value
    let matches = output == plain
    #expect(matches)
}
