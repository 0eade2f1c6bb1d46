"""The hand-written peer on the Redis source (Benchmarks/stream/run.sh with SOURCE=redis): Python asyncio +
redis-py reading the `readings` stream through a consumer group (XREADGROUP, COUNT 10000), each entry's `data`
field one JSON event, into the same windows as asyncio_sse.py (its Windows and commit). Entries are acknowledged
(XACK) after the commit that covers them, as Gather does; no state or position is saved, so a crash loses the open
windows (Gather's contender commits them with every batch).

Usage: asyncio_redis.py REDIS_URL GROUP OUT_DB N
"""
import asyncio
import sys

import redis.asyncio as redis

from asyncio_sse import COMMIT_EVERY, PARSER, Windows, commit, loads, open_db

STREAM = "readings"


async def main(url, group, path, count):
    db = open_db(path)
    client = redis.from_url(url)
    try:
        await client.xgroup_create(STREAM, group, id="0", mkstream=True)
    except redis.ResponseError as error:
        if "BUSYGROUP" not in str(error):
            raise
    windows = Windows()
    add = windows.add
    seen = 0
    unacked = []
    while seen < count:
        reply = await client.xreadgroup(group, "bench", {STREAM: ">"}, count=10_000, block=1000)
        if not reply:
            continue
        for entry_id, fields in reply[0][1]:
            event = loads(fields[b"data"])
            add(event["sensor_id"], event["ts"], event["temp"], event["seq"])
            unacked.append(entry_id)
            seen += 1
        if len(unacked) >= COMMIT_EVERY or seen >= count:
            commit(db, windows)
            await client.xack(STREAM, group, *unacked)
            unacked = []
    windows.flush()
    commit(db, windows)
    if unacked:
        await client.xack(STREAM, group, *unacked)
    rows = db.execute("SELECT count(*) FROM readings").fetchone()[0]
    late = db.execute("SELECT count(*) FROM readings_late").fetchone()[0]
    db.close()
    await client.aclose()
    print(f"asyncio_redis ({PARSER}): {seen} events, {rows} rows, {late} late", file=sys.stderr)


if __name__ == "__main__":
    if len(sys.argv) != 5:
        sys.exit("usage: asyncio_redis.py REDIS_URL GROUP OUT_DB N")
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])))
