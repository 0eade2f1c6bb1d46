"""LitServe with batching: max_batch_size=64, batch_timeout=0.005, 2 workers on the CPU.
Run: MODEL=... python3 litserve_app.py PORT"""
import os
import sys

import joblib
import litserve as ls
import numpy as np


class Digits(ls.LitAPI):
    def setup(self, device):
        self.model = joblib.load(os.environ["MODEL"])

    def decode_request(self, request):
        return request["pixels"]

    def batch(self, inputs):
        return np.array(inputs, float)

    def predict(self, x):
        return self.model.predict(x)

    def unbatch(self, output):
        return list(output)

    def encode_response(self, output):
        return {"digit": int(output)}


if __name__ == "__main__":
    try:
        api = Digits(max_batch_size=64, batch_timeout=0.005)
        server = ls.LitServer(api, accelerator="cpu", workers_per_device=2, timeout=1, fast_queue=True)
    except TypeError:
        api = Digits()
        server = ls.LitServer(
            api, accelerator="cpu", workers_per_device=2, max_batch_size=64, batch_timeout=0.005, timeout=1,
            fast_queue=True)
    server.run(port=int(sys.argv[1]), generate_client_file=False)
