"""Loads the sensor feed into a Redis stream for the Redis variant of Benchmarks/stream/run.sh: reads N events
from the SSE generator (the same events every contender of the SSE variant gets) on stdin, and writes the Redis
protocol for `XADD readings * data JSON` on stdout, for `redis-cli --pipe`.

    curl -sN URL | python3 load_redis.py N | redis-cli -u REDIS_URL --pipe
"""
import sys


def command(*parts):
    out = [b"*%d\r\n" % len(parts)]
    for part in parts:
        out.append(b"$%d\r\n%s\r\n" % (len(part), part))
    return b"".join(out)


def main(count):
    out = sys.stdout.buffer
    seen = 0
    for line in sys.stdin.buffer:
        if line.startswith(b"data:"):
            data = line[5:].strip()
            out.write(command(b"XADD", b"readings", b"*", b"data", data))
            seen += 1
            if seen >= count:
                break
    out.flush()
    if seen < count:
        sys.exit(f"load_redis.py: the feed ended after {seen} of {count} events")


if __name__ == "__main__":
    main(int(sys.argv[1]))
