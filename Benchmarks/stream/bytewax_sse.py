"""The Bytewax 0.21 peer (Benchmarks/stream/run.sh): the SSE sensor feed through a one-partition custom source,
`EventClock(ts, wait_for_system_duration=5s)`, `TumblingWindower(1 minute, align_to=epoch)`, `fold_window`
(n = count, total = sum(temp), hi = max(temp)) per sensor_id, and a custom SQLite sink (executemany upsert, one
transaction per write_batch). Late items (Bytewax's rule: ts < that key's watermark) go to readings_late.

    SSE_URL=http://127.0.0.1:PORT/events OUT_DB=out.db N=1000000 python -m bytewax.run bytewax_sse:flow -w 1

(or `python -m bytewax.run "bytewax_sse:get_flow('URL', 'out.db', 1000000)" -w 1`). BYTEWAX_WAKE=none adds
`to_system_utc=lambda close_time: None` to the EventClock (no system-time wake-ups; see README.md). The source stops after the
N-th event (the feed never closes); EOF then closes every window (EventClock.on_eof gives the watermark UTC_MAX).

Bytewax's watermark differs from the issue's rule (newest ts - 5 s over the whole stream), see README.md: the
window operator keeps one clock per key, so the watermark is per sensor, and it also moves with system time since
that sensor's newest event.
"""
import http.client
import os
import sqlite3
import sys
import time
from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit

import bytewax.operators as op
from bytewax.dataflow import Dataflow
from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition
from bytewax.operators.windowing import EventClock, TumblingWindower, fold_window
from bytewax.outputs import DynamicSink, StatelessSinkPartition

try:
    from orjson import loads
except ImportError:  # the standard library's parser: slower, same results
    from json import loads

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
WINDOW_MS = 60_000

UPSERT = ("INSERT INTO readings (sensor_id, window_start, window_end, n, total, hi) VALUES (?, ?, ?, ?, ?, ?) "
          "ON CONFLICT (sensor_id, window_start) DO UPDATE SET window_end = excluded.window_end, n = excluded.n, "
          "total = excluded.total, hi = excluded.hi")
LATE = "INSERT INTO readings_late (sensor_id, ts, temp, seq, reason) VALUES (?, ?, ?, ?, ?)"


def rfc3339(millis, cache={}):
    """UTC RFC 3339 of a whole-second epoch-ms instant, like 2026-01-01T00:01:00Z."""
    text = cache.get(millis)
    if text is None:
        text = cache[millis] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(millis // 1000))
    return text


def sse_events(url, count, last_id=None):
    """Yields lists of parsed events (whatever one read of the socket held) from an SSE stream, up to `count`
    events in all. Blocking reads: the feed sends continuously until the N-th event, after which we stop."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port)
    headers = {"Accept": "text/event-stream"}
    if last_id is not None:
        headers["Last-Event-ID"] = str(last_id)
    connection.request("GET", parts.path or "/", headers=headers)
    response = connection.getresponse()
    if response.status != 200:
        raise RuntimeError(f"{url}: HTTP {response.status}")
    seen = 0
    tail = b""
    data = []
    try:
        while seen < count:
            chunk = response.read1(65536)
            if not chunk:
                raise RuntimeError(f"{url}: the stream ended after {seen} events")
            lines = (tail + chunk).split(b"\n")
            tail = lines.pop()
            batch = []
            for line in lines:
                if line and line[-1] == 13:
                    line = line[:-1]
                if line:
                    if line.startswith(b"data:"):
                        data.append(line[6:] if line[5:6] == b" " else line[5:])
                    continue  # id:, retry:, ':' comments
                if not data:
                    continue
                event = loads(data[0] if len(data) == 1 else b"\n".join(data))
                data = []
                batch.append(event)
                seen += 1
                if seen >= count:
                    break
            if batch:
                yield batch
    finally:
        connection.close()


class SSEPartition(StatefulSourcePartition):
    def __init__(self, url, count, resume_state):
        self.last_id = resume_state  # the last event id handed on (for Last-Event-ID on a resume)
        self.batches = sse_events(url, count - (resume_state or 0), resume_state)

    def next_batch(self):
        batch = next(self.batches)  # StopIteration after the N-th event: EOF for the dataflow
        self.last_id = batch[-1]["seq"]
        return batch

    def snapshot(self):
        return self.last_id


class SSESource(FixedPartitionedSource):
    def __init__(self, url, count):
        self.url = url
        self.count = count

    def list_parts(self):
        return ["events"]

    def build_part(self, step_id, for_part, resume_state):
        return SSEPartition(self.url, self.count, resume_state)


def redis_events(url, group, count):
    """Yields lists of parsed events from the Redis stream `readings` through consumer group `group` (XREADGROUP,
    10,000 entries a read, each entry's `data` field one event), up to `count` events in all. Entries are
    acknowledged as they are read: Bytewax's recovery replays from its own snapshots, not from the group."""
    import redis

    client = redis.Redis.from_url(url)
    try:
        client.xgroup_create("readings", group, id="0", mkstream=True)
    except redis.ResponseError as error:
        if "BUSYGROUP" not in str(error):
            raise
    seen = 0
    try:
        while seen < count:
            reply = client.xreadgroup(group, "bench", {"readings": ">"}, count=min(10_000, count - seen), block=1000)
            if not reply:
                continue
            entries = reply[0][1]
            client.xack("readings", group, *[entry_id for entry_id, _ in entries])
            seen += len(entries)
            yield [loads(fields[b"data"]) for _, fields in entries]
    finally:
        client.close()


class RedisPartition(StatefulSourcePartition):
    def __init__(self, url, group, count):
        self.batches = redis_events(url, group, count)

    def next_batch(self):
        return next(self.batches)  # StopIteration after the N-th event: EOF for the dataflow

    def snapshot(self):
        return None


class RedisSource(FixedPartitionedSource):
    def __init__(self, url, group, count):
        self.args = (url, group, count)

    def list_parts(self):
        return ["readings"]

    def build_part(self, step_id, for_part, resume_state):
        return RedisPartition(*self.args)


def open_db(path):
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode = WAL")  # as Gather's SQLite destination
    db.execute("PRAGMA synchronous = NORMAL")
    db.execute("CREATE TABLE IF NOT EXISTS readings (sensor_id TEXT, window_start TEXT, window_end TEXT, "
               "n INTEGER, total REAL, hi REAL, PRIMARY KEY (sensor_id, window_start))")
    db.execute("CREATE TABLE IF NOT EXISTS readings_late (sensor_id TEXT, ts INTEGER, temp REAL, seq INTEGER, "
               "reason TEXT)")
    db.isolation_level = ""  # `with db` opens and commits one transaction
    return db


class SQLitePartition(StatelessSinkPartition):
    def __init__(self, path, sql, to_row, name):
        self.db = open_db(path)
        self.sql = sql
        self.to_row = to_row
        self.name = name
        self.batches = 0
        self.rows = 0

    def write_batch(self, items):
        rows = [self.to_row(item) for item in items]
        with self.db:  # one transaction per batch
            self.db.executemany(self.sql, rows)
        self.batches += 1
        self.rows += len(rows)

    def close(self):
        self.db.close()
        print(f"bytewax_sse: {self.name}: {self.rows} rows in {self.batches} transactions", file=sys.stderr)


class SQLiteSink(DynamicSink):
    def __init__(self, path, sql, to_row, name):
        self.args = (path, sql, to_row, name)

    def build(self, step_id, worker_index, worker_count):
        return SQLitePartition(*self.args)


def window_row(item):
    key, (window_id, (n, total, hi)) = item
    start = window_id * WINDOW_MS  # TumblingWindower aligned to the epoch: window i opens at i minutes
    return (key, rfc3339(start), rfc3339(start + WINDOW_MS), n, total, hi)


def late_row(item):
    key, (window_id, event) = item
    return (key, event["ts"], event["temp"], event["seq"], f"late for window {window_id} (ts < the key's watermark)")


def timestamp(event):
    return EPOCH + timedelta(milliseconds=event["ts"])


def new_acc():
    return [0, 0.0, float("-inf")]


def fold(acc, event):
    temp = event["temp"]
    acc[0] += 1
    acc[1] += temp
    if temp > acc[2]:
        acc[2] = temp
    return acc


def merge(a, b):  # tumbling windows never merge; fold_window wants one anyway
    return [a[0] + b[0], a[1] + b[1], max(a[2], b[2])]


def no_wake_up(close_time):
    return None


def get_flow(url, path, count):
    """`url` is the SSE feed, or with REDIS_URL set, the consumer group to read the Redis stream through."""
    flow = Dataflow("sensors")
    if "REDIS_URL" in os.environ:
        events = op.input("redis", flow, RedisSource(os.environ["REDIS_URL"], url, int(count)))
    else:
        events = op.input("sse", flow, SSESource(url, int(count)))
    keyed = op.key_on("by_sensor", events, lambda event: event["sensor_id"])
    if os.environ.get("BYTEWAX_WAKE") == "none":
        # No system-time wake-ups: windows close on the key's next item or at EOF (see README.md).
        clock = EventClock(timestamp, wait_for_system_duration=timedelta(seconds=5), to_system_utc=no_wake_up)
    else:
        clock = EventClock(timestamp, wait_for_system_duration=timedelta(seconds=5))
    windower = TumblingWindower(length=timedelta(minutes=1), align_to=EPOCH)
    windows = fold_window("windows", keyed, clock, windower, new_acc, fold, merge)
    op.output("readings", windows.down, SQLiteSink(path, UPSERT, window_row, "readings"))
    op.output("late", windows.late, SQLiteSink(path, LATE, late_row, "readings_late"))
    return flow


flow = get_flow(os.environ["SSE_URL"], os.environ["OUT_DB"], os.environ["N"]) if "SSE_URL" in os.environ else None
