#!/usr/bin/env bash
# Coordination overhead (issue 16): claims plus fenced commits per second with trivial units on a local
# PostgreSQL 15 (a throwaway cluster, scripts/pg-cluster, fsync on), next to pgbench's TPS on the same cluster.
#
#   Benchmarks/scale/overhead.sh [UNITS] [WORKERS] [BATCH]     (defaults 100000 4 100; GATHER=path: that binary;
#                                                               NAPTIME=10s sets the server's autovacuum_naptime)
#
# gather side: `gather coordinator-bench` (hidden): WORKERS loops, each on a connection of its own, claim BATCH
# units (SELECT … FOR UPDATE SKIP LOCKED) and complete them fenced, writing one result row per unit in the same
# transaction. Two phases: drain (UNITS enqueued first, then drained) and steady (a producer enqueues while the
# loops drain). It samples gather_units' live and dead rows and autovacuum runs every second (vacuum keeping up).
# pgbench side: scale 10, the built-in TPC-B-like script and the select-only one, WORKERS clients, 15 s each.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
units=${1:-100000}
workers=${2:-4}
batch=${3:-100}
if [ -n "${GATHER:-}" ]; then
    gather=$GATHER
else
    swift build -c release --product gather 2>&1 | grep -E "error" || true
    gather=$(swift build -c release --show-bin-path)/gather
fi
pg_env=$(scripts/pg-cluster start) || { echo "PostgreSQL did not start" >&2; exit 1; }
eval "$pg_env"
trap 'scripts/pg-cluster stop "$GATHER_PG_DIR"' EXIT
if [ -n "${NAPTIME:-}" ]; then
    psql -qc "ALTER SYSTEM SET autovacuum_naptime = '$NAPTIME'" -c "SELECT pg_reload_conf()" >/dev/null
fi
echo "# PostgreSQL $(psql -Atc 'SHOW server_version'), $(nproc) cores; $units units, $workers workers, batch $batch;" \
    "autovacuum_naptime $(psql -Atc 'SHOW autovacuum_naptime')"
"$gather" coordinator-bench "$GATHER_PG_URL" --units "$units" --workers "$workers" --batch "$batch"
pgbench -i -s 10 -q >/dev/null 2>&1
for mode in tpcb select; do
    flag=""; [ "$mode" = select ] && flag="-S"
    tps=$(pgbench $flag -c "$workers" -j "$workers" -T 15 2>/dev/null | sed -nE 's/^tps = ([0-9.]+).*/\1/p' | head -1)
    echo "{\"pgbench\": \"$mode\", \"clients\": $workers, \"tps\": $tps}"
done
