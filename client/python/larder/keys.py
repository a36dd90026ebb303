"""Dict key codec: the byte encoding of proto/keys.ts, written again in Python.

Two keys are the same key exactly when their encodings are equal bytes, in Python and in
TypeScript alike, and ``keys()`` yields keys in the byte order of their encodings. The
grammar (docs/format.md, proto/keys.ts; every tag byte is persisted)::

    key       = element
    element   = false | true | number | bigint | string | bytes | array
    false     = 0x10
    true      = 0x11
    number    = 0x20 f64-ordered              ; 8 bytes
    bigint    = 0x28 (0xff - len) ~magnitude  ; negative: len bytes of |n|, inverted
              | 0x29 len magnitude            ; zero or positive: big-endian, no leading zero
    string    = 0x30 escaped(UTF-8) 0x00
    bytes     = 0x38 escaped(raw) 0x00
    array     = 0x40 element* 0x00
    escaped   = each 0x00 byte written as 0x00 0xff

f64-ordered is the IEEE 754 big-endian double with the sign bit flipped for positive numbers
(and NaN, written in one canonical form) and every bit flipped for negative ones; -0 is 0.

Python types, both ways:

=====================  ====================  ==========================================
Python key             encoded as            decoded back as
=====================  ====================  ==========================================
``bool``               false / true          ``bool``
``int``, abs <= 2**53  number (a JS number)  ``int`` (a number that is a whole number
                                             within 2**53)
``int`` beyond 2**53   bigint                ``int``
``BigInt(n)``          bigint                ``int``, or ``BigInt`` within 2**53
``float``              number                ``float``, or ``int`` when it is a whole
                                             number within 2**53 (``1.0 == 1``)
``str``                string                ``str``
``bytes``,             bytes                 ``bytes``
``bytearray``,
``memoryview``
``tuple``, ``list``    array                 ``tuple`` (hashable)
=====================  ====================  ==========================================

So ``d[1]`` from Python and ``d.put(1, ...)`` from TypeScript are one key, as are
``d[("a", 2)]`` and ``d.put(["a", 2], ...)``. A TypeScript bigint key within 2**53 (``5n``)
comes back as ``BigInt(5)``, an ``int`` that encodes as a bigint again, so every key that
``keys()`` yields finds its entry.
"""

from __future__ import annotations

import math
import struct

from .errors import DeserializationError, InvalidError

__all__ = ["BigInt", "encode_key", "decode_key", "KEY_DEPTH_MAX"]

_TAG_FALSE = 0x10
_TAG_TRUE = 0x11
_TAG_NUMBER = 0x20
_TAG_BIGINT_NEG = 0x28
_TAG_BIGINT_POS = 0x29
_TAG_STRING = 0x30
_TAG_BYTES = 0x38
_TAG_ARRAY = 0x40
_END = 0x00

#: Nesting depth allowed inside array keys (proto/keys.ts KEY_DEPTH_MAX).
KEY_DEPTH_MAX = 16
#: Bigints are stored with a one-byte length.
_BIGINT_BYTES_MAX = 255
#: Integers up to this magnitude are exact as a JavaScript number.
_SAFE = 2**53

_PACK_DOUBLE = struct.Struct(">d").pack
_UNPACK_DOUBLE = struct.Struct(">d").unpack
_NAN_BITS = bytes.fromhex("7ff8000000000000")


class BigInt(int):
    """An ``int`` that is stored as a bigint (a TypeScript ``bigint``) even when it is small.

    Plain ints within 2**53 are stored as numbers, as TypeScript numbers are; ``BigInt(5)``
    is the key (and value) TypeScript writes as ``5n``.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return f"BigInt({int(self)})"


def _escaped(data: bytes) -> bytes:
    return data.replace(b"\x00", b"\x00\xff") + b"\x00"


def _f64(value: float) -> bytes:
    if value != value:
        bits = bytearray(_NAN_BITS)
    else:
        bits = bytearray(_PACK_DOUBLE(0.0 if value == 0 else value))
    if bits[0] & 0x80:
        for i in range(8):
            bits[i] ^= 0xFF
    else:
        bits[0] ^= 0x80
    return bytes(bits)


def _bigint(value: int) -> bytes:
    negative = value < 0
    magnitude = -value if negative else value
    length = (magnitude.bit_length() + 7) // 8
    if length > _BIGINT_BYTES_MAX:
        raise InvalidError(f"bigint keys may have at most {_BIGINT_BYTES_MAX * 8} bits")
    raw = magnitude.to_bytes(length, "big")
    if negative:
        return bytes([_TAG_BIGINT_NEG, 0xFF - length]) + bytes(0xFF - b for b in raw)
    return bytes([_TAG_BIGINT_POS, length]) + raw


def _string(value: str) -> bytes:
    try:
        data = value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidError("string keys may not contain lone surrogates") from None
    return bytes([_TAG_STRING]) + _escaped(data)


def _element(out: list, value, depth: int) -> None:
    kind = type(value)
    if kind is str:
        out.append(_string(value))
    elif kind is bool:
        out.append(bytes([_TAG_TRUE if value else _TAG_FALSE]))
    elif isinstance(value, BigInt):
        out.append(_bigint(int(value)))
    elif isinstance(value, int) and not isinstance(value, bool):
        if -_SAFE <= value <= _SAFE:
            out.append(bytes([_TAG_NUMBER]) + _f64(float(value)))
        else:
            out.append(_bigint(int(value)))
    elif isinstance(value, float):
        out.append(bytes([_TAG_NUMBER]) + _f64(value))
    elif isinstance(value, str):
        out.append(_string(str(value)))
    elif isinstance(value, (bytes, bytearray, memoryview)):
        out.append(bytes([_TAG_BYTES]) + _escaped(bytes(value)))
    elif isinstance(value, (tuple, list)):
        if depth >= KEY_DEPTH_MAX:
            raise InvalidError(f"array keys may nest at most {KEY_DEPTH_MAX} deep")
        out.append(bytes([_TAG_ARRAY]))
        for item in value:
            _element(out, item, depth + 1)
        out.append(b"\x00")
    else:
        raise InvalidError(
            "Dict keys must be str, int, float, bool, bytes or tuples/lists of these; "
            f"got {type(value).__name__}"
        )


def encode_key(key) -> bytes:
    """Encodes a dict key; ``InvalidError`` for any other type."""
    if type(key) is str and "\x00" not in key:
        try:
            return b"\x30" + key.encode("utf-8") + b"\x00"
        except UnicodeEncodeError:
            raise InvalidError("string keys may not contain lone surrogates") from None
    out: list = []
    _element(out, key, 0)
    return b"".join(out)


class _Reader:
    __slots__ = ("buf", "pos")

    def __init__(self, buf: bytes):
        self.buf = buf
        self.pos = 0

    def fail(self, why: str):
        raise DeserializationError(f"malformed dict key at byte {self.pos}: {why}")

    def byte(self) -> int:
        if self.pos >= len(self.buf):
            self.fail("unexpected end")
        b = self.buf[self.pos]
        self.pos += 1
        return b

    def unescaped(self) -> bytes:
        out = bytearray()
        buf = self.buf
        while True:
            end = buf.find(b"\x00", self.pos)
            if end < 0:
                self.pos = len(buf)
                self.fail("unexpected end")
            out += buf[self.pos:end]
            if end + 1 < len(buf) and buf[end + 1] == 0xFF:
                out.append(0)
                self.pos = end + 2
                continue
            self.pos = end + 1
            return bytes(out)

    def number(self):
        if self.pos + 8 > len(self.buf):
            self.fail("truncated number")
        bits = bytearray(self.buf[self.pos:self.pos + 8])
        self.pos += 8
        if bits[0] & 0x80:
            bits[0] ^= 0x80
        else:
            for i in range(8):
                bits[i] ^= 0xFF
        value = _UNPACK_DOUBLE(bytes(bits))[0]
        if math.isfinite(value) and value == int(value) and abs(value) <= _SAFE:
            return int(value)
        return value

    def element(self, depth: int):
        tag = self.byte()
        if tag == _TAG_STRING:
            try:
                return self.unescaped().decode("utf-8")
            except UnicodeDecodeError:
                self.fail("string key is not UTF-8")
        if tag == _TAG_NUMBER:
            return self.number()
        if tag == _TAG_FALSE:
            return False
        if tag == _TAG_TRUE:
            return True
        if tag in (_TAG_BIGINT_POS, _TAG_BIGINT_NEG):
            negative = tag == _TAG_BIGINT_NEG
            length = 0xFF - self.byte() if negative else self.byte()
            if self.pos + length > len(self.buf):
                self.fail("truncated bigint")
            raw = self.buf[self.pos:self.pos + length]
            self.pos += length
            if negative:
                raw = bytes(0xFF - b for b in raw)
            magnitude = int.from_bytes(raw, "big")
            value = -magnitude if negative else magnitude
            return BigInt(value) if abs(value) <= _SAFE else value
        if tag == _TAG_BYTES:
            return self.unescaped()
        if tag == _TAG_ARRAY:
            if depth >= KEY_DEPTH_MAX:
                self.fail("nesting too deep")
            items = []
            while self.pos < len(self.buf) and self.buf[self.pos] != _END:
                items.append(self.element(depth + 1))
            self.byte()
            return tuple(items)
        self.fail(f"unknown tag 0x{tag:x}")


def decode_key(data: bytes):
    """Decodes an encoded key; ``DeserializationError`` if it is not one well-formed key."""
    if data[:1] == b"\x30" and data[-1:] == b"\x00" and data.count(b"\x00") == 1:
        try:
            return data[1:-1].decode("utf-8")
        except UnicodeDecodeError:
            raise DeserializationError("malformed dict key: string key is not UTF-8") from None
    reader = _Reader(bytes(data))
    key = reader.element(0)
    if reader.pos != len(reader.buf):
        reader.fail("trailing bytes")
    return key
