"""Measures the idle wait inside a `gather run --idle-exit` (Benchmarks/stream/run.sh): polls the SQLite output
(DB, DB-wal) every 2 ms until STOP_FILE exists, then prints the idle gap: the time with no write just before the
final burst of writes. Gather writes only when it commits, so the final burst is the last commit (the one
--flush-windows makes after the idle wait, with the close of the database), and the gap before it runs from the
end of the commit holding the last event to that final commit. `wall - gap` is then the time spent working:
start-up, reading, windows, every commit and the exit. The gap is capped at the --idle-exit setting. (Were the last
batch to take longer than the idle wait to process, the final commit would follow its commit at once, and the gap
found would be an earlier one: the figure would then be off by up to the cap.)

Subtracting the --idle-exit setting instead would flatter Gather: its idle timer starts when it takes the last
events off its buffer, so the processing and commit of that last batch overlap the wait.

usage: idle_gap.py DB STOP_FILE IDLE_SECONDS   (prints the gap in seconds; the cap when it found none)
"""
import os
import sys
import time


def state(paths):
    out = []
    for path in paths:
        try:
            st = os.stat(path)
            out.append((st.st_size, st.st_mtime_ns))
        except FileNotFoundError:
            out.append(None)
    return tuple(out)


BURST = 0.1  # writes closer together than this belong to one commit


def main(db, stop, idle):
    paths = (db, db + "-wal")
    last = state(paths)
    changes = []
    while not os.path.exists(stop):
        time.sleep(0.002)
        now = state(paths)
        if now != last:
            changes.append(time.monotonic())
            last = now
    i = len(changes) - 1
    while i > 0 and changes[i] - changes[i - 1] < BURST:
        i -= 1  # back to the first write of the final commit
    gap = changes[i] - changes[i - 1] if i > 0 else idle
    print(f"{min(gap, idle):.3f}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], float(sys.argv[3]))
