"""gather serve's worker for the benchmark: the saved model, a batch at a time."""
import os

import joblib
import numpy as np
from gather_worker import serve

model = joblib.load(os.environ["MODEL"])
serve(lambda records: [{"digit": int(d)} for d in model.predict(np.array([r["pixels"] for r in records], float))])
