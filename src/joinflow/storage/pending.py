"""Pending-write records: the objects an insert is writing, visible to garbage collection
before they are written, until the insert's rows are committed or rolled back.

An insert uploads its objects first and commits its rows after. Between the two, an object
is in the store but no committed row refers to it, so a concurrent ``dj.gc`` would take it for
an orphan; an object found present (identical content, not written again) is at the same risk.
The insert therefore first commits one small record per object — store, path, the writer's
database session, the time — in the hidden table ``~pending_writes`` of the schema it inserts
into (``~`` names are skipped by DataJoint's and joinflow's table listings and diagrams), and
removes it when the rows' transaction has ended (commit or rollback).

Garbage collection keeps every object with a record whose session is alive
(``pg_stat_activity`` on PostgreSQL, ``information_schema.processlist`` on MySQL/MariaDB) and
removes records of dead sessions (their transactions can never commit). SQLite has no session
list: a record counts as alive while it is younger than the collector's ``pending_timeout``.
On MySQL a session of another user is only visible with the ``PROCESS`` privilege; without it
such records also count as alive until the timeout.

Costs: an insert that writes no object does nothing here. One that writes objects runs one
INSERT (all its objects, in rows of up to 1,000) before the upload and one DELETE after its
transaction. Inside an enclosing transaction (``populate``'s ``make``, ``with
conn.transaction``) a record written on the writer's own connection would stay invisible until
the commit, so it goes through a second, autocommitting connection to the same server (opened
once per connection, on first use), tagged with the writer's session, and is removed when the
outermost transaction ends. On SQLite, where a second connection cannot write while the
transaction holds the file's write lock, writes inside an enclosing transaction are not
recorded: that lock protects them instead (garbage collection reads the records and rows
under it, so it waits for their commit; ``storage/gc.py``).

Readers of the records: ``dj.gc`` (``storage/gc.py``); the cleanup after a failed insert
(``access.ConfiguredStores.discard``: objects another live writer recorded are kept, and one
recorded between its check and its removal is written back); ``schema.external[store].delete()``
(an unused 0.x entry whose object an insert in progress found present is kept).
"""
from __future__ import annotations

import logging
import time
import uuid
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from ..backends.base import PH

log = logging.getLogger("joinflow")

TABLE = "~pending_writes"
ROWS_PER_STATEMENT = 1000
#: where sessions cannot be listed (SQLite), how long a record counts as alive (seconds)
PENDING_TIMEOUT = 24 * 3600.0

_COLUMNS = ("claim", "store", "path", "session", "db_user", "created")

#: side connections (for writers inside a transaction), per connection
_SIDE: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()
#: the claims a connection holds now (its own records, not another writer's)
_OWN: weakref.WeakKeyDictionary[Any, set[str]] = weakref.WeakKeyDictionary()
#: the server session id of a connection, per driver connection object
_SESSION: weakref.WeakKeyDictionary[Any, tuple[Any, int]] = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class Record:
    """One pending write as GC reads it."""

    claim: str
    store: str
    path: str
    session: int
    db_user: str
    created: float  # seconds since the epoch (the writer's clock)


@dataclass
class Claim:
    """The records one insert registered: removed by ``release``."""

    token: str
    schema: str
    connection: Any      # the connection the records were written through
    owner: Any = None    # the writer's connection
    released: bool = False


# ------------------------------------------------------------------------------ the writer
def claim(conn: Any, schema: str, writes: Sequence[Any]) -> Claim | None:
    """Commit the records of ``writes`` (``ObjectWrite``s, before they are uploaded) for an
    insert into ``schema`` through ``conn``. Outside a transaction, returns the ``Claim`` the
    caller releases after its own transaction (``release``); inside one, the release is
    registered here on the end of the current transaction level and None is returned. None
    too when nothing was recorded (a failure to record is logged: it must not stop the
    insert)."""
    keys = list(dict.fromkeys((w.store or "", w.path) for w in writes))
    if not keys:
        return None
    backend = conn.backend
    try:
        if not conn.in_transaction:
            token = _insert(conn, conn, schema, keys, None)
            _OWN.setdefault(conn, set()).add(token)
            return Claim(token, schema, conn, owner=conn)
        if backend.name == "sqlite":
            return None
        side = _side(conn)
        token = _insert(side, conn, schema, keys, session_id(conn))
    except Exception as exc:  # noqa: BLE001 - bookkeeping must not fail the insert
        log.warning("could not record the pending writes of an insert into %s; a concurrent "
                    "garbage collection may remove its objects: %s", schema, exc)
        return None
    _OWN.setdefault(conn, set()).add(token)
    done = Claim(token, schema, side, owner=conn)
    conn.on_commit(lambda: release(done))
    conn.on_rollback(lambda: release(done))
    return None


def release(done: Claim | None) -> None:
    """Remove the records of ``done`` (idempotent); a failure is logged (GC removes records
    of dead sessions)."""
    if done is None or done.released:
        return
    done.released = True
    if done.owner is not None:
        _OWN.get(done.owner, set()).discard(done.token)
    conn = done.connection
    try:
        conn.query(f"DELETE FROM {_table(conn, done.schema)} WHERE {conn.backend.quote('claim')}"
                   f" = {PH}", [done.token])
    except Exception as exc:  # noqa: BLE001 - see docstring
        log.warning("could not remove the pending-write records of an insert into %s: %s",
                    done.schema, exc)


def session_id(conn: Any) -> int:
    """The server's id of ``conn``'s session (0 on SQLite)."""
    name = conn.backend.name
    if name == "sqlite":
        return 0
    known = _SESSION.get(conn)
    if known is not None and known[0] is conn._raw and conn._raw is not None:
        return known[1]
    sql = "SELECT pg_backend_pid()" if name == "postgresql" else "SELECT CONNECTION_ID()"
    sid = int(conn.query(sql)[0][0])
    _SESSION[conn] = (conn._raw, sid)
    return sid


def _session_sql(conn: Any) -> str:
    """SQL for the statement's own session id."""
    return {"postgresql": "pg_backend_pid()", "mysql": "CONNECTION_ID()"}.get(
        conn.backend.name, "0")


def _insert(via: Any, writer: Any, schema: str, keys: list[tuple[str, str]],
            session: int | None) -> str:
    """Insert the records through ``via``; ``session`` None: ``via``'s own session (taken by
    the statement itself)."""
    token = uuid.uuid4().hex
    user = str(writer.config["database.user"] or "")
    now = int(time.time() * 1000)
    sess = PH if session is not None else _session_sql(via)
    row = f"({PH}, {PH}, {PH}, {sess}, {PH}, {PH})"
    names = ", ".join(via.backend.quote(c) for c in _COLUMNS)
    for i in range(0, len(keys), ROWS_PER_STATEMENT):
        chunk = keys[i:i + ROWS_PER_STATEMENT]
        params: list[Any] = []
        for store, path in chunk:
            params += [token, store, path] + ([session] if session is not None else []) + \
                [user, now]
        sql = (f"INSERT INTO {_table(via, schema)} ({names}) VALUES "
               + ", ".join([row] * len(chunk)))
        try:
            via.query(sql, params)
        except Exception:
            if exists(via, schema):
                raise
            _create(via, schema)
            via.query(sql, params)
    return token


def _side(conn: Any) -> Any:
    """The autocommitting second connection of ``conn`` (same server and user)."""
    side = _SIDE.get(conn)
    if side is None or side._raw is None:
        from ..connection import Connection
        side = Connection(config=conn.config)
        _SIDE[conn] = side
    return side


# ------------------------------------------------------------------------------ the table
def _table(conn: Any, schema: str) -> str:
    return conn.backend.full_name(schema, TABLE)


def _create(conn: Any, schema: str) -> None:
    """Create the schema's table (if another writer has not just done so)."""
    q = conn.backend.quote
    conn.query(
        f"CREATE TABLE IF NOT EXISTS {_table(conn, schema)} ("
        f"{q('claim')} varchar(32) NOT NULL, {q('store')} varchar(255) NOT NULL, "
        f"{q('path')} varchar(1024) NOT NULL, {q('session')} bigint NOT NULL, "
        f"{q('db_user')} varchar(255) NOT NULL, {q('created')} bigint NOT NULL)")


def exists(conn: Any, schema: str) -> bool:
    return TABLE in conn.backend.list_tables(conn.run, schema)


# ------------------------------------------------------------------------------ the collector
def records(conn: Any, schema: str) -> list[Record]:
    """Every record of ``schema`` (none if its table does not exist)."""
    if not exists(conn, schema):
        return []
    q = conn.backend.quote
    rows = conn.query(f"SELECT {', '.join(q(c) for c in _COLUMNS)} FROM {_table(conn, schema)}")
    return [Record(str(c), str(s), str(p), int(sess), str(u), int(t) / 1000.0)
            for c, s, p, sess, u, t in rows]


def live_sessions(conn: Any) -> tuple[set[int], bool] | None:
    """The server's session ids, and whether sessions of other users are visible (None on
    SQLite: no session list)."""
    name = conn.backend.name
    if name == "postgresql":
        return {int(r[0]) for r in conn.query("SELECT pid FROM pg_stat_activity")}, True
    if name == "mysql":
        rows = conn.query("SELECT id, user FROM information_schema.processlist")
        me = str(conn.config["database.user"] or "")
        return {int(r[0]) for r in rows}, any(str(r[1]) != me for r in rows)
    return None


def split(conn: Any, found: Iterable[Record], timeout: float,
          now: float | None = None) -> tuple[list[Record], list[Record]]:
    """``(alive, stale)``: records that protect their objects, and those of dead sessions
    (or, where sessions cannot be seen, older than ``timeout`` seconds)."""
    found = list(found)
    if not found:
        return [], []
    now = time.time() if now is None else now
    sessions = live_sessions(conn)
    me = str(conn.config["database.user"] or "")
    alive: list[Record] = []
    stale: list[Record] = []
    for rec in found:
        young = now - rec.created < timeout
        if sessions is None:
            ok = young
        else:
            ids, others_visible = sessions
            ok = rec.session in ids or (young and rec.db_user != me and not others_visible)
        (alive if ok else stale).append(rec)
    return alive, stale


def recorded_by_others(conn: Any, writes: Sequence[Any]) -> set[tuple[str, str]]:
    """``(store, path)`` of the ``writes`` (``ObjectWrite``s) that another writer, alive, has
    recorded: it may have found the object present and be about to commit a row using it.
    For the cleanup after ``conn``'s failed transaction."""
    by_schema: dict[str, set[str]] = {}
    for w in writes:
        if w.use is not None:
            by_schema.setdefault(w.use.schema, set()).add(w.path)
    if not by_schema:
        return set()
    # inside a transaction (a savepoint rolled back) MySQL would read its snapshot
    reader = _side(conn) if conn.in_transaction and conn.backend.name != "sqlite" else conn
    own = _OWN.get(conn, set())
    found: set[str] = set()
    for schema, paths in by_schema.items():
        found |= recorded(reader, schema, paths, exclude=own)
    return {(w.store or "", w.path) for w in writes if w.path in found}


def recorded(conn: Any, schema: str, paths: Iterable[str],
             exclude: Iterable[str] = ()) -> set[str]:
    """The ``paths`` that a live writer has recorded in ``schema`` (claims in ``exclude``
    left out)."""
    names = sorted(set(paths))
    if not names or not exists(conn, schema):
        return set()
    skip = set(exclude)
    q = conn.backend.quote
    theirs: list[Record] = []
    for i in range(0, len(names), ROWS_PER_STATEMENT):
        chunk = names[i:i + ROWS_PER_STATEMENT]
        rows = conn.query(
            f"SELECT {', '.join(q(c) for c in _COLUMNS)} FROM {_table(conn, schema)} "
            f"WHERE {q('path')} IN ({', '.join([PH] * len(chunk))})", chunk)
        theirs += [Record(str(c), str(s), str(p), int(sess), str(u), int(t) / 1000.0)
                   for c, s, p, sess, u, t in rows if str(c) not in skip]
    alive, _ = split(conn, theirs, PENDING_TIMEOUT)
    return {r.path for r in alive}


def remove(conn: Any, schema: str, stale: Sequence[Record]) -> int:
    """Delete the records ``stale`` (by claim and session); returns how many claims."""
    q = conn.backend.quote
    claims = sorted({(r.claim, r.session) for r in stale})
    for token, session in claims:
        conn.query(f"DELETE FROM {_table(conn, schema)} WHERE {q('claim')} = {PH} AND "
                   f"{q('session')} = {PH}", [token, session])
    return len(claims)
