"""Shared fixtures: every database test runs on sqlite, postgresql and mysql.

Servers come from environment variables (loopback defaults):
  JF_TEST_POSTGRES_URL  postgresql://postgres@127.0.0.1:5432/postgres
  JF_TEST_MYSQL_URL     mysql://root@127.0.0.1:3306
A server that cannot be reached is skipped with a message — except under CI=true, where
all three must run.
"""
from __future__ import annotations

import itertools
import os
import uuid
from pathlib import Path
from urllib.parse import urlparse

import pytest

import joinflow as dj
from joinflow.settings import Config

pytest_plugins = ["s3_fixtures"]

BACKENDS = ["sqlite", "postgresql", "mysql"]
URLS = {
    "postgresql": os.environ.get("JF_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
    "mysql": os.environ.get("JF_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306"),
}
_unreachable: dict[str, str] = {}
_counter = itertools.count()


def backend_config(backend: str, tmp_path=None) -> Config:
    cfg = dj.config.child()  # database settings here; the rest follows dj.config live
    cfg["database.backend"] = backend
    cfg["safemode"] = False
    if backend == "sqlite":
        cfg["database.path"] = str(tmp_path / "test.db") if tmp_path else ":memory:"
        return cfg
    url = urlparse(URLS[backend])
    cfg["database.host"] = url.hostname or "127.0.0.1"
    cfg["database.port"] = url.port
    cfg["database.user"] = url.username
    cfg["database.password"] = url.password
    if backend == "postgresql":
        cfg["database.name"] = (url.path or "/postgres").lstrip("/") or "postgres"
    return cfg


def connect(backend: str, tmp_path=None) -> dj.Connection:
    if backend in _unreachable:
        pytest.skip(_unreachable[backend])
    try:
        return dj.Connection(config=backend_config(backend, tmp_path))
    except dj.errors.JoinflowError as exc:
        msg = f"{backend} server not reachable at {URLS.get(backend)}: {exc}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(msg)
        _unreachable[backend] = msg
        pytest.skip(msg)


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    return request.param


@pytest.fixture
def conn(backend, tmp_path):
    """A fresh connection (a fresh SQLite file per test)."""
    c = connect(backend, tmp_path)
    yield c
    c.close()


def unique_name(prefix: str = "jft") -> str:
    return f"{prefix}_{os.getpid()}_{next(_counter)}_{uuid.uuid4().hex[:6]}"


@pytest.fixture
def make_schema(conn):
    """Factory: make_schema('name') -> a new, uniquely named dj.Schema, dropped afterwards."""
    made: list[dj.Schema] = []

    def factory(prefix: str = "jft", **kwargs) -> dj.Schema:
        schema = dj.Schema(unique_name(prefix), connection=conn, **kwargs)
        made.append(schema)
        return schema

    yield factory
    for schema in reversed(made):
        try:
            schema.drop(prompt=False)
        except Exception:  # pragma: no cover - best effort cleanup
            pass


@pytest.fixture
def schema(make_schema):
    return make_schema()


@pytest.fixture(autouse=True)
def _isolate_config(tmp_path, monkeypatch):
    """Every test runs in its own tmp_path (what it writes to "." stays there), with its own
    download folder and a restored global config."""
    monkeypatch.chdir(tmp_path)
    with dj.config.override(download_path=str(tmp_path / "downloads"), safemode=False):
        yield


# -- no test writes into the repository (or the working directory) ------------------------
_REPO = Path(__file__).resolve().parent.parent
_SKIP_DIRS = {".git", ".venv", "__pycache__", ".pytest_cache", ".hypothesis", ".ruff_cache",
              ".benchmarks", "node_modules"}


def _tree(root: Path) -> set[str]:
    found: set[str] = set()
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d not in _SKIP_DIRS and not d.endswith(".egg-info")]
        found.update(os.path.relpath(os.path.join(folder, f), root) for f in files)
    return found


@pytest.fixture(scope="session", autouse=True)
def _repository_stays_clean():
    """Fail the run, naming the files, when tests leave files in the repository tree; every
    test works in (and writes to) its own tmp_path."""
    before = _tree(_REPO)
    yield
    new = sorted(_tree(_REPO) - before)
    if new:
        pytest.fail(f"tests wrote into the repository {_REPO}: {new}; use tmp_path", pytrace=False)
