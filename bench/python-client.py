"""`npm run bench:python`: the Python client's put/get/put_many/get_many rates beside redis-py's
against Redis with appendfsync always, in the same run, on this machine.

Both sides are durable per acknowledged write: Larder's server in fsync durability on a
temporary folder, Redis with `appendonly yes` and `appendfsync always` on another. Both
carry the same bytes (values encoded by larder.values), so the codec costs the same.
Queue: Larder `put`/`get` of one partition; Redis `RPUSH`/`LPOP` of one list (`LPOP key
count` for get_many). Each case runs for a bounded time and count, with 1 caller, and with
16 threads each with its own calls (Larder: one client, pooled connections, whose calls
from several threads go in batches; Redis: one connection pool). The same Larder client with
`requests_in_flight_max=math.inf` (a request per call) runs beside it, in the same run, as
the baseline of the batching. Prints a markdown table.

redis-py is Debian's python3-redis (`apt-get install -y python3-redis`); without it, or
without redis-server, the Redis columns are empty.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import signal
import statistics
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(os.path.abspath(__file__)).parents[1]
sys.path.insert(0, str(ROOT / "client" / "python"))
import larder  # noqa: E402
from larder.values import decode_value, encode_value  # noqa: E402

try:
    import redis
except ImportError:
    redis = None

VALUE = {"url": "http://127.0.0.1:8080/d12/12345.html", "depth": 3}
ITEMS_PER_MANY = 100
PARTITION_ITEMS = 4000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LarderServer:
    def __init__(self):
        self.folder = tempfile.mkdtemp(prefix="larder-bench-python-")
        node = os.environ.get("LARDER_NODE") or shutil.which("node") or "node"
        self.process = subprocess.Popen(
            [node, "--max-semi-space-size=4", "--import", "tsx", str(ROOT / "bin" / "larder.ts"), "serve", "--data", self.folder, "--port", "0"],
            cwd=ROOT, stdout=subprocess.PIPE, text=True,
        )
        line = self.process.stdout.readline()
        if not line.startswith("listening on "):
            raise RuntimeError(f"larder serve did not start: {line!r}")
        self.url = line.split()[-1]

    def close(self):
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(30)
        shutil.rmtree(self.folder, ignore_errors=True)


class RedisServer:
    def __init__(self):
        self.folder = tempfile.mkdtemp(prefix="larder-bench-redis-")
        self.port = free_port()
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", self.folder, "--appendonly", "yes",
             "--appendfsync", "always", "--save", "", "--daemonize", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port)
        for _ in range(100):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        assert client.config_get("appendfsync")["appendfsync"] == "always"

    def close(self):
        self.process.terminate()
        self.process.wait(30)
        shutil.rmtree(self.folder, ignore_errors=True)


def measure(work, threads: int, seconds: float, limits=None):
    """Items per second of `work(thread) -> items done`, called until `seconds` pass or each
    thread has done its `limits[thread]` items; also returns the items done per thread."""
    done = [0] * threads
    deadline = time.monotonic() + seconds

    def loop(i):
        limit = limits[i] if limits is not None else float("inf")
        while time.monotonic() < deadline and done[i] < limit:
            done[i] += work(i)

    workers = [threading.Thread(target=loop, args=(i,)) for i in range(threads)]
    started = time.monotonic()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return sum(done) / (time.monotonic() - started), done


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=3.0, help="per case")
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3, help="A/B rounds of the Larder cases (medians)")
    args = parser.parse_args()
    encoded = encode_value(VALUE)
    many = [VALUE] * ITEMS_PER_MANY
    many_encoded = [encoded] * ITEMS_PER_MANY

    server = LarderServer()
    redis_server = RedisServer() if redis is not None and shutil.which("redis-server") else None
    if redis_server is None:
        print("no redis-py (apt-get install -y python3-redis) or no redis-server: the Redis columns stay empty", file=sys.stderr)
    rows = []
    try:
        client = larder.Client(server.url)
        # The same client without batches (one request per call): the baseline of the batching.
        unbatched = larder.Client(server.url, requests_in_flight_max=math.inf)
        r = redis.Redis(port=redis_server.port, max_connections=args.threads * 2) if redis_server else None
        for threads in (1, args.threads):
            q = larder.Queue.from_name(f"bench-{threads}", create_if_missing=True, client=client)
            key = f"bench-{threads}"
            # Each thread its own partitions, a new one every PARTITION_ITEMS items, so that no
            # put waits for room (a partition holds 5,000) and no get waits for an item.
            puts = [0] * threads
            gets = [0] * threads

            def partition(i, n):
                return f"p{i}.{n // PARTITION_ITEMS}"

            def larder_ops(q):
                def l_put(i):
                    q.put(VALUE, partition=partition(i, puts[i]))
                    puts[i] += 1
                    return 1

                def l_get(i):
                    q.get(partition=partition(i, gets[i]))
                    gets[i] += 1
                    return 1

                def l_put_many(i):
                    q.put_many(many, partition=partition(i, puts[i]))
                    puts[i] += ITEMS_PER_MANY
                    return ITEMS_PER_MANY

                def l_get_many(i):
                    got = len(q.get_many(ITEMS_PER_MANY, partition=partition(i, gets[i])))
                    gets[i] += got
                    return got

                return (l_put, l_get), (l_put_many, l_get_many)

            def r_put(i):
                r.rpush(f"{key}:{i}", encode_value(VALUE))
                return 1

            def r_get(i):
                decode_value(r.lpop(f"{key}:{i}"))
                return 1

            def r_put_many(i):
                r.rpush(f"{key}:{i}", *[encode_value(v) for v in many])
                return ITEMS_PER_MANY

            def r_get_many(i):
                return len([decode_value(v) for v in r.lpop(f"{key}:{i}", ITEMS_PER_MANY)])

            # put, then get what put wrote (each thread its own items, so no get waits);
            # put_many, then get_many what it wrote.
            batched = larder_ops(q)
            one_by_one = larder_ops(larder.Queue.from_name(f"bench-{threads}", client=unbatched))
            for k, (put_op, get_op, rp, rg) in enumerate((
                ("put", "get", r_put, r_get),
                ("put_many(100)", "get_many(100)", r_put_many, r_get_many),
            )):
                # A/B in alternating order, `--rounds` times, medians: the disk's fsyncs are
                # shared with the machine's other work, so one measurement each is noise.
                samples = {key: [] for key in ("batched put", "batched get", "alone put", "alone get")}
                for round_ in range(args.rounds):
                    order = (("batched", batched[k]), ("alone", one_by_one[k]))
                    for label, (lp, lg) in order if round_ % 2 == 0 else order[::-1]:
                        rate, done = measure(lp, threads, args.seconds)
                        samples[label + " put"].append(rate)
                        samples[label + " get"].append(measure(lg, threads, args.seconds, done)[0])
                        q.clear(all=True)
                        puts[:] = [0] * threads
                        gets[:] = [0] * threads
                rates = {key: statistics.median(values) for key, values in samples.items()}
                redis_put, redis_done = measure(rp, threads, args.seconds) if r else (None, None)
                redis_get, _ = measure(rg, threads, args.seconds, redis_done) if r else (None, None)
                rows.append((put_op, threads, rates["batched put"], rates["alone put"], redis_put))
                rows.append((get_op, threads, rates["batched get"], rates["alone get"], redis_get))
                print(f"  x{threads} {put_op}/{get_op}: {rates} redis {redis_put or 0:,.0f}/s {redis_get or 0:,.0f}/s", file=sys.stderr, flush=True)
            if r:
                r.delete(*[f"{key}:{i}" for i in range(threads)])
        client.close()
        unbatched.close()
    finally:
        server.close()
        if redis_server:
            redis_server.close()

    print(f"Python client (larder, /usr/bin/python3 {sys.version.split()[0]}) vs redis-py {redis.__version__ if redis else '-'}; "
          f"items/s, {args.seconds:g} s per case, Larder: medians of {args.rounds} A/B rounds; value {len(encoded)} bytes")
    print()
    print("| operation | callers | Larder (fsync) | Larder, a request per call | batched / per call | Redis (appendfsync always) | Larder / Redis |")
    print("|---|---|---|---|---|---|---|")
    for op, threads, lr, la, rr in rows:
        redis_cells = f"{rr:,.0f} | {lr / rr:.2f}x" if rr else "- | -"
        print(f"| {op} | {threads} | {lr:,.0f} | {la:,.0f} | {lr / la:.2f}x | {redis_cells} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
