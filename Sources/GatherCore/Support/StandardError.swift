#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Writes progress and diagnostics to standard error with `write(2)`, unbuffered, from any thread.
public enum StandardError {
    /// Writes `text` as is (add the line end yourself).
    public static func write(_ text: String) {
        var bytes = Array(text.utf8)
        bytes.withUnsafeMutableBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                #if canImport(Glibc)
                    let n = Glibc.write(2, buffer.baseAddress! + offset, buffer.count - offset)
                #else
                    let n = Darwin.write(2, buffer.baseAddress! + offset, buffer.count - offset)
                #endif
                if n < 0, errno == EINTR { continue }
                if n <= 0 { break }
                offset += n
            }
        }
    }
}
