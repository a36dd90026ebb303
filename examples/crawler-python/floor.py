"""`npm run crawl:python:floor`: the floor of the Python crawler on this machine, the seed's
program (crawler.py, unchanged) with Larder replaced by an in-process stand-in that costs
next to nothing (a deque and a set behind one lock), so that what is left is the crawl's own
work: the web's (node), fetching and parsing pages, the seed's coordinator, thread switches.

Every spawned call runs in a thread of this one process (the stand-in cannot be shared
between processes at no cost), so the Python work has one core and the web the other. It
prints the seed's line, the CPU seconds of this process and of the web, and the bound that
two cores give the same program at best: (CPU of Python + CPU of the web) / 2 plus the
seed's 5 s wait for an empty queue, which no store can remove.
"""

from __future__ import annotations

import argparse
import collections
import concurrent.futures
import os
import queue
import sys
import threading
import time
import types
from pathlib import Path

HERE = Path(os.path.abspath(__file__)).parent
sys.path.insert(0, str(HERE))
import main  # noqa: E402  (it finds larder, installed or the checkout's)
import crawler  # noqa: E402


class StandInQueue:
    """``put``, ``put_many`` and ``get_many`` of one partition, in memory."""

    def __init__(self):
        self._items = collections.deque()
        self._ready = threading.Condition(threading.Lock())

    def put(self, v, block=True, timeout=None, **_):
        self.put_many([v])

    def put_many(self, vs, block=True, timeout=None, **_):
        with self._ready:
            self._items.extend(vs)
            self._ready.notify()

    def get_many(self, n_values, block=True, timeout=None, **_):
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._ready:
            while not self._items:
                left = None if deadline is None else deadline - time.monotonic()
                if not block or (left is not None and left <= 0):
                    raise queue.Empty()
                self._ready.wait(left)
            items = self._items
            return [items.popleft() for _ in range(min(n_values, len(items)))]


class StandInDict(dict):
    """``"stop" in d`` and ``d["stop"] = True``: a dict."""


class _Ephemeral:
    def __init__(self, make):
        self.make = make

    def __enter__(self):
        return self.make()

    def __exit__(self, *exc):
        return None


#: What crawler.py calls of ``larder``: ``Dict.ephemeral(client=)`` and ``Queue.ephemeral(client=)``.
stand_in = types.SimpleNamespace(
    Dict=types.SimpleNamespace(ephemeral=lambda client=None: _Ephemeral(StandInDict)),
    Queue=types.SimpleNamespace(ephemeral=lambda client=None: _Ephemeral(StandInQueue)),
)


class Threads:
    """``spawn`` as main.Workers splits the URLs (one share per thread, none under 8), in threads of this process."""

    def __init__(self, threads: int):
        self.threads = threads
        self.executor = concurrent.futures.ThreadPoolExecutor(threads, thread_name_prefix="container")
        self.futures = []
        self.dispatched = 0

    def __call__(self, function, q, d, urls):
        urls = list(urls)
        if not urls:
            return
        self.dispatched += len(urls)
        shares = max(1, min(self.threads, len(urls) // main.Workers.SHARE_MIN))
        size = -(-len(urls) // shares)
        for start in range(0, len(urls), size):
            self.futures.append(self.executor.submit(function, q, d, urls[start : start + size]))

    def wait(self):
        self.executor.shutdown(wait=True)
        return [f"{type(e).__name__}: {e}" for e in (f.exception() for f in self.futures) if e is not None]


def run(start_url: str, *, max_urls: int, threads: int) -> dict:
    """The seed's scrape on the stand-in; returns what it saw, with this process's CPU seconds."""
    real = crawler.larder
    crawler.larder = stand_in
    try:
        pool = Threads(threads)
        cpu_before = time.process_time()
        visited, elapsed = crawler.scrape(start_url, pool, max_urls=max_urls)
        errors = pool.wait()
        cpu = time.process_time() - cpu_before
    finally:
        crawler.larder = real
    return {"visited": visited, "elapsed": elapsed, "dispatched": pool.dispatched, "cpu": cpu, "errors": errors}


def main_(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=160000, help="pages in the synthetic web (default 160000: 203,282 URLs)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--max-urls", type=int, default=1_000_000)
    parser.add_argument("--threads", type=int, default=64, help="threads (the seed's containers; the crawl's 2 x 32)")
    args = parser.parse_args(argv)
    web = main.Web(args.pages, args.seed)
    try:
        web_cpu = main.cpu_seconds(web.pid)
        report = run(web.start_url, max_urls=args.max_urls, threads=args.threads)
        web_cpu = main.cpu_seconds(web.pid) - web_cpu
    finally:
        stats = web.close()
    for error in report["errors"]:
        print(f"  a crawl_pages call raised {error}", file=sys.stderr)
    busy = report["elapsed"] - 5  # the seed's get_many(2000, timeout=5) that ends the crawl
    print(f"  CPU seconds: crawler (one process, {args.threads} threads) {report['cpu']:.1f}, web {web_cpu:.1f}")
    print(
        f"  on two whole cores at best: ({report['cpu']:.1f} + {web_cpu:.1f}) / 2 + 5 s wait = "
        f"{(report['cpu'] + web_cpu) / 2 + 5:.1f} s; this run's crawl without the wait: {busy:.1f} s"
    )
    print(f"  web: {stats.get('fetches')} requests, {stats.get('paths')} distinct paths, {stats.get('refetched')} fetched more than once")
    return 0


if __name__ == "__main__":
    sys.exit(main_())
