#!/usr/bin/env bash
# Pipeline benchmarks against the sample API (`gather fixture --sample-api`, its own process):
#  1. parallel pages: 100 offset pages with 50 ms latency, concurrency 16; the target is
#     ≤ 1.3 × (100/16) × 50 ms = 406 ms plus start-up. Beside it, Python asyncio + aiohttp doing the same.
#  2. 50,000 records (100 pages of 500, 50 ms latency, concurrency 16): rows/s and CPU seconds; the server-bound
#     ideal is ceil(99/16) + 1 = 8 rounds of 50 ms.
# Usage: Benchmarks/pipeline/run.sh [RUNS]   (builds gather in release mode; GATHER=path uses that binary)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
runs=${1:-5}
if [ -n "${GATHER:-}" ]; then
    gather=$GATHER   # a release binary built already (scripts/install's, say)
else
    swift build -c release --product gather 2>&1 | grep -E "error" || true
    gather=$(swift build -c release --show-bin-path)/gather
fi
python=${PYTHON:-$HOME/.cache/gather-bench/venv/bin/python}
[ -x "$python" ] || python=python3
work=$(mktemp -d)
trap 'kill $(cat "$work"/*.pid 2>/dev/null) 2>/dev/null || true; rm -rf "$work"' EXIT

measure() { # name, command...: prints median wall, median CPU (user+sys), max RSS over $runs runs
    local name=$1; shift
    local walls=() cpus=() rss=0
    for i in $(seq "$runs"); do
        rm -f "$work"/*.db*
        /usr/bin/time -f "%e %U %S %M" -o "$work/time" "$@" > /dev/null 2> "$work/err" || { cat "$work/err"; exit 1; }
        read -r wall user sys peak < "$work/time"
        walls+=("$wall"); cpus+=("$(echo "$user + $sys" | bc)"); [ "$peak" -gt "$rss" ] && rss=$peak
    done
    local wall cpu
    wall=$(printf '%s\n' "${walls[@]}" | sort -n | sed -n "$(( (runs + 1) / 2 ))p")
    cpu=$(printf '%s\n' "${cpus[@]}" | sort -n | sed -n "$(( (runs + 1) / 2 ))p")
    printf '| %-34s | %6.3f | %6.2f | %5d |\n' "$name" "$wall" "$cpu" "$((rss / 1024))"
}

serve() { # items page_size → base URL
    "$gather" fixture --sample-api --items "$1" --page-size "$2" --latency 50ms --url-file "$work/url" \
        > /dev/null 2>&1 &
    echo $! > "$work/server-$1.pid"
    for _ in $(seq 100); do [ -s "$work/url" ] && break; sleep 0.05; done
    cat "$work/url"; rm -f "$work/url"
}

echo "| scenario | median wall s | median CPU s | peak RSS MiB |"
echo "|---|---|---|---|"
base=$(serve 5000 50)
export SAMPLE_API=$base OUT_DB=$work/out.db PAGE_SIZE=50
measure "gather run: 100 pages × 50 ms" "$gather" run Benchmarks/pipeline/offset.yaml --quiet
measure "python asyncio + aiohttp: same" "$python" Benchmarks/pipeline/offset_aiohttp.py "$base" 50 "$work/out.db"
base=$(serve 50000 500)
export SAMPLE_API=$base PAGE_SIZE=500
measure "gather run: 50,000 records" "$gather" run Benchmarks/pipeline/offset.yaml --quiet
measure "python asyncio + aiohttp: 50,000" "$python" Benchmarks/pipeline/offset_aiohttp.py "$base" 500 "$work/out.db"
echo
echo "ideal (server-bound) for 100 pages at concurrency 16: 1 + ceil(99/16) = 8 rounds × 50 ms = 0.40 s;"
echo "target ≤ 1.3 × (100/16) × 50 ms = 0.406 s plus start-up"
