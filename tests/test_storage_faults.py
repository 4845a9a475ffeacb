"""A writer killed (SIGKILL) at random moments while inserting ``<blob@>`` rows never leaves a
row pointing at a missing object: objects are uploaded before the row's transaction commits."""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

import joinflow as dj

WRITER = textwrap.dedent("""
    import json, sys, numpy as np, joinflow as dj
    args = json.loads(sys.argv[1])
    dj.config["database.backend"] = "sqlite"
    dj.config["database.path"] = args["db"]
    dj.config["stores"] = {"default": "main", "main": args["store"]}
    schema = dj.Schema("faults")

    @schema
    class Rec(dj.Manual):
        definition = "id : int\\n---\\nb : <blob@>"

    i = args["start"]
    while True:
        Rec.insert([{"id": i + k, "b": np.random.rand(2000)} for k in range(5)])
        i += 5
        if i == args["start"] + 5:
            print("ready", flush=True)  # warmed up: kill it from now on
""")


def run_and_kill(tmp_path: Path, store: dict[str, Any], start: int, delay: float) -> None:
    args = {"db": str(tmp_path / "faults.db"), "store": store, "start": start}
    child = subprocess.Popen([sys.executable, "-c", WRITER, json.dumps(args)],
                             stdout=subprocess.PIPE, cwd=tmp_path)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == b"ready"
        time.sleep(delay)
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()


@pytest.mark.parametrize("kind", ["file", "s3"])
def test_killed_writer_leaves_no_dangling_row(kind: str, tmp_path: Path,
                                              request: pytest.FixtureRequest) -> None:
    if kind == "file":
        store = {"protocol": "file", "location": str(tmp_path / "store")}
    else:
        store = request.getfixturevalue("moto_s3").store_config()
    rng = random.Random(7)
    for round_ in range(4):
        run_and_kill(tmp_path, store, start=round_ * 100_000, delay=rng.uniform(0.05, 0.6))
    cfg = dj.config.child()
    cfg["database.backend"] = "sqlite"
    cfg["database.path"] = str(tmp_path / "faults.db")
    dj.config["stores"] = {"default": "main", "main": store}
    conn = dj.Connection(config=cfg)
    try:
        rec = dj.VirtualModule("vm", "faults", connection=conn).Rec
        assert len(rec) >= 20, "fewer rows than the warm-up inserts committed"
        values = rec.to_arrays("b")  # every row's object is there and verifies
        assert all(v.shape == (2000,) for v in values)
    finally:
        conn.close()
