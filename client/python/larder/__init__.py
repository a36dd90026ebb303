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

from ._core import Client, Dict, DictInfo, ObjectInfo, Queue, QueueInfo, Reservation, default_client
from . import errors as _errors
from .errors import *  # noqa: F403 - the error classes, listed in errors.__all__
from .keys import BigInt
from .values import JSRegExp

__version__ = "0.1.0"

__all__ = [
    "Client",
    "Dict",
    "Queue",
    "Reservation",
    "DictInfo",
    "QueueInfo",
    "ObjectInfo",
    "BigInt",
    "JSRegExp",
    "default_client",
    *(name for name in _errors.__all__ if name != "error_from_code"),
]
