"""Error codes of the contract, mapped to exception classes, from a real server."""

import socket
import time

import pytest

import larder
from larder import errors


def test_every_code_has_its_class():
    table = {
        "INVALID": larder.InvalidError,
        "NOT_FOUND": larder.NotFoundError,
        "ALREADY_EXISTS": larder.AlreadyExistsError,
        "KEY_NOT_FOUND": larder.KeyError,
        "QUEUE_EMPTY": larder.QueueEmptyError,
        "QUEUE_FULL": larder.QueueFullError,
        "TOO_LARGE": larder.RequestSizeError,
        "RESOURCE_EXHAUSTED": larder.ResourceExhaustedError,
        "DESERIALIZATION": larder.DeserializationError,
        "UNAUTHENTICATED": larder.AuthError,
        "LOCKED": larder.LockedError,
        "CLOSED": larder.ClosedError,
        "UNAVAILABLE": larder.UnavailableError,
        "LEASE_EXPIRED": larder.LeaseExpiredError,
        "INTERNAL": larder.InternalError,
    }
    for code, cls in table.items():
        err = errors.error_from_code(code, "m")
        assert type(err) is cls and err.code == code and str(err) == "m"
        assert isinstance(err, larder.LarderError)
    unknown = errors.error_from_code("SOMETHING_NEW", "m")
    assert type(unknown) is larder.InternalError


def test_the_docs_error_table_is_the_same(server):
    # docs/errors.md is the registry's written form; every code there has a class here.
    from conftest import ROOT

    text = (ROOT / "docs" / "errors.md").read_text()
    codes = [line.split("|")[2].strip().strip("`") for line in text.splitlines() if line.startswith("| `")]
    assert codes, "no table rows found in docs/errors.md"
    for code in codes:
        assert errors.error_from_code(code, "").code == code


def test_a_wrong_or_missing_token_is_auth_error(server, name):
    for token in ("wrong-token", None):
        with larder.Client(server.url, token=token) as c:
            with pytest.raises(larder.AuthError) as caught:
                larder.Dict.from_name(name, create_if_missing=True, client=c).len()
            assert caught.value.code == "UNAUTHENTICATED"
    with pytest.raises(larder.InvalidError):
        larder.Client(server.url, token="has space")


def test_no_server_is_unavailable_within_the_retry_budget():
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with larder.Client(f"http://127.0.0.1:{port}", retry_timeout=0.5) as c:
        started = time.monotonic()
        with pytest.raises(larder.UnavailableError):
            larder.Dict.from_name("x", client=c).len()
        assert time.monotonic() - started >= 0.3  # it retried


def test_bad_arguments_are_invalid_error(client, name):
    d = larder.Dict.from_name(name, create_if_missing=True, client=client)
    q = larder.Queue.from_name(name, create_if_missing=True, client=client)
    with pytest.raises(larder.InvalidError):
        d[{"a": 1}] = 1  # not a key type
    with pytest.raises(larder.InvalidError):
        d[1.5j] = 1
    with pytest.raises(larder.InvalidError):
        d["k"] = object()  # not a value type
    with pytest.raises(larder.InvalidError):
        d["\ud800"] = 1  # a lone surrogate has no UTF-8 form
    with pytest.raises(larder.InvalidError):
        d.put("k", 1, skip_if_exists="yes")
    with pytest.raises(larder.InvalidError):
        q.put(1, partition=5)
    with pytest.raises(larder.InvalidError):
        q.put(1, partition="\ud800")
    with pytest.raises(larder.InvalidError):
        q.put(1, timeout=-1)
    with pytest.raises(larder.InvalidError):
        larder.Client("ftp://example")
    with pytest.raises(larder.InvalidError):
        larder.Dict.objects.list(max_objects=-1, client=client)
    with pytest.raises(larder.InvalidError):
        larder.Dict.from_name(name, environment_name="x", client=client)
    assert d.len() == 0 and q.len() == 0  # nothing was written


def test_bytes_that_are_not_a_value_are_deserialization_error(client, name):
    d = larder.Dict.from_name(name, create_if_missing=True, client=client)
    # Bytes that no Larder writer makes, stored as they are (the server never decodes values).
    key = larder.keys.encode_key("bad")
    client._call("dictPut", {"id": d.object_id, "key": key, "value": b"\x81\x01\x02"})  # a map with an int key
    with pytest.raises(larder.DeserializationError):
        d["bad"]
    client._call("dictPut", {"id": d.object_id, "key": key, "value": b"\xc7\x00\x00"})  # undefined as a whole value
    with pytest.raises(larder.DeserializationError):
        d["bad"]


def test_environments_are_separate(client, name):
    a = larder.Dict.from_name(name, create_if_missing=True, environment_name="staging", client=client)
    b = larder.Dict.from_name(name, create_if_missing=True, client=client)
    a["k"] = "staging"
    b["k"] = "main"
    assert a["k"] == "staging" and b["k"] == "main"
    assert a.info().environment == "staging"
