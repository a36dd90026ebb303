"""`pip install ./client/python` works without a package index: the build backend is in-tree
and standard library only."""

import importlib.util
import os
import subprocess
import sys
import zipfile

import pytest

from conftest import PACKAGE


def test_the_backend_builds_a_wheel_of_the_package(tmp_path):
    sys.path.insert(0, str(PACKAGE / "_build"))
    try:
        import larder_build
    finally:
        sys.path.pop(0)
    wheel = tmp_path / larder_build.build_wheel(str(tmp_path))
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        metadata = z.read("larder-0.1.0.dist-info/METADATA").decode()
        record = z.read("larder-0.1.0.dist-info/RECORD").decode()
    sources = {p.relative_to(PACKAGE).as_posix() for p in (PACKAGE / "larder").rglob("*.py")}
    assert sources <= names
    assert "Requires-Dist: msgpack>=1.0" in metadata
    assert all(name in record for name in sources)
    assert (tmp_path / larder_build.build_sdist(str(tmp_path))).exists()


@pytest.mark.skipif(importlib.util.find_spec("pip") is None, reason="pip is not installed for this Python")
def test_pip_installs_it_offline(tmp_path):
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-index", "--no-deps", "--target", str(target), str(PACKAGE)],
        check=True, capture_output=True, text=True, timeout=120,
        env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_ROOT_USER_ACTION": "ignore"},
    )
    out = subprocess.run(
        [sys.executable, "-c", "import larder; print(larder.__file__); print(larder.Dict.__name__)"],
        cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(target)}, capture_output=True, text=True, check=True,
    )
    path, cls = out.stdout.split()
    assert path.startswith(str(target)) and cls == "Dict"
