#!/usr/bin/env bash
# Gather's side of the scale-out benchmark (see README.md): N GETs of /item/N from api.py at 100 ms latency, shared
# by W gather processes through one PostgreSQL (`gather fetch --coordinator` starts the run and works on it; the
# others are `gather worker`s). Prints one JSON line per run, measured at the server like the Celery peer's.
#
#   Benchmarks/scale/run.sh              fleet rate: 4 processes at --concurrency 40, --rate 200/s for the fleet
#   SCALING=1 Benchmarks/scale/run.sh    no rate limit; 1, 2 and 4 processes at --concurrency 8
#   KILL=1 Benchmarks/scale/run.sh       fleet rate, and one worker gets kill -9 at 30 % of the records; reports how
#                                        long its units stayed leased to it (recovery) and the duplicates
#
#   GATHER=path/to/gather (default: the release build)  N=20000  WORKERS=4  LATENCY=0.1  LEASE=5s
#   NETNS=1   each gather process on a "host" of its own (scripts/netns: a network namespace and a veth pair on a
#             private subnet), PostgreSQL and api.py on another; needs root (ip netns). Default: all on loopback.
#
# PostgreSQL is a throwaway cluster (scripts/pg-cluster); everything this script starts stops however it ends.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
GATHER=${GATHER:-$root/.build-release-static/release/gather}
N=${N:-20000}
WORKERS=${WORKERS:-4}
LATENCY=${LATENCY:-0.1}
LEASE=${LEASE:-5s}
KILL=${KILL:-}
SCALING=${SCALING:-}
NETNS=${NETNS:-}
venv=${SCALE_VENV:-$HOME/.cache/gather-bench/scale-venv}
py=$venv/bin/python
say() { printf '[scale] %s\n' "$*" >&2; }

[ -x "$GATHER" ] || { say "no gather binary at $GATHER: build it (swift build -c release) or set GATHER"; exit 1; }
"$py" -c 'import aiohttp' 2> /dev/null || { python3 -m venv "$venv"; "$venv/bin/pip" install -q "aiohttp>=3.9"; }

work=$(mktemp -d -t gather-scale-XXXXXX)
api_pid="" pids=() pg_dir=""
cleanup() {
    local pid
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2> /dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2> /dev/null || true; done
    [ -z "$api_pid" ] || kill "$api_pid" 2> /dev/null || true
    if [ -n "$pg_dir" ]; then
        if [ -n "$NETNS" ]; then
            "$root/scripts/netns" exec srv "$root/scripts/pg-cluster" stop "$pg_dir" > /dev/null 2>&1 || true
        else
            "$root/scripts/pg-cluster" stop "$pg_dir" > /dev/null 2>&1 || true
        fi
    fi
    [ -z "$NETNS" ] || "$root/scripts/netns" down > /dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT INT TERM

# on HOST CMD… &: runs CMD on gather process HOST's "host" (1, 2, …; `srv` for PostgreSQL and api.py). Only in the
# background: it execs, so that $! is CMD itself (kill -9 must reach gather, not a subshell that waits for it).
on() {
    local host=$1
    shift
    if [ -n "$NETNS" ]; then exec "$root/scripts/netns" exec "$host" "$@"; else exec "$@"; fi
}
listen=127.0.0.1
if [ -n "$NETNS" ]; then
    "$root/scripts/netns" check || exit 1
    eval "$("$root/scripts/netns" up "$WORKERS")"
    listen=$GATHER_NETNS_SERVER
    eval "$(PG_LISTEN=$listen PG_ALLOW=$GATHER_NETNS_CIDR "$root/scripts/netns" exec srv "$root/scripts/pg-cluster" start)"
else
    eval "$("$root/scripts/pg-cluster" start)"
fi
pg_dir=$GATHER_PG_DIR
on srv "$py" "$here/api.py" --host "$listen" --port 0 --latency "$LATENCY" > "$work/api.out" 2> "$work/api.err" &
api_pid=$!
for _ in $(seq 1 100); do [ -s "$work/api.out" ] && break; sleep 0.1; done
api="http://$listen:$(head -1 "$work/api.out")"
seq 1 "$N" | sed "s|^|$api/item/|" > "$work/urls.txt"

# Queries the run's own database ($url, local to run(); the tables are there, not in $GATHER_PG_URL).
psql_value() { psql "$url" -Atc "$1"; }

# One run: $1 processes, $2 concurrency each, $3 rate ("" for none), $4 a database name. Prints one JSON line.
run() {
    local processes=$1 concurrency=$2 rate=$3 db=$4
    local url=${GATHER_PG_URL%/*}/$db
    psql "$GATHER_PG_URL" -qc "CREATE DATABASE $db"
    curl -sf -X POST "$api/reset" > /dev/null
    local rate_flag=() i start end killed="" kill_at="" recovered=""
    [ -z "$rate" ] || rate_flag=(--rate "$rate")
    pids=()
    start=$(date +%s.%N)
    on 1 "$GATHER" fetch "$work/urls.txt" --into "$url" --coordinator "$url" --name w1 \
        --concurrency "$concurrency" "${rate_flag[@]}" --lease "$LEASE" --quiet > /dev/null 2> "$work/w1.err" &
    pids+=($!)
    for i in $(seq 2 "$processes"); do
        on "$i" "$GATHER" worker "$url" --name "w$i" --wait --lease "$LEASE" --quiet > /dev/null 2> "$work/w$i.err" &
        pids+=($!)
    done
    if [ -n "$KILL" ]; then
        # kill -9 the last worker once 30 % of the records are in, while it holds units.
        while [ "$(psql_value "SELECT count(*) FROM fetch_results" 2> /dev/null || echo 0)" -lt $((N * 3 / 10)) ]; do
            sleep 0.2
        done
        kill -9 "${pids[-1]}"
        kill_at=$(date +%s.%N)
        killed=w$processes
        # Recovery: until no unit is leased to the dead worker any more (others reclaimed them after the lease).
        while [ "$(psql_value "SELECT count(*) FROM gather_units WHERE owner = '$killed' AND state = 'leased'")" -gt 0 ]; do
            sleep 0.05
        done
        recovered=$(date +%s.%N)
    fi
    wait "${pids[0]}" || true
    end=$(date +%s.%N)
    # The workers with --wait stay for new runs: stop them now that this one is done.
    for i in "${pids[@]:1}"; do kill -TERM "$i" 2> /dev/null || true; wait "$i" 2> /dev/null || true; done
    pids=()
    local rows distinct stats
    rows=$(psql_value "SELECT count(*) FROM fetch_results")
    distinct=$(psql_value "SELECT count(DISTINCT line) FROM fetch_results")
    stats=$(curl -sf "$api/stats")
    NETNS="$NETNS" "$py" - "$stats" "$processes" "$concurrency" "$rate" "$start" "$end" "$rows" "$distinct" "$N" \
        "$kill_at" "$recovered" "$LEASE" << 'PY'
import json, os, sys
stats = json.loads(sys.argv[1])
processes, concurrency, rate, start, end, rows, distinct, n, kill_at, recovered, lease = sys.argv[2:]
wall = float(end) - float(start)
out = {
    "contender": "gather", "workers": int(processes), "concurrency": int(concurrency), "limit": rate or None,
    "requests": stats["requests"], "wall_s": round(wall, 2), "req_per_s": round(int(n) / wall, 1),
    "mean_rate": stats["mean_rate"], "max_1s_window": stats["max_1s_window"],
    "duplicate_requests": stats["duplicate_requests"], "rows": int(rows), "distinct_lines": int(distinct),
    "duplicate_results": int(rows) - int(distinct), "missing_results": int(n) - int(distinct),
    "hosts": "netns" if os.environ.get("NETNS") else "loopback",
}
if kill_at:
    out["recovery_s"] = round(float(recovered) - float(kill_at), 2)
    out["lease"] = lease
print(json.dumps(out))
PY
}

if [ -n "$SCALING" ]; then
    for w in 1 2 4; do run "$w" 8 "" "scale_$w"; done
else
    run "$WORKERS" 40 "200/s" fleet
fi
