"""Request ids (docs/protocol.md, "Request ids"): a call that changes state is sent again after
a connection that broke once the request was sent, with the same id and ``retry: true``, and
the server answers it with the first attempt's outcome: nothing duplicated, nothing lost.

The connection is cut by a TCP proxy in the test: it passes a request to the real server,
reads the server's whole answer (so the call has taken effect) and closes the client's
connection instead of passing the answer on.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import threading
import time

import msgpack
import pytest

import larder


def _read_message(sock: socket.socket, buffer: bytes):
    """One HTTP/1.1 message with Content-Length: (head, body, rest), or None at end of stream."""
    while b"\r\n\r\n" not in buffer:
        data = sock.recv(65536)
        if not data:
            return None
        buffer += data
    end = buffer.index(b"\r\n\r\n")
    head = buffer[:end]
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    buffer = buffer[end + 4 :]
    while len(buffer) < length:
        data = sock.recv(65536)
        if not data:
            return None
        buffer += data
    return head, buffer[:length], buffer[length:]


class CuttingProxy:
    """Forwards HTTP requests to ``upstream``; the first ``cuts`` requests to ``path`` reach the
    server, but the client's connection is closed before their answer is passed on."""

    def __init__(self, upstream_url: str, path: str, cuts: int = 1):
        host, port = upstream_url.split("//", 1)[1].split(":")
        self.upstream = (host, int(port))
        self.path = path.encode()
        self.cuts = cuts
        self.cut_until = 0.0  # also cut every answer (health's too) until this time.monotonic()
        self.seen: list = []  # (path, envelope) of every request, in order
        self.lock = threading.Lock()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket):
        upstream = socket.create_connection(self.upstream)
        pending, answers = b"", b""
        try:
            while True:
                message = _read_message(client, pending)
                if message is None:
                    return
                head, body, pending = message
                path = head.split(b" ")[1]
                with self.lock:
                    self.seen.append((path.decode(), msgpack.unpackb(body, raw=False) if body else None))
                    cut = path.endswith(self.path) and self.cuts > 0
                    if cut:
                        self.cuts -= 1
                    cut = cut or time.monotonic() < self.cut_until
                upstream.sendall(head + b"\r\n\r\n" + body)
                answer = _read_message(upstream, answers)
                if answer is None:
                    return
                answer_head, answer_body, answers = answer
                if cut:
                    return  # the server has answered; the client never hears it
                client.sendall(answer_head + b"\r\n\r\n" + answer_body)
        except OSError:
            return
        finally:
            client.close()
            upstream.close()

    def requests(self, path: str) -> list:
        with self.lock:
            return [envelope for p, envelope in self.seen if p.endswith(path)]

    def close(self):
        self.listener.close()


@pytest.fixture
def proxy_for(server):
    proxies = []

    def make(path: str, cuts: int = 1) -> CuttingProxy:
        proxy = CuttingProxy(server.url, path, cuts)
        proxies.append(proxy)
        return proxy

    yield make
    for proxy in proxies:
        proxy.close()


def _via(proxy: CuttingProxy, server, **options) -> larder.Client:
    return larder.Client(proxy.url, token=server.token, **options)


def _same_id_then_retry(requests: list) -> None:
    assert len(requests) == 2, requests
    first, second = requests
    assert isinstance(first["requestId"], str) and first["requestId"] == second["requestId"]
    assert "retry" not in first and second["retry"] is True


def test_put_many_cut_after_the_server_wrote_it_is_added_once(server, client, proxy_for):
    proxy = proxy_for("/v1/queue/put")
    with larder.Queue.ephemeral(client=client) as q:
        with _via(proxy, server) as cut:
            larder.Queue.from_id(q.object_id, client=cut).put_many([1, 2, 3])
        _same_id_then_retry(proxy.requests("/v1/queue/put"))
        assert q.len() == 3  # not 6: the retry did not add them again
        assert q.get_many(10, timeout=0) == [1, 2, 3]


def test_get_cut_after_the_server_took_the_items_returns_them(server, client, proxy_for):
    proxy = proxy_for("/v1/queue/get")
    with larder.Queue.ephemeral(client=client) as q:
        q.put_many(["a", "b", "c", "d"])
        with _via(proxy, server) as cut:
            got = larder.Queue.from_id(q.object_id, client=cut).get_many(2, timeout=0)
        _same_id_then_retry(proxy.requests("/v1/queue/get"))
        assert got == ["a", "b"]  # the items the first attempt took: not lost, not ["c", "d"]
        assert q.get_many(10, timeout=0) == ["c", "d"]


def test_pop_cut_after_the_server_removed_the_key_returns_its_value(server, client, proxy_for):
    proxy = proxy_for("/v1/dict/pop")
    with larder.Dict.ephemeral(client=client) as d:
        d["k"] = {"v": 1}
        with _via(proxy, server) as cut:
            assert larder.Dict.from_id(d.object_id, client=cut).pop("k") == {"v": 1}
        _same_id_then_retry(proxy.requests("/v1/dict/pop"))
        assert "k" not in d


def test_put_skip_if_exists_cut_answers_the_first_written(server, client, proxy_for):
    proxy = proxy_for("/v1/dict/put")
    with larder.Dict.ephemeral(client=client) as d:
        with _via(proxy, server) as cut:
            assert larder.Dict.from_id(d.object_id, client=cut).put("k", 1, skip_if_exists=True) is True
        _same_id_then_retry(proxy.requests("/v1/dict/put"))
        assert d["k"] == 1


def test_each_call_has_its_own_id(server, client, proxy_for):
    proxy = proxy_for("/v1/none", cuts=0)
    with larder.Queue.ephemeral(client=client) as q:
        with _via(proxy, server) as c:
            handle = larder.Queue.from_id(q.object_id, client=c)
            for i in range(5):
                handle.put(i)
        ids = [e["requestId"] for e in proxy.requests("/v1/queue/put")]
        assert len(ids) == 5 and len(set(ids)) == 5
        assert all(0 < len(i) <= 64 and i.replace("-", "").replace("_", "").isalnum() for i in ids)


def test_without_request_ids_a_cut_write_is_not_sent_again(server, client, proxy_for):
    proxy = proxy_for("/v1/queue/put")
    with larder.Queue.ephemeral(client=client) as q:
        with _via(proxy, server, request_ids=False) as cut:
            with pytest.raises(larder.UnavailableError, match="may or may not have taken effect"):
                larder.Queue.from_id(q.object_id, client=cut).put_many([1, 2, 3])
        assert len(proxy.requests("/v1/queue/put")) == 1
        assert q.len() == 3


#: A server with a short retention of request ids (`larder serve` has no flag for it).
SHORT_RETENTION = """
import { startServer } from "./index.ts";
const server = await startServer({ memory: true, port: 0, requestIdRetentionMs: 1000 });
console.log(`listening on ${server.url}`);
process.stdin.resume();
process.stdin.on("end", () => void server.close().then(() => process.exit(0)));
"""


def test_no_retry_past_the_servers_retention_of_request_ids(server):
    # Seen failing without the retention check: the retries went on for retry_timeout, the
    # server had pruned the first attempt's record, and the put was applied again (len 2).
    from conftest import ROOT

    node = os.environ.get("LARDER_NODE") or shutil.which("node") or "node"
    process = subprocess.Popen(
        [node, "--import", "tsx", "--input-type=module", "-e", SHORT_RETENTION],
        cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        url = process.stdout.readline().split()[-1]
        proxy = CuttingProxy(url, "/v1/none", cuts=0)
        with larder.Client(proxy.url, retry_timeout=20) as c:
            q = larder.Queue.from_name("jobs", create_if_missing=True, client=c)
            q.len()
            proxy.cut_until = time.monotonic() + 3  # the put is applied; no answer comes back for 3 s
            with pytest.raises(larder.UnavailableError, match="requestIdRetentionMs .*may or may not have taken effect"):
                q.put("once")
            assert q.len() == 1
            assert any(p.endswith("/v1/health") for p, _ in proxy.seen)
        proxy.close()
    finally:
        process.stdin.close()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGKILL)
