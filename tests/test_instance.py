"""dj.Instance: a configuration and a connection of its own; thread-safe mode (DJ_THREAD_SAFE)
refusing the globals while instances keep working, from several threads at once."""
from __future__ import annotations

import os
import threading
from urllib.parse import urlparse

import pytest

import joinflow as dj
from joinflow.errors import (AccessError, ConfigError, JoinflowError, LostConnectionError,
                             ThreadSafetyError)

from conftest import URLS, unique_name

SECRET = "hunter2-instance-secret"


def make_instance(backend: str, tmp_path, name: str = "inst.db", **settings) -> dj.Instance:
    """An Instance on ``backend`` (skipped, like the ``conn`` fixture, if the server is down)."""
    if backend == "sqlite":
        return dj.Instance(backend="sqlite", database__path=str(tmp_path / name), **settings)
    url = urlparse(URLS[backend])
    if backend == "postgresql":
        settings.setdefault("database__name", (url.path or "/postgres").lstrip("/") or "postgres")
    try:
        return dj.Instance(url.hostname or "127.0.0.1", url.username, url.password or "",
                           port=url.port, backend=backend, **settings)
    except (LostConnectionError, AccessError) as exc:  # as the conn fixture: skip, fail in CI
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{backend} server not reachable: {exc}")
        pytest.skip(f"{backend} server not reachable at {URLS[backend]}: {exc}")


def declare_lab(inst: dj.Instance, schema_name: str) -> tuple[dj.Schema, type, type]:
    schema = inst.Schema(schema_name)

    @schema
    class Subject(dj.Manual):
        definition = """
        subject_id : int32
        ---
        species : varchar(32)
        """

    @schema
    class Weight(dj.Computed):
        definition = """
        -> Subject
        ---
        grams : float64
        """

        def make(self, key):
            self.insert1({**key, "grams": 10.0 * key["subject_id"]})

    return schema, Subject, Weight


@pytest.fixture
def instances():
    """Instances made by a test; their schemas dropped and connections closed afterwards."""
    made: list[tuple[dj.Instance, list[dj.Schema]]] = []

    def track(inst: dj.Instance, *schemas: dj.Schema) -> None:
        made.append((inst, list(schemas)))

    yield track
    for inst, schemas in reversed(made):
        for schema in schemas:
            try:
                schema.drop(prompt=False)
            except Exception:  # pragma: no cover - best effort cleanup
                pass
        inst.close()


def test_instance_has_its_own_config_and_connection(backend, tmp_path, instances):
    inst = make_instance(backend, tmp_path, safemode=False, display__limit=3)
    assert inst.config is not dj.config and inst.connection is not dj.conn
    assert inst.config["database.backend"] == backend == inst.connection.backend.name
    assert (inst.config["safemode"], inst.config.display.limit) == (False, 3)
    assert dj.config["safemode"] is False  # (the test fixture's) global is untouched
    with dj.config.override(display__limit=7):
        assert inst.config["display.limit"] == 3  # the global never reaches an instance
    inst.config["display.limit"] = 5
    assert dj.config["display.limit"] != 5
    assert inst.connection.config["display.limit"] == 5  # the connection follows its instance
    schema, Subject, Weight = declare_lab(inst, unique_name("inst"))
    instances(inst, schema)
    Subject.insert([{"subject_id": 1, "species": "mouse"}, {"subject_id": 2, "species": "rat"}])
    Weight.populate()
    assert Weight.to_dicts(order_by="subject_id") == [{"subject_id": 1, "grams": 10.0},
                                                      {"subject_id": 2, "grams": 20.0}]
    assert Subject.connection is inst.connection
    assert schema.database in inst.list_schemas()
    assert len(inst.FreeTable(Subject.full_table_name)) == 2
    assert repr(inst).startswith("Instance(Connection(")


def test_two_instances_on_different_backends_in_one_process(backend, tmp_path, instances):
    # the parametrized backend next to SQLite (a second SQLite file when both are SQLite)
    first = make_instance(backend, tmp_path, name="first.db")
    second = make_instance("sqlite", tmp_path, name="second.db")
    name = unique_name("twin")  # the same schema name in both databases
    schema1, Subject1, _ = declare_lab(first, name)
    instances(first, schema1)
    schema2, Subject2, _ = declare_lab(second, name)
    instances(second, schema2)
    Subject1.insert1({"subject_id": 1, "species": "mouse"})
    Subject2.insert([{"subject_id": 7, "species": "fly"}, {"subject_id": 8, "species": "fish"}])
    assert Subject1.to_dicts() == [{"subject_id": 1, "species": "mouse"}]
    assert [r["subject_id"] for r in Subject2.to_dicts(order_by="subject_id")] == [7, 8]
    assert first.connection.backend.name == backend and second.connection.backend.name == "sqlite"
    (Subject2 & {"subject_id": 7}).delete_quick()
    assert len(Subject1) == 1 and len(Subject2) == 1


def test_thread_safe_mode_refuses_the_globals(backend, tmp_path, monkeypatch, instances):
    inst = make_instance(backend, tmp_path)  # made before: instances are not global state
    monkeypatch.setenv("DJ_THREAD_SAFE", "true")
    refused = {
        "dj.config[...]": lambda: dj.config["safemode"],
        "dj.config.database": lambda: dj.config.database,
        "setting dj.config": lambda: setattr(dj.config, "safemode", True),
        "dj.config.override": lambda: dj.config.override(safemode=True),
        "dj.conn()": dj.conn,
        "dj.Schema without connection": lambda: dj.Schema(unique_name("ts")),
        "dj.FreeTable by name": lambda: dj.FreeTable("lab.subject"),
        "dj.Connection without config": lambda: dj.Connection(),
        "dj.list_schemas()": dj.list_schemas,
    }
    for what, use in refused.items():
        with pytest.raises(ThreadSafetyError, match="thread-safe mode.*dj.Instance") as info:
            use()
        assert isinstance(info.value, dj.DataJointError), what
    assert "thread-safe mode" in repr(dj.config)  # repr explains instead of raising
    path = dj.config.save_template(tmp_path / "datajoint.json", create_secrets_dir=False)
    assert path.is_file()  # save_template reads no global state
    # the instance made before and one made now both work: declare, insert, populate, delete
    later = make_instance(backend, tmp_path, name="later.db")
    for each in (inst, later):
        schema, Subject, Weight = declare_lab(each, unique_name("ts"))
        instances(each, schema)
        Subject.insert1({"subject_id": 3, "species": "mouse"})
        Weight.populate()
        assert Weight.fetch1("grams") == 30.0
        (Subject & {"subject_id": 3}).delete(prompt=False)
        assert len(Weight) == 0
    monkeypatch.setenv("DJ_THREAD_SAFE", "0")
    assert dj.config["safemode"] is False  # read on every use: off again


def test_instances_used_from_several_threads(backend, tmp_path, monkeypatch, instances):
    monkeypatch.setenv("DJ_THREAD_SAFE", "yes")
    shared = make_instance(backend, tmp_path)
    schema, Subject, Weight = declare_lab(shared, unique_name("thr"))
    instances(shared, schema)
    errors: list[BaseException] = []
    counts: list[int] = []

    def work(worker: int, inst: dj.Instance) -> None:
        try:
            table = inst.Schema(schema.database, create_schema=False)["Subject"]
            for i in range(10):
                with inst.connection.transaction:
                    table.insert1({"subject_id": worker * 100 + i, "species": f"w{worker}"})
                counts.append(len(table & {"species": f"w{worker}"}))
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    own = [make_instance(backend, tmp_path) for _ in range(2)]  # same database, own connections
    for inst in own:
        instances(inst)
    threads = [threading.Thread(target=work, args=(n, inst))
               for n, inst in enumerate([shared, shared, *own])]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    assert len(Subject) == 40 and sorted(counts)[-1] == 10
    Weight.populate()
    assert len(Weight) == 40


def test_instance_settings_are_checked(tmp_path):
    with pytest.raises(ConfigError, match="colour"):
        dj.Instance(backend="sqlite", database__path=str(tmp_path / "x.db"), colour="red")
    with pytest.raises(ConfigError, match="database.port"):
        dj.Instance("127.0.0.1", "u", "p", port="three", backend="mysql")
    with pytest.raises(ConfigError, match="oracle"):
        dj.Instance(backend="oracle")
    inst = dj.Instance(backend="sqlite", database__path=str(tmp_path / "x.db"), password=SECRET,
                       jobs__default_priority=3)
    try:
        assert inst.config["jobs.default_priority"] == 3
        for text in (repr(inst), repr(inst.config), str(inst.config), repr(inst.config.database),
                     repr(inst.connection)):
            assert SECRET not in text
        assert inst.config["database.password"] == SECRET  # code still reads it
    finally:
        inst.close()


@pytest.mark.parametrize("server", ["mysql", "postgresql"])
def test_instance_connection_error_names_no_secret(server):
    with pytest.raises(JoinflowError) as info:
        dj.Instance("127.0.0.1", "nobody", SECRET, port=1, backend=server)
    assert SECRET not in str(info.value) and "127.0.0.1" in str(info.value)


def test_instance_backend_and_port_defaults(tmp_path, monkeypatch):
    """As DataJoint 2.3.5: a named backend brings its port; no backend and a named host means
    MySQL (here checked without a server: the Connection is replaced)."""
    calls = []

    class Recorder:
        def __init__(self, *args, **kwargs):
            calls.append((args, kwargs))

    monkeypatch.setattr("joinflow.instance.Connection", Recorder)
    monkeypatch.setenv("DJ_PORT", "3307")
    inst = dj.Instance(host="localhost", user="root", password="pw", backend="postgresql")
    assert inst.config["database.backend"] == "postgresql" and calls[-1][0][3] == 5432
    inst = dj.Instance(host="localhost", user="root", password="pw")
    assert inst.config["database.backend"] == "mysql" and calls[-1][0][3] == 3307
    inst = dj.Instance(host="localhost", user="root", password="pw", backend="mysql", port=3310)
    assert calls[-1][0][3] == 3310
    assert calls[-1][1]["config"] is inst.config


# -- review: an Instance's connection sent to a Dask worker --------------------------------------
_WORKER_SIDE = """
import os, pickle, sys
import joinflow.dask  # noqa: F401  (registers how a connection travels)
conn = pickle.loads(sys.stdin.buffer.read())
print(conn.config["blob.compression"], conn.config["safemode"], conn.config["display.limit"])
"""


def test_instance_connection_keeps_its_settings_on_a_dask_worker(backend, tmp_path):
    """A Dask worker process rebuilds the Instance's connection with the Instance's settings,
    not dj.config's, and in thread-safe mode it does not reach dj.config at all."""
    import pickle
    import subprocess
    import sys
    pytest.importorskip("distributed")
    import joinflow.dask  # noqa: F401
    inst = make_instance(backend, tmp_path, blob__compression="never", safemode=False,
                         display__limit=3)
    try:
        data = pickle.dumps(inst.connection)
    finally:
        inst.close()
    src = os.path.join(os.path.dirname(dj.__file__), os.pardir)
    env = {**os.environ, "DJ_THREAD_SAFE": "true", "PYTHONPATH": os.path.abspath(src)}
    out = subprocess.run([sys.executable, "-c", _WORKER_SIDE], input=data, env=env,
                         capture_output=True, cwd=tmp_path, timeout=120)
    assert out.returncode == 0, out.stderr.decode()[-500:]
    assert out.stdout.decode().split() == ["never", "False", "3"]
