// swift-tools-version:6.1
import PackageDescription

/// One set of settings for every target: Swift 6 language mode (strict concurrency),
/// `any` spelled out for existentials.
let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny")
]

let package = Package(
    name: "gather",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "gather", targets: ["gather"]),
        .library(name: "Gather", targets: ["Gather"]),
        .library(name: "GatherCore", targets: ["GatherCore"]),
        .library(name: "GatherTesting", targets: ["GatherTesting"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.3"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.35.2"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket", from: "2.8.1"),
        .package(url: "https://github.com/hummingbird-project/swift-websocket", from: "1.6.2"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-distributed-tracing", from: "1.7.3"),
        // Only the OTLP/HTTP exporter: the gRPC one would add grpc-swift's packages to every clean build.
        .package(url: "https://github.com/swift-otel/swift-otel", from: "1.6.0", traits: ["OTLPHTTP"]),
    ],
    targets: [
        // Values and their JSON text, bounded fan-out, flow control, retry, time: no I/O, no server or database.
        .target(
            name: "GatherCore",
            dependencies: [
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ],
            swiftSettings: swiftSettings
        ),
        // JSON (reader, minifier, record stream), JSONPath (RFC 9535) and CSV: the formats records arrive in.
        .target(
            name: "GatherFormats",
            dependencies: ["GatherCore"],
            swiftSettings: swiftSettings
        ),
        // The expression language of transforms (`derive`, `filter`) and templates.
        .target(
            name: "GatherExpressions",
            dependencies: ["GatherCore"],
            swiftSettings: swiftSettings
        ),
        // Schema and sinks: Normalizer, TableSchema, the Sink protocol, SinkBatch, RunLedger, ErrorDigest.
        .target(
            name: "GatherStore",
            dependencies: [
                "GatherCore",
                "GatherFormats",
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ],
            swiftSettings: swiftSettings
        ),
        // The fetcher: AsyncHTTPClient behind the flow controller and retry policy.
        .target(
            name: "GatherHTTP",
            dependencies: [
                "GatherFormats",
                "GatherCore",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOHTTPCompression", package: "swift-nio-extras"),
                .product(name: "_NIOFileSystem", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ],
            swiftSettings: swiftSettings
        ),
        // HTTP servers (Hummingbird): one lifecycle for the test fixtures, the Prometheus `/metrics` endpoint
        // (`--metrics`) and what serves models.
        .target(
            name: "GatherServer",
            dependencies: [
                "GatherCore",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: swiftSettings
        ),
        // Worker processes: spawning (a C fork/exec shim for PR_SET_PDEATHSIG), framing, restarts, timeouts,
        // reaping. Pipeline `process` stages, `gather map` and serving use it.
        .target(
            name: "GatherProcess",
            dependencies: ["GatherFormats", "GatherCore", "GatherConfig", "CProcessSpawn"],
            swiftSettings: swiftSettings
        ),
        .target(name: "CProcessSpawn"),
        // SQLite sink (GRDB over the system SQLite).
        .target(
            name: "GatherSQLite",
            dependencies: [
                "GatherStore",
                "GatherCore",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
            ],
            swiftSettings: swiftSettings
        ),
        // PostgreSQL sink and reads (PostgresNIO): COPY bulk writes, merge via staging, state in the same transaction.
        .target(
            name: "GatherPostgres",
            dependencies: [
                "GatherFormats", "GatherExpressions", "GatherStore",
                "GatherCore",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // HTML: libxml2's forgiving HTML parser, charset detection, XPath 1.0, CSS selectors translated to XPath,
        // and extraction specs (named fields → values).
        .target(
            name: "GatherHTML",
            dependencies: ["GatherCore", "CLibXML2"],
            swiftSettings: swiftSettings
        ),
        // Crawling: a frontier and seen-set in the destination's state store, robots.txt (RFC 9309), scope rules,
        // politeness through the fetcher's flow controller, extraction with GatherHTML.
        .target(
            name: "GatherCrawl",
            dependencies: ["GatherStore", "GatherCore", "GatherHTTP", "GatherHTML"],
            swiftSettings: swiftSettings
        ),
        // Jobs the CLI runs: `fetch` (input → fetcher → JSONL / files / SQLite, progress, summary).
        .target(
            name: "GatherJobs",
            dependencies: [
                "GatherFormats", "GatherStore",
                "GatherCore",
                "GatherHTTP",
                "GatherProcess",
                "GatherSQLite",
                "GatherPostgres",
                "GatherFiles",
                "GatherCrawl",
                "GatherPipeline",
                "GatherCoordinator",
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ],
            swiftSettings: swiftSettings
        ),
        // Files: chunked reading off the cooperative pool, gzip / zstd, CSV / JSONL / JSON readers, `gather load`.
        .target(
            name: "GatherFiles",
            dependencies: [
                "GatherFormats", "GatherStore",
                "GatherCore",
                "GatherSQLite",
                "GatherPostgres",
                "CZlib",
                "CZstd",
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // YAML config files checked against component specs: positions, suggestions, env substitution, the
        // generated reference (pipelines and model files use it).
        .target(
            name: "GatherConfig",
            dependencies: [
                "GatherFormats",
                "GatherCore",
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: swiftSettings
        ),
        // Model serving: a model's worker processes behind an HTTP API with adaptive batching and shedding.
        .target(
            name: "GatherServe",
            dependencies: [
                "GatherFormats",
                "GatherCore",
                "GatherConfig",
                "GatherProcess",
                "GatherServer",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "DequeModule", package: "swift-collections"),
            ],
            swiftSettings: swiftSettings
        ),
        // Live streams: sources (SSE, file tail) with resume positions, event time and watermarks, keyed
        // windows and aggregates, and a job that commits rows, window state and positions in one transaction.
        .target(
            name: "GatherStream",
            dependencies: [
                "GatherFormats", "GatherStore",
                "GatherCore",
                "GatherConfig",
                "GatherHTTP",
                "GatherPostgres",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "WSClient", package: "swift-websocket"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ],
            swiftSettings: swiftSettings
        ),
        // Scale-out: runs, units, fenced leases and heartbeats in PostgreSQL, shared by workers on many hosts.
        .target(
            name: "GatherCoordinator",
            dependencies: ["GatherFormats", "GatherCore", "GatherPostgres"],
            swiftSettings: swiftSettings
        ),
        // Pipelines: REST resources, transforms, the runner and its state.
        .target(
            name: "GatherPipeline",
            dependencies: [
                "GatherFormats", "GatherExpressions", "GatherStore",
                "GatherCore",
                "GatherConfig",
                "GatherHTTP",
                "GatherSQLite",
                "GatherFiles",
                "GatherPostgres",
                "GatherHTML",
                "GatherCrawl",
                "GatherProcess",
                "GatherStream",
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ],
            swiftSettings: swiftSettings
        ),
        // Umbrella: `import Gather` gives a library user everything above.
        .target(
            name: "Gather",
            dependencies: [
                "GatherCore", "GatherHTTP", "GatherSQLite", "GatherPostgres", "GatherJobs", "GatherFiles",
                "GatherPipeline", "GatherHTML", "GatherCrawl", "GatherProcess", "GatherConfig", "GatherServe",
                "GatherStream", "GatherCoordinator", "GatherFormats", "GatherExpressions", "GatherStore",
            ],
            swiftSettings: swiftSettings
        ),
        // Fixture HTTP server for tests (shipped, like HummingbirdTesting).
        .target(
            name: "GatherTesting",
            dependencies: [
                "GatherCore",
                "GatherPostgres",
                "GatherServer",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdHTTP2", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                "CZlib",
                "CZstd",
            ],
            swiftSettings: swiftSettings
        ),
        .systemLibrary(name: "CZlib", path: "Sources/CZlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CZstd", path: "Sources/CZstd", providers: [.apt(["libzstd-dev"])]),
        .systemLibrary(
            name: "CLibXML2", path: "Sources/CLibXML2", pkgConfig: "libxml-2.0", providers: [.apt(["libxml2-dev"])]),
        // The command-line tool: parses arguments and wires modules together.
        .executableTarget(
            name: "gather",
            dependencies: [
                "Gather",
                "GatherServer",
                "GatherTesting",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "OTel", package: "swift-otel"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "GatherCoreTests",
            dependencies: ["GatherFormats", "GatherExpressions", "GatherStore", "GatherCore", "GatherTesting"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "GatherFormatsTests",
            dependencies: ["GatherFormats", "GatherCore"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "GatherExpressionsTests",
            dependencies: ["GatherExpressions", "GatherCore"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "GatherStoreTests",
            dependencies: ["GatherStore", "GatherCore", "GatherFormats"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "GatherHTTPTests",
            dependencies: [
                "GatherFormats", "GatherHTTP", "GatherTesting", .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: swiftSettings
        ),
        // The jobs as a library: fetch's job against the in-process fixtures.
        .testTarget(
            name: "GatherJobsTests",
            dependencies: [
                "GatherJobs", "GatherHTTP", "GatherSQLite", "GatherTesting", "GatherCoordinator", "GatherPipeline",
                "GatherPostgres", "GatherStore",
            ],
            swiftSettings: swiftSettings
        ),
        // The `gather` executable end to end, as a child process: every command, the kill tests, real servers.
        .testTarget(
            name: "GatherCLITests",
            dependencies: [
                "GatherFormats", "GatherStore",
                "GatherJobs", "GatherFiles", "GatherPostgres", "GatherTesting", "GatherConfig", "GatherStream",
                "GatherCoordinator",
                "gather",
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "GatherConfigTests",
            dependencies: ["GatherFormats", "GatherConfig", "GatherTesting"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "GatherCoordinatorTests",
            dependencies: ["GatherCoordinator", "GatherPostgres", "GatherTesting", "GatherCore"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "GatherServeTests",
            dependencies: ["GatherFormats", "GatherServe", "GatherCore", "GatherConfig", "GatherProcess"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "GatherProcessTests",
            dependencies: ["GatherProcess", "GatherTesting"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "GatherSQLiteTests",
            dependencies: ["GatherStore", "GatherSQLite", "GatherTesting"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "GatherFilesTests",
            dependencies: ["GatherFormats", "GatherStore", "GatherFiles", "GatherTesting", "gather"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "GatherHTMLTests",
            dependencies: ["GatherHTML"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "GatherCrawlTests",
            dependencies: ["GatherCrawl", "GatherFiles", "GatherSQLite", "GatherHTML", "GatherHTTP", "GatherTesting"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "GatherPostgresTests",
            dependencies: ["GatherStore", "GatherPostgres", "GatherTesting"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "GatherStreamTests",
            dependencies: [
                "GatherFormats", "GatherStore",
                "GatherStream", .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "GatherPipelineTests",
            dependencies: [
                "GatherFormats", "GatherExpressions", "GatherStore", "GatherPipeline", "GatherConfig", "GatherPostgres",
                "GatherTesting", "gather",
            ],
            swiftSettings: swiftSettings
        ),
    ]
)
