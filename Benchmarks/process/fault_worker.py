"""The fault benchmark's worker for gather map: the overhead worker (each record back with one field added), plus
faults (shared with peers.py through faults.py): a SIGSEGV each time the process has handled another
CRASH_EVERY records, and one hang (an hour's sleep) on the batch holding HANG_ID, the first time it is seen."""
import faults
from gather_worker import serve


def handle(records):
    faults.before(records)
    return [dict(r, doubled=r["value"] * 2) for r in records]


serve(handle)
