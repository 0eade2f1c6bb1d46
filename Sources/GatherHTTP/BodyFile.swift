import AsyncHTTPClient
import NIOCore
import _NIOFileSystem

/// Streams a response body to a file without blocking the cooperative pool: the bytes go to `PATH.part`,
/// which is renamed to `PATH` only when the body is complete, so a file at `PATH` is always whole.
enum BodyFile {
    /// The file extension for a media type: `.json`, `.html`, `.txt`, `.xml`, `.csv`, or `.bin`.
    static func fileExtension(mediaType: String?) -> String {
        guard let type = mediaType else { return ".bin" }
        if type.hasSuffix("json") || type == "application/x-ndjson" { return ".json" }
        if type == "text/html" || type == "application/xhtml+xml" { return ".html" }
        if type.hasSuffix("xml") { return ".xml" }
        if type == "text/csv" { return ".csv" }
        if type.hasPrefix("text/") { return ".txt" }
        return ".bin"
    }

    /// Writes `body` to `path`; returns the bytes written.
    /// - Throws: ``FetchError`` with code `body_too_large` past `limit`, `io` when the disk refuses, or the
    ///   transport error that cut the body short (the `.part` file is removed in every case).
    static func write(_ body: HTTPClientResponse.Body, to path: String, limit: Int, url: String) async throws -> Int {
        let partial = FilePath(path + ".part")
        var written = 0
        do {
            try await FileSystem.shared.withFileHandle(
                forWritingAt: partial,
                options: .newFile(replaceExisting: true)
            ) { handle in
                for try await chunk in body {
                    if written + chunk.readableBytes > limit {
                        throw FetchError.bodyTooLarge(url: url, limit: limit, declared: nil)
                    }
                    try await handle.write(contentsOf: chunk, toAbsoluteOffset: Int64(written))
                    written += chunk.readableBytes
                }
            }
            _ = try? await FileSystem.shared.removeItem(at: FilePath(path))
            try await FileSystem.shared.moveItem(at: partial, to: FilePath(path))
            return written
        } catch let error as FileSystemError {
            _ = try? await FileSystem.shared.removeItem(at: partial)
            throw FetchError(.io, "could not write the body of \(url) to \(path): \(error.message); check the folder")
        } catch {
            _ = try? await FileSystem.shared.removeItem(at: partial)
            throw error
        }
    }
}
