public import GatherConfig
import GatherStream

/// The declarative specs of every pipeline component. They drive validation (`gather validate`), help
/// (`gather help COMPONENT`) and the generated reference (`docs/reference.md`, checked by a test).
public enum PipelineSpecs {
    public static let paginators = Paginator.kinds.map { $0.spec }

    public static let auths = Authenticator.schemes.map { $0.spec }

    public static let retry = ComponentSpec(
        name: "retry", kind: "retry",
        summary: "Retries with full-jitter exponential backoff, never sooner than `Retry-After`, for connection "
            + "errors, timeouts and the statuses 408, 429, 500 and 502–504, charged to the host's limits. Only "
            + "idempotent methods (GET, HEAD, PUT, DELETE, OPTIONS) are retried, and requests with an "
            + "`Idempotency-Key` header.",
        fields: [
            FieldSpec(
                "attempts", .int, default: "4", description: "Attempts in all, the first included.",
                synonyms: ["max_attempts"]),
            FieldSpec("initial_delay", .duration, default: "200ms", description: "The first backoff."),
            FieldSpec("max_delay", .duration, default: "30s", description: "The longest backoff."),
            FieldSpec("max_elapsed", .duration, description: "Give up after this long in all.", example: "5m"),
            FieldSpec(
                "statuses", .any,
                description: "The statuses to retry, replacing the default set: codes and ranges, as a list or "
                    + "one string.", example: "[500, \"502-504\", 429]", synonyms: ["status_codes"]),
            FieldSpec(
                "methods", .stringOrList(.string),
                description: "More methods to retry (POST only when the API deduplicates).", example: "[POST]"),
        ],
        examples: ["retry: { attempts: 5, max_delay: 60s }", "retry: { statuses: [500, \"502-504\", 429] }"])

    public static let responseAction = ComponentSpec(
        name: "response_action", kind: "response_action",
        summary: "A rule for responses that a status list cannot express (as dlt's `response_actions`). Every "
            + "condition given must hold; the first matching rule wins; without a match the status decides.",
        fields: [
            FieldSpec(
                "status", .any, description: "A status, a range or a list of them.", example: "[401, 403]",
                synonyms: ["status_code", "statuses"]),
            FieldSpec(
                "content", .string, description: "Text the body must contain.", example: "rate limit exceeded"),
            FieldSpec(
                "json_path", .jsonPath, description: "A JSONPath that must select something in the JSON body.",
                example: "$.error", synonyms: ["json"]),
            FieldSpec(
                "action", .enumeration(["ignore", "retry", "fail"]), required: true,
                description: "`ignore`: no records and no error; `retry`: retry with backoff whatever the status; "
                    + "`fail`: stop the resource with a clear message."),
        ],
        examples: [
            "response_actions:\n  - { status: 404, action: ignore }\n  - { content: \"rate limit exceeded\", "
                + "action: retry }\n  - { status: [401, 403], action: fail }"
        ])

    public static let http = ComponentSpec(
        name: "http", kind: "http",
        summary: "An HTTP endpoint. In `defaults.http` it applies to every resource; a resource's own `http` wins "
            + "key by key (headers and params merge by name). `{name}` placeholders in `path`, `params`, "
            + "`headers` and `json` read `for_each` variables and the parent record (`{repos.full_name}`).",
        fields: [
            FieldSpec(
                "base_url", .string, description: "Prefix of relative paths.", example: "https://api.github.com",
                synonyms: ["url_base"]),
            FieldSpec(
                "path", .string, description: "The path or absolute URL, with placeholders.",
                example: "/orgs/{org}/repos", synonyms: ["url", "endpoint"]),
            FieldSpec(
                "method", .enumeration(["GET", "POST", "PUT", "PATCH", "DELETE"]),
                description: "The method (default GET, or POST with `json`)."),
            FieldSpec(
                "headers", .map(.string), description: "Request headers.", example: "{ Accept: application/json }"),
            FieldSpec(
                "params", .map(.string), description: "Query parameters.", example: "{ per_page: 100 }",
                synonyms: ["query"]),
            FieldSpec(
                "json", .any, description: "A JSON request body (strings may hold placeholders).",
                example: "{ query: \"{org}\" }", synonyms: ["body"]),
            FieldSpec(
                "auth", .oneOf(discriminator: "type", auths), description: "Authentication.",
                example: "{ type: bearer, token: \"${TOKEN}\" }"),
            FieldSpec(
                "timeout", .duration, description: "Timeout for each whole request (default 30s).", example: "30s"),
            FieldSpec("retry", .object(retry), description: "Retries."),
            FieldSpec(
                "response_actions", .list(.object(responseAction)),
                description: "Rules applied to each response before its status decides.",
                example: "[{ status: 404, action: ignore }]"),
            FieldSpec(
                "paginate", .oneOf(discriminator: "type", paginators), description: "How to get the next page.",
                example: "link_header", synonyms: ["paginator", "pagination"]),
        ])

    public static let limit = ComponentSpec(
        name: "limit", kind: "limit",
        summary: "Limits for one host (`*` for every other host), shared by all resources of the run.",
        fields: [
            FieldSpec("concurrency", .int, description: "Requests in flight to the host (default 16).", example: "8"),
            FieldSpec(
                "rate", .rate, description: "Requests per second, minute or hour, with an optional burst.",
                example: "5000/h"),
            FieldSpec(
                "obey_server_hints", .bool, default: "true",
                description: "Pause on `Retry-After` and `RateLimit-*` headers."),
            FieldSpec(
                "max_pause", .duration, default: "1h", description: "The longest pause a server hint may impose."),
        ],
        examples: ["limits:\n  api.github.com: { concurrency: 8, rate: 5000/h }"])

    public static let files = ComponentSpec(
        name: "files", kind: "files",
        summary: "CSV, JSON Lines or JSON files (gzip or zstd too) as a resource's records, read like `gather load`: "
            + "many at once, each resumed from its checkpoint after a crash; bad records become error rows with "
            + "file:line.",
        fields: [
            FieldSpec(
                "paths", .stringOrList(.string), required: true,
                description: "Paths, globs or directories, relative to the pipeline file.",
                example: "[data/orders-*.csv.gz]", synonyms: ["path", "glob", "bucket_url"]),
            FieldSpec(
                "format", .enumeration(["csv", "jsonl", "json"]),
                description: "The format (default: from each file's extension)."),
            FieldSpec("delimiter", .string, default: "\",\"", description: "CSV delimiter (one character, or tab)."),
            FieldSpec("quote", .string, default: "'\"'", description: "CSV quote character."),
            FieldSpec("header", .bool, default: "true", description: "CSV files start with a header row."),
            FieldSpec(
                "ragged", .enumeration(["error", "pad", "skip"]), default: "error",
                description: "CSV rows with the wrong number of fields: error rows, padded with nulls, or skipped."),
            FieldSpec(
                "replace_invalid_utf8", .bool, default: "false",
                description: "Replace invalid UTF-8 with U+FFFD instead of making the record an error row."),
            FieldSpec(
                "json_path", .string, description: "JSON documents: the path of the array of records.",
                example: "$.data.items"),
            FieldSpec(
                "source_columns", .bool, default: "false", description: "Add `source_file` and `source_line` fields."),
            FieldSpec("max_open", .int, default: "4", description: "Files read at the same time."),
        ],
        examples: ["files: { paths: [exports/*.csv.gz], ragged: pad }"])

    public static let sql = ComponentSpec(
        name: "sql", kind: "sql",
        summary: "A query as a resource's records: run against PostgreSQL or SQLite, its rows streamed in constant "
            + "memory (a server-side portal read with back-pressure, or a SQLite cursor) and committed `batch_rows` "
            + "at a time with the resource's state. Once per work item: with `from: PARENT`, once per parent record, "
            + "concurrently (`fan_out`, each on its own connection). Values go in as bound parameters, never into "
            + "the SQL text. A killed run resumes by skipping the rows already committed, so give the query an "
            + "`ORDER BY`. With `incremental`, `{cursor}` is the saved cursor (or `initial`).",
        fields: [
            FieldSpec(
                "query", .string, required: true,
                description: "The query; parameters are `$1`, `$2`… (PostgreSQL) or `?1`, `?2`… (SQLite).",
                example: "SELECT * FROM orders WHERE customer_id = $1 AND updated_at > $2 ORDER BY id",
                synonyms: ["sql", "statement"]),
            FieldSpec(
                "connection", .string,
                description: "`postgres://USER@HOST:PORT/DATABASE` or `sqlite:PATH` (relative to the pipeline file); "
                    + "default: the pipeline's destination.",
                example: "postgres://etl@db.internal/shop", secret: true, synonyms: ["database", "url", "dsn"]),
            FieldSpec(
                "params", .stringOrList(.string),
                description: "The bound parameters, in order: `{parent.field}`, a `for_each` variable, `{cursor}`, or "
                    + "text with placeholders. A parameter that is one placeholder keeps its value's type; text is "
                    + "sent untyped, for PostgreSQL to infer (cast in the query if it cannot: `$1::date`).",
                example: "[\"{customers.id}\", \"{cursor}\"]"),
            FieldSpec("batch_rows", .int, default: "5000", description: "Rows per commit."),
        ],
        examples: [
            """
            sql:
              connection: ${SOURCE_DB}
              query: SELECT * FROM orders WHERE customer_id = $1 AND updated_at > $2 ORDER BY updated_at, id
              params: ["{customers.id}", "{cursor}"]
            """
        ])

    public static let crawl = ComponentSpec(
        name: "crawl", kind: "crawl",
        summary: "Web pages as a resource's records, crawled as `gather crawl` does: links followed within scope, "
            + "robots.txt obeyed, the frontier kept in the destination (a killed run continues), each page's "
            + "`extract` fields plus `url`, `depth`, `status`, `fetched_at`. Requests go through the pipeline's "
            + "flow controller and `limits`.",
        fields: [
            FieldSpec(
                "start", .stringOrList(.string), required: true, description: "Start URLs.",
                example: "[https://shop.example/]", synonyms: ["start_urls", "urls"]),
            FieldSpec("sitemaps", .stringOrList(.string), description: "Sitemaps whose URLs start the crawl too."),
            FieldSpec("extract", .object(ExtractionConfig.spec), description: "The fields to take from each page."),
            FieldSpec(
                "follow", .string, description: "Follow only the links this selector finds (default: all a[href]).",
                example: "css:a.next"),
            FieldSpec("same_host", .bool, default: "false", description: "Stay on the start URLs' hosts."),
            FieldSpec("domains", .stringOrList(.string), description: "Stay on these domains and their subdomains."),
            FieldSpec("prefixes", .stringOrList(.string), description: "Only URLs starting with these."),
            FieldSpec("allow", .stringOrList(.string), description: "Only URLs matching one of these regexes."),
            FieldSpec("deny", .stringOrList(.string), description: "Never URLs matching one of these regexes."),
            FieldSpec("max_depth", .int, description: "The deepest page (start URLs are depth 0)."),
            FieldSpec("max_pages", .int, description: "Stop after fetching this many pages."),
            FieldSpec("concurrency", .int, default: "16", description: "Pages in flight."),
            FieldSpec("robots", .bool, default: "true", description: "Obey robots.txt (RFC 9309) and Crawl-delay."),
            FieldSpec("canonical", .bool, default: "false", description: "Record pages under <link rel=canonical>."),
            FieldSpec("sort_query", .bool, default: "false", description: "Query parameter order does not matter."),
        ],
        examples: [
            """
            crawl:
              start: https://shop.example/
              same_host: true
              extract: { fields: { title: "css:h1::text", price: { css: span.price::text, type: real } } }
            """
        ])

    public static let incremental = ComponentSpec(
        name: "incremental", kind: "incremental",
        summary: "Loads only new or changed records: the largest `cursor` value seen is saved per resource (and per "
            + "`for_each` value or parent record), and sent as `param` next time. Without `param`, records are "
            + "filtered here instead.",
        fields: [
            FieldSpec(
                "cursor", .string, required: true,
                description: "The record field holding the cursor (dotted paths reach nested fields).",
                example: "updated_at", synonyms: ["cursor_path"]),
            FieldSpec("param", .string, description: "The query parameter it is sent as.", example: "since"),
            FieldSpec(
                "initial", .any, description: "The value for the first run.", example: "\"2024-01-01T00:00:00Z\"",
                synonyms: ["initial_value"]),
        ],
        examples: ["incremental: { cursor: updated_at, param: since, initial: \"2024-01-01T00:00:00Z\" }"])

    public static let transforms = Transform.recordTransforms.map { $0.spec } + [ProcessStage.spec]

    public static let resource = ComponentSpec(
        name: "resource", kind: "resource",
        summary: "An endpoint, fetched once per `for_each` combination or once per parent record (`from`), its "
            + "records taken with `select`, transformed, and written to a table.",
        fields: [
            FieldSpec("name", .string, required: true, description: "The resource's name.", example: "repos"),
            FieldSpec("table", .string, description: "The table (default: the name).", synonyms: ["table_name"]),
            FieldSpec(
                "http", .object(http),
                description: "The endpoint (a resource has `http`, `files`, `sql` or `crawl`).",
                synonyms: ["endpoint", "request"]),
            FieldSpec(
                "files", .object(files), description: "Files to read instead of an endpoint (as `gather load` does).",
                synonyms: ["file", "source"]),
            FieldSpec(
                "sql", .object(sql), description: "A query to run instead of an endpoint (PostgreSQL or SQLite).",
                synonyms: ["query"]),
            FieldSpec(
                "crawl", .object(crawl), description: "Web pages to crawl instead of an endpoint.",
                synonyms: ["spider", "scrape"]),
            FieldSpec(
                "for_each", .map(.stringOrList(.string)),
                description: "Variables and their values; the endpoint is fetched for every combination.",
                example: "{ org: [apple, swiftlang] }"),
            FieldSpec(
                "from", .string, description: "A parent resource: the endpoint is fetched once per parent record.",
                example: "repos", synonyms: ["parent", "depends_on"]),
            FieldSpec(
                "fan_out", .int, default: "8",
                description:
                    "Work items (for_each values or parent records) fetched at once; the host's limits still apply.",
                synonyms: ["concurrency"]),
            FieldSpec(
                "select", .jsonPath,
                description:
                    "Where the records are in each response (default: the response if it is a list, else its first list field).",
                example: "$.items[*]", synonyms: ["data_selector"]),
            FieldSpec(
                "include", .map(.string), description: "Parent fields copied into each record: name → parent field.",
                example: "{ repo_id: repos.id }"),
            FieldSpec(
                "primary_key", .stringOrList(.string), description: "The key fields; required for `merge`.",
                example: "[repo_id, login]"),
            FieldSpec(
                "write", .enumeration(["append", "replace", "merge"]), default: "append",
                description:
                    "append adds rows; replace empties the table at the start of each run; merge upserts on the primary key.",
                synonyms: ["write_disposition", "mode"]),
            FieldSpec("incremental", .object(incremental), description: "Only newer records on later runs."),
            FieldSpec(
                "transform", .list(.oneOf(discriminator: "type", transforms)),
                description: "Steps applied to each record, in order.", synonyms: ["transforms"]),
            FieldSpec(
                "lists", .enumeration(["tables", "json"]), default: "tables",
                description:
                    "Nested lists as child tables (`table__field`, linked by `_gather_parent_key` and `_gather_pos`) or as JSON columns.",
                synonyms: ["nested"]),
            FieldSpec(
                "parallel_pages", .bool, default: "true",
                description: "Fetch pages in parallel when their number is known."),
        ] + StreamSpecs.resourceFields)

    public static let defaults = ComponentSpec(
        name: "defaults", kind: "defaults", summary: "Settings every resource starts from.",
        fields: [FieldSpec("http", .object(http), description: "HTTP settings for every resource.")])

    public static let pipeline = ComponentSpec(
        name: "pipeline", kind: "pipeline",
        summary: "A pipeline file: where rows go, HTTP defaults, per-host limits, and the resources. `${VAR}` "
            + "(or `${VAR:-default}`) reads the environment, then a `.env` file beside the pipeline.",
        fields: [
            FieldSpec(
                "name", .string, required: true, description: "The pipeline's name; runs and state are kept under it.",
                example: "github"),
            FieldSpec(
                "destination", .string, required: true,
                description: "`sqlite:PATH` or a path ending .db, .sqlite or .sqlite3 (relative to the pipeline file), "
                    + "or `postgres://USER@HOST:PORT/DATABASE?sslmode=…` (password from the URL, `PGPASSWORD` or "
                    + "`~/.pgpass`; never printed). Write a password as `${PGPASSWORD}`, not in the file.",
                example: "sqlite:github.db"),
            FieldSpec("defaults", .object(defaults), description: "Settings every resource starts from."),
            FieldSpec(
                "limits", .map(.object(limit)), description: "Per-host limits.",
                example: "{ api.github.com: { concurrency: 8, rate: 5000/h } }"),
            FieldSpec("resources", .list(.object(resource)), required: true, description: "The resources."),
        ],
        examples: [
            """
            name: github
            destination: sqlite:github.db
            defaults:
              http:
                base_url: https://api.github.com
                auth: { type: bearer, token: "${GITHUB_TOKEN}" }
            resources:
              - name: repos
                for_each: { org: [apple, swiftlang] }
                http: { path: "/orgs/{org}/repos", paginate: link_header }
                primary_key: id
                write: merge
            """
        ])

    /// Every component, for `gather help` and the generated reference.
    public static let all: [ComponentSpec] =
        [
            pipeline, defaults, resource, http, files, sql, crawl, ExtractionConfig.spec, ExtractionConfig.field, limit,
            retry, responseAction, incremental,
        ]
        + paginators + auths + transforms + StreamSpecs.all
}
