"""Faults injected in the worker processes of the fault benchmark, the same for gather map and the Python peers.

- CRASH_EVERY (default 10000): a process that has handled another CRASH_EVERY records dies by SIGSEGV before it
  answers the batch that crossed the mark (so a process crashes about every 39 batches of 256; a fresh process
  starts counting from zero).
- HANG_ID: the first process to see the record with this id sleeps for an hour (once per run: MARKERS/hung).
"""
import os
import signal
import time

_every = int(os.environ.get("CRASH_EVERY", "10000"))
_hang = int(os.environ.get("HANG_ID", "-1"))
_markers = os.environ.get("MARKERS", "/tmp")
_seen = 0


def before(records):
    global _seen
    for record in records:
        if record["id"] == _hang:
            marker = os.path.join(_markers, "hung")
            try:
                os.close(os.open(marker, os.O_CREAT | os.O_EXCL))
            except FileExistsError:
                continue
            time.sleep(3600)
    crossed = (_seen + len(records)) // _every != _seen // _every
    _seen += len(records)
    if crossed:
        os.kill(os.getpid(), signal.SIGSEGV)
