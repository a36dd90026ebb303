"""larder.Dict against a real server: Modal's modal.Dict API."""

import asyncio
import builtins

import pytest

import larder


def test_items_set_get_delete(client, name):
    d = larder.Dict.from_name(name, create_if_missing=True, client=client)
    d["a"] = 1
    d[("t", 2)] = {"nested": [1, 2, None]}
    assert d["a"] == 1
    assert d[("t", 2)] == {"nested": [1, 2, None]}
    assert d[["t", 2]] == {"nested": [1, 2, None]}  # a list key is the same key as the tuple
    assert "a" in d and "b" not in d
    assert d.contains("a") is True
    assert d.get("b") is None and d.get("b", 7) == 7
    with pytest.raises(KeyError) as caught:  # the builtin KeyError catches it
        d["b"]
    assert isinstance(caught.value, larder.KeyError) and isinstance(caught.value, larder.LarderError)
    assert caught.value.code == "KEY_NOT_FOUND"
    del d["a"]
    assert "a" not in d
    with pytest.raises(builtins.KeyError):
        del d["a"]


def test_put_skip_if_exists_and_pop(client, name):
    d = larder.Dict.from_name(name, create_if_missing=True, client=client)
    assert d.put("k", 1) is True
    assert d.put("k", 2) is True  # an overwrite is a write
    assert d.put("k", 3, skip_if_exists=True) is False
    assert d["k"] == 2
    assert d.pop("k") == 2
    assert d.pop("k", None) is None
    assert d.pop("k", "fallback") == "fallback"
    with pytest.raises(larder.KeyError):
        d.pop("k")
    assert d.put("k", 4, skip_if_exists=True) is True


def test_update_len_clear_and_iteration_order(client, name):
    d = larder.Dict.from_name(name, create_if_missing=True, client=client)
    d.update({"foo": 1, "bar": 2}, foo=3, baz=4)  # as Modal: kwargs win
    assert dict(d.items()) == {"bar": 2, "baz": 4, "foo": 3}
    d.update([(10, "ten"), (True, "t"), (b"\x00b", "bytes"), (2.5, "float")])
    assert d.len() == 7 and len(d) == 7
    # The documented encoded-key order: bool < number < string < bytes < array.
    assert list(d.keys()) == [True, 2.5, 10, "bar", "baz", "foo", b"\x00b"]
    assert list(d.values()) == ["t", "float", "ten", 2, 4, 3, "bytes"]
    d.clear()
    assert d.len() == 0 and list(d.items()) == []


def test_iteration_pages_through_a_big_dict(client, name):
    d = larder.Dict.from_name(name, create_if_missing=True, client=client)
    d.update({f"k{i:05d}": i for i in range(1300)})  # more than two pages of 512
    keys = list(d.keys())
    assert keys == [f"k{i:05d}" for i in range(1300)]
    assert sum(v for _, v in d.items()) == sum(range(1300))


def test_from_name_is_lazy_and_missing_is_not_found(client, name):
    d = larder.Dict.from_name(name, client=client)  # no request yet
    assert not d.is_hydrated
    with pytest.raises(larder.NotFoundError):
        d.get("x")
    larder.Dict.objects.create(name, client=client)
    assert d.get("x") is None and d.is_hydrated
    with pytest.raises(larder.AlreadyExistsError):
        larder.Dict.objects.create(name, client=client)
    larder.Dict.objects.create(name, allow_existing=True, client=client)
    assert name in [h.name for h in larder.Dict.objects.list(client=client)]
    assert d.info().name == name
    larder.Dict.objects.delete(name, client=client)
    with pytest.raises(larder.NotFoundError):
        d.get("x")
    with pytest.raises(larder.NotFoundError):
        larder.Dict.objects.delete(name, client=client)
    larder.Dict.objects.delete(name, allow_missing=True, client=client)


@pytest.mark.parametrize("bad", ["has space", "has/slash", "a" * 65, "", "ap-abcdefghABCDEFGH012345"])
def test_invalid_names_are_refused_before_any_request(bad):
    # No client, no server: the check is eager, as in Modal.
    with pytest.raises(larder.InvalidError):
        larder.Dict.from_name(bad)
    with pytest.raises(larder.InvalidError):
        larder.Queue.from_name(bad)


def test_constructor_is_not_allowed():
    with pytest.raises(RuntimeError):
        larder.Dict()


def test_ephemeral_dict_lives_for_the_with_block(client):
    with larder.Dict.ephemeral(client=client) as d:
        d["x"] = 1
        assert d.name is None and d.object_id.startswith("di-")
        object_id = d.object_id
        again = larder.Dict.from_id(object_id, client=client)
        assert again["x"] == 1
    with pytest.raises(larder.NotFoundError):
        again.get("x")
    with pytest.raises(larder.ClosedError):
        d.get("x")


def test_aio_variants(client, name):
    async def main():
        d = larder.Dict.from_name(name, create_if_missing=True, client=client)
        assert await d.put.aio("a", 1) is True
        assert await d.put.aio("a", 2, skip_if_exists=True) is False
        await d.update.aio({"b": 2}, c=3)
        assert await d.get.aio("a") == 1
        assert await d.get.aio("zz", "dflt") == "dflt"
        assert await d.contains.aio("b") is True
        assert await d.len.aio() == 3
        assert [k async for k in d.keys.aio()] == ["a", "b", "c"]
        assert [v async for v in d.values.aio()] == [1, 2, 3]
        assert [kv async for kv in d.items.aio()] == [("a", 1), ("b", 2), ("c", 3)]
        assert await d.pop.aio("a") == 1
        with pytest.raises(larder.KeyError):
            await d.pop.aio("a")
        await d.clear.aio()
        assert await d.len.aio() == 0
        # Many at once, from one event loop.
        await asyncio.gather(*(d.put.aio(i, i * i) for i in range(200)))
        assert await d.len.aio() == 200
        async with larder.Dict.ephemeral(client=client) as e:
            await e.put.aio("k", "v")
            assert await e.get.aio("k") == "v"
        await larder.Dict.objects.delete.aio(name, client=client)

    asyncio.run(main())


def test_connection_from_environment(server, name, monkeypatch):
    monkeypatch.setenv("LARDER_URL", server.url)
    monkeypatch.setenv("LARDER_TOKEN", server.token)
    with larder.Client() as c:
        assert c.url == server.url
        d = larder.Dict.from_name(name, create_if_missing=True, client=c)
        d["env"] = True
        assert d["env"] is True
