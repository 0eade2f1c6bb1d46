#!/usr/bin/env python3
"""Parse (minify, and serialize) the same documents as jsonbench with CPython's json and orjson.

    python3 bench.py PATH [--passes N]

PATH is a folder of *.json files or a JSON Lines file. Documents are read into memory as bytes,
then each pass parses every document once on one thread; the best pass is reported.
"""
import argparse
import json
import os
import time


def load(path):
    if os.path.isdir(path):
        names = sorted(n for n in os.listdir(path) if n.endswith(".json"))
        docs = []
        for name in names:
            with open(os.path.join(path, name), "rb") as f:
                docs.append(f.read())
        return docs
    with open(path, "rb") as f:
        return [line for line in f.read().split(b"\n") if line.strip()]


def best_of(passes, fn, items):
    best = float("inf")
    out = 0
    for _ in range(passes):
        start = time.perf_counter()
        out = 0
        for item in items:
            r = fn(item)
            out += len(r) if isinstance(r, (bytes, str)) else 0
        best = min(best, time.perf_counter() - start)
    return best, out


def report(name, nbytes, ndocs, seconds):
    print(f"{name}: {nbytes / seconds / 1e6:.0f} MB/s  {ndocs / seconds:.0f} docs/s  (best pass {seconds * 1000:.0f} ms)")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("path")
    parser.add_argument("--passes", type=int, default=5)
    parser.add_argument("--write", action="store_true", help="also time serialization (compact)")
    args = parser.parse_args()

    docs = load(args.path)
    total = sum(map(len, docs))
    print(f"documents: {len(docs)}, bytes: {total}, passes: {args.passes}")

    parsers = [("python json.loads", json.loads)]
    try:
        import orjson
        parsers.append((f"python orjson {orjson.__version__} loads", orjson.loads))
    except ImportError:
        print("orjson: not installed (pip install orjson)")

    for name, fn in parsers:
        seconds, _ = best_of(args.passes, fn, docs)
        report(name, total, len(docs), seconds)

    # The Python way to validate and minify (jsonbench's `minify`): parse, then dump compactly.
    def minify(doc):
        return json.dumps(json.loads(doc), ensure_ascii=False, separators=(",", ":"))

    seconds, _ = best_of(args.passes, minify, docs)
    report("python json.loads+dumps (minify)", total, len(docs), seconds)

    if args.write:
        values = [json.loads(d) for d in docs]
        writers = [("python json.dumps (compact)", lambda v: json.dumps(v, ensure_ascii=False, separators=(",", ":")))]
        if len(parsers) > 1:
            import orjson
            writers.append(("python orjson dumps", orjson.dumps))
        for name, fn in writers:
            seconds, written = best_of(args.passes, fn, values)
            report(f"{name} ({written} chars out)", written, len(docs), seconds)


if __name__ == "__main__":
    main()
