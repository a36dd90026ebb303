"""The contract's atomicity and delivery guarantees among concurrent processes: each process
is a separate Python interpreter with its own connections (multiprocessing), as Modal's
containers are. Handles travel to the workers by pickling."""

import multiprocessing
import queue

import larder

PROCESSES = 6


def _race_put(args):
    d, key, me = args
    return d.put(key, me, skip_if_exists=True)


def _race_pop(args):
    d, key = args
    return d.pop(key, None)


def _consume(q, n_seen):
    got = []
    while True:
        try:
            got.extend(q.get_many(50, timeout=1.5))
        except queue.Empty:
            return got


def _produce(args):
    q, producer, count = args
    for start in range(0, count, 25):
        q.put_many([(producer, i) for i in range(start, min(start + 25, count))])
    return count


def test_skip_if_exists_has_exactly_one_winner_among_processes(client, name):
    d = larder.Dict.from_name(name, create_if_missing=True, client=client)
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(PROCESSES) as pool:
        for round_ in range(5):
            key = f"lock-{round_}"
            results = pool.map(_race_put, [(d, key, me) for me in range(PROCESSES * 2)])
            assert results.count(True) == 1, results
            assert d[key] == results.index(True)


def test_pop_has_exactly_one_winner_among_processes(client, name):
    d = larder.Dict.from_name(name, create_if_missing=True, client=client)
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(PROCESSES) as pool:
        for round_ in range(5):
            d["prize"] = round_
            results = pool.map(_race_pop, [(d, "prize")] * (PROCESSES * 2))
            assert [r for r in results if r is not None] == [round_]


def test_every_item_is_delivered_exactly_once_in_fifo_order(client, name):
    q = larder.Queue.from_name(name, create_if_missing=True, client=client)
    ctx = multiprocessing.get_context("fork")
    producers, per_producer = 3, 400
    with ctx.Pool(PROCESSES) as pool:
        consumers = [pool.apply_async(_consume, (q, None)) for _ in range(PROCESSES - producers)]
        produced = pool.map(_produce, [(q, p, per_producer) for p in range(producers)])
        got = [item for c in consumers for item in c.get(60)]
    assert produced == [per_producer] * producers
    # Never twice, never lost.
    assert sorted(map(tuple, got)) == [(p, i) for p in range(producers) for i in range(per_producer)]
    assert q.len() == 0
    # FIFO per producer: each consumer saw each producer's items in put order.
    for c in consumers:
        seen = {}
        for producer, i in map(tuple, c.get()):
            assert i > seen.get(producer, -1)
            seen[producer] = i
