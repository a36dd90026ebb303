"""Fixtures: real `larder serve` processes on free loopback ports, each on a temporary data
folder (real LevelDB, fsync durability), started from this repository's source.

LARDER_NODE names the node binary (the vitest wrapper passes its own); the servers run
bin/larder.ts through tsx, so they always match the checkout under test.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
PACKAGE = ROOT / "client" / "python"
sys.path.insert(0, str(PACKAGE))

import larder  # noqa: E402

TOKEN = "python-test-token"


class Server:
    def __init__(self, *flags: str, token: str | None = TOKEN):
        self.folder = tempfile.mkdtemp(prefix="larder-python-test-")
        self.token = token
        node = os.environ.get("LARDER_NODE") or shutil.which("node") or "node"
        args = [node, "--import", "tsx", str(ROOT / "bin" / "larder.ts"), "serve", "--data", self.folder, "--port", "0"]
        if token is not None:
            args += ["--token", token]
        args += list(flags)
        env = {k: v for k, v in os.environ.items() if k not in ("LARDER_TOKEN", "LARDER_URL", "LARDER_ENVIRONMENT")}
        self.process = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
        line = self.process.stdout.readline()
        if not line.startswith("listening on "):
            self.process.kill()
            raise RuntimeError(f"larder serve did not start: {line!r} {self.process.stderr.read()}")
        self.url = line.split()[-1]
        self.stderr: list[str] = []
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self):
        for line in self.process.stderr:
            self.stderr.append(line)

    def client(self, **options) -> larder.Client:
        return larder.Client(self.url, token=self.token, **options)

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.folder, ignore_errors=True)


@pytest.fixture(scope="session")
def server():
    s = Server()
    yield s
    s.stop()


#: Small limits, so that limit errors are quick to reach.
LIMITS = {
    "queuePartitionItemsMax": 10,
    "queueItemBytesMax": 1024,
    "queuePartitionsMax": 4,
    "dictValueBytesMax": 2048,
    "dictKeyBytesMax": 64,
    "dictUpdateEntriesMax": 20,
}


@pytest.fixture(scope="session")
def limited_server():
    flags = []
    for name, value in LIMITS.items():
        flags += ["--limit", f"{name}={value}"]
    s = Server(*flags)
    yield s
    s.stop()


@pytest.fixture
def client(server):
    c = server.client()
    yield c
    c.close()


@pytest.fixture
def limited(limited_server):
    c = limited_server.client()
    yield c
    c.close()


@pytest.fixture
def name():
    return f"py-{uuid.uuid4().hex[:16]}"
