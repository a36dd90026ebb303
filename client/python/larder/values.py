"""Value codec: Python values to and from the bytes Larder stores (value format 3).

A value is exactly one standard MessagePack object, with every header in its smallest form,
plus a small table of extension types for what MessagePack lacks (docs/format.md,
proto/values.ts). The same value gives the same bytes from Python and from TypeScript.

Python writes:

==============================  ===========================================  ==============
Python                          MessagePack                                  TypeScript
==============================  ===========================================  ==============
``None``, ``bool``              nil, bool                                    null, boolean
``int``, abs(n) <= 2**53 - 1    int, smallest form                           number
``int`` beyond, ``BigInt(n)``   ext 1 bigint (two's complement, big-endian)  bigint
``float``                       float 64 (NaN as ``7ff8000000000000``)       number
``str``                         str (UTF-8)                                  string
``bytes``, ``bytearray``,       bin                                          Uint8Array
``memoryview``
``list``, ``tuple``             array                                        Array
``dict`` with only str keys     map                                          plain object
``dict`` with other keys        ext 2 Map (a map whose keys are any values)  Map
``set``, ``frozenset``          ext 3 Set (an array of the elements)         Set
``datetime``                    ext -1 timestamp (naive is taken as UTC)     Date
``array.array``                 bin (typecode B), else ext 4 typed array     typed array
``JSRegExp(source, flags)``     ext 5 RegExp                                 RegExp
==============================  ===========================================  ==============

Python reads the same back, and also: ext 0 (TypeScript's ``undefined`` inside a container)
as None, a timestamp as an aware UTC ``datetime``, ext 4 ArrayBuffer and Buffer as
``bytes``, an array used as a Map key or Set element as a ``tuple``. A bigint within
2**53 - 1 (TypeScript ``5n``) comes back as ``BigInt(5)``, an ``int`` that is written as a
bigint again, so such a value survives TypeScript -> Python -> TypeScript.

Anything else is ``InvalidError`` before anything is sent; bytes that are not such a value
are ``DeserializationError``.
"""

from __future__ import annotations

import array
import datetime
import math
import struct
import sys
import threading
from collections import namedtuple

import msgpack

from .errors import DeserializationError, InvalidError
from .keys import BigInt

__all__ = ["encode_value", "decode_value", "JSRegExp", "VALUE_NESTING_MAX"]

#: Deepest nesting of containers (list, dict, Map, Set) around any leaf.
VALUE_NESTING_MAX = 512

_SAFE_INT = 2**53 - 1

EXT_UNDEFINED = 0
EXT_BIGINT = 1
EXT_MAP = 2
EXT_SET = 3
EXT_VIEW = 4
EXT_REGEXP = 5


class JSRegExp(namedtuple("JSRegExp", ["source", "flags"])):
    """A JavaScript RegExp (``/a+/g`` is ``JSRegExp("a+", "g")``), stored as ext 5."""

    __slots__ = ()


# ext 4 kinds: array.array typecodes by kind, and the kind of each typecode.
_VIEW_TYPECODES = {1: "b", 2: "B", 3: "h", 4: "H", 5: "i", 6: "I", 7: "f", 8: "d", 9: "q", 10: "Q"}
_VIEW_ITEMSIZE = {1: 1, 2: 1, 3: 2, 4: 2, 5: 4, 6: 4, 7: 4, 8: 8, 9: 8, 10: 8}
_VIEW_BYTES = (11, 12)  # ArrayBuffer, Node.js Buffer


def _kind_of(typecode: str, itemsize: int):
    signed = typecode in "bhilq"
    if typecode in "fd":
        return 7 if itemsize == 4 else 8
    if typecode == "u" or typecode == "w":
        return None
    return {1: 1 if signed else None, 2: 3 if signed else 4, 4: 5 if signed else 6, 8: 9 if signed else 10}.get(itemsize)


_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
_NAN = float("nan")
_LITTLE = sys.byteorder == "little"

_pack = msgpack.Packer(use_bin_type=True, autoreset=True).pack
_map_header = msgpack.Packer(use_bin_type=True, autoreset=True).pack_map_header


def _refuse(value, why: str = ""):
    raise InvalidError(
        f"cannot store {type(value).__name__}{why}: values are None, bool, int, float, str, bytes, list, tuple, "
        "dict, set, frozenset, datetime, array.array and larder.JSRegExp, nested in any way"
    )


def _bigint(n: int) -> msgpack.ExtType:
    length = (n if n >= 0 else -n - 1).bit_length() // 8 + 1
    return msgpack.ExtType(EXT_BIGINT, n.to_bytes(length, "big", signed=True))


def _timestamp(value: datetime.datetime) -> msgpack.Timestamp:
    if value.tzinfo is None:
        value = value.replace(tzinfo=datetime.timezone.utc)
    delta = value - _EPOCH
    seconds = delta.days * 86400 + delta.seconds
    return msgpack.Timestamp(seconds, delta.microseconds * 1000)


def _convert(value, depth: int, state: list):
    """The value as what msgpack packs natively: lists, str-keyed dicts, ExtType, Timestamp.

    ``state`` is [ids of the containers being converted, deepest container depth seen].
    Loops rather than comprehensions: one Python frame per level of nesting.
    """
    kind = type(value)
    if kind is str or value is None or kind is bool:
        return value
    if kind is int or (isinstance(value, int) and not isinstance(value, (bool, BigInt))):
        value = int(value)
        return value if -_SAFE_INT <= value <= _SAFE_INT else _bigint(value)
    if kind is float or isinstance(value, float):
        return _NAN if value != value else float(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, BigInt):
        return _bigint(int(value))
    if kind is bytes:
        return value
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, datetime.datetime):
        return _timestamp(value)
    if isinstance(value, JSRegExp):
        if not isinstance(value.source, str) or not isinstance(value.flags, str):
            _refuse(value, " whose source or flags are not str")
        return msgpack.ExtType(EXT_REGEXP, _pack([value.source, value.flags]))
    if isinstance(value, array.array):
        if value.typecode == "B":
            return value.tobytes()
        view_kind = _kind_of(value.typecode, value.itemsize)
        if view_kind is None:
            _refuse(value, f" of typecode {value.typecode!r}")
        if not _LITTLE:
            value = array.array(value.typecode, value)
            value.byteswap()
        return msgpack.ExtType(EXT_VIEW, bytes([view_kind]) + value.tobytes())
    if isinstance(value, (list, tuple, dict, set, frozenset)):
        if depth >= VALUE_NESTING_MAX:
            raise InvalidError(f"values may nest containers at most {VALUE_NESTING_MAX} deep")
        if depth >= state[1]:
            state[1] = depth + 1
        active = state[0]
        ident = id(value)
        if ident in active:
            raise InvalidError("cannot store a value that contains itself")
        active.add(ident)
        try:
            if isinstance(value, (list, tuple)):
                out = []
                for item in value:
                    out.append(_convert(item, depth + 1, state))
                return out
            if isinstance(value, dict):
                if all(isinstance(k, str) for k in value):
                    out = {}
                    for k, v in value.items():
                        out[str(k)] = _convert(v, depth + 1, state)
                    return out
                parts = [_map_header(len(value))]
                for k, v in value.items():
                    parts.append(_pack_deep(_convert(k, depth + 1, state), state))
                    parts.append(_pack_deep(_convert(v, depth + 1, state), state))
                return msgpack.ExtType(EXT_MAP, b"".join(parts))
            elements = []
            for item in value:
                elements.append(_convert(item, depth + 1, state))
            return msgpack.ExtType(EXT_SET, _pack_deep(elements, state))
        finally:
            active.discard(ident)
    _refuse(value)


#: msgpack's packer stops at 511 nested containers; deeper converted trees are written here.
_PACKER_DEPTH_MAX = 500
_array_header = msgpack.Packer(use_bin_type=True, autoreset=True).pack_array_header


def _write(value, out: list) -> None:
    kind = type(value)
    if kind is list:
        out.append(_array_header(len(value)))
        for item in value:
            _write(item, out)
    elif kind is dict:
        out.append(_map_header(len(value)))
        for k, v in value.items():
            out.append(_pack(k))
            _write(v, out)
    else:
        out.append(_pack(value))


def _pack_deep(converted, state: list) -> bytes:
    if state[1] < _PACKER_DEPTH_MAX:
        return _pack(converted)
    out: list = []
    _write(converted, out)
    return b"".join(out)


def encode_value(value) -> bytes:
    """The stored bytes of ``value``; ``InvalidError`` for what the format cannot hold exactly."""
    kind = type(value)
    try:
        if kind is str or kind is bytes or value is None or kind is bool:
            return _pack(value)
        if kind is int and -_SAFE_INT <= value <= _SAFE_INT:
            return _pack(value)
        state = [set(), 0]
        return _pack_deep(_convert(value, 0, state), state)
    except UnicodeEncodeError:
        raise InvalidError("cannot store a str with a lone surrogate: it has no UTF-8 form") from None
    except RecursionError:
        raise InvalidError("cannot store a value nested this deep in this Python (its recursion limit)") from None


# ---- decoding ----


class _Decode(Exception):
    """A decode error inside a hook, carried out of msgpack as itself."""


def _plain_map(pairs):
    out = {}
    for k, v in pairs:
        if type(k) is not str:
            raise _Decode(f"a map key that is not a str ({type(k).__name__}): maps with other keys are ext 2")
        out[k] = v
    if len(out) != len(pairs):
        raise _Decode("duplicate keys in a map")
    return out


def _hashable(value):
    if type(value) is list:
        return tuple(_hashable(v) for v in value)
    try:
        hash(value)
    except TypeError:
        raise _Decode(f"a Map key or Set element that Python cannot hash ({type(value).__name__})") from None
    return value


_mode = threading.local()


def _timestamps() -> int:
    """msgpack's timestamp option: 3 (aware datetime), or 0 (Timestamp, which checks nanoseconds)."""
    return getattr(_mode, "timestamp", 3)


def _unpack_one(payload: bytes):
    return msgpack.unpackb(
        payload, raw=False, strict_map_key=False, object_pairs_hook=_plain_map, ext_hook=_ext, timestamp=_timestamps()
    )


def _map_payload(payload: bytes) -> dict:
    if not payload:
        raise _Decode("an empty Map payload")
    head = payload[0]
    if 0x80 <= head <= 0x8F:
        count, start = head & 0x0F, 1
    elif head == 0xDE and len(payload) >= 3:
        count, start = struct.unpack_from(">H", payload, 1)[0], 3
    elif head == 0xDF and len(payload) >= 5:
        count, start = struct.unpack_from(">I", payload, 1)[0], 5
    else:
        raise _Decode("a Map payload that is not a map")
    unpacker = msgpack.Unpacker(
        raw=False, strict_map_key=False, object_pairs_hook=_plain_map, ext_hook=_ext, timestamp=_timestamps(),
        max_buffer_size=max(len(payload), 1),
    )
    unpacker.feed(payload[start:])
    out = {}
    try:
        for _ in range(count):
            k = _hashable(unpacker.unpack())
            out[k] = unpacker.unpack()
    except msgpack.OutOfData:
        raise _Decode("a truncated Map payload") from None
    if unpacker.tell() != len(payload) - start:
        raise _Decode("bytes after the map in a Map payload")
    if len(out) != count:
        raise _Decode("duplicate keys in a Map")
    return out


def _ext(code: int, payload: bytes):
    if code == EXT_UNDEFINED:
        if payload:
            raise _Decode("an undefined (ext 0) with a payload")
        return None
    if code == EXT_BIGINT:
        if not payload:
            raise _Decode("an empty bigint payload")
        n = int.from_bytes(payload, "big", signed=True)
        return BigInt(n) if -_SAFE_INT <= n <= _SAFE_INT else n
    if code == EXT_MAP:
        return _map_payload(payload)
    if code == EXT_SET:
        elements = _unpack_one(payload)
        if type(elements) is not list:
            raise _Decode("a Set payload that is not an array")
        out = {_hashable(e) for e in elements}
        if len(out) != len(elements):
            raise _Decode("duplicate elements in a Set")
        return out
    if code == EXT_VIEW:
        if not payload:
            raise _Decode("a typed array without its kind byte")
        view_kind, raw = payload[0], payload[1:]
        if view_kind in _VIEW_BYTES:
            return bytes(raw)
        typecode = _VIEW_TYPECODES.get(view_kind)
        if typecode is None:
            raise _Decode(f"a typed array of unknown kind {view_kind}")
        size = _VIEW_ITEMSIZE[view_kind]
        if typecode in "iI" and array.array(typecode).itemsize != 4:
            typecode = "l" if typecode == "i" else "L"
        if len(raw) % size:
            raise _Decode(f"a typed array of {len(raw)} bytes, not a multiple of {size}")
        out = array.array(typecode)
        out.frombytes(raw)
        if not _LITTLE:
            out.byteswap()
        return out
    if code == EXT_REGEXP:
        parts = _unpack_one(payload)
        if type(parts) is not list or len(parts) != 2 or not all(type(p) is str for p in parts):
            raise _Decode("a RegExp payload that is not [source, flags]")
        return JSRegExp(parts[0], parts[1])
    raise _Decode(f"unknown extension type {code}")


def _too_deep(value) -> bool:
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        kind = type(item)
        if kind is list or kind is tuple or kind is set:
            if depth >= VALUE_NESTING_MAX:
                return True
            stack.extend((v, depth + 1) for v in item if type(v) in (list, tuple, set, dict))
        elif kind is dict:
            if depth >= VALUE_NESTING_MAX:
                return True
            stack.extend((v, depth + 1) for v in item.values() if type(v) in (list, tuple, set, dict))
            stack.extend((k, depth + 1) for k in item if type(k) is tuple)
    return False


def _bad_timestamp(data: bytes) -> bool:
    """Whether a timestamp 64 or 96 with nanoseconds over 999,999,999 may be in ``data``.

    msgpack's datetime decoding does not check them; its Timestamp does. The byte patterns
    may also occur inside strings, so a hit is confirmed by decoding to Timestamp objects.
    """
    for pattern, width in ((b"\xd7\xff", 4), (b"\xc7\x0c\xff", 4)):
        at = data.find(pattern)
        while at >= 0:
            start = at + len(pattern)
            raw = data[start:start + width]
            if len(raw) == width:
                ns = int.from_bytes(raw, "big") >> 2 if width == 4 and pattern == b"\xd7\xff" else int.from_bytes(raw, "big")
                if ns > 999_999_999:
                    return True
            at = data.find(pattern, at + 1)
    return False


def decode_value(data: bytes):
    """The value stored as ``data``; ``DeserializationError`` if it is not one well-formed value."""
    # The common value, a short string: its bytes after a one- or two-byte header.
    head = data[0] if data else -1
    if 0xA0 <= head <= 0xBF and len(data) == 1 + (head & 0x1F) or head == 0xD9 and len(data) >= 2 and len(data) == 2 + data[1]:
        try:
            return data[1 if head <= 0xBF else 2:].decode("utf-8")
        except UnicodeDecodeError as err:
            raise DeserializationError(f"malformed value: a str that is not UTF-8: {err}") from None
    if data == b"\xc7\x00\x00":
        raise DeserializationError("an undefined (ext 0) as a whole value: it means 'missing'")
    try:
        if _bad_timestamp(data):
            # Raises ValueError if a real timestamp has them.
            _mode.timestamp = 0
            try:
                _unpack_one(data)
            finally:
                _mode.timestamp = 3
        value = _unpack_one(data)
    except _Decode as err:
        raise DeserializationError(f"malformed value: {err}") from None
    except (msgpack.ExtraData, ValueError, TypeError, OverflowError, msgpack.StackError, RecursionError) as err:
        raise DeserializationError(f"malformed value: {type(err).__name__}: {err}") from None
    if len(data) > VALUE_NESTING_MAX and _too_deep(value):
        raise DeserializationError(f"malformed value: containers nested more than {VALUE_NESTING_MAX} deep")
    return value
