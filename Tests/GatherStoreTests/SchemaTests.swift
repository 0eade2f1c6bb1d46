import GatherCore
import GatherStore
import Testing

@Suite struct SchemaTests {
    @Test func typesOfValues() {
        #expect(ColumnType.of(.null) == nil)
        #expect(ColumnType.of(true) == .boolean)
        #expect(ColumnType.of(3) == .integer)
        #expect(ColumnType.of(2.5) == .real)
        #expect(ColumnType.of("hello") == .text)
        #expect(ColumnType.of("2024-05-01") == .timestamp)
        #expect(ColumnType.of("2024-05-01T12:30:00Z") == .timestamp)
        #expect(ColumnType.of("2024-05-01 12:30:00.25+02:00") == .timestamp)
        #expect(ColumnType.of("2024-13-01") == .text)
        #expect(ColumnType.of("2024-05-01T25:00") == .text)
        #expect(ColumnType.of("2024-05-01Tnope") == .text)
        #expect(ColumnType.of([1, 2]) == .json)
        #expect(ColumnType.of(["a": 1]) == .json)
    }

    @Test func wideningRules() {
        #expect(ColumnType.boolean.widened(with: .integer) == .integer)
        #expect(ColumnType.integer.widened(with: .real) == .real)
        #expect(ColumnType.real.widened(with: .boolean) == .real)
        #expect(ColumnType.integer.widened(with: .text) == .text)
        #expect(ColumnType.timestamp.widened(with: .integer) == .text)
        #expect(ColumnType.json.widened(with: .integer) == .text)
        #expect(ColumnType.timestamp.widened(with: .timestamp) == .timestamp)
    }

    @Test func schemaAbsorbsAndWidens() {
        var schema = TableSchema(name: "t")
        var change = schema.absorb(["id": 1, "name": "a", "score": nil])
        #expect(change.added.map(\.name) == ["id", "name", "score"])
        #expect(schema.column(forField: "score")?.type == nil)
        change = schema.absorb(["id": 2.5, "score": 3, "extra": true])
        #expect(change.added.map(\.name) == ["extra"])
        #expect(Set(change.widened.map(\.name)) == ["id", "score"])
        #expect(schema.column(forField: "id")?.type == .real)
        #expect(schema.column(forField: "score")?.type == .integer)
        #expect(schema.absorb(["id": 7, "name": nil]).isEmpty)
    }

    @Test func hostileAndCollidingNames() {
        var schema = TableSchema(name: "t")
        schema.absorb(["Name": "a", "name": "b", "": 1, "\"; DROP TABLE x; --": "boom", "NAME_2": 3])
        #expect(schema.column(forField: "Name")?.name == "Name")
        #expect(schema.column(forField: "name")?.name == "name_2")
        #expect(
            schema.column(forField: "NAME_2")?.name == "NAME_2_3"
                || schema.column(forField: "NAME_2")?.name == "NAME_2_2")
        #expect(schema.column(forField: "")?.name == "_")
        #expect(schema.column(forField: "\"; DROP TABLE x; --")?.name == "\"; DROP TABLE x; --")
        let lowered = Set(schema.columns.map { $0.name.lowercased() })
        #expect(lowered.count == schema.columns.count)
    }

    @Test func normalizerFlattensAndMakesChildTables() {
        let order: Record = [
            "id": 7, "customer": ["name": "Ada", "address": ["city": "Paris"]], "empty": [:],
            "lines": [["sku": "a", "qty": 1], ["sku": "b", "qty": 2, "tags": ["x", "y"]]], "notes": ["n1"],
        ]
        var rows: [NormalizedRow] = []
        Normalizer(table: "orders").normalize(order, key: "k7", into: &rows)
        #expect(
            rows.map(\.table) == [
                "orders", "orders__lines", "orders__lines", "orders__lines__tags",
                "orders__lines__tags", "orders__notes",
            ])
        let top = rows[0].values
        #expect(top["_gather_key"] == "k7")
        #expect(top["customer__name"] == "Ada")
        #expect(top["customer__address__city"] == "Paris")
        #expect(top["empty"] == nil)
        #expect(top["lines"] == nil)
        let line = rows[2].values
        #expect(line["_gather_parent_key"] == "k7")
        #expect(line["_gather_root_key"] == "k7")
        #expect(line["_gather_pos"] == 1)
        #expect(line["sku"] == "b")
        let tag = rows[4].values
        #expect(tag["_gather_parent_key"] == line["_gather_key"])
        #expect(tag["_gather_root_key"] == "k7")
        #expect(tag["value"] == "y")
        #expect(rows[5].values["value"] == "n1")

        var jsonRows: [NormalizedRow] = []
        Normalizer(table: "orders", lists: .json).normalize(order, key: "k7", into: &jsonRows)
        #expect(jsonRows.count == 1)
        #expect(jsonRows[0].values["notes"] == ["n1"])
    }

    @Test func normalizerDepthLimitStoresJSON() {
        var rows: [NormalizedRow] = []
        Normalizer(table: "t", maxDepth: 2).normalize(["a": ["b": ["c": 1]]], key: "k", into: &rows)
        #expect(rows[0].values["a__b"] == ["c": 1])
    }
}
