"""Fixtures: the real server on a scripted fake engine (pie_fake_engine_server), and tokens."""

import base64
import hashlib
import hmac
import json
import os
import subprocess
import time
from pathlib import Path

import pytest

SECRET = "python-client-secret"


def require(path_or_none, what):
    """Skips when something the test needs is missing, but fails under CI."""
    if path_or_none:
        return path_or_none
    if os.environ.get("CI") == "true":
        pytest.fail(f"{what} is missing under CI")
    pytest.skip(f"{what} is missing")


def mint_token(sub: str, secret: str = SECRET, exp: int = None) -> str:
    """An HS256 JWT made independently of the server's code."""
    def b64(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
    header = b64(json.dumps({"typ": "JWT", "alg": "HS256"}).encode())
    claims = b64(json.dumps({"sub": sub, "role": "User",
                             "exp": exp if exp is not None else int(time.time()) + 3600}).encode())
    signature = hmac.new(secret.encode(), f"{header}.{claims}".encode(), hashlib.sha256).digest()
    return f"{header}.{claims}.{b64(signature)}"


class FakeEngineServer:
    def __init__(self, binary: str):
        self.process = subprocess.Popen([binary, "--secret", SECRET], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True)
        line = self.process.stdout.readline()
        if not line.startswith("PORT "):
            self.process.kill()
            raise RuntimeError(f"fake engine server did not start: {line!r}")
        self.uri = f"ws://127.0.0.1:{int(line.split()[1])}"

    def stop(self):
        if self.process.poll() is None:
            self.process.stdin.close()
            self.process.wait(timeout=30)


@pytest.fixture
def server():
    binary = require(os.environ.get("PIE_FAKE_ENGINE_SERVER"),
                     "PIE_FAKE_ENGINE_SERVER (the pie_fake_engine_server executable)")
    s = FakeEngineServer(binary)
    yield s
    s.stop()


@pytest.fixture
def blake3_vectors():
    shared = os.environ.get("PIE_SHARED") or os.environ.get("PIE_SHARED_DEFAULT")
    path = Path(shared) / "testdata/blake3/test_vectors.json" if shared else None
    require(path if path and path.exists() else None, "shared testdata/blake3/test_vectors.json")
    return json.loads(path.read_text())


class PieServe:
    """`pie serve` on a free port with stories260K, as users start it (auth on or off)."""

    def __init__(self, pie: str, model: str, home: Path, auth: bool):
        home.mkdir(parents=True, exist_ok=True)
        config = home / "pie.toml"
        config.write_text(f'auth_secret = "{SECRET}"\nenable_auth = {"true" if auth else "false"}\n')
        env = dict(os.environ, PIE_HOME=str(home))
        self.process = subprocess.Popen(
            [pie, "serve", "--port", "0", "--config", str(config), "--model", model,
             "--kv-pages", "64", "--threads", "1", "--seed", "1"],
            stdout=subprocess.PIPE, text=True, env=env)
        line = self.process.stdout.readline()
        if "serving on ws://" not in line:
            self.process.kill()
            raise RuntimeError(f"pie serve did not start: {line!r}")
        self.uri = line.split("serving on ")[1].split()[0]

    def stop(self):
        self.process.terminate()
        assert self.process.wait(timeout=30) == 0


def _engine(tmp_path, auth):
    pie = require(os.environ.get("PIE_BIN"), "PIE_BIN (the pie executable)")
    shared = os.environ.get("PIE_SHARED") or os.environ.get("PIE_SHARED_DEFAULT") or ""
    model = Path(shared) / "models/stories260K/stories260K.bin"
    require(model if model.exists() else None, "shared models/stories260K")
    return PieServe(pie, str(model), tmp_path / "home", auth)


@pytest.fixture
def engine(tmp_path):
    s = _engine(tmp_path, auth=True)
    yield s
    s.stop()


@pytest.fixture
def engine_without_auth(tmp_path):
    s = _engine(tmp_path, auth=False)
    yield s
    s.stop()


@pytest.fixture
def inferlet():
    folder = require(os.environ.get("PIE_INFERLET_DIR"), "PIE_INFERLET_DIR (built inferlets)")

    def read(name: str) -> bytes:
        for ext in (".wasm", ".js"):
            path = Path(folder) / (name + ext)
            if path.exists():
                return path.read_bytes()
        pytest.fail(f"inferlet {name} was not built")
    return read
