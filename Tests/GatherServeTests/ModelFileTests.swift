import GatherConfig
import GatherCore
import GatherProcess
import Testing

@testable import GatherServe

/// The model file's loader reads what a file leaves out from the spec's defaults (the ones the reference shows),
/// not from values of its own.
@Suite struct ModelFileTests {
    static func specDefault(_ spec: ComponentSpec, _ field: String) -> String? {
        spec.fields.first { $0.name == field }?.defaultValue
    }

    @Test func absentBatchAndLimitsTakeTheDefaultsTheReferenceShows() throws {
        let file = try ModelFile.parse(text: "name: m\nmodel: { command: [python3, w.py] }\n", file: "m.yaml")
        #expect(String(file.batching.maxSize) == Self.specDefault(ModelFile.batch, "max_size"))
        #expect(
            file.batching.maxWait == (try Duration(parsing: #require(Self.specDefault(ModelFile.batch, "max_wait")))))
        #expect(String(file.batching.queueLimit) == Self.specDefault(ModelFile.limits, "queue"))
        #expect(
            file.batching.deadline == (try Duration(parsing: #require(Self.specDefault(ModelFile.limits, "deadline")))))
        #expect(file.maxBody == (try parseByteCount(#require(Self.specDefault(ModelFile.limits, "max_body")))))
        #expect(
            file.readTimeout == (try Duration(parsing: #require(Self.specDefault(ModelFile.limits, "read_timeout")))))
        #expect(String(file.maxConnections) == Self.specDefault(ModelFile.limits, "max_connections"))
        let restarts = ProcessPool.Configuration.specFields.first { $0.name == "max_restarts" }?.defaultValue
        #expect(String(file.pool.maxRestarts) == restarts)
        #expect("\(file.host):\(file.port)" == Self.specDefault(ModelFile.spec, "listen"))
    }

    @Test func givenValuesWinOverTheDefaults() throws {
        let file = try ModelFile.parse(
            text: """
                name: m
                model: { command: [python3, w.py], max_restarts: 3 }
                batch: { max_size: 8 }
                limits: { deadline: 250ms, max_body: 1MiB }
                """, file: "m.yaml")
        #expect(file.batching.maxSize == 8)
        #expect(file.batching.deadline == .milliseconds(250))
        #expect(file.maxBody == 1 << 20)
        #expect(file.pool.maxRestarts == 3)
        // The fields left out of a block still take their spec defaults.
        #expect(String(file.batching.queueLimit) == Self.specDefault(ModelFile.limits, "queue"))
    }
}
