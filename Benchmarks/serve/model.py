"""Trains the benchmark's model once (HistGradientBoosting, 100 iterations, on load_digits) and writes
WORK/model.joblib, WORK/bodies.jsonl (1,000 request bodies {"pixels": [...]}) and WORK/expected.json (the model's
prediction for each body, to check every contender's answers)."""
import json
import sys

import joblib
from sklearn.datasets import load_digits
from sklearn.ensemble import HistGradientBoostingClassifier

work = sys.argv[1]
X, y = load_digits(return_X_y=True)
model = HistGradientBoostingClassifier(max_iter=100, random_state=0).fit(X, y)
joblib.dump(model, work + "/model.joblib")
rows = X[:1000]
with open(work + "/bodies.jsonl", "w") as f:
    for row in rows:
        f.write(json.dumps({"pixels": row.tolist()}) + "\n")
with open(work + "/expected.json", "w") as f:
    json.dump([int(d) for d in model.predict(rows)], f)
