"""The Celery peer of the scale-out benchmark: one task, `fetch(n)`, that GETs /item/n from the fixture API
(../api.py) and records its result in Redis, configured as a Celery user who wants at-least-once delivery and a
politeness limit would configure it.

Environment (set by run.sh):
    PEER_BROKER     redis://127.0.0.1:PORT/0   the broker (Debian's redis-server, started by run.sh)
    PEER_RESULTS    redis://127.0.0.1:PORT/1   where results are counted: HINCRBY results <n> 1, so an id whose
                                               count is above 1 was written twice ("duplicate results"), separately
                                               from the duplicate *requests* the API server sees
    PEER_API        http://127.0.0.1:PORT      the fixture API
    PEER_RATE_LIMIT 200/s                      the task's rate_limit; empty for none (the scaling runs)
    PEER_VISIBILITY 3600                       broker_transport_options visibility_timeout, in seconds: how long
                                               before an unacknowledged message is given to another worker
    PEER_RESTORE_THROTTLE 10                   broker_transport_options unacked_restore_throttle (kombu's default)
    PEER_PREFETCH   4                          worker_prefetch_multiplier (Celery's default)
    PEER_MAX_CONNECTIONS 100                   broker_transport_options max_connections: the Redis transport's
                                               connection pool per worker. Its default, 10, is too small for 40
                                               greenlets: acks fail with "Couldn't ack …, reason: MaxConnectionsError"
                                               (celery/celery#1350), the message stays unacknowledged, the worker's
                                               prefetch window never reopens and the run stalls until the
                                               visibility timeout hands those messages out again (as duplicates).
                                               Set it to 10 to see that.
"""

import os
import urllib.request

import redis
from celery import Celery

app = Celery("peer", broker=os.environ.get("PEER_BROKER", "redis://127.0.0.1:6379/0"))
app.conf.update(
    # At-least-once: acknowledge after the task ran, and give the message back if the worker dies under it.
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    # Celery's default, 4 messages reserved per slot. The docs suggest 1 with acks_late and long tasks, but with
    # the gevent pool and Redis that starves the worker (measured: 20 req/s instead of 360 for one worker at
    # -c 40): once the prefetch window is full the consumer only fetches again on its next drain timeout.
    worker_prefetch_multiplier=int(os.environ.get("PEER_PREFETCH", "4")),
    # The Redis transport redelivers an unacknowledged message after this (default 1 hour).
    broker_transport_options={
        "visibility_timeout": int(os.environ.get("PEER_VISIBILITY", "3600")),
        "max_connections": int(os.environ.get("PEER_MAX_CONNECTIONS", "100")),
        # How often kombu looks for unacknowledged messages older than the visibility timeout: every Nth empty
        # poll (default 10). Only matters after a worker died holding messages.
        "unacked_restore_throttle": int(os.environ.get("PEER_RESTORE_THROTTLE", "10")),
    },
    task_ignore_result=True,  # results go to the counting hash below, not to a result backend
    worker_hijack_root_logger=False,
    broker_connection_retry_on_startup=True,
)

API = os.environ.get("PEER_API", "http://127.0.0.1:8080")
results = redis.Redis.from_url(os.environ.get("PEER_RESULTS", "redis://127.0.0.1:6379/1"))


# The natural way to say "this API allows 200 requests per second". Celery enforces a task's rate_limit in each
# worker process separately (a token bucket per worker), so N workers send up to N × 200/s.
@app.task(rate_limit=os.environ.get("PEER_RATE_LIMIT", "200/s") or None)
def fetch(n):
    with urllib.request.urlopen(f"{API}/item/{n}", timeout=30) as r:
        body = r.read()
    results.hincrby("results", n, 1)
    return len(body)
