"""One RPC over HTTP/1.1, as docs/protocol.md describes: a MessagePack envelope POSTed to
its route, a MessagePack map back, or a JSON ``{code, message}`` rebuilt into Larder's error
class. The same rules as the Node.js client (client/transport.ts):

- keep-alive connections, reused, closed after ``IDLE_CLOSE_S`` idle (the server keeps them
  65 s, so the client never sends on one the server is closing);
- every call that changes state carries a request id (docs/protocol.md, "Request ids"), the
  same on each of its retries, so that every call may be sent again: after a connection
  that broke once the request may have been sent, the retry also says ``retry: true`` and
  the server answers it with the first attempt's outcome if that attempt was applied;
- a call that never left the client (connection refused), that the server answered
  ``503 UNAVAILABLE`` (it did nothing), or whose connection broke, is sent again, backing
  off from 50 ms to 1 s, for up to ``retry_timeout`` seconds (or the call's own wait, if
  shorter, unless it may have taken effect: then it retries the whole budget to hear how),
  but never past the server's ``requestIdRetentionMs`` after the first attempt (asked once
  from ``/v1/health``): a retry the server no longer has the record of could run again;
- a call that answers at once gets ``answer_timeout`` seconds for its answer, and is not
  sent again after that (the server is stuck); a long-poll gets 300 s (the server answers
  every long-poll within its ``longPollMaxMs``, at most 240 s);
- at most ``requests_in_flight_max`` requests (default 4) are in flight for calls that
  answer at once; calls made by other threads meanwhile wait in the client and go together
  as one ``/v1/batch`` request when one of those is answered, so that 64 threads cost a few
  requests instead of 64. A lone caller never waits and never batches.

HTTP itself is written and read here on a plain socket rather than with ``http.client``,
whose request and header parsing cost more than the rest of a call (docs in
client/python/README.md, "Speed"): the server is Larder's own, which answers with
``Content-Length`` (or chunked, for a huge batch answer).
"""

from __future__ import annotations

import itertools
import json
import os
import secrets
import socket
import threading
import time
import urllib.parse

import msgpack

from .errors import (
    ClosedError,
    InternalError,
    InvalidError,
    LarderError,
    UnavailableError,
    error_from_code,
)

PREFIX = "/v1"
ROUTES = {
    "getObject": "/objects/get",
    "getObjectById": "/objects/get-by-id",
    "listObjects": "/objects/list",
    "deleteObject": "/objects/delete",
    "deleteObjectById": "/objects/delete-by-id",
    "heartbeat": "/objects/heartbeat",
    "dictGet": "/dict/get",
    "dictContains": "/dict/contains",
    "dictPut": "/dict/put",
    "dictUpdate": "/dict/update",
    "dictPop": "/dict/pop",
    "dictLen": "/dict/len",
    "dictClear": "/dict/clear",
    "dictScan": "/dict/scan",
    "queuePut": "/queue/put",
    "queueGet": "/queue/get",
    "queueLen": "/queue/len",
    "queueClear": "/queue/clear",
    "queueNext": "/queue/next",
    "queueStats": "/queue/stats",
    "queueReserve": "/queue/reserve",
    "queueAck": "/queue/ack",
    "queueRelease": "/queue/release",
    "queueExtend": "/queue/extend",
    "waitsCancel": "/waits/cancel",
}

#: Calls that change state: they carry a request id (their rows in proto/calls.ts list ``requestId``).
CARRIES_REQUEST_ID = frozenset(
    {
        "getObject",
        "deleteObject",
        "deleteObjectById",
        "dictPut",
        "dictUpdate",
        "dictPop",
        "dictClear",
        "queuePut",
        "queueGet",
        "queueClear",
        "queueReserve",
        "queueAck",
        "queueRelease",
        "queueExtend",
    }
)

#: Calls that may be sent again after a broken connection without a request id (proto/calls.ts retrySafe).
RETRY_SAFE = frozenset(
    {
        "getObjectById",
        "listObjects",
        "deleteObjectById",
        "heartbeat",
        "dictGet",
        "dictContains",
        "dictLen",
        "dictScan",
        "queueLen",
        "queueNext",
        "queueStats",
        "waitsCancel",
    }
)

#: Reads that change nothing, not even a TTL: the same read made by several threads at once goes once in a batch.
SHARED_READS = frozenset({"dictContains", "dictLen", "queueLen", "queueStats", "getObjectById"})

MSGPACK_TYPE = "application/msgpack"
IDLE_CLOSE_S = 10.0
LONG_POLL_ANSWER_S = 300.0
RETRY_DELAY_FIRST_S = 0.05
RETRY_DELAY_MAX_S = 1.0
#: A retry goes no later than the server's retention less a quarter of it, or less this: the way there.
RETENTION_MARGIN_S_MAX = 5.0
#: Requests in flight, at most, for calls that answer at once (as the Node.js client).
REQUESTS_IN_FLIGHT_MAX = 4
#: A batch this client sends: at most this many calls and bytes; a call over the last goes alone.
SENT_BATCH_CALLS_MAX = 256
SENT_BATCH_BYTES_MAX = 1024 * 1024
BATCHED_CALL_BYTES_MAX = 64 * 1024
#: Puts of one partition merged into one call of a batch: at most this many values and bytes
#: (well under the default ``queuePartitionItemsMax``, 5,000, so that a merged put is not
#: refused where its parts would not be; a refused one is sent again as its parts).
MERGED_PUT_VALUES_MAX = 1000
MERGED_PUT_BYTES_MAX = BATCHED_CALL_BYTES_MAX
#: Errors that say a call did nothing and that each part of a merged put may get otherwise:
#: its parts are sent again on their own. (Any other error is every part's.)
_MERGED_PUT_REFUSED = frozenset({"QUEUE_FULL", "TOO_LARGE", "INVALID", "RESOURCE_EXHAUSTED"})
#: An answer's status line and headers, at most (the server's are a few hundred bytes).
HEAD_BYTES_MAX = 64 * 1024
#: Visible ASCII, as the server requires of a bearer token.
_TOKEN_CHARS = frozenset(chr(c) for c in range(0x21, 0x7F))

_packb = msgpack.Packer(use_bin_type=True, autoreset=True).pack


def _pack(envelope: dict) -> bytes:
    return _packb({k: v for k, v in envelope.items() if v is not None})


def _unpack(data: bytes):
    return msgpack.unpackb(data, raw=False, strict_map_key=False)


def is_retry_safe(route: str, envelope: dict) -> bool:
    if isinstance(envelope.get("requestId"), str) or route in RETRY_SAFE:
        return True
    return route == "getObject" and envelope.get("mode") in ("lookup", "createIfMissing")


def may_wait(route: str, envelope: dict) -> bool:
    if route in ("queueGet", "queuePut", "queueReserve"):
        return envelope.get("timeoutMs") != 0
    if route == "queueNext":
        poll = envelope.get("pollTimeoutMs")
        return isinstance(poll, (int, float)) and poll > 0
    return False


class _Ids:
    """Ids unique across clients: a random prefix per process, then a counter (a forked child
    gets a prefix of its own, so that parent and child never give the same id)."""

    def __init__(self, random_bytes: int):
        self.random_bytes = random_bytes
        self._reset()
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=self._reset)

    def _reset(self):
        self.prefix = secrets.token_urlsafe(self.random_bytes)
        self.counter = itertools.count(1)

    def new(self) -> str:
        return f"{self.prefix}{next(self.counter):x}"


#: Wait ids: 12 random characters and a counter.
wait_ids = _Ids(9)
#: Request ids: 16 random characters (96 bits) and a counter, in ``[A-Za-z0-9_-]``.
request_ids = _Ids(12)


class _NotSent(Exception):
    """The request never left the client."""


class _Broken(Exception):
    """The connection failed after the request may have been sent."""

    def __init__(self, message: str, timed_out: bool = False):
        super().__init__(message)
        self.timed_out = timed_out


class _ServerUnavailable(UnavailableError):
    """The server answered 503 UNAVAILABLE: it did nothing, so any call may be sent again."""


class _ResendAlone(Exception):
    """A call of a batch that the server did not run as part of it: send it again on its own, now."""


def validate_token(token):
    if token is None:
        return None
    if not isinstance(token, str) or not token or any(c not in _TOKEN_CHARS for c in token):
        raise InvalidError("a token is visible ASCII characters ('!' to '~'), without spaces")
    return token


def parse_url(url: str):
    if not isinstance(url, str):
        raise InvalidError("the server URL must be a string")
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme != "http" or not parsed.hostname:
        raise InvalidError(f"the server URL must start with http://, got {url!r}")
    return parsed.hostname, parsed.port or 80, parsed.path.rstrip("/")


class _Connection:
    """One keep-alive HTTP/1.1 connection on a socket, with what it has read past the last answer."""

    __slots__ = ("sock", "buffer", "used", "timeout")

    def __init__(self, host: str, port: int, connect_timeout: float):
        try:
            self.sock = socket.create_connection((host, port), timeout=connect_timeout)
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError as err:
            raise _NotSent(f"{type(err).__name__}: {err}") from err
        self.buffer = b""
        self.used = 0.0
        self.timeout = connect_timeout

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def _more(self) -> bytes:
        data = self.sock.recv(65536)
        if not data:
            raise _Broken("the server closed the connection before answering")
        return data

    def exchange(self, request: bytes, timeout: float):
        """Sends one request and reads its answer: (status, body, whether the server closes the connection)."""
        if timeout != self.timeout:
            self.sock.settimeout(timeout)
            self.timeout = timeout
        try:
            self.sock.sendall(request)
            buffer = self.buffer or self._more()
            while True:
                end = buffer.find(b"\r\n\r\n")
                while end < 0:
                    if len(buffer) > HEAD_BYTES_MAX:
                        raise _Broken("an answer whose headers are over 64 KiB")
                    buffer += self._more()
                    end = buffer.find(b"\r\n\r\n")
                lines = buffer[:end].split(b"\r\n")
                rest = buffer[end + 4 :]
                status_line = lines[0]
                if not status_line.startswith(b"HTTP/1.") or len(status_line) < 12:
                    raise _Broken(f"not an HTTP answer: {status_line[:40]!r}")
                status = int(status_line[9:12])
                if 100 <= status < 200:  # an interim answer (100 Continue): the final one follows
                    buffer = rest or self._more()
                    continue
                break
            length = None
            chunked = False
            close = status_line.startswith(b"HTTP/1.0")
            for line in lines[1:]:
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    length = int(value)
                elif name == b"transfer-encoding":
                    chunked = b"chunked" in value.lower()
                elif name == b"connection":
                    close = b"close" in value.lower()
            if chunked:
                body, rest = self._chunked(rest)
            elif length is not None:
                while len(rest) < length:
                    rest += self._more()
                body, rest = rest[:length], rest[length:]
            else:  # no length: the body runs until the server closes
                parts = [rest]
                while True:
                    data = self.sock.recv(65536)
                    if not data:
                        break
                    parts.append(data)
                body, rest, close = b"".join(parts), b"", True
        except socket.timeout as err:
            raise _Broken(f"no answer within {timeout} s", timed_out=True) from err
        except (OSError, ValueError) as err:
            raise _Broken(f"{type(err).__name__}: {err}") from err
        self.buffer = rest
        return status, body, close

    def _chunked(self, buffer: bytes):
        parts = []
        while True:
            end = buffer.find(b"\r\n")
            while end < 0:
                buffer += self._more()
                end = buffer.find(b"\r\n")
            size = int(buffer[:end].split(b";", 1)[0], 16)
            buffer = buffer[end + 2 :]
            if size == 0:
                # Trailers, if any, end with an empty line.
                while True:
                    end = buffer.find(b"\r\n")
                    while end < 0:
                        buffer += self._more()
                        end = buffer.find(b"\r\n")
                    line, buffer = buffer[:end], buffer[end + 2 :]
                    if not line:
                        return b"".join(parts), buffer
            while len(buffer) < size + 2:
                buffer += self._more()
            parts.append(buffer[:size])
            buffer = buffer[size + 2 :]


class _Waiting:
    """A call that waits in the client for a request slot, to go in the next batch."""

    __slots__ = ("route", "body", "envelope", "done", "answer", "error", "batch", "merged")

    def __init__(self, route: str, body: bytes, envelope=None):
        self.route = route
        self.body = body
        self.envelope = envelope  # a put that may be merged with others (_merge_key)
        self.done = threading.Lock()
        self.done.acquire()
        self.answer = None
        self.error = None
        self.batch = None  # set on the one call of a batch whose thread sends it
        self.merged = None  # the _MergedPut that carried it, if its outcome is that put's


class _MergedPut:
    """Puts of one partition that threads made at the same time, sent as one ``queuePut``
    call of a batch (its values, theirs in the order they were made; a request id of its
    own). It is all or nothing as each of them is, and each gets its answer. If the server
    refuses it (no room for all, too many values), nothing was written: each part is sent
    again on its own. If its batch's connection broke, it may have been written: the thread
    of its first part sends it again, with its id and ``retry: true``, as any call, and the
    others wait for that outcome."""

    __slots__ = ("parts", "envelope", "sent_at", "done", "answer", "error")

    def __init__(self, parts: list, envelope: dict):
        self.parts = parts
        self.envelope = envelope
        self.sent_at = None
        self.done = threading.Event()
        self.answer = None
        self.error = None

    def outcome(self):
        """The outcome of the put sent again (for the parts that wait for it)."""
        self.done.wait()
        if self.error is not None:
            raise self.error
        return self.answer


class _SendMergedAgain(Exception):
    """To the first part's thread: the merged put's batch broke; send the merged put again."""

    def __init__(self, merged: _MergedPut):
        super().__init__("a merged put's batch broke")
        self.merged = merged


def _merge_key(route: str, envelope: dict):
    """What puts must share to be merged (all but values and request id), or None: only puts
    that answer at once (timeoutMs 0) and are sent for the first time."""
    if route != "queuePut" or envelope.get("timeoutMs") != 0 or envelope.get("retry") or envelope.get("waitId") is not None:
        return None
    try:
        key = tuple(sorted((k, v) for k, v in envelope.items() if k not in ("values", "requestId") and v is not None))
        hash(key)
    except TypeError:
        return None
    return key


class Transport:
    """Sends calls; thread-safe. Connections are pooled and reused across threads."""

    def __init__(
        self,
        url: str,
        token=None,
        *,
        retry_timeout: float = 5.0,
        answer_timeout: float = 30.0,
        requests_in_flight_max: float = REQUESTS_IN_FLIGHT_MAX,
        request_ids: bool = True,
    ):
        self.url = url
        self.host, self.port, self.base_path = parse_url(url)
        self.token = validate_token(token)
        self.retry_timeout = retry_timeout
        self.answer_timeout = answer_timeout
        self.requests_in_flight_max = requests_in_flight_max
        self.request_ids = request_ids
        headers = f"Host: {self.host}:{self.port}\r\nContent-Type: {MSGPACK_TYPE}\r\nAccept: {MSGPACK_TYPE}\r\n"
        if self.token is not None:
            headers += f"Authorization: Bearer {self.token}\r\n"
        self._heads = {}  # route -> the request's bytes up to the Content-Length value
        for route, path in list(ROUTES.items()) + [("batch", "/batch")]:
            self._heads[route] = f"POST {self.base_path}{PREFIX}{path} HTTP/1.1\r\n{headers}Content-Length: ".encode()
        self._lock = threading.Lock()
        self._closed = False
        self._retention_s = None  # the server's requestIdRetentionMs in s, asked before a first retry
        self._reset()

    def _reset(self):
        self._pid = os.getpid()
        self._idle: list = []  # connections, most recently used last
        self._in_flight = 0
        self._ready: list = []  # _Waiting calls, in the order they were made
        self._batches = True

    def _check_fork(self):
        # A forked child: the parent's sockets, slots and waiting calls are not its own.
        if self._pid != os.getpid():
            with self._lock:
                if self._pid != os.getpid():
                    self._reset()

    # ---- connections ----

    def _acquire(self) -> _Connection:
        now = time.monotonic()
        with self._lock:
            while self._idle:
                conn = self._idle.pop()
                if now - conn.used < IDLE_CLOSE_S:
                    return conn
                conn.close()
        return _Connection(self.host, self.port, max(1.0, self.retry_timeout))

    def _release(self, conn: _Connection):
        conn.used = time.monotonic()
        with self._lock:
            if self._closed or self._pid != os.getpid():
                conn.close()
                return
            self._idle.append(conn)

    def close(self):
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    # ---- one request ----

    def _attempt(self, route: str, body: bytes, answer_s: float):
        """One call's request on a connection of the pool: (status, body)."""
        return self._exchange(self._heads[route] + b"%d\r\n\r\n" % len(body) + body, answer_s)

    def _exchange(self, request: bytes, answer_s: float):
        conn = self._acquire()
        try:
            status, data, close = conn.exchange(request, answer_s)
        except BaseException:
            conn.close()
            raise
        if close:
            conn.close()
        else:
            self._release(conn)
        return status, data

    def _answer(self, route: str, body: bytes, answer_s: float, alone: bool, envelope: dict) -> dict:
        """The answer map of one call that answers at once, alone or in a batch."""
        if alone or not self._batches or len(body) > BATCHED_CALL_BYTES_MAX:
            return _reply(route, *self._attempt(route, body, answer_s))
        with self._lock:
            if self._in_flight >= self.requests_in_flight_max:
                waiting = _Waiting(route, body, envelope if route == "queuePut" else None)
                self._ready.append(waiting)
            else:
                self._in_flight += 1
                waiting = None
        if waiting is None:
            try:
                return _reply(route, *self._attempt(route, body, answer_s))
            finally:
                self._pass_slot()
        waiting.done.acquire()
        if waiting.batch is not None:  # this thread holds the slot now: it sends the batch
            try:
                self._send_batch(waiting.batch)
            finally:
                self._pass_slot()
        if waiting.merged is not None:
            return waiting.merged.outcome()
        if waiting.error is not None:
            raise waiting.error
        return waiting.answer

    def _pass_slot(self):
        """A request slot is free: the calls waiting for one go as a batch, sent by the thread of the first."""
        with self._lock:
            if not self._ready:
                self._in_flight -= 1
                return
            batch, size = [], 0
            for waiting in self._ready:
                if len(batch) == SENT_BATCH_CALLS_MAX or (batch and size + len(waiting.body) > SENT_BATCH_BYTES_MAX):
                    break
                batch.append(waiting)
                size += len(waiting.body)
            del self._ready[: len(batch)]
        batch[0].batch = batch
        batch[0].done.release()

    def _send_batch(self, batch: list):
        """Sends waiting calls together and gives each its answer or error (then wakes the others)."""
        try:
            if len(batch) == 1:
                waiting = batch[0]
                try:
                    waiting.answer = _reply(waiting.route, *self._attempt(waiting.route, waiting.body, self.answer_timeout))
                except Exception as err:  # noqa: BLE001 - the call's own loop judges it
                    waiting.error = err
                return
            # Reads that are the same bytes are sent once, and their answer goes to each: every
            # one of them was asked before the batch left, and is answered by a read made after.
            sent, first = [], {}
            for waiting in batch:
                if waiting.route in SHARED_READS:
                    key = (waiting.route, waiting.body)
                    if key in first:
                        continue
                    first[key] = waiting
                sent.append(waiting)
            sent, merges = self._merge_puts(sent)
            body = _batch_body(sent)
            try:
                sent_at = time.monotonic()
                status, data = self._attempt("batch", body, self.answer_timeout)
                errors = None
                if status == 200:
                    replies = _decode("batch", data).get("replies")
                    if not isinstance(replies, list) or len(replies) != len(sent):
                        raise InternalError("malformed answer from the server: 'replies' does not match the calls")
                    for waiting, reply in zip(sent, replies):
                        answer, error = _batch_reply(waiting.route, reply)
                        merged = merges.get(id(waiting))
                        if merged is None:
                            waiting.answer, waiting.error = answer, error
                            continue
                        if getattr(error, "code", None) in _MERGED_PUT_REFUSED:
                            error = _ResendAlone(str(error))
                        for part in merged.parts:
                            part.answer, part.error = answer, error
                    for waiting in batch:
                        if waiting.answer is None and waiting.error is None:
                            same = first[(waiting.route, waiting.body)]
                            waiting.answer, waiting.error = same.answer, same.error
                    return
                error = _error_from_answer(status, data)
                if getattr(error, "code", None) in ("NOT_FOUND", "TOO_LARGE"):
                    # A server without the batch route, or one with a small requestBytesMax:
                    # none of the calls ran; each goes alone (and, without the route, from now on).
                    if error.code == "NOT_FOUND":
                        self._batches = False
                    error = _ResendAlone(str(error))
                errors = error
            except Exception as err:  # noqa: BLE001 - a broken batch: each call judges it on its own
                errors = err
            for waiting in batch:
                waiting.error = errors
            if isinstance(errors, _Broken) and not errors.timed_out:
                # A merged put may have been written, under its own request id: it is sent
                # again as itself (by its first part's thread), never as its parts.
                for merged in merges.values():
                    if "requestId" in merged.envelope:
                        merged.sent_at = sent_at
                        merged.parts[0].error = _SendMergedAgain(merged)
                        for part in merged.parts[1:]:
                            part.merged = merged
        finally:
            for waiting in batch[1:]:
                waiting.done.release()

    def _merge_puts(self, sent: list):
        """Merges the puts of one partition among ``sent``: the calls to send, in order (a
        merged put at its first part's place), and the _MergedPut of each merged call, by id."""
        groups = {}
        for waiting in sent:
            key = None if waiting.envelope is None else _merge_key(waiting.route, waiting.envelope)
            if key is not None:
                groups.setdefault(key, []).append(waiting)
        merges, placed, dropped = {}, {}, set()
        for parts in groups.values():
            while len(parts) > 1:
                take, values, size = [], [], 0
                for part in parts:
                    more = part.envelope["values"]
                    if take and (len(values) + len(more) > MERGED_PUT_VALUES_MAX or size + len(part.body) > MERGED_PUT_BYTES_MAX):
                        break
                    take.append(part)
                    values += more
                    size += len(part.body)
                parts = parts[len(take) :]
                if len(take) < 2:
                    continue
                envelope = {k: v for k, v in take[0].envelope.items() if k != "requestId"}
                envelope["values"] = values
                if self.request_ids:
                    envelope["requestId"] = request_ids.new()
                call = _Waiting("queuePut", _pack(envelope))
                merges[id(call)] = _MergedPut(take, envelope)
                placed[id(take[0])] = call
                dropped.update(id(part) for part in take[1:])
        if not merges:
            return sent, merges
        return [placed.get(id(w), w) for w in sent if id(w) not in dropped], merges

    def _send_merged_again(self, merged: _MergedPut) -> dict:
        """Sends a merged put whose batch broke again, and gives its outcome to its parts."""
        try:
            merged.answer = self.call("queuePut", dict(merged.envelope, retry=True), _started=merged.sent_at)
            return merged.answer
        except BaseException as err:
            merged.error = err
            raise
        finally:
            merged.done.set()

    def call(self, route: str, envelope: dict, *, retry_until: float = float("inf"), cancel=None, _started=None) -> dict:
        """Sends one call and returns the answer map, retrying where that is safe.

        ``_started``: the call was first sent then, in a batch that broke (a merged put, which
        has its request id and ``retry: true`` already); it goes alone."""
        if self._closed:
            raise ClosedError("the client is closed")
        self._check_fork()
        # A call that changes state gets its id here, once: every retry below sends the same one.
        if self.request_ids and route in CARRIES_REQUEST_ID and _started is None:
            envelope = dict(envelope, requestId=request_ids.new())
        waits = may_wait(route, envelope)
        retry_safe = is_retry_safe(route, envelope)
        try:
            body = _pack(envelope)
        except UnicodeEncodeError:
            raise InvalidError("strings may not contain lone surrogates (they have no UTF-8 form)") from None
        answer_s = LONG_POLL_ANSWER_S if waits else self.answer_timeout
        started = time.monotonic() if _started is None else _started
        first_failure = None
        deadline = None
        delay = RETRY_DELAY_FIRST_S
        alone = _started is not None
        while True:
            if self._closed:
                raise ClosedError("the client is closed")
            if cancel is not None and cancel.cancelled:
                raise ClosedError("the call was cancelled")
            try:
                if envelope.get("retry"):
                    self._check_retention(route, started)
                if waits:
                    return _reply(route, *self._attempt(route, body, answer_s))
                return self._answer(route, body, answer_s, alone, envelope)
            except _ResendAlone:
                alone = True
                continue
            except _SendMergedAgain as again:
                return self._send_merged_again(again.merged)
            except (_NotSent, _Broken, _ServerUnavailable) as err:
                sent = isinstance(err, _Broken)
                may_retry = not sent or (not err.timed_out and retry_safe)
                if not may_retry:
                    raise self._final_error(route, err) from err
                now = time.monotonic()
                if first_failure is None:
                    first_failure = now
                    deadline = min(now + self.retry_timeout, retry_until)
                if sent and "requestId" in envelope:
                    # It may have taken effect: retry the whole budget to hear its outcome
                    # (a get that took items gets them), rather than leave it unknown.
                    deadline = max(deadline, first_failure + self.retry_timeout)
                if now + delay > deadline:
                    within = (
                        "the call's own wait (timeout)"
                        if deadline == retry_until
                        else f"{self.retry_timeout} s (retry_timeout)"
                    )
                    raise UnavailableError(
                        f"could not reach the Larder server at {self.url} for {route} within {within}: {err}"
                    ) from err
                time.sleep(delay)
                delay = min(delay * 2, RETRY_DELAY_MAX_S)
                # A retry goes alone, and says so once the request may have reached the
                # server: the server then looks its id up among the calls it has applied.
                # (After a refused connection or a 503 nothing was done.)
                alone = True
                if sent and "requestId" in envelope and not envelope.get("retry"):
                    envelope = dict(envelope, retry=True)
                    body = _pack(envelope)
                if waits:
                    # A wait sent again waits only what is left of it.
                    body = _pack(_wait_left(envelope, (time.monotonic() - started) * 1000))

    def _check_retention(self, route: str, started: float) -> None:
        """A retry must reach the server while it still keeps the record of the first attempt,
        which it applied at the earliest when the call ``started``: one later than the server's
        ``requestIdRetentionMs`` (less a quarter of it, at most 5 s, for the way there) could
        run the call again (docs/protocol.md, "Retries"). So the retention is asked for once
        (``GET /v1/health``), and past it the call fails as one that may or may not have taken
        effect. A health check that fails is a round that did nothing (retried)."""
        if self._retention_s is None:
            self._retention_s = self._ask_retention()
        retention = self._retention_s
        if time.monotonic() <= started + retention - min(retention / 4, RETENTION_MARGIN_S_MAX):
            return
        raise UnavailableError(
            f"{route} could not be sent again within the server's requestIdRetentionMs ({retention * 1000:.0f} ms) "
            "of its first attempt; the call may or may not have taken effect"
        )

    def _ask_retention(self) -> float:
        """The server's requestIdRetentionMs, in seconds (infinite when it keeps no records)."""
        request = f"GET {self.base_path}{PREFIX}/health HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n\r\n".encode()
        try:
            status, data = self._exchange(request, self.answer_timeout)
        except (_NotSent, _Broken) as err:
            raise _ServerUnavailable(f"could not ask the Larder server for its requestIdRetentionMs: {err}") from err
        if status != 200:
            raise _ServerUnavailable(f"the Larder server's health answered {status}")
        try:
            ms = json.loads(data.decode("utf-8")).get("requestIdRetentionMs")
        except (ValueError, UnicodeDecodeError, AttributeError):
            ms = None
        if isinstance(ms, bool) or not isinstance(ms, (int, float)) or not ms > 0:
            return float("inf")
        return ms / 1000

    def _final_error(self, route: str, err: Exception) -> LarderError:
        if isinstance(err, LarderError):
            return err
        if isinstance(err, _Broken) and err.timed_out:
            return UnavailableError(
                f"the Larder server did not answer {route} within {self.answer_timeout} s (answer_timeout); "
                "the call may or may not have taken effect"
            )
        return UnavailableError(
            f"the connection to the Larder server failed during {route}; the call may or may not have taken "
            f"effect and is not sent again because repeating it could duplicate or lose data: {err}"
        )


def _batch_body(batch: list) -> bytes:
    """``{calls: [[path, envelope], ...]}``, with each call's envelope as it was already packed."""
    n = len(batch)
    parts = [b"\x81\xa5calls", b"\xdc" + n.to_bytes(2, "big") if n > 15 else bytes([0x90 | n])]
    for waiting in batch:
        parts.append(b"\x92")
        parts.append(_PACKED_PATHS[waiting.route])
        parts.append(waiting.body)
    return b"".join(parts)


_PACKED_PATHS = {route: _packb(PREFIX + path) for route, path in ROUTES.items()}


def _reply(route: str, status: int, data: bytes) -> dict:
    if status == 200:
        return _decode(route, data)
    raise _error_from_answer(status, data)


def _batch_reply(route: str, reply):
    """One ``[status, map]`` of a batch answer: (answer, None) or (None, error)."""
    if not isinstance(reply, (list, tuple)) or len(reply) != 2 or not isinstance(reply[1], dict):
        return None, InternalError(f"malformed answer from the server: a batch reply to {route} is not [status, map]")
    status, body = reply
    if status == 200:
        return body, None
    code, message = body.get("code"), body.get("message")
    if not isinstance(code, str) or not isinstance(message, str):
        return None, InternalError(f"unexpected batch reply {status} to {route}")
    if code == "UNAVAILABLE":
        # Nothing was done: sent again alone at once ("resend: alone"), or after a back-off.
        return None, _ResendAlone(message) if body.get("resend") == "alone" else _ServerUnavailable(message)
    return None, error_from_code(code, message)


def _decode(route: str, data: bytes) -> dict:
    try:
        answer = _unpack(data)
    except Exception as err:  # noqa: BLE001 - any malformed body
        raise InternalError(f"the server's answer to {route} is not MessagePack: {err}") from None
    if not isinstance(answer, dict):
        raise InternalError(f"the server's answer to {route} is not a MessagePack map")
    return answer


def _wait_left(envelope: dict, elapsed_ms: float) -> dict:
    out = dict(envelope)
    for field in ("timeoutMs", "pollTimeoutMs"):
        ms = out.get(field)
        if isinstance(ms, (int, float)) and ms > 0 and ms != float("inf"):
            out[field] = max(0, ms - elapsed_ms)
    return out


def _error_from_answer(status: int, data: bytes) -> Exception:
    try:
        parsed = json.loads(data.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        parsed = None
    if isinstance(parsed, dict) and isinstance(parsed.get("code"), str) and isinstance(parsed.get("message"), str):
        if parsed["code"] == "UNAVAILABLE":
            return _ServerUnavailable(parsed["message"])
        return error_from_code(parsed["code"], parsed["message"])
    if status in (502, 503, 504):
        # Not a Larder answer: something in between (a proxy) failed, as a broken connection.
        return _Broken(f"HTTP {status} from something between client and server")
    return InternalError(f"unexpected HTTP {status} answer from the server")
