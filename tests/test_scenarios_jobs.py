"""Scenarios from DataJoint 2.3.5's populate / jobs / Diagram documentation, checked against
what DataJoint 2.3.5 itself returns, prints and raises (run side by side on PostgreSQL and
MariaDB): the populate result dict, error texts, a restricted table refused, the progress
line, DataJoint's messages, the Diagram's graph and the top-level names."""
from __future__ import annotations

import logging

import pytest

import joinflow as dj
from conftest import backend_config, unique_name


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

        def make(self, key):
            if key["subject_id"] in fail:
                if key["subject_id"] % 2:
                    raise ValueError(f"bad subject {key['subject_id']}")
                raise RuntimeError()  # an exception without a message
            self.insert1({**key, "value": key["subject_id"] * 1.5})

    Subject.insert([{"subject_id": i, "name": f"s{i}"} for i in range(1, 6)])
    return Subject, Analysis


# -- what populate returns --------------------------------------------------------------
@pytest.mark.parametrize("reserve_jobs", [False, True])
def test_populate_returns_datajoints_dict(schema, reserve_jobs):
    Subject, Analysis = _pipeline(schema)
    result = Analysis.populate(Subject & "subject_id <= 2", reserve_jobs=reserve_jobs)
    # DataJoint 2.3.5: exactly {'success_count': n, 'error_list': [...]}
    assert result == {"success_count": 2, "error_list": []}
    assert sorted(result) == ["error_list", "success_count"]
    assert repr(result) == "{'success_count': 2, 'error_list': []}"
    # joinflow's counts stay readable by key
    assert (result["success"], result["error"], result["skip"]) == (2, 0, 0)
    assert result.get("skip") == 0 and result.get("nothing", 7) == 7
    assert Analysis.populate(max_calls=1, reserve_jobs=reserve_jobs) == \
        {"success_count": 1, "error_list": []}
    assert Analysis.populate(reserve_jobs=reserve_jobs)["success_count"] == 2
    assert Analysis.populate(reserve_jobs=reserve_jobs) == {"success_count": 0, "error_list": []}


def test_suppressed_errors_read_as_datajoints(schema):
    Subject, Analysis = _pipeline(schema, fail=(3, 4))
    result = Analysis.populate(suppress_errors=True)
    # DataJoint: 'ExceptionName: message', or the name alone when the message is empty
    assert result == {"success_count": 3, "error_list": [
        ({"subject_id": 3}, "ValueError: bad subject 3"), ({"subject_id": 4}, "RuntimeError")]}
    result = Analysis.populate(suppress_errors=True, return_exception_objects=True)
    assert [(k, type(e).__name__, str(e)) for k, e in result["error_list"]] == [
        ({"subject_id": 3}, "ValueError", "bad subject 3"), ({"subject_id": 4}, "RuntimeError", "")]
    assert result["success_count"] == 0 and result["error"] == 2
    with pytest.raises(ValueError, match="bad subject 3"):
        Analysis.populate()


def test_reserved_errors_then_retry(schema):
    """handle-errors.md: errors land in jobs.errors; delete them and populate again."""
    Subject, Analysis = _pipeline(schema, fail=(3,))
    result = Analysis.populate(reserve_jobs=True, suppress_errors=True)
    assert result == {"success_count": 4,
                      "error_list": [({"subject_id": 3}, "ValueError: bad subject 3")]}
    job = Analysis.jobs.errors.fetch1()
    assert job["subject_id"] == 3 and job["error_message"] == "ValueError: bad subject 3"
    assert "Traceback" in job["error_stack"] and "bad subject 3" in job["error_stack"]
    # an error job is not retried by itself
    assert Analysis.populate(reserve_jobs=True) == {"success_count": 0, "error_list": []}
    Analysis.jobs.errors.delete()
    with pytest.raises(ValueError, match="bad subject 3"):
        Analysis.populate(reserve_jobs=True)
    assert Analysis.jobs.progress() == {"pending": 0, "reserved": 0, "success": 0, "error": 1,
                                        "ignore": 0, "total": 1}


# -- a restricted table ------------------------------------------------------------------
def test_populate_of_a_restricted_table_is_refused(schema):
    Subject, Analysis = _pipeline(schema)
    message = "Cannot call populate on a restricted table"
    with pytest.raises(dj.DataJointError, match=message):
        (Analysis & {"subject_id": 1}).populate()
    with pytest.raises(dj.DataJointError, match=message):
        (Analysis & {"subject_id": 1}).populate(reserve_jobs=True)
    with pytest.raises(dj.DataJointError, match=message):
        (Analysis & "subject_id > 2").progress()
    assert len(Analysis()) == 0  # nothing was made
    assert Analysis.populate({"subject_id": 1}) == {"success_count": 1, "error_list": []}
    assert Analysis.progress() == (4, 5)
    assert Analysis.progress(Subject & "subject_id < 3") == (1, 2)


# -- progress(display=True) ---------------------------------------------------------------
def test_progress_display_is_datajoints_log_line(schema, caplog, capsys, monkeypatch):
    Subject, Analysis = _pipeline(schema)
    Analysis.populate(Subject & "subject_id < 3")
    assert Analysis.progress(display=True) == (3, 5)
    # DataJoint logs '%-20s Completed %d of %d (%2.1f%%)   <time>' at INFO (caplog sees it)
    lines = [r.getMessage() for r in caplog.records if "Completed" in r.getMessage()]
    assert len(lines) == 1 and lines[0].startswith("Analysis             Completed 2 of 5 (40.0%)   ")
    assert caplog.records[-1].levelno == logging.INFO
    # with no logging handler to show it, it is printed
    monkeypatch.setattr(logging.getLogger("joinflow"), "propagate", False)
    capsys.readouterr()
    Analysis.progress(display=True)
    assert capsys.readouterr().out.startswith("Analysis             Completed 2 of 5 (40.0%)")


# -- DataJoint's messages -----------------------------------------------------------------
def test_datajoints_messages(schema):
    Subject, Analysis = _pipeline(schema)

    @schema
    class NoMake(dj.Computed):
        definition = """
        -> Subject
        ---
        v : float64
        """

    with pytest.raises(NotImplementedError, match="must implement the method `make`"):
        NoMake.populate()

    @schema
    class NoParent(dj.Computed):
        definition = """
        idx : int16
        ---
        v : float64
        """

        def make(self, key):
            pass

    with pytest.raises(dj.DataJointError, match="must have dependencies from its primary key"):
        NoParent.populate()

    with pytest.raises(dj.DataJointError, match="Populate cannot be called during a transaction"):
        with schema.connection.transaction:
            Analysis.populate()

    with pytest.raises(dj.DataJointError, match="only available inside make"):
        Analysis().upstream

    @schema
    class Changing(dj.Computed):
        definition = """
        -> Subject
        ---
        v : float64
        """
        fetched = 0

        def make_fetch(self, key):
            type(self).fetched += 1
            return (type(self).fetched,)

        def make_compute(self, key, n):
            return (float(n),)

        def make_insert(self, key, v):
            self.insert1({**key, "v": v})

    with pytest.raises(dj.DataJointError, match="Referential integrity failed! The `make_fetch` "
                                                "data has changed"):
        Changing.populate({"subject_id": 1})
    assert len(Changing()) == 0


# -- Diagram ------------------------------------------------------------------------------
def test_diagram_holds_the_sessions_schemas_only(conn, backend, schema, tmp_path):
    """DataJoint's graph holds the schemas loaded in the session: tables of an unrelated
    schema on the same server are not nodes of ``dj.Diagram(schema)`` (``len(d)``)."""
    other_conn = dj.Connection(config=backend_config(backend, tmp_path))
    other = dj.Schema(unique_name("jfo"), connection=other_conn)
    try:
        @other
        class Elsewhere(dj.Manual):
            definition = """
            e : int32
            """

        @other
        class ElsewhereChild(dj.Manual):
            definition = """
            -> Elsewhere
            """

        Subject, Analysis = _pipeline(schema)

        @schema
        class Session(dj.Manual):
            definition = """
            -> Subject
            session : int16
            """

        diagram = dj.Diagram(schema)
        ours = {Subject.full_table_name, Analysis.full_table_name, Session.full_table_name}
        assert set(diagram.nodes()) == ours == diagram.nodes_to_show
        assert len(diagram) == 3
        assert sorted(diagram.edges()) == sorted([(Subject.full_table_name,
                                                   Analysis.full_table_name),
                                                  (Subject.full_table_name,
                                                   Session.full_table_name)])
        assert set((dj.Diagram(Subject) + 1).nodes_to_show) == ours
        assert set((dj.Diagram(Analysis) - 1).nodes_to_show) == {Subject.full_table_name,
                                                                 Analysis.full_table_name}
    finally:
        other.drop(prompt=False)
        other_conn.close()


def test_top_level_names(schema):
    Subject, Analysis = _pipeline(schema)
    assert isinstance(Analysis(), dj.AutoPopulate) and issubclass(Analysis, dj.AutoPopulate)
    assert not isinstance(Subject(), dj.AutoPopulate)
    assert isinstance(Analysis.jobs, dj.Job)
    job = dj.Job(Analysis())
    assert job.table_name == "~~analysis"
    assert job.progress() == {"pending": 0, "reserved": 0, "success": 0, "error": 0,
                              "ignore": 0, "total": 0}


def test_key_source_wider_than_the_table_is_refused(schema):
    """DataJoint checks that every primary-key attribute of key_source is in the table."""
    Subject, Analysis = _pipeline(schema)

    @schema
    class Param(dj.Lookup):
        definition = """
        param_id : int16
        """
        contents = [(1,), (2,)]

    @schema
    class Wide(dj.Computed):
        definition = """
        -> Subject
        ---
        v : float64
        """

        @property
        def key_source(self):
            return Subject * Param

        def make(self, key):
            self.insert1({"subject_id": key["subject_id"], "v": 1.0})

    message = "The populate target lacks attribute param_id from the primary key of key_source"
    for call in (Wide.populate, Wide.progress, lambda: Wide.populate(reserve_jobs=True)):
        with pytest.raises(dj.DataJointError, match=message):
            call()
    assert len(Wide()) == 0

    @schema
    class FromClass(dj.Computed):
        definition = """
        -> Subject
        ---
        v : float64
        """
        key_source = Subject  # a table class as key_source

        def make(self, key):
            self.insert1({**key, "v": 2.0})

    assert FromClass.populate(reserve_jobs=True) == {"success_count": 5, "error_list": []}
    assert FromClass.progress() == (0, 5)


def test_refresh_stale_and_orphan_timeouts(schema):
    """DataJoint 2.3.5: ``stale_timeout`` removes jobs (all but ``ignore``) whose keys left
    key_source; only ``orphan_timeout`` takes a live reservation back for its age."""
    import time

    Subject, Analysis = _pipeline(schema, fail=(3,))

    @schema
    class Picky(dj.Computed):
        definition = """
        -> Subject
        ---
        v : float64
        """

        @property
        def key_source(self):
            return Subject & "name != 'gone'"

        def make(self, key):
            if key["subject_id"] == 2:
                raise ValueError("two")
            self.insert1({**key, "v": 1.0})

    with dj.config.override(jobs={"keep_completed": True}):
        Picky.populate(reserve_jobs=True, suppress_errors=True, max_calls=3)
        assert Picky.jobs.reserve({"subject_id": 4})
        Picky.jobs.ignore({"subject_id": 5})
        statuses = {j["subject_id"]: j["status"] for j in Picky.jobs.to_dicts()}
        assert statuses == {1: "success", 2: "error", 3: "success", 4: "reserved", 5: "ignore"}
        for i in range(1, 6):
            Subject.update1({"subject_id": i, "name": "gone"})
        # the error record of a key in neither key_source nor the table goes at once
        assert Picky.jobs.refresh() == {"added": 0, "removed": 1, "orphaned": 0, "re_pended": 0}
        time.sleep(1.5)
        # a reservation is not taken back for its age without orphan_timeout
        Subject.insert1({"subject_id": 9, "name": "new"})
        assert Picky.jobs.reserve({"subject_id": 9}) is False  # not queued yet
        assert Picky.jobs.refresh(stale_timeout=1) == {"added": 1, "removed": 3, "orphaned": 0,
                                                       "re_pended": 0}
        assert {j["subject_id"]: j["status"] for j in Picky.jobs.to_dicts()} == \
            {5: "ignore", 9: "pending"}
        assert Picky.jobs.reserve({"subject_id": 9})
        time.sleep(1.2)
        assert Picky.jobs.refresh()["orphaned"] == 0  # our own live session, 1 s old
        assert Picky.jobs.refresh(orphan_timeout=1)["orphaned"] == 1
        assert (Picky.jobs & {"subject_id": 9}).fetch1("status") == "pending"


def test_reserved_error_without_message_reads_as_datajoints(schema):
    _, Analysis = _pipeline(schema, fail=(2, 3))
    result = Analysis.populate(reserve_jobs=True, suppress_errors=True)
    assert sorted(e for _, e in result["error_list"]) == ["RuntimeError", "ValueError: bad subject 3"]
    messages = sorted(Analysis.jobs.errors.to_arrays("error_message").tolist())
    assert messages == ["RuntimeError", "ValueError: bad subject 3"]


def test_two_processes_return_exception_objects(conn, make_schema, backend):
    if backend == "sqlite":
        pytest.skip("the conn fixture's SQLite is in memory: one process")
    schema = make_schema()
    _, Analysis = _pipeline(schema, fail=(3,))
    result = Analysis.populate(reserve_jobs=True, processes=2, suppress_errors=True,
                               return_exception_objects=True)
    assert result["success_count"] == 4
    [(key, err)] = result["error_list"]
    assert key == {"subject_id": 3}
    assert isinstance(err, ValueError) and str(err) == "bad subject 3"


def test_jobs_repr_and_claim_order(schema):
    _, Analysis = _pipeline(schema)
    Analysis.jobs.refresh()
    text = repr(Analysis.jobs)
    assert not text.startswith("FreeTable") and "subject_id" in text.splitlines()[0]
    claimed = [k["subject_id"] for k in Analysis.jobs.claim(5)]
    assert claimed == [1, 2, 3, 4, 5]  # equally urgent: in key order
