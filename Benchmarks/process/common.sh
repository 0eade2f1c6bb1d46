# Shared by the process benchmarks (sourced): the release gather, a scratch folder removed on exit, and
# make_tasks N: N small JSON records ({"id", "value", "name"}) in $work/tasks.jsonl.
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
if [ -n "${GATHER:-}" ]; then
    gather=$GATHER   # a release binary built already (scripts/install's, say)
else
    swift build -c release --product gather 2>&1 | grep -E "error" || true
    gather=$(swift build -c release --show-bin-path)/gather
fi
root=$(pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

make_tasks() {
    python3 - "$1" > "$work/tasks.jsonl" <<'PY'
import json, sys
for i in range(int(sys.argv[1])):
    print(json.dumps({"id": i, "value": i % 1000, "name": "record %d" % i}))
PY
}
