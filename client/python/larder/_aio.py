"""``.aio``: the asyncio form of every method, as in Modal (``await d.get.aio(k)``).

Each call runs the blocking method in a worker thread of the client, so the event loop never
blocks. Calls that answer at once share a bounded pool of threads (and so of connections);
calls that may wait (a queue get or put, an iterate that polls) get threads of their own, so
that however many are waiting, the put that ends their wait is never stuck behind them.

A waiting call whose task is cancelled (``asyncio.wait_for``, ``task.cancel()``) asks the
server to end its wait (``POST /v1/waits/cancel``, docs/protocol.md), so its thread stops
at once instead of taking an item nobody will read. An item the server had already handed
to it is lost, as it would be for a cancelled Modal call.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import threading

_scope: contextvars.ContextVar = contextvars.ContextVar("larder_cancel_scope", default=None)


class CancelScope:
    """The waits one ``.aio`` call has in flight, to end them at the server if it is cancelled."""

    __slots__ = ("client", "cancelled", "wait_ids", "lock")

    def __init__(self, client):
        self.client = client
        self.cancelled = False
        self.wait_ids: set = set()
        self.lock = threading.Lock()

    def add(self, wait_id: str) -> None:
        with self.lock:
            self.wait_ids.add(wait_id)
            cancelled = self.cancelled
        if cancelled:
            self._send([wait_id])

    def cancel(self) -> None:
        with self.lock:
            self.cancelled = True
            ids = list(self.wait_ids)
        if ids:
            threading.Thread(target=self._send, args=(ids,), daemon=True).start()

    def _send(self, ids) -> None:
        try:
            self.client._call("waitsCancel", {"waitIds": ids})
        except Exception:  # noqa: BLE001 - best effort: the wait ends by its own timeout otherwise
            pass


def current_scope():
    return _scope.get()


async def run(client, fn, waits: bool):
    """Runs ``fn()`` in one of the client's threads and awaits its result."""
    loop = asyncio.get_running_loop()
    scope = CancelScope(client)
    context = contextvars.copy_context()
    context.run(_scope.set, scope)
    future = loop.run_in_executor(client._executor(waits), context.run, fn)
    try:
        return await future
    except asyncio.CancelledError:
        scope.cancel()
        raise


_DONE = object()


def _next(iterator):
    return next(iterator, _DONE)


async def iterate(client, iterator, waits: bool):
    """An async iterator over a blocking one, each step in one of the client's threads."""
    scope = CancelScope(client)
    context = contextvars.copy_context()
    context.run(_scope.set, scope)
    loop = asyncio.get_running_loop()
    executor = client._executor(waits)
    try:
        while True:
            future = loop.run_in_executor(executor, context.run, _next, iterator)
            try:
                item = await future
            except asyncio.CancelledError:
                scope.cancel()
                raise
            if item is _DONE:
                return
            yield item
    finally:
        close = getattr(iterator, "close", None)
        if close is not None:
            await loop.run_in_executor(executor, context.run, close)


class method:
    """Marks a blocking method; ``obj.name(...)`` calls it, ``obj.name.aio(...)`` awaits it."""

    def __init__(self, fn=None, *, waits: bool = False, generator: bool = False):
        self.waits = waits
        self.generator = generator
        self.fn = None
        if fn is not None:
            self._wrap(fn)

    def _wrap(self, fn):
        self.fn = fn
        self.signature = inspect.signature(fn) if callable(self.waits) else None
        functools.update_wrapper(self, fn)
        return self

    def __call__(self, fn):  # used as @method(waits=True)
        return self._wrap(fn)

    def __get__(self, obj, objtype=None):
        if obj is None:
            return self
        return _Bound(obj, self)


class _Bound:
    __slots__ = ("_obj", "_method")

    def __init__(self, obj, m: method):
        self._obj = obj
        self._method = m

    def __call__(self, *args, **kwargs):
        return self._method.fn(self._obj, *args, **kwargs)

    @property
    def __doc__(self):
        return self._method.fn.__doc__

    def __repr__(self) -> str:
        return f"<larder method {self._method.fn.__qualname__} of {self._obj!r}>"

    def aio(self, *args, **kwargs):
        m = self._method
        client = self._obj._client_for_aio()
        if callable(m.waits):
            try:
                bound = m.signature.bind(self._obj, *args, **kwargs)
            except TypeError:
                waits = True  # the call itself raises the TypeError, in its thread
            else:
                bound.apply_defaults()
                waits = m.waits(bound.arguments)
        else:
            waits = m.waits
        if m.generator:
            return iterate(client, m.fn(self._obj, *args, **kwargs), waits)
        return run(client, functools.partial(m.fn, self._obj, *args, **kwargs), waits)
