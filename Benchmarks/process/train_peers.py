"""The training grid of examples/train with the Python tools people use, for side-by-side timing:

  joblib:  joblib.Parallel(n_jobs=2) over the 16 hyperparameter sets, each fit as examples/train/train.py does
  grid:    GridSearchCV(n_jobs=2) with one fixed train/test split and refit=False (the same 16 fits)

Usage: train_peers.py joblib|grid GRID.jsonl
"""
import itertools
import json
import sys

import numpy as np
from joblib import Parallel, delayed
from sklearn.datasets import make_classification
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import accuracy_score
from sklearn.model_selection import GridSearchCV, train_test_split

X, y = make_classification(n_samples=20_000, n_features=20, n_informative=10, random_state=7)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=7)


def fit(params):
    model = RandomForestClassifier(random_state=7, n_jobs=1, **params).fit(X_train, y_train)
    return params, accuracy_score(y_test, model.predict(X_test))


if __name__ == "__main__":
    mode, path = sys.argv[1:3]
    grid = [json.loads(line) for line in open(path) if line.strip()]
    if mode == "joblib":
        results = Parallel(n_jobs=2)(delayed(fit)(p) for p in grid)
    else:
        space = {k: sorted({json.dumps(p[k]) for p in grid}) for k in grid[0]}
        space = {k: [json.loads(v) for v in vs] for k, vs in space.items()}
        indices = np.arange(len(y))
        train_idx, test_idx = train_test_split(indices, test_size=0.25, random_state=7)
        search = GridSearchCV(
            RandomForestClassifier(random_state=7, n_jobs=1), space, cv=[(train_idx, test_idx)], n_jobs=2, refit=False
        )
        search.fit(X, y)
        results = list(zip(search.cv_results_["params"], search.cv_results_["mean_test_score"]))
    assert len(results) == len(grid), (len(results), len(grid))
    print(max(r[1] for r in results))
