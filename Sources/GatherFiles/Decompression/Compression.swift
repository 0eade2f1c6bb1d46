/// The compression wrapped around a file's bytes, which a ``Decompressor`` removes.
///
/// Decide from the file's first bytes when you have them, and fall back to its name:
///
/// ```swift
/// var compression = Compression.detect(magic: firstBytes)
/// if compression == .none { compression = Compression.implied(byPath: path) }
/// let decompressor = try Decompressor(compression)
/// ```
public enum Compression: String, Sendable, Hashable, CaseIterable {
    /// Plain bytes, passed through unchanged.
    case none
    /// gzip (RFC 1952), including files of several concatenated members (`cat a.gz b.gz`).
    case gzip
    /// Zstandard (RFC 8878), including files of several concatenated frames.
    case zstd

    /// The compression a file's first bytes announce: gzip starts `1f 8b`, zstd starts `28 b5 2f fd`;
    /// anything else, including fewer bytes than a magic number, is ``none``.
    ///
    /// - Parameter magic: The first bytes of the file (four are enough; more are ignored).
    public static func detect(magic: some Collection<UInt8>) -> Compression {
        var iterator = magic.makeIterator()
        let b0 = iterator.next()
        let b1 = iterator.next()
        if b0 == 0x1f && b1 == 0x8b { return .gzip }
        if b0 == 0x28 && b1 == 0xb5 && iterator.next() == 0x2f && iterator.next() == 0xfd { return .zstd }
        return .none
    }

    /// The compression a file name implies, ignoring case: `.gz`/`.gzip` → gzip, `.zst`/`.zstd` → zstd,
    /// anything else → ``none``.
    ///
    /// - Parameter path: A file name or path such as `"exports/orders.csv.gz"`.
    public static func implied(byPath path: String) -> Compression {
        let name = path.lowercased()
        if name.hasSuffix(".gz") || name.hasSuffix(".gzip") { return .gzip }
        if name.hasSuffix(".zst") || name.hasSuffix(".zstd") { return .zstd }
        return .none
    }
}
