#!/usr/bin/env python3
"""asyncpg contender: csv module + binary COPY (copy_records_to_table) into a pre-created table.

ingest_asyncpg.py CSV URL TABLE [--batch N]

The table must exist with the typed schema in run.sh (bigint, double precision, boolean,
timestamptz, text). Fields are converted to Python objects, because asyncpg's binary COPY
needs int/float/bool/datetime values, not strings. Empty fields become NULL, as with
`\\copy … CSV` (an unquoted empty field is NULL). --batch 0 (the default) streams the whole
file through one COPY (one transaction, like `\\copy`); --batch N > 0 sends one COPY of N
records per call, all inside one transaction.
"""
import argparse
import asyncio
import csv
import datetime as dt
import itertools
import sys

import asyncpg

COLUMNS = ["id", "user_id", "name", "email", "country", "amount", "quantity", "score",
           "is_active", "created_at", "category", "notes"]
BOOLS = {"true": True, "false": False}
parse_time = dt.datetime.fromisoformat  # Python ≥ 3.11 takes the trailing "Z"


def records(reader):
    for (id_, user_id, name, email, country, amount, quantity, score, is_active, created_at,
         category, notes) in reader:
        yield (int(id_), int(user_id), name or None, email or None, country or None,
               float(amount) if amount else None, int(quantity) if quantity else None,
               float(score) if score else None, BOOLS[is_active] if is_active else None,
               parse_time(created_at) if created_at else None, category or None, notes or None)


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("csv")
    ap.add_argument("url")
    ap.add_argument("table")
    ap.add_argument("--batch", type=int, default=0)
    a = ap.parse_args()
    conn = await asyncpg.connect(a.url)
    try:
        with open(a.csv, newline="", encoding="utf-8") as f:
            reader = csv.reader(f)
            header = next(reader)
            if header != COLUMNS:
                sys.exit(f"unexpected header {header}")
            rows = records(reader)
            n = 0
            async with conn.transaction():
                if a.batch <= 0:
                    status = await conn.copy_records_to_table(a.table, records=rows, columns=COLUMNS)
                    n = int(status.split()[-1])
                else:
                    while batch := list(itertools.islice(rows, a.batch)):
                        await conn.copy_records_to_table(a.table, records=batch, columns=COLUMNS)
                        n += len(batch)
    finally:
        await conn.close()
    print(n)


if __name__ == "__main__":
    asyncio.run(main())
