#!/usr/bin/env bash
# The training scenario: 16 RandomForest fits (examples/train) with gather map (2 workers) against
# joblib.Parallel(n_jobs=2) and GridSearchCV(n_jobs=2), then gather map SIGKILLed at about half way and run again:
# the total work (fits run across both attempts) against one clean run, and the same results.
# Needs scikit-learn: PYTHON=path/to/venv/bin/python (default: the bench venv). Usage: Benchmarks/process/train.sh   (GATHER=path uses that release binary instead of building)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
python=${PYTHON:-$HOME/.cache/gather-bench/venv/bin/python}
if [ -n "${GATHER:-}" ]; then
    gather=$GATHER   # a release binary built already (scripts/install's, say)
else
    swift build -c release --product gather 2>&1 | grep -E "error" || true
    gather=$(swift build -c release --show-bin-path)/gather
fi
root=$(pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export PATH="$(dirname "$python"):$PATH"
command=("$gather" map examples/train/grid.jsonl --command "python3 $root/examples/train/train.py" --workers 2
    --into "$work/train.db" --table results --env "PYTHONPATH=$root/python" --env "MODELS=$work/models" --quiet)
map() { "${command[@]}" "$@"; }
time_it() { local start end; start=$(date +%s.%N); "$@" > /dev/null; end=$(date +%s.%N); echo "$end - $start" | bc; }

rm -f "$work"/train.db*
if [ -z "${KILL_ONLY:-}" ]; then
    echo "| contender | wall s |"
    echo "|---|---|"
    echo "| gather map --workers 2 | $(time_it map) |"
    echo "| joblib.Parallel(n_jobs=2) | $(time_it "$python" Benchmarks/process/train_peers.py joblib examples/train/grid.jsonl) |"
    echo "| GridSearchCV(n_jobs=2) | $(time_it "$python" Benchmarks/process/train_peers.py grid examples/train/grid.jsonl) |"
else
    map
fi
clean=$(sqlite3 "$work/train.db" "SELECT group_concat(input_line || ':' || accuracy, ',') FROM (SELECT * FROM results ORDER BY input_line)")

# Kill at about half the clean run's results, then run again.
rm -f "$work"/train.db*
# gather itself in the background (not a subshell), so that the SIGKILL reaches it.
"${command[@]}" & pid=$!
while [ "$(sqlite3 "$work/train.db" "SELECT count(*) FROM results" 2>/dev/null || echo 0)" -lt 8 ]; do sleep 0.05; done
kill -9 "$pid"; wait "$pid" 2>/dev/null || true
before=$(sqlite3 "$work/train.db" "SELECT count(*) FROM results")
start=$(date +%s.%N); map; end=$(date +%s.%N)
after=$(sqlite3 "$work/train.db" "SELECT count(*) FROM results")
again=$(sqlite3 "$work/train.db" "SELECT group_concat(input_line || ':' || accuracy, ',') FROM (SELECT * FROM results ORDER BY input_line)")
echo
echo "killed at $before of 16 results; the re-run did $((after - before)) fits in $(echo "$end - $start" | bc) s;"
echo "fits started in all: at most $((before + 2 + after - before)) (16 clean), results identical to the clean run: $([ "$clean" = "$again" ] && echo yes || echo NO)"
