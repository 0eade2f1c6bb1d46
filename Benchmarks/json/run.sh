#!/usr/bin/env bash
# JSON reader/writer throughput: GatherCore (Swift) vs CPython json vs orjson, one thread each.
#
#   Benchmarks/json/run.sh [DATA] [PASSES]
#
# DATA: a folder of *.json documents or a JSON Lines file
#       (default: $HOME/.cache/gather-bench/data/static, made by ../shared/bench/gen_data.py).
# PASSES: passes over all documents; the best one is reported (default 10).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
data=${1:-$HOME/.cache/gather-bench/data/static}
passes=${2:-10}

if [ ! -e "$data" ]; then
    echo "run.sh: no benchmark data at $data" >&2
    echo "run.sh: generate it with: python3 $root/../shared/bench/gen_data.py --out DIR  (then pass DIR/static)" >&2
    exit 2
fi

# The reader and writer need only the values (GatherCore/Values: Value, Record, JSONWriter), so the benchmark is
# built straight from those sources and GatherFormats/JSON as one module, with whole-module optimization (no
# package resolution, no other targets); the `import GatherCore` lines go, as it is all one module here.
out="$root/.build-bench"
src="$out/jsonbench-src"
rm -rf "$src"
mkdir -p "$src"
cp "$root"/Sources/GatherCore/Values/*.swift "$root"/Sources/GatherFormats/JSON/*.swift \
    "$root"/Sources/GatherFormats/CSV/CSVBytes.swift "$src"/
rm "$src"/JSONRecordStream.swift  # the record stream reads JSONPath; the benchmark does not use it
sed -i '/^\(public \)\{0,1\}import GatherCore$/d' "$src"/*.swift
swiftc -O -wmo -module-name jsonbench -package-name jsonbench "$src"/*.swift "$here"/jsonbench/main.swift -o "$out/jsonbench"

pin=()
if command -v taskset >/dev/null 2>&1; then pin=(taskset -c 0); fi

echo "== Swift (GatherCore)"
"${pin[@]}" "$out/jsonbench" "$data" --passes "$passes" --write
echo "== Python $(python3 -c 'import sys; print(sys.version.split()[0])')"
"${pin[@]}" python3 "$here/bench.py" "$data" --passes "$(( passes < 5 ? passes : 5 ))" --write
