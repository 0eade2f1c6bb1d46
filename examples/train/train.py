"""A gather map worker that trains one scikit-learn model per task and saves it.

    gather map examples/train/grid.jsonl --command 'python3 examples/train/train.py' --workers 2 \\
        --into train.db --table results --env PYTHONPATH=python

Each task is a hyperparameter set: {"n_estimators": 100, "max_depth": 8, "max_features": "sqrt"}. The dataset
(make_classification, 20,000 × 20, fixed seed) is made once per worker; each task fits a RandomForest on 75 %
of it, scores the other 25 %, saves the model to models/ and returns the metrics and the model's path.
"""
import hashlib
import json
import os
import pickle
import time

from gather_worker import serve  # first: from here on print() goes to stderr

from sklearn.datasets import make_classification
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import train_test_split

X, y = make_classification(n_samples=20_000, n_features=20, n_informative=10, random_state=7)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=7)
MODELS = os.environ.get("MODELS", "models")
os.makedirs(MODELS, exist_ok=True)


def train(params):
    started = time.perf_counter()
    model = RandomForestClassifier(random_state=7, n_jobs=1, **params)
    model.fit(X_train, y_train)
    predicted = model.predict(X_test)
    name = hashlib.sha1(json.dumps(params, sort_keys=True).encode()).hexdigest()[:12]
    path = os.path.join(MODELS, "rf-%s.pkl" % name)
    with open(path, "wb") as f:
        pickle.dump(model, f)
    return {
        "params": params,
        "accuracy": accuracy_score(y_test, predicted),
        "f1": f1_score(y_test, predicted),
        "fit_seconds": round(time.perf_counter() - started, 3),
        "model": path,
    }


serve(lambda tasks: [train(t) for t in tasks])
