"""Larder's Python client: durable Dicts and Queues on a Larder server, with Modal's API.

    import larder

    d = larder.Dict.from_name("pages", create_if_missing=True)
    d["home"] = {"title": "Home"}
    with larder.Queue.ephemeral() as q:
        q.put_many([1, 2, 3])
        assert q.get_many(10, timeout=1) == [1, 2, 3]

The server is ``LARDER_URL`` (default ``http://127.0.0.1:7070``) with ``LARDER_TOKEN``, or
``client=larder.Client(url, token=...)`` on any constructor. See client/python/README.md.
"""

from ._core import Client, Dict, DictInfo, ObjectInfo, Queue, QueueInfo, default_client
from .errors import (
    AlreadyExistsError,
    AuthError,
    ClosedError,
    DeserializationError,
    InternalError,
    InvalidError,
    KeyError,
    LarderError,
    LeaseExpiredError,
    LockedError,
    NotFoundError,
    QueueEmptyError,
    QueueFullError,
    RequestSizeError,
    ResourceExhaustedError,
    UnavailableError,
)
from .keys import BigInt
from .values import JSRegExp

__version__ = "0.1.0"

__all__ = [
    "Client",
    "Dict",
    "Queue",
    "DictInfo",
    "QueueInfo",
    "ObjectInfo",
    "BigInt",
    "JSRegExp",
    "default_client",
    "LarderError",
    "InvalidError",
    "NotFoundError",
    "AlreadyExistsError",
    "KeyError",
    "QueueEmptyError",
    "QueueFullError",
    "RequestSizeError",
    "ResourceExhaustedError",
    "DeserializationError",
    "AuthError",
    "LockedError",
    "ClosedError",
    "UnavailableError",
    "LeaseExpiredError",
    "InternalError",
]
