import Foundation

/// The built `gather` executable, next to the test bundle.
func gatherExecutable() -> String {
    var folder = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    for _ in 0..<3 {
        let candidate = folder.appendingPathComponent("gather").path
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        folder = folder.deletingLastPathComponent()
    }
    let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
    return packageRoot.appendingPathComponent(".build/debug/gather").path
}

/// A finished child process.
struct ProcessResult {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// Runs `gather` with arguments; `whileRunning` gets the process (to send it signals). With a `launcher` (like
/// `["/usr/bin/env", "ip", "netns", "exec", "gather-w1"]`), that runs gather; it must exec it, so that the process
/// is gather's own.
func runGather(
    _ arguments: [String],
    stdin: String? = nil,
    keepStdinOpen: Bool = false,
    environment: [String: String]? = nil,
    launcher: [String] = [],
    whileRunning: ((Process) async throws -> Void)? = nil
) async throws -> ProcessResult {
    let process = Process()
    if let first = launcher.first {
        process.executableURL = URL(fileURLWithPath: first)
        process.arguments = launcher.dropFirst() + [gatherExecutable()] + arguments
    } else {
        process.executableURL = URL(fileURLWithPath: gatherExecutable())
        process.arguments = arguments
    }
    if let environment { process.environment = environment }
    let out = Pipe()
    let err = Pipe()
    process.standardOutput = out
    process.standardError = err
    let input = Pipe()
    process.standardInput = input
    try process.run()
    if let stdin {
        input.fileHandleForWriting.write(Data(stdin.utf8))
    }
    if !keepStdinOpen { try input.fileHandleForWriting.close() }
    defer { try? input.fileHandleForWriting.close() }
    // Drain the pipes concurrently so a full pipe cannot block the child. The reads block, so they run on threads
    // of their own: blocking the cooperative pool would starve the in-process fixture server the child talks to.
    async let stdoutData = readToEnd(out.fileHandleForReading)
    async let stderrData = readToEnd(err.fileHandleForReading)
    if let whileRunning { try await whileRunning(process) }
    let outText = String(decoding: await stdoutData, as: UTF8.self)
    let errText = String(decoding: await stderrData, as: UTF8.self)
    while process.isRunning { try await Task.sleep(for: .milliseconds(10)) }
    return ProcessResult(status: process.terminationStatus, stdout: outText, stderr: errText)
}

/// Reads a pipe to its end on a dedicated thread.
func readToEnd(_ handle: FileHandle) async -> Data {
    await withCheckedContinuation { continuation in
        Thread.detachNewThread {
            continuation.resume(returning: handle.readDataToEndOfFile())
        }
    }
}
