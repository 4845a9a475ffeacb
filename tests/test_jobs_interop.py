"""One jobs queue shared by a DataJoint 2.3.5 worker and a joinflow worker (issue #9).

DataJoint runs in its own Python (``JF_DATAJOINT_PYTHON``, as in test_interop_datajoint.py),
driven as a black box through the script below. On MariaDB and on PostgreSQL, with the schema
and its ``~~made`` jobs table declared by DataJoint or by joinflow:

* both jobs tables have the same columns, types, defaults, comments and index, whoever made them;
* a DataJoint worker and a joinflow worker populate with ``reserve_jobs=True`` at the same time:
  every key is made exactly once (the two success counts add up to the keys, no error, no
  duplicate), both workers took part, each completed job names the process that made it, and the
  hidden ``_job_*`` columns are filled by both;
* each side's views (``pending``, ``reserved``, ``errors``, ``completed``, ``progress()``) read
  the rows the other wrote;
* an error recorded by one side (message and stack) is read by the other, which deletes the error
  job and makes the key again.
"""
from __future__ import annotations

import datetime
import json
import os
import pickle
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

import joinflow as dj

DJ_PYTHON = os.environ.get("JF_DATAJOINT_PYTHON")
pytestmark = pytest.mark.skipif(
    not DJ_PYTHON,
    reason="set JF_DATAJOINT_PYTHON to a python with datajoint==2.3.5 (and psycopg2-binary) "
           "to run the shared jobs queue tests")

N = 40           # keys made by the two workers together
BAD = N          # keys from here on fail until they are listed in Fix
SLEEP = 0.05     # seconds per make, so that both workers take keys


@pytest.fixture(params=["postgresql", "mysql"])
def backend(request) -> str:
    """DataJoint supports MySQL and PostgreSQL only: overrides conftest's three backends."""
    return request.param


# Executed in both interpreters (``dj`` is datajoint there, joinflow here).
PIPELINE_SRC = r'''
import time

@schema
class Source(dj.Manual):
    definition = """
    src_id : int32
    ---
    weight : float64
    """

@schema
class Fix(dj.Manual):
    definition = """
    -> Source
    """

@schema
class Made(dj.Computed):
    definition = """
    -> Source
    ---
    maker : varchar(16)
    value : float64
    """

    def make(self, key):
        if key["src_id"] >= BAD and not len(Fix & key):
            raise ValueError(f"bad source {key['src_id']}")
        time.sleep(SLEEP)
        weight = (Source & key).fetch1("weight")
        self.insert1(dict(key, maker=MAKER, value=2 * weight))
'''

DJ_SCRIPT = r'''
import sys, os, json, pickle, time
import datajoint as dj
args = json.loads(sys.argv[1])
dj.config["database.backend"] = args["backend"]
dj.config["database.host"] = args["host"]
dj.config["database.port"] = args["port"]
dj.config["database.user"] = args["user"]
dj.config["database.password"] = args["password"] or ""
dj.config["safemode"] = False
dj.config["jobs.keep_completed"] = True
dj.config["jobs.add_job_metadata"] = True
MAKER, BAD, SLEEP = "datajoint", args["bad"], args["sleep"]
schema = dj.Schema(args["schema"])
exec(args["pipeline"])
out = {"pid": os.getpid(), "connection_id": dj.conn().connection_id}

def view():
    jobs = Made.jobs
    rows = jobs.proj(..., "-error_stack").to_dicts(order_by=jobs.primary_key)
    stacks = {r["src_id"]: r["error_stack"] for r in jobs.errors.to_dicts()}
    return dict(progress=jobs.progress(), table_progress=Made.progress(), rows=rows,
                stacks=stacks,
                views={v: sorted(k["src_id"] for k in getattr(jobs, v).keys())
                       for v in ("pending", "reserved", "errors", "ignored", "completed")},
                made={r["src_id"]: r["maker"] for r in Made.to_dicts()})

for step, kw in args["steps"]:
    if step == "declare":
        Source.insert([dict(src_id=i, weight=i / 2) for i in range(kw["n"])])
        out["declare"] = Made.jobs.refresh()
    elif step == "race":
        open(kw["ready"], "w").close()
        while not os.path.exists(kw["go"]):
            time.sleep(0.01)
        out["race"] = Made.populate(reserve_jobs=True, suppress_errors=True)
    elif step == "populate":
        out.setdefault("populate", []).append(
            Made.populate(*kw["restrictions"], reserve_jobs=True, suppress_errors=True,
                          refresh=kw.get("refresh")))
    elif step == "declare_more":  # queue every key not queued yet
        out["declare_more"] = Made.jobs.refresh()
    elif step == "reserve":  # and exit without making it: a worker that died
        out["reserved"] = Made.jobs.reserve(kw["key"])
    elif step == "delete_error":
        (Made.jobs.errors & kw["key"]).delete()
    elif step == "view":
        out.setdefault("view", []).append(view())
with open(args["out"], "wb") as f:
    pickle.dump(out, f)
'''


def dj_args(conn, name: str, tmp_path: Path, steps: list) -> dict:
    cfg, pg = conn.config, conn.backend.name == "postgresql"
    return dict(backend=conn.backend.name, host=cfg["database.host"],
                port=cfg["database.port"] or (5432 if pg else 3306),
                user=cfg["database.user"] or ("postgres" if pg else "root"),
                password=cfg["database.password"], schema=name, bad=BAD, sleep=SLEEP,
                pipeline=PIPELINE_SRC, steps=steps,
                out=str(tmp_path / f"dj_{uuid.uuid4().hex[:8]}.pkl"))


def start_dj(conn, name: str, tmp_path: Path, steps: list) -> tuple[subprocess.Popen, str]:
    args = dj_args(conn, name, tmp_path, steps)
    proc = subprocess.Popen([DJ_PYTHON, "-c", DJ_SCRIPT, json.dumps(args)], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return proc, args["out"]


def finish_dj(proc: subprocess.Popen, out: str) -> dict:
    _, err = proc.communicate(timeout=180)
    if proc.returncode:
        pytest.fail(f"DataJoint script failed:\n{err[-4000:]}")
    with open(out, "rb") as f:
        return pickle.load(f)


def run_dj(conn, name: str, tmp_path: Path, steps: list) -> dict:
    return finish_dj(*start_dj(conn, name, tmp_path, steps))


def joinflow_pipeline(conn, name: str) -> dict:
    env = dict(dj=dj, schema=dj.Schema(name, connection=conn), MAKER="joinflow", BAD=BAD,
               SLEEP=SLEEP)
    exec(PIPELINE_SRC, env)
    return env


def column_layout(conn, name: str) -> list:
    """The jobs table as the catalog describes it: each column's name, SQL type, nullability
    and default, then each index's columns. Normalized where the two declare differently but
    equivalently: the index names MySQL shows, an enum type (DataJoint on PostgreSQL) or a
    checked varchar (joinflow), ``CURRENT_TIMESTAMP`` with or without ``(3)`` into a
    ``datetime(3)`` column, ``0`` or ``'0'::bigint``."""
    if conn.backend.name == "mysql":
        cols = conn.query(
            "SELECT column_name, column_type, is_nullable, column_default FROM "
            "information_schema.columns WHERE table_schema = %s AND table_name = '~~made' "
            "ORDER BY ordinal_position", [name])
        stats = conn.query(
            "SELECT index_name, non_unique, column_name FROM information_schema.statistics "
            "WHERE table_schema = %s AND table_name = '~~made' "
            "ORDER BY index_name, seq_in_index", [name])
        indexes: dict = {}
        for index, non_unique, column in stats:
            indexes.setdefault((index, int(non_unique)), []).append(column)
        index_list = sorted((u, tuple(c)) for (_, u), c in indexes.items())
        return [tuple(r) for r in cols] + [("index", i) for i in index_list]
    cols = conn.query(
        "SELECT column_name, data_type, is_nullable, column_default FROM "
        "information_schema.columns WHERE table_schema = %s AND table_name = '~~made' "
        "ORDER BY ordinal_position", [name])
    layout = []
    for column, data_type, nullable, default in cols:
        if column == "status":  # DataJoint: an enum type; joinflow: varchar with a CHECK
            data_type = "enum"
        default = (default or "").replace("CURRENT_TIMESTAMP(3)", "CURRENT_TIMESTAMP")
        layout.append((column, data_type, nullable, default.replace("'0'::bigint", "0")))
    indexes = conn.query("SELECT indexdef FROM pg_indexes WHERE schemaname = %s AND "
                         "tablename = '~~made'", [name])
    return layout + [("index", i) for i in sorted(
        d.split(" USING ")[1] + (" unique" if "UNIQUE" in d else "") for (d,) in indexes)]


def drop_schema(conn, name: str) -> None:
    try:
        dj.Schema(name, connection=conn).drop(prompt=False)
    except Exception:  # pragma: no cover - best effort cleanup
        pass


def jf_view(env: dict) -> dict:
    jobs = env["Made"].jobs
    rows = jobs.proj(..., "-error_stack").to_dicts(order_by=jobs.primary_key)
    return dict(progress=jobs.progress(), table_progress=env["Made"].progress(), rows=rows,
                stacks={r["src_id"]: r["error_stack"] for r in jobs.errors.to_dicts()},
                views={v: sorted(k["src_id"] for k in getattr(jobs, v).keys())
                       for v in ("pending", "reserved", "errors", "ignored", "completed")},
                made={r["src_id"]: r["maker"] for r in env["Made"].to_dicts()})


@pytest.fixture
def jobs_config(conn):
    conn.config["jobs.keep_completed"] = True
    conn.config["jobs.add_job_metadata"] = True
    return conn


# ---------------------------------------------------------------------------------------------
def test_jobs_table_layout_is_the_same_whoever_declares_it(jobs_config, tmp_path):
    conn = jobs_config
    by_dj, by_jf = f"jfq_d_{uuid.uuid4().hex[:8]}", f"jfq_j_{uuid.uuid4().hex[:8]}"
    try:
        run_dj(conn, by_dj, tmp_path, [["declare", {"n": 3}]])
        env = joinflow_pipeline(conn, by_jf)
        env["Source"].insert([dict(src_id=i, weight=i / 2) for i in range(3)])
        assert env["Made"].jobs.refresh() == {"added": 3, "removed": 0, "orphaned": 0,
                                              "re_pended": 0}
        dj_layout, jf_layout = column_layout(conn, by_dj), column_layout(conn, by_jf)
        assert [c[0] for c in dj_layout if c[0] != "index"][:3] == \
            ["src_id", "status", "priority"]
        assert jf_layout == dj_layout
        # the computed table's hidden job columns too
        hidden = ("SELECT column_name, data_type, is_nullable FROM information_schema.columns "
                  "WHERE table_schema = %s AND table_name = '__made' AND column_name LIKE "
                  "'\\_job%%' ORDER BY ordinal_position")
        dj_hidden = [tuple(r) for r in conn.query(hidden, [by_dj])]
        assert [r[0] for r in dj_hidden] == ["_job_start_time", "_job_duration", "_job_version"]
        assert [tuple(r) for r in conn.query(hidden, [by_jf])] == dj_hidden
        assert [a.name for a in env["Made"].heading.hidden] == \
            ["_job_start_time", "_job_duration", "_job_version"]
        made_dj = dj.Schema(by_dj, connection=conn)
        assert [a.name for a in made_dj.make_classes()["Made"]().heading.hidden] == \
            ["_job_start_time", "_job_duration", "_job_version"]
    finally:
        drop_schema(conn, by_dj)
        drop_schema(conn, by_jf)


@pytest.mark.parametrize("declarer", ["datajoint", "joinflow"])
def test_datajoint_and_joinflow_workers_share_one_queue(jobs_config, tmp_path, declarer):
    conn = jobs_config
    name = f"jfq_{declarer[0]}_{uuid.uuid4().hex[:8]}"
    try:
        if declarer == "datajoint":
            declared = run_dj(conn, name, tmp_path, [["declare", {"n": N}]])["declare"]
            env = joinflow_pipeline(conn, name)
        else:
            env = joinflow_pipeline(conn, name)
            env["Source"].insert([dict(src_id=i, weight=i / 2) for i in range(N)])
            declared = env["Made"].jobs.refresh()
        assert declared == {"added": N, "removed": 0, "orphaned": 0, "re_pended": 0}
        Source, Fix, Made = env["Source"], env["Fix"], env["Made"]
        assert len(Made.jobs.pending) == N

        # -- both workers at once --------------------------------------------------------
        ready, go = tmp_path / "ready", tmp_path / "go"
        proc, out = start_dj(conn, name, tmp_path,
                             [["race", {"ready": str(ready), "go": str(go)}]])
        deadline = time.monotonic() + 120
        while not ready.exists():
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline
            time.sleep(0.01)
        go.touch()
        jf_result = Made.populate(reserve_jobs=True, suppress_errors=True)
        dj_out = finish_dj(proc, out)
        dj_result = dj_out["race"]

        assert jf_result["error_list"] == [] and dj_result["error_list"] == []
        assert jf_result["success_count"] + dj_result["success_count"] == N
        assert jf_result["success_count"] > 0 and dj_result["success_count"] > 0
        made = {r["src_id"]: r["maker"] for r in Made.to_dicts()}
        assert sorted(made) == list(range(N))
        assert sum(m == "datajoint" for m in made.values()) == dj_result["success_count"]
        # each completed job names the process and session that made its key
        jobs = Made.jobs
        done = jobs.completed.to_dicts()
        assert len(done) == N and len(jobs) == N
        mine = {"datajoint": (dj_out["pid"], dj_out["connection_id"]),
                "joinflow": (os.getpid(), conn.query(
                    "SELECT CONNECTION_ID()" if conn.backend.name == "mysql"
                    else "SELECT pg_backend_pid()")[0][0])}
        for row in done:
            assert (row["pid"], row["connection_id"]) == mine[made[row["src_id"]]], row
            assert row["completed_time"] >= row["reserved_time"] and row["duration"] > 0
        # the hidden job columns are filled by both workers
        rows = conn.query(f"SELECT _job_start_time, _job_duration FROM {Made.full_table_name}")
        assert len(rows) == N and all(s is not None and d >= SLEEP * 0.5 for s, d in rows)

        # -- each side's views read the other's rows -------------------------------------
        jf = jf_view(env)
        dj_seen = run_dj(conn, name, tmp_path, [["view", {}]])["view"][0]  # both are done
        for seen in (jf, dj_seen):
            assert seen["progress"] == {"pending": 0, "reserved": 0, "success": N, "error": 0,
                                        "ignore": 0, "total": N}
            assert seen["table_progress"] == (0, N)
            assert seen["views"]["completed"] == list(range(N))
            assert seen["made"] == made
        assert [(r["src_id"], r["status"], r["pid"], r["connection_id"], r["host"])
                for r in dj_seen["rows"]] == \
            [(r["src_id"], r["status"], r["pid"], r["connection_id"], r["host"])
             for r in jf["rows"]]

        # -- an error recorded by one side is seen and retried by the other ---------------
        Source.insert([dict(src_id=BAD, weight=1.0), dict(src_id=BAD + 1, weight=2.0)])
        dj_out = run_dj(conn, name, tmp_path, [["populate", {"restrictions": [{"src_id": BAD}]}]])
        assert dj_out["populate"] == [{"success_count": 0, "error_list": [
            ({"src_id": BAD}, f"ValueError: bad source {BAD}")]}]
        jf_result = Made.populate({"src_id": BAD + 1}, reserve_jobs=True, suppress_errors=True)
        assert jf_result == {"success_count": 0, "error_list": [
            ({"src_id": BAD + 1}, f"ValueError: bad source {BAD + 1}")]}
        errors = {r["src_id"]: r for r in jobs.errors.to_dicts()}
        assert sorted(errors) == [BAD, BAD + 1]
        assert errors[BAD]["pid"] == dj_out["pid"] and errors[BAD + 1]["pid"] == os.getpid()
        for key, row in errors.items():
            assert row["error_message"] == f"ValueError: bad source {key}"
            assert "Traceback" in row["error_stack"] and f"bad source {key}" in row["error_stack"]
        # a populate skips errors until they are deleted
        assert Made.populate(reserve_jobs=True, suppress_errors=True)["success_count"] == 0
        Fix.insert([{"src_id": BAD}, {"src_id": BAD + 1}])
        # DataJoint reads joinflow's error (message and stack), retries it; joinflow retries
        # DataJoint's
        dj_out = run_dj(conn, name, tmp_path, [
            ["view", {}], ["delete_error", {"key": {"src_id": BAD + 1}}],
            ["populate", {"restrictions": []}], ["view", {}]])
        before, after = dj_out["view"]
        assert before["views"]["errors"] == [BAD, BAD + 1]
        assert before["progress"]["error"] == 2 and before["table_progress"] == (2, N + 2)
        assert before["stacks"][BAD + 1] == errors[BAD + 1]["error_stack"]
        assert {r["src_id"]: r["error_message"] for r in before["rows"]
                if r["status"] == "error"} == {k: f"ValueError: bad source {k}"
                                               for k in (BAD, BAD + 1)}
        assert dj_out["populate"] == [{"success_count": 1, "error_list": []}]
        assert after["views"]["errors"] == [BAD] and after["made"][BAD + 1] == "datajoint"
        (jobs.errors & {"src_id": BAD}).delete()
        assert Made.populate(reserve_jobs=True, suppress_errors=True) == \
            {"success_count": 1, "error_list": []}
        assert (Made & {"src_id": BAD}).fetch1("maker") == "joinflow"
        assert jobs.progress() == {"pending": 0, "reserved": 0, "success": N + 2, "error": 0,
                                   "ignore": 0, "total": N + 2}
        assert Made.progress() == (0, N + 2)
        assert run_dj(conn, name, tmp_path, [["view", {}]])["view"][0]["progress"] == \
            jobs.progress()
    finally:
        drop_schema(conn, name)


def test_pending_and_reserved_jobs_read_across(jobs_config, tmp_path):
    """A reservation held by a live joinflow session is left alone by DataJoint's populate,
    and a job DataJoint queued with a priority is claimed by joinflow in priority order."""
    conn = jobs_config
    name = f"jfq_r_{uuid.uuid4().hex[:8]}"
    try:
        env = joinflow_pipeline(conn, name)
        Made = env["Made"]
        env["Source"].insert([dict(src_id=i, weight=1.0) for i in range(4)])
        Made.jobs.refresh({"src_id": 0}, priority=9)
        assert Made.jobs.reserve({"src_id": 0})  # held by this session, as a running make would
        dj_out = run_dj(conn, name, tmp_path, [["view", {}],
                                               ["populate", {"restrictions": ["src_id < 3"]}],
                                               ["view", {}]])
        before, after = dj_out["view"]
        assert before["views"]["reserved"] == [0] and before["views"]["pending"] == []
        assert dj_out["populate"] == [{"success_count": 2, "error_list": []}]
        assert after["views"]["reserved"] == [0] and after["views"]["completed"] == [1, 2]
        assert sorted(after["made"]) == [1, 2]
        # joinflow sees DataJoint's completed rows and its own reservation
        assert Made.jobs.reserved.keys() == [{"src_id": 0}]
        assert [r["pid"] for r in Made.jobs.completed.to_dicts()] == [dj_out["pid"]] * 2
        assert Made.jobs.refresh()["orphaned"] == 0  # this session is alive
        # a DataJoint worker that reserved a key and died: its session is gone, so joinflow's
        # refresh gives the key back to the queue (this session's reservation stays)
        Made.jobs.refresh()
        assert run_dj(conn, name, tmp_path, [["reserve", {"key": {"src_id": 3}}]])["reserved"]
        assert sorted(k["src_id"] for k in Made.jobs.reserved.keys()) == [0, 3]
        deadline, orphaned = time.monotonic() + 10, 0
        while not orphaned and time.monotonic() < deadline:
            orphaned = Made.jobs.refresh()["orphaned"]
            time.sleep(0.1)
        assert orphaned == 1
        assert Made.jobs.reserved.keys() == [{"src_id": 0}]
        assert Made.jobs.pending.keys() == [{"src_id": 3}]
        assert Made.populate(reserve_jobs=True) == {"success_count": 1, "error_list": []}
    finally:
        drop_schema(conn, name)


def test_queue_times_in_a_servers_own_time_zone(conn, tmp_path):
    """A PostgreSQL server whose sessions run in America/New_York (here: a role's default):
    DataJoint writes and compares the queue's times in that zone, joinflow's sessions run in
    UTC. Jobs queued by either side are due at once for the other, and their times agree."""
    if conn.backend.name != "postgresql":
        pytest.skip("a per-role default time zone is PostgreSQL's (MySQL's is server-wide)")
    role = f"jfq_tz_{uuid.uuid4().hex[:8]}"
    conn.query(f'CREATE ROLE "{role}" LOGIN SUPERUSER')
    conn.query(f"ALTER ROLE \"{role}\" SET timezone = 'America/New_York'")
    cfg = conn.config.child()
    cfg["database.user"] = role
    zoned = dj.Connection(config=cfg)
    name = f"jfq_z_{uuid.uuid4().hex[:8]}"
    try:
        assert zoned.query("SELECT reset_val FROM pg_settings WHERE name = 'TimeZone'")[0][0] \
            == "America/New_York"
        env = joinflow_pipeline(zoned, name)
        Made = env["Made"]
        env["Source"].insert([dict(src_id=i, weight=1.0) for i in range(6)])
        Made.jobs.refresh("src_id < 3")  # queued by joinflow
        dj_out = run_dj(zoned, name, tmp_path, [
            ["populate", {"restrictions": ["src_id < 3"], "refresh": False}],
            ["declare_more", {}], ["view", {}]])
        assert dj_out["populate"] == [{"success_count": 3, "error_list": []}]
        # queued by DataJoint (its refresh of the other keys): due for joinflow at once
        assert Made.jobs.pending.keys() == [{"src_id": i} for i in (3, 4, 5)]
        assert Made.populate(reserve_jobs=True, refresh=False) == \
            {"success_count": 3, "error_list": []}
        created = [r["created_time"] for r in dj_out["view"][0]["rows"]]
        assert max(created) - min(created) < datetime.timedelta(minutes=5)
        done = Made.jobs.completed.to_dicts()
        assert all(r["completed_time"] >= r["reserved_time"] >= r["created_time"] for r in done)
        assert Made.jobs.refresh(stale_timeout=1, orphan_timeout=60) == \
            {"added": 0, "removed": 0, "orphaned": 0, "re_pended": 0}
    finally:
        drop_schema(zoned, name)
        zoned.close()
        conn.query(f'DROP OWNED BY "{role}"')
        conn.query(f'DROP ROLE "{role}"')


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))
