public import GatherCore
import GatherFormats
public import GatherPostgres

/// Work shared by many worker processes on many hosts through one PostgreSQL database: runs, their units of
/// work, leases with fencing tokens, and workers' heartbeats. Usable without the CLI: an app can enqueue units
/// and run workers in-process.
///
/// The protocol:
/// - **Claim.** ``claim(run:worker:count:lease:)`` takes up to `count` units that are ready, or whose lease
///   expired, with `SELECT … FOR UPDATE SKIP LOCKED` (claimers never wait on each other), and leases them: each
///   claim raises the unit's `epoch`, the fencing token.
/// - **Keep.** ``heartbeat(worker:leases:lease:)`` extends the leases still held (same owner, same epoch) and
///   says which were lost.
/// - **Complete, fenced.** ``complete(_:worker:writing:)`` runs one transaction that first deletes the units
///   whose epoch is still the lease's (so a worker whose lease expired and was claimed again by another matches
///   nothing), then lets the caller write the results of exactly the accepted units, then commits. A late
///   worker's results are never written: nothing is done twice, whatever pauses or partitions happen.
/// - Done units are deleted at completion, so the queue holds only what is left (and failed units with their
///   reason); a run's progress is its total minus what remains.
///
/// None of the usual PostgreSQL queues (River, Oban, graphile-worker, Procrastinate) fences completion: they
/// complete a job by its id, so a worker whose lease expired can still complete it after another did.
public struct Coordinator: Sendable {
    public let server: PostgresServer

    public init(server: PostgresServer) {
        self.server = server
    }

    /// The channel idle workers LISTEN on; ``enqueue(run:payloads:)`` notifies it.
    public static let channel = "gather_units"

    // MARK: - Schema

    /// Creates the coordinator's tables if they are missing, or brings them to their current form (serialised by
    /// an advisory lock, so workers that start together do not race). When they are current already, as they are
    /// for every worker but the first, it only reads the catalog: an `ALTER TABLE` would take its lock on tables
    /// the running workers use, and wait behind an `ANALYZE`, each time a worker starts.
    public func install() async throws {
        if try await self.isInstalled() { return }
        try await self.server.withTransaction { tx in
            try await tx.execute("SELECT pg_advisory_xact_lock(727274)")
            try await tx.execute(
                """
                CREATE TABLE IF NOT EXISTS gather_runs (
                    run_id text PRIMARY KEY, kind text NOT NULL, config_hash text NOT NULL,
                    spec text NOT NULL DEFAULT '{}', total bigint NOT NULL DEFAULT 0,
                    state text NOT NULL DEFAULT 'running',
                    created_at timestamptz NOT NULL DEFAULT now(), finished_at timestamptz)
                """)
            // A run is sealed once all its first units are enqueued: until then it is never finished, however
            // empty its queue looks (a worker that joins between the registration and the enqueue waits).
            try await tx.execute(
                "ALTER TABLE gather_runs ADD COLUMN IF NOT EXISTS sealed boolean NOT NULL DEFAULT false")
            // How many first units are enqueued (``seed(run:payloads:after:)``): where a registrar that stopped
            // before sealing is resumed.
            try await tx.execute("ALTER TABLE gather_runs ADD COLUMN IF NOT EXISTS seeded bigint NOT NULL DEFAULT 0")
            try await tx.execute(
                """
                CREATE TABLE IF NOT EXISTS gather_units (
                    run_id text NOT NULL REFERENCES gather_runs ON DELETE CASCADE, unit_id bigint NOT NULL,
                    payload text NOT NULL, state text NOT NULL DEFAULT 'ready', epoch bigint NOT NULL DEFAULT 0,
                    owner text, lease_until timestamptz, attempts int NOT NULL DEFAULT 0, error text,
                    PRIMARY KEY (run_id, unit_id))
                """)
            // Claims walk the primary key (run_id, unit_id). No other index: an index whose key or predicate
            // names a column a claim or heartbeat changes (state, epoch, owner, lease_until) would make every
            // such UPDATE a non-HOT one, with a new index entry and a dead one each time; with none, they are HOT
            // updates that page pruning cleans up without waiting for vacuum. Room on each page for them:
            // fillfactor 70. Every unit leaves two dead rows (its claim and its delete), so vacuum and analyze
            // run on this table after a fixed number of changes rather than a share of its size, and vacuum at
            // full speed (no cost delay): it is a queue, not a table that grows.
            try await tx.execute("DROP INDEX IF EXISTS gather_units_open")
            try await tx.execute(
                """
                ALTER TABLE gather_units SET (fillfactor = 70,
                    autovacuum_vacuum_scale_factor = 0, \(Self.vacuumThreshold),
                    autovacuum_vacuum_insert_scale_factor = 0, autovacuum_vacuum_insert_threshold = 20000,
                    autovacuum_analyze_scale_factor = 0, autovacuum_analyze_threshold = 20000,
                    autovacuum_vacuum_cost_delay = 0)
                """)
            try await tx.execute(
                """
                CREATE TABLE IF NOT EXISTS gather_budgets (
                    key text PRIMARY KEY, tokens double precision NOT NULL,
                    updated_at timestamptz NOT NULL DEFAULT clock_timestamp(), paused_until timestamptz)
                """)
            // The rate last asked for and the requests granted so far, for `gather status`.
            try await tx.execute("ALTER TABLE gather_budgets ADD COLUMN IF NOT EXISTS rate double precision")
            try await tx.execute(
                "ALTER TABLE gather_budgets ADD COLUMN IF NOT EXISTS granted bigint NOT NULL DEFAULT 0")
            // The keys a run has ever enqueued (a crawl's URLs): a unit is deleted once done, so the queue
            // cannot tell a URL seen before from a new one.
            try await tx.execute(
                """
                CREATE TABLE IF NOT EXISTS gather_seen (
                    run_id text NOT NULL REFERENCES gather_runs ON DELETE CASCADE, key text NOT NULL,
                    PRIMARY KEY (run_id, key))
                """)
            try await tx.execute(
                """
                CREATE TABLE IF NOT EXISTS gather_workers (
                    name text PRIMARY KEY, host text NOT NULL DEFAULT '', pid int NOT NULL DEFAULT 0,
                    version text NOT NULL DEFAULT '', heartbeat_at timestamptz NOT NULL DEFAULT now())
                """)
        }
    }

    /// The queue's vacuum threshold as `install()` sets it and `pg_class.reloptions` shows it (how ``isInstalled()``
    /// knows the table options are current).
    private static let vacuumThreshold = "autovacuum_vacuum_threshold=20000"

    /// `true` when the tables exist in the form ``install()`` gives them (the columns and table options it adds
    /// last, and not the index it drops).
    private func isInstalled() async throws -> Bool {
        let rows = try await self.server.query(
            """
            SELECT (SELECT count(*) FROM information_schema.columns WHERE table_schema = current_schema()
                        AND ((table_name = 'gather_runs' AND column_name = 'seeded')
                            OR (table_name = 'gather_budgets' AND column_name = 'granted')
                            OR (table_name = 'gather_workers' AND column_name = 'heartbeat_at'))) = 3
                AND coalesce((SELECT '\(Self.vacuumThreshold)' = ANY(reloptions) FROM pg_class
                    WHERE oid = to_regclass('gather_units')), false)
                AND to_regclass('gather_units_open') IS NULL AND to_regclass('gather_seen') IS NOT NULL
            """)
        return rows.first?.first == .bool(true)
    }

    /// Runs `body` with a doorbell that rings whenever units are enqueued anywhere (`LISTEN gather_units`, on a
    /// connection of its own for the length of `body`), so idle workers wake at once instead of polling. When the
    /// listening connection is lost (the server restarted, say), it is opened again after a backoff, and the bell
    /// rings once it is back, in case a notification was missed meanwhile.
    public func withWakeups<T: Sendable>(_ body: (Doorbell) async throws -> T) async throws -> T {
        let bell = Doorbell()
        let server = self.server
        // Not a child task: `body`'s end must not wait for the listener. Cancelling it ends the notification
        // stream, but a LISTEN whose connection went quiet (a host back from a partition) is not worth a
        // worker that cannot exit; it ends on its own, or when the pool closes its connection.
        let listener = Task {
            var backoff = Duration.milliseconds(100)
            while !Task.isCancelled {
                let started = ContinuousClock.now
                do {
                    try await server.withConnection { connection in
                        try await connection.listen(on: Self.channel) { notifications in
                            bell.ring()
                            for try await _ in notifications { bell.ring() }
                        }
                    }
                } catch {
                    // Idle workers still wake at least once a second meanwhile (UnitLoop's timeout).
                }
                // A connection that lasted was a working one: start the backoff again.
                if started.duration(to: .now) > .seconds(10) { backoff = .milliseconds(100) }
                try? await Task.sleep(for: backoff)
                backoff = min(backoff * 2, .seconds(5))
            }
        }
        defer { listener.cancel() }
        return try await body(bell)
    }

    // MARK: - One rate budget for the fleet

    /// Takes up to `want` requests from the budget of `key` (a host), shared by every worker of every host: a
    /// token bucket of `rate` per second holding at most `burst`, kept in one row, so the fleet together never
    /// goes faster than `rate` (plus the burst). Workers take small grants (a tenth of a second of rate, say)
    /// and spend them locally, so the database sees one statement per grant, not per request.
    ///
    /// - Returns: the requests granted (0 when the bucket is empty or the key is paused), and, when paused, until
    ///   when.
    public func grant(key: String, rate: Double, burst: Double, want: Int) async throws
        -> (granted: Int, pausedFor: Duration?)
    {
        try await self.server.withTransaction { tx in
            try await tx.execute(
                "INSERT INTO gather_budgets (key, tokens) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
                [.string(key), .double(burst)])
            let rows = try await tx.query(
                """
                WITH b AS (
                    SELECT key, paused_until,
                        least($3::float8, tokens + extract(epoch FROM clock_timestamp() - updated_at) * $2::float8)
                            AS available
                    FROM gather_budgets WHERE key = $1 FOR UPDATE)
                UPDATE gather_budgets AS g
                SET tokens = CASE WHEN b.paused_until > clock_timestamp() THEN b.available
                        ELSE b.available - least($4::float8, floor(b.available)) END,
                    granted = g.granted + CASE WHEN b.paused_until > clock_timestamp() THEN 0
                        ELSE least($4::float8, floor(b.available))::bigint END,
                    rate = $2::float8, updated_at = clock_timestamp()
                FROM b WHERE g.key = b.key
                RETURNING CASE WHEN b.paused_until > clock_timestamp() THEN 0
                        ELSE least($4::float8, floor(b.available))::bigint END,
                    greatest(0, extract(epoch FROM b.paused_until - clock_timestamp()) * 1000)::bigint
                """, [.string(key), .double(rate), .double(burst), .int(Int64(want))])
            guard let row = rows.first, row.count == 2 else { return (0, nil) }
            let paused = row[1].intValue.flatMap { $0 > 0 ? Duration.milliseconds($0) : nil }
            return (Int(row[0].intValue ?? 0), paused)
        }
    }

    /// Pauses `key` for every worker for `duration` (a `Retry-After` one of them saw): grants are 0 until then.
    public func pause(key: String, for duration: Duration) async throws {
        try await self.server.execute(
            """
            INSERT INTO gather_budgets (key, tokens, paused_until)
            VALUES ($1, 0, clock_timestamp() + $2::float8 * interval '1 millisecond')
            ON CONFLICT (key) DO UPDATE SET paused_until = greatest(
                coalesce(gather_budgets.paused_until, clock_timestamp()), excluded.paused_until)
            """, [.string(key), .double(duration.seconds * 1000)])
    }

    /// The fleet's budgets, for `gather status`: per key (a host), the rate last asked for, the requests granted
    /// so far, and how long it stays paused (a `Retry-After`), if it is.
    public func budgets() async throws -> [BudgetInfo] {
        try await self.server.query(
            """
            SELECT key, coalesce(rate, 0), granted,
                greatest(0, extract(epoch FROM paused_until - clock_timestamp()) * 1000)::bigint
            FROM gather_budgets ORDER BY key
            """
        ).map { row in
            BudgetInfo(
                key: row[0].stringValue ?? "", rate: row[1].doubleValue ?? 0, granted: Int(row[2].intValue ?? 0),
                pausedFor: (row[3].intValue ?? 0) > 0 ? .milliseconds(row[3].intValue ?? 0) : nil)
        }
    }

    // MARK: - Runs and units

    /// Registers run `id` with the hash of its configuration, or joins it when it exists with the same hash. A run
    /// that exists but is not sealed yet comes back as ``RunRegistration/unsealed(seeded:)``: its registrar
    /// stopped (or is still at it) before all first units were enqueued, and a ``Seeder`` goes on from there.
    ///
    /// - Throws: ``CoordinatorError`` when the run exists with another configuration (another pipeline file, or
    ///   another Gather version): a worker must not join work it would do differently.
    @discardableResult
    public func register(run id: String, kind: String, configHash: String, spec: Value = .object([:])) async throws
        -> RunRegistration
    {
        let rows = try await self.server.query(
            """
            WITH created AS (
                INSERT INTO gather_runs (run_id, kind, config_hash, spec) VALUES ($1, $2, $3, $4)
                ON CONFLICT (run_id) DO NOTHING RETURNING config_hash)
            SELECT config_hash, true, false, 0::bigint FROM created
            UNION ALL SELECT config_hash, false, sealed, seeded FROM gather_runs WHERE run_id = $1
            """, [.string(id), .string(kind), .string(configHash), .string(JSONWriter.string(spec))])
        // Two registrars at once: the other's INSERT committed after this statement's snapshot, so this one
        // inserted nothing and saw nothing. A new statement sees it.
        let found =
            rows.isEmpty
            ? try await self.server.query(
                "SELECT config_hash, false, sealed, seeded FROM gather_runs WHERE run_id = $1", [.string(id)])
            : rows
        guard let first = found.first, let hash = first[0].stringValue else {
            throw CoordinatorError("run \(id) could not be registered")
        }
        guard hash == configHash else {
            throw CoordinatorError(
                "run \(id) was started with another configuration (hash \(hash.prefix(12)), this one is "
                    + "\(configHash.prefix(12))): give the same pipeline file and Gather version, or another run id")
        }
        if first[1] == .bool(true) { return .created }
        return first[2] == .bool(true) ? .joined : .unsealed(seeded: first[3].intValue ?? 0)
    }

    /// Adds units to run `id` (numbered after the ones it has) and wakes idle workers. Returns the units' ids.
    @discardableResult
    public func enqueue(run id: String, payloads: [Value]) async throws -> [Int64] {
        guard !payloads.isEmpty else { return [] }
        return try await self.server.withTransaction { tx in
            try await Self.enqueue(run: id, payloads: payloads, in: tx)
        }
    }

    /// ``enqueue(run:payloads:)`` inside the caller's transaction: follow-up units (a next page, child items)
    /// commit together with the results that found them.
    public static func enqueue(run id: String, payloads: [Value], in tx: PostgresTransaction) async throws -> [Int64] {
        guard !payloads.isEmpty else { return [] }
        let total = try await tx.query(
            "UPDATE gather_runs SET total = total + $2 WHERE run_id = $1 RETURNING total",
            [.string(id), .int(Int64(payloads.count))])
        guard let end = total.first?.first?.intValue else { throw CoordinatorError("no run \(id)") }
        return try await Self.insert(run: id, payloads: payloads, through: end, in: tx)
    }

    /// ``enqueue(run:payloads:in:)`` for units that each have a key (a crawl's URL): only those whose key run `id`
    /// has never enqueued go in, so a page linked from many others is one unit, once, whoever found it first. With
    /// `limit`, no more than that many units are ever enqueued for the run (a crawl's `--max-pages`): the run's row
    /// is locked while its count is read, so concurrent transactions cannot both take the last places.
    ///
    /// - Returns: the keys enqueued.
    @discardableResult
    public static func enqueueNew(
        run id: String, keyed units: [(key: String, payload: Value)], limit: Int64? = nil, in tx: PostgresTransaction
    ) async throws -> [String] {
        guard !units.isEmpty else { return [] }
        var room = Int64.max
        if let limit {
            let total = try await tx.query(
                "SELECT total FROM gather_runs WHERE run_id = $1 FOR UPDATE", [.string(id)])
            guard let count = total.first?.first?.intValue else { throw CoordinatorError("no run \(id)") }
            room = max(0, limit - count)
            if room == 0 { return [] }
        }
        let candidates = Array(units.prefix(Int(min(room, Int64(units.count)))))
        let fresh = try await Self.markSeen(run: id, keys: candidates.map(\.key), in: tx)
        let payloads = candidates.filter { fresh.contains($0.key) }.map(\.payload)
        _ = try await Self.enqueue(run: id, payloads: payloads, in: tx)
        return candidates.map(\.key).filter { fresh.contains($0) }
    }

    /// Records `keys` as enqueued for run `id` (a registrar's first units, before they are seeded); returns those
    /// that were new.
    @discardableResult
    public static func markSeen(run id: String, keys: [String], in tx: PostgresTransaction) async throws -> Set<String>
    {
        guard !keys.isEmpty else { return [] }
        // In key order, so two transactions that find the same links wait for each other instead of deadlocking.
        let rows = try await tx.query(
            """
            INSERT INTO gather_seen (run_id, key)
            SELECT DISTINCT $1, k FROM jsonb_array_elements_text($2::jsonb) AS k ORDER BY 2
            ON CONFLICT DO NOTHING RETURNING key
            """, [.string(id), .array(keys.map(Value.string))])
        return Set(rows.compactMap { $0.first?.stringValue })
    }

    /// ``markSeen(run:keys:in:)`` in a transaction of its own.
    @discardableResult
    public func markSeen(run id: String, keys: [String]) async throws -> Set<String> {
        try await self.server.withTransaction { tx in try await Self.markSeen(run: id, keys: keys, in: tx) }
    }

    /// Adds `payloads` as run `id`'s first units number `after + 1` on, unless that many are enqueued already:
    /// a compare-and-set on the run's count of first units, so registrars that enqueue the same deterministic
    /// sequence (one resuming another that stopped, or two at once) never enqueue a unit twice. Returns the count
    /// of first units after (`after + payloads.count` when these went in, else what another registrar got to, and
    /// nothing was added) and whether the run is sealed (then nothing more can be added).
    public func seed(run id: String, payloads: [Value], after: Int64) async throws -> (seeded: Int64, sealed: Bool) {
        guard !payloads.isEmpty else { return (after, false) }
        return try await self.server.withTransaction { tx in
            let count = Int64(payloads.count)
            let total = try await tx.query(
                """
                UPDATE gather_runs SET total = total + $2, seeded = seeded + $2
                WHERE run_id = $1 AND seeded = $3 AND NOT sealed RETURNING total
                """, [.string(id), .int(count), .int(after)])
            guard let end = total.first?.first?.intValue else {
                let now = try await tx.query(
                    "SELECT seeded, sealed FROM gather_runs WHERE run_id = $1", [.string(id)])
                guard let row = now.first, let seeded = row[0].intValue else { throw CoordinatorError("no run \(id)") }
                return (seeded, row[1] == .bool(true))
            }
            _ = try await Self.insert(run: id, payloads: payloads, through: end, in: tx)
            return (after + count, false)
        }
    }

    /// Inserts `payloads` as units numbered up to `end` and wakes idle workers.
    private static func insert(run id: String, payloads: [Value], through end: Int64, in tx: PostgresTransaction)
        async throws -> [Int64]
    {
        let first = end - Int64(payloads.count) + 1
        let texts = Value.array(payloads.map { .string(JSONWriter.string($0)) })
        try await tx.execute(
            """
            INSERT INTO gather_units (run_id, unit_id, payload)
            SELECT $1, $2::bigint + ordinality - 1, payload FROM jsonb_array_elements_text($3::jsonb)
                WITH ORDINALITY AS p(payload, ordinality)
            """, [.string(id), .int(first), texts])
        try await tx.execute("SELECT pg_notify('\(Self.channel)', $1)", [.string(id)])
        return Array(first...end)
    }

    /// Refreshes the planner's statistics of the queue table (best effort). A claim walks the primary key in
    /// unit order and stops after `count` units, but only when the planner knows how many units a run has: with
    /// the statistics of an emptier table (autovacuum analyzes it a minute later at the earliest) it estimated 3
    /// rows for a run of 100,000, chose to fetch and sort them all, and each claim took 78 ms instead of 1. The
    /// ``Seeder`` calls this as a run grows (at 5,000 first units, 50,000, …) and once it is sealed.
    public func analyze() async {
        try? await self.server.execute("ANALYZE gather_units")
    }

    /// The runs still running: their id, kind and spec (what a worker needs to do their units).
    public func openRuns() async throws -> [RunInfo] {
        try await self.server.query(
            "SELECT run_id, kind, spec FROM gather_runs WHERE state = 'running' ORDER BY created_at"
        ).map { row in
            RunInfo(
                id: row[0].stringValue ?? "", kind: row[1].stringValue ?? "",
                spec: (try? JSONReader.parse(row[2].stringValue ?? "{}")) ?? .object([:]))
        }
    }

    /// Says that run `id` has all its first units: from now on an empty queue means the run is done. Until a run
    /// is sealed, ``finishIfDone(run:)`` never finishes it, so a worker that joins between the registration and
    /// the last enqueue waits for the units instead of declaring the run done.
    public func seal(run id: String) async throws {
        try await self.server.execute("UPDATE gather_runs SET sealed = true WHERE run_id = $1", [.string(id)])
    }

    /// Marks run `id` done once it is sealed and no unit is left to do (failed units stay, with their reasons);
    /// `true` when it is.
    @discardableResult
    public func finishIfDone(run id: String) async throws -> Bool {
        guard try await self.progress(run: id).isFinished else { return false }
        let finished = try await self.server.query(
            """
            UPDATE gather_runs SET state = 'done', finished_at = coalesce(finished_at, now())
            WHERE run_id = $1 AND sealed AND state IN ('running', 'done') RETURNING run_id
            """, [.string(id)])
        return !finished.isEmpty
    }

    /// Leases up to `count` units of run `id` that are ready or whose lease expired, for `lease`.
    public func claim(run id: String, worker: String, count: Int, lease: Duration) async throws -> [Lease] {
        let rows = try await self.server.query(
            """
            WITH picked AS (
                SELECT unit_id FROM gather_units
                WHERE run_id = $1 AND (state = 'ready' OR (state = 'leased' AND lease_until < now()))
                ORDER BY unit_id LIMIT $2 FOR UPDATE SKIP LOCKED)
            UPDATE gather_units AS u
            SET state = 'leased', epoch = u.epoch + 1, owner = $3, attempts = u.attempts + 1,
                lease_until = now() + $4::float8 * interval '1 millisecond'
            FROM picked WHERE u.run_id = $1 AND u.unit_id = picked.unit_id
            RETURNING u.unit_id, u.epoch, u.payload, u.attempts
            """, [.string(id), .int(Int64(count)), .string(worker), .double(lease.seconds * 1000)])
        return try rows.map { row in
            guard row.count == 4, let unit = row[0].intValue, let epoch = row[1].intValue,
                let payload = row[2].stringValue, let attempts = row[3].intValue
            else { throw CoordinatorError("a claim returned an unexpected row") }
            return Lease(
                run: id, unit: unit, epoch: epoch, payload: (try? JSONReader.parse(payload)) ?? .string(payload),
                attempts: Int(attempts))
        }.sorted { $0.unit < $1.unit }
    }

    /// Extends the leases `worker` still holds (same epoch) by `lease` from now; returns the units that were lost
    /// (claimed again by another after they expired, or completed).
    public func heartbeat(worker: String, leases: [Lease], lease: Duration) async throws -> [Lease] {
        guard let run = leases.first?.run else { return [] }
        let kept = try await self.server.query(
            """
            UPDATE gather_units AS u SET lease_until = now() + $3::float8 * interval '1 millisecond'
            FROM jsonb_to_recordset($2::jsonb) AS f(unit_id bigint, epoch bigint)
            WHERE u.run_id = $1 AND u.unit_id = f.unit_id AND u.epoch = f.epoch AND u.owner = $4
                AND u.state = 'leased'
            RETURNING u.unit_id
            """, [.string(run), Self.fences(leases), .double(lease.seconds * 1000), .string(worker)])
        let held = Set(kept.compactMap { $0.first?.intValue })
        try await self.join(worker: worker)
        return leases.filter { !held.contains($0.unit) }
    }

    /// Records that `worker` is alive now (`gather status` shows the last time).
    public func join(worker: String) async throws {
        try await self.server.execute(
            "INSERT INTO gather_workers (name, heartbeat_at) VALUES ($1, now()) "
                + "ON CONFLICT (name) DO UPDATE SET heartbeat_at = now()", [.string(worker)])
    }

    /// Completes `leases` in one transaction, fenced: first the units whose epoch is still the lease's are taken
    /// off the queue, then `writing` writes the results of exactly those (in the same transaction), then it all
    /// commits. Returns the accepted leases; the others were lost (their results must be dropped, and are: the
    /// writer never sees them).
    @discardableResult
    public func complete(
        _ leases: [Lease], worker: String,
        writing: (PostgresTransaction, _ accepted: [Lease]) async throws -> Void = { _, _ in }
    ) async throws -> [Lease] {
        guard !leases.isEmpty else { return [] }
        return try await self.server.withTransaction { tx in
            let accepted = try await Self.fence(leases, worker: worker, in: tx)
            if !accepted.isEmpty { try await writing(tx, accepted) }
            return accepted
        }
    }

    /// Whether `worker` still holds `lease` (its epoch current), checked inside the caller's transaction with the
    /// unit's row locked until it ends: a claim by another worker waits for that transaction, so what it writes
    /// is written while the lease was this worker's. The fence of a unit committed in several transactions (a
    /// pipeline item's pages); ``fence(_:worker:in:)`` ends the unit.
    public static func holds(_ lease: Lease, worker: String, in tx: PostgresTransaction) async throws -> Bool {
        let rows = try await tx.query(
            """
            SELECT 1 FROM gather_units
            WHERE run_id = $1 AND unit_id = $2 AND epoch = $3 AND owner = $4 AND state = 'leased' FOR UPDATE
            """, [.string(lease.run), .int(lease.unit), .int(lease.epoch), .string(worker)])
        return !rows.isEmpty
    }

    /// The fence of ``complete(_:worker:writing:)`` inside the caller's transaction (a sink's, say): takes the
    /// units whose epoch is still the lease's off the queue and returns those leases. The caller writes their
    /// results in the same transaction, and only theirs.
    public static func fence(_ leases: [Lease], worker: String, in tx: PostgresTransaction) async throws -> [Lease] {
        guard let run = leases.first?.run else { return [] }
        let done = try await tx.query(
            """
            DELETE FROM gather_units AS u USING jsonb_to_recordset($2::jsonb) AS f(unit_id bigint, epoch bigint)
            WHERE u.run_id = $1 AND u.unit_id = f.unit_id AND u.epoch = f.epoch AND u.owner = $3
                AND u.state = 'leased'
            RETURNING u.unit_id
            """, [.string(run), Self.fences(leases), .string(worker)])
        let ids = Set(done.compactMap { $0.first?.intValue })
        return leases.filter { ids.contains($0.unit) }
    }

    /// Marks `lease` failed with `reason`, fenced like ``complete(_:worker:writing:)``: a failed unit stays in
    /// the queue with its reason and is not claimed again. Returns `false` when the lease was lost.
    @discardableResult
    public func fail(_ lease: Lease, worker: String, reason: String) async throws -> Bool {
        let rows = try await self.server.query(
            """
            UPDATE gather_units SET state = 'failed', error = $5, lease_until = NULL
            WHERE run_id = $1 AND unit_id = $2 AND epoch = $3 AND owner = $4 AND state = 'leased'
            RETURNING unit_id
            """, [.string(lease.run), .int(lease.unit), .int(lease.epoch), .string(worker), .string(reason)])
        return !rows.isEmpty
    }

    /// Hands `worker`'s leases of run `id` back (a graceful stop), so others claim them at once.
    public func release(run id: String, worker: String) async throws {
        try await self.server.execute(
            "UPDATE gather_units SET state = 'ready', owner = NULL, lease_until = NULL "
                + "WHERE run_id = $1 AND owner = $2 AND state = 'leased'", [.string(id), .string(worker)])
    }

    /// Where run `id` stands.
    public func progress(run id: String) async throws -> QueueProgress {
        let rows = try await self.server.query(
            """
            SELECT r.total,
                count(*) FILTER (WHERE u.state = 'ready'),
                count(*) FILTER (WHERE u.state = 'leased' AND u.lease_until >= now()),
                count(*) FILTER (WHERE u.state = 'leased' AND u.lease_until < now()),
                count(*) FILTER (WHERE u.state = 'failed')
            FROM gather_runs AS r LEFT JOIN gather_units AS u ON u.run_id = r.run_id
            WHERE r.run_id = $1 GROUP BY r.total
            """, [.string(id)])
        guard let row = rows.first, row.count == 5 else { throw CoordinatorError("no run \(id)") }
        let numbers = row.map { Int($0.intValue ?? 0) }
        return QueueProgress(
            total: numbers[0], ready: numbers[1], leased: numbers[2], expired: numbers[3], failed: numbers[4])
    }

    static func fences(_ leases: [Lease]) -> Value {
        .array(leases.map { .object(Record([("unit_id", .int($0.unit)), ("epoch", .int($0.epoch))])) })
    }
}

/// A unit held by a worker: its payload and the fencing token (`epoch`) its completion must still match.
public struct Lease: Sendable, Hashable {
    public var run: String
    public var unit: Int64
    public var epoch: Int64
    public var payload: Value
    /// Claims of this unit so far, this one included.
    public var attempts: Int
}

/// One budget of the fleet's rate (``Coordinator/budgets()``).
public struct BudgetInfo: Sendable, Equatable {
    public var key: String
    /// Requests per second.
    public var rate: Double
    /// Requests granted so far, by every worker together.
    public var granted: Int
    /// How long the key stays paused, when it is.
    public var pausedFor: Duration?
}

/// A run as workers see it.
public struct RunInfo: Sendable {
    public var id: String
    public var kind: String
    public var spec: Value
    /// The hash its configuration registers with (empty as ``Coordinator/openRuns()`` reads runs back: workers
    /// join, they do not register).
    public var configHash: String

    public init(id: String, kind: String, spec: Value, configHash: String = "") {
        self.id = id
        self.kind = kind
        self.spec = spec
        self.configHash = configHash
    }
}

/// Whether ``Coordinator/register(run:kind:configHash:spec:)`` created the run or joined it.
public enum RunRegistration: Sendable, Equatable {
    /// A new run: enqueue its first units (a ``Seeder``).
    case created
    /// A run with all its first units enqueued: work on it, or report it done.
    case joined
    /// A run whose registrar had enqueued `seeded` first units and not sealed it (it stopped, or is still at
    /// it): a ``Seeder`` goes on after them.
    case unsealed(seeded: Int64)
}

/// A run's units by state.
public struct QueueProgress: Sendable, Equatable {
    public var total: Int
    public var ready: Int
    public var leased: Int
    /// Leased, but the lease ran out: waiting to be claimed again.
    public var expired: Int
    public var failed: Int
    /// Completed: taken off the queue.
    public var done: Int { self.total - self.ready - self.leased - self.expired - self.failed }
    public var isFinished: Bool { self.ready + self.leased + self.expired == 0 }
}

/// What the coordinator refuses, and why.
public struct CoordinatorError: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
