"""Jobs queue II: job ends inside the make transaction, batched claims, hidden job metadata
columns and ``self.upstream`` in ``make``."""
from __future__ import annotations

import collections
import datetime

import pytest

import joinflow as dj
from joinflow.pipeline import runner


def _chain(schema, calls=None):
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

        def make(self, key):
            if calls is not None:
                calls.append(key["sid"])
                if len(calls) == 2:  # a worker told to stop while it holds claimed keys
                    runner.stop_requested.set()
            self.insert1(dict(key, value=key["sid"]))

    return Src, Comp


def test_reserved_key_costs_one_transaction(schema, monkeypatch):
    monkeypatch.setattr(runner.Claim, "BATCH_SECONDS", 10.0)  # fast makes, however loaded
    schema.connection.config["populate.group_commit"] = 0  # every key commits alone
    Src, Comp = _chain(schema)
    Src.insert([{"sid": i} for i in range(40)])
    Comp.jobs.refresh()
    conn = schema.connection
    counts: collections.Counter = collections.Counter()
    trips = collections.Counter()
    original, original_defer, execute = conn.query_raw, conn.defer, conn._execute

    def counting(sql, *args, **kwargs):
        counts[sql.split()[0].upper()] += 1
        return original(sql, *args, **kwargs)

    def deferring(sql, *args, **kwargs):  # counted here when kept for the next round trip
        before = len(conn._deferred)
        original_defer(sql, *args, **kwargs)
        if len(conn._deferred) > before:
            counts[sql.split()[0].upper()] += 1

    def round_trip(*args, **kwargs):
        trips["n"] += 1
        return execute(*args, **kwargs)

    conn.query_raw, conn.defer, conn._execute = counting, deferring, round_trip
    try:
        assert Comp.populate(reserve_jobs=True, refresh=False)["success_count"] == 40
    finally:
        del conn.query_raw, conn.defer, conn._execute
    # per key: BEGIN, INSERT, job DELETE, COMMIT; claims come in batches (1, then up to 64)
    claims = counts["UPDATE"]
    assert claims <= 5
    assert counts["DELETE"] == 40
    # MySQL/MariaDB claim in a short transaction of their own (SELECT ... SKIP LOCKED, UPDATE)
    locked = getattr(conn.backend, "skip_locked", False)
    # (the last claim finds nothing to update)
    assert counts["COMMIT"] - 40 in ((claims, claims + 1) if locked else (0,))
    assert sum(counts.values()) <= 40 * 4 + 4 * (claims + 1) + 1
    if conn.backend.name == "postgresql":  # pipelined: BEGIN + INSERT, DELETE + COMMIT
        assert trips["n"] <= 40 * 2 + claims + 1  # (+ who this session is)
    assert len(Comp) == 40 and len(Comp.jobs) == 0


def test_reserved_key_made_meanwhile_outside_the_queue_is_skipped(schema):
    Src, Comp = _chain(schema)
    Src.insert([{"sid": i} for i in range(4)])
    Comp.jobs.refresh()
    Comp.populate(keys=[{"sid": 2}])  # a populate that does not use the queue
    assert len(Comp.jobs.pending) == 4
    result = Comp.populate(reserve_jobs=True, refresh=False)
    assert (result["success_count"], result["skip"], result["error"]) == (3, 1, 0)
    assert len(Comp) == 4 and len(Comp.jobs) == 0


def test_stopped_worker_gives_back_claimed_keys(schema):
    calls: list = []
    Src, Comp = _chain(schema, calls)
    Src.insert([{"sid": i} for i in range(30)])
    try:
        result = Comp.populate(reserve_jobs=True)
    finally:
        runner.stop_requested.clear()
    assert result["success_count"] == 2 and len(Comp) == 2
    assert len(Comp.jobs.reserved) == 0  # the keys claimed but not started went back
    assert len(Comp.jobs.pending) == 28
    assert Comp.populate(reserve_jobs=True)["success_count"] == 28


def test_keep_completed_success_commits_with_rows(schema):
    Src, Comp = _chain(schema)
    Src.insert([{"sid": i} for i in range(3)])
    with dj.config.override(jobs={"keep_completed": True}):
        Comp.populate(reserve_jobs=True)
    done = Comp.jobs.completed.to_dicts(order_by="sid")
    assert [r["sid"] for r in done] == [0, 1, 2]
    assert all(r["duration"] >= 0 and r["completed_time"] >= r["reserved_time"] for r in done)


# -- hidden job metadata -------------------------------------------------------------------
def _metadata_tables(schema):
    @schema
    class Source(dj.Lookup):
        definition = """
        source_id : int16
        ---
        value : float32
        """
        contents = [(1, 1.0), (2, 2.0), (3, 3.0)]

    @schema
    class Doubled(dj.Computed):
        definition = """
        -> Source
        ---
        result : float32
        """

        class Detail(dj.Part):
            definition = """
            -> master
            ---
            detail : float32
            """

        def make(self, key):
            value = (Source & key).fetch1("value")
            self.insert1({**key, "result": value * 2})
            self.Detail.insert1({**key, "detail": value})

    @schema
    class Plus(dj.Imported):
        definition = """
        -> Source
        ---
        plus : float32
        """

        def make(self, key):
            self.insert1({**key, "plus": (Source & key).fetch1("value") + 10})

    return Source, Doubled, Plus


def test_hidden_job_metadata(schema):
    with dj.config.override(jobs={"add_job_metadata": True, "version_method": "none"}):
        Source, Doubled, Plus = _metadata_tables(schema)
    hidden = ["_job_start_time", "_job_duration", "_job_version"]
    for table in (Doubled, Plus):
        every = table.heading._attributes
        assert [n for n in every if n.startswith("_")] == hidden
        assert all(every[n].is_hidden for n in hidden)
        assert not set(hidden) & set(table.heading.names)
    assert [a.type for a in Doubled.heading.hidden] == ["datetime(3)", "float32", "varchar(64)"]
    for table in (Source, Doubled.Detail):  # lookup, manual and part tables get none
        assert not [n for n in table.heading._attributes if n.startswith("_")]
    before = datetime.datetime.now() - datetime.timedelta(seconds=5)
    Doubled.populate()
    Plus.populate(reserve_jobs=True)
    for table in (Doubled, Plus):
        rows = table.connection.query(
            f"SELECT _job_start_time, _job_duration, _job_version FROM {table.full_table_name}")
        assert len(rows) == 3
        for start, duration, version in rows:
            if isinstance(start, str):  # SQLite keeps datetimes as ISO text
                start = datetime.datetime.fromisoformat(start)
            assert start >= before and duration >= 0 and version == ""
    assert all(not any(k.startswith("_") for k in row) for row in Doubled.to_dicts())
    assert len(Doubled * Plus) == 3  # the hidden namesakes take no part in the join
    assert sorted((Doubled * Plus).heading.names) == ["plus", "result", "source_id"]


def test_tables_without_job_metadata_keep_working(schema):
    Source, Doubled, Plus = _metadata_tables(schema)  # declared with the setting off
    with dj.config.override(jobs={"add_job_metadata": True}):
        assert Doubled.heading.hidden == ()
        assert Doubled.populate()["success_count"] == 3
    assert len(Doubled) == 3


# -- self.upstream -------------------------------------------------------------------------
def test_upstream_in_make(schema):
    seen = {}

    @schema
    class Subject(dj.Lookup):
        definition = """
        subject_id : int32
        ---
        name : varchar(16)
        """
        contents = [(1, "alice"), (2, "bob")]

    @schema
    class Session(dj.Manual):
        definition = """
        -> Subject
        session : int16
        ---
        day : int16
        """

    @schema
    class Unrelated(dj.Lookup):
        definition = """
        u : int32
        """
        contents = [(9,)]

    @schema
    class Pairing(dj.Computed):
        definition = """
        -> Session
        -> Subject.proj(partner_id='subject_id')
        ---
        text : varchar(64)
        """

        def make(self, key):
            up = self.upstream
            seen[key["subject_id"], key["session"], key["partner_id"]] = (
                up[Subject].to_arrays("subject_id").tolist(),
                up[Session].fetch1("day"))
            with pytest.raises(dj.errors.JoinflowError, match="not in this trace"):
                up[Unrelated]
            with pytest.raises(dj.errors.JoinflowError, match="not in this trace"):
                up[Unrelated.full_table_name]
            assert up is self.upstream  # built once per key
            name = up[Subject.full_table_name].restrict(
                {"subject_id": key["subject_id"]}).fetch1("name")
            self.insert1({**key, "text": f"{name} with {key['partner_id']}"})

    Session.insert([(1, 1, 10), (1, 2, 20), (2, 1, 30)])
    Pairing.populate({"partner_id": 2})
    # the subject of the session and the partner: both upstream of the key
    assert seen == {(1, 1, 2): ([1, 2], 10), (1, 2, 2): ([1, 2], 20), (2, 1, 2): ([2], 30)}
    assert (Pairing & {"subject_id": 1, "session": 2}).fetch1("text") == "alice with 2"
    with pytest.raises(dj.errors.JoinflowError, match="only available inside make"):
        _ = Pairing().upstream


def test_failed_make_leaves_no_uploaded_objects(schema, tmp_path):
    import numpy as np
    from storage_helpers import files_under

    stores = {"default": "main", "main": {"protocol": "file", "location": str(tmp_path / "s")}}
    with dj.config.override(stores=stores):
        @schema
        class Src(dj.Manual):
            definition = """
            sid : int32
            """

        @schema
        class Stored(dj.Computed):
            definition = """
            -> Src
            ---
            data : <blob@>
            """

            def make(self, key):
                self.insert1({**key, "data": np.arange(1000.0) + key["sid"]})
                if key["sid"] == 1:
                    raise RuntimeError("failed after the upload")

        Src.insert([{"sid": 0}, {"sid": 1}])
        result = Stored.populate(reserve_jobs=True, suppress_errors=True)
        assert result["success_count"] == 1 and result["error"] == 1
        assert len(files_under(tmp_path / "s")) == 1  # only the committed row's object
        assert Stored.jobs.errors.fetch1("error_message") == "RuntimeError: failed after the upload"
        assert (Stored & {"sid": 0}).fetch1("data")[5] == 5.0


def test_claims_take_the_most_urgent_keys_with_and_without_skip_locked(schema, monkeypatch):
    """MySQL 8 / MariaDB 10.6+ claim with SELECT ... FOR UPDATE SKIP LOCKED; older servers
    with UPDATE ... ORDER BY ... LIMIT and a read-back. Both take the most urgent due jobs."""
    Src, Comp = _chain(schema)
    Src.insert([{"sid": i} for i in range(6)])
    Comp.jobs.refresh()
    Comp.jobs.refresh({"sid": 4}, priority=1)  # already queued: keeps its priority
    jobs, conn = Comp.jobs, schema.connection
    jobs._update({"sid": 4}, {"priority": 1})
    jobs._update({"sid": 5}, {"priority": 2})
    variants = [True, False] if conn.backend.name == "mysql" else [None]
    taken = []
    for locked in variants:
        if locked is not None:
            monkeypatch.setattr(conn.backend, "skip_locked", locked)
        taken.append([k["sid"] for k in jobs.claim(2)])
    assert taken[0] == [4, 5]
    if len(taken) > 1:
        assert len(taken[1]) == 2 and set(taken[1]) <= {0, 1, 2, 3}
    assert len(jobs.reserved) == 2 * len(variants)
    assert Comp.populate(reserve_jobs=True, refresh=False)["success_count"] == 6 - 2 * len(variants)


@pytest.mark.parametrize("version,expected", [
    ("10.11.19-MariaDB-0+deb12u1", True), ("10.5.8-MariaDB", False), ("10.6.0-MariaDB", True),
    ("8.0.36", True), ("8.0.0", False), ("5.7.44-log", False), ("11.4.2-MariaDB", True),
    ("unknown", False)])
def test_skip_locked_by_server_version(version, expected):
    from joinflow.backends.mysql import _has_skip_locked
    assert _has_skip_locked(version) is expected


def test_fast_makes_are_checked_in_batches(schema, monkeypatch):
    """populate() without the queue checks trivial keys in batches (one SELECT for many); a
    key made by someone else after its batch was checked fails at its insert and is skipped,
    with nothing of it left behind."""
    from joinflow import populate as populate_module
    Src, Comp = _chain(schema)
    Src.insert([{"sid": i} for i in range(40)])
    checks = []
    original = populate_module._DoneAhead._check

    def stale(self, start, size):  # sid 7 is made right after its batch was read
        checks.append(size)
        known = {i: False for i in original(self, start, size)}
        if len(checks) == 1:
            Comp.insert1({"sid": 7, "value": -7}, allow_direct_insert=True)
        return known

    monkeypatch.setattr(populate_module._DoneAhead, "_check", stale)
    result = Comp.populate()
    assert result["success_count"] == 39 and result["skip"] == 1
    assert len(Comp) == 40 and (Comp & {"sid": 7}).fetch1("value") == -7
    assert 1 <= len(checks) <= 10 and max(checks) > 1  # batches, not one check per key



def test_fast_makes_share_commits_and_a_failing_key_leaves_the_others(schema, monkeypatch):
    """Fast makes commit in groups (a savepoint per key); a key that fails inside a group is
    rolled back alone, the keys made before it are committed, and the group goes on."""
    monkeypatch.setattr(runner.CommitGroup, "FAST", 10.0)  # fast, however loaded the machine
    Src, Comp = _chain(schema)

    class Failing(Comp):
        def make(self, key):
            self.insert1(dict(key, value=key["sid"]))
            if key["sid"] == 13:
                raise ValueError("thirteen")

    Failing.__name__ = Comp.__name__
    Src.insert([{"sid": i} for i in range(40)])
    conn = schema.connection
    commits = []
    original = conn.commit_transaction

    def counting():
        commits.append(1)
        return original()

    conn.commit_transaction = counting
    try:
        for reserve in (False, True):
            Comp.delete_quick()
            commits.clear()
            result = Failing().populate(reserve_jobs=reserve, suppress_errors=True)
            assert result["success_count"] == 39 and len(result["error_list"]) == 1
            assert len(Comp) == 39 and not (Comp & {"sid": 13})
            if reserve and conn.backend.name == "sqlite":
                # one writer per SQLite file: queue workers commit each key alone, so that a
                # group does not shut the other workers out
                assert len(commits) >= 39
            else:
                assert len(commits) < 39  # groups, not one commit per key
            assert not conn.in_transaction
    finally:
        del conn.commit_transaction


def test_group_dropped_by_the_server_is_made_again(schema, monkeypatch):
    """When the server rolls a whole group back (a MySQL deadlock), its keys are made again
    one by one: every key ends up made once."""
    monkeypatch.setattr(runner.CommitGroup, "FAST", 10.0)
    Src, Comp = _chain(schema)
    Src.insert([{"sid": i} for i in range(20)])
    calls: list = []

    class Flaky(Comp):
        def make(self, key):
            calls.append(key["sid"])
            if key["sid"] == 9 and calls.count(9) == 1:
                raise RuntimeError("Deadlock found when trying to get lock")
            self.insert1(dict(key, value=key["sid"]))

    Flaky.__name__ = Comp.__name__
    monkeypatch.setattr(runner, "_transaction_lost", lambda conn, exc: "Deadlock" in str(exc))
    result = Flaky().populate(suppress_errors=True)
    assert len(result["error_list"]) == 1 and result["success_count"] == 19
    assert len(Comp) == 19 and sorted(Comp.to_arrays("sid").tolist()) == \
        [i for i in range(20) if i != 9]
    assert max(calls.count(i) for i in range(20)) == 2  # the group's keys, made again
