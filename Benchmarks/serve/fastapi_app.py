"""The seeds' pattern: FastAPI + uvicorn, a plain `def` endpoint (run in the thread pool), predict per request.
Run: MODEL=... uvicorn fastapi_app:app --workers 2 --port PORT --log-level warning"""
import os

import joblib
import numpy as np
from fastapi import FastAPI
from pydantic import BaseModel

model = joblib.load(os.environ["MODEL"])
app = FastAPI()


class Image(BaseModel):
    pixels: list[float]


@app.post("/predict")
def predict(image: Image):
    return {"digit": int(model.predict(np.array([image.pixels]))[0])}


@app.get("/health")
def health():
    return {"ok": True}
