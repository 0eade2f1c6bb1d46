public import GatherConfig

extension ProcessPool.Configuration {
    /// The keys that configure worker processes in YAML (a pipeline's `process` transform, a model file's
    /// `model`): `command`, `workers`, `timeout`, `max_restarts`, `env`, `cwd` and `memory_limit`.
    public static let specFields: [FieldSpec] = [
        FieldSpec(
            "command", .stringOrList(.string), required: true,
            description: "The program and its arguments: a list, or one line split like a shell would.",
            example: "[python3, score.py]"),
        FieldSpec(
            "workers", .any, default: "auto", description: "Worker processes: a number, or `auto` for one per core."),
        FieldSpec(
            "timeout", .duration,
            description: "The longest one batch may take; past it the worker is killed (SIGTERM, then SIGKILL). "
                + "Default: no limit."),
        FieldSpec(
            "max_restarts", .int, default: "10",
            description: "Failures in a row a worker may have (no answered batch between them) before it stays stopped."
        ),
        FieldSpec(
            "env", .map(.string), description: "Variables added to the workers' environment.",
            example: "{ OMP_NUM_THREADS: \"1\" }"),
        FieldSpec("cwd", .string, description: "The workers' folder (default: the config file's folder)."),
        FieldSpec(
            "memory_limit", .byteCount,
            description: "A cap on each worker's address space (RLIMIT_AS), like 4GiB: past it, allocations fail in "
                + "the worker (Python raises MemoryError for the batch) instead of the OOM killer."),
    ]

    /// The configuration the ``specFields`` of `object` describe; relative paths are taken from `directory` (the
    /// config file's folder). Problems are added to `errors` with their positions; `nil` when there is no command.
    public init?(_ object: ConfigObject, directory: String, errors: inout [ConfigError]) {
        var command = object.strings("command")
        if command.count == 1 {
            do {
                command = try ProcessPool.words(command[0])
            } catch {
                errors.append(object.error(at: "command", "\(error)"))
                return nil
            }
        }
        guard let program = command.first, !program.isEmpty else {
            errors.append(object.error(at: "command", "give the program to run, like command: [python3, score.py]"))
            return nil
        }
        self.init(command: command)
        if let workers = object.value("workers") {
            switch workers.value {
            case .int(let count) where count >= 1: self.workers = Int(count)
            case .string("auto"): break
            default:
                errors.append(
                    ConfigError(
                        location: workers.location,
                        message: "workers: give a number of processes (1 or more), or auto for one per core"))
            }
        }
        self.timeout = object.duration("timeout")
        self.maxRestarts = max(0, object.int(defaulted: "max_restarts"))
        self.environment = Dictionary(object.stringMap("env").map { ($0.key, $0.value) }, uniquingKeysWith: { $1 })
        let cwd = object.string("cwd")
        self.workingDirectory =
            cwd.map { $0.hasPrefix("/") || directory == "." ? $0 : directory + "/" + $0 }
            ?? (directory == "." ? nil : directory)
        self.memoryLimit = object.byteCount("memory_limit")
    }
}
