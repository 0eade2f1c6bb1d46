#!/usr/bin/env bash
# Peak RSS of `gather crawl` over a generated site (default 100,000 pages, `gather fixture --crawl-site N`): the
# frontier and the seen-set live in the destination's SQLite state, so memory should not grow with the crawl.
#   Benchmarks/crawl/memory.sh            # PAGES=100000 CONCURRENCY=32 GATHER=.build/release/gather
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
GATHER=${GATHER:-.build/release/gather}
PAGES=${PAGES:-100000}
[ -x "$GATHER" ] || swift build -c release --product gather
work=$(mktemp -d)
"$GATHER" fixture --crawl-site "$PAGES" --url-file "$work/url" > /dev/null 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 100); do [ -s "$work/url" ] && break; sleep 0.1; done
base=$(head -1 "$work/url")
start=$(date +%s.%N)
/usr/bin/time -f "%M" -o "$work/rss" "$GATHER" crawl "$base/" --same-host -c "${CONCURRENCY:-32}" \
    -e 'title=css:title::text' -e 'price=css:span.price::text' --into "$work/crawl.db" --quiet || true
end=$(date +%s.%N)
pages=$(sqlite3 "$work/crawl.db" "SELECT count(*) FROM pages")
seen=$(sqlite3 "$work/crawl.db" "SELECT count(*) FROM _gather_frontier")
python3 - "$start" "$end" "$pages" "$seen" "$(cat "$work/rss")" <<'PY'
import sys
start, end, pages, seen, rss = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
print(f"| pages recorded | URLs seen | wall s | pages/s | peak RSS MiB |\n|---|---|---|---|---|\n"
      f"| {pages:,} | {seen:,} | {end - start:.1f} | {pages / (end - start):,.0f} | {rss / 1024:.0f} |")
PY
