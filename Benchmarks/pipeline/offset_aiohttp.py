"""The peer: Python asyncio + aiohttp doing what bench-offset does (first page for the total, the rest with at
most 16 in flight, rows into SQLite with executemany). Usage: offset_aiohttp.py BASE_URL PAGE_SIZE DB"""
import asyncio, json, sqlite3, sys

import aiohttp


async def main(base, size, path):
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE IF NOT EXISTS items (id INTEGER PRIMARY KEY, name TEXT, category TEXT, price REAL, "
               "in_stock INTEGER, tags TEXT, w INTEGER, h INTEGER, updated_at TEXT)")
    sem = asyncio.Semaphore(16)

    async def page(session, offset):
        async with sem:
            for attempt in range(5):
                async with session.get(f"{base}/offset/items", params={"offset": offset, "limit": size}) as r:
                    if r.status == 503:
                        await asyncio.sleep(0.05 * 2 ** attempt)
                        continue
                    return await r.json()

    def write(body):
        db.executemany("INSERT OR REPLACE INTO items VALUES (?,?,?,?,?,?,?,?,?)", [
            (i["id"], i["name"], i["category"], i["price"], i["in_stock"], json.dumps(i["tags"]),
             i["dimensions"]["w"], i["dimensions"]["h"], i["updated_at"]) for i in body["items"]])
        db.commit()

    async with aiohttp.ClientSession() as session:
        first = await page(session, 0)
        write(first)
        offsets = range(size, first["total"], size)
        for body in asyncio.as_completed([page(session, o) for o in offsets]):
            write(await body)
    print(db.execute("SELECT count(*) FROM items").fetchone()[0])


asyncio.run(main(sys.argv[1], int(sys.argv[2]), sys.argv[3]))
