"""Compares the contenders' `readings` tables with the first one's: the same (sensor_id, window_start) rows, the same
window_end, n and hi exactly, total within 1e-6 relative. Also counts each one's late rows (readings_late).
Prints every difference (the first 10 of each kind per contender) and exits 1 if there is any.

usage: check.py NAME=REFERENCE.db NAME=OTHER.db ...   (NAME= is optional; the file name is used without it)
"""
import os
import sqlite3
import sys

LIMIT = 10


def load(spec):
    name, _, path = spec.rpartition("=")
    name = name or os.path.basename(path)
    if not os.path.exists(path):
        return name, None, None
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = db.execute("SELECT sensor_id, window_start, window_end, n, total, hi FROM readings").fetchall()
    except sqlite3.Error as error:
        print(f"{name}: {path}: {error}")
        return name, None, None
    late = 0
    if db.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'readings_late'").fetchone()[0]:
        late = db.execute("SELECT count(*) FROM readings_late").fetchone()[0]
    db.close()
    return name, {(r[0], r[1]): r[2:] for r in rows}, late


def same_total(a, b):
    return abs(a - b) <= 1e-6 * max(abs(a), abs(b), 1e-300) or a == b


def main(specs):
    if len(specs) < 2:
        sys.exit(__doc__)
    loaded = [load(spec) for spec in specs]
    ref_name, reference, ref_late = loaded[0]
    if reference is None:
        print(f"check: no readings table in the reference {ref_name}")
        return 1
    print(f"check: reference {ref_name}: {len(reference)} windows, {sum(v[1] for v in reference.values())} events "
          f"in windows, {ref_late} late")
    status = 0
    for name, other, late in loaded[1:]:
        if other is None:
            print(f"check: {name}: no output")
            status = 1
            continue
        missing = sorted(reference.keys() - other.keys())
        extra = sorted(other.keys() - reference.keys())
        differ = []
        for key in sorted(reference.keys() & other.keys()):
            (end_a, n_a, total_a, hi_a), (end_b, n_b, total_b, hi_b) = reference[key], other[key]
            if end_a != end_b or n_a != n_b or hi_a != hi_b or not same_total(total_a, total_b):
                differ.append((key, reference[key], other[key]))
        events = sum(v[1] for v in other.values())
        if not (missing or extra or differ):
            print(f"check: {name}: {len(other)} windows, {events} events in windows, {late} late: same as {ref_name}")
            continue
        status = 1
        print(f"check: {name}: {len(other)} windows, {events} events in windows, {late} late: DIFFERENT from "
              f"{ref_name}: {len(missing)} windows missing, {len(extra)} extra, {len(differ)} differing")
        for key in missing[:LIMIT]:
            print(f"    missing {key}: {ref_name} has {reference[key]}")
        for key in extra[:LIMIT]:
            print(f"    extra   {key}: {other[key]}")
        for key, a, b in differ[:LIMIT]:
            print(f"    differ  {key}: {ref_name} (end, n, total, hi) = {a}, {name} = {b}")
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
