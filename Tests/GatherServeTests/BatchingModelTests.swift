import GatherCore
import GatherFormats
import Testing

@testable import GatherServe

/// The fitted cost of a batch, and the KServe v2 tensors ⇄ records mapping, without a server.
@Suite struct BatchingModelTests {
    @Test func theCostFitSplitsFixedAndPerRecordAndRemembersHowSlowBatchesRan() {
        var cost = ServiceCost()
        #expect(!cost.measured)
        // All at one instant: only the per-batch fading counts until the clock moves.
        let now = ContinuousClock.now
        // 10 ms a batch plus 1 ms a record, exactly.
        for records in [1, 8, 16, 32, 64, 4, 48] {
            cost.add(records: records, seconds: 0.010 + 0.001 * Double(records), at: now)
        }
        #expect(abs(cost.fixed - 0.010) < 1e-9)
        #expect(abs(cost.perRecord - 0.001) < 1e-9)
        // While the fit was learning, batches ran over what it said (7 ms at worst, now fading): that counts too.
        #expect(cost.overrun(at: now) > 0 && cost.overrun(at: now) < 0.008)
        #expect(abs(cost.slowSeconds(forBatchOf: 64, at: now) - (0.074 + cost.overrun(at: now))) < 1e-9)
        // One batch ran 50 ms over: a request is sent only if its batch would be in time even that slow.
        cost.add(records: 64, seconds: 0.074 + 0.050, at: now)
        #expect(cost.overrun(at: now) > 0.049)
        #expect(cost.slowSeconds(forBatchOf: 64, at: now) > cost.seconds(forBatchOf: 64) + 0.049)
        // It fades once batches are on time again: half in about 70 batches...
        let raised = cost.overrun(at: now)
        for _ in 0..<70 { cost.add(records: 32, seconds: cost.seconds(forBatchOf: 32), at: now) }
        #expect(cost.overrun(at: now) < raised * 0.55 && cost.overrun(at: now) > raised * 0.45)
        // (The half-life in time follows the last batch: 35 × 42 ms here, a second after a short one.)
        #expect(abs(cost.halfLife - 35 * cost.seconds(forBatchOf: 32)) < 1e-9)
        cost.add(records: 1, seconds: cost.seconds(forBatchOf: 1), at: now)
        let faded = cost.overrun(at: now)
        // ...and by half every second while batches are short, batches or not: a slow spell does not outlive
        // itself for want of batches.
        #expect(cost.halfLife == 1.0)
        #expect(abs(cost.overrun(at: now + .seconds(1)) - faded / 2) < 1e-9)
        #expect(cost.overrun(at: now + .seconds(10)) < faded / 1000)
        // With 1 s batches it lasts 35 of them: slow batches do not forget each other between two of them.
        var slow = cost
        slow.add(records: 32, seconds: 1.0, at: now)
        #expect(slow.halfLife == 35.0)
        #expect(slow.overrun(at: now + .seconds(1)) > slow.overrun(at: now) * 0.98)
        // Draining: 130 records in batches of 64 over 2 workers = 3 batches' fixed part and 130 records, halved.
        #expect(
            abs(cost.drain(records: 130, batch: 64, workers: 2) - (3 * cost.fixed + 130 * cost.perRecord) / 2) < 1e-9)
    }

    @Test func tensorsBecomeRecordsRowByRowFlatOrNested() throws {
        let body = try JSONReader.parse(
            Array(
                #"""
                {"id": 7, "inputs": [
                  {"name": "pixels", "shape": [2, 2, 2], "datatype": "FP32", "data": [1, 2, 3, 4, 5, 6, 7, 8]},
                  {"name": "tag", "shape": [2], "datatype": "BYTES", "data": [["a"], ["b"]]}
                ]}
                """#.utf8))
        let (records, id) = try OpenInference.records(from: body)
        #expect(id == .int(7))
        #expect(
            records.map { JSONWriter.string($0) } == [
                #"{"pixels":[[1,2],[3,4]],"tag":"a"}"#, #"{"pixels":[[5,6],[7,8]],"tag":"b"}"#,
            ])
    }

    @Test func badTensorsSayWhichInputAndWhy() throws {
        func error(_ text: String) throws -> String {
            let body = try JSONReader.parse(Array(text.utf8))
            do {
                _ = try OpenInference.records(from: body)
                return "no error"
            } catch {
                return error.message
            }
        }
        #expect(try error(#"{"inputs": []}"#).contains("non-empty list of tensors"))
        #expect(
            try error(
                #"{"inputs": [{"name": "a", "shape": [2], "datatype": "INT64", "data": [1, 2]}, {"name": "b", "shape": [3], "datatype": "INT64", "data": [1, 2, 3]}]}"#
            ) == "input 'b' has a batch of 3, input 'a' of 2; the first dimension of every input is the batch")
        #expect(
            try error(#"{"inputs": [{"name": "a", "shape": [1], "datatype": "INT128", "data": [1]}]}"#)
                .contains("datatype INT128 is not one of BOOL, BYTES"))
        #expect(
            try error(#"{"inputs": [{"name": "a", "shape": [0], "datatype": "INT64", "data": []}]}"#)
                == "input 'a': the batch dimension is 0")
        #expect(
            try error(#"{"inputs": [{"name": "a", "shape": [1], "datatype": "BOOL", "data": [1]}]}"#)
                == "input 'a': data[0] is 1, which is not BOOL")
    }

    @Test func predictionsBecomeOneTensorPerFieldOrBytesWhenIrregular() {
        func outputs(_ predictions: [Value]) -> String {
            JSONWriter.string(.object(OpenInference.response(model: "m", id: nil, predictions: predictions)))
        }
        #expect(
            outputs([.object(["digit": .int(3), "p": .double(0.5)]), .object(["digit": .int(1), "p": .int(1)])])
                == #"{"model_name":"m","outputs":[{"name":"digit","datatype":"INT64","shape":[2],"data":[3,1]},"#
                + #"{"name":"p","datatype":"FP64","shape":[2],"data":[0.5,1]}]}"#)
        #expect(
            outputs([.array([.bool(true), .bool(false)]), .array([.bool(false), .bool(false)])])
                == #"{"model_name":"m","outputs":[{"name":"predictions","datatype":"BOOL","shape":[2,2],"data":[true,false,false,false]}]}"#
        )
        // Rows of different lengths have no tensor shape: each goes as its JSON text.
        #expect(
            outputs([.array([.int(1)]), .array([.int(1), .int(2)])])
                == #"{"model_name":"m","outputs":[{"name":"predictions","datatype":"BYTES","shape":[2],"data":["[1]","[1,2]"]}]}"#
        )
    }
}
