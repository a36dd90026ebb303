"""`npm run crawl:python`: the seed's crawler (crawler.py) with multiprocessing workers, against a
Larder server and the synthetic web of examples/crawler.

It starts the synthetic web (node, examples/crawler-python/web.ts) and, unless --url names a
running one, a Larder server on a temporary folder; then --workers processes of --threads
threads each (the seed's containers, started before the clock does: warm containers), and
runs the seed's `scrape` with this process as the coordinator.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(os.path.abspath(__file__)).parent
ROOT = HERE.parents[1]
try:
    import larder
except ImportError:  # not installed: use the checkout's client
    sys.path.insert(0, str(ROOT / "client" / "python"))
    import larder

sys.path.insert(0, str(HERE))
import crawler  # noqa: E402


def _node() -> str:
    return os.environ.get("LARDER_NODE") or shutil.which("node") or "node"


class Web:
    """The synthetic web in a node process of its own."""

    def __init__(self, pages: int, seed: int, reachable: bool = False):
        args = [_node(), "--import", "tsx", str(HERE / "web.ts"), "--pages", str(pages), "--seed", str(seed)]
        if reachable:
            args.append("--reachable")
        self.process = subprocess.Popen(args, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        first = json.loads(self.process.stdout.readline())
        self.origin = first["origin"]
        self.start_url = self.origin + "/"
        self.reachable = first.get("reachable")
        self.pid = self.process.pid

    def close(self) -> dict:
        """Stops the web; returns its counts: fetches, distinct paths, paths fetched more than once."""
        self.process.stdin.close()
        line = self.process.stdout.readline()
        self.process.wait(30)
        return json.loads(line) if line else {}


class LarderServer:
    """`larder serve` on a temporary folder, in a process of its own."""

    def __init__(self, *flags: str):
        self.folder = tempfile.mkdtemp(prefix="larder-crawl-python-")
        args = [_node(), "--import", "tsx", str(ROOT / "bin" / "larder.ts"), "serve", "--data", self.folder, "--port", "0", *flags]
        env = {k: v for k, v in os.environ.items() if k != "LARDER_TOKEN"}
        self.process = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, env=env, text=True)
        line = self.process.stdout.readline()
        if not line.startswith("listening on "):
            raise RuntimeError(f"larder serve did not start: {line!r}")
        self.url = line.split()[-1]
        self.pid = self.process.pid

    def close(self):
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
        shutil.rmtree(self.folder, ignore_errors=True)


def _children(pid: int) -> list:
    out = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                out += [int(c) for c in f.read().split()]
    except OSError:
        pass
    return out


def cpu_seconds(pid: int, children: bool = True):
    """User plus system CPU seconds of a process and its children (`larder serve` runs the
    server in a child node), from /proc; None where it cannot be read."""
    try:
        total = 0.0
        tree = [pid] + ([c for c in _children(pid)] + [g for c in _children(pid) for g in _children(c)] if children else [])
        for p in tree:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return total
    except (OSError, ValueError, IndexError):
        return None


def _worker(tasks, results, threads: int) -> None:
    """A worker process: runs the spawned calls it receives, each in one of its threads."""
    import concurrent.futures

    futures = []
    with concurrent.futures.ThreadPoolExecutor(threads, thread_name_prefix="container") as executor:
        results.send((os.getpid(), time.process_time()))
        while True:
            task = tasks.recv()
            if task is None:
                break
            function, args = task
            futures.append(executor.submit(function, *args))
    # Every call has finished: its CPU is counted, and what it raised is reported, not lost.
    errors = [f"{type(e).__name__}: {e}" for e in (f.exception() for f in futures) if e is not None]
    results.send((time.process_time(), errors))


class Workers:
    """The seed's containers: ``processes`` worker processes of ``threads`` threads each.

    ``spawn(function, q, d, urls)`` is the seed's ``crawl_pages.spawn(q, d, urls)``: it splits
    the URLs into one share per thread at most (none smaller than ``SHARE_MIN``) and sends
    the shares to the processes in turn; each runs in a thread of its process."""

    SHARE_MIN = 8

    def __init__(self, processes: int, threads: int):
        ctx = multiprocessing.get_context("fork")
        self.threads = threads
        self.dispatched = 0
        self.next = 0
        self.procs, self.tasks, self.results = [], [], []
        for _ in range(processes):
            task_r, task_w = ctx.Pipe(duplex=False)
            result_r, result_w = ctx.Pipe(duplex=False)
            proc = ctx.Process(target=_worker, args=(task_r, result_w, threads), daemon=True)
            proc.start()
            self.procs.append(proc)
            self.tasks.append(task_w)
            self.results.append(result_r)
        started = [r.recv() for r in self.results]
        self.pids = [pid for pid, _ in started]
        self.cpu_started = [cpu for _, cpu in started]

    def __call__(self, function, q, d, urls):
        urls = list(urls)
        if not urls:
            return
        self.dispatched += len(urls)
        shares = max(1, min(len(self.procs) * self.threads, len(urls) // self.SHARE_MIN))
        size = -(-len(urls) // shares)
        for start in range(0, len(urls), size):
            self.tasks[self.next].send((function, (q, d, urls[start:start + size])))
            self.next = (self.next + 1) % len(self.procs)

    def wait(self):
        """Waits for every spawned call to finish; returns the workers' CPU seconds since they
        started and what the calls raised."""
        for tasks in self.tasks:
            tasks.send(None)
        cpu, errors = 0.0, []
        for results, started in zip(self.results, self.cpu_started):
            done, raised = results.recv()
            cpu += done - started
            errors += raised
        for proc in self.procs:
            proc.join(30)
        return cpu, errors


def run(start_url: str, *, url: str, max_urls: int, workers: int, threads: int = 32, verbose: bool = False) -> dict:
    """Runs the crawl; returns what it saw."""
    crawler.verbose = verbose
    client = larder.Client(url)
    pool = Workers(workers, threads)
    me = os.getpid()
    coordinator_before = cpu_seconds(me, children=False)
    visited, elapsed = crawler.scrape(start_url, pool, max_urls=max_urls, client=client)
    workers_cpu, errors = pool.wait()
    coordinator_after = cpu_seconds(me, children=False)
    client.close()
    for error in errors:
        print(f"  a crawl_pages call raised {error}", file=sys.stderr)
    cpu = {"workers": workers_cpu}
    if coordinator_before is not None and coordinator_after is not None:
        cpu = {"coordinator": coordinator_after - coordinator_before, **cpu}
    return {"visited": visited, "elapsed": elapsed, "dispatched": pool.dispatched, "cpu": cpu, "errors": errors}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=160000, help="pages in the synthetic web (default 160000: 203,282 URLs)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the synthetic web")
    parser.add_argument("--max-urls", type=int, default=1_000_000, help="the seed's max_urls")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (one per core)")
    parser.add_argument("--threads", type=int, default=64, help="threads per worker process (the seed's containers)")
    parser.add_argument("--url", help="a running Larder server (default: start one on a temporary folder)")
    parser.add_argument("--check", action="store_true", help="compare the visited set with the graph")
    parser.add_argument("--verbose", action="store_true", help="the seed's per-URL lines")
    args = parser.parse_args(argv)

    web = Web(args.pages, args.seed, reachable=args.check)
    server = None if args.url else LarderServer()
    url = args.url or server.url
    try:
        server_cpu = cpu_seconds(server.pid) if server else None
        web_cpu = cpu_seconds(web.pid)
        report = run(web.start_url, url=url, max_urls=args.max_urls, workers=args.workers, threads=args.threads, verbose=args.verbose)
        cpu = report["cpu"]
        if server is not None and server_cpu is not None:
            cpu["Larder server"] = cpu_seconds(server.pid) - server_cpu
        if web_cpu is not None:
            cpu["web"] = cpu_seconds(web.pid) - web_cpu
        visited = report["visited"]
        print(
            f"  {len(visited) / report['elapsed']:.0f} URLs/s (the seed's 5 s wait for an empty queue included); "
            f"{report['dispatched']} URLs dispatched to {args.workers} worker processes of {args.threads} threads"
        )
        if cpu:
            print("  CPU seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in cpu.items()))
    finally:
        stats = web.close()
        if server is not None:
            server.close()
    print(f"  web: {stats.get('fetches')} requests, {stats.get('paths')} distinct paths, {stats.get('refetched')} fetched more than once")
    if args.check:
        expected = set(web.reachable)
        paths = {u[len(web.origin):] for u in visited}
        print(
            f"  check: {len(expected)} URLs reachable; visited {len(visited)}: {len(paths - expected)} not reachable "
            f"(must be 0), {len(expected - paths)} reachable ones not visited (must be 0 unless max_urls stopped the crawl)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
