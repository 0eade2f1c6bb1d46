import GatherCore
import Testing

@Suite("Value and Record")
struct ValueTests {
    @Test func literals() {
        let v: Value = ["s": "x", "i": 1, "d": 2.5, "b": true, "n": nil, "a": [1, "two"]]
        #expect(v["s"] == .string("x"))
        #expect(v["i"] == .int(1))
        #expect(v["d"] == .double(2.5))
        #expect(v["b"] == .bool(true))
        #expect(v["n"] == .null)
        #expect(v["a"] == .array([.int(1), .string("two")]))
        #expect(v.objectValue?.keys == ["s", "i", "d", "b", "n", "a"])
    }

    @Test func accessors() {
        let v: Value = ["list": [10, 20], "name": "Ada", "n": 3, "x": 0.5, "ok": false, "none": nil]
        #expect(v["list"]?[1] == 20)
        #expect(v["list"]?[2] == nil)
        #expect(v["list"]?[-1] == nil)
        #expect(v["missing"] == nil)
        #expect(v[0] == nil, "an object is not an array")
        #expect(Value.int(1)["k"] == nil, "an int is not an object")
        #expect(v["name"]?.stringValue == "Ada")
        #expect(v["n"]?.stringValue == nil)
        #expect(v["n"]?.intValue == 3)
        #expect(v["x"]?.intValue == nil)
        #expect(Value.double(2).intValue == nil)
        #expect(v["n"]?.doubleValue == 3.0, "int widens to double")
        #expect(v["x"]?.doubleValue == 0.5)
        #expect(v["name"]?.doubleValue == nil)
        #expect(v["ok"]?.boolValue == false)
        #expect(v["n"]?.boolValue == nil)
        #expect(v["none"]?.isNull == true)
        #expect(v["ok"]?.isNull == false)
        #expect(v["list"]?.arrayValue == [10, 20])
        #expect(v["name"]?.arrayValue == nil)
        #expect(v.objectValue?.count == 6)
        #expect(v["list"]?.objectValue == nil)
    }

    @Test func equalityIsTypeExact() {
        #expect(Value.int(1) != Value.double(1))
        #expect(Value.double(0) == Value.double(-0.0))
        #expect(Value.double(.nan) != Value.double(.nan))
        #expect(Value.string("1") != Value.int(1))
        #expect(Set<Value>([.int(1), .double(1), .int(1), "1"]).count == 3)
    }

    @Test func recordOrderAndDuplicates() {
        var r = Record()
        r.append("a", 1)
        r.append("b", 2)
        r.append("a", 3)
        #expect(r.count == 3)
        #expect(r.keys == ["a", "b", "a"])
        #expect(r.values == [1, 2, 3])
        #expect(r["a"] == 3, "lookup returns the last occurrence")
        #expect(r.lastIndex(ofKey: "a") == 2)
        #expect(r.lastIndex(ofKey: "z") == nil)
        #expect(r[0].key == "a" && r[0].value == 1)
        #expect(r.map(\.key) == ["a", "b", "a"])
        #expect(Array(r.reversed().map(\.value)) == [3, 2, 1])
    }

    @Test func recordSubscriptSetter() {
        var r: Record = ["a": 1, "b": 2, "a": 3]
        r["a"] = 4  // replaces the last "a"
        #expect(r.keys == ["a", "b", "a"])
        #expect(r.values == [1, 2, 4])
        r["c"] = "new"  // appends
        #expect(r.keys == ["a", "b", "a", "c"])
        r["a"] = nil  // removes every "a"
        #expect(r.keys == ["b", "c"])
        #expect(r["a"] == nil)
        r["missing"] = nil
        #expect(r.count == 2)
    }

    @Test func recordEqualityAndHashingFollowOrder() {
        let ab: Record = ["a": 1, "b": 2]
        let ba: Record = ["b": 2, "a": 1]
        #expect(ab == Record([("a", 1), ("b", 2)]))
        #expect(ab != ba)
        #expect(ab != ["a": 1])
        #expect(ab != ["a": 1, "b": 3])
        #expect(Set([ab, ab, ba]).count == 2)
        #expect(ab.hashValue == Record([("a", 1), ("b", 2)]).hashValue)
    }

    @Test func recordIsARandomAccessCollection() {
        let r: Record = ["x": 1, "y": 2, "z": 3]
        #expect(r.startIndex == 0 && r.endIndex == 3)
        #expect(r[1].key == "y")
        #expect(r.dropFirst().map(\.key) == ["y", "z"])
        #expect(r.first?.value == 1 && r.last?.value == 3)
        #expect(Record().isEmpty)
    }

    @Test func sendableAcrossTasks() async {
        let v: Value = ["shared": [1, 2, 3]]
        let copy = await Task.detached { v["shared"]?[2] }.value
        #expect(copy == 3)
    }
}
