"""gather serve's worker for the benchmark: the saved model, a batch at a time. RECORD_MS (default 0) adds that many
milliseconds per record, spent waiting rather than computing: a stand-in for a model whose cost is per record on
an accelerator, so that a client on the same 2 cores can offer more than the server's capacity (the overload run)."""
import os
import time

import joblib
import numpy as np
from gather_worker import serve

model = joblib.load(os.environ["MODEL"])
record_seconds = float(os.environ.get("RECORD_MS", "0")) / 1000


def handle(records):
    if record_seconds:
        time.sleep(record_seconds * len(records))
    return [{"digit": int(d)} for d in model.predict(np.array([r["pixels"] for r in records], float))]


serve(handle)
