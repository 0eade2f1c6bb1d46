"""A scikit-learn model served by `gather serve digits.yaml`: trained once per worker at start-up on
load_digits (shipped with scikit-learn, no download), then asked for batches of 8x8 images."""
import numpy as np
from gather_worker import serve
from sklearn.datasets import load_digits
from sklearn.ensemble import HistGradientBoostingClassifier

X, y = load_digits(return_X_y=True)
model = HistGradientBoostingClassifier(max_iter=100, random_state=0).fit(X, y)
serve(lambda records: [{"digit": int(d)} for d in model.predict(np.array([r["pixels"] for r in records], float))])
