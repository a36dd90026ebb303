"""Larder's error classes, one per stable code of the contract (docs/errors.md).

The server answers an error as JSON ``{"code": ..., "message": ...}``; the client rebuilds
the class from ``code`` with :func:`error_from_code`, so the same class arrives in Python as
in TypeScript. Where Python has its own exception for the same event, Larder's class is also
a subclass of it: ``QueueEmptyError`` is a ``queue.Empty``, ``QueueFullError`` a
``queue.Full`` and ``KeyError`` a builtin ``KeyError``, so Modal-style code that catches
``queue.Empty`` keeps working.
"""

from __future__ import annotations

import builtins
import queue as _queue



#: Each code's class: the first class defined with it (a subclass of the same code is not it).
_BY_CODE: dict = {}


class LarderError(Exception):
    """Base class of every error Larder raises on purpose. ``code`` is stable; the message is not."""

    code = "INTERNAL"

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        _BY_CODE.setdefault(cls.code, cls)

    def __init__(self, message: str | None = None):
        super().__init__(message if message is not None else f"{type(self).__name__} ({self.code})")

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""

    def __str__(self) -> str:
        return self.message


class InvalidError(LarderError):
    """A bad argument: wrong type, out of range, invalid name, environment or partition key."""

    code = "INVALID"


class NotFoundError(LarderError):
    """No object with that name or id in that environment, or it was deleted."""

    code = "NOT_FOUND"


class AlreadyExistsError(LarderError):
    """``create`` of a name that already exists, without ``allow_existing``."""

    code = "ALREADY_EXISTS"


class KeyError(LarderError, builtins.KeyError):  # noqa: A001 - the contract's class name
    """A missing dict key (``d[k]``, ``del d[k]``, ``pop(k)`` without a default)."""

    code = "KEY_NOT_FOUND"

    def __str__(self) -> str:  # builtins.KeyError would repr() the message
        return self.message


class QueueEmptyError(LarderError, _queue.Empty):
    """``Queue.get``/``get_many`` found no item within the timeout."""

    code = "QUEUE_EMPTY"


class QueueFullError(LarderError, _queue.Full):
    """``Queue.put``/``put_many`` found no room in the partition within the timeout."""

    code = "QUEUE_FULL"


class RequestSizeError(LarderError):
    """A key, value, item or request over its size limit; nothing of the call was written."""

    code = "TOO_LARGE"


class ResourceExhaustedError(LarderError):
    """A count limit reached: partitions per queue, or bytes per dict."""

    code = "RESOURCE_EXHAUSTED"


class DeserializationError(LarderError):
    """Stored or received bytes that the codec cannot decode."""

    code = "DESERIALIZATION"


class AuthError(LarderError):
    """A missing or wrong bearer token; nothing was read or written."""

    code = "UNAUTHENTICATED"


class LockedError(LarderError):
    """The data folder is already open, in this or another process."""

    code = "LOCKED"


class ClosedError(LarderError):
    """The client or handle was closed, or a wait was cancelled."""

    code = "CLOSED"


class UnavailableError(LarderError):
    """The server could not be reached after bounded retries."""

    code = "UNAVAILABLE"


class LeaseExpiredError(LarderError):
    """A reservation whose lease has ended (contract v2)."""

    code = "LEASE_EXPIRED"


class InternalError(LarderError):
    """A bug or a storage failure; the details are logged on the server, not sent."""

    code = "INTERNAL"


#: The classes, in the order of the contract's table; ``from larder.errors import *`` gives them.
__all__ = ["LarderError", *(cls.__name__ for cls in _BY_CODE.values()), "error_from_code"]


def error_from_code(code: str, message: str) -> LarderError:
    """The error class for a code received from a server; an unknown code is ``InternalError``."""
    cls = _BY_CODE.get(code)
    if cls is None:
        return InternalError(f"{code}: {message}")
    return cls(message)
