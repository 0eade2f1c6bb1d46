#!/usr/bin/env bash
# A `sql` resource over a 2,000,000-row PostgreSQL table, into another PostgreSQL database: wall time, rows/s and
# the peak RSS of `gather run` (the issue's target: under 150 MB, whatever the table's size).
#   Benchmarks/postgres/sql-source.sh            # ROWS=2000000 by default; GATHER=.build/release/gather
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
GATHER=${GATHER:-.build/release/gather}
ROWS=${ROWS:-2000000}
[ -x "$GATHER" ] || swift build -c release --product gather
eval "$(scripts/pg-cluster start)"
trap 'scripts/pg-cluster stop "$GATHER_PG_DIR"; rm -rf "$work"' EXIT
work=$(mktemp -d)
base=${GATHER_PG_URL%/postgres}
psql -q "$GATHER_PG_URL" -c "CREATE DATABASE source" -c "CREATE DATABASE target"
psql -q "$base/source" -c "
  CREATE TABLE events AS SELECT g AS id, 'user-' || (g % 1000) AS user_name, (g % 97) * 1.25 AS amount,
    timestamptz '2024-01-01' + g * interval '1 second' AS at, g % 2 = 0 AS even,
    repeat('x', 40) AS note FROM generate_series(1, $ROWS) g;
  ALTER TABLE events ADD PRIMARY KEY (id);" -c "VACUUM ANALYZE events"
cat > "$work/p.yaml" <<YAML
name: sql-bench
destination: $base/target
resources:
  - name: events
    sql: { connection: "$base/source", query: "SELECT * FROM events ORDER BY id", batch_rows: 20000 }
YAML
start=$(date +%s.%N)
/usr/bin/time -f "%M" -o "$work/rss" "$GATHER" run "$work/p.yaml" --quiet
end=$(date +%s.%N)
copied=$(psql -At "$base/target" -c "SELECT count(*) FROM events")
rss_kb=$(cat "$work/rss")
python3 - "$start" "$end" "$copied" "$rss_kb" "$ROWS" <<'PY'
import sys
start, end, copied, rss, rows = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
wall = end - start
print(f"| rows | copied | wall s | rows/s | peak RSS MiB |\n|---|---|---|---|---|\n| {rows:,} | {copied:,} | {wall:.2f} | {rows / wall:,.0f} | {rss / 1024:.0f} |")
if copied != rows: sys.exit("not every row was copied")
PY
