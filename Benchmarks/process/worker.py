"""The benchmark's worker for gather map: each record back with one field added."""
from gather_worker import serve

serve(lambda records: [dict(r, doubled=r["value"] * 2) for r in records])
