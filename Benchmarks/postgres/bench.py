#!/usr/bin/env python3
"""Driver for Benchmarks/postgres/run.sh: loads the bench's ingest-csv file into one PostgreSQL
server with three contenders and prints a Markdown table. Standard library only (psql does the
queries); run.sh starts the server and passes everything in.

Per run, outside the timing: DROP/CREATE the contender's own database (gather: a brand-new
database, so it creates its table and `_gather_*` tables from nothing, and `--fresh`; psql and
asyncpg: the typed table below is created), then CHECKPOINT. Timed: the client process alone.
Afterwards: wait for its backend to exit, read the server's CPU, verify, drop the database.

Measured like ../../../shared/bench/run.py: wall = monotonic clock around the child; client CPU =
user+sys from os.wait4 (includes the child's waited-for descendants); peak RSS = GNU time %M of
the command (wait4's ru_maxrss is inflated by the forking parent). Server CPU = growth of
user+sys of the postmaster's children plus the postmaster's cumulative reaped-children time
(/proc/PID/stat fields 14–17), so it covers the backend and the checkpointer/walwriter.
"""
import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time

GNU_TIME = "/usr/bin/time"
TABLE = "ingest"
SCHEMA = f"""CREATE TABLE {TABLE} (
  id bigint, user_id bigint, name text, email text, country text, amount double precision,
  quantity bigint, score double precision, is_active boolean, created_at timestamptz,
  category text, notes text)"""
CLK_TCK = os.sysconf("SC_CLK_TCK")


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


class Server:
    def __init__(self, url, pgdir):
        self.url = url  # postgres://user@host:port/postgres
        self.base = url.rsplit("/", 1)[0]
        with open(os.path.join(pgdir, "data", "postmaster.pid")) as f:
            self.pid = int(f.readline())

    def db_url(self, db):
        return f"{self.base}/{db}"

    def sql(self, sql, db="postgres"):
        r = subprocess.run(["psql", "-X", "-v", "ON_ERROR_STOP=1", "-qAt", self.db_url(db), "-c", sql],
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"psql failed ({sql[:60]}…): {r.stderr.strip()}")
        return r.stdout.rstrip("\n")

    def children(self):
        kids = []
        for p in os.listdir("/proc"):
            if not p.isdigit():
                continue
            try:
                with open(f"/proc/{p}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == self.pid:  # fields[0] is field 3 (state); fields[1] is ppid
                kids.append(fields)
        return kids

    def cpu_s(self):
        """User+sys of the postmaster, its live children and its reaped children."""
        with open(f"/proc/{self.pid}/stat") as f:
            pm = f.read().rsplit(")", 1)[1].split()
        ticks = sum(int(x) for x in pm[11:15])  # utime stime cutime cstime (fields 14–17)
        ticks += sum(int(k[11]) + int(k[12]) for k in self.children())
        return ticks / CLK_TCK

    def wait_backends(self, baseline, limit=10.0):
        t0 = time.monotonic()
        while len(self.children()) > baseline and time.monotonic() - t0 < limit:
            time.sleep(0.02)


def run_measured(argv, out_path, timeout):
    rss_file = out_path + ".rss"
    full = [GNU_TIME, "-q", "-o", rss_file, "-f", "%M", "--"] + argv
    with open(out_path, "wb") as out:
        t0 = time.perf_counter()
        p = subprocess.Popen(full, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                             start_new_session=True)
        try:
            _, status, ru = os.wait4(p.pid, 0)
        except BaseException:
            os.killpg(p.pid, 9)
            os.wait4(p.pid, 0)
            raise
        wall = time.perf_counter() - t0
    with open(rss_file) as f:
        rss = [int(l) for l in f if l.strip().isdigit()]
    os.remove(rss_file)
    return {"wall_s": wall, "cpu_s": ru.ru_utime + ru.ru_stime, "rss_mib": (rss[-1] if rss else 0) / 1024,
            "rc": os.waitstatus_to_exitcode(status)}


def verify(server, db, manifest):
    m = manifest["csv"]
    count, sq, sa = server.sql(f"SELECT count(*), sum(quantity), sum(amount) FROM {TABLE}", db).split("|")
    ids = ",".join(f"'{i}'" for i in m["spot_rows"])
    got = json.loads(server.sql(
        f"SELECT coalesce(json_object_agg(id::text, json_build_array(name, notes)), '{{}}') "
        f"FROM {TABLE} WHERE id::text IN ({ids})", db))
    errs = []
    if int(count) != m["rows"]:
        errs.append(f"count(*) {count} != {m['rows']}")
    if not sq or int(float(sq)) != m["sum_quantity"]:
        errs.append(f"sum(quantity) {sq} != {m['sum_quantity']}")
    if not sa or not math.isclose(float(sa), m["total_amount"], rel_tol=1e-9):
        errs.append(f"sum(amount) {sa} != {m['total_amount']}")
    bad = [i for i, e in m["spot_rows"].items() if got.get(i) != [e["name"], e["notes"]]]
    if bad:
        errs.append(f"{len(bad)} of {len(m['spot_rows'])} quoted/multi-line rows differ, e.g. id {bad[0]}: "
                    f"got {got.get(bad[0])!r}")
    return int(count), errs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True, help="server URL (…/postgres)")
    ap.add_argument("--pgdir", required=True)
    ap.add_argument("--csv", required=True)
    ap.add_argument("--manifest", required=True)
    ap.add_argument("--gather", required=True)
    ap.add_argument("--python", required=True, help="python with asyncpg")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--wait-load", type=float, default=300)
    ap.add_argument("--max-load", type=float, default=0.7)
    ap.add_argument("--timeout", type=float, default=600)
    a = ap.parse_args()

    here = os.path.dirname(os.path.abspath(__file__))
    manifest = json.load(open(a.manifest))
    rows = manifest["csv"]["rows"]
    server = Server(a.url, a.pgdir)
    csv_path = os.path.abspath(a.csv)
    contenders = {  # name → (database, pre-created table?, argv); the candidate goes first
        "gather load": ("b_gather", False, lambda u: [
            a.gather, "load", csv_path, "--into", u, "--table", TABLE, "--fresh", "--quiet"]),
        "psql \\copy": ("b_psql", True, lambda u: [
            "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", u, "-c",
            f"\\copy {TABLE} FROM '{csv_path}' WITH (FORMAT csv, HEADER true)"]),
        "asyncpg copy_records_to_table": ("b_asyncpg", True, lambda u: [
            a.python, os.path.join(here, "ingest_asyncpg.py"), csv_path, u, TABLE]),
    }
    results = {name: [] for name in contenders}
    work = tempfile.mkdtemp(prefix="gather-pg-bench-")

    # Autovacuum would start on each freshly loaded table and run into the next contender's run.
    server.sql("ALTER SYSTEM SET autovacuum = off")
    server.sql("SELECT pg_reload_conf()")

    l1 = os.getloadavg()[0]
    t0 = time.time()
    while l1 >= a.max_load and time.time() - t0 < a.wait_load:
        log(f"load1 {l1:.2f} >= {a.max_load}; waiting (up to {a.wait_load - (time.time() - t0):.0f} s more)")
        time.sleep(15)
        l1 = os.getloadavg()[0]
    load_before = l1
    log(f"load1 at start {l1:.2f}" + ("" if l1 < a.max_load else f" (still >= {a.max_load}: figures are noisy)"))

    for rnd in range(a.warmup + a.runs):
        counted = rnd >= a.warmup
        for name, (db, precreate, argv) in contenders.items():
            server.sql(f"DROP DATABASE IF EXISTS {db}")
            server.sql(f"CREATE DATABASE {db}")
            if precreate:
                server.sql(SCHEMA, db)
            server.sql("CHECKPOINT")
            time.sleep(0.5)
            baseline = len(server.children())
            cpu0 = server.cpu_s()
            r = run_measured(argv(server.db_url(db)), os.path.join(work, "out"), a.timeout)
            server.wait_backends(baseline)
            r["server_cpu_s"] = server.cpu_s() - cpu0
            errs = []
            if r["rc"] != 0:
                with open(os.path.join(work, "out"), errors="replace") as f:
                    errs.append(f"exit {r['rc']}: {f.read()[-2000:].strip()}")
            try:
                r["rows"], verrs = verify(server, db, manifest)
                errs += verrs
            except RuntimeError as e:
                r["rows"] = 0
                errs.append(str(e))
            if name == "gather load" and rnd == 0:
                types = server.sql("SELECT string_agg(column_name || ' ' || data_type, ', ' ORDER BY ordinal_position) "
                                   f"FROM information_schema.columns WHERE table_name = '{TABLE}'", db)
                log(f"gather's table: {types or '(none)'}")
            r["errors"] = errs
            tag = "counted" if counted else "warm-up"
            log(f"{tag} {name}: {r['wall_s']:.3f} s wall, client CPU {r['cpu_s']:.2f} s, "
                f"server CPU {r['server_cpu_s']:.2f} s, RSS {r['rss_mib']:.0f} MiB"
                + (f" — INVALID: {'; '.join(errs)}" if errs else ""))
            if counted:
                results[name].append(r)
            server.sql(f"DROP DATABASE {db}")
    load_after = os.getloadavg()[0]

    def row(name):
        rs = results[name]
        walls = [r["wall_s"] for r in rs]
        med = statistics.median(walls)
        return {"valid": all(not r["errors"] for r in rs), "wall": med, "min": min(walls), "max": max(walls),
                "cpu": statistics.median(r["cpu_s"] for r in rs),
                "server": statistics.median(r["server_cpu_s"] for r in rs),
                "rss": max(r["rss_mib"] for r in rs), "rps": rows / med}

    s = {name: row(name) for name in contenders}
    g = s["gather load"]["rps"]
    print(f"\n{rows:,} rows, {os.path.getsize(csv_path) / 1e6:.0f} MB, {a.warmup} warm-up + {a.runs} counted "
          f"runs each, alternating; load1 {load_before:.2f} before, {load_after:.2f} after\n")
    print("| contender | valid | median wall s | min–max s | median client CPU s | median server CPU s "
          "| peak RSS MiB | rows/s | rows/s ÷ gather's |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, x in s.items():
        print(f"| {name} | {'yes' if x['valid'] else 'NO'} | {x['wall']:.3f} | {x['min']:.3f}–{x['max']:.3f} "
              f"| {x['cpu']:.2f} | {x['server']:.2f} | {x['rss']:.0f} | {x['rps']:,.0f} | {x['rps'] / g:.2f} |")
    print()
    for name, target in (("psql \\copy", 0.8), ("asyncpg copy_records_to_table", 1.5)):
        ratio = g / s[name]["rps"]
        print(f"- gather ÷ {name} rows/s: **{ratio:.2f}×** (target ≥ {target}×: {'met' if ratio >= target else 'NOT met'})")
    for name, rs in results.items():
        for i, r in enumerate(rs, 1):
            if r["errors"]:
                print(f"- {name} run {i} INVALID: {'; '.join(r['errors'])}")
    return 0 if all(x["valid"] for x in s.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
