"""The jobs queue (``Table.jobs``), populate(reserve_jobs=True / processes=n) and workers."""
from __future__ import annotations

import datetime
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import joinflow as dj
from joinflow.pipeline import runner
from joinflow.pipeline.worker import load_table

TESTS = Path(__file__).resolve().parent


def _tables(schema, fail_on=()):
    @schema
    class Src(dj.Manual):
        definition = """
        sid : int32
        """

    @schema
    class Comp(dj.Computed):
        definition = """
        -> Src
        ---
        value : int32
        """

        class Piece(dj.Part):
            definition = """
            -> master
            piece : int8
            """

        def make(self, key):
            self.insert1(dict(key, value=key["sid"] * 2))
            self.Piece.insert1(dict(key, piece=1))
            if key["sid"] in fail_on:
                raise ValueError(f"bad key {key['sid']}")

    return Src, Comp


def test_jobs_table_layout_and_refresh(schema):
    Src, Comp = _tables(schema)
    Src.insert([{"sid": i} for i in range(5)])
    jobs = Comp.jobs
    assert jobs.table_name == "~~comp"
    assert schema.jobs and schema.jobs[0].table_name == "~~comp"
    assert jobs.primary_key == ["sid"]
    assert list(jobs.heading.names) == [
        "sid", "status", "priority", "created_time", "scheduled_time", "reserved_time",
        "completed_time", "duration", "error_message", "error_stack", "user", "host", "pid",
        "connection_id", "version"]
    assert jobs.heading["status"].type == "enum('pending','reserved','success','error','ignore')"
    assert jobs.refresh(priority=3) == {"added": 5, "removed": 0, "orphaned": 0, "re_pended": 0}
    assert jobs.refresh()["added"] == 0  # already queued
    assert set(jobs.pending.to_arrays("priority")) == {3}
    assert jobs.progress() == {"pending": 5, "reserved": 0, "success": 0, "error": 0,
                               "ignore": 0, "total": 5}
    (Src & {"sid": 4}).delete()
    assert jobs.refresh()["removed"] == 0  # a fresh pending job stays for stale_timeout
    jobs.update1({"sid": 4, "created_time": datetime.datetime(2000, 1, 1)})
    assert jobs.refresh(stale_timeout=0)["removed"] == 0  # 0: no age-based check
    assert jobs.refresh()["removed"] == 1
    assert len(jobs) == 4


def test_key_source_without_all_key_attributes(schema):
    @schema
    class Subject(dj.Manual):
        definition = """
        subject : int32
        """

    @schema
    class Trial(dj.Computed):
        definition = """
        -> Subject
        trial : int16
        """

        def make(self, key):
            self.insert([dict(key, trial=t) for t in range(3)])

    Subject.insert([{"subject": 1}, {"subject": 2}])
    assert Trial.jobs.primary_key == ["subject"]
    assert Trial.populate(reserve_jobs=True)["success_count"] == 2
    assert len(Trial) == 6 and len(Trial.jobs) == 0
    (Subject & {"subject": 2}).delete()
    assert Trial.jobs.refresh() == {"added": 0, "removed": 0, "orphaned": 0, "re_pended": 0}


def test_reserve_is_exclusive_and_release(schema):
    Src, Comp = _tables(schema)
    Src.insert([{"sid": 1}])
    Comp.jobs.refresh()
    assert Comp.jobs.reserve({"sid": 1}) is True
    assert Comp.jobs.reserve({"sid": 1}) is False  # already reserved
    row = Comp.jobs.reserved.fetch1()
    assert row["pid"] == os.getpid() and row["host"] and row["reserved_time"] is not None
    Comp.jobs.release({"sid": 1})
    assert len(Comp.jobs.pending) == 1


def test_populate_reserve_jobs_errors_and_retry(schema):
    Src, Comp = _tables(schema, fail_on={2})
    Src.insert([{"sid": i} for i in range(4)])
    result = Comp.populate(reserve_jobs=True, suppress_errors=True)
    assert result["success_count"] == 3 and [k for k, _ in result["error_list"]] == [{"sid": 2}]
    assert "ValueError: bad key 2" in result["error_list"][0][1]
    # nothing of the failed key is left behind, and its job tells why
    assert not (Comp & {"sid": 2}) and not (Comp.Piece & {"sid": 2})
    err = Comp.jobs.errors.fetch1()
    assert err["sid"] == 2 and err["error_message"] == "ValueError: bad key 2"
    assert "Traceback" in err["error_stack"] and "bad key 2" in err["error_stack"]
    assert len(Comp.jobs) == 1  # completed jobs are not kept by default
    # errors are not retried until their jobs are deleted
    assert Comp.populate(reserve_jobs=True, suppress_errors=True)["success_count"] == 0
    Comp.jobs.errors.delete()
    Comp.populate(reserve_jobs=True, suppress_errors=True)
    assert len(Comp.jobs.errors) == 1 and Comp.progress() == (1, 4)


def test_populate_reserve_jobs_raises_without_suppress(schema):
    Src, Comp = _tables(schema, fail_on={0})
    Src.insert([{"sid": 0}])
    with pytest.raises(ValueError, match="bad key 0"):
        Comp.populate(reserve_jobs=True)
    assert Comp.jobs.errors.fetch1("error_message") == "ValueError: bad key 0"


def test_return_exception_objects(schema):
    Src, Comp = _tables(schema, fail_on={0})
    Src.insert([{"sid": 0}])
    result = Comp.populate(reserve_jobs=True, suppress_errors=True,
                           return_exception_objects=True)
    assert isinstance(result["error_list"][0][1], ValueError)


def test_restrictions_limit_keys_exactly(schema):
    Src, Comp = _tables(schema)
    Src.insert([{"sid": i} for i in range(10)])
    Comp.populate(Src & "sid < 3", reserve_jobs=True)
    assert sorted(Comp.to_arrays("sid")) == [0, 1, 2]
    Comp.populate({"sid": 7}, reserve_jobs=True)
    assert sorted(Comp.to_arrays("sid")) == [0, 1, 2, 7]
    Comp.populate(Src & "sid >= 8")
    assert sorted(Comp.to_arrays("sid")) == [0, 1, 2, 7, 8, 9]
    assert Comp.populate(reserve_jobs=True, max_calls=2)["success_count"] == 2
    assert Comp.progress() == (2, 10)


def test_ignore_keep_completed_and_re_pend(schema):
    Src, Comp = _tables(schema)
    Src.insert([{"sid": i} for i in range(3)])
    Comp.jobs.ignore({"sid": 0})
    with dj.config.override(jobs={"keep_completed": True}):
        Comp.populate(reserve_jobs=True)
        assert len(Comp.jobs.completed) == 2 and len(Comp.jobs.ignored) == 1
        done = Comp.jobs.completed.to_dicts()
        assert all(r["duration"] is not None and r["completed_time"] for r in done)
        (Comp & {"sid": 1}).delete()
        assert Comp.jobs.refresh()["re_pended"] == 1
        assert Comp.jobs.pending.keys() == [{"sid": 1}]
    assert not (Comp & {"sid": 0})


def test_stale_reservation_cleared_by_timeout(schema):
    Src, Comp = _tables(schema)
    Src.insert([{"sid": 1}])
    Comp.jobs.refresh()
    assert Comp.jobs.reserve({"sid": 1})
    assert Comp.jobs.refresh()["orphaned"] == 0  # our own live reservation
    time.sleep(0.05)
    assert Comp.jobs.refresh(orphan_timeout=0.01)["orphaned"] == 1
    assert len(Comp.jobs.pending) == 1


def test_scheduled_delay(schema):
    Src, Comp = _tables(schema)
    Src.insert([{"sid": 1}])
    Comp.jobs.refresh(delay=3600)
    assert Comp.populate(reserve_jobs=True, refresh=False)["success_count"] == 0
    (Comp.jobs & {"sid": 1}).delete()
    Comp.jobs.refresh(delay=-1)
    assert Comp.populate(reserve_jobs=True, refresh=False)["success_count"] == 1


def test_processes_two(conn, make_schema, backend, tmp_path):
    if backend == "sqlite":
        pytest.skip("the conn fixture's SQLite is in memory; see the worker tests")
    schema = make_schema()
    Src, Comp = _tables(schema)
    Src.insert([{"sid": i} for i in range(20)])
    result = Comp.populate(processes=2, reserve_jobs=True)
    assert result["success_count"] == 20 and len(Comp) == 20 and len(Comp.jobs) == 0
    Src.insert([{"sid": i} for i in range(20, 30)])
    assert Comp.populate(processes=2)["success_count"] == 10 and len(Comp) == 30


def test_processes_two_sqlite_file(tmp_path):
    from conftest import backend_config
    conn = dj.Connection(config=backend_config("sqlite", tmp_path))
    schema = dj.Schema("procs", connection=conn)
    Src, Comp = _tables(schema)
    Src.insert([{"sid": i} for i in range(20)])
    assert Comp.populate(processes=2, reserve_jobs=True)["success_count"] == 20
    assert len(Comp) == 20 and len(Comp.Piece) == 20


def test_load_table_forms(tmp_path, monkeypatch):
    (tmp_path / "mypipe.py").write_text(
        "import joinflow as dj\n"
        "class Fake:\n    database = 'lab'\n    def populate(self): pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert load_table("mypipe:Fake").database == "lab"
    assert load_table("lab.Fake", module="mypipe").database == "lab"
    with pytest.raises(dj.errors.JoinflowError, match="not 'other'"):
        load_table("other.Fake", module="mypipe")
    with pytest.raises(dj.errors.JoinflowError, match="--module"):
        load_table("lab.Fake")


# -- worker subprocesses -------------------------------------------------------------------
@pytest.fixture
def worker_env(backend, tmp_path):
    """Environment for worker subprocesses importing tests/data/jobs_worker_mod.py, and the
    module imported here too (same schema)."""
    from conftest import connect, unique_name
    connect(backend, tmp_path).close()  # skips when the server is unreachable
    env = dict(os.environ, JOBSTEST_BACKEND=backend, JOBSTEST_SCHEMA=unique_name("jobw"),
               JOBSTEST_DB=str(tmp_path / "shared.db"), JOBSTEST_MARKER=str(tmp_path / "m"),
               # this checkout's joinflow, whichever one the environment installed
               PYTHONPATH=os.pathsep.join([str(TESTS.parent / "src"), str(TESTS / "data"),
                                           str(TESTS)]))
    yield env
    mod = _import_mod(env)
    mod.schema.drop(prompt=False)
    mod.conn.close()


def _import_mod(env):
    saved = {k: os.environ.get(k) for k in env if k.startswith("JOBSTEST_")}
    os.environ.update({k: v for k, v in env.items() if k.startswith("JOBSTEST_")})
    sys.path.insert(0, str(TESTS / "data"))
    try:
        sys.modules.pop("jobs_worker_mod", None)
        import jobs_worker_mod
        return jobs_worker_mod
    finally:
        sys.path.remove(str(TESTS / "data"))
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _worker(env, *args, **popen):
    return subprocess.Popen([sys.executable, "-m", "joinflow", "worker", "jobs_worker_mod:Comp",
                             "--poll-interval", "0.1", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen)


def _wait_for(path: Path, procs, timeout=60.0):
    end = time.monotonic() + timeout
    while not path.exists():
        if any(p.poll() is not None for p in procs):
            raise AssertionError("worker exited early: " + procs[0].stderr.read()[-2000:])
        assert time.monotonic() < end, "the worker never started the slow key"
        time.sleep(0.05)


@pytest.mark.slow  # ~20-30 s per backend on two shared cores
def test_eight_workers_make_every_key_exactly_once(worker_env):
    mod = _import_mod(worker_env)
    n = 2000
    mod.Src.insert([{"sid": i} for i in range(n)])
    gate = Path(worker_env["JOBSTEST_MARKER"]).with_name("gate")
    gate.mkdir()
    env = dict(worker_env, JOBSTEST_GATE=str(gate))
    procs = [_worker(env, "--max-idle", "0", "--quiet") for _ in range(8)]
    end = time.monotonic() + 120
    while len(list(gate.glob("ready-*"))) < len(procs):  # all imported: a fast one cannot do it all
        assert all(p.poll() is None for p in procs), [p.communicate()[1][-2000:] for p in procs]
        assert time.monotonic() < end, "the workers did not start"
        time.sleep(0.02)
    (gate / "go").touch()
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1][-2000:] for o in outs]
    log = mod.MakeLog.to_arrays("sid", "pid")
    assert len(log[0]) == n and len(set(log[0])) == n  # each key made once: none lost or twice
    assert len(set(log[1])) > 1  # the work was shared
    assert len(mod.Comp) == n and len(mod.Comp.jobs) == 0


def test_killed_worker_key_recovered_by_refresh(worker_env):
    mod = _import_mod(worker_env)
    mod.Src.insert([{"sid": i} for i in range(5)])
    mod.Comp.jobs.refresh()
    env = dict(worker_env, JOBSTEST_SLOW_KEY="3")
    proc = _worker(env, "--once", "--quiet")
    _wait_for(Path(env["JOBSTEST_MARKER"]), [proc])
    assert (mod.Comp.jobs & {"sid": 3}).fetch1("status") == "reserved"
    proc.kill()
    proc.wait(timeout=30)
    held = len(mod.Comp.jobs & "status = 'reserved'")  # key 3, and any claimed with it
    orphaned, end = 0, time.monotonic() + 20
    while not orphaned and time.monotonic() < end:  # the server notices the lost session
        orphaned = mod.Comp.jobs.refresh(stale_timeout=0)["orphaned"]
        time.sleep(0.1)
    assert orphaned == held >= 1
    assert len(mod.Comp.jobs & "status = 'reserved'") == 0
    assert (mod.Comp.jobs & {"sid": 3}).fetch1("status") == "pending"
    mod.Comp.populate(reserve_jobs=True)
    assert len(mod.Comp) == 5
    assert sorted(mod.MakeLog.to_arrays("sid")) == [0, 1, 2, 3, 4]  # sid 3 made once


def test_sigterm_stops_worker_and_releases_its_job(worker_env):
    mod = _import_mod(worker_env)
    mod.Src.insert([{"sid": i} for i in range(3)])
    env = dict(worker_env, JOBSTEST_SLOW_KEY="1")
    mod.Comp.jobs.refresh()
    (mod.Comp.jobs & {"sid": 1}).delete()
    mod.Comp.jobs.refresh(priority=0)  # sid 1 first
    proc = _worker(env)
    _wait_for(Path(env["JOBSTEST_MARKER"]), [proc])
    proc.send_signal(signal.SIGTERM)
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err[-2000:]
    assert "stopping" in err
    assert (mod.Comp.jobs & {"sid": 1}).fetch1("status") == "pending"
    assert not (mod.Comp & {"sid": 1}) and not (mod.MakeLog & {"sid": 1})


def test_workers_race_to_create_jobs_table(worker_env):
    mod = _import_mod(worker_env)
    mod.Src.insert([{"sid": i} for i in range(50)])
    assert "~~comp" not in mod.conn.backend.list_tables(mod.conn.run, mod.schema.database)
    procs = [_worker(worker_env, "--max-idle", "0", "--quiet") for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[1][-2000:] for o in outs]
    assert len(mod.Comp) == 50 and sorted(mod.MakeLog.to_arrays("sid")) == list(range(50))


def test_worker_logs_one_line_per_job(worker_env):
    mod = _import_mod(worker_env)
    mod.Src.insert([{"sid": i} for i in range(3)])
    proc = _worker(worker_env, "--once")
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert sum("Comp {'sid':" in line for line in err.splitlines()) == 3


def test_stop_flag_stops_populate_between_keys(schema):
    Src, Comp = _tables(schema)
    Src.insert([{"sid": i} for i in range(3)])
    runner.stop_requested.set()
    try:
        assert Comp.populate(reserve_jobs=True)["success_count"] == 0
    finally:
        runner.stop_requested.clear()
    assert Comp.populate(reserve_jobs=True)["success_count"] == 3


def test_system_exit_in_make_is_recorded(schema):
    Src, _ = _tables(schema)

    @schema
    class Quits(dj.Computed):
        definition = """
        -> Src
        """

        def make(self, key):
            raise SystemExit("SIGTERM received")

    Src.insert1({"sid": 1})
    with pytest.raises(SystemExit):
        Quits.populate(reserve_jobs=True)
    assert "SIGTERM" in Quits.jobs.errors.fetch1("error_message")
