"""The Python half of test/client/python-values.test.ts: values across languages through a
real server (LARDER_URL, LARDER_TOKEN).

  python_values.py write   puts PYTHON_WRITES into the dict "from-python" (one key per label)
                           and, in label order, into the queue "from-python"
  python_values.py check   reads the dict "from-ts" and the queue "from-ts" that TypeScript
                           wrote, compares each value with FROM_TS (type and value, -0 and NaN
                           included), writes what it read back into the dict "ts-back", and
                           prints one JSON line {"checked": n, "wrong": [...]}
"""

import array
import datetime
import json
import math
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "client" / "python"))

import larder  # noqa: E402
from larder import BigInt, JSRegExp  # noqa: E402

UTC = datetime.timezone.utc
WHEN = datetime.datetime(2024, 2, 29, 12, 34, 56, 789000, tzinfo=UTC)

# label -> the value Python writes (test/client/python-values.test.ts has what TypeScript reads)
PYTHON_WRITES = {
    "none": None,
    "true": True,
    "false": False,
    "int": 42,
    "negative int": -7,
    "largest safe int": 2**53 - 1,
    "int 2^53": 2**53,
    "int beyond 64 bits": 2**64 + 1,
    "negative int beyond 64 bits": -(2**70),
    "BigInt(5)": BigInt(5),
    "float": 1.5,
    "integral float": 2.0,
    "minus zero": -0.0,
    "nan": float("nan"),
    "inf": float("inf"),
    "-inf": float("-inf"),
    "str": "héllo wörld 😀 \x00 end",
    "empty str": "",
    "bytes": b"\x00\x01\xfe\xff",
    "bytearray": bytearray(b"ab"),
    "list": [1, "two", None, [3.5]],
    "tuple": (1, 2),
    "dict with str keys": {"a": 1, "b": [True], "with space": None},
    "empty dict": {},
    "dict with other keys": {1: "one", "1": "string one", (1, 2): "tuple", b"k": "bytes"},
    "set": {1, "a", 3.5},
    "frozenset": frozenset([2]),
    "aware datetime": WHEN,
    "naive datetime": datetime.datetime(2024, 2, 29, 12, 34, 56, 789000),
    "datetime with microseconds": datetime.datetime(2024, 1, 1, 0, 0, 0, 123456, tzinfo=UTC),
    "old datetime": datetime.datetime(1938, 4, 24, 22, 13, 20, tzinfo=UTC),
    "int16 array": array.array("h", [1, -2]),
    "float64 array": array.array("d", [0.5, -1.0]),
    "regexp": JSRegExp("a+b", "gi"),
    "nested": {"list": [{"x": {1, 2}}], "when": WHEN, "big": 2**80, "map": {3: [b"\x09"]}},
}

# label -> what Python must read of what TypeScript wrote (the test's TS_WRITES)
FROM_TS = {
    "null": None,
    "true": True,
    "number": 42,
    "negative number": -7,
    "fraction": -1.25,
    "largest safe integer": 2**53 - 1,
    "2^60 as a number": float(2**60),
    "minus zero": -0.0,
    "NaN": float("nan"),
    "Infinity": float("inf"),
    "small bigint": BigInt(5),
    "bigint beyond 64 bits": 2**100 + 1,
    "negative bigint": -(2**70),
    "string": "héllo wörld 😀 \x00 end",
    "Uint8Array": b"\x00\x01\xfe\xff",
    "Buffer": b"\x05\x06",
    "ArrayBuffer": b"\x07",
    "Int16Array": array.array("h", [1, -2]),
    "Float64Array": array.array("d", [0.5, float("inf")]),
    "array": [1, "two", None, [3.5]],
    "undefined in an array": [None, 1],
    "plain object": {"a": 1, "b": [True], "with space": None},
    "Map with other keys": {1: "one", "1": "string one", (1, 2): "array key"},
    "Map with string keys": {"k": "v"},
    "Set": {1, "a"},
    "Date": WHEN,
    "old Date": datetime.datetime(1938, 4, 24, 22, 13, 20, tzinfo=UTC),
    "RegExp": JSRegExp("a+b", "gi"),
    "nested": {"list": [{"x": {1, 2}}], "when": WHEN, "big": 2**80, "map": {3: [b"\x09"]}},
}


def same(a, b) -> bool:
    """Equal values of the same types (a bool is not an int, -0.0 is not 0.0, NaN is NaN)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, array.array):
        return a.typecode == b.typecode and same(a.tolist(), b.tolist())
    if isinstance(a, datetime.datetime):
        return a == b and a.tzinfo == b.tzinfo
    return a == b


def main() -> None:
    client = larder.Client(os.environ["LARDER_URL"], token=os.environ["LARDER_TOKEN"])
    if sys.argv[1] == "write":
        d = larder.Dict.from_name("from-python", create_if_missing=True, client=client)
        for label, value in PYTHON_WRITES.items():
            d[label] = value
        q = larder.Queue.from_name("from-python", create_if_missing=True, client=client)
        q.put_many(list(PYTHON_WRITES.values()))
        print(json.dumps({"written": len(PYTHON_WRITES)}))
        return
    d = larder.Dict.from_name("from-ts", client=client)
    back = larder.Dict.from_name("ts-back", create_if_missing=True, client=client)
    wrong = []
    for label, expected in FROM_TS.items():
        got = d[label]
        if not same(got, expected):
            wrong.append(f"dict {label}: {got!r} != {expected!r}")
        back[label] = got
    q = larder.Queue.from_name("from-ts", client=client)
    items = q.get_many(len(FROM_TS) + 1, timeout=5)
    if len(items) != len(FROM_TS):
        wrong.append(f"queue: {len(items)} items, expected {len(FROM_TS)}")
    for (label, expected), got in zip(FROM_TS.items(), items):
        if not same(got, expected):
            wrong.append(f"queue {label}: {got!r} != {expected!r}")
    print(json.dumps({"checked": len(FROM_TS), "wrong": wrong}))


main()
