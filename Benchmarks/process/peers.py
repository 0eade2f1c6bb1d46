"""The same job as `gather map` in the two ways Python users write it, side by side:

  mp:       multiprocessing.Pool(2).imap(f, records, chunksize=256)
  executor: asyncio + concurrent.futures.ProcessPoolExecutor(2) with loop.run_in_executor, one call per chunk of
            256 records, 2 chunks in flight per worker (the seeds' pattern)

Both read the same JSON Lines file, add one field per record in the worker processes, and write every result to
a SQLite table (executemany in transactions of 256 rows, the batch size gather map commits).
With FAULTS=1 the workers crash and hang as faults.py says (the fault benchmark, faults.sh).

Usage: peers.py mp|executor INPUT.jsonl OUT.db
"""
import asyncio
import concurrent.futures
import json
import multiprocessing
import os
import sqlite3
import sys

CHUNK = 256


FAULTS = os.environ.get("FAULTS") == "1"
if FAULTS:
    import faults


def add_field(record):
    record["doubled"] = record["value"] * 2
    return record


def work(record):
    if FAULTS:
        faults.before([record])
    return add_field(record)


def work_chunk(records):
    if FAULTS:
        faults.before(records)
    return [add_field(r) for r in records]


def lines(path):
    with open(path, "rb") as f:
        for line in f:
            if line.strip():
                yield json.loads(line)


def open_db(path):
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE results (id INTEGER, value INTEGER, name TEXT, doubled INTEGER)")
    return db


def write(db, rows):
    db.executemany(
        "INSERT INTO results VALUES (?, ?, ?, ?)", [(r["id"], r["value"], r["name"], r["doubled"]) for r in rows]
    )
    db.commit()


def run_mp(path, out):
    db = open_db(out)
    pending = []
    with multiprocessing.Pool(2) as pool:
        for result in pool.imap(work, lines(path), chunksize=CHUNK):
            pending.append(result)
            if len(pending) >= CHUNK:
                write(db, pending)
                pending = []
    if pending:
        write(db, pending)
    db.close()


async def run_executor(path, out):
    db = open_db(out)
    loop = asyncio.get_running_loop()
    with concurrent.futures.ProcessPoolExecutor(2) as pool:
        in_flight = set()
        chunk = []

        async def drain(wait_all=False):
            nonlocal in_flight
            done, in_flight = await asyncio.wait(
                in_flight, return_when=asyncio.ALL_COMPLETED if wait_all else asyncio.FIRST_COMPLETED
            )
            for future in done:
                write(db, future.result())

        for record in lines(path):
            chunk.append(record)
            if len(chunk) == CHUNK:
                in_flight.add(loop.run_in_executor(pool, work_chunk, chunk))
                chunk = []
                if len(in_flight) >= 4:
                    await drain()
        if chunk:
            in_flight.add(loop.run_in_executor(pool, work_chunk, chunk))
        if in_flight:
            await drain(wait_all=True)
    db.close()


if __name__ == "__main__":
    mode, path, out = sys.argv[1:4]
    if mode == "mp":
        run_mp(path, out)
    else:
        asyncio.run(run_executor(path, out))
