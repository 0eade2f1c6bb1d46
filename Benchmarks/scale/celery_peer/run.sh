#!/usr/bin/env bash
# The Celery peer of the scale-out benchmark (see ../README.md): the same job as Gather's (N GETs of /item/N from
# ../api.py at 100 ms latency) on Celery 5 with a Redis broker, the task limited the natural way
# (`rate_limit="200/s"`, which Celery applies per worker), 4 workers with the gevent pool at concurrency 40.
#
#   Benchmarks/scale/celery_peer/run.sh            fleet rate: 4 workers, limit 200/s each as written; prints one
#                                                  JSON line (max_1s_window and mean_rate are measured at the server)
#   KILL=1 Benchmarks/scale/celery_peer/run.sh     the same, but one whole worker gets kill -9 once 30% of the
#                                                  results are in, and a replacement starts; visibility_timeout is
#                                                  10 s so the dead worker's messages come back within the run
#   SCALING=1 Benchmarks/scale/celery_peer/run.sh  no rate limit; 1, 2 and 4 workers at concurrency 8; one JSON line
#                                                  per run with its req/s
#
#   N=20000  WORKERS=4  CONCURRENCY=40 (8 with SCALING)  POOL=gevent  LIMIT=200/s  LATENCY=0.1
#   VISIBILITY=3600 (10 with KILL)  KILL_AT=0.3  TIMEOUT=900 (seconds a run may take)
#   REPLACE_DELAY=0  seconds between the kill and the start of the replacement worker (KILL mode)
#   STALL=120  seconds without any progress after which a run is reported as stalled (results missing, messages
#              stuck unacknowledged) instead of waited for
#   SCALE_VENV=~/.cache/gather-bench/scale-venv  (made on first use: celery[redis], gevent, aiohttp from PyPI)
#
# Redis is Debian's redis-server on a free loopback port. Every process this script starts (redis, the API, each
# worker in its own process group) is stopped however the script ends.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
N=${N:-20000}
KILL=${KILL:-}
SCALING=${SCALING:-}
WORKERS=${WORKERS:-4}
POOL=${POOL:-gevent}
LATENCY=${LATENCY:-0.1}
KILL_AT=${KILL_AT:-0.3}
TIMEOUT=${TIMEOUT:-900}
STALL=${STALL:-120}
REPLACE_DELAY=${REPLACE_DELAY:-0}
if [ -n "$SCALING" ]; then CONCURRENCY=${CONCURRENCY:-8}; LIMIT=${LIMIT:-}; else CONCURRENCY=${CONCURRENCY:-40}; LIMIT=${LIMIT-200/s}; fi
if [ -n "$KILL" ]; then VISIBILITY=${VISIBILITY:-10}; else VISIBILITY=${VISIBILITY:-3600}; fi
venv=${SCALE_VENV:-$HOME/.cache/gather-bench/scale-venv}
py=$venv/bin/python
say() { printf '[celery-peer] %s\n' "$*" >&2; }

command -v redis-server > /dev/null || { say "redis-server is not installed (apt-get install redis-server)"; exit 1; }
if ! "$py" -c 'import celery, redis, gevent, aiohttp' 2> /dev/null; then
    # Never inside the repository: the venv lives in the bench cache, like the other benchmarks' venvs.
    say "making $venv (celery[redis], gevent, aiohttp from PyPI)"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q "celery[redis]==5.7.0" "gevent==26.9.0" "aiohttp>=3.9"
fi

work=$(mktemp -d -t gather-celery-peer-XXXXXX)
redis_pid="" api_pid="" workers=()
cleanup() {
    local rc=$? pid
    # Each worker leads its own process group (setsid): signal the group, so pool children go too.
    for pid in "${workers[@]}"; do kill -TERM -- "-$pid" 2> /dev/null || true; done
    for pid in "${workers[@]}"; do
        for _ in $(seq 1 50); do kill -0 "$pid" 2> /dev/null || break; sleep 0.1; done
        kill -KILL -- "-$pid" 2> /dev/null || true
    done
    [ -z "$api_pid" ] || kill "$api_pid" 2> /dev/null || true
    [ -z "$redis_pid" ] || kill "$redis_pid" 2> /dev/null || true
    wait 2> /dev/null || true
    if [ "$rc" -ne 0 ]; then
        # Keep the logs of a failed run where they can be read.
        rm -rf /tmp/gather-celery-peer-failed && mv "$work" /tmp/gather-celery-peer-failed
        say "failed (exit $rc); logs in /tmp/gather-celery-peer-failed"
    else
        rm -rf "$work"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# --- redis (broker in db 0, result counts in db 1) -------------------------------------------------------------
rport=$(free_port)
redis-server --bind 127.0.0.1 --port "$rport" --save "" --appendonly no --dir "$work" --daemonize no \
    --logfile "$work/redis.log" > /dev/null 2>&1 &
redis_pid=$!
rcli() { redis-cli -p "$rport" "$@"; }
for _ in $(seq 1 100); do rcli ping 2> /dev/null | grep -q PONG && break; sleep 0.1; done
rcli ping 2> /dev/null | grep -q PONG || { say "redis did not start: $(tail -3 "$work/redis.log")"; exit 1; }

# --- the fixture API (records every arrival; /stats gives the rates seen at the server) -------------------------
"$py" "$here/../api.py" --port 0 --latency "$LATENCY" > "$work/api.out" 2> "$work/api.err" &
api_pid=$!
for _ in $(seq 1 100); do [ -s "$work/api.out" ] && break; sleep 0.1; done
[ -s "$work/api.out" ] || { say "api.py did not start: $(cat "$work/api.err")"; exit 1; }
api=http://127.0.0.1:$(head -n 1 "$work/api.out")

export PEER_BROKER=redis://127.0.0.1:$rport/0 PEER_RESULTS=redis://127.0.0.1:$rport/1 PEER_API=$api
export PEER_RATE_LIMIT=$LIMIT PEER_VISIBILITY=$VISIBILITY PYTHONPATH=$here

start_worker() { # NAME CONCURRENCY; appends the worker's pid (= its process group) to workers
    # --without-gossip/--without-mingle: the usual flags for a fleet that does not need worker-to-worker chatter.
    setsid "$venv/bin/celery" -A peer worker -P "$POOL" -c "$2" -n "$1@%h" -Q celery \
        --without-gossip --without-mingle --loglevel=WARNING > "$work/$1.log" 2>&1 &
    workers+=("$!")
}
stop_workers() {
    local pid
    for pid in "${workers[@]}"; do kill -TERM -- "-$pid" 2> /dev/null || true; done
    for pid in "${workers[@]}"; do
        for _ in $(seq 1 100); do kill -0 "$pid" 2> /dev/null || break; sleep 0.1; done
        kill -KILL -- "-$pid" 2> /dev/null || true
        wait "$pid" 2> /dev/null || true
    done
    workers=()
}
worker_cpu() { # CPU seconds used so far by the given worker process groups (all their processes)
    local pid total=0 t
    for pid in "$@"; do
        t=$(ps -o times= --sid "$pid" 2> /dev/null | awk '{s+=$1} END {print s+0}')
        total=$((total + t))
    done
    echo "$total"
}

enqueue() { # N messages fetch(0) … fetch(N-1), before any worker runs, so the run measures consumption only
    "$py" - "$N" << 'PY'
import sys
from peer import app, fetch
with app.producer_or_acquire() as producer:
    for n in range(int(sys.argv[1])):
        fetch.apply_async((n,), producer=producer)
PY
}

reset_run() { rcli -n 1 del results > /dev/null; rcli -n 0 flushdb > /dev/null; curl -sf -X POST "$api/reset" > /dev/null; }

# Waits until every id has a result, the queue is empty and nothing is left unacknowledged (so redeliveries have
# run too). Sets done_s (seconds from t0 until all N results were in) and, in KILL mode, kills a worker on the way.
run_until_done() { # t0
    local t0=$1 now have queued unacked killed="" last=0 state="" changed replace_at=""
    done_s="" stall_info=""
    changed=$(date +%s)
    while :; do
        now=$(date +%s.%N)
        have=$(rcli -n 1 hlen results); queued=$(rcli -n 0 llen celery); unacked=$(rcli -n 0 hlen unacked)
        if [ "$have/$queued/$unacked" != "$state" ]; then state="$have/$queued/$unacked"; changed=${now%.*}; fi
        if [ $((${now%.*} - changed)) -ge "$STALL" ]; then
            # Nothing moved for STALL seconds: report what is missing rather than wait for ever.
            say "stalled: no progress for ${STALL}s with $have/$N results, $queued queued, $unacked unacknowledged;" \
                "broker keys: $(rcli -n 0 --scan | sort | tr '\n' ' ')(unacked_mutex ttl $(rcli -n 0 ttl unacked_mutex)s)"
            stall_info="\"stalled_after_s\":$STALL,\"missing_results\":$((N - have)),\"stuck_unacked\":$unacked"
            [ -n "$done_s" ] || done_s=$(echo "$now - $t0 - $STALL" | bc)
            break
        fi
        if [ -z "$done_s" ] && [ "$have" -ge "$N" ]; then done_s=$(echo "$now - $t0" | bc); fi
        [ "$have" -ge "$N" ] && [ "$queued" -eq 0 ] && [ "$unacked" -eq 0 ] && break
        if [ -n "$KILL" ] && [ -z "$killed" ] && [ "$have" -ge "$(echo "$N * $KILL_AT / 1" | bc)" ]; then
            # The whole first worker, at once: no warm shutdown, no chance to requeue what it holds.
            kill -KILL -- "-${workers[0]}" 2> /dev/null || true
            killed=1
            kill_info="\"killed_at_results\":$have,\"unacked_at_kill\":$unacked,\"killed_at_s\":$(printf %.2f "$(echo "$now - $t0" | bc)")"
            say "kill -9 of worker 1 (pid ${workers[0]}) with $have/$N results in, $unacked messages unacknowledged"
            replace_at=$(echo "$now + $REPLACE_DELAY" | bc)
        fi
        if [ -n "$replace_at" ] && [ "$(echo "$now >= $replace_at" | bc)" -eq 1 ]; then
            say "starting replacement worker w$((WORKERS + 1))"
            start_worker w$((WORKERS + 1)) "$CONCURRENCY"
            replace_at=""
        fi
        if [ "${now%.*}" -ge $((last + 5)) ]; then
            say "results $have/$N, queued $queued, unacknowledged $unacked"; last=${now%.*}
        fi
        if [ "$(echo "$now - $t0 > $TIMEOUT" | bc)" -eq 1 ]; then say "timed out after ${TIMEOUT}s"; return 1; fi
        sleep 0.2
    done
}

summary() { # extra JSON fields...
    local dup_results stats
    dup_results=$(rcli -n 1 hgetall results | awk 'NR % 2 == 0 && $1 > 1 {n++} END {print n+0}')
    extra_results=$(rcli -n 1 hgetall results | awk 'NR % 2 == 0 && $1 > 1 {n += $1 - 1} END {print n+0}')
    stats=$(curl -sf "$api/stats")
    "$py" - "$stats" "$@" << PY
import json, sys
s = json.loads(sys.argv[1])
out = {"contender": "celery", "pool": "$POOL", "workers": $1, "concurrency": $CONCURRENCY, "requests": s["requests"],
       "wall_s": round(float("$done_s"), 2), "mean_rate": s["mean_rate"], "max_1s_window": s["max_1s_window"],
       "max_1s_aligned": s["max_1s_aligned"], "limit": int("${LIMIT%%/*}") if "$LIMIT" else None,
       "limit_as_written": "$LIMIT" or None, "duplicate_requests": s["duplicate_requests"],
       "duplicate_results": $dup_results, "extra_result_writes": $extra_results,
       "api_cpu_share": s["cpu_share"], "worker_cpu_s": $2}
out.update(json.loads("{" + sys.argv[4] + "}") if len(sys.argv) > 4 and sys.argv[4] else {})
print(json.dumps(out))
PY
}

one_run() { # WORKERS
    local nworkers=$1 t0 i cpu
    reset_run
    say "enqueueing $N tasks"
    enqueue
    kill_info=""
    t0=$(date +%s.%N)
    for i in $(seq 1 "$nworkers"); do start_worker "w$i" "$CONCURRENCY"; done
    run_until_done "$t0"
    cpu=$(worker_cpu "${workers[@]}")
    summary "$nworkers" "$cpu" "$kill_info${kill_info:+${stall_info:+,}}$stall_info"
    stop_workers
}

say "redis :$rport, api $api, N=$N, pool $POOL, limit '${LIMIT:-none}', visibility_timeout ${VISIBILITY}s"
if [ -n "$SCALING" ]; then
    for w in 1 2 4; do one_run "$w"; done
else
    one_run "$WORKERS"
fi
