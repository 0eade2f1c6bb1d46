#!/usr/bin/env python3
"""The scale-out benchmark's fixture API: `GET /item/N` answers `{"id": N, ...}` after a fixed latency, and the
server itself records when every request arrived, so the fleet's rate is measured where it matters (at the server),
not as the clients believe it to be.

    python api.py [--host 127.0.0.1] [--port 0] [--latency 0.1]

With --port 0 the chosen port is printed alone on the first line of stdout (then nothing else), so a script can
read it. Endpoints:

    GET  /item/N   the item, after --latency seconds (the latency overlaps: requests are not serialised)
    GET  /stats    JSON: requests, distinct ids, duplicate_ids (ids requested more than once) and duplicate_requests
                   (requests beyond the first per id), max_1s_window (the most arrivals in any sliding 1 s window,
                   [t, t+1)), max_1s_aligned (the most in any wall-clock second), mean_rate ((requests-1) / (last -
                   first arrival)), first/last arrival, by_client (requests per peer address: per "host" in the
                   network-namespace runs), and cpu_s / cpu_share (this server's own CPU time, and that divided by
                   the span of arrivals: how close the fixture is to being the bottleneck)
    POST /reset    forget everything recorded

Needs aiohttp (in the bench venvs). One event loop on one core: at 100 ms latency it serves well over a thousand
requests per second, several times the benchmark's rates (check cpu_share in /stats).
"""

import argparse
import asyncio
import collections
import json
import math
import resource
import sys
import time

from aiohttp import web


class Recorder:
    def __init__(self):
        self.reset()

    def reset(self):
        # Arrival times on the monotonic clock (for intervals), plus one wall-clock anchor to place them in
        # calendar seconds for the aligned count. Appended in arrival order, so the list stays sorted.
        self.arrivals = []
        self.per_id = collections.Counter()
        self.by_client = collections.Counter()
        self.mono0 = time.monotonic()
        self.wall0 = time.time()
        self.cpu0 = self._cpu()

    @staticmethod
    def _cpu():
        r = resource.getrusage(resource.RUSAGE_SELF)
        return r.ru_utime + r.ru_stime

    def record(self, n, peer):
        self.arrivals.append(time.monotonic())
        self.per_id[n] += 1
        self.by_client[peer or "?"] += 1

    def stats(self):
        a = self.arrivals
        total = len(a)
        # Sliding window: the busiest 1 s interval [t, t+1) always starts at some arrival, so for each arrival
        # count the arrivals before t+1 (two pointers over the sorted list: O(n)).
        max_sliding, j = 0, 0
        for i, t in enumerate(a):
            while j < total and a[j] < t + 1.0:
                j += 1
            max_sliding = max(max_sliding, j - i)
        aligned = collections.Counter(math.floor(self.wall0 + (t - self.mono0)) for t in a)
        span = (a[-1] - a[0]) if total >= 2 else 0.0
        dup_ids = sum(1 for c in self.per_id.values() if c > 1)
        dup_requests = sum(c - 1 for c in self.per_id.values() if c > 1)
        cpu = self._cpu() - self.cpu0
        return {
            "requests": total,
            "distinct_ids": len(self.per_id),
            "duplicate_ids": dup_ids,
            "duplicate_requests": dup_requests,
            "max_1s_window": max_sliding,
            "max_1s_aligned": max(aligned.values()) if aligned else 0,
            "mean_rate": round((total - 1) / span, 2) if span > 0 else None,
            "span_s": round(span, 3),
            "first_arrival": round(self.wall0 + (a[0] - self.mono0), 3) if total else None,
            "last_arrival": round(self.wall0 + (a[-1] - self.mono0), 3) if total else None,
            "by_client": dict(self.by_client),
            "cpu_s": round(cpu, 3),
            "cpu_share": round(cpu / span, 3) if span > 0 else None,
        }

    def rate_timeline(self):
        """Arrivals per wall-clock second, for plotting or eyeballing a run."""
        c = collections.Counter(math.floor(self.wall0 + (t - self.mono0)) for t in self.arrivals)
        return [[s, c[s]] for s in sorted(c)]


def make_app(latency):
    rec = Recorder()
    pad = "x" * 64  # a small body, like a real API item

    async def item(request):
        try:
            n = int(request.match_info["n"])
        except ValueError:
            return web.json_response({"error": "id must be an integer"}, status=404)
        rec.record(n, request.remote)  # on arrival, before the latency: that is what a rate limit is about
        await asyncio.sleep(latency)
        return web.Response(text=json.dumps({"id": n, "name": f"item {n}", "pad": pad}),
                            content_type="application/json")

    async def stats(request):
        body = rec.stats()
        if request.query.get("timeline"):
            body["timeline"] = rec.rate_timeline()
        return web.json_response(body)

    async def reset(request):
        rec.reset()
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_get("/item/{n}", item)
    app.router.add_get("/stats", stats)
    app.router.add_post("/reset", reset)
    return app


async def serve(host, port, latency):
    runner = web.AppRunner(make_app(latency), access_log=None)
    await runner.setup()
    # A deep backlog: the Celery peer opens a new connection per request, several hundred per second.
    site = web.TCPSite(runner, host, port, backlog=1024)
    await site.start()
    bound = site._server.sockets[0].getsockname()[1]
    print(bound, flush=True)
    await asyncio.Event().wait()  # until SIGTERM/SIGINT


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--latency", type=float, default=0.1, help="seconds before each item is answered (0.1)")
    args = p.parse_args()
    try:
        asyncio.run(serve(args.host, args.port, args.latency))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
