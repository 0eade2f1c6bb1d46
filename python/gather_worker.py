"""The worker side of Gather's process pool (standard library only).

Gather starts N copies of your program and talks to each over stdin/stdout. Write:

    from gather_worker import serve
    model = load_model()                       # once per worker process
    def handle(records):                       # a list of dicts in, a list of the same length out
        return [{"score": model.predict_one(r)} for r in records]
    serve(handle)

The protocol (if you write a worker in another language): every message is a frame, a 4-byte big-endian length
and that many bytes of UTF-8 JSON.

- The worker first sends {"ready": true, "pid": PID} once it has loaded what it needs.
- Gather sends {"id": N, "records": [...]} and waits for exactly one answer with the same id:
  {"id": N, "results": [...]} with one result per record (null where a record failed), and
  "errors": [[INDEX, "message"], ...] for the records that failed; or {"id": N, "error": "message"} when the
  whole batch failed.
- End of input (stdin closed) means: finish and exit 0.

What this helper adds: from the moment it is imported, print() and other writes to sys.stdout go to stderr
(stdout carries frames only, and Gather logs stderr lines tagged with the worker), so import it before anything
that prints; when handle() raises for a batch, each record is tried alone,
so one bad record becomes one error and the rest of the batch is kept; an error's message is the last line of
its traceback.
"""

import json
import os
import struct
import sys
import traceback

__all__ = ["serve", "RecordError"]


class RecordError(Exception):
    """Return (or raise) this for a record that cannot be handled: it becomes that record's error row."""


def _last_line(exc):
    lines = traceback.format_exception_only(type(exc), exc)
    return (lines[-1] if lines else repr(exc)).strip()


def _read_exact(stream, n):
    data = bytearray()
    while len(data) < n:
        chunk = stream.read(n - len(data))
        if not chunk:
            return None
        data += chunk
    return bytes(data)


def _plain(value):
    # numpy scalars and arrays (and anything else with the same protocol) become plain JSON values.
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "item"):
        return value.item()
    raise TypeError("%s is not JSON serializable" % type(value).__name__)


def _write_frame(stream, message):
    payload = json.dumps(message, separators=(",", ":"), ensure_ascii=False, default=_plain).encode("utf-8")
    stream.write(struct.pack(">I", len(payload)))
    stream.write(payload)
    stream.flush()


def _handle_batch(handle, records):
    """Returns (results, errors) for one batch."""
    try:
        results = handle(records)
        results = list(results)
        if len(results) != len(records):
            raise ValueError("handle() returned %d results for %d records" % (len(results), len(records)))
    except Exception:
        if len(records) == 1:
            raise
        # Try each record alone: one bad record must not sink the others.
        results, errors = [], []
        for index, record in enumerate(records):
            try:
                one = list(handle([record]))
                if len(one) != 1:
                    raise ValueError("handle() returned %d results for 1 record" % len(one))
                value = one[0]
            except Exception as exc:
                results.append(None)
                errors.append([index, _last_line(exc)])
                continue
            if isinstance(value, RecordError):
                results.append(None)
                errors.append([index, str(value)])
            else:
                results.append(value)
        return results, errors
    errors = []
    for index, value in enumerate(results):
        if isinstance(value, RecordError):
            results[index] = None
            errors.append([index, str(value)])
    return results, errors


# From the import on, stdout is stderr: a stray print() (while a model loads, say) cannot corrupt a frame.
sys.stdout.flush()
_frames_out = os.fdopen(os.dup(1), "wb", buffering=0)
_frames_in = os.fdopen(os.dup(0), "rb", buffering=0)
os.dup2(2, 1)
sys.stdout = sys.stderr


def serve(handle):
    """Answers Gather's batches with handle(records) until stdin closes, then returns."""
    frames_out, frames_in = _frames_out, _frames_in
    _write_frame(frames_out, {"ready": True, "pid": os.getpid()})
    while True:
        header = _read_exact(frames_in, 4)
        if header is None:
            return
        (length,) = struct.unpack(">I", header)
        body = _read_exact(frames_in, length)
        if body is None:
            return
        message = json.loads(body)
        batch_id = message.get("id")
        try:
            results, errors = _handle_batch(handle, message.get("records", []))
            answer = {"id": batch_id, "results": results}
            if errors:
                answer["errors"] = errors
        except Exception as exc:
            answer = {"id": batch_id, "error": _last_line(exc)}
        try:
            _write_frame(frames_out, answer)
        except (TypeError, ValueError) as exc:
            _write_frame(frames_out, {"id": batch_id, "error": "a result is not JSON: " + _last_line(exc)})


if __name__ == "__main__":
    # `python3 gather_worker.py` alone: an echo worker, handy to check the wiring.
    serve(lambda records: records)
