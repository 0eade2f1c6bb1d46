import GatherCore
import GatherFormats
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// One slot of the pool: a long-lived worker process, started again (with backoff) when it dies.
///
/// The pool gives a slot one batch at a time, so its state changes only between batches.
final class Worker: Sendable {
    let index: Int
    private let configuration: ProcessPool.Configuration
    private let running = Mutex<Running?>(nil)
    /// Restarts over the slot's life, failures since its last answered batch (what `maxRestarts` bounds), and
    /// batches sent.
    private let counters = Mutex<(restarts: Int, failuresInARow: Int, batches: Int)>((0, 0, 0))

    /// A started process and its three pipes.
    struct Running: Sendable {
        var child: ChildProcess
        var frames: FrameMailbox
        var stderr: StderrTail
        var writer: PipeWriter
    }

    /// How a batch went: answered (every record has a result or an error), or the worker failed and must be
    /// started again.
    enum BatchResult: Sendable {
        case answered([RecordOutcome])
        case failed(String)
        /// Failed by passing the batch timeout (the worker was killed).
        case timedOut(String)
    }

    init(index: Int, configuration: ProcessPool.Configuration) {
        self.index = index
        self.configuration = configuration
    }

    var restarts: Int { self.counters.withLock { $0.restarts } }
    var pid: Int32? { self.running.withLock { $0?.child.pid } }

    /// Starts the process and waits for its `{"ready": true}` frame.
    ///
    /// - Throws: ``ProcessPoolError`` when the command cannot start or dies (or stays silent) before it is ready.
    func start() async throws {
        let configuration = self.configuration
        let child = try ChildProcess.spawn(
            command: configuration.command, environment: configuration.environment,
            workingDirectory: configuration.workingDirectory, memoryLimit: configuration.memoryLimit)
        let index = self.index
        let label = "gather.worker.\(index).\(child.pid)"
        let running = Running(
            child: child, frames: FrameMailbox(reading: child.stdout, label: label + ".out"),
            stderr: StderrTail(reading: child.stderr, label: label + ".err") { line in
                configuration.stderrLine(index, line)
            },
            writer: PipeWriter(fd: child.stdin, label: label + ".in"))
        self.running.withLock { $0 = running }
        let event = await running.frames.next(timeout: configuration.startupTimeout)
        switch event {
        case .frame(let bytes):
            if case .object(let record)? = try? JSONReader.parse(bytes), record["ready"] == .bool(true) { return }
            _ = await child.terminate()
            throw ProcessPoolError(
                "worker \(index) (\(configuration.commandText)) sent \(Self.excerpt(bytes)) before "
                    + "{\"ready\": true}: a worker announces itself first (python/gather_worker.py does)")
        case .end, .garbage:
            var status = await child.waitForExit(timeout: .seconds(2))
            if status == nil { status = await child.terminate() }
            var reason =
                "worker \(index) (\(configuration.commandText)) \(ChildProcess.describe(status!)) before it "
                + "was ready"
            if case .garbage(let text) = event { reason += " (\(text))" }
            throw ProcessPoolError(reason + (await Self.tail(running.stderr)))
        case .timeout:
            _ = await child.terminate()
            throw ProcessPoolError(
                "worker \(index) (\(configuration.commandText)) was not ready within \(configuration.startupTimeout): "
                    + "it was killed; raise the startup timeout if loading takes longer"
                    + (await Self.tail(running.stderr)))
        }
    }

    /// Sends one batch and waits for its answer (at most `timeout`).
    func run(_ records: [Value], timeout: Duration?) async -> BatchResult {
        guard let running = self.running.withLock({ $0 }) else {
            return .failed("worker \(self.index) is not running")
        }
        let id = self.counters.withLock { counters -> Int in
            counters.batches += 1
            return counters.batches
        }
        var payload: [UInt8] = [0, 0, 0, 0]
        JSONWriter.write(.object(Record([("id", .int(Int64(id))), ("records", .array(records))])), into: &payload)
        let length = payload.count - 4
        payload[0] = UInt8(truncatingIfNeeded: length >> 24)
        payload[1] = UInt8(truncatingIfNeeded: length >> 16)
        payload[2] = UInt8(truncatingIfNeeded: length >> 8)
        payload[3] = UInt8(truncatingIfNeeded: length)
        let who = "worker \(self.index) (pid \(running.child.pid))"
        let wrote = await running.writer.write(payload)
        let event: FrameEvent = wrote ? await running.frames.next(timeout: timeout) : .end
        switch event {
        case .frame(let bytes):
            switch Self.decode(bytes, id: id, count: records.count) {
            case .success(let outcomes):
                self.counters.withLock { $0.failuresInARow = 0 }
                return .answered(outcomes)
            case .failure(let problem):
                _ = await running.child.terminate()
                return .failed("\(who) \(problem.message)" + (await Self.tail(running.stderr)))
            }
        case .end:
            var status = await running.child.waitForExit(timeout: .seconds(2))
            if status == nil { status = await running.child.terminate() }
            return .failed(
                "\(who) \(ChildProcess.describe(status!)) while handling a batch of \(records.count) records"
                    + (await Self.tail(running.stderr)))
        case .garbage(let text):
            _ = await running.child.terminate()
            return .failed("\(who) broke the protocol: \(text)" + (await Self.tail(running.stderr)))
        case .timeout:
            let status = await running.child.terminate()
            return .timedOut(
                "\(who) did not answer within the timeout of \(timeout ?? .zero) and was killed "
                    + "(\(ChildProcess.describe(status)))" + (await Self.tail(running.stderr)))
        }
    }

    /// Starts the process again after a failure, waiting first (100 ms doubling per failure in a row, at most
    /// 5 s). `false` when the slot has failed more than `maxRestarts` times in a row (without answering a batch
    /// in between: a crash loop, not a rare crash in a long run) or cannot start.
    func restart(isClosing: @Sendable () -> Bool) async -> Bool {
        let inARow = self.counters.withLock { counters -> Int in
            counters.restarts += 1
            counters.failuresInARow += 1
            return counters.failuresInARow
        }
        if let old = self.running.withLock({ $0 }) { _ = await old.child.terminate() }
        guard inARow <= self.configuration.maxRestarts else {
            self.configuration.stderrLine(
                self.index,
                "gather: worker \(self.index) failed \(inARow) times in a row, more than max_restarts "
                    + "(\(self.configuration.maxRestarts)): it stays stopped")
            return false
        }
        let delay = Duration.milliseconds(min(5_000, 100 << min(6, inARow - 1)))
        try? await Task.sleep(for: delay)
        if isClosing() { return false }
        do {
            try await self.start()
            if isClosing() {
                await self.stop(grace: .seconds(1))
                return false
            }
            return true
        } catch {
            self.configuration.stderrLine(self.index, "gather: worker \(self.index) could not restart: \(error)")
            return false
        }
    }

    /// Stops the process: stdin closed (a worker exits at the end of its input), then SIGTERM and SIGKILL.
    func stop(grace: Duration) async {
        guard let running = self.running.withLock({ $0 }) else { return }
        _ = await running.child.stop(grace: grace)
    }

    private static func decode(_ bytes: [UInt8], id: Int, count: Int) -> Result<[RecordOutcome], ProcessPoolError> {
        guard case .object(let answer)? = try? JSONReader.parse(bytes) else {
            return .failure(ProcessPoolError("answered with a frame that is not a JSON object: \(excerpt(bytes))"))
        }
        guard answer["id"] == .int(Int64(id)) else {
            return .failure(
                ProcessPoolError(
                    "answered batch \(answer["id"].map { JSONWriter.string($0) } ?? "(no id)") while batch \(id) "
                        + "was asked"))
        }
        if case .string(let message)? = answer["error"] {
            return .success(Array(repeating: .error(message), count: count))
        }
        guard case .array(let results)? = answer["results"], results.count == count else {
            return .failure(
                ProcessPoolError("answered without one result per record (\(count) sent): \(excerpt(bytes))"))
        }
        var outcomes = results.map { RecordOutcome.result($0) }
        if case .array(let errors)? = answer["errors"] {
            for entry in errors {
                guard case .array(let pair) = entry, pair.count == 2, case .int(let index) = pair[0],
                    (0..<Int64(count)).contains(index)
                else { continue }
                outcomes[Int(index)] = .error(pair[1].stringValue ?? JSONWriter.string(pair[1]))
            }
        }
        return .success(outcomes)
    }

    private static func excerpt(_ bytes: [UInt8]) -> String {
        let text = String(decoding: bytes.prefix(120), as: UTF8.self)
        return bytes.count > 120 ? text + "…" : text
    }

    private static func tail(_ stderr: StderrTail) async -> String {
        await stderr.drained()
        let lines = stderr.last(5)
        return lines.isEmpty ? "" : "; its last stderr lines: " + lines.joined(separator: " | ")
    }
}
