"""Fault tests for object storage: a writer killed (SIGKILL) at random moments while
inserting ``<blob@>`` rows (every database backend; a file store and S3) never leaves a row
pointing at a missing or partial object: objects are uploaded before the row's transaction
commits. A corrupted object is detected on fetch, never returned; a missing one is named."""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import joinflow as dj

WRITER = textwrap.dedent('''
    import json, sys
    import numpy as np
    import joinflow as dj
    settings, schema_name, start = json.loads(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    cfg = dj.config.child()
    for k, v in settings.items():
        cfg[k] = v
    conn = dj.Connection(config=cfg)
    schema = dj.Schema(schema_name, connection=conn)

    @schema
    class Rec(dj.Manual):
        definition = """
        id : int32
        ---
        data : <blob@>
        """

    rng = np.random.default_rng(start)
    i = start
    while True:
        rows = [{"id": i + j, "data": rng.standard_normal(20000 + 100 * j)} for j in range(3)]
        rows.append({"id": i + 3, "data": np.arange(5000)})  # shared content: deduplicated
        Rec.insert(rows)
        if i == start:
            print("ready", flush=True)  # warmed up: killed at a random moment from now on
        i += 4
''')

SETTINGS = ("database.backend", "database.host", "database.port", "database.user",
            "database.password", "database.name", "database.path")


def _settings(conn, stores: dict) -> dict:
    out = {k: conn.config[k] for k in SETTINGS if conn.config[k] is not None}
    out["stores"] = stores
    return out


@pytest.fixture
def file_stores(tmp_path):
    stores = {"default": "main", "main": {"protocol": "file", "location": str(tmp_path / "store")}}
    with dj.config.override(stores=stores):
        yield stores


@pytest.fixture(params=["file", "s3"])
def any_stores(request, tmp_path):
    spec = (request.getfixturevalue("moto_s3").store_config() if request.param == "s3" else
            {"protocol": "file", "location": str(tmp_path / "store")})
    stores = {"default": "main", "main": spec}
    with dj.config.override(stores=stores):
        yield stores


def _declare(schema):
    @schema
    class Rec(dj.Manual):
        definition = """
        id : int32
        ---
        data : <blob@>
        """
    return Rec


@pytest.mark.parametrize("kills", [3])
def test_killed_writer_leaves_no_dangling_row(conn, schema, any_stores, tmp_path, kills):
    """On every database backend, with a file store and S3."""
    Rec = _declare(schema)
    settings = _settings(conn, any_stores)
    rng = random.Random(7)
    for k in range(kills):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, json.dumps(settings),
                                 schema.database, str(100000 * (k + 1))],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
            time.sleep(rng.uniform(0.05, 0.8))
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
    rows = Rec.to_dicts()
    assert rows, "the writer inserted nothing before it was killed"
    for r in rows:  # every committed row's object is there, whole (fetch verifies the hash)
        assert isinstance(r["data"], np.ndarray) and r["data"].size >= 5000
    if any_stores["main"]["protocol"] == "file":  # a killed write leaves only a temp file
        named = [p for p in (tmp_path / "store").rglob("*") if p.is_file()
                 and not p.name.startswith(".")]
        assert all(p.stat().st_size > 0 for p in named)


def test_corrupted_object_is_detected(schema, file_stores, tmp_path):
    Rec = _declare(schema)
    Rec.insert1({"id": 1, "data": np.arange(1000.0)})
    files = [p for p in (tmp_path / "store").rglob("*") if p.is_file()]
    assert len(files) == 1
    raw = bytearray(files[0].read_bytes())
    raw[-1] ^= 0xFF
    files[0].write_bytes(bytes(raw))
    with pytest.raises(dj.errors.DataJointError) as err:
        (Rec & {"id": 1}).fetch1("data")
    assert "hash" in str(err.value).lower() and files[0].name in str(err.value)


def test_missing_object_is_named(schema, file_stores, tmp_path):
    Rec = _declare(schema)
    Rec.insert1({"id": 1, "data": np.arange(10)})
    [f] = [p for p in (tmp_path / "store").rglob("*") if p.is_file()]
    os.remove(f)
    with pytest.raises(dj.errors.DataJointError) as err:
        Rec.to_dicts()
    assert f.name in str(err.value)
