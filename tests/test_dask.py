"""Populate on a Dask cluster (``joinflow.dask``, ``populate(executor=client)``): a
``LocalCluster`` of two worker processes, coordinated by the jobs queue, on every backend
(SQLite through a shared file in WAL mode)."""
from __future__ import annotations

import os
import sys
import time
import uuid

import pytest

import joinflow as dj

distributed = pytest.importorskip("distributed")

pytestmark = pytest.mark.slow  # a cluster of two processes: ~10 s to start on two cores


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    cluster = distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                       dashboard_address=None,
                                       local_directory=str(tmp_path_factory.mktemp("dask")))
    with cluster, distributed.Client(cluster) as c:
        c.run(_warm_up)  # import joinflow in the workers before any test times them
        yield c


def _warm_up() -> None:
    import joinflow.pipeline.runner  # noqa: F401


@pytest.fixture
def file_schema(backend, tmp_path, make_schema):
    """A schema the cluster's processes can reach: on SQLite a file, not memory."""
    if backend != "sqlite":
        yield make_schema("jfdask")
        return
    from conftest import backend_config
    conn = dj.Connection(config=backend_config("sqlite", tmp_path))
    yield dj.Schema("jfdask", connection=conn)
    conn.close()


def _tables(schema, fail_on=13, pause=0.05):
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
            time.sleep(pause)  # long enough for both workers to take keys
            if key["sid"] == fail_on:
                raise ValueError(f"bad key {key['sid']}")
            self.insert1(dict(key, value=key["sid"] * 2))

    @schema
    class Next(dj.Computed):
        definition = """
        -> Comp
        ---
        twice : int32
        """

        def make(self, key):
            self.insert1(dict(key, twice=(Comp & key).fetch1("value") * 2))

    return Src, MakeLog, Comp, Next


def test_populate_on_dask_cluster(client, file_schema, backend):
    Src, MakeLog, Comp, Next = _tables(file_schema)
    Src.insert([{"sid": i} for i in range(30)])
    result = Comp.populate(reserve_jobs=True, executor=client, suppress_errors=True)
    assert result["success_count"] == 29 and result["error"] == 1
    assert result["error_list"] == [({"sid": 13}, "ValueError: bad key 13")]
    # every key made exactly once (a make's log row commits with its rows), by the workers
    made = MakeLog.to_arrays("sid", "pid")
    assert sorted(made[0]) == [i for i in range(30) if i != 13]
    workers = {p["pid"] for p in client.run(lambda: {"pid": os.getpid()}).values()}
    if backend == "sqlite":  # a make holds the file's one write lock: one worker may win all
        assert set(made[1]) <= workers
    else:
        assert set(made[1]) == workers  # both workers took keys; none ran in this process
    assert len(Comp) == 29
    err = Comp.jobs.errors.fetch1()
    assert err["sid"] == 13 and err["error_message"] == "ValueError: bad key 13"
    assert "Traceback" in err["error_stack"]
    assert Comp.jobs.progress()["total"] == 1  # completed jobs are not kept by default


def test_dask_populate_tables_in_order_with_restrictions(client, file_schema):
    from joinflow import dask as jf_dask
    Src, MakeLog, Comp, Next = _tables(file_schema, pause=0)
    Src.insert([{"sid": i} for i in range(20)])
    result = jf_dask.populate([Comp, Next], client, Src & "sid < 15",
                              return_exception_objects=True)
    assert result["success"] == 14 + 14 and result["error"] == 1
    [(key, exc)] = result["error_list"]
    assert key == {"sid": 13} and isinstance(exc, ValueError)
    assert sorted(Next.to_arrays("sid")) == [i for i in range(15) if i != 13]
    assert Comp.progress() == (6, 20)  # sid 13 failed, 15..19 were not asked for
    with pytest.raises(dj.errors.JoinflowError, match="bad key 13"):
        Comp.jobs.errors.delete()
        jf_dask.populate(Comp, client, {"sid": 13}, suppress_errors=False)
    assert len(Comp.jobs.errors) == 1


def test_missing_dask_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)
    from joinflow import dask as jf_dask
    with pytest.raises(ImportError, match=r"joinflow\[dask\]"):
        jf_dask.populate(object(), client=None)
