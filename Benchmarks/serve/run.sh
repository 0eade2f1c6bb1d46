#!/usr/bin/env bash
# Serving, side by side (issue: gather serve): the same scikit-learn model (HistGradientBoosting on load_digits)
# behind (a) FastAPI + uvicorn --workers 2, predict per request; (b) LitServe, max_batch_size 64, batch_timeout
# 5 ms, 2 workers; (c) gather serve, 2 workers, max_size 64, max_wait 5 ms. Closed loop with wrk at 64 and 256
# connections (a random body of 1,000 per request), DURATION seconds each: req/s, p50, p99, non-2xx, errors.
# Then gather alone under an open-loop overload, its model made RECORD_MS (2) ms per record slower so that the
# client can outrun it: gather fetch --rate at 2x its measured c=64 capacity for DURATION s (deadline 1 s), then
# 0.5x for 5 s; latency = elapsed_ms - waited_ms, from each request's token (its
# place in the schedule) to its answer. Status mix, p99 of the 200s, p99 after the overload, RSS before and after.
# (An aiohttp open-loop generator could not keep a 6,000/s schedule next to the server on 2 cores: most of its
# requests timed out in its own queue.)
# Usage: Benchmarks/serve/run.sh [DURATION]   (PYTHON: a venv with scikit-learn, fastapi, uvicorn, litserve,
# aiohttp; OVERLOAD_ONLY=1 runs only the overload part; GATHER=path uses that release binary instead of building)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
duration=${1:-30}
python=${PYTHON:-$HOME/.cache/gather-bench/venv/bin/python}
export PATH="$(dirname "$python"):$PATH"
if [ -n "${GATHER:-}" ]; then
    gather=$GATHER   # a release binary built already (scripts/install's, say)
else
    swift build -c release --product gather 2>&1 | grep -E "error" || true
    gather=$(swift build -c release --show-bin-path)/gather
fi
root=$(pwd)
work=$(mktemp -d)
pids=()
cleanup() { for pid in "${pids[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
python3 Benchmarks/serve/model.py "$work"
export MODEL="$work/model.joblib" BODIES="$work/bodies.jsonl" OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
port=18190

start() { # name, health path, command...: starts in its own process group, waits until health answers
    local name=$1 health=$2; shift 2
    port=$((port + 1))
    setsid "$@" > "$work/$name.log" 2>&1 &
    pids+=($!)
    for _ in $(seq 600); do
        curl -sf "http://127.0.0.1:$port$health" > /dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "$name did not start:"; cat "$work/$name.log"; exit 1
}
stop() { kill -TERM -- "-${pids[-1]}" 2>/dev/null || true; sleep 2; kill -KILL -- "-${pids[-1]}" 2>/dev/null || true; }

row() { # name, connections
    local out
    out=$(wrk -t1 -c"$2" -d"${duration}s" --latency -s Benchmarks/serve/post.lua "http://127.0.0.1:$port/predict" 2>&1)
    local rps p50 p99 non2xx errors
    rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
    p50=$(echo "$out" | awk '$1 == "50%" {print $2}')
    p99=$(echo "$out" | awk '$1 == "99%" {print $2}')
    non2xx=$(echo "$out" | awk '/Non-2xx/ {print $5}')
    errors=$(echo "$out" | awk '/Socket errors/ {print $4+$6+$8+$10}')
    printf '| %-40s | %4d | %9.0f | %8s | %8s | %6s | %6s |\n' "$1" "$2" "$rps" "$p50" "$p99" "${non2xx:-0}" "${errors:-0}"
}

contender() { # name, health path, command...
    local name=$1 health=$2; shift 2
    start "$name" "$health" "$@"
    local good
    good=$(python3 Benchmarks/serve/check.py "http://127.0.0.1:$port/predict" "$work" 100)
    [ "$good" -eq 100 ] || { echo "$name answered $good of 100 correctly" >&2; exit 1; }
    wrk -t1 -c64 -d3s -s Benchmarks/serve/post.lua "http://127.0.0.1:$port/predict" > /dev/null 2>&1
    row "$name" 64
    row "$name" 256
    stop
}

cat > "$work/model.yaml" <<YAML
name: digits
listen: 127.0.0.1:0
model:
  command: [python3, $root/Benchmarks/serve/gather_worker_model.py]
  workers: 2
  env: { PYTHONPATH: $root/python }
batch: { max_size: 64, max_wait: 5ms }
limits: { queue: 2048, deadline: 1s }
YAML

if [ -z "${OVERLOAD_ONLY:-}" ]; then
echo "| server | connections | req/s | p50 | p99 | non-2xx | errors |"
echo "|---|---|---|---|---|---|---|"
contender "FastAPI + uvicorn --workers 2" /health \
    sh -c "cd $root/Benchmarks/serve && exec uvicorn fastapi_app:app --workers 2 --port $((port + 1)) --log-level warning"
contender "LitServe (batch 64, 5 ms, 2 workers)" /health \
    sh -c "cd $root/Benchmarks/serve && exec python3 litserve_app.py $((port + 1))"
contender "gather serve (2 workers, batch 64, 5 ms)" /readyz \
    "$gather" serve "$work/model.yaml" --listen "127.0.0.1:$((port + 1))"

fi

# Overload: gather alone, open loop at 2x its capacity, then 0.5x. The model costs RECORD_MS per record on top
# (waiting, not computing: see gather_worker_model.py), so that the client can offer twice what the server can do.
record_ms=${RECORD_MS:-2}
sed "s|PYTHONPATH: $root/python }|PYTHONPATH: $root/python, RECORD_MS: \"$record_ms\" }|" "$work/model.yaml" \
    > "$work/model-overload.yaml"
grep -q RECORD_MS "$work/model-overload.yaml" || { echo "could not set RECORD_MS" >&2; exit 1; }
start "gather-overload" /readyz "$gather" serve "$work/model-overload.yaml" --listen "127.0.0.1:$((port + 1))"
capacity=$(wrk -t1 -c64 -d5s -s Benchmarks/serve/post.lua "http://127.0.0.1:$port/predict" 2>&1 \
    | awk '/Requests\/sec/ {printf "%d", $2}')
server_pid=$(pgrep -f "gather serve $work/model-overload.yaml" | head -1)
rss() { awk '/VmRSS/ {print $2}' "/proc/$server_pid/status"; }
requests() { # rate, seconds → $work/requests.jsonl
    python3 - "$1" "$2" "$port" "$BODIES" > "$work/requests.jsonl" <<'PY'
import json, sys
rate, seconds, port = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
bodies = [json.loads(b) for b in open(sys.argv[4]) if b.strip()]
url = "http://127.0.0.1:%s/predict" % port
for i in range(rate * seconds):
    print(json.dumps({"id": i, "url": url, "method": "POST", "body": bodies[i % len(bodies)]}))
PY
}
fetch() { # rate, out: gather fetch as an open-loop client (the rate's token bucket is the schedule)
    local start end
    start=$(date +%s.%N)
    "$gather" fetch "$work/requests.jsonl" --rate "$1/s" --concurrency 1000 --retries 0 --timeout 10s \
        --no-progress --out "$2" 2> /dev/null || true
    end=$(date +%s.%N)
    echo "$(basename "$2" .jsonl): $(wc -l < "$2") requests in $(echo "$end - $start" | bc) s (asked for $1/s)"
}
before=$(rss)
requests $((capacity * 2)) "$duration"
fetch $((capacity * 2)) "$work/overload.jsonl"
during=$(rss)
requests $((capacity / 2)) 5
fetch $((capacity / 2)) "$work/recovery.jsonl"
echo
echo "gather serve capacity at c=64 (model + $record_ms ms per record): $capacity req/s; open loop at $((capacity * 2))/s for ${duration} s, then $((capacity / 2))/s for 5 s"
python3 Benchmarks/serve/overload.py "$work/overload.jsonl" "$work/recovery.jsonl" "$duration" 1000
echo "RSS: ${before} KiB before, ${during} KiB after the overload"
stop
grep -E "requests in|batches|shed" "$work/gather-overload.log" || true
