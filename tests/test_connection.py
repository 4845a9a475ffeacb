"""Connection: repr and errors never show the password, reconnect, transactions."""
from __future__ import annotations

import uuid

import pytest

import joinflow as dj
from joinflow import errors

from conftest import backend_config, connect

SECRET = "s3cr3t-Pw-" + uuid.uuid4().hex[:8]


def _other(conn, backend, tmp_path):
    """A second connection to the same server (or SQLite file)."""
    cfg = backend_config(backend, tmp_path)
    if backend == "sqlite":
        cfg["database.path"] = conn.config["database.path"]
    return dj.Connection(config=cfg)


def test_repr_hides_password(conn, backend, tmp_path):
    cfg = backend_config(backend, tmp_path)
    cleanup = None
    if backend == "mysql":
        user = "jf_" + uuid.uuid4().hex[:8]
        conn.query(f"CREATE USER '{user}'@'%' IDENTIFIED BY '{SECRET}'")
        conn.query(f"CREATE USER '{user}'@'localhost' IDENTIFIED BY '{SECRET}'")
        cleanup = lambda: conn.query(f"DROP USER '{user}'@'%', '{user}'@'localhost'")  # noqa
        cfg["database.user"] = user
    cfg["database.password"] = SECRET  # trust auth (postgres) and sqlite ignore it
    try:
        c = dj.Connection(config=cfg)
        try:
            assert c.query("SELECT 1") == [(1,)]
            for text in (repr(c), str(c), repr(c.config), str(c.config)):
                assert SECRET not in text
            assert "connected" in repr(c)
        finally:
            c.close()
        assert "disconnected" in repr(c)
        kw = {} if backend == "sqlite" else {"host": cfg["database.host"]}
        c2 = dj.Connection(user=cfg["database.user"], password=SECRET, config=cfg, **kw)
        assert SECRET not in repr(c2)
        c2.close()
    finally:
        if cleanup:
            cleanup()


def test_failed_login_hides_password(backend, tmp_path):
    cfg = backend_config(backend, tmp_path)
    cfg["database.password"] = SECRET
    if backend == "mysql":
        cfg["database.user"] = "root"
        expected = errors.AccessError
    elif backend == "postgresql":
        cfg["database.user"] = "no_such_user_" + uuid.uuid4().hex[:6]
        expected = errors.AccessError
    else:
        cfg["database.path"] = str(tmp_path / "missing" / "dir" / "x.db")
        expected = (errors.AccessError, errors.LostConnectionError)
    with pytest.raises(expected) as info:
        dj.Connection(config=cfg)
    assert SECRET not in str(info.value)
    assert SECRET not in repr(info.value)
    if backend != "sqlite":
        assert "cannot connect" in str(info.value)
        assert cfg["database.user"] in str(info.value)
    # the driver exception (which may carry the password) is not chained
    assert info.value.__cause__ is None and info.value.__suppress_context__


def _session_id(conn, backend):
    if backend == "postgresql":
        return conn.query("SELECT pg_backend_pid()")[0][0]
    if backend == "mysql":
        return conn.query("SELECT CONNECTION_ID()")[0][0]
    return None


def _kill(conn, other, backend):
    """Make the server drop ``conn`` (SQLite: close it underneath)."""
    sid = _session_id(conn, backend)
    if backend == "postgresql":
        other.query(f"SELECT pg_terminate_backend({int(sid)}, 5000)")
    elif backend == "mysql":
        other.query(f"KILL {int(sid)}")
    else:
        conn._raw.close()
    return sid


def test_reconnect_outside_transaction(conn, backend, tmp_path):
    other = _other(conn, backend, tmp_path)
    try:
        before = _kill(conn, other, backend)
        if backend == "sqlite":
            conn.close()  # SQLite has no server: a closed connection reopens on demand
        assert conn.query("SELECT 1") == [(1,)]
        if before is not None:
            assert _session_id(conn, backend) != before
        assert conn.is_connected
    finally:
        other.close()


@pytest.mark.parametrize("backend", ["postgresql", "mysql"])  # SQLite has no server to drop it
def test_no_reconnect_when_disabled(backend, tmp_path):
    conn = connect(backend, tmp_path)
    conn.config["database.reconnect"] = False
    other = _other(conn, backend, tmp_path)
    try:
        _kill(conn, other, backend)
        with pytest.raises(errors.LostConnectionError):
            conn.query("SELECT 1")
        assert conn.query("SELECT 1") == [(1,)]  # an explicit new call connects again
    finally:
        other.close()
        conn.close()


def test_lost_connection_inside_transaction(schema, backend, tmp_path):
    @schema
    class Item(dj.Manual):
        definition = """
        item : int32
        """

    conn = schema.connection
    Item.insert1((1,))
    other = _other(conn, backend, tmp_path)
    try:
        with pytest.raises(errors.LostConnectionError):
            with conn.transaction:
                Item.insert1((2,))
                if backend == "sqlite":
                    conn.close()
                else:
                    _kill(conn, other, backend)
                Item.insert1((3,))  # must not silently reconnect and autocommit
        assert not conn.in_transaction
        # nested: the failure surfaces from the inner block too
        with pytest.raises(errors.LostConnectionError):
            with conn.transaction:
                with conn.transaction:
                    Item.insert1((4,))
                    if backend == "sqlite":
                        conn.close()
                    else:
                        _kill(conn, other, backend)
                    Item.insert1((5,))
        assert not conn.in_transaction
        # afterwards the connection works again and nothing from the failed blocks was kept
        assert sorted(Item.to_arrays("item").tolist()) == [1]
    finally:
        other.close()


def test_manual_transaction_api(schema):
    @schema
    class Item(dj.Manual):
        definition = """
        item : int32
        """

    conn = schema.connection
    conn.start_transaction()
    assert conn.in_transaction
    with pytest.raises(errors.JoinflowError, match="already in progress"):
        conn.start_transaction()
    Item.insert1((1,))
    conn.cancel_transaction()
    assert not conn.in_transaction and len(Item) == 0
    conn.start_transaction()
    Item.insert1((2,))
    conn.commit_transaction()
    assert Item.keys() == [{"item": 2}]


def test_query_errors_are_translated(conn, backend):
    with pytest.raises(errors.QueryError):
        conn.query("SELEKT 1")
    assert conn.query("SELECT 2") == [(2,)]


def test_init_function_runs_on_every_connect(conn, backend, tmp_path):
    calls = []
    cfg = backend_config(backend, tmp_path)
    if backend == "sqlite":
        cfg["database.path"] = conn.config["database.path"]
    c = dj.Connection(config=cfg, init_fun=lambda cn: calls.append(cn))
    try:
        assert calls == [c]
        c.close()
        c.query("SELECT 1")  # reconnects on demand
        assert calls == [c, c]
    finally:
        c.close()
    cfg["connection.init_function"] = "SELECT 1"
    dj.Connection(config=cfg).close()
    cfg["connection.init_function"] = "SELEKT nonsense"
    with pytest.raises(errors.JoinflowError):
        dj.Connection(config=cfg)


@pytest.mark.parametrize("backend", ["postgresql", "mysql"])  # SQLite has no server
def test_unreachable_server(backend, tmp_path):
    cfg = backend_config(backend, tmp_path)
    cfg["database.port"] = 1  # nothing listens there
    with pytest.raises(errors.LostConnectionError, match="cannot connect"):
        dj.Connection(config=cfg)


def test_shared_connection_follows_config(tmp_path):
    """dj.conn() reconnects when dj.config names another database; an open connection keeps
    talking to the database it was made for."""
    first, second = str(tmp_path / "a.db"), str(tmp_path / "b.db")
    with dj.config.override(database__backend="sqlite", database__path=first):
        c1 = dj.conn(reset=True)
        assert dj.conn() is c1
        dj.config["database.path"] = second
        assert c1.config["database.path"] == first
        c2 = dj.conn()
        assert c2 is not c1 and c2.config["database.path"] == second
        c2.close()


def test_shared_connection_made_with_arguments_is_kept(tmp_path):
    path = str(tmp_path / "explicit.db")
    with dj.config.override(database__backend="sqlite", database__path=str(tmp_path / "x.db")):
        c1 = dj.conn(path=path, backend="sqlite")
        assert dj.conn() is c1 and c1.config["database.path"] == path
        c1.close()
    dj.connection._global = None
