#!/usr/bin/env bash
# The overhead run with faults (issue: process pool): N records (default 1,000,000) through workers that die by
# SIGSEGV each time a process has handled another 10,000 records, and hang for an hour on one batch (the record
# with id N/2), once. gather map (--timeout 10s) against multiprocessing.Pool.imap and ProcessPoolExecutor +
# run_in_executor, each given at most LIMIT seconds (default 120). For each: exit status, wall, rows, error rows,
# records accounted for, and worker processes left behind afterwards.
#
# The issue asks for a crash "every 10,000th batch"; 1,000,000 records in batches of 256 are only 3,907 batches,
# so that would never fire. A crash every 10,000 records per process (about every 39th batch, ~100 in a run) is
# the harsher reading, and the one measured.
# Usage: Benchmarks/process/faults.sh [RECORDS] [LIMIT]   (builds gather in release mode)
set -euo pipefail
records=${1:-1000000}
limit=${2:-120}
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
make_tasks "$records"
export CRASH_EVERY=10000 HANG_ID=$((records / 2)) MARKERS="$work/markers"

leftovers() { # processes still running with this benchmark's MARKERS in their environment
    local count=0 pid
    for pid in /proc/[0-9]*; do
        grep -qsz "^MARKERS=$MARKERS\$" "$pid/environ" 2>/dev/null && count=$((count + 1))
    done
    echo "$count"
}

measure() { # name, command...
    local name=$1; shift
    rm -rf "$work"/out.db* "$MARKERS"; mkdir -p "$MARKERS"
    local start end status=0
    start=$(date +%s.%N)
    timeout --kill-after=5 "$limit" "$@" > /dev/null 2> "$work/err" || status=$?
    end=$(date +%s.%N)
    sleep 1
    local left rows=0 errors=0
    left=$(leftovers)
    if [ -f "$work/out.db" ]; then
        rows=$(sqlite3 "$work/out.db" "SELECT count(*) FROM results" 2>/dev/null || echo 0)
        errors=$(sqlite3 "$work/out.db" "SELECT count(*) FROM _gather_errors" 2>/dev/null || echo 0)
    fi
    local outcome="exit $status"
    [ "$status" -eq 124 ] || [ "$status" -eq 137 ] && outcome="killed at ${limit} s (hung)"
    printf '| %-40s | %-24s | %6.1f | %8d | %6d | %5.1f %% | %d |\n' "$name" "$outcome" "$(echo "$end - $start" | bc)" \
        "$rows" "$errors" "$(echo "100 * ($rows + $errors) / $records" | bc -l)" "$left"
    pkill -9 -f "$work/tasks.jsonl" 2>/dev/null || true
    for pid in /proc/[0-9]*; do
        grep -qsz "^MARKERS=$MARKERS\$" "$pid/environ" 2>/dev/null && kill -9 "${pid#/proc/}" 2>/dev/null || true
    done
    grep -E "workers:|tasks run" "$work/err" | sed 's/^/    /' >&2 || true
}

echo "| $records records, 2 workers, SIGSEGV every 10,000 records per process, 1 hang | outcome | wall s | rows | error rows | accounted for | processes left |"
echo "|---|---|---|---|---|---|---|"
measure "gather map --batch 256 --timeout 10s" env PYTHONPATH="$root/python" "$gather" map "$work/tasks.jsonl" \
    --command "python3 $root/Benchmarks/process/fault_worker.py" --workers 2 --batch 256 --timeout 10s \
    --into "$work/out.db" --table results
measure "multiprocessing.Pool.imap(chunksize=256)" env FAULTS=1 python3 Benchmarks/process/peers.py mp \
    "$work/tasks.jsonl" "$work/out.db"
measure "ProcessPoolExecutor + run_in_executor" env FAULTS=1 python3 Benchmarks/process/peers.py executor \
    "$work/tasks.jsonl" "$work/out.db"
