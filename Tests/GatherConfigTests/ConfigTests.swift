import Foundation
import GatherCore
import GatherFormats
import GatherTesting
import Testing

@testable import GatherConfig

/// Sample specs: a small pipeline with resources, HTTP settings, paginators, auth and transforms.
private enum SampleSpecs {
    static let linkHeader = ComponentSpec(
        name: "link_header", kind: "paginator", summary: "Follows the Link header's rel=\"next\" URL.",
        fields: [FieldSpec("max_pages", .int, description: "Stop after this many pages.")],
        examples: ["paginate: link_header"])
    static let offset = ComponentSpec(
        name: "offset", kind: "paginator", summary: "Pages with offset and limit query parameters.",
        fields: [
            FieldSpec("limit", .int, required: true, description: "Items per page.", example: "100"),
            FieldSpec("offset_param", .string, default: "offset", description: "The offset query parameter."),
            FieldSpec("total", .jsonPath, description: "Where the total count is.", example: "$.total"),
        ],
        examples: ["paginate:\n  type: offset\n  limit: 100"])
    static let bearer = ComponentSpec(
        name: "bearer", kind: "auth", summary: "Sends Authorization: Bearer TOKEN.",
        fields: [FieldSpec("token", .string, required: true, description: "The token.", secret: true)],
        examples: ["auth:\n  type: bearer\n  token: ${GITHUB_TOKEN}"])
    static let http = ComponentSpec(
        name: "http", kind: "http", summary: "HTTP settings.",
        fields: [
            FieldSpec("path", .string, required: true, description: "The path.", example: "/user/repos"),
            FieldSpec("timeout", .duration, default: "30s", description: "Whole-request timeout."),
            FieldSpec("rate", .rate, description: "Request budget."),
            FieldSpec("max_body", .byteCount, default: "64MiB", description: "Largest response body."),
            FieldSpec("retry", .bool, default: "true", description: "Retry failures."),
            FieldSpec("headers", .map(.string), description: "Extra headers."),
            FieldSpec(
                "paginate", .oneOf(discriminator: "type", [linkHeader, offset]), description: "How to page.",
                synonyms: ["paginator", "pagination"]),
            FieldSpec("auth", .oneOf(discriminator: "type", [bearer]), description: "Authentication."),
        ])
    static let drop = ComponentSpec(
        name: "drop", kind: "transform", summary: "Removes fields.",
        fields: [FieldSpec("fields", .stringOrList(.string), required: true, description: "Fields to remove.")],
        shorthandField: "fields")
    static let select = ComponentSpec(
        name: "select", kind: "transform", summary: "Keeps what a JSONPath selects.",
        fields: [FieldSpec("path", .jsonPath, required: true, description: "The JSONPath.")],
        shorthandField: "path")
    static let resource = ComponentSpec(
        name: "resource", kind: "resource", summary: "One endpoint and its table.",
        fields: [
            FieldSpec("name", .string, required: true, description: "The resource name."),
            FieldSpec("http", .object(http), required: true, description: "HTTP settings."),
            FieldSpec("write", .enumeration(["append", "merge", "replace"]), default: "append", description: "Mode."),
            FieldSpec("primary_key", .stringOrList(.string), description: "Key fields.", synonyms: ["pk"]),
            FieldSpec("fan_out", .int, default: "8", description: "Parallel parents."),
            FieldSpec("transforms", .list(.oneOf(discriminator: "type", [drop, select])), description: "Steps."),
        ])
    static let pipeline = ComponentSpec(
        name: "pipeline", kind: "pipeline", summary: "A whole pipeline.",
        fields: [
            FieldSpec("name", .string, required: true, description: "The pipeline's name."),
            FieldSpec("resources", .list(.object(resource)), required: true, description: "The resources."),
            FieldSpec("variables", .map(.any), description: "Free values."),
        ],
        examples: ["name: gh\nresources:\n  - name: repos\n    http:\n      path: /user/repos"])
    static let headers = ComponentSpec(
        name: "headers", kind: "headers", summary: "Headers.", fields: [], additionalFields: .string)
}

/// Parses `text` as `p.yaml` with `environment`.
private func parse(_ text: String, environment: [String: String] = [:]) throws(ConfigErrors) -> ConfigNode {
    try ConfigLoader.parse(text: text, file: "p.yaml", environment: environment)
}

/// The errors thrown by validating `text` against `spec`, as strings sorted by location.
private func errors(_ text: String, _ spec: ComponentSpec = SampleSpecs.resource, environment: [String: String] = [:])
    -> [String]
{
    do {
        _ = try spec.validate(try parse(text, environment: environment))
        return []
    } catch {
        return error.sorted.map(\.description)
    }
}

private func makeConfigTestDirectory() throws -> String {
    ScratchFolder.untilExit("config")
}

private let validResource = """
    name: repos
    http:
      path: /user/repos
    """

// MARK: - Nodes and locations

@Test func locationsOfNestedKeysAndListItems() throws {
    let root = try parse("name: gh\nresources:\n  - name: repos\n    http:\n      path: /x\n  - name: b\n")
    #expect(root.location.description == "p.yaml:1:1")
    let resources = try #require(root["resources"]?.elements)
    #expect(resources.count == 2)
    #expect(resources[0].location.description == "p.yaml:3:5")
    #expect(resources[1].location.description == "p.yaml:6:5")
    let entries = try #require(resources[0].entries)
    #expect(entries[1].key == "http")
    #expect(entries[1].keyLocation.description == "p.yaml:4:5")
    let path = try #require(resources[0]["http"]?["path"])
    #expect(path.location.description == "p.yaml:5:13")
    #expect(path.stringValue == "/x")
}

@Test func scalarsAreTypedByTheCoreSchema() throws {
    let root = try parse(
        "a: 42\nb: 1.5\nc: true\nd: ~\ne: '42'\nf: hello\ng:\nh: 0x1F\ni: -.inf\nj: |\n  text\nk: 1e3\nl: FALSE\n")
    let value = root.toValue()
    #expect(value["a"] == .int(42))
    #expect(value["b"] == .double(1.5))
    #expect(value["c"] == .bool(true))
    #expect(value["d"] == .null)
    #expect(value["e"] == .string("42"))
    #expect(value["f"] == .string("hello"))
    #expect(value["g"] == .null)
    #expect(value["h"] == .int(31))
    #expect(value["i"] == .double(-.infinity))
    #expect(value["j"] == .string("text\n"))
    #expect(value["k"] == .double(1000))
    #expect(value["l"] == .bool(false))
    #expect(root["d"]?.isNull == true)
    #expect(root["e"]?.stringValue == "42")
}

@Test func duplicateKeyIsReportedAtTheSecondOccurrence() {
    #expect(throws: ConfigErrors.self) { try parse("name: a\nlimit: 1\nname: b\n") }
    do {
        _ = try parse("name: a\nhttp:\n  path: /x\n  timeout: 1s\n  path: /y\n")
        Issue.record("expected an error")
    } catch {
        #expect(error.errors.count == 1)
        #expect(
            error.description == "p.yaml:5:3: duplicate key 'path' (first at line 3, column 3); remove one of them")
    }
}

@Test func severalDuplicateKeysAreAllReported() throws {
    do {
        _ = try parse("a: 1\nb: 2\na: 3\nc:\n  x: 1\n  x: 2\n  x: 3\n")
        Issue.record("expected an error")
    } catch {
        #expect(error.sorted.map { $0.location?.description } == ["p.yaml:3:1", "p.yaml:6:3", "p.yaml:7:3"])
    }
}

@Test func yamlSyntaxErrorNamesTheLineAndColumn() {
    do {
        _ = try parse("name: gh\nresources:\n  - name: [repos\n")
        Issue.record("expected an error")
    } catch {
        let first = error.errors[0]
        #expect(first.location?.file == "p.yaml")
        #expect(first.location?.line == 4)
        #expect(first.message.hasPrefix("invalid YAML: "))
    }
    do {
        _ = try parse("a: b: c\n")
        Issue.record("expected an error")
    } catch {
        #expect(error.description.hasPrefix("p.yaml:1:5: invalid YAML: mapping values are not allowed"))
        #expect(error.description.contains("quote values"))
    }
    do {
        _ = try parse("http: { path: /orgs/{org}/repos }\n")
        Issue.record("expected an error")
    } catch {
        #expect(error.description.contains("quote values that contain {, }"))
    }
}

@Test func anchorsAliasesAndMergeKeys() throws {
    let root = try parse("base: &b\n  timeout: 5s\n  path: /a\nx:\n  <<: *b\n  path: /b\ny: *b\n")
    #expect(root["x"]?["path"]?.stringValue == "/b")
    #expect(root["x"]?["timeout"]?.stringValue == "5s")
    #expect(root["y"]?["path"]?.stringValue == "/a")
}

@Test func emptyDocumentIsNull() throws {
    #expect(try parse("").isNull)
    #expect(try parse("# only a comment\n").isNull)
}

// MARK: - Environment substitution

@Test func substitutesFromTheEnvironment() throws {
    let root = try parse("path: /users/${USER}/repos\nn: ${N}\nplain: x\n", environment: ["USER": "ada", "N": "7"])
    #expect(root["path"]?.stringValue == "/users/ada/repos")
    #expect(root["path"]?.containsSubstitution == true)
    #expect(root["path"]?.substitutions == [Substitution(variable: "USER", value: "ada")])
    #expect(root["n"]?.toValue() == .int(7))
    #expect(root["plain"]?.containsSubstitution == false)
    #expect(root.containsSubstitution)
    #expect(root["path"]?.location.description == "p.yaml:1:7")
}

@Test func substitutesFromDotEnvBesideTheFile() throws {
    let dir = try makeConfigTestDirectory()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    try """
    # tokens
    export GITHUB_TOKEN="ghp_abc123\\"x"
    OWNER=ada # a comment
    QUOTED='single # not a comment'
    EMPTY=
    USER=from-dotenv
    """.write(toFile: dir + "/.env", atomically: true, encoding: .utf8)
    try "token: ${GITHUB_TOKEN}\nowner: ${OWNER}\nq: ${QUOTED}\ne: \"${EMPTY}\"\nu: ${USER}\n"
        .write(toFile: dir + "/p.yaml", atomically: true, encoding: .utf8)
    let root = try ConfigLoader.load(path: dir + "/p.yaml", environment: ["USER": "from-env"])
    #expect(root["token"]?.stringValue == "ghp_abc123\"x")
    #expect(root["owner"]?.stringValue == "ada")
    #expect(root["q"]?.stringValue == "single # not a comment")
    #expect(root["e"]?.stringValue == "")
    #expect(root["u"]?.stringValue == "from-env")  // the environment wins
    #expect(root["token"]?.location.file == dir + "/p.yaml")
}

@Test func defaultsAndDollarEscapes() throws {
    let root = try parse(
        "a: ${PER_PAGE:-100}\nb: ${SET:-x}\nc: $$HOME and $$\nd: $.items[0]\ne: ${EMPTY:-fallback}\n",
        environment: ["SET": "y", "EMPTY": ""])
    #expect(root["a"]?.toValue() == .int(100))
    #expect(root["b"]?.stringValue == "y")
    #expect(root["c"]?.stringValue == "$HOME and $")
    #expect(root["d"]?.stringValue == "$.items[0]")
    #expect(root["d"]?.containsSubstitution == false)
    #expect(root["e"]?.stringValue == "fallback")
}

@Test func missingVariableNamesTheDotEnvFile() {
    do {
        _ = try ConfigLoader.parse(
            text: "auth:\n  token: ${GITHUB_TOKEN}\nx: ${ALSO_MISSING}\n", file: "p.yaml", environment: [:],
            dotEnvDirectory: "/path")
        Issue.record("expected an error")
    } catch {
        #expect(
            error.description == """
                p.yaml:2:10: environment variable GITHUB_TOKEN is not set; export it or add GITHUB_TOKEN=… to /path/.env
                p.yaml:3:4: environment variable ALSO_MISSING is not set; export it or add ALSO_MISSING=… to /path/.env
                """)
    }
}

@Test func malformedReferencesAreErrors() {
    #expect(throws: ConfigErrors.self) { try parse("a: ${OPEN\n") }
    #expect(throws: ConfigErrors.self) { try parse("a: ${1BAD}\n") }
    #expect(throws: ConfigErrors.self) { try parse("a: ${}\n") }
}

@Test func dotEnvParsingReportsBadLines() {
    let parsed = DotEnv.parse("A=1\nnot a pair\nexport B = \"two\\nlines\"\n1X=3\nC='open\n")
    #expect(parsed.variables == ["A": "1", "B": "two\nlines"])
    #expect(parsed.problems.map(\.line) == [2, 4, 5])
}

// MARK: - Validation

@Test func validResourceReadsTypedValuesAndDefaults() throws {
    let object = try SampleSpecs.resource.validate(
        try parse(validResource + "\n  timeout: 500ms\n  rate: 20/s:5\n  paginate: link_header\nfan_out: 4\n"))
    #expect(object.string("name") == "repos")
    #expect(object.int("fan_out") == 4)
    #expect(object.string("write") == "append")
    #expect(object.value("write")?.isDefault == true)
    #expect(object.has("write") == false)
    #expect(object.has("fan_out"))
    let http = try #require(object.object("http"))
    #expect(http.duration("timeout") == .milliseconds(500))
    #expect(http.rate("rate") == Rate(count: 20, per: .seconds(1), burst: 5))
    #expect(http.byteCount("max_body") == 64 << 20)
    #expect(http.bool("retry") == true)
    #expect(http.location(of: "timeout").description == "p.yaml:4:12")
    #expect(http.keyLocation(of: "timeout").description == "p.yaml:4:3")
    #expect(http.location(of: "max_body") == http.location)
    #expect(object.displayName == "resource 'repos'")
}

@Test func unknownKeySuggestsTheClosestOne() {
    let found = errors(validResource + "\n  paginatr: link_header\n")
    #expect(found == ["p.yaml:4:3: unknown key 'paginatr' in http; did you mean 'paginate'?"])
    #expect(
        errors(validResource + "\nPrimary_Key: id\n")
            == ["p.yaml:4:1: unknown key 'Primary_Key' in resource 'repos'; did you mean 'primary_key'?"])
}

@Test func unknownKeyWithoutSuggestionListsValidKeys() {
    #expect(
        errors(validResource + "\nzzz: 1\n")
            == [
                "p.yaml:4:1: unknown key 'zzz' in resource 'repos'; valid keys are name, http, write, primary_key, "
                    + "fan_out, transforms"
            ])
}

@Test func wrongTypesSayWhatToWrite() {
    #expect(
        errors(validResource + "\n  timeout: soon\n")
            == ["p.yaml:4:12: 'timeout' must be a duration like 30s or 500ms, not 'soon'"])
    #expect(
        errors(validResource + "\nfan_out: many\n")
            == ["p.yaml:4:10: 'fan_out' must be a whole number like 100, not 'many'"])
    #expect(
        errors(validResource + "\n  retry: yes\n") == [
            "p.yaml:4:10: 'retry' must be true or false, not 'yes'; write true"
        ])
    #expect(
        errors(validResource + "\nwrite: marge\n")
            == ["p.yaml:4:8: 'write' must be one of append, merge or replace, not 'marge'; did you mean 'merge'?"])
    #expect(
        errors(validResource + "\n  rate: fast\n")
            == ["p.yaml:4:9: 'rate' must be a rate like 20/s or 5000/h, not 'fast'"])
    #expect(
        errors(validResource + "\n  max_body: huge\n")
            == ["p.yaml:4:13: 'max_body' must be a size like 512KiB or 64MiB, not 'huge'"])
    #expect(
        errors("name: r\nhttp: /x\n")
            == ["p.yaml:2:7: 'http' must be a mapping with keys such as path, timeout or rate, not '/x'"])
}

@Test func jsonPathsAreCheckedWhenLoaded() throws {
    let found = errors(validResource + "\n  paginate: {type: offset, limit: 10, total: total}\n")
    #expect(found.count == 1)
    #expect(found[0].hasPrefix("p.yaml:4:46: 'total' must be a JSONPath like $.items"))
    let object = try SampleSpecs.resource.validate(
        try parse(validResource + "\n  paginate: {type: offset, limit: 10, total: $.total}\n"))
    #expect(object.object("http")?.variant("paginate")?.object.jsonPath("total")?.expression == "$.total")
}

@Test func oneOfChosenByTypeKey() throws {
    let object = try SampleSpecs.resource.validate(
        try parse(validResource + "\n  paginate:\n    type: offset\n    limit: 50\n"))
    let paginate = try #require(object.object("http")?.variant("paginate"))
    #expect(paginate.name == "offset")
    #expect(paginate.object.int("limit") == 50)
    #expect(paginate.object.string("offset_param") == "offset")
    #expect(paginate.object.location.description == "p.yaml:5:5")
}

@Test func oneOfChosenByBareScalar() throws {
    let object = try SampleSpecs.resource.validate(try parse(validResource + "\n  paginate: link_header\n"))
    let paginate = try #require(object.object("http")?.variant("paginate"))
    #expect(paginate.name == "link_header")
    #expect(paginate.object.int("max_pages") == nil)
    // A bare name still needs the variant's required keys.
    #expect(
        errors(validResource + "\n  paginate: offset\n")
            == [
                "p.yaml:4:13: paginator 'offset' needs 'limit'; write a mapping, like {type: offset, limit: 100}"
            ])
}

@Test func unknownVariantSuggestsTheClosest() {
    #expect(
        errors(validResource + "\n  paginate: link_headr\n")
            == [
                "p.yaml:4:13: unknown paginator type 'link_headr' for 'paginate'; did you mean 'link_header'? "
                    + "Use one of link_header or offset"
            ])
    #expect(
        errors(validResource + "\n  paginate: {type: ofset, limit: 1}\n")
            == [
                "p.yaml:4:20: unknown paginator type 'ofset' for 'paginate'; did you mean 'offset'? "
                    + "Use one of link_header or offset"
            ])
    #expect(
        errors(validResource + "\n  paginate: {limit: 1, offset_param: o}\n")
            == [
                "p.yaml:4:13: 'paginate' needs 'type' naming the paginator type, one of link_header or offset; "
                    + "add type: link_header"
            ])
}

@Test func shorthandVariantsInLists() throws {
    let object = try SampleSpecs.resource.validate(
        try parse(validResource + "\ntransforms:\n  - select: $.items\n  - drop: [a, b]\n  - {type: drop, fields: c}\n")
    )
    let steps = object.variants("transforms")
    #expect(steps.map(\.name) == ["select", "drop", "drop"])
    #expect(steps[0].object.jsonPath("path")?.expression == "$.items")
    #expect(steps[1].object.strings("fields") == ["a", "b"])
    #expect(steps[2].object.strings("fields") == ["c"])
    #expect(
        errors(validResource + "\ntransforms:\n  - dorp: [a]\n")
            == [
                "p.yaml:5:5: unknown transform type 'dorp' for item 1 of 'transforms'; did you mean 'drop'? "
                    + "Use one of drop or select"
            ])
}

@Test func requiredKeyMissingIsReportedAtTheMapping() {
    #expect(
        errors("name: repos\nwrite: merge\n")
            == ["p.yaml:1:1: resource 'repos' needs 'http'; add http: {…}"])
    #expect(
        errors("name: repos\nhttp:\n  timeout: 1s\n")
            == ["p.yaml:3:3: http needs 'path'; add path: /user/repos"])
    #expect(
        errors("name: repos\nhttp:\n")
            == ["p.yaml:2:6: 'http' in resource 'repos' is empty; write http: {…}"])
}

@Test func synonymsMapToTheCanonicalName() throws {
    let object = try SampleSpecs.resource.validate(
        try parse(validResource + "\n  paginator: link_header\npk: id\n"))
    #expect(object.object("http")?.variant("paginate")?.name == "link_header")
    #expect(object.object("http")?.has("paginate") == true)
    #expect(object.strings("primary_key") == ["id"])
    #expect(object.strings("pk") == ["id"])
    #expect(
        errors(validResource + "\n  paginate: link_header\n  pagination: link_header\n")
            == ["p.yaml:5:3: 'pagination' and 'paginate' are the same setting in http; keep only 'paginate'"])
}

@Test func stringOrListAcceptsOneOrMany() throws {
    let one = try SampleSpecs.resource.validate(try parse(validResource + "\nprimary_key: id\n"))
    #expect(one.strings("primary_key") == ["id"])
    let many = try SampleSpecs.resource.validate(try parse(validResource + "\nprimary_key: [org, id]\n"))
    #expect(many.strings("primary_key") == ["org", "id"])
    #expect(many.nodes("primary_key").map(\.location.description) == ["p.yaml:4:15", "p.yaml:4:20"])
}

@Test func allErrorsAreCollectedAndSorted() {
    let text = """
        name: gh
        resources:
          - name: repos
            write: marge
            http:
              timeout: soon
          - name: issues
            htpp:
              path: /issues
        """
    let found = errors(text, SampleSpecs.pipeline)
    #expect(found.count == 5)
    #expect(
        found == [
            "p.yaml:4:12: 'write' must be one of append, merge or replace, not 'marge'; did you mean 'merge'?",
            "p.yaml:6:7: http needs 'path'; add path: /user/repos",
            "p.yaml:6:16: 'timeout' must be a duration like 30s or 500ms, not 'soon'",
            "p.yaml:7:5: resource 'issues' needs 'http'; add http: {…}",
            "p.yaml:8:5: unknown key 'htpp' in resource 'issues'; did you mean 'http'?",
        ])
}

@Test func threeErrorsInOneFileGiveThreeSortedLines() {
    do {
        _ = try SampleSpecs.resource.validate(
            try parse("fan_out: x\nname: r\nwrite: nope\nhttp: {path: /x, timeout: later}\n"))
        Issue.record("expected errors")
    } catch {
        let lines = error.description.split(separator: "\n")
        #expect(lines.count == 3)
        #expect(lines[0].hasPrefix("p.yaml:1:10: 'fan_out'"))
        #expect(lines[1].hasPrefix("p.yaml:3:8: 'write'"))
        #expect(lines[2].hasPrefix("p.yaml:4:27: 'timeout'"))
    }
}

@Test func additionalFieldsAndMaps() throws {
    let object = try SampleSpecs.headers.validate(try parse("Accept: application/json\nX-Trace: on\n"))
    #expect(object.extraFields.map(\.key) == ["Accept", "X-Trace"])
    #expect(object.extraFields[1].value.stringValue == "on")
    let resource = try SampleSpecs.resource.validate(
        try parse(validResource + "\n  headers:\n    Accept: text/csv\n    X-Count: 3\n"))
    #expect(resource.object("http")?.stringMap("headers").map(\.value) == ["text/csv", "3"])
    #expect(
        errors(validResource + "\n  headers: [a]\n").first?.hasPrefix("p.yaml:4:12: 'headers' must be a mapping")
            == true)
}

@Test func anyFieldsKeepTheNode() throws {
    let object = try SampleSpecs.pipeline.validate(
        try parse("name: gh\nresources: []\nvariables:\n  ids: [1, 2]\n  when: yesterday\n"))
    let variables = object.map("variables")
    #expect(variables.map(\.key) == ["ids", "when"])
    #expect(variables[0].value.value == [1, 2])
    #expect(object.list("resources").isEmpty)
}

// MARK: - Secrets

@Test func secretFromDotEnvIsRedacted() throws {
    let dir = try makeConfigTestDirectory()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    try "GITHUB_TOKEN=ghp_s3cr3t/value\nPLAIN=visible\n".write(
        toFile: dir + "/.env", atomically: true, encoding: .utf8)
    try """
    name: repos
    http:
      path: /user/${PLAIN}
      auth:
        type: bearer
        token: ${GITHUB_TOKEN}
    """.write(toFile: dir + "/pipeline.yaml", atomically: true, encoding: .utf8)
    let node = try ConfigLoader.load(path: dir + "/pipeline.yaml", environment: [:])
    let object = try SampleSpecs.resource.validate(node)
    let auth = try #require(object.object("http")?.variant("auth"))
    #expect(auth.object.string("token") == "ghp_s3cr3t/value")
    #expect(auth.object.node("token")?.containsSubstitution == true)
    let redactor = Redactor(object)
    #expect(redactor.secrets == ["ghp_s3cr3t%2Fvalue", "ghp_s3cr3t/value"])
    #expect(
        redactor.redact("GET /user/visible Authorization: Bearer ghp_s3cr3t/value, q=ghp_s3cr3t%2Fvalue")
            == "GET /user/visible Authorization: Bearer ***, q=***")
}

@Test func secretLookingVariablesAndHeadersAreRedactedAnywhere() throws {
    let object = try SampleSpecs.resource.validate(
        try parse(
            validResource + "\n  headers:\n    X-API-Key: k-123\n    Accept: ${ACCEPT}\n    X-Other: ${DB_PASSWORD}\n",
            environment: ["ACCEPT": "text/csv", "DB_PASSWORD": "hunter22"]))
    #expect(Set(object.secrets) == ["k-123", "hunter22"])
    #expect(Redactor(object).redact("k-123 text/csv hunter22") == "*** text/csv ***")
}

@Test func secretNamesHeuristic() {
    #expect(Redactor.looksSecret("GITHUB_TOKEN"))
    #expect(Redactor.looksSecret("clientSecret"))
    #expect(Redactor.looksSecret("X-API-Key"))
    #expect(Redactor.looksSecret("Authorization"))
    #expect(!Redactor.looksSecret("max_tokens"))
    #expect(!Redactor.looksSecret("TOKEN_URL"))
    #expect(!Redactor.looksSecret("Accept"))
}

@Test func redactorPrefersTheLongestSecretAndKeepsOtherText() {
    var redactor = Redactor(secrets: ["abc", "", "abcdef"])
    redactor.add("é-ü")
    #expect(redactor.redact("xabcdefy abc ab") == "x***y *** ab")
    #expect(redactor.redact("naïve é-ü!") == "naïve ***!")
    #expect(redactor.redact("nothing here") == "nothing here")
    #expect(Redactor(secrets: []).redact("abc") == "abc")
}

@Test func secretValuesAreNotEchoedInErrors() {
    let found = errors(validResource + "\n  auth: {type: bearer, token: [not, text]}\n")
    #expect(found == ["p.yaml:4:31: 'token' must be text, not a list"])
    let spec = ComponentSpec(
        name: "x", kind: "x", summary: "", fields: [FieldSpec("pin", .int, description: "PIN.", secret: true)])
    #expect(errors("pin: 12ab\n", spec) == ["p.yaml:1:6: 'pin' must be a whole number like 100, not the value given"])
}

// MARK: - Suggestions

@Test func damerauLevenshteinDistance() {
    #expect(Suggestions.distance("paginatr", "paginate") == 1)
    #expect(Suggestions.distance("tiemout", "timeout") == 1)
    #expect(Suggestions.distance("", "abc") == 3)
    #expect(Suggestions.distance("kitten", "sitting") == 3)
    #expect(Suggestions.closest(to: "PATH", in: ["name", "path"]) == "path")
    #expect(Suggestions.closest(to: "zzz", in: ["name", "path"]) == nil)
    #expect(Suggestions.closest(to: "id", in: ["ab"]) == nil)
    #expect(Suggestions.closest(to: "obey", in: ["rate", "obey_server_hints"]) == "obey_server_hints")
    #expect(Suggestions.didYouMean("repo", among: ["repos", "issues"]) == "repos")
}

// MARK: - Help and docs

@Test func helpTextListsFieldsDeterministically() {
    let help = SampleSpecs.http.helpText()
    #expect(help == SampleSpecs.http.helpText())
    for name in ["path", "timeout", "rate", "max_body", "retry", "headers", "paginate", "auth"] {
        #expect(help.contains("\n  \(name) "))
    }
    #expect(help.hasPrefix("http\nHTTP settings.\n\nFields:\n  KEY "))
    #expect(help.contains("required"))
    #expect(help.contains("(also: paginator, pagination)"))
    let bearer = SampleSpecs.bearer.helpText()
    #expect(bearer.contains("token  string  required  The token. (secret)"))
    #expect(bearer.contains("Example:\n  auth:\n    type: bearer\n"))
    #expect(bearer.hasPrefix("bearer (auth)\n"))
}

@Test func markdownIsDeterministicAndComplete() {
    let markdown = SpecDocs.markdown(for: [SampleSpecs.pipeline])
    #expect(markdown == SpecDocs.markdown(for: [SampleSpecs.pipeline]))
    #expect(markdown.hasPrefix("# Configuration reference\n"))
    for heading in ["## Pipeline", "## Resource", "## Http", "## Paginator", "## Auth", "## Transform"] {
        #expect(markdown.contains("\n\(heading)\n"))
    }
    #expect(markdown.contains("<a id=\"paginator-offset\"></a>"))
    #expect(markdown.contains("| `limit` | integer | yes |  | Items per page. Example: `100`. |"))
    #expect(markdown.contains("| `write` | `append` \\| `merge` \\| `replace` |  | `append` | Mode. |"))
    #expect(markdown.contains("one of [`link_header`](#paginator-link_header), [`offset`](#paginator-offset)"))
    #expect(markdown.contains("```yaml\npaginate:\n  type: offset\n  limit: 100\n```"))
    #expect(markdown.contains("Chosen with `type: offset`"))
    #expect(markdown.contains("**Secret**"))
    // Grouping follows the first appearance of each kind.
    let order = ["## Pipeline", "## Resource", "## Http", "## Paginator", "## Auth", "## Transform"].map {
        markdown.range(of: "\n\($0)\n")!.lowerBound
    }
    #expect(order == order.sorted())
    #expect(!markdown.contains(" \n"))
}

@Test func sampleSpecsHaveNoProblemsAndBadSpecsDo() {
    #expect(SampleSpecs.pipeline.specProblems().isEmpty)
    let bad = ComponentSpec(
        name: "bad", kind: "bad", summary: "",
        fields: [
            FieldSpec("a", .duration, default: "soon", description: ""),
            FieldSpec("b", .int, required: true, default: "1", description: "", synonyms: ["a"]),
        ], shorthandField: "c")
    let problems = bad.specProblems()
    #expect(problems.count == 4)
    #expect(problems.contains("bad: 'a' is used twice"))
    #expect(problems.contains("bad: 'b' is required but has a default"))
}

@Test func loadReportsAMissingFile() {
    do {
        _ = try ConfigLoader.load(path: "/nonexistent/pipeline.yaml", environment: [:])
        Issue.record("expected an error")
    } catch {
        #expect(
            error.description == "cannot read pipeline file /nonexistent/pipeline.yaml: no such file; check the path")
    }
}

/// `defaulted:` reads a field's default from its spec, so no loader restates it.
@Suite struct DefaultedFieldTests {
    @Test func anAbsentFieldReadsItsSpecDefaultAndAWrittenOneItsValue() throws {
        let http = try SampleSpecs.http.validate(try parse("path: /x"))
        #expect(http.duration(defaulted: "timeout") == .seconds(30))
        #expect(http.byteCount(defaulted: "max_body") == 64 << 20)
        #expect(http.bool(defaulted: "retry") == true)
        let written = try SampleSpecs.http.validate(try parse("path: /x\ntimeout: 2s\nmax_body: 1KiB\nretry: false"))
        #expect(written.duration(defaulted: "timeout") == .seconds(2))
        #expect(written.byteCount(defaulted: "max_body") == 1024)
        #expect(written.bool(defaulted: "retry") == false)
        let resource = try SampleSpecs.resource.validate(try parse("name: r\nhttp: { path: /x }\npk: id"))
        #expect(resource.int(defaulted: "fan_out") == 8)
        #expect(resource.string(defaulted: "write") == "append")
    }

    @Test func anInvalidValueLeavesTheDefaultSoLoadingGoesOn() throws {
        // The validator reports the bad value; a loader reading on gets the spec's default, not a guess.
        let node = try parse("name: r\nhttp: { path: /x }\nfan_out: many")
        #expect(throws: ConfigErrors.self) { _ = try SampleSpecs.resource.validate(node) }
        let (object, errors) = SampleSpecs.resource.check(node)
        #expect(errors.map(\.message).contains { $0.contains("fan_out") }, "\(errors)")
        #expect(object.int(defaulted: "fan_out") == 8)
    }
}
