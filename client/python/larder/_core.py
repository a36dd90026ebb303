"""Larder's Dict and Queue with Modal's Python API, over Larder's HTTP protocol."""

from __future__ import annotations

import concurrent.futures
import dataclasses
import datetime
import math
import os
import re
import threading
import time
import warnings
from typing import Any, Iterator, Optional

from . import _aio
from ._aio import method
from ._transport import Transport, wait_ids
from .errors import (
    ClosedError,
    InternalError,
    InvalidError,
    KeyError,
    LeaseExpiredError,
    NotFoundError,
    QueueEmptyError,
    QueueFullError,
)
from .keys import decode_key, encode_key
from .values import decode_value, encode_value

DEFAULT_URL = "http://127.0.0.1:7070"
#: Entries per page when iterating a dict (the server may return fewer: it also stops at a byte budget).
DICT_PAGE_ENTRIES = 512
#: Items per page when iterating a queue without removing.
QUEUE_PAGE_ITEMS = 256
#: Threads (and so connections, at most) for ``.aio`` calls that answer at once.
AIO_THREADS = 64

_NAME = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_APP_ID = re.compile(r"^ap-[A-Za-z0-9]{22}$")
_ENVIRONMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{1,63}$")


def _validate_name(kind: str, name) -> str:
    if not isinstance(name, str) or not _NAME.match(name) or _APP_ID.match(name):
        raise InvalidError(
            f"Invalid {kind} name: {name!r}. Names are 1 to 64 characters of letters, digits, '.', '_' "
            "and '-', and may not look like an App id (ap- followed by 22 letters or digits)."
        )
    return name


def _validate_environment(environment) -> Optional[str]:
    if environment is None:
        return None
    if not isinstance(environment, str) or not _ENVIRONMENT.match(environment):
        raise InvalidError(
            f"Invalid environment: {environment!r}. Environments are 2 to 64 characters of letters, digits, "
            "'.', '_' and '-', starting with a letter or digit."
        )
    return environment


def _timeout_ms(name: str, seconds) -> Optional[float]:
    """A timeout in seconds, as the protocol's ms: None waits without limit, 0 is one attempt."""
    if seconds is None:
        return None
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not (seconds >= 0) or math.isinf(seconds):
        raise InvalidError(f"{name} must be None or a non-negative number of seconds, got {seconds!r}")
    return seconds * 1000


def _partition(partition) -> Optional[str]:
    if partition is None:
        return None
    if not isinstance(partition, str):
        raise InvalidError(f"Queue partition key must be a str, got {type(partition).__name__}")
    return partition


def _flag(name: str, value) -> bool:
    if not isinstance(value, bool):
        raise InvalidError(f"{name} must be True or False, got {value!r}")
    return value


class Client:
    """A connection to a Larder server: ``Client(url, token=...)``.

    ``url`` defaults to ``LARDER_URL`` (else ``http://127.0.0.1:7070``), ``token`` to
    ``LARDER_TOKEN``. ``environment`` is the default environment of every call (the
    server's own default when None). Thread-safe, and safe to use after ``fork``: a child
    process opens connections of its own.

    Calls that change state carry a request id, so that a call sent again after a broken
    connection is applied once (``request_ids=False``: not sent again instead). At most
    ``requests_in_flight_max`` requests are in flight for calls that answer at once; calls
    made by other threads meanwhile go together as one batch request (``math.inf``: none).
    """

    def __init__(
        self,
        url: Optional[str] = None,
        token: Optional[str] = None,
        *,
        environment: Optional[str] = None,
        retry_timeout: float = 5.0,
        answer_timeout: float = 30.0,
        heartbeat_interval: float = 30.0,
        requests_in_flight_max: float = 4,
        request_ids: bool = True,
    ):
        if url is None:
            url = os.environ.get("LARDER_URL") or DEFAULT_URL
        if token is None:
            token = os.environ.get("LARDER_TOKEN") or None
        for option, value in (("retry_timeout", retry_timeout), ("answer_timeout", answer_timeout), ("heartbeat_interval", heartbeat_interval)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not (value > 0) or math.isinf(value):
                raise InvalidError(f"{option} must be a positive number of seconds, got {value!r}")
        self.environment = _validate_environment(environment)
        if isinstance(requests_in_flight_max, bool) or not isinstance(requests_in_flight_max, (int, float)) or not (requests_in_flight_max >= 1):
            raise InvalidError(f"requests_in_flight_max must be a number of at least 1 (math.inf: no batching), got {requests_in_flight_max!r}")
        _flag("request_ids", request_ids)
        self._transport = Transport(
            url,
            token,
            retry_timeout=retry_timeout,
            answer_timeout=answer_timeout,
            requests_in_flight_max=requests_in_flight_max,
            request_ids=request_ids,
        )
        self._heartbeat_interval = heartbeat_interval
        self._lock = threading.Lock()
        self._ephemeral: dict = {}  # object id -> kind, kept alive by heartbeats
        self._heartbeat_thread: Optional[threading.Thread] = None
        self._heartbeat_stop = threading.Event()
        self._executors: dict = {}
        self._closed = False
        self._pid = os.getpid()

    @property
    def url(self) -> str:
        return self._transport.url

    @property
    def token(self) -> Optional[str]:
        return self._transport.token

    def __repr__(self) -> str:
        return f"larder.Client({self.url!r})"

    def _call(self, route: str, envelope: dict, **options) -> dict:
        return self._transport.call(route, envelope, **options)

    def _executor(self, waits: bool) -> concurrent.futures.ThreadPoolExecutor:
        with self._lock:
            if self._pid != os.getpid():
                self._executors = {}
                self._pid = os.getpid()
            executor = self._executors.get(waits)
            if executor is None:
                # Waiting calls get a thread each (threads start only when needed).
                executor = concurrent.futures.ThreadPoolExecutor(
                    max_workers=4096 if waits else AIO_THREADS, thread_name_prefix="larder-aio"
                )
                self._executors[waits] = executor
            return executor

    # ---- heartbeats of the ephemeral objects this client made ----

    def _keep_alive(self, kind: str, object_id: str) -> None:
        with self._lock:
            self._ephemeral[object_id] = kind
            if self._heartbeat_thread is None or not self._heartbeat_thread.is_alive() or self._pid != os.getpid():
                self._heartbeat_stop = threading.Event()
                self._heartbeat_thread = threading.Thread(
                    target=self._heartbeats, args=(self._heartbeat_stop,), name="larder-heartbeats", daemon=True
                )
                self._heartbeat_thread.start()

    def _forget(self, object_id: str) -> None:
        with self._lock:
            self._ephemeral.pop(object_id, None)

    def _heartbeats(self, stop: threading.Event) -> None:
        while not stop.wait(self._heartbeat_interval):
            with self._lock:
                objects = list(self._ephemeral.items())
            for object_id, kind in objects:
                try:
                    self._call("heartbeat", {"kind": kind, "id": object_id})
                except NotFoundError:
                    self._forget(object_id)
                except Exception:  # noqa: BLE001 - the next round tries again; expiry is many rounds
                    pass

    def close(self) -> None:
        """Stops heartbeats and closes connections. Ephemeral objects still open are left to expire."""
        self._closed = True
        self._heartbeat_stop.set()
        with self._lock:
            executors, self._executors = list(self._executors.values()), {}
        for executor in executors:
            executor.shutdown(wait=False)
        self._transport.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


_default_client: Optional[Client] = None
_default_lock = threading.Lock()


def default_client() -> Client:
    """The client made from ``LARDER_URL`` and ``LARDER_TOKEN``, shared by handles made without ``client=``."""
    global _default_client
    with _default_lock:
        if _default_client is None or _default_client._closed:
            _default_client = Client()
        return _default_client


_clients_by_address: dict = {}


def _client_for(url: str, token: Optional[str], environment: Optional[str]) -> Client:
    """One client per (url, token, environment) in each process: for handles unpickled in another process."""
    key = (url, token, environment, os.getpid())
    with _default_lock:
        client = _clients_by_address.get(key)
        if client is None or client._closed:
            client = Client(url, token, environment=environment)
            _clients_by_address[key] = client
        return client


@dataclasses.dataclass(frozen=True)
class ObjectInfo:
    """What ``info()`` returns (Modal's DictInfo/QueueInfo, plus the id and environment)."""

    id: str
    name: Optional[str]
    environment: str
    created_at: datetime.datetime
    created_by: Optional[str] = None


DictInfo = ObjectInfo
QueueInfo = ObjectInfo


def _record(answer: dict) -> dict:
    obj = answer.get("object")
    if not isinstance(obj, dict) or not isinstance(obj.get("id"), str):
        raise InternalError("malformed answer from the server: not an object record")
    return obj


def _info(record: dict) -> ObjectInfo:
    created = datetime.datetime.fromtimestamp(record.get("createdAt", 0) / 1000, tz=datetime.timezone.utc)
    return ObjectInfo(
        id=record["id"],
        name=record.get("name") or None,
        environment=record.get("environment", ""),
        created_at=created.astimezone(),
    )


class _Handle:
    _kind = ""  # "dict" or "queue"
    _label = ""  # "Dict" or "Queue"

    def __init__(self, *args, **kwargs):
        raise RuntimeError(
            f"`{type(self).__name__}(...)` constructor is not allowed. Please use `{type(self).__name__}.from_name` "
            f"or `{type(self).__name__}.ephemeral` instead"
        )

    @classmethod
    def _new(cls, client: Optional[Client], *, name=None, environment=None, create_if_missing=False, record=None, object_id=None):
        self = object.__new__(cls)
        self._client = client
        self._name = name
        self._environment = environment
        self._create_if_missing = create_if_missing
        self._record = record
        self._object_id = record["id"] if record is not None else object_id
        self._hydrate_lock = threading.Lock()
        self._closed = False
        return self

    # ---- construction ----

    @classmethod
    def from_name(
        cls,
        name: str,
        *,
        environment_name: Optional[str] = None,
        create_if_missing: bool = False,
        client: Optional[Client] = None,
    ):
        """A handle to the named object; lazy: the server is asked on first use (``NotFoundError`` then, if missing)."""
        _validate_name(cls._label, name)
        _validate_environment(environment_name)
        _flag("create_if_missing", create_if_missing)
        return cls._new(client, name=name, environment=environment_name, create_if_missing=create_if_missing)

    @classmethod
    def from_id(cls, object_id: str, *, client: Optional[Client] = None):
        """A handle to the object with this id; lazy (``NotFoundError`` on first use if there is none)."""
        if not isinstance(object_id, str):
            raise InvalidError(f"{cls._label} ids are strings, got {type(object_id).__name__}")
        return cls._new(client, object_id=object_id)

    @classmethod
    def ephemeral(cls, *, client: Optional[Client] = None, environment_name: Optional[str] = None):
        """A new anonymous object for the duration of a ``with`` (or ``async with``) block, deleted at its end."""
        _validate_environment(environment_name)
        return _Ephemeral(cls, client, environment_name)

    # ---- state ----

    def _client_for_aio(self) -> Client:
        if self._client is None:
            self._client = default_client()
        return self._client

    def _c(self) -> Client:
        client = self._client_for_aio()
        if self._closed:
            raise ClosedError(f"{self._describe()} is closed")
        return client

    def _env(self) -> Optional[str]:
        return self._environment if self._environment is not None else self._c().environment

    def _id(self) -> str:
        if self._object_id is None:
            with self._hydrate_lock:
                if self._object_id is None:
                    answer = self._c()._call(
                        "getObject",
                        {
                            "kind": self._kind,
                            "name": self._name,
                            "environment": self._env(),
                            "mode": "createIfMissing" if self._create_if_missing else "lookup",
                        },
                    )
                    self._record = _record(answer)
                    self._object_id = self._record["id"]
        return self._object_id

    def _describe(self) -> str:
        if self._name:
            return f"{self._label} {self._name!r}"
        return f"ephemeral {self._label} {self._object_id}"

    @property
    def object_id(self) -> str:
        return self._id()

    @property
    def name(self) -> Optional[str]:
        if self._name is None and self._record is not None:
            return self._record.get("name") or None
        return self._name

    @property
    def is_hydrated(self) -> bool:
        return self._object_id is not None

    @method
    def hydrate(self, client: Optional[Client] = None):
        """Asks the server for the object now (``NotFoundError`` if it is missing); returns the handle."""
        if client is not None:
            self._client = client
        self._id()
        if self._record is None:
            self._record = _record(self._c()._call("getObjectById", {"kind": self._kind, "id": self._object_id}))
        return self

    @method
    def info(self) -> ObjectInfo:
        """Name, creation time, environment and id (asks the server)."""
        return _info(_record(self._c()._call("getObjectById", {"kind": self._kind, "id": self._id()})))

    def __repr__(self) -> str:
        return f"<larder.{self._label} {self._name or self._object_id or '?'}>"

    def __reduce__(self):
        # A handle sent to another process (multiprocessing) opens its own connection there.
        client = self._client_for_aio()
        return (_rebuild, (type(self), client.url, client.token, client.environment, self._id(), self.name, self._env()))

    def _close_ephemeral(self) -> None:
        client = self._client_for_aio()
        client._forget(self._object_id)
        try:
            client._call("deleteObjectById", {"kind": self._kind, "id": self._object_id})
        except NotFoundError:
            pass
        finally:
            self._closed = True


def _rebuild(cls, url, token, environment, object_id, name, object_environment):
    handle = cls._new(_client_for(url, token, environment), object_id=object_id, name=name, environment=object_environment)
    return handle


class _Ephemeral:
    """``with Dict.ephemeral() as d:`` and ``async with Dict.ephemeral() as d:``."""

    def __init__(self, cls, client, environment):
        self._cls = cls
        self._client = client
        self._environment = environment
        self._handle = None

    def _client_or_default(self) -> Client:
        return self._client if self._client is not None else default_client()

    def _open(self):
        client = self._client_or_default()
        environment = self._environment if self._environment is not None else client.environment
        answer = client._call("getObject", {"kind": self._cls._kind, "environment": environment, "mode": "ephemeral"})
        record = _record(answer)
        client._keep_alive(self._cls._kind, record["id"])
        self._handle = self._cls._new(client, record=record, environment=environment)
        return self._handle

    def _close(self):
        if self._handle is not None:
            self._handle._close_ephemeral()

    def __enter__(self):
        return self._open()

    def __exit__(self, *exc):
        self._close()

    async def __aenter__(self):
        return await _aio.run(self._client_or_default(), self._open, False)

    async def __aexit__(self, *exc):
        await _aio.run(self._client_or_default(), self._close, False)


class _Objects:
    """``Dict.objects`` / ``Queue.objects``: create, list and delete named objects."""

    def __init__(self, cls):
        self._cls = cls

    def _client_for_aio(self) -> Client:
        return default_client()

    def _call(self, route: str, client: Optional[Client], environment_name: Optional[str], **fields) -> dict:
        """One call on this kind of object in an environment (the client's when None)."""
        client = client or default_client()
        environment = _validate_environment(environment_name) or client.environment
        return client._call(route, {"kind": self._cls._kind, "environment": environment, **fields})

    @method
    def create(self, name: str, *, allow_existing: bool = False, environment_name: Optional[str] = None, client: Optional[Client] = None) -> None:
        """Creates a named object; ``AlreadyExistsError`` if the name is taken, unless ``allow_existing``."""
        _validate_name(self._cls._label, name)
        mode = "createIfMissing" if _flag("allow_existing", allow_existing) else "createFailIfExists"
        self._call("getObject", client, environment_name, name=name, mode=mode)

    @method
    def list(self, *, max_objects: Optional[int] = None, created_before=None, environment_name: Optional[str] = None, client: Optional[Client] = None):
        """Handles to the named objects of the environment, newest first."""
        if max_objects is not None and (isinstance(max_objects, bool) or not isinstance(max_objects, int) or max_objects < 0):
            raise InvalidError("max_objects cannot be negative")
        before = None
        if created_before is not None:
            if isinstance(created_before, str):
                created_before = datetime.datetime.fromisoformat(created_before)
            if not isinstance(created_before, datetime.datetime):
                raise InvalidError("created_before must be a datetime or an ISO date string")
            before = created_before.timestamp() * 1000
        client = client or default_client()
        answer = self._call("listObjects", client, environment_name, maxObjects=max_objects, createdBefore=before)
        records = answer.get("objects")
        if not isinstance(records, list):
            raise InternalError("malformed answer from the server: 'objects' is not an array")
        return [
            self._cls._new(client, record=r, name=r.get("name"), environment=r.get("environment")) for r in records
        ]

    @method
    def delete(self, name: str, *, allow_missing: bool = False, environment_name: Optional[str] = None, client: Optional[Client] = None) -> None:
        """Deletes a named object and everything in it; ``NotFoundError`` unless ``allow_missing``."""
        _validate_name(self._cls._label, name)
        self._call("deleteObject", client, environment_name, name=name, allowMissing=_flag("allow_missing", allow_missing))


class _ObjectsDescriptor:
    def __set_name__(self, owner, name):
        self._name = name

    def __get__(self, obj, owner):
        return _Objects(owner)


_MISSING = object()


def _bytes(answer: dict, field: str) -> Optional[bytes]:
    value = answer.get(field)
    if value is None:
        return None
    if not isinstance(value, bytes):
        raise InternalError(f"malformed answer from the server: '{field}' is not bin")
    return value


class Dict(_Handle):
    """A durable dict on a Larder server, with Modal's ``modal.Dict`` API.

    Keys: str, int, float, bool, bytes, and tuples of these (larder.keys). Values: anything
    the value codec stores (larder.values). Every method also has ``.aio``.
    """

    _kind = "dict"
    _label = "Dict"
    objects = _ObjectsDescriptor()

    @method
    def get(self, key, default=None):
        """The value of ``key``, or ``default`` when it is missing."""
        data = _bytes(self._c()._call("dictGet", {"id": self._id(), "key": encode_key(key)}), "value")
        return default if data is None else decode_value(data)

    def __getitem__(self, key):
        value = self.get(key, _MISSING)
        if value is _MISSING:
            raise KeyError(f"{key!r} not in {self._describe()}")
        return value

    @method
    def put(self, key, value, *, skip_if_exists: bool = False) -> bool:
        """Sets ``key``; with ``skip_if_exists``, only if it is missing (atomic). True when written."""
        _flag("skip_if_exists", skip_if_exists)
        answer = self._c()._call(
            "dictPut",
            {"id": self._id(), "key": encode_key(key), "value": encode_value(value), "skipIfExists": skip_if_exists or None},
        )
        written = answer.get("written")
        if not isinstance(written, bool):
            raise InternalError("malformed answer from the server: 'written' is not a boolean")
        return written

    def __setitem__(self, key, value) -> None:
        self.put(key, value)

    @method
    def update(self, other=None, /, **kwargs) -> None:
        """Sets many keys in one atomic write: a mapping (or an iterable of pairs), then ``kwargs``."""
        merged: dict = {}
        if other is not None:
            pairs = other.items() if hasattr(other, "items") else other
            for pair in pairs:
                try:
                    k, v = pair
                except (TypeError, ValueError):
                    raise InvalidError("update takes a mapping or an iterable of (key, value) pairs") from None
                merged[encode_key(k)] = v
        for k, v in kwargs.items():
            merged[encode_key(k)] = v
        entries = [[k, encode_value(v)] for k, v in merged.items()]
        self._c()._call("dictUpdate", {"id": self._id(), "entries": entries})

    @method
    def pop(self, key, default=_MISSING):
        """Removes ``key`` and returns its value (atomic); ``KeyError`` when missing, unless ``default``."""
        data = _bytes(self._c()._call("dictPop", {"id": self._id(), "key": encode_key(key)}), "value")
        if data is None:
            if default is _MISSING:
                raise KeyError(f"{key!r} not in {self._describe()}")
            return default
        return decode_value(data)

    def __delitem__(self, key) -> None:
        self.pop(key)

    @method
    def contains(self, key) -> bool:
        """Whether ``key`` is in the dict."""
        answer = self._c()._call("dictContains", {"id": self._id(), "key": encode_key(key)})
        contains = answer.get("contains")
        if not isinstance(contains, bool):
            raise InternalError("malformed answer from the server: 'contains' is not a boolean")
        return contains

    def __contains__(self, key) -> bool:
        return self.contains(key)

    @method
    def len(self) -> int:
        """The number of entries."""
        return _int(self._c()._call("dictLen", {"id": self._id()}), "len")

    def __len__(self) -> int:
        return self.len()

    def __bool__(self) -> bool:  # a handle is true, as in Modal; emptiness is len()
        return True

    @method
    def clear(self) -> None:
        """Removes every entry."""
        self._c()._call("dictClear", {"id": self._id()})

    def _scan(self, values: bool) -> Iterator:
        after = None
        while True:
            answer = self._c()._call(
                "dictScan", {"id": self._id(), "after": after, "limit": DICT_PAGE_ENTRIES, "values": values}
            )
            entries = answer.get("entries")
            if not isinstance(entries, list):
                raise InternalError("malformed answer from the server: 'entries' is not an array")
            for entry in entries:
                yield entry
            if not answer.get("more") or not entries:
                return
            after = entries[-1][0]

    @method(generator=True)
    def keys(self) -> Iterator:
        """Every key, in encoded-key order, streamed in pages."""
        for k, _ in self._scan(False):
            yield decode_key(k)

    @method(generator=True)
    def values(self) -> Iterator:
        """Every value, in encoded-key order, streamed in pages."""
        for _, v in self._scan(True):
            yield decode_value(v)

    @method(generator=True)
    def items(self) -> Iterator:
        """Every (key, value), in encoded-key order, streamed in pages."""
        for k, v in self._scan(True):
            yield decode_key(k), decode_value(v)

    def __iter__(self):
        return self.keys()


def _int(answer: dict, field: str) -> int:
    value = answer.get(field)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InternalError(f"malformed answer from the server: '{field}' is not an integer")
    return value


def _may_wait(arguments: dict) -> bool:
    """For ``.aio``: whether a put or get may wait at the server (then it gets a thread of its own)."""
    return arguments.get("block") is not False and arguments.get("timeout") != 0


def _may_wait_iterate(arguments: dict) -> bool:
    return bool(arguments.get("item_poll_timeout"))


class _Wait:
    """A caller's wait as a deadline, in rounds of long-polls (docs/protocol.md, Long-polling)."""

    __slots__ = ("timeout_ms", "deadline", "first")

    def __init__(self, timeout_ms: Optional[float]):
        self.timeout_ms = timeout_ms
        self.deadline = math.inf if timeout_ms is None else time.monotonic() + timeout_ms / 1000
        self.first = True

    def next(self) -> Optional[float]:
        if self.first:
            # The first round is one attempt (timeoutMs 0), which answers at once and so may
            # go in a batch with other threads' calls; the long-polls come after it.
            self.first = False
            return 0.0
        if self.timeout_ms is None:
            return None
        return max(0.0, (self.deadline - time.monotonic()) * 1000)

    @property
    def retry_until(self) -> float:
        return self.deadline if self.timeout_ms is not None and self.timeout_ms > 0 else math.inf

    @property
    def more(self) -> bool:
        return self.timeout_ms != 0 and time.monotonic() < self.deadline


class Queue(_Handle):
    """A durable, partitioned FIFO queue on a Larder server, with Modal's ``modal.Queue`` API.

    Timeouts are in seconds, as in Modal: None waits without limit, 0 is one attempt. Every
    method also has ``.aio``.
    """

    _kind = "queue"
    _label = "Queue"
    objects = _ObjectsDescriptor()

    @staticmethod
    def _wait_ms(block: bool, timeout, ignored: str) -> Optional[float]:
        """A put's or get's wait in ms, as its rounds take it: block=False is one attempt."""
        _flag("block", block)
        if not block:
            if timeout is not None:
                warnings.warn(ignored, stacklevel=4)
            return 0.0
        return _timeout_ms("timeout", timeout)

    def _rounds(self, route: str, envelope: dict, timeout_ms: Optional[float]):
        """The rounds of one wait (docs/protocol.md, Long-polling): sends each and yields its
        answer and whether the wait has time left; a put's QUEUE_FULL is "no room yet"."""
        wait = _Wait(timeout_ms)
        scope = _aio.current_scope()
        wait_id = None
        client = self._c()
        while True:
            ms = wait.next()
            if ms != 0 and wait_id is None:
                wait_id = wait_ids.new()
                if scope is not None:
                    scope.add(wait_id)
            envelope["timeoutMs"] = ms
            envelope["waitId"] = wait_id if ms != 0 else None
            try:
                answer = client._call(route, envelope, retry_until=wait.retry_until, cancel=scope)
            except QueueFullError:
                if not wait.more:
                    raise
                continue
            yield answer, wait.more

    def _put(self, encoded: list, block: bool, timeout, partition, partition_ttl) -> None:
        timeout_ms = self._wait_ms(block, timeout, "`timeout` argument is ignored for non-blocking put.")
        ttl_ms = None
        if partition_ttl is not None:
            if isinstance(partition_ttl, bool) or not isinstance(partition_ttl, (int, float)) or not (partition_ttl > 0):
                raise InvalidError(f"partition_ttl must be a positive number of seconds, got {partition_ttl!r}")
            ttl_ms = partition_ttl * 1000
        envelope = {"id": self._id(), "values": encoded, "partition": _partition(partition), "partitionTtlMs": ttl_ms}
        for _ in self._rounds("queuePut", envelope, timeout_ms):
            return

    @method(waits=_may_wait)
    def put(self, v, block: bool = True, timeout: Optional[float] = None, *, partition: Optional[str] = None, partition_ttl: Optional[float] = None) -> None:
        """Adds ``v`` to the end of the partition; waits for room in a full one (``queue.Full`` after ``timeout``).

        ``partition_ttl`` (seconds): the partition expires this long after its last put
        (None: the server's default, 24 h unless configured; ``math.inf``: never).
        """
        self._put([encode_value(v)], block, timeout, partition, partition_ttl)

    @method(waits=_may_wait)
    def put_many(self, vs: list, block: bool = True, timeout: Optional[float] = None, *, partition: Optional[str] = None, partition_ttl: Optional[float] = None) -> None:
        """Adds every item of ``vs`` to the end of the partition, in order, all or nothing."""
        if isinstance(vs, (str, bytes, dict)) or not hasattr(vs, "__iter__"):
            raise InvalidError("put_many takes a list of values")
        self._put([encode_value(v) for v in vs], block, timeout, partition, partition_ttl)

    def _get(self, n: int, block: bool, timeout, partition) -> list:
        timeout_ms = self._wait_ms(block, timeout, "Timeout is ignored for non-blocking get.")
        envelope = {"id": self._id(), "n": n, "partition": _partition(partition)}
        for answer, more in self._rounds("queueGet", envelope, timeout_ms):
            values = answer.get("values")
            if not isinstance(values, list):
                raise InternalError("malformed answer from the server: 'values' is not an array")
            if values or not more:
                return [decode_value(v) for v in values]
        raise AssertionError("unreachable: the rounds end with an answer")

    @method(waits=_may_wait)
    def get(self, block: bool = True, timeout: Optional[float] = None, *, partition: Optional[str] = None) -> Any:
        """Removes and returns the item at the head of the partition.

        Waits for one (at most ``timeout`` seconds, then ``queue.Empty``); with
        ``block=False``, returns None at once when the partition is empty.
        """
        values = self._get(1, block, timeout, partition)
        if values:
            return values[0]
        if not block:
            return None
        raise QueueEmptyError(f"{self._describe()} did not return values within {timeout} s")

    @method(waits=_may_wait)
    def get_many(self, n_values: int, block: bool = True, timeout: Optional[float] = None, *, partition: Optional[str] = None) -> list:
        """Removes and returns up to ``n_values`` items, as soon as there is at least one."""
        if isinstance(n_values, bool) or not isinstance(n_values, int) or n_values < 1:
            raise InvalidError(f"n_values must be an integer of at least 1, got {n_values!r}")
        values = self._get(n_values, block, timeout, partition)
        if values or not block:
            return values
        raise QueueEmptyError(f"{self._describe()} did not return values within {timeout} s")

    @method
    def len(self, *, partition: Optional[str] = None, total: bool = False) -> int:
        """Items in the partition (the default one if none), or in every partition with ``total``."""
        _flag("total", total)
        if partition is not None and total:
            raise InvalidError("Partition must be null when requesting total length.")
        return _int(self._c()._call("queueLen", {"id": self._id(), "partition": _partition(partition), "total": total or None}), "len")

    @method
    def clear(self, *, partition: Optional[str] = None, all: bool = False) -> None:  # noqa: A002 - Modal's name
        """Removes every item of the partition (the default one if none), or of every partition with ``all``."""
        _flag("all", all)
        if partition is not None and all:
            raise InvalidError("Partition must be null when requesting to clear all.")
        self._c()._call("queueClear", {"id": self._id(), "partition": _partition(partition), "all": all or None})

    @method(generator=True, waits=_may_wait_iterate)
    def iterate(self, *, partition: Optional[str] = None, item_poll_timeout: float = 0.0) -> Iterator:
        """Yields the partition's items without removing them, in FIFO order, including items put meanwhile.

        Ends when no new item arrives for ``item_poll_timeout`` seconds (default 0).
        """
        poll_ms = _timeout_ms("item_poll_timeout", item_poll_timeout) or 0.0
        client = self._c()
        object_id = self._id()
        scope = _aio.current_scope()
        partition = _partition(partition)
        after = None
        deadline = time.monotonic() + poll_ms / 1000
        while True:
            left_ms = max(0.0, (deadline - time.monotonic()) * 1000)
            wait_id = None
            if left_ms > 0:
                wait_id = wait_ids.new()
                if scope is not None:
                    scope.add(wait_id)
            answer = client._call(
                "queueNext",
                {"id": object_id, "partition": partition, "after": after, "limit": QUEUE_PAGE_ITEMS, "pollTimeoutMs": left_ms, "waitId": wait_id},
                cancel=scope,
            )
            items = answer.get("items")
            if not isinstance(items, list):
                raise InternalError("malformed answer from the server: 'items' is not an array")
            if items:
                for item in items:
                    yield decode_value(item["value"])
                    after = item["cursor"]
                deadline = time.monotonic() + poll_ms / 1000
            elif time.monotonic() >= deadline:
                return
            if scope is not None and scope.cancelled:
                raise ClosedError("the call was cancelled")

    def _reserve_envelope(self, n, lease, partition, max_deliveries, dead_letter_partition) -> dict:
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise InvalidError(f"n_values must be an integer of at least 1, got {n!r}")
        envelope = {"id": self._id(), "n": n, "partition": _partition(partition)}
        if lease is not None:
            envelope["leaseMs"] = _positive_ms("lease", lease)
        if max_deliveries is not None:
            if isinstance(max_deliveries, bool) or not isinstance(max_deliveries, int) or max_deliveries < 1:
                raise InvalidError(f"max_deliveries must be a positive integer, got {max_deliveries!r}")
            envelope["maxDeliveries"] = max_deliveries
        if dead_letter_partition is not None:
            envelope["deadLetterPartition"] = _partition(dead_letter_partition)
        return envelope

    @method(waits=_may_wait)
    def reserve(
        self,
        n_values: int = 1,
        block: bool = True,
        timeout: Optional[float] = None,
        *,
        partition: Optional[str] = None,
        lease: Optional[float] = None,
        max_deliveries: Optional[int] = None,
        dead_letter_partition: Optional[str] = None,
    ) -> list:
        """Reserves up to ``n_values`` items for ``lease`` seconds (default 30), as soon as there is
        at least one (contract v2, "Reliable delivery"): they stay in the queue, invisible to
        other getters, until acked (``Reservation.ack`` or ``q.ack``), released, or the lease
        ends; then they are visible again at their place. ``queue.Empty`` after ``timeout``;
        with ``block=False``, one attempt that may return ``[]``."""
        timeout_ms = self._wait_ms(block, timeout, "Timeout is ignored for non-blocking reserve.")
        envelope = self._reserve_envelope(n_values, lease, partition, max_deliveries, dead_letter_partition)
        for answer, more in self._rounds("queueReserve", envelope, timeout_ms):
            records = answer.get("reservations")
            if not isinstance(records, list):
                raise InternalError("malformed answer from the server: 'reservations' is not an array")
            if records or not more:
                break
        if not records and block:
            raise QueueEmptyError(f"{self._describe()} did not return values within {timeout} s")
        return [Reservation._from_record(self, r) for r in records]

    @method
    def ack(self, reservations) -> None:
        """Acks several reservations of this queue in one durable write. Those whose lease had
        ended make a ``LeaseExpiredError`` (its ``refused`` lists them), after the rest are acked."""
        reservations = list(reservations)
        for r in reservations:
            if not isinstance(r, Reservation) or r.queue.object_id != self.object_id:
                raise InvalidError("ack takes reservations of this queue")
        if not reservations:
            return
        by_token = {r.token: r for r in reservations}
        refused = _refused(self._c()._call("queueAck", {"id": self._id(), "tokens": list(by_token)}))
        if refused:
            raise _lease_expired(
                f"{len(refused)} of {len(by_token)} reservations were not acked: their leases have ended",
                [by_token[t] for t in refused if t in by_token],
            )

    @method
    def stats(self) -> dict:
        """``{"partitions": ..., "items": ...}`` for the whole queue."""
        answer = self._c()._call("queueStats", {"id": self._id()})
        return {"partitions": _int(answer, "partitions"), "items": _int(answer, "items")}


def _positive_ms(name: str, seconds) -> float:
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not (seconds > 0) or math.isinf(seconds):
        raise InvalidError(f"{name} must be a positive number of seconds, got {seconds!r}")
    return round(seconds * 1000)


def _refused(answer: dict) -> list:
    refused = answer.get("refused")
    if not isinstance(refused, list):
        raise InternalError("malformed answer from the server: 'refused' is not an array")
    return refused


def _lease_expired(message: str, refused: list) -> LeaseExpiredError:
    err = LeaseExpiredError(message)
    err.refused = refused
    return err


class Reservation:
    """An item reserved by ``Queue.reserve``: ``value``, ``deliveries`` (1 on the first
    reservation), ``partition`` (None: the default one), ``lease_ends_at`` (an aware datetime),
    and ``ack()``, ``release(delay=0)``, ``extend(seconds)``, each with ``.aio``."""

    __slots__ = ("queue", "token", "value", "deliveries", "partition", "lease_ends_at")

    @classmethod
    def _from_record(cls, queue: "Queue", record) -> "Reservation":
        if not isinstance(record, dict) or not isinstance(record.get("token"), str) or not isinstance(record.get("value"), bytes):
            raise InternalError("malformed answer from the server: a reservation without token or value")
        self = object.__new__(cls)
        self.queue = queue
        self.token = record["token"]
        self.value = decode_value(record["value"])
        self.deliveries = record.get("deliveries")
        self.partition = record.get("partition") or None
        self.lease_ends_at = _datetime_ms(record.get("leaseEndsAt"))
        return self

    def __repr__(self) -> str:
        return f"<larder.Reservation {self.token} of {self.queue!r}, delivery {self.deliveries}>"

    def _client_for_aio(self) -> Client:
        return self.queue._client_for_aio()

    @method
    def ack(self) -> None:
        """Done: the item is removed for good (durable on return). ``LeaseExpiredError`` if its lease had ended."""
        if _refused(self.queue._c()._call("queueAck", {"id": self.queue._id(), "tokens": [self.token]})):
            raise _lease_expired(f"{self!r} was not acked: its lease has ended", [self])

    @method
    def release(self, delay: float = 0) -> None:
        """Ends the lease now: the item is visible again at its place (after ``delay`` seconds)."""
        if isinstance(delay, bool) or not isinstance(delay, (int, float)) or not (delay >= 0) or math.isinf(delay):
            raise InvalidError(f"delay must be a non-negative number of seconds, got {delay!r}")
        self.queue._c()._call("queueRelease", {"id": self.queue._id(), "token": self.token, "delayMs": round(delay * 1000)})

    @method
    def extend(self, seconds: float) -> None:
        """The lease now ends ``seconds`` from now (it may shorten it); updates ``lease_ends_at``."""
        answer = self.queue._c()._call("queueExtend", {"id": self.queue._id(), "token": self.token, "ms": _positive_ms("seconds", seconds)})
        self.lease_ends_at = _datetime_ms(answer.get("leaseEndsAt"))


def _datetime_ms(ms) -> datetime.datetime:
    if isinstance(ms, bool) or not isinstance(ms, (int, float)):
        raise InternalError("malformed answer from the server: 'leaseEndsAt' is not a number")
    return datetime.datetime.fromtimestamp(ms / 1000, tz=datetime.timezone.utc)
