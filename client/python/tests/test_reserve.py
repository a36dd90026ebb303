"""Reservations (contract v2, "Reliable delivery") from Python: reserve leaves items in the queue,
invisible to getters, until ack; a lease that ends, or a release, makes them visible again at
their place with one more delivery; acks of ended leases are LeaseExpiredError."""

from __future__ import annotations

import asyncio
import queue
import time

import pytest
from test_request_ids import CuttingProxy

import larder


def test_reserve_then_ack_removes_the_items(client):
    with larder.Queue.ephemeral(client=client) as q:
        q.put_many(["a", "b", "c"])
        rs = q.reserve(2, lease=30)
        assert [r.value for r in rs] == ["a", "b"] and [r.deliveries for r in rs] == [1, 1]
        assert rs[0].partition is None and rs[0].lease_ends_at.timestamp() > time.time() + 20
        assert q.len() == 3  # reserved items still count
        assert q.get(timeout=0) == "c"  # and are invisible to get
        q.ack(rs)
        assert q.len() == 0
        rs[0].ack()  # acking an item already gone resolves


def test_a_lease_that_ends_makes_the_item_visible_again_at_its_place(client):
    with larder.Queue.ephemeral(client=client) as q:
        q.put_many([1, 2], partition="p")
        (first,) = q.reserve(1, lease=0.3, partition="p")
        assert first.partition == "p"
        time.sleep(0.6)
        again = q.reserve(2, partition="p", timeout=1)
        assert [(r.value, r.deliveries) for r in again] == [(1, 2), (2, 1)]
        with pytest.raises(larder.LeaseExpiredError) as info:
            q.ack([first, again[1]])
        assert info.value.refused == [first] and info.value.code == "LEASE_EXPIRED"
        assert q.len(partition="p") == 1  # again[1] was acked; 1 is reserved by again[0]


def test_release_and_extend(client):
    with larder.Queue.ephemeral(client=client) as q:
        q.put_many(["x", "y"])
        x, y = q.reserve(2)
        x.release()
        assert q.get(timeout=0) == "x"
        before = y.lease_ends_at
        y.extend(600)
        assert y.lease_ends_at > before
        with pytest.raises(larder.LeaseExpiredError):
            x.extend(10)  # x is gone: this reservation holds nothing


def test_reserve_waits_and_empty_is_queue_empty(client):
    with larder.Queue.ephemeral(client=client) as q:
        with pytest.raises(queue.Empty):
            q.reserve(1, timeout=0)
        assert q.reserve(1, block=False) == []
        with pytest.raises(larder.InvalidError):
            q.reserve(0)
        with pytest.raises(larder.InvalidError):
            q.reserve(1, lease=-1)


def test_aio(client):
    async def main(q):
        await q.put.aio("v")
        (r,) = await q.reserve.aio(1, timeout=1)
        await r.ack.aio()
        return await q.len.aio()

    with larder.Queue.ephemeral(client=client) as q:
        assert asyncio.run(main(q)) == 0


def test_a_reserve_cut_after_the_server_reserved_returns_the_same_reservations(server, client):
    proxy = CuttingProxy(server.url, "/v1/queue/reserve")
    try:
        with larder.Queue.ephemeral(client=client) as q:
            q.put_many(["a", "b", "c"])
            with larder.Client(proxy.url, token=server.token) as cut:
                rs = larder.Queue.from_id(q.object_id, client=cut).reserve(2, timeout=0)
            sent = proxy.requests("/v1/queue/reserve")
            assert len(sent) == 2 and sent[1]["retry"] is True and sent[0]["requestId"] == sent[1]["requestId"]
            assert [r.value for r in rs] == ["a", "b"] and [r.deliveries for r in rs] == [1, 1]
            q.ack(rs)  # the retry's tokens are the reservations that hold the items
            assert q.get_many(10, timeout=0) == ["c"]
    finally:
        proxy.close()
