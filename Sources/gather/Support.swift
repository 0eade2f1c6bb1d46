import Gather
import UnixSignals

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Small whole-file reads and writes for command-line arguments (request bodies, the summary file).
enum FileBytes {
    static func read(_ path: String) -> [UInt8]? {
        guard let file = fopen(path, "rb") else { return nil }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = fread(&chunk, 1, chunk.count, file)
            if n == 0 { break }
            bytes.append(contentsOf: chunk[0..<n])
        }
        return ferror(file) == 0 ? bytes : nil
    }

    static func write(_ bytes: [UInt8], to path: String) -> Bool {
        guard let file = fopen(path, "wb") else { return false }
        let written = fwrite(bytes, 1, bytes.count, file)
        return fclose(file) == 0 && written == bytes.count
    }
}

/// Standard input copied to a file, for a command that reads its input by offset (`gather load -`).
struct SpooledInput {
    let folder: String
    let path: String
    /// The first bytes, to tell the format when none is given.
    let head: [UInt8]

    /// Copies all of standard input to `NAME` in a new temporary folder.
    static func standardInput(name: String) throws -> SpooledInput {
        let folder = try TemporaryFolder.make()
        let path = folder + "/" + name
        let output = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard output >= 0 else { throw JobError.fatal("cannot create \(path): \(String(cString: strerror(errno)))") }
        defer { close(output) }
        var head: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let count = read(0, &chunk, chunk.count)
            if count < 0, errno == EINTR { continue }
            guard count >= 0 else {
                throw JobError.fatal("cannot read standard input: \(String(cString: strerror(errno)))")
            }
            if count == 0 { break }
            if head.count < 4096 { head += chunk[0..<min(count, 4096 - head.count)] }
            var written = 0
            while written < count {
                let n = chunk.withUnsafeBytes { write(output, $0.baseAddress! + written, count - written) }
                guard n > 0 else {
                    throw JobError.fatal("cannot write \(path): \(String(cString: strerror(errno)))")
                }
                written += n
            }
        }
        return SpooledInput(folder: folder, path: path, head: head)
    }

    /// Deletes the copy.
    func remove() {
        unlink(self.path)
        rmdir(self.folder)
    }
}

/// Ctrl-C and SIGTERM for long jobs: the first signal asks the job to stop gracefully (and says so with
/// `message`, read at that moment), a second cancels it, and so does the end of `grace` when one is given.
enum GracefulStop {
    static func run<T: Sendable>(
        message: @autoclosure @escaping @Sendable () -> String, grace: Duration? = nil,
        stop: @escaping @Sendable () -> Void, _ job: @escaping @Sendable () async throws -> T
    ) async throws -> T {
        let signals = await UnixSignalsSequence(trapping: .sigint, .sigterm)
        let work = Task { try await job() }
        let watcher = Task {
            var seen = 0
            for await signal in signals {
                seen += 1
                if seen == 1 {
                    stop()
                    Terminal.error("\ngather: \(signal): \(message())")
                    if let grace {
                        Task {
                            try? await Task.sleep(for: grace)
                            work.cancel()
                        }
                    }
                } else {
                    work.cancel()
                }
            }
        }
        defer { watcher.cancel() }
        return try await work.value
    }
}
