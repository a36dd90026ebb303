"""Batching (docs/protocol.md, "Batches"): calls that threads make while the client's requests
in flight are at their bound go together as one ``/v1/batch`` request; each gets its own
answer, as if sent alone. Counted through a proxy that sees every request."""

from __future__ import annotations

import contextlib
import math
import queue
import threading

import pytest
from test_request_ids import CuttingProxy

import larder

THREADS = 32


@pytest.fixture
def counting(server):
    proxy = CuttingProxy(server.url, "/v1/none", cuts=0)
    yield proxy
    proxy.close()


def _in_threads(work, threads: int = THREADS):
    errors = []
    barrier = threading.Barrier(threads)

    def run(i):
        try:
            barrier.wait()
            work(i)
        except Exception as err:  # noqa: BLE001 - reported below
            errors.append(err)

    ts = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert errors == []


def test_threads_calls_go_in_batches_each_with_its_own_answer(server, client, counting):
    with larder.Queue.ephemeral(client=client) as q, larder.Dict.ephemeral(client=client) as d:
        d["present"] = 1
        answers = {}
        with larder.Client(counting.url, token=server.token) as c:
            qh, dh = larder.Queue.from_id(q.object_id, client=c), larder.Dict.from_id(d.object_id, client=c)

            def work(i):
                for j in range(20):
                    qh.put_many([(i, j, 0), (i, j, 1)])
                    answers[(i, j)] = ("present" in dh, f"absent-{i}" in dh, dh.get("present"))

            _in_threads(work)
        assert set(answers.values()) == {(True, False, 1)}
        batches = counting.requests("/v1/batch")
        assert batches, "no batch was sent"
        calls = sum(len(b["calls"]) for b in batches) + len(counting.seen) - len(batches)
        assert len(counting.seen) < calls / 2  # many calls per request
        items = q.get_many(10_000, timeout=0)
        assert sorted(items) == sorted([i, j, k] for i in range(THREADS) for j in range(20) for k in range(2))
        # Each thread's items in the order it put them.
        for i in range(THREADS):
            assert [x for x in items if x[0] == i] == sorted(x for x in items if x[0] == i)


def test_the_same_read_goes_once_in_a_batch(server, client, counting):
    with larder.Dict.ephemeral(client=client) as d:
        with larder.Client(counting.url, token=server.token) as c:
            dh = larder.Dict.from_id(d.object_id, client=c)
            _in_threads(lambda i: [("stop" in dh) for _ in range(20)])
        for batch in counting.requests("/v1/batch"):
            bodies = [str(sorted(envelope.items())) for _, envelope in batch["calls"]]
            assert len(bodies) == len(set(bodies))
        asked = sum(1 for p, _ in counting.seen if p.endswith("/v1/dict/contains"))
        asked += sum(len(b["calls"]) for b in counting.requests("/v1/batch"))
        assert asked < THREADS * 20


def test_no_batches_with_requests_in_flight_unbounded(server, client, counting):
    with larder.Dict.ephemeral(client=client) as d:
        with larder.Client(counting.url, token=server.token, requests_in_flight_max=math.inf) as c:
            dh = larder.Dict.from_id(d.object_id, client=c)
            _in_threads(lambda i: [dh.put((i, j), j) for j in range(10)])
        assert counting.requests("/v1/batch") == []
        assert len(counting.requests("/v1/dict/put")) == THREADS * 10
        assert d.len() == THREADS * 10


@contextlib.contextmanager
def _queue_through(proxy, server, client):
    """An ephemeral queue, and a handle to it through ``proxy`` on a client of its own that
    keeps one request in flight (so that the other threads' calls go in batches); closes the proxy."""
    try:
        with larder.Queue.ephemeral(client=client) as q:
            with larder.Client(proxy.url, token=server.token, requests_in_flight_max=1) as c:
                yield q, larder.Queue.from_id(q.object_id, client=c), proxy
    finally:
        proxy.close()


def test_a_batch_cut_after_the_server_ran_it_duplicates_nothing(server, client):
    with _queue_through(CuttingProxy(server.url, "/v1/batch", cuts=1), server, client) as (q, qh, proxy):
        _in_threads(lambda i: [qh.put(i * 100 + j) for j in range(10)])
        cut = proxy.requests("/v1/batch")
        assert cut, "no batch was sent"
        # The puts of the cut batch were merged (one call for several threads' puts),
        # so what went again is that merged call, under its own id, not its parts.
        assert any(len(e["values"]) > 1 for _, e in cut[0]["calls"])
        retried = {e["requestId"] for e in proxy.requests("/v1/queue/put") if e.get("retry")}
        assert {e["requestId"] for _, e in cut[0]["calls"]} <= retried
        items = q.get_many(10_000, timeout=0)
        assert sorted(items) == [i * 100 + j for i in range(THREADS) for j in range(10)]


def _puts_sent(proxy) -> list:
    """The queue/put envelopes that reached the server, alone or in batches."""
    calls = [e for p, e in proxy.seen if p.endswith("/v1/queue/put")]
    for batch in proxy.requests("/v1/batch"):
        calls += [e for p, e in batch["calls"] if p.endswith("/v1/queue/put")]
    return calls


def test_puts_of_one_partition_in_a_batch_go_as_one_call(server, client, counting):
    with larder.Queue.ephemeral(client=client) as q:
        with larder.Client(counting.url, token=server.token, requests_in_flight_max=1) as c:
            qh = larder.Queue.from_id(q.object_id, client=c)

            def work(i):
                for j in range(20):
                    qh.put_many([(i, j, 0), (i, j, 1)], partition=f"p{i % 2}")

            _in_threads(work)
        sent = _puts_sent(counting)
        # Fewer calls than puts: the puts made at the same time of a partition went as one call
        # (each call carrying one partition's values only).
        assert len(sent) < THREADS * 20 / 2
        assert sum(len(e["values"]) for e in sent) == THREADS * 20 * 2
        assert {len(e["values"]) % 2 for e in sent} == {0}
        for p in (0, 1):
            items = q.get_many(10_000, timeout=0, partition=f"p{p}")
            assert sorted(items) == sorted([i, j, k] for i in range(p, THREADS, 2) for j in range(20) for k in range(2))
            # Each thread's items in the order it put them, and each put's two side by side.
            for i in range(p, THREADS, 2):
                assert [x for x in items if x[0] == i] == sorted(x for x in items if x[0] == i)
            for a in range(0, len(items), 2):
                assert items[a][:2] == items[a + 1][:2] and [items[a][2], items[a + 1][2]] == [0, 1]


def test_a_merged_put_refused_goes_again_as_its_parts(limited_server, limited):
    # A partition holds 10 items: a merged put of more is refused, and its parts, each of 2,
    # go again one by one, so exactly 5 of them find room, whatever was merged.
    with _queue_through(CuttingProxy(limited_server.url, "/v1/none", cuts=0), limited_server, limited) as (q, qh, proxy):
        for _ in range(20):
            done = []

            def work(i):
                try:
                    qh.put_many([i, i], block=False)
                    done.append(i)
                except queue.Full:
                    pass

            _in_threads(work, 8)
            assert len(done) == 5
            assert sorted(q.get_many(100, timeout=0)) == sorted(i for i in done for _ in range(2))
            if any(len(e["values"]) > 10 for e in _puts_sent(proxy)):
                break  # a merged put over the limit was sent (and refused)
        else:
            pytest.fail("no merged put of more than 10 values was sent in 20 rounds")
