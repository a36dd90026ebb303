"""Value codec: Python values to and from the bytes Larder stores (proto/values.ts).

PROVISIONAL: standard MessagePack for the types whose encoding is the same in every
format (None, bool, int, float, str, bytes, list, dict with str keys); the extension
table of format v3 (docs/format.md) follows.
"""

from __future__ import annotations

import msgpack

from .errors import DeserializationError, InvalidError

__all__ = ["encode_value", "decode_value"]


def encode_value(value) -> bytes:
    try:
        return msgpack.packb(value, use_bin_type=True)
    except (TypeError, ValueError, OverflowError, UnicodeEncodeError) as err:
        raise InvalidError(f"cannot store {type(value).__name__}: {err}") from None


def decode_value(data: bytes):
    try:
        return msgpack.unpackb(data, raw=False, strict_map_key=False)
    except Exception as err:  # noqa: BLE001
        raise DeserializationError(f"stored bytes are not a Larder value: {err}") from None
