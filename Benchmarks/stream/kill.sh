#!/usr/bin/env bash
# Exactly-once at the issue's size: N sensor readings (default 1,000,000) from the SSE generator into 1-minute
# windows (sensors.yaml). One uninterrupted run; then another database filled by runs SIGKILLed at KILLS seeded
# points (default 10), each resuming the last, and a last run to the end. The window rows of the two must be
# equal, row for row, and every event committed once (sum(records) = N).
#
#   Benchmarks/stream/kill.sh [N]
#     GATHER=path/to/gather   (default /work/main/.build/release/gather; this script never builds)
#     KILLS=10 SEED=7         kill points: uniform in [0.2 s, 1.2 s] after each start, from SEED
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
N=${1:-1000000}
GATHER=${GATHER:-/work/main/.build/release/gather}
KILLS=${KILLS:-10}
SEED=${SEED:-7}
[ -x "$GATHER" ] || { echo "no gather binary at $GATHER (set GATHER=...)" >&2; exit 2; }
command -v sqlite3 > /dev/null || { echo "sqlite3 is needed to compare the tables" >&2; exit 2; }
work=$(mktemp -d -t gather-stream-kill-XXXXXX)
gen=""
cleanup() { [ -n "$gen" ] && kill "$gen" 2> /dev/null; rm -rf "$work"; }
trap cleanup EXIT

"$GATHER" fixture --sensor-stream "$N" --sensors 10000 --url-file "$work/url" > /dev/null 2> "$work/generator.err" &
gen=$!
for _ in $(seq 1 200); do [ -s "$work/url" ] && break; sleep 0.05; done
[ -s "$work/url" ] || { echo "the generator did not start:" >&2; cat "$work/generator.err" >&2; exit 1; }
export SSE_URL="$(head -n 1 "$work/url")"
cp "$here/sensors.yaml" "$work/sensors.yaml"

run() { # database, extra arguments...
    OUT_DB="$work/$1" "$GATHER" run "$work/sensors.yaml" --idle-exit 2s --quiet "${@:2}"
}

start=$(date +%s.%N)
run clean.db --flush-windows
echo "uninterrupted: $(echo "$(date +%s.%N) - $start" | bc) s"

# Seeded delays (awk's srand/rand: the same on every run with the same SEED).
mapfile -t delays < <(awk -v seed="$SEED" -v n="$KILLS" 'BEGIN { srand(seed); for (i = 0; i < n; i++) printf "%.2f\n", 0.2 + rand() }')
killed=0
for delay in "${delays[@]}"; do
    OUT_DB="$work/killed.db" "$GATHER" run "$work/sensors.yaml" --idle-exit 2s --quiet &
    pid=$!
    sleep "$delay"
    if kill -9 "$pid" 2> /dev/null; then killed=$((killed + 1)); fi
    wait "$pid" 2> /dev/null || true
done
before_last=$(sqlite3 "$work/killed.db" "SELECT coalesce(sum(records), 0) FROM _gather_resource_runs")
run killed.db --flush-windows

query="SELECT sensor_id, window_start, window_end, n, total, hi FROM readings ORDER BY 1, 2"
sqlite3 "$work/clean.db" "$query" > "$work/clean.txt"
sqlite3 "$work/killed.db" "$query" > "$work/killed.txt"
events_clean=$(sqlite3 "$work/clean.db" "SELECT sum(records) FROM _gather_resource_runs")
events_killed=$(sqlite3 "$work/killed.db" "SELECT sum(records) FROM _gather_resource_runs")
echo "$killed of $KILLS runs SIGKILLed mid-stream (delays ${delays[*]} s); they committed $before_last events, the last run the rest"
echo "windows: $(wc -l < "$work/clean.txt") uninterrupted, $(wc -l < "$work/killed.txt") after the kills"
echo "events committed: $events_clean uninterrupted, $events_killed after the kills (of $N)"
if cmp -s "$work/clean.txt" "$work/killed.txt" && [ "$events_clean" = "$N" ] && [ "$events_killed" = "$N" ]; then
    echo "exact: every window row equal, every event committed once"
else
    diff "$work/clean.txt" "$work/killed.txt" | head -20
    echo "NOT exact" >&2
    exit 1
fi
