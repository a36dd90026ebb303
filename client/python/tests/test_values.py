"""Values through a real server: what Python puts comes back equal (docs/format.md's table
of Python types), and bytes that are not a value are refused with a clear error."""

import array
import datetime
import math

import pytest

import larder
from larder.values import VALUE_NESTING_MAX, decode_value, encode_value

UTC = datetime.timezone.utc

ROUND_TRIP = [
    None,
    True,
    False,
    0,
    -1,
    2**53 - 1,
    2**53,
    -(2**63),
    2**200,
    larder.BigInt(7),
    1.5,
    float("inf"),
    "",
    "héllo \U0001f600",
    b"\x00\xff",
    [1, [2, [3]]],
    {"a": 1, "b": [None, {"c": b"x"}]},
    {1: "one", (2, "two"): [2], None: 0, b"k": 1},
    {1, "a", (2, 3)},
    datetime.datetime(2026, 12, 7, 15, 41, 22, 123456, tzinfo=UTC),
    datetime.datetime(1900, 1, 1, tzinfo=UTC),
    array.array("i", [1, -2, 3]),
    array.array("f", [0.5]),
    larder.JSRegExp("^a+$", "gi"),
]


def _equal(a, b):
    return a == b and type(a) is type(b)


@pytest.mark.parametrize("value", ROUND_TRIP, ids=repr)
def test_round_trip_through_a_dict_and_a_queue(client, name, value):
    d = larder.Dict.from_name(name, create_if_missing=True, client=client)
    d["v"] = value
    assert _equal(d["v"], value)
    q = larder.Queue.from_name(name, create_if_missing=True, client=client)
    q.put(value)
    assert _equal(q.get(), value)


def test_what_changes_type_on_the_way_back(client, name):
    d = larder.Dict.from_name(name, create_if_missing=True, client=client)
    d["t"] = (1, 2)
    assert d["t"] == [1, 2]  # a tuple is an array: a list comes back
    d["f"] = frozenset([1])
    assert d["f"] == {1} and type(d["f"]) is set
    d["naive"] = datetime.datetime(2026, 1, 1, 12, 0)
    assert d["naive"] == datetime.datetime(2026, 1, 1, 12, 0, tzinfo=UTC)  # naive is taken as UTC
    d["ba"] = bytearray(b"ab")
    assert d["ba"] == b"ab" and type(d["ba"]) is bytes
    d["nan"] = float("nan")
    assert math.isnan(d["nan"])
    d["-0"] = -0.0
    assert math.copysign(1, d["-0"]) == -1


def test_nesting_limit():
    value = 0
    for _ in range(VALUE_NESTING_MAX):
        value = [value]
    assert decode_value(encode_value(value)) == value
    with pytest.raises(larder.InvalidError):
        encode_value([value])
    with pytest.raises(larder.DeserializationError):
        decode_value(b"\x91" * (VALUE_NESTING_MAX + 1) + b"\x00")


@pytest.mark.parametrize(
    "hexed, why",
    [
        ("c70000", "undefined as a whole value"),
        ("8101a161", "a plain map with an int key"),
        ("82a16101a16102", "duplicate keys"),
        ("c70109", "unknown extension type"),
        ("d401", "truncated"),
        ("0102", "trailing bytes"),
        ("a2c328", "invalid UTF-8"),
        ("d7ffffffffffffffffff", "nanoseconds over 999,999,999"),
        ("c70001", "an empty bigint"),
        ("d5039201 01".replace(" ", ""), "duplicate Set elements"),
        ("c703040301", "a typed array of a partial element"),
        ("d4040d", "an unknown typed array kind"),
    ],
)
def test_malformed_bytes_are_deserialization_error(hexed, why):
    with pytest.raises(larder.DeserializationError):
        decode_value(bytes.fromhex(hexed))


def test_values_that_cannot_be_stored_are_refused():
    class Custom:
        pass

    cyclic = []
    cyclic.append(cyclic)
    for bad in (Custom(), object(), 1j, cyclic, {"a": [Custom()]}, {(1,): Custom()}, array.array("u", "x"), print):
        with pytest.raises((larder.InvalidError, TypeError)):
            encode_value(bad)
