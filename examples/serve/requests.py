"""Writes requests.jsonl for `gather fetch`: one POST per digit image of load_digits, with its label as the id.

    python3 examples/serve/requests.py http://127.0.0.1:8000 > requests.jsonl
    gather fetch requests.jsonl --concurrency 64 --out scores.jsonl
"""
import json
import sys

from sklearn.datasets import load_digits

url = (sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8000") + "/predict"
X, y = load_digits(return_X_y=True)
for i, (pixels, label) in enumerate(zip(X, y)):
    print(json.dumps({"id": "%d:%d" % (i, label), "url": url, "method": "POST", "body": {"pixels": pixels.tolist()}}))
