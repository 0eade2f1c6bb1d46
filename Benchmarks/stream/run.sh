#!/usr/bin/env bash
# The stream scenario side by side (see README.md): N sensor readings (default 1,000,000; 10,000 sensor_id keys;
# event time spread over 10 minutes, out of order by up to 5 s) from a local SSE generator (`gather fixture
# --sensor-stream N`), 1-minute tumbling event-time windows per sensor (n, total, hi) into SQLite, by Gather
# (sensors.yaml), a hand-written asyncio + aiohttp script (asyncio_sse.py) and Bytewax 0.21.1 (bytewax_sse.py,
# as asked and with `to_system_utc=None`). Each contender gets a fresh generator, pinned to core 0, and runs
# pinned to core 1 (when taskset exists), under /usr/bin/time. Then check.py compares their window tables.
#
#   Benchmarks/stream/run.sh [N]
#     GATHER=path/to/gather   (default /work/main/.build/release/gather; this script never builds)
#     PYTHON=path/to/python   (default the bench venv: /root/.cache/gather-bench/venv/bin/python, with aiohttp,
#                              bytewax==0.21.1 and, for the fast JSON path, orjson)
#     RUNS=1                  repeats; the order of the contenders is reversed on every other run
#     CONTENDERS="gather asyncio bytewax bytewax-nowake"   which ones, in the first run's order
#     LIMIT=3600              seconds each contender may take before it is killed
#     SOURCE=sse              or redis: the same N events are first loaded from the generator into the stream
#                             `readings` of a throwaway Redis (scripts/redis-server); every contender then reads it
#                             through a consumer group of its own (sensors-redis.yaml, asyncio_redis.py with
#                             redis-py, bytewax_sse.py's RedisSource)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
N=${1:-1000000}
GATHER=${GATHER:-/work/main/.build/release/gather}
PYTHON=${PYTHON:-/root/.cache/gather-bench/venv/bin/python}
RUNS=${RUNS:-1}
CONTENDERS=${CONTENDERS:-gather asyncio bytewax bytewax-nowake}
LIMIT=${LIMIT:-3600}
SOURCE=${SOURCE:-sse}; export SOURCE
IDLE_EXIT=2   # gather's --idle-exit, in seconds; the wait actually subtracted is measured by idle_gap.py

[ -x "$GATHER" ] || { echo "no gather binary at $GATHER (set GATHER=...)" >&2; exit 2; }
[ -x "$PYTHON" ] || { echo "no python at $PYTHON (set PYTHON=...)" >&2; exit 2; }
work=$(mktemp -d -t gather-stream-bench-XXXXXX)
gen=""
pin_gen=(); pin_run=()
if command -v taskset > /dev/null && [ "$(nproc)" -ge 2 ]; then pin_gen=(taskset -c 0); pin_run=(taskset -c 1); fi

start_generator() { # a fresh generator on a free port (the fixture binds port 0); sets $url
    rm -f "$work/url"
    "${pin_gen[@]}" "$GATHER" fixture --sensor-stream "$N" --sensors 10000 --url-file "$work/url" \
        > /dev/null 2> "$work/generator.err" &
    gen=$!
    for _ in $(seq 1 200); do [ -s "$work/url" ] && break; sleep 0.05; done
    [ -s "$work/url" ] || { echo "the generator did not start:" >&2; cat "$work/generator.err" >&2; exit 1; }
    url=$(head -n 1 "$work/url")
}
stop_generator() { # SIGTERM, as the fixture expects
    if [ -n "$gen" ]; then kill -TERM "$gen" 2> /dev/null || true; wait "$gen" 2> /dev/null || true; gen=""; fi
}
redis_pid=""
trap 'stop_generator; [ -z "$redis_pid" ] || kill "$redis_pid" 2> /dev/null; rm -rf "$work"' EXIT

rows_of() { # count(*) of readings in a SQLite file (0 when there is none)
    python3 - "$1" << 'PY'
import sqlite3, sys
try:
    print(sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True).execute("SELECT count(*) FROM readings").fetchone()[0])
except Exception:
    print(0)
PY
}

has_bytewax() { "$PYTHON" -c "import bytewax, importlib.metadata as m; assert m.version('bytewax') == '0.21.1'" 2> /dev/null; }

run_contender() { # name run: one measured run into $work/NAME.db; appends a line to $work/results.tsv
    local name=$1 run=$2 db="$work/$1.db" idle=0 status=0
    local cmd=()
    case $name in
        gather)
            idle=$IDLE_EXIT
            if [ "$SOURCE" = redis ]; then
                cmd=(env "OUT_DB=$db" "REDIS_URL=$REDIS_URL" "GROUP=@URL@" "$GATHER" run "$here/sensors-redis.yaml"
                    --idle-exit "${IDLE_EXIT}s" --flush-windows --quiet)
            else
                cmd=(env "OUT_DB=$db" "SSE_URL=@URL@" "$GATHER" run "$here/sensors.yaml" --idle-exit "${IDLE_EXIT}s"
                    --flush-windows --quiet)
            fi ;;
        asyncio)
            if [ "$SOURCE" = redis ]; then cmd=("$PYTHON" "$here/asyncio_redis.py" "$REDIS_URL" @URL@ "$db" "$N")
            else cmd=("$PYTHON" "$here/asyncio_sse.py" @URL@ "$db" "$N"); fi ;;
        bytewax | bytewax-nowake)
            if ! has_bytewax; then
                printf '%s\t%s\tskipped\n' "$name" "$run" >> "$work/results.tsv"
                echo "  $name: skipped (bytewax 0.21.1 is not installed in $PYTHON's environment)" >&2
                return
            fi
            local wake=identity
            [ "$name" = bytewax-nowake ] && wake=none
            cmd=(env "PYTHONPATH=$here" "SSE_URL=@URL@" "OUT_DB=$db" "N=$N" "BYTEWAX_WAKE=$wake"
                "$PYTHON" -m bytewax.run bytewax_sse:flow -w 1)
            [ "$SOURCE" = redis ] && cmd=(env "REDIS_URL=$REDIS_URL" "${cmd[@]}") ;;
        *) echo "unknown contender $name" >&2; exit 2 ;;
    esac
    rm -f "$db" "$db-wal" "$db-shm" "$work/stop"
    if [ "$SOURCE" = redis ]; then url="$name-$run"; else start_generator; fi  # redis: @URL@ is the group
    cmd=("${cmd[@]//@URL@/$url}")
    local watcher=""
    if [ "$name" = gather ]; then # measures the idle wait to subtract (idle_gap.py), beside the generator
        "${pin_gen[@]}" python3 "$here/idle_gap.py" "$db" "$work/stop" "$IDLE_EXIT" > "$work/gap" &
        watcher=$!
    fi
    (cd "$here" && timeout --kill-after=10 "$LIMIT" /usr/bin/time -f "%e %U %S %M" -o "$work/time" \
        "${pin_run[@]}" "${cmd[@]}" > "$work/$name.out" 2> "$work/$name.err") || status=$?
    if [ -n "$watcher" ]; then
        touch "$work/stop"
        wait "$watcher" || true
        idle=$(cat "$work/gap" 2> /dev/null || true)
        [ -n "$idle" ] || idle=$IDLE_EXIT
        echo "  gather (run $run): idle wait measured at $idle s (of --idle-exit ${IDLE_EXIT}s)" >&2
    fi
    stop_generator
    if [ "$status" -ne 0 ]; then
        echo "  $name (run $run) failed with exit $status; its stderr ends:" >&2
        tail -n 5 "$work/$name.err" | sed 's/^/    /' >&2
        printf '%s\t%s\tfailed %s\n' "$name" "$run" "$status" >> "$work/results.tsv"
        return
    fi
    local wall user sys rss
    read -r wall user sys rss < <(tail -n 1 "$work/time")
    printf '%s\t%s\tok\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$run" "$wall" "$idle" "$user" "$sys" "$rss" \
        "$(rows_of "$db")" >> "$work/results.tsv"
    grep -h "^asyncio_sse\|^bytewax_sse" "$work/$name.err" | sed "s/^/  $name (run $run): /" >&2 || true
}

echo "stream benchmark: $N events, 10,000 sensors, 1-minute tumbling windows into SQLite; $(nproc) cores;"
echo "gather: $GATHER; python: $PYTHON; runs: $RUNS"
[ ${#pin_run[@]} -gt 0 ] && echo "generator pinned to core 0, contenders to core 1" || echo "no taskset: nothing pinned"

# The source's ceiling: curl reading the stream until N ids have gone by (grep -m writes to a pipe, not
# /dev/null: GNU grep with its output on /dev/null does not stop at -m and would wait for an end that never comes).
source_walls=()
if [ "$SOURCE" = redis ]; then
    eval "$("$here/../../scripts/redis-server" start)"
    redis_pid=$GATHER_REDIS_PID
    REDIS_URL=$GATHER_REDIS_URL
    start_generator
    start=$(date +%s.%N)
    # (curl dies of SIGPIPE once the loader has its N events: the count below is what is checked.)
    curl -sN "$url" | python3 "$here/load_redis.py" "$N" | redis-cli -u "$REDIS_URL" --pipe > /dev/null || true
    [ "$(redis-cli -u "$REDIS_URL" XLEN readings)" = "$N" ] || { echo "the Redis stream did not get $N entries" >&2; exit 1; }
    end=$(date +%s.%N)
    stop_generator
    echo "source: redis stream 'readings' at $REDIS_URL, $(redis-cli -u "$REDIS_URL" XLEN readings) entries loaded in" \
        "$(python3 -c "print(round($end - $start, 1))") s; each contender reads it through a group of its own"
fi
for run in $(seq 1 "$RUNS"); do
    [ "$SOURCE" = redis ] && break  # the curl ceiling is the SSE feed's
    start_generator
    start=$(date +%s.%N)
    last=$(timeout "$LIMIT" "${pin_run[@]}" curl -sN "$url" | grep -m "$N" '^id:' | tail -n 1 || true)
    end=$(date +%s.%N)
    stop_generator
    [ "$last" = "id: $N" ] || echo "  source: read up to '$last', not id: $N" >&2
    source_walls+=("$(python3 -c "print($end - $start)")")
done

order=($CONTENDERS)
for run in $(seq 1 "$RUNS"); do
    if [ $((run % 2)) -eq 0 ]; then list=(); for ((i = ${#order[@]} - 1; i >= 0; i--)); do list+=("${order[i]}"); done
    else list=("${order[@]}"); fi
    echo "run $run: ${list[*]}" >&2
    for name in "${list[@]}"; do run_contender "$name" "$run"; done
done

python3 - "$N" "$work/results.tsv" "${source_walls[@]}" << 'PY'
import os, statistics, sys
n, path, source = int(sys.argv[1]), sys.argv[2], [float(w) for w in sys.argv[3:]]
runs = {}
for line in open(path):
    name, run, status, *rest = line.rstrip("\n").split("\t")
    runs.setdefault(name, []).append((int(run), status, rest))
print()
print("| contender | events/s | wall s | CPU s (user+sys) | peak RSS MB | rows | runs |")
print("|---|---:|---:|---:|---:|---:|---|")
if source:
    wall = statistics.median(source)
    print(f"| source ceiling (curl, no processing) | {n / wall:,.0f} | {wall:.2f} | | | | {len(source)} |")
notes = {"gather": "gather (wall − measured idle wait)", "bytewax": "bytewax (EventClock as documented)",
         "bytewax-nowake": "bytewax (to_system_utc=None)", "asyncio": "asyncio + aiohttp (hand-written)" if os.environ.get("SOURCE", "sse") != "redis" else "asyncio + redis-py (hand-written)"}
for name, results in runs.items():
    ok = [rest for _, status, rest in results if status == "ok"]
    bad = [status for _, status, _ in results if status != "ok"]
    label = notes.get(name, name)
    if not ok:
        print(f"| {label} | {bad[0]} | | | | | {len(results)} |")
        continue
    walls = [max(0.001, float(w) - float(idle)) for w, idle, *_ in ok]
    cpus = [float(u) + float(s) for _, _, u, s, _, _ in ok]
    rss = max(int(r) for *_, r, _ in ok) / 1024
    rows = ok[-1][5]
    wall = statistics.median(walls)
    runs_text = str(len(ok)) + (f" ({len(bad)} failed)" if bad else "")
    print(f"| {label} | {n / wall:,.0f} | {wall:.2f} | {statistics.median(cpus):.2f} | {rss:.0f} | {rows} | {runs_text} |")
print()
print("events/s = N / wall (median over runs); CPU = user + sys of the contender's process tree; peak RSS = the")
print("largest resident set of one process (/usr/bin/time %M), worst run.")
PY

# Compare the last run's outputs (gather's first when it ran).
dbs=()
for name in gather $CONTENDERS; do
    [ -f "$work/$name.db" ] || continue
    case " ${dbs[*]-} " in *" $name="*) continue ;; esac
    dbs+=("$name=$work/$name.db")
done
echo
if [ ${#dbs[@]} -ge 2 ]; then python3 "$here/check.py" "${dbs[@]}" || true; else echo "check: fewer than two outputs"; fi
