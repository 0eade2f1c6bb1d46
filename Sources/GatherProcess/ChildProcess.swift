import CProcessSpawn
import Dispatch
import GatherCore
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// One spawned worker process: its pid and the parent's ends of its stdin, stdout and stderr pipes.
///
/// Spawned by the C shim `gather_spawn` (fork + exec), not posix_spawn: the child must ask the kernel to kill it
/// when Gather dies (`PR_SET_PDEATHSIG`), which posix_spawn cannot arrange. The child runs in a process group of
/// its own, so a terminal's Ctrl-C reaches Gather only, and ``signal(_:)`` reaches the worker's own children too.
final class ChildProcess: Sendable {
    let pid: pid_t
    let stdin: Int32
    let stdout: Int32
    let stderr: Int32
    private let exit = ExitStatusBox()
    private let stdinOpen = Atomic<Bool>(true)

    private init(pid: pid_t, stdin: Int32, stdout: Int32, stderr: Int32) {
        self.pid = pid
        self.stdin = stdin
        self.stdout = stdout
        self.stderr = stderr
    }

    /// Starts `command` (searched in `PATH` when it has no slash).
    ///
    /// - Throws: ``ProcessPoolError`` naming the command and what failed (not found, not executable…).
    static func spawn(
        command: [String], environment: [String: String], workingDirectory: String?, memoryLimit: Int?
    ) throws -> ChildProcess {
        guard let program = command.first, !program.isEmpty else {
            throw ProcessPoolError("the worker command is empty: give a program and its arguments")
        }
        var input: [Int32] = [0, 0]
        var output: [Int32] = [0, 0]
        var errors: [Int32] = [0, 0]
        guard gather_pipe_cloexec(&input) == 0 else { throw ProcessPoolError.system("pipe", errno) }
        guard gather_pipe_cloexec(&output) == 0 else {
            close(input[0])
            close(input[1])
            throw ProcessPoolError.system("pipe", errno)
        }
        guard gather_pipe_cloexec(&errors) == 0 else {
            for fd in input + output { close(fd) }
            throw ProcessPoolError.system("pipe", errno)
        }
        var merged = ProcessEnvironment.all()
        for (key, value) in environment { merged[key] = value }
        let environmentLines = merged.map { "\($0.key)=\($0.value)" }
        var errorNumber: Int32 = 0
        var errorStep: UnsafePointer<CChar>?
        let pid = withCStrings(command) { argv in
            withCStrings(environmentLines) { envp in
                gather_spawn(
                    argv, envp, workingDirectory, input[0], output[1], errors[1], Int64(memoryLimit ?? 0),
                    &errorNumber, &errorStep)
            }
        }
        close(input[0])
        close(output[1])
        close(errors[1])
        guard pid > 0 else {
            close(input[1])
            close(output[0])
            close(errors[0])
            let step = errorStep.map { String(cString: $0) } ?? "spawn"
            let reason = String(cString: strerror(errorNumber))
            switch (step, errorNumber) {
            case ("exec", ENOENT):
                throw ProcessPoolError(
                    "cannot start the worker command \(program): not found"
                        + (program.contains("/")
                            ? "" : " in PATH (\(merged["PATH"] ?? "unset"))")
                        + "; check the command, or give its full path")
            case ("exec", EACCES):
                throw ProcessPoolError(
                    "cannot start the worker command \(program): not executable (permission denied); "
                        + "chmod +x it, or run it through its interpreter (python3 script.py)")
            case ("chdir", _):
                throw ProcessPoolError(
                    "cannot start the worker command \(program) in \(workingDirectory ?? "."): \(reason); check cwd")
            default:
                throw ProcessPoolError("cannot start the worker command \(program): \(step) failed: \(reason)")
            }
        }
        let child = ChildProcess(pid: pid, stdin: input[1], stdout: output[0], stderr: errors[0])
        let exit = child.exit
        DispatchQueue(label: "gather.worker.\(pid).wait").async {
            var status: Int32 = 0
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
            exit.set(status)
        }
        return child
    }

    /// Sends `signal` to the worker's process group (the worker and what it started).
    func signal(_ signal: Int32) {
        guard !self.exit.hasExited else { return }
        if kill(-self.pid, signal) != 0 { kill(self.pid, signal) }
    }

    /// Closes the worker's stdin: a worker that follows the protocol then exits.
    func closeInput() {
        if self.stdinOpen.exchange(false, ordering: .acquiringAndReleasing) { close(self.stdin) }
    }

    /// Waits for the worker to exit and returns its raw wait status.
    func waitForExit() async -> Int32 { await self.exit.value() }

    /// Waits at most `timeout` for the worker to exit.
    func waitForExit(timeout: Duration) async -> Int32? {
        await withTaskGroup(of: Int32?.self) { group in
            group.addTask { await self.exit.value() }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            if first == nil { return self.exit.peek }
            return first
        }
    }

    var hasExited: Bool { self.exit.hasExited }

    /// Stops the worker for good: stdin closed, `grace` to exit, then SIGTERM, then SIGKILL; always reaped.
    func stop(grace: Duration) async -> Int32 {
        self.closeInput()
        if let status = await self.waitForExit(timeout: grace) { return self.finish(status) }
        self.signal(SIGTERM)
        if let status = await self.waitForExit(timeout: .seconds(1)) { return self.finish(status) }
        self.signal(SIGKILL)
        return self.finish(await self.waitForExit())
    }

    /// Kills the worker now (SIGTERM, then SIGKILL after `grace`) and reaps it.
    func terminate(grace: Duration = .seconds(1)) async -> Int32 {
        self.signal(SIGTERM)
        if let status = await self.waitForExit(timeout: grace) { return self.finish(status) }
        self.signal(SIGKILL)
        return self.finish(await self.waitForExit())
    }

    private func finish(_ status: Int32) -> Int32 {
        self.closeInput()
        // The reader threads close stdout and stderr when they see the end of them.
        return status
    }

    /// A wait status in words: "exited with status 3", "was killed by signal 11 (SIGSEGV)".
    static func describe(_ status: Int32) -> String {
        let signal = status & 0x7f
        if signal == 0 { return "exited with status \((status >> 8) & 0xff)" }
        let names: [Int32: String] = [
            SIGSEGV: "SIGSEGV", SIGKILL: "SIGKILL", SIGTERM: "SIGTERM", SIGABRT: "SIGABRT", SIGBUS: "SIGBUS",
            SIGFPE: "SIGFPE", SIGILL: "SIGILL", SIGINT: "SIGINT", SIGPIPE: "SIGPIPE",
        ]
        let extra = signal == SIGKILL ? ", perhaps by the kernel for memory" : ""
        return "was killed by signal \(signal) (\(names[signal] ?? "signal \(signal)")\(extra))"
    }
}

/// The exit status of a child, set once by its waiter thread.
final class ExitStatusBox: Sendable {
    private struct State {
        var status: Int32?
        var waiters: [CheckedContinuation<Int32, Never>] = []
    }
    private let state = Mutex(State())

    func set(_ status: Int32) {
        let waiters = self.state.withLock { state in
            state.status = status
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume(returning: status) }
    }

    var hasExited: Bool { self.state.withLock { $0.status != nil } }
    var peek: Int32? { self.state.withLock { $0.status } }

    func value() async -> Int32 {
        await withCheckedContinuation { continuation in
            let ready: Int32? = self.state.withLock { state in
                if let status = state.status { return status }
                state.waiters.append(continuation)
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }
}

/// Calls `body` with a NULL-terminated C array of the strings.
private func withCStrings<T>(_ strings: [String], _ body: (UnsafePointer<UnsafePointer<CChar>?>) -> T) -> T {
    let copies = strings.map { strdup($0) }
    defer { for copy in copies { free(copy) } }
    var pointers: [UnsafePointer<CChar>?] = copies.map { UnsafePointer($0) }
    pointers.append(nil)
    return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
}
