#!/usr/bin/env bash
# CPU work through worker processes, side by side (issue: process pool):
#   overhead: N small records (default 1,000,000) through a Python worker that adds one field, read from JSON
#   Lines and written to SQLite, by gather map (--batch 256, 2 workers), multiprocessing.Pool.imap(chunksize=256)
#   and ProcessPoolExecutor + run_in_executor. Records/s, wall, CPU (all processes), peak RSS of the largest one.
# Usage: Benchmarks/process/run.sh [RECORDS] [RUNS]   (builds gather in release mode; GATHER=path uses that binary)
set -euo pipefail
records=${1:-1000000}
runs=${2:-3}
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
make_tasks "$records"

measure() { # name, command...: median wall and CPU, max RSS, then records/s from the median wall
    local name=$1; shift
    local walls=() cpus=() rss=0
    for _ in $(seq "$runs"); do
        rm -f "$work"/out.db*
        /usr/bin/time -f "%e %U %S %M" -o "$work/time" "$@" > /dev/null 2> "$work/err" || { cat "$work/err"; exit 1; }
        read -r wall user sys peak < "$work/time"
        local count
        count=$(sqlite3 "$work/out.db" "SELECT count(*) FROM results")
        [ "$count" -eq "$records" ] || { echo "$name wrote $count rows, not $records" >&2; exit 1; }
        walls+=("$wall"); cpus+=("$(echo "$user + $sys" | bc)"); [ "$peak" -gt "$rss" ] && rss=$peak
    done
    local wall cpu
    wall=$(printf '%s\n' "${walls[@]}" | sort -n | sed -n "$(( (runs + 1) / 2 ))p")
    cpu=$(printf '%s\n' "${cpus[@]}" | sort -n | sed -n "$(( (runs + 1) / 2 ))p")
    printf '| %-44s | %7.2f | %7.2f | %5d | %9.0f |\n' "$name" "$wall" "$cpu" "$((rss / 1024))" \
        "$(echo "$records / $wall" | bc -l)"
}

echo "| $records records, 2 workers | median wall s | CPU s | peak RSS MiB | records/s |"
echo "|---|---|---|---|---|"
measure "gather map --batch 256" env PYTHONPATH="$root/python" "$gather" map "$work/tasks.jsonl" \
    --command "python3 $root/Benchmarks/process/worker.py" --workers 2 --batch 256 --into "$work/out.db" \
    --table results --quiet
measure "multiprocessing.Pool.imap(chunksize=256)" python3 Benchmarks/process/peers.py mp "$work/tasks.jsonl" "$work/out.db"
measure "ProcessPoolExecutor + run_in_executor" python3 Benchmarks/process/peers.py executor "$work/tasks.jsonl" \
    "$work/out.db"
