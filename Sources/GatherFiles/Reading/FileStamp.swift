#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// What tells one version of a file from another without reading it: its absolute path, size and modification
/// time. A completed load or fetch whose input still has the same stamp is not run again.
public struct FileStamp: Sendable, Hashable {
    /// The path with symbolic links and `..` resolved.
    public var path: String
    public var size: Int64
    /// The modification time in nanoseconds since 1970.
    public var modifiedNanoseconds: Int64

    /// The stamp of the file at `path`, or `nil` when it cannot be read.
    public init?(_ path: String) {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        self.path = Self.absolute(path)
        self.size = Int64(info.st_size)
        self.modifiedNanoseconds = Int64(info.st_mtim.tv_sec) * 1_000_000_000 + Int64(info.st_mtim.tv_nsec)
    }

    /// `path` made absolute with links resolved (`path` itself when it does not exist).
    public static func absolute(_ path: String) -> String {
        guard let resolved = realpath(path, nil) else { return path }
        defer { free(resolved) }
        return String(cString: resolved)
    }
}
