"""The same key and the same value give the same bytes from Python and from TypeScript.

Each case is a Python expression and the TypeScript expression of the same key or value;
proto/keys.ts and proto/values.ts encode the TypeScript side in a node process, and the
bytes must be equal both ways: Python encodes to TypeScript's bytes, and decodes them to a
value equal to its own.
"""

import array
import datetime
import json
import math
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import ROOT
from larder import BigInt, JSRegExp
from larder.keys import decode_key, encode_key
from larder.values import decode_value, encode_value

KEYS = [
    ('"a"', '"a"'),
    ('""', '""'),
    ('"caf\\u00e9 \\U0001f600"', '"caf\\u00e9 \\u{1f600}"'),
    ('"nul\\x00inside"', '"nul\\u0000inside"'),
    ("1", "1"),
    ("-1", "-1"),
    ("0", "0"),
    ("-0.0", "-0"),
    ("1.5", "1.5"),
    ("2**53", "2**53"),
    ("-(2**53)", "-(2**53)"),
    ("float('inf')", "Infinity"),
    ("float('-inf')", "-Infinity"),
    ("float('nan')", "NaN"),
    ("2**53 + 1", "2n**53n + 1n"),
    ("-(2**70)", "-(2n**70n)"),
    ("BigInt(5)", "5n"),
    ("BigInt(0)", "0n"),
    ("BigInt(-1)", "-1n"),
    ("True", "true"),
    ("False", "false"),
    ("b'\\x00\\x01\\xff'", "new Uint8Array([0, 1, 255])"),
    ("b''", "new Uint8Array([])"),
    ("('a', 1, (True, b'x'))", '["a", 1, [true, new Uint8Array([120])]]'),
    ("()", "[]"),
]

# Values whose bytes are the same in value formats 2 and 3.
VALUES_COMMON = [
    ("None", "null"),
    ("True", "true"),
    ("5", "5"),
    ("-1", "-1"),
    ("-(2**31)", "-(2**31)"),
    ("'Home'", '"Home"'),
    ("''", '""'),
    ("'x' * 300", '"x".repeat(300)'),
    ("[1, 'a', None]", '[1, "a", null]'),
    ("[]", "[]"),
]

# Value format 3 (docs/format.md): the table of /work/team/values-format.md.
VALUES_V3 = [
    ("{'title': 'Home'}", '{title: "Home"}'),
    ("{}", "({})"),
    ("2**40", "2**40"),
    ("1.5", "1.5"),
    ("-0.0", "-0"),
    ("float('inf')", "Infinity"),
    ("float('nan')", "NaN"),
    ("2.0**60", "2**60"),
    ("2**53", "2n**53n"),
    ("-(2**53)", "-(2n**53n)"),
    ("2**64", "2n**64n"),
    ("BigInt(5)", "5n"),
    ("BigInt(-129)", "-129n"),
    ("BigInt(128)", "128n"),
    ("{1: 'one'}", 'new Map([[1, "one"]])'),
    ("{(1, 'a'): [2]}", 'new Map([[[1, "a"], [2]]])'),
    ("{1}", "new Set([1])"),
    ("{'s': {('t',)}}", '{s: new Set([["t"]])}'),
    ("datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)", "new Date(0)"),
    ("datetime.datetime(2026, 12, 7, 15, 41, 22, 123000, tzinfo=datetime.timezone.utc)", 'new Date("2026-12-07T15:41:22.123Z")'),
    ("datetime.datetime(1969, 12, 31, 23, 59, 59, 999000, tzinfo=datetime.timezone.utc)", "new Date(-1)"),
    ("b'\\x01\\x02'", "new Uint8Array([1, 2])"),
    ("array.array('h', [1, -2])", "new Int16Array([1, -2])"),
    ("array.array('d', [0.5])", "new Float64Array([0.5])"),
    ("array.array('q', [-3])", "new BigInt64Array([-3n])"),
    ("JSRegExp('a+', 'g')", "/a+/g"),
    ("{'nested': [{'deep': [1, {2: 3}]}]}", "{nested: [{deep: [1, new Map([[2, 3]])]}]}"),
]


#: Where the TypeScript codecs are read from: this checkout (LARDER_TS_ROOT names another,
#: to try a branch's codec before it lands).
TS_ROOT = os.environ.get("LARDER_TS_ROOT") or str(ROOT)


def _format_version() -> int:
    text = (Path(TS_ROOT) / "engine" / "layout.ts").read_text()
    return int(text.split("export const FORMAT_VERSION = ")[1].split(";")[0])


def _typescript(kind: str, expressions: list) -> list:
    node = os.environ.get("LARDER_NODE") or shutil.which("node")
    if node is None:
        pytest.skip("node is not on PATH")
    module = "keys.ts" if kind == "key" else "values.ts"
    function = "encodeKey" if kind == "key" else "encodeValue"
    script = (
        f'import {{ {function} }} from "./proto/{module}";\n'
        f"const cases = {json.dumps(expressions)};\n"
        f'console.log(JSON.stringify(cases.map((js) => Buffer.from({function}((0, eval)("(" + js + ")"))).toString("hex"))));\n'
    )
    out = subprocess.run(
        [node, "--import", "tsx", "--input-type=module", "-e", script],
        cwd=TS_ROOT, capture_output=True, text=True, timeout=120, check=True,
    )
    return json.loads(out.stdout)


def _same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, float) and isinstance(b, float) and a == 0 and b == 0:
        return math.copysign(1, a) == math.copysign(1, b)
    return a == b and type(a) is type(b)


def _python(expression: str):
    return eval(expression, {"BigInt": BigInt, "JSRegExp": JSRegExp, "datetime": datetime, "array": array})


def _same_bytes_both_ways(kind: str, cases, encode, decode):
    """Each case (Python, TypeScript) encodes to TypeScript's bytes, which decode to a value that encodes back to them."""
    expected = _typescript(kind, [js for _, js in cases])
    for (py, js), hexed in zip(cases, expected):
        assert encode(_python(py)).hex() == hexed, f"{py} / {js}"
        back = decode(bytes.fromhex(hexed))
        assert encode(back).hex() == hexed, f"{py} decoded as {back!r} does not encode back"


def test_keys_are_the_same_bytes():
    _same_bytes_both_ways("key", KEYS, encode_key, decode_key)


def test_key_decoding_gives_python_types():
    assert decode_key(encode_key(1)) == 1 and type(decode_key(encode_key(1))) is int
    assert type(decode_key(encode_key(1.0))) is int  # 1.0 == 1: one key
    assert decode_key(encode_key(2**60)) == 2**60 and type(decode_key(encode_key(2**60))) is int
    assert type(decode_key(encode_key(BigInt(3)))) is BigInt
    assert decode_key(encode_key([1, [2]])) == (1, (2,))
    assert decode_key(encode_key(bytearray(b"ab"))) == b"ab"
    # The documented order is byte order of the encodings.
    ordered = [False, True, float("-inf"), -1, 0, 0.5, 2**53, float("inf"), float("nan"), -(2**60), 2**60, "", "a", "b", b"", (), ("a",)]
    assert sorted(ordered, key=encode_key) == ordered


def test_common_values_are_the_same_bytes():
    expected = _typescript("value", [js for _, js in VALUES_COMMON])
    for (py, js), hexed in zip(VALUES_COMMON, expected):
        assert encode_value(_python(py)).hex() == hexed, f"{py} / {js}"
        assert _same(decode_value(bytes.fromhex(hexed)), _python(py))


@pytest.mark.skipif(_format_version() < 3, reason="value format 3 has not landed: the engine is at format 2")
def test_format_3_values_are_the_same_bytes():
    _same_bytes_both_ways("value", VALUES_V3, encode_value, decode_value)
