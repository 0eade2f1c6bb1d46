#!/usr/bin/env bash
# CSV → PostgreSQL 15: the shared bench's ingest-csv file (2,000,000 rows, ~228 MB) loaded into one
# throwaway local server by three contenders, alternating, 1 warm-up + RUNS counted runs each:
#  1. psql \copy … (FORMAT csv, HEADER true) into a pre-created typed table (the C reference)
#  2. Python csv module + asyncpg copy_records_to_table (binary COPY) into the same typed table
#  3. gather load FILE --into postgres://… --table ingest --fresh --quiet (infers types, creates the table)
# Targets: gather ≥ 0.8 × psql \copy rows/s and ≥ 1.5 × asyncpg rows/s. See README.md.
#
# Usage: Benchmarks/postgres/run.sh
#   RUNS=3  GATHER=.build/release/gather  BENCH_HOME=~/.cache/gather-bench  WAIT_LOAD=300  MAX_LOAD=0.7
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"
runs=${RUNS:-3}
bench_home=${BENCH_HOME:-$HOME/.cache/gather-bench}
data=$bench_home/data
shared=$root/../shared/bench
python=${PYTHON:-/usr/bin/python3}
[ -x "$python" ] || python=python3
say() { printf '[postgres-bench] %s\n' "$*" >&2; }

# gather: the release binary, built if missing (a Swift build takes a few minutes on 2 cores).
GATHER=${GATHER:-.build/release/gather}
if [ ! -x "$GATHER" ]; then
    say "building gather (release)"
    swift build -c release --product gather
fi
GATHER=$(cd "$(dirname "$GATHER")" && pwd)/$(basename "$GATHER")
"$GATHER" load --help 2>&1 | grep -q postgres:// \
    || { say "$GATHER has no PostgreSQL sink: rebuild it (swift build -c release --product gather)"; exit 2; }

# Input: the bench's file, generated the way ../shared/bench/setup.sh does when it is missing.
if [ ! -f "$data/rows.csv" ] || [ ! -f "$data/manifest.json" ]; then
    say "no $data/rows.csv: generating the bench data (deterministic, ~1 min)"
    rm -rf "$data.tmp"
    "$python" "$shared/gen_data.py" --out "$data.tmp"
    rm -rf "$data"
    mv "$data.tmp" "$data"
    sha256sum "$shared/gen_data.py" | cut -d' ' -f1 > "$data/.gen.sha256"
fi

# asyncpg: a venv beside this script (gitignored).
venv=$here/.venv
if ! "$venv/bin/python" -c 'import asyncpg' 2>/dev/null; then
    say "creating $venv with asyncpg"
    "$python" -m venv "$venv"
    "$venv/bin/python" -m pip install -q asyncpg==0.32.0
fi

eval "$(scripts/pg-cluster start)"
trap 'scripts/pg-cluster stop "$GATHER_PG_DIR"' EXIT
say "server $GATHER_PG_URL ($(psql -X -qAt "$GATHER_PG_URL" -c 'SHOW server_version')); psql $(psql --version | awk '{print $3}');" \
    "asyncpg $("$venv/bin/python" -c 'import asyncpg; print(asyncpg.__version__)');" \
    "gather $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- Sources Package.swift || echo ' + uncommitted edits'), binary built $(date -r "$GATHER" '+%F %T')"

"$python" "$here/bench.py" --url "$GATHER_PG_URL" --pgdir "$GATHER_PG_DIR" \
    --csv "$data/rows.csv" --manifest "$data/manifest.json" --gather "$GATHER" --python "$venv/bin/python" \
    --runs "$runs" --wait-load "${WAIT_LOAD:-300}" --max-load "${MAX_LOAD:-0.7}"
