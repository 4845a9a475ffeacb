"""Connection: repr and errors never show the password, reconnect, transactions."""
from __future__ import annotations

import logging
import uuid
from urllib.parse import urlparse

import pytest

import joinflow as dj
from joinflow import errors
from joinflow.backends.base import PH
from joinflow.settings import Config

from conftest import URLS, backend_config, connect

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


# -- which server a configuration names (issue #6.1) ---------------------------------------
def _choice(values: dict) -> str:
    from joinflow.connection import choose_backend
    cfg = Config()
    for key, value in values.items():
        cfg[key] = value
    return choose_backend(cfg)[0]


def test_backend_follows_the_named_server():
    assert Config()["database.backend"] is None and Config()["database.host"] is None
    assert _choice({}) == "sqlite"                                     # nothing names a server
    assert _choice({"database.path": "x.db"}) == "sqlite"
    assert _choice({"database.host": "127.0.0.1"}) == "mysql"         # DataJoint's default
    assert _choice({"database.host": "localhost"}) == "mysql"         # set explicitly: a server
    assert _choice({"database.user": "root"}) == "mysql"
    assert _choice({"database.host": "db", "database.port": 5432}) == "postgresql"
    assert _choice({"database.host": "db", "database.backend": "postgres"}) == "postgresql"
    assert _choice({"database.host": "db", "database.backend": "sqlite"}) == "sqlite"


def test_backend_from_environment_and_config_file(tmp_path):
    from joinflow.connection import choose_backend
    cfg = Config()
    cfg.load_environment({"DJ_HOST": "127.0.0.1", "DJ_USER": "root"})
    assert choose_backend(cfg)[0] == "mysql"
    cfg.load_environment({"DJ_BACKEND": "postgresql"})
    assert choose_backend(cfg)[0] == "postgresql"
    (tmp_path / ".git").mkdir()
    (tmp_path / "datajoint.json").write_text('{"database": {"host": "127.0.0.1:3306"}}')
    cfg = Config()
    cfg.load_default_files(tmp_path)
    assert cfg["database.host"] == "127.0.0.1:3306" and choose_backend(cfg)[0] == "mysql"


def _server_or_skip(backend: str) -> None:
    connect(backend).close()  # skips (fails under CI) when the server cannot be reached


def test_named_host_connects_to_mysql(caplog):
    """The classic DataJoint script: only the host, user and password are set."""
    _server_or_skip("mysql")
    url = urlparse(URLS["mysql"])
    with dj.config.override(database__host=f"{url.hostname}:{url.port or 3306}",
                            database__user=url.username, database__password=url.password):
        with caplog.at_level(logging.INFO, logger="joinflow"):
            c = dj.conn(reset=True)
        try:
            assert c.backend.name == "mysql" and c.config["database.port"] == (url.port or 3306)
            assert repr(c) == f"Connection(mysql://{url.username}@{url.hostname}:" \
                              f"{url.port or 3306}, connected)"
            assert "connecting to mysql://" in caplog.text and "database.host is set" in caplog.text
            assert dj.conn() is c                     # the shared connection is kept
            assert c.query("SELECT 1") == [(1,)]
        finally:
            c.close()
            dj.connection._global = None


def test_connection_arguments_name_the_server():
    _server_or_skip("mysql")
    _server_or_skip("postgresql")
    my, pg = urlparse(URLS["mysql"]), urlparse(URLS["postgresql"])
    c = dj.Connection(host=f"{my.hostname}:{my.port or 3306}", user=my.username,
                      password=my.password or "")
    assert c.backend.name == "mysql" and "mysql://" in repr(c)
    c.close()
    c = dj.Connection(host=f"{pg.hostname}:{pg.port or 5432}", user=pg.username,
                      password=pg.password)
    assert c.backend.name == "postgresql" and "postgresql://" in repr(c)
    assert c.query("SELECT 1") == [(1,)]
    c.close()
    with dj.config.override(database__backend="postgresql"):   # DJ_BACKEND / database.backend
        c = dj.Connection(host=pg.hostname, user=pg.username, password=pg.password)
        assert c.backend.name == "postgresql" and c.config["database.port"] is None
        c.close()


def test_nothing_named_is_sqlite(tmp_path, caplog):
    with dj.config.override(database__path=str(tmp_path / "default.db")):
        with caplog.at_level(logging.INFO, logger="joinflow"):
            c = dj.Connection()
        assert repr(c) == f"Connection(sqlite:{tmp_path / 'default.db'}, connected)"
        assert "no database server is named" in caplog.text
        c.close()


def test_query_percent_signs(conn, backend):
    # plain SQL keeps a lone % as it is; DataJoint's driver-style SQL writes a literal % as %%
    # (with or without parameters) on the servers, as DataJoint's driver call reads it
    assert conn.query("SELECT 'a%'").fetchone()[0] == "a%"
    if backend == "sqlite":
        assert conn.query("SELECT 'a%%'").fetchone()[0] == "a%%"
    else:
        assert conn.query("SELECT 'a%%'").fetchone()[0] == "a%"
        assert conn.query("SELECT 'a%%', %s", args=(5,)).fetchone() == ("a%", 5)


# -- statements deferred to the next round trip (PostgreSQL pipelines them) -------------------
def _table(schema):
    @schema
    class Row(dj.Manual):
        definition = "rid : int32\n---\nval : int32"
    return Row


def test_deferred_statement_runs_with_the_commit(schema):
    Row = _table(schema)
    conn = schema.connection
    Row.insert([{"rid": i, "val": i} for i in range(3)])
    with conn.transaction:
        Row.insert1({"rid": 10, "val": 10})
        conn.defer(f"DELETE FROM {Row.full_table_name} WHERE rid = {PH}", [1])
    assert sorted(Row.to_arrays("rid")) == [0, 2, 10]
    conn.defer(f"DELETE FROM {Row.full_table_name} WHERE rid = {PH}", [2])  # no transaction: now
    assert sorted(Row.to_arrays("rid")) == [0, 10]


def test_failing_deferred_statement_fails_the_commit_and_rolls_back(schema):
    Row = _table(schema)
    conn = schema.connection
    with pytest.raises(errors.JoinflowError):
        with conn.transaction:
            Row.insert1({"rid": 1, "val": 1})
            conn.defer(f"INSERT INTO {Row.full_table_name} (rid, val) VALUES ({PH}, {PH})",
                       [1, 5])  # the same key again
    assert len(Row) == 0 and not conn.in_transaction
    Row.insert1({"rid": 2, "val": 2})  # the connection is usable
    assert Row.to_arrays("rid").tolist() == [2]


def test_empty_transaction_sends_nothing_on_postgresql(schema):
    conn = schema.connection
    sent = []
    original = conn._execute

    def counting(sql, *args, **kwargs):
        sent.append(sql)
        return original(sql, *args, **kwargs)

    conn._execute = counting
    try:
        with conn.transaction:
            pass
    finally:
        del conn._execute
    assert len(sent) == (0 if conn.backend.pipelines else 2)


def test_bulk_copy_in_a_transaction_is_rolled_back(schema):
    """A bulk insert (COPY on PostgreSQL) as a transaction's first statement still runs
    inside it: the deferred BEGIN goes first."""
    Row = _table(schema)
    conn = schema.connection
    with pytest.raises(RuntimeError):
        with conn.transaction:
            Row.insert([{"rid": i, "val": i} for i in range(500)])
            raise RuntimeError("abort")
    assert len(Row) == 0
