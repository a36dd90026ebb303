"""One RPC over HTTP/1.1, as docs/protocol.md describes: a MessagePack envelope POSTed to
its route, a MessagePack map back, or a JSON ``{code, message}`` rebuilt into Larder's error
class. The same rules as the Node.js client (client/transport.ts):

- keep-alive connections, reused, closed after ``IDLE_CLOSE_S`` idle (the server keeps them
  65 s, so the client never sends on one the server is closing);
- a call that never left the client (connection refused) or that the server answered
  ``503 UNAVAILABLE`` (it did nothing) is sent again, backing off from 50 ms to 1 s, for up
  to ``retry_timeout`` seconds (or the call's own wait, if shorter);
- a connection that broke after the request may have been sent is retried only for the
  calls in ``RETRY_SAFE``, whose repetition cannot duplicate or lose data; any other call
  fails at once with ``UnavailableError`` saying it may or may not have taken effect;
- a call that answers at once gets ``answer_timeout`` seconds for its answer; a long-poll
  300 s (the server answers every long-poll within its ``longPollMaxMs``, at most 240 s).
"""

from __future__ import annotations

import http.client
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
    "waitsCancel": "/waits/cancel",
}

#: Calls that may be sent again after a broken connection (proto/wire.ts RETRY_SAFE).
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

MSGPACK_TYPE = "application/msgpack"
IDLE_CLOSE_S = 10.0
LONG_POLL_ANSWER_S = 300.0
RETRY_DELAY_FIRST_S = 0.05
RETRY_DELAY_MAX_S = 1.0
#: Visible ASCII, as the server requires of a bearer token.
_TOKEN_CHARS = frozenset(chr(c) for c in range(0x21, 0x7F))

def _pack(envelope: dict) -> bytes:
    return msgpack.packb({k: v for k, v in envelope.items() if v is not None}, use_bin_type=True)


def _unpack(data: bytes):
    return msgpack.unpackb(data, raw=False, strict_map_key=False)


def is_retry_safe(route: str, envelope: dict) -> bool:
    if route in RETRY_SAFE:
        return True
    return route == "getObject" and envelope.get("mode") in ("lookup", "createIfMissing")


def may_wait(route: str, envelope: dict) -> bool:
    if route in ("queueGet", "queuePut"):
        return envelope.get("timeoutMs") != 0
    if route == "queueNext":
        poll = envelope.get("pollTimeoutMs")
        return isinstance(poll, (int, float)) and poll > 0
    return False


class _WaitIds:
    """Wait ids: a random prefix per process, then a counter (a forked child gets its own prefix)."""

    def __init__(self):
        self._reset()
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=self._reset)

    def _reset(self):
        self.prefix = secrets.token_urlsafe(9)
        self.counter = itertools.count(1)

    def new(self) -> str:
        return f"{self.prefix}{next(self.counter):x}"


wait_ids = _WaitIds()


class _NotSent(Exception):
    """The request never left the client."""


class _Broken(Exception):
    """The connection failed after the request may have been sent."""

    def __init__(self, message: str, timed_out: bool = False):
        super().__init__(message)
        self.timed_out = timed_out


class _ServerUnavailable(UnavailableError):
    """The server answered 503 UNAVAILABLE: it did nothing, so any call may be sent again."""


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


class Transport:
    """Sends calls; thread-safe. Connections are pooled and reused across threads."""

    def __init__(self, url: str, token=None, *, retry_timeout: float = 5.0, answer_timeout: float = 30.0):
        self.url = url
        self.host, self.port, self.base_path = parse_url(url)
        self.token = validate_token(token)
        self.retry_timeout = retry_timeout
        self.answer_timeout = answer_timeout
        self.headers = {"Content-Type": MSGPACK_TYPE, "Accept": MSGPACK_TYPE}
        if self.token is not None:
            self.headers["Authorization"] = f"Bearer {self.token}"
        self._lock = threading.Lock()
        self._idle: list = []  # (connection, last used) pairs, most recent last
        self._pid = os.getpid()
        self._closed = False

    # ---- connections ----

    def _acquire(self):
        now = time.monotonic()
        with self._lock:
            if self._pid != os.getpid():  # a forked child: the parent's sockets are not ours
                self._idle = []
                self._pid = os.getpid()
            while self._idle:
                conn, used = self._idle.pop()
                if now - used < IDLE_CLOSE_S:
                    return conn
                conn.close()
        return http.client.HTTPConnection(self.host, self.port, timeout=max(1.0, self.retry_timeout))

    def _release(self, conn):
        with self._lock:
            if self._closed or self._pid != os.getpid():
                conn.close()
                return
            self._idle.append((conn, time.monotonic()))

    def close(self):
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn, _ in idle:
            conn.close()

    # ---- one request ----

    def _attempt(self, path: str, body: bytes, answer_s: float):
        conn = self._acquire()
        try:
            if conn.sock is None:
                try:
                    conn.connect()
                except OSError as err:
                    raise _NotSent(str(err)) from err
            conn.sock.settimeout(answer_s)
            try:
                conn.request("POST", path, body, self.headers)
                response = conn.getresponse()
                data = response.read()
            except socket.timeout as err:
                raise _Broken(f"no answer within {answer_s} s", timed_out=True) from err
            except (http.client.HTTPException, OSError) as err:
                raise _Broken(f"{type(err).__name__}: {err}") from err
        except BaseException:
            conn.close()
            raise
        if response.will_close:
            conn.close()
        else:
            self._release(conn)
        return response.status, data

    def call(self, route: str, envelope: dict, *, retry_until: float = float("inf"), cancel=None) -> dict:
        """Sends one call and returns the answer map, retrying where that is safe."""
        if self._closed:
            raise ClosedError("the client is closed")
        waits = may_wait(route, envelope)
        retry_safe = is_retry_safe(route, envelope)
        path = self.base_path + PREFIX + ROUTES[route]
        try:
            body = _pack(envelope)
        except UnicodeEncodeError:
            raise InvalidError("strings may not contain lone surrogates (they have no UTF-8 form)") from None
        answer_s = LONG_POLL_ANSWER_S if waits else self.answer_timeout
        started = time.monotonic()
        deadline = None
        delay = RETRY_DELAY_FIRST_S
        while True:
            if self._closed:
                raise ClosedError("the client is closed")
            if cancel is not None and cancel.cancelled:
                raise ClosedError("the call was cancelled")
            try:
                status, data = self._attempt(path, body, answer_s)
                if status == 200:
                    return self._decode(route, data)
                raise _error_from_answer(status, data)
            except (_NotSent, _Broken, _ServerUnavailable) as err:
                may_retry = isinstance(err, (_NotSent, _ServerUnavailable)) or (
                    isinstance(err, _Broken) and not err.timed_out and retry_safe
                )
                if not may_retry:
                    raise self._final_error(route, err) from err
                now = time.monotonic()
                if deadline is None:
                    deadline = min(now + self.retry_timeout, retry_until)
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
                if waits:
                    # A wait sent again waits only what is left of it.
                    envelope = _wait_left(envelope, (time.monotonic() - started) * 1000)
                    body = _pack(envelope)

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

    @staticmethod
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
