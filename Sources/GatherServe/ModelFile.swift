public import GatherConfig
public import GatherCore
public import GatherProcess
import GatherServer

/// A model file: what `gather serve FILE` serves, and how.
///
/// ```yaml
/// name: digits
/// listen: 127.0.0.1:8000
/// model:
///   command: [python3, digits_worker.py]   # the process pool's worker protocol; loads the model once
///   workers: auto
/// batch: { max_size: 64, max_wait: 5ms }
/// limits: { queue: 2048, deadline: 1s }
/// ```
public struct ModelFile: Sendable {
    /// The model's name (`/v2/models/NAME/infer`, metrics, the summary).
    public var name: String
    public var host = "127.0.0.1"
    public var port = 8000
    /// The workers that run the model.
    public var pool: ProcessPool.Configuration
    /// A record `--check` sends through the model.
    public var example: Value?
    public var batching = Batcher.Configuration()
    /// The largest request body.
    public var maxBody = 16 << 20
    /// How long a connection may stay silent (a slow body, an idle keep-alive) before it is closed.
    public var readTimeout: Duration = .seconds(30)
    /// Connections open at once; more wait in the listen backlog.
    public var maxConnections = 1024

    /// `pool` with ``ProcessPool/Configuration/isolatesFailures`` set: a batch mixes many clients' records, and
    /// one that crashes the model must cost only its own request.
    public init(name: String, pool: ProcessPool.Configuration) {
        self.name = name
        self.pool = pool
        self.pool.isolatesFailures = true
    }

    public static let model = ComponentSpec(
        name: "model", kind: "model",
        summary: "The worker processes that run the model (the process pool's worker protocol).",
        fields: ProcessPool.Configuration.specFields + [
            FieldSpec(
                "example", .any, description: "A record that `gather serve --check` sends through the model.",
                example: "{ pixels: [0, 0, 5, 13] }")
        ])

    public static let batch = ComponentSpec(
        name: "batch", kind: "batch", summary: "How requests are batched for the workers.",
        fields: [
            FieldSpec("max_size", .int, default: "64", description: "Records per batch."),
            FieldSpec(
                "max_wait", .duration, default: "5ms",
                description: "The longest the oldest request waits for company while other workers are busy "
                    + "(never longer than half the measured batch time; an idle server sends at once)."),
            FieldSpec("max_bytes", .byteCount, description: "Also cut batches at this many bytes of request body."),
        ])

    public static let limits = ComponentSpec(
        name: "limits", kind: "limits", summary: "What the server accepts, and how long requests may take.",
        fields: [
            FieldSpec("queue", .int, default: "2048", description: "Records waiting for a worker; beyond: 429."),
            FieldSpec(
                "deadline", .duration, default: "1s",
                description: "A request's time budget; the header X-Request-Deadline-Ms sets it per request."),
            FieldSpec("max_body", .byteCount, default: "16MiB", description: "The largest request body (413 past it)."),
            FieldSpec(
                "read_timeout", .duration, default: "30s",
                description: "How long a connection may stay silent before it is closed (slow bodies, idle clients)."),
            FieldSpec("max_connections", .int, default: "1024", description: "Connections open at once."),
        ])

    /// The spec of the whole file (`gather help model-file`).
    public static let spec = ComponentSpec(
        name: "model-file", kind: "model-file", summary: "A model served by `gather serve`.",
        fields: [
            FieldSpec("name", .string, required: true, description: "The model's name.", example: "digits"),
            FieldSpec(
                "listen", .string, default: "127.0.0.1:8000",
                description: "HOST:PORT to listen on (port 0 picks a free one; `gather serve --listen` overrides)."),
            FieldSpec("model", .object(model), required: true, description: "The worker processes."),
            FieldSpec("batch", .object(batch), default: "{}", description: "Batching."),
            FieldSpec("limits", .object(limits), default: "{}", description: "Queue, deadlines and request limits."),
        ],
        examples: [
            """
            name: digits
            listen: 127.0.0.1:8000
            model: { command: [python3, digits_worker.py], workers: auto }
            batch: { max_size: 64, max_wait: 5ms }
            limits: { queue: 2048, deadline: 1s }
            """
        ])

    /// The model file and its parts (`gather help model-file`, the generated reference).
    public static var specs: [ComponentSpec] { [Self.spec, Self.model, Self.batch, Self.limits] }

    /// Reads and checks the model file at `path`; every problem is reported with its file:line:column.
    public static func load(path: String, environment: [String: String]) throws(ConfigErrors) -> ModelFile {
        let node = try ConfigLoader.load(path: path, environment: environment)
        let directory = path.lastIndex(of: "/").map { String(path[..<$0]) } ?? "."
        return try Self.build(node, directory: directory)
    }

    /// Checks model file `text` (reported as `file`).
    public static func parse(text: String, file: String, directory: String = ".") throws(ConfigErrors) -> ModelFile {
        try Self.build(try ConfigLoader.parse(text: text, file: file, environment: [:]), directory: directory)
    }

    private static func build(_ node: ConfigNode, directory: String) throws(ConfigErrors) -> ModelFile {
        let (root, specErrors) = Self.spec.check(node)
        var errors = specErrors
        guard let model = root.object("model"),
            let pool = ProcessPool.Configuration(model, directory: directory, errors: &errors)
        else {
            try ConfigErrors(errors).throwIfAny()
            throw ConfigErrors([ConfigError(location: root.location, message: "add model: { command: [...] }")])
        }
        var file = ModelFile(name: root.string("name") ?? "model", pool: pool)
        file.example = model.value("example")?.value
        if let listen = root.string("listen") {
            do {
                (file.host, file.port) = try MetricsEndpoint.parseAddress(listen)
            } catch {
                errors.append(root.error(at: "listen", "\(error)"))
            }
        }
        // `batch` and `limits` default to `{}`, so both are here with every default of their specs filled in.
        if let batch = root.object("batch") {
            file.batching.maxSize = max(1, batch.int(defaulted: "max_size"))
            file.batching.maxWait = batch.duration(defaulted: "max_wait")
            file.batching.maxBytes = batch.byteCount("max_bytes")
        }
        if let limits = root.object("limits") {
            file.batching.queueLimit = max(1, limits.int(defaulted: "queue"))
            file.batching.deadline = limits.duration(defaulted: "deadline")
            file.maxBody = limits.byteCount(defaulted: "max_body")
            file.readTimeout = limits.duration(defaulted: "read_timeout")
            file.maxConnections = max(1, limits.int(defaulted: "max_connections"))
        }
        file.batching.workers = pool.workers
        try ConfigErrors(errors).throwIfAny()
        return file
    }
}
