"""Summarises the `gather fetch` outputs of the overload and recovery runs. A request's latency is
`elapsed_ms - waited_ms`: from the moment its rate token was granted (its place in the open-loop schedule) to its
answer. Prints the status mix, p50/p99 of the 200s, how many 200s took longer than the
deadline, and for the recovery run the p99 of each fifth (in completion order). run.sh prints the rate each
run achieved: the client shares the 2 cores with the server and may fall behind its schedule."""
import json
import sys


def load(path):
    return [json.loads(line) for line in open(path)]


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(p / 100 * len(values)))] if values else float("nan")


overload, recovery = load(sys.argv[1]), load(sys.argv[2])
deadline_ms = float(sys.argv[4])
for name, rows in (("overload", overload), ("recovery", recovery)):
    statuses = {}
    for r in rows:
        key = str(r.get("status") or r.get("error", {}).get("code", "error"))
        statuses[key] = statuses.get(key, 0) + 1
    ok = [r["elapsed_ms"] - r.get("waited_ms", 0) for r in rows if r.get("status") == 200]
    late = sum(1 for v in ok if v > deadline_ms)
    print("%s: statuses %s; 200s: p50 %.1f ms, p99 %.1f ms; %d over the %g ms deadline"
          % (name, json.dumps(statuses, sort_keys=True), pct(ok, 50), pct(ok, 99), late, deadline_ms))
ok = [r["elapsed_ms"] - r.get("waited_ms", 0) for r in recovery if r.get("status") == 200]
fifth = max(1, len(ok) // 5)
print("recovery p99 by fifth (about 1 s each): "
      + ", ".join("%.0f ms" % pct(ok[i * fifth:(i + 1) * fifth], 99) for i in range(5)))
