"""Scenarios of issue #9 written from DataJoint 2.3.5's jobs and Diagram documentation, each
checked against what DataJoint 2.3.5 returns, logs and raises (run side by side on MariaDB and
PostgreSQL): re-pended and orphaned jobs start afresh, the per-key log level, keys of every
type in the queue, the jobs API called directly, long error messages, every populate argument
with ``reserve_jobs`` (and the progress bar's total), and the Diagram's messages and logs."""
from __future__ import annotations

import datetime
import logging
import time
import uuid

import pytest

import joinflow as dj
from test_jobs import worker_env  # noqa: F401 - the fixture


def _pipeline(schema, fail=()):
    @schema
    class Subject(dj.Manual):
        definition = """
        subject_id : int32
        ---
        name : varchar(32)
        """

    @schema
    class Analysis(dj.Computed):
        definition = """
        -> Subject
        ---
        value : float64
        """

        def make(self, key, scale=1.5):
            if key["subject_id"] in fail:
                raise ValueError(f"bad subject {key['subject_id']}")
            self.insert1({**key, "value": key["subject_id"] * scale})

    Subject.insert([{"subject_id": i, "name": f"s{i}"} for i in range(1, 6)])
    return Subject, Analysis


def _fresh(job: dict) -> bool:
    """A job as DataJoint 2.3.5 re-adds it: nobody's, no times, no duration, no error."""
    return (job["status"] == "pending" and job["reserved_time"] is None
            and job["completed_time"] is None and job["duration"] is None
            and job["error_message"] == "" and job["error_stack"] is None
            and (job["user"], job["host"], job["pid"], job["connection_id"], job["version"])
            == ("", "", 0, 0, ""))


# -- refresh: re-pended and orphaned jobs -------------------------------------------------
def test_re_pended_job_starts_afresh(schema):
    """keep_completed: a success job whose row was deleted goes back to pending as a new job
    (DataJoint deletes it and inserts it again, with refresh's priority)."""
    Subject, Analysis = _pipeline(schema)
    with dj.config.override(jobs={"keep_completed": True}):
        assert Analysis.populate(reserve_jobs=True) == {"success_count": 5, "error_list": []}
        done = (Analysis.jobs & {"subject_id": 2}).fetch1()
        assert done["status"] == "success" and done["duration"] > 0 and done["pid"] > 0
        (Analysis & {"subject_id": 2}).delete()
        time.sleep(0.01)
        assert Analysis.jobs.refresh(priority=2) == {"added": 0, "removed": 0, "orphaned": 0,
                                                     "re_pended": 1}
        job = (Analysis.jobs & {"subject_id": 2}).fetch1()
        assert _fresh(job), job
        assert job["priority"] == 2 and job["created_time"] > done["created_time"]
        assert Analysis.jobs.pending.keys() == [{"subject_id": 2}]
        assert Analysis.populate(reserve_jobs=True, refresh=False) == \
            {"success_count": 1, "error_list": []}
        assert Analysis.jobs.progress()["success"] == 5


def test_orphaned_reservation_starts_afresh(schema):
    """refresh(orphan_timeout=s): a reservation older than s seconds becomes a new pending
    job with refresh's priority; a younger one stays reserved."""
    Subject, Analysis = _pipeline(schema)
    Analysis.jobs.refresh()
    assert Analysis.jobs.reserve({"subject_id": 1})
    time.sleep(1.2)
    assert Analysis.jobs.reserve({"subject_id": 2})
    assert Analysis.jobs.refresh(orphan_timeout=1, priority=7) == \
        {"added": 0, "removed": 0, "orphaned": 1, "re_pended": 0}
    job = (Analysis.jobs & {"subject_id": 1}).fetch1()
    assert _fresh(job) and job["priority"] == 7
    assert Analysis.jobs.reserved.keys() == [{"subject_id": 2}]
    assert (Analysis.jobs & {"subject_id": 2}).fetch1("pid") > 0


# -- logging ------------------------------------------------------------------------------
def test_populate_logs_keys_below_info(schema, caplog):
    """DataJoint logs each key made at its JOBS level (15): INFO logging shows none of them,
    a worker's logging (or level 15) one line per key."""
    Subject, Analysis = _pipeline(schema)
    with caplog.at_level(logging.INFO, logger="joinflow"):
        Analysis.populate(Subject & "subject_id < 3")
        Analysis.populate(Subject & "subject_id = 3", reserve_jobs=True)
    assert not [r for r in caplog.records if "made in" in r.getMessage()]
    caplog.clear()
    with caplog.at_level(15, logger="joinflow"):
        Analysis.populate(reserve_jobs=True)
    lines = [r for r in caplog.records if "made in" in r.getMessage()]
    assert [r.getMessage().split(" made")[0] for r in lines] == \
        ["Analysis {'subject_id': 4}", "Analysis {'subject_id': 5}"]
    assert {r.levelname for r in lines} == {"JOBS"} and {r.levelno for r in lines} == {15}


def test_worker_logging_shows_one_line_per_job(schema, capsys):
    from joinflow.pipeline import worker
    Subject, Analysis = _pipeline(schema)
    log = logging.getLogger("joinflow")
    saved = (log.level, list(log.handlers), log.propagate)
    try:
        worker.configure_logging(logging.INFO)
        totals = worker.run(Analysis, once=True)
    finally:
        log.setLevel(saved[0])
        log.handlers[:] = saved[1]
        log.propagate = saved[2]
    assert totals == {"success": 5, "error": 0, "calls": 5}
    err = capsys.readouterr().err
    assert len([line for line in err.splitlines() if " JOBS Analysis {" in line]) == 5


# -- keys of every type in the queue ------------------------------------------------------
def test_queue_with_uuid_date_and_string_keys(schema):
    """The jobs API (reserve, complete, error, ignore, refresh, views) on a key made of a
    uuid, a date and a string, with populate(reserve_jobs=True) around it."""
    ids = [uuid.UUID(int=i + 1) for i in range(4)]

    @schema
    class Recording(dj.Manual):
        definition = """
        rec : uuid
        day : date
        tag : varchar(8)
        ---
        n : int32
        """

    @schema
    class Stats(dj.Computed):
        definition = """
        -> Recording
        ---
        twice : int32
        """

        def make(self, key):
            if key["tag"] == "bad":
                raise RuntimeError(f"cannot {key['rec']}")
            self.insert1({**key, "twice": 2 * (Recording & key).fetch1("n")})

    day = datetime.date(2024, 2, 29)
    Recording.insert([{"rec": ids[0], "day": day, "tag": "a", "n": 1},
                      {"rec": ids[1], "day": day, "tag": "bad", "n": 2},
                      {"rec": ids[2], "day": day, "tag": "c", "n": 3},
                      {"rec": ids[3], "day": day, "tag": "d", "n": 4}])
    jobs = Stats.jobs
    assert jobs.primary_key == ["rec", "day", "tag"]
    assert jobs.refresh()["added"] == 4
    key3 = {"rec": ids[3], "day": day, "tag": "d"}
    jobs.ignore(key3)
    assert jobs.ignored.keys() == [key3]
    result = Stats.populate(reserve_jobs=True, suppress_errors=True)
    bad = {"rec": ids[1], "day": day, "tag": "bad"}
    assert result == {"success_count": 2,
                      "error_list": [(bad, f"RuntimeError: cannot {ids[1]}")]}
    error = jobs.errors.fetch1()
    assert {k: error[k] for k in bad} == bad and isinstance(error["rec"], uuid.UUID)
    assert error["day"] == day and error["error_message"] == f"RuntimeError: cannot {ids[1]}"
    assert sorted(r["twice"] for r in Stats.to_dicts()) == [2, 6]
    # the jobs API called directly
    jobs.error(bad, "by hand", error_stack="stack text")
    assert (jobs & bad).fetch1("error_message", "error_stack") == ("by hand", "stack text")
    (jobs & bad).delete()
    assert jobs.refresh()["added"] == 1
    assert jobs.reserve(bad) is True and jobs.reserve(bad) is False
    assert jobs.reserved.keys() == [bad]
    jobs.complete(bad)
    assert not (jobs & bad) and len(jobs) == 1  # the ignored one
    assert jobs.progress() == {"pending": 0, "reserved": 0, "success": 0, "error": 0,
                               "ignore": 1, "total": 1}
    # completed by hand but never made: a refresh queues it again; ignore it for good
    assert jobs.refresh()["added"] == 1 and jobs.pending.keys() == [bad]
    jobs.ignore(bad)
    (jobs & key3).delete()
    assert Stats.populate(reserve_jobs=True) == {"success_count": 1, "error_list": []}
    assert Stats.progress() == (1, 4)
    assert jobs.ignored.keys() == [bad]


def test_long_error_message_is_truncated_in_the_queue(schema):
    long_message = "x" * 3000

    @schema
    class Item(dj.Manual):
        definition = """
        item : int32
        """

    @schema
    class Fails(dj.Computed):
        definition = """
        -> Item
        """

        def make(self, key):
            raise ValueError(long_message)

    Item.insert1({"item": 1})
    result = Fails.populate(reserve_jobs=True, suppress_errors=True)
    # the returned message is whole; the queue keeps DataJoint's 2047 characters
    assert result["error_list"] == [({"item": 1}, "ValueError: " + long_message)]
    stored = Fails.jobs.errors.fetch1("error_message")
    assert len(stored) == 2047 and stored.endswith("...truncated")
    assert stored.startswith("ValueError: xxx")


# -- every populate argument with reserve_jobs --------------------------------------------
def test_populate_arguments_with_reserve_jobs(schema, capsys):
    Subject, Analysis = _pipeline(schema, fail=(5,))
    Subject.insert([{"subject_id": i, "name": f"s{i}"} for i in range(6, 9)])
    Analysis.jobs.refresh("subject_id in (2, 3)", priority=1)
    Analysis.jobs.refresh("subject_id = 4", delay=3600)  # not due for an hour
    assert Analysis.jobs.refresh() == {"added": 5, "removed": 0, "orphaned": 0, "re_pended": 0}
    # priority: only jobs at least that urgent; make_kwargs reach make; no refresh
    capsys.readouterr()
    result = Analysis.populate(reserve_jobs=True, priority=1, make_kwargs={"scale": 10},
                               display_progress=True, refresh=False)
    assert result == {"success_count": 2, "error_list": []}
    bar = capsys.readouterr().err
    assert "Analysis: 100%" in bar and "2/2 [" in bar
    assert Analysis.fetch("value", order_by="subject_id").tolist() == [20.0, 30.0]
    # max_calls counts the keys tried; the bar's total is what populate will try
    first = Analysis.populate(reserve_jobs=True, max_calls=2, display_progress=True,
                              suppress_errors=True, return_exception_objects=True)
    bar = capsys.readouterr().err
    assert first["success_count"] + len(first["error_list"]) == 2
    assert "2/2 [" in bar and "/5 [" not in bar and "/6 [" not in bar
    # the not-yet-due key waits; the failing one is returned as DataJoint words it
    rest = Analysis.populate(reserve_jobs=True, suppress_errors=True,
                             return_exception_objects=True)
    assert first["success_count"] + rest["success_count"] == 4
    errors = first["error_list"] + rest["error_list"]
    assert [(k, type(e).__name__, str(e)) for k, e in errors] == \
        [({"subject_id": 5}, "ValueError", "bad subject 5")]
    assert Analysis.jobs.pending.keys() == [{"subject_id": 4}]
    assert Analysis.progress() == (2, 8)
    # a restriction limits the keys exactly; the not-due key is not taken early
    assert Analysis.populate("subject_id = 4", reserve_jobs=True) == \
        {"success_count": 0, "error_list": []}
    assert Analysis.populate("subject_id = 4") == {"success_count": 1, "error_list": []}
    assert Analysis.progress() == (1, 8)


# -- Diagram: DataJoint's messages and logs -----------------------------------------------
def test_diagram_messages_and_count_log(schema, caplog):
    Subject, Analysis = _pipeline(schema)
    Analysis.populate()
    with pytest.raises(dj.DataJointError, match=r"^No restrictions applied\. Use "
                       r"Diagram\.cascade\(table_expr\) or diag\.restrict\(table_expr\) first\.$"):
        dj.Diagram(schema).counts()
    cascade = dj.Diagram.cascade(Subject & "subject_id < 3")
    with pytest.raises(dj.DataJointError, match=r"^Cannot apply restrict\(\) on a Diagram "
                       r"produced by Diagram\.cascade\(\)\. cascade and restrict are mutually "
                       r"exclusive modes\.$"):
        cascade.restrict(Subject)
    with pytest.raises(dj.DataJointError, match=r"^prune\(\) cannot be used on a Diagram "
                       r"produced by Diagram\.cascade\(\)\. Cascade diagrams must retain all "
                       r"descendant tables for safe deletion\.$"):
        cascade.prune()
    with caplog.at_level(logging.INFO, logger="joinflow"):
        counts = cascade.counts()
    assert counts == {Subject.full_table_name: 2, Analysis.full_table_name: 2}
    assert [r.getMessage() for r in caplog.records if "tuples" in r.getMessage()] == \
        [f"{Subject.full_table_name} (2 tuples)", f"{Analysis.full_table_name} (2 tuples)"]
    # nothing was changed
    assert len(Subject()) == 5 and len(Analysis()) == 5


# -- refresh is set-based -----------------------------------------------------------------
def test_refresh_adds_every_key_in_one_statement(schema):
    """jobs.refresh() queues any number of keys with one INSERT (DataJoint inserts them one by
    one), a second refresh adds none, and its counts are DataJoint's."""
    Subject, Analysis = _pipeline(schema)
    Subject.insert([{"subject_id": i, "name": "n"} for i in range(10, 510)])
    conn = schema.connection
    Analysis.jobs  # declared before counting
    seen: list[str] = []
    original = conn.query_raw

    def counting(sql, *args, **kwargs):
        seen.append(sql)
        return original(sql, *args, **kwargs)

    conn.query_raw = counting
    try:
        assert Analysis.jobs.refresh() == {"added": 505, "removed": 0, "orphaned": 0,
                                           "re_pended": 0}
    finally:
        del conn.query_raw
    inserts = [s for s in seen if s.lstrip().upper().startswith("INSERT")]
    assert len(inserts) == 1 and "~~analysis" in inserts[0]
    # the rest: at most two DELETEs, the reserved jobs read, one UPDATE (and catalog reads)
    assert len([s for s in seen if "~~analysis" in s]) <= 5
    assert Analysis.jobs.refresh()["added"] == 0
    assert len(Analysis.jobs.pending) == 505


# -- SIGTERM during populate(reserve_jobs=True) -------------------------------------------
def test_sigterm_during_reserved_populate_is_recorded(worker_env):  # noqa: F811
    """DataJoint 2.x: SIGTERM to a process in ``populate(reserve_jobs=True)`` rolls back the
    ``make`` in progress, records its job as ``SystemExit: SIGTERM received`` and exits; the
    keys not started stay pending (a SLURM job's time limit, a pod's eviction)."""
    import os
    import signal
    import subprocess
    import sys
    from pathlib import Path

    from test_jobs import _import_mod, _wait_for

    mod = _import_mod(worker_env)
    mod.Src.insert([{"sid": i} for i in range(4)])
    env = dict(worker_env, JOBSTEST_SLOW_KEY="2")
    script = ("import jobs_worker_mod as m\n"
              "m.conn.config['populate.group_commit'] = 0\n"
              "m.Comp.populate(reserve_jobs=True)\n")
    proc = subprocess.Popen([sys.executable, "-c", script], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    _wait_for(Path(env["JOBSTEST_MARKER"]), [proc])
    os.kill(proc.pid, signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1 and "SIGTERM received" in err
    jobs = mod.Comp.jobs
    assert jobs.errors.fetch1("sid", "error_message") == (2, "SystemExit: SIGTERM received")
    assert "Traceback" in jobs.errors.fetch1("error_stack")
    assert sorted(mod.Comp.to_arrays("sid")) == [0, 1]  # nothing of key 2 was kept
    assert jobs.pending.keys() == [{"sid": 3}] and not jobs.reserved


def test_diagram_of_a_module(schema):
    """dj.Diagram(module): the tables of the module's ``schema`` (a pipeline module, or a
    virtual module)."""
    import types
    Subject, Analysis = _pipeline(schema)
    module = types.ModuleType("my_pipeline")
    module.schema, module.Subject, module.Analysis = schema, Subject, Analysis
    expected = {Subject.full_table_name, Analysis.full_table_name}
    assert dj.Diagram(module).nodes_to_show == expected == dj.Diagram(schema).nodes_to_show
    virtual = dj.virtual_schema(schema.database, connection=schema.connection)
    assert dj.Diagram(virtual).nodes_to_show == expected
    assert "Analysis" in dj.Diagram(module).make_mermaid()
    with pytest.raises(dj.DataJointError):
        dj.Diagram(types.ModuleType("no_schema_here"))


def test_restricted_reserved_populate_takes_due_keys_in_order(schema):
    """populate(restriction, reserve_jobs=True, max_calls=n): n keys that can be made now, the
    most urgent first and then in key order (a job scheduled later does not use up a call)."""
    Subject, Analysis = _pipeline(schema)
    Analysis.jobs.refresh({"subject_id": 1}, delay=3600)
    Analysis.jobs.refresh({"subject_id": 4}, priority=2)
    Analysis.jobs.refresh()
    assert Analysis.populate("subject_id < 5", reserve_jobs=True, max_calls=2) == \
        {"success_count": 2, "error_list": []}
    assert Analysis.keys(order_by="KEY") == [{"subject_id": 2}, {"subject_id": 4}]
    assert Analysis.populate("subject_id < 5", reserve_jobs=True) == \
        {"success_count": 1, "error_list": []}
    assert Analysis.jobs.pending.keys(order_by="KEY") == [{"subject_id": 1}, {"subject_id": 5}]
