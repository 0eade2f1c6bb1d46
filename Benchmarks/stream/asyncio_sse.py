"""The hand-written peer (Benchmarks/stream/run.sh): Python asyncio + aiohttp reading the SSE sensor feed, lines
parsed by hand, 1-minute tumbling event-time windows per sensor_id (n = count, total = sum(temp), hi = max(temp)),
written to SQLite.

Watermark = newest ts seen - 5000 ms, moved by every event before that event is placed (as Gather does). A window
[start, start + 60000) is closed, and its row written, once the watermark is >= its end. An event whose window
has already closed (window end <= watermark when it arrives) goes to readings_late. Rows are upserted with
executemany, one transaction per 20,000 events; at the end every open window is flushed.

Usage: asyncio_sse.py URL OUT_DB N   (stops after the N-th event: the feed never closes)
"""
import asyncio
import heapq
import sqlite3
import sys
import time

import aiohttp

try:
    from orjson import loads
    PARSER = "orjson"
except ImportError:  # the standard library's parser: slower, same results
    from json import loads
    PARSER = "json"

WINDOW = 60_000
MAX_DELAY = 5_000
COMMIT_EVERY = 20_000

UPSERT = ("INSERT INTO readings (sensor_id, window_start, window_end, n, total, hi) VALUES (?, ?, ?, ?, ?, ?) "
          "ON CONFLICT (sensor_id, window_start) DO UPDATE SET window_end = excluded.window_end, n = excluded.n, "
          "total = excluded.total, hi = excluded.hi")
LATE = "INSERT INTO readings_late (sensor_id, ts, temp, seq, reason) VALUES (?, ?, ?, ?, ?)"


def rfc3339(millis, cache={}):
    """UTC RFC 3339 of a whole-second epoch-ms instant, like 2026-01-01T00:01:00Z (cached: few distinct starts)."""
    text = cache.get(millis)
    if text is None:
        text = cache[millis] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(millis // 1000))
    return text


class Windows:
    def __init__(self):
        self.open = {}        # (sensor_id, start) -> [n, total, hi]
        self.by_start = {}    # start -> [sensor_id, ...] of the open windows with that start
        self.starts = []      # heap of the starts in by_start (a window's end is start + WINDOW)
        self.newest = None    # the newest event time seen
        self.watermark = None
        self.rows = []        # closed windows' rows, for the next commit
        self.late = []

    def add(self, key, ts, temp, seq):
        if self.newest is None or ts > self.newest:
            self.newest = ts
            watermark = ts - MAX_DELAY
            if self.watermark is None or watermark > self.watermark:
                self.watermark = watermark
                self.close(watermark)
        start = ts - ts % WINDOW
        if self.watermark is not None and start + WINDOW <= self.watermark:
            self.late.append((key, ts, temp, seq, "window closed: watermark %d >= window end %d"
                              % (self.watermark, start + WINDOW)))
            return
        window = self.open.get((key, start))
        if window is None:
            self.open[(key, start)] = [1, temp, temp]
            keys = self.by_start.get(start)
            if keys is None:
                self.by_start[start] = [key]
                heapq.heappush(self.starts, start)
            else:
                keys.append(key)
        else:
            window[0] += 1
            window[1] += temp
            if temp > window[2]:
                window[2] = temp

    def close(self, watermark):
        """Closes every window whose end the watermark reached."""
        starts, rows, open_ = self.starts, self.rows, self.open
        while starts and starts[0] + WINDOW <= watermark:
            start = heapq.heappop(starts)
            first, last = rfc3339(start), rfc3339(start + WINDOW)
            for key in self.by_start.pop(start):
                n, total, hi = open_.pop((key, start))
                rows.append((key, first, last, n, total, hi))

    def flush(self):
        self.close(float("inf"))


def commit(db, windows):
    with db:  # one transaction
        if windows.rows:
            db.executemany(UPSERT, windows.rows)
        if windows.late:
            db.executemany(LATE, windows.late)
    windows.rows = []
    windows.late = []


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


async def main(url, path, count):
    db = open_db(path)
    windows = Windows()
    add = windows.add
    seen = 0
    since_commit = 0
    last_id = None
    data = []
    timeout = aiohttp.ClientTimeout(total=None, sock_read=None)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        async with session.get(url, headers={"Accept": "text/event-stream"}) as response:
            response.raise_for_status()
            tail = b""
            async for chunk in response.content.iter_any():
                lines = (tail + chunk).split(b"\n")
                tail = lines.pop()  # an incomplete last line waits for the next chunk
                for line in lines:
                    if line:
                        if line[-1] == 13:  # CR LF
                            line = line[:-1]
                            if not line:
                                line = None
                    if line:
                        if line.startswith(b"data:"):
                            data.append(line[6:] if line[5:6] == b" " else line[5:])
                        elif line.startswith(b"id:"):
                            last_id = line[3:].strip()
                        # ':' comments, 'retry:', 'event:' and unknown fields: nothing to do here
                        continue
                    # A blank line ends an event.
                    if not data:
                        continue
                    event = loads(data[0] if len(data) == 1 else b"\n".join(data))
                    data = []
                    add(event["sensor_id"], event["ts"], event["temp"], event["seq"])
                    seen += 1
                    since_commit += 1
                    if since_commit >= COMMIT_EVERY:
                        commit(db, windows)
                        since_commit = 0
                    if seen >= count or event["seq"] >= count:
                        break
                else:
                    continue
                break
    windows.flush()
    commit(db, windows)
    rows = db.execute("SELECT count(*) FROM readings").fetchone()[0]
    late = db.execute("SELECT count(*) FROM readings_late").fetchone()[0]
    db.close()
    print(f"asyncio_sse ({PARSER}): {seen} events (last id {last_id.decode() if last_id else None}), "
          f"{rows} rows, {late} late", file=sys.stderr)


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit("usage: asyncio_sse.py URL OUT_DB N")
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
