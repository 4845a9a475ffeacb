"""A user module for the jobs tests' worker subprocesses (`joinflow worker jobs_worker_mod:Comp`).

Configured from the environment: JOBSTEST_BACKEND, JOBSTEST_SCHEMA, JOBSTEST_DB (SQLite file),
JOBSTEST_SLOW_KEY (make of that key writes JOBSTEST_MARKER and then sleeps), JOBSTEST_GATE (a folder:
the worker writes ready-<pid> there and waits for a file `go`, so that several workers start together)."""
import os
import time
import uuid
from pathlib import Path

from conftest import backend_config

import joinflow as dj

cfg = backend_config(os.environ["JOBSTEST_BACKEND"])
if os.environ["JOBSTEST_BACKEND"] == "sqlite":
    cfg["database.path"] = os.environ["JOBSTEST_DB"]
conn = dj.Connection(config=cfg)
schema = dj.Schema(os.environ["JOBSTEST_SCHEMA"], connection=conn)
SLOW_KEY = int(os.environ.get("JOBSTEST_SLOW_KEY", "-1"))
if os.environ.get("JOBSTEST_GATE"):  # start together: a fast worker could otherwise make every key
    gate = Path(os.environ["JOBSTEST_GATE"])
    (gate / f"ready-{os.getpid()}").touch()
    end = time.monotonic() + 120
    while not (gate / "go").exists() and time.monotonic() < end:
        time.sleep(0.01)


@schema
class Src(dj.Manual):
    definition = """
    sid : int32
    """


@schema
class MakeLog(dj.Manual):
    definition = """
    sid : int32
    call : char(32)
    ---
    pid : int32
    """


@schema
class Comp(dj.Computed):
    definition = """
    -> Src
    ---
    value : int32
    """

    def make(self, key):
        MakeLog.insert1(dict(key, call=uuid.uuid4().hex, pid=os.getpid()))
        if key["sid"] == SLOW_KEY:
            Path(os.environ["JOBSTEST_MARKER"]).write_text(str(os.getpid()))
            time.sleep(120)
        self.insert1(dict(key, value=key["sid"] * 2))
