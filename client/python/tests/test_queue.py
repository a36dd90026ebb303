"""larder.Queue against a real server: Modal's modal.Queue API and the contract's cases
that make sense in Python (FIFO, partitions, timeouts, blocking, limits)."""

import asyncio
import queue
import threading
import time
import warnings

import pytest

import larder


def test_fifo_and_get_many(client, name):
    q = larder.Queue.from_name(name, create_if_missing=True, client=client)
    q.put("some value")
    q.put(123)
    assert q.get() == "some value"
    assert q.get() == 123
    q.put_many(list(range(10)))
    assert q.len() == 10
    assert q.get_many(4) == [0, 1, 2, 3]
    assert q.get_many(100, timeout=1) == [4, 5, 6, 7, 8, 9]  # never waits to fill n
    with pytest.raises(larder.InvalidError):
        q.get_many(0)


def test_partitions(client, name):
    q = larder.Queue.from_name(name, create_if_missing=True, client=client)
    q.put(0)
    q.put(1, partition="foo")
    q.put(2, partition="bar")
    assert q.get(partition="bar") == 2
    assert q.len() == 1 and q.len(partition="foo") == 1 and q.len(total=True) == 2
    q.put(1)
    assert list(q.iterate()) == [0, 1]  # read without removing
    assert q.len() == 2
    q.clear()
    assert q.len() == 0 and q.len(partition="foo") == 1
    q.clear(all=True)
    assert q.len(total=True) == 0
    with pytest.raises(larder.InvalidError):
        q.len(partition="foo", total=True)
    with pytest.raises(larder.InvalidError):
        q.clear(partition="foo", all=True)
    with pytest.raises(larder.InvalidError):
        q.put(1, partition="")  # "" is not the default partition, as in Modal's Python SDK
    with pytest.raises(larder.InvalidError):
        q.put(1, partition="x" * 65)


def test_timeouts(client, name):
    q = larder.Queue.from_name(name, create_if_missing=True, client=client)
    with pytest.raises(queue.Empty):
        q.get(timeout=0)
    started = time.monotonic()
    with pytest.raises(queue.Empty) as caught:
        q.get(timeout=0.5)
    assert time.monotonic() - started >= 0.45  # it did wait
    assert isinstance(caught.value, larder.QueueEmptyError) and caught.value.code == "QUEUE_EMPTY"
    with pytest.raises(queue.Empty):
        q.get_many(5, timeout=0.2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert q.get(block=False) is None
        assert q.get_many(3, block=False) == []
        with pytest.raises(UserWarning):
            q.get(block=False, timeout=1)
    for bad in (-1, float("nan"), float("inf"), "1"):
        with pytest.raises(larder.InvalidError):
            q.get(timeout=bad)


def test_a_blocked_get_is_woken_by_a_put(client, server, name):
    q = larder.Queue.from_name(name, create_if_missing=True, client=client)
    got = []
    getter = threading.Thread(target=lambda: got.append(q.get(timeout=30)))
    getter.start()
    time.sleep(0.3)
    with server.client() as other:
        larder.Queue.from_name(name, client=other).put("wake")
    getter.join(30)
    assert got == ["wake"]


def test_blocked_getters_are_served_in_arrival_order(client, name):
    q = larder.Queue.from_name(name, create_if_missing=True, client=client)
    got = {}
    threads = []
    for i in range(3):
        t = threading.Thread(target=lambda i=i: got.__setitem__(i, q.get(timeout=30)))
        t.start()
        threads.append(t)
        time.sleep(0.3)  # so that they arrive in order
    q.put_many(["first", "second", "third"])
    for t in threads:
        t.join(30)
    assert got == {0: "first", 1: "second", 2: "third"}


def test_iterate_with_item_poll_timeout_sees_items_put_meanwhile(client, name):
    q = larder.Queue.from_name(name, create_if_missing=True, client=client)
    q.put_many([1, 2, 3])

    def producer():
        for i in range(4, 8):
            time.sleep(0.05)
            q.put(i)

    t = threading.Thread(target=producer)
    t.start()
    assert list(q.iterate(item_poll_timeout=1.0)) == [1, 2, 3, 4, 5, 6, 7]
    t.join()
    assert list(q.iterate(item_poll_timeout=0.0)) == [1, 2, 3, 4, 5, 6, 7]  # nothing was consumed


def test_partition_ttl_expires_a_partition(client, name):
    q = larder.Queue.from_name(name, create_if_missing=True, client=client)
    q.put("gone soon", partition="short", partition_ttl=0.3)
    q.put("stays", partition="long", partition_ttl=3600)
    time.sleep(0.6)
    assert q.get(block=False, partition="short") is None
    assert q.get(block=False, partition="long") == "stays"
    with pytest.raises(larder.InvalidError):
        q.put(1, partition_ttl=0)


def test_full_partition(limited, name):
    q = larder.Queue.from_name(name, create_if_missing=True, client=limited)
    q.put_many(list(range(10)))  # queuePartitionItemsMax = 10
    with pytest.raises(queue.Full) as caught:
        q.put(10, block=False)
    assert isinstance(caught.value, larder.QueueFullError) and "10" in str(caught.value)
    started = time.monotonic()
    with pytest.raises(queue.Full):
        q.put(10, timeout=0.3)
    assert time.monotonic() - started >= 0.25
    with pytest.raises(larder.RequestSizeError):
        q.put_many(list(range(11)), partition="other")  # more than a partition can ever hold
    # A blocked put gets in when a get makes room.
    done = []
    putter = threading.Thread(target=lambda: done.append(q.put("late", timeout=30)))
    putter.start()
    time.sleep(0.3)
    assert q.get() == 0
    putter.join(30)
    assert done == [None]
    assert q.get_many(20) == list(range(1, 10)) + ["late"]


def test_limits_and_their_error_classes(limited, name):
    q = larder.Queue.from_name(name, create_if_missing=True, client=limited)
    with pytest.raises(larder.RequestSizeError) as caught:
        q.put("x" * 2000)  # queueItemBytesMax = 1024
    assert caught.value.code == "TOO_LARGE"
    for i in range(4):  # queuePartitionsMax = 4, the default partition among them
        q.put(i, partition=f"p{i}")
    with pytest.raises(larder.ResourceExhaustedError):
        q.put(5, partition="p5")
    assert q.len(total=True) == 4
    d = larder.Dict.from_name(name, create_if_missing=True, client=limited)
    with pytest.raises(larder.RequestSizeError):
        d["big"] = b"x" * 3000  # dictValueBytesMax = 2048
    with pytest.raises(larder.RequestSizeError):
        d["k" * 100] = 1  # dictKeyBytesMax = 64
    with pytest.raises(larder.RequestSizeError):
        d.update({i: i for i in range(21)})  # dictUpdateEntriesMax = 20
    assert d.len() == 0  # nothing of a refused call was written


def test_queue_aio_variants(client, name):
    async def main():
        q = larder.Queue.from_name(name, create_if_missing=True, client=client)
        await q.put.aio(100)
        assert await q.get.aio() == 100
        await q.put_many.aio([1, 2, 3], partition="p")
        assert await q.len.aio(partition="p") == 3
        assert [v async for v in q.iterate.aio(partition="p")] == [1, 2, 3]
        assert await q.get_many.aio(2, partition="p") == [1, 2]
        await q.clear.aio(all=True)
        assert await q.len.aio(total=True) == 0
        with pytest.raises(queue.Empty):
            await q.get.aio(timeout=0.2)
        # A waiting get does not block the loop: the put that wakes it runs meanwhile.
        waiting = asyncio.ensure_future(q.get.aio(timeout=30))
        await asyncio.sleep(0.2)
        await q.put.aio("wake")
        assert await waiting == "wake"
        # Many waiting getters at once, more than the client's pool of quick threads.
        getters = [asyncio.ensure_future(q.get.aio(timeout=30)) for _ in range(80)]
        await asyncio.sleep(0.3)
        await q.put_many.aio(list(range(80)))
        assert sorted(await asyncio.gather(*getters)) == list(range(80))

    asyncio.run(main())


def test_a_cancelled_aio_get_takes_no_item(client, name):
    async def main():
        q = larder.Queue.from_name(name, create_if_missing=True, client=client)
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(q.get.aio(), 0.3)
        await asyncio.sleep(0.2)  # the cancel reaches the server
        await q.put.aio("for the next getter")
        assert await q.get.aio(timeout=5) == "for the next getter"

    asyncio.run(main())


def test_ephemeral_queue(client):
    with larder.Queue.ephemeral(client=client) as q:
        q.put("x")
        object_id = q.object_id
        assert object_id.startswith("qu-") and q.name is None
    with pytest.raises(larder.NotFoundError):
        larder.Queue.from_id(object_id, client=client).len()

    async def main():
        async with larder.Queue.ephemeral(client=client) as q:
            await q.put.aio(1)
            assert await q.get.aio() == 1

    asyncio.run(main())
