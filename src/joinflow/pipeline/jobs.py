"""The jobs queue of an auto-populated table (DataJoint 2.x "AutoPopulate 2.0").

Each auto-populated table ``__name`` (or ``_name``) has a hidden table ``~~name`` in its schema
holding one row per key of its ``key_source``: the key, a ``status`` (``pending``, ``reserved``,
``success``, ``error``, ``ignore``), a priority, timestamps, and who reserved it (user, host,
pid, database session id). Its name and columns are DataJoint 2.3.5's, so DataJoint workers and
joinflow workers can share one queue.

Reservation is one conditional ``UPDATE ... WHERE status = 'pending'`` per key: the database
lets exactly one session change the row (row locks on PostgreSQL and MySQL; SQLite's single
writer, with WAL, a busy timeout and ``BEGIN IMMEDIATE`` in its backend).
"""
from __future__ import annotations

import datetime as dt
import getpass
import os
import socket
from typing import Any

from .. import errors
from ..backends.base import PH
from ..table import FreeTable

STATUSES = ("pending", "reserved", "success", "error", "ignore")
ERROR_MESSAGE_LENGTH = 2047
TRUNCATION_APPENDIX = "...truncated"

SECONDARY = """\
status : enum('pending','reserved','success','error','ignore')
priority : int8
created_time = CURRENT_TIMESTAMP(3) : datetime(3)
scheduled_time = CURRENT_TIMESTAMP(3) : datetime(3)
reserved_time = null : datetime(3)
completed_time = null : datetime(3)
duration = null : float64
error_message = "" : varchar(2047)
error_stack = null : <blob>
user = "" : varchar(255)
host = "" : varchar(255)
pid = 0 : int32
connection_id = 0 : int64
version = "" : varchar(64)
index(status, priority, scheduled_time)
"""


def jobs_table_name(table_name: str) -> str:
    """``__name`` / ``_name`` -> ``~~name`` (DataJoint 2.x)."""
    return "~~" + table_name.lstrip("_#")


def is_jobs_table(name: str) -> bool:
    return name.startswith("~~")


# -- time and session ----------------------------------------------------------------------
def now_sql(conn: Any, offset: bool = False) -> str:
    """The database's current time as ``datetime(3)`` (plus a bound number of seconds), in the
    server's default time zone: the zone DataJoint's sessions write the queue's times in
    (joinflow's own sessions run in UTC), so that workers of both read one clock."""
    base = queue_clock(conn)
    name = conn.backend.name
    if name == "mysql":
        return f"({base} + INTERVAL {PH} MICROSECOND)" if offset else base
    if name == "postgresql":
        return f"({base} + {PH} * INTERVAL '1 microsecond')" if offset else base
    return f"strftime('%Y-%m-%d %H:%M:%f', 'now', {PH})" if offset \
        else "strftime('%Y-%m-%d %H:%M:%f', 'now')"


UTC_ZONES = {"utc", "etc/utc", "gmt", "etc/gmt", "uct", "etc/uct", "zulu", "etc/zulu",
             "universal", "etc/universal", "+00:00", "greenwich", "etc/greenwich", "z"}
PG_DEFAULT_ZONE = "(SELECT reset_val FROM pg_settings WHERE name = 'TimeZone')"


def queue_clock(conn: Any) -> str:
    """SQL for "now" in the server's default time zone (asked once per connection): the
    session's clock where that zone is UTC, else the UTC clock converted to that zone."""
    cached = getattr(conn, "_jf_queue_clock", None)
    if cached is not None:
        return cached
    name = conn.backend.name
    if name == "mysql":
        zone, system, converts = conn.query(
            "SELECT @@global.time_zone, @@system_time_zone, CONVERT_TZ(CURRENT_TIMESTAMP(3), "
            "'+00:00', @@global.time_zone) IS NOT NULL")[0]
        effective = system if str(zone).upper() == "SYSTEM" else zone
        utc = str(effective).lower() in UTC_ZONES or not converts
        clock = "CURRENT_TIMESTAMP(3)" if utc else \
            "CONVERT_TZ(CURRENT_TIMESTAMP(3), '+00:00', @@global.time_zone)"
    elif name == "postgresql":
        zone = conn.query(PG_DEFAULT_ZONE)[0][0]
        clock = "LOCALTIMESTAMP(3)" if str(zone).lower() in UTC_ZONES else \
            f"(CURRENT_TIMESTAMP(3) AT TIME ZONE {PG_DEFAULT_ZONE})"
    else:
        clock = "strftime('%Y-%m-%d %H:%M:%f', 'now')"
    conn._jf_queue_clock = clock
    return clock


def offset_param(backend_name: str, seconds: float) -> Any:
    if backend_name == "sqlite":
        return f"{seconds:+.3f} seconds"
    return round(seconds * 1e6)


def session_info(conn: Any) -> dict:
    """Who reserves: user, host, pid and the database session id (cached per connection
    and process; a reconnect gets a new session id, so it is asked again then)."""
    raw_id = id(conn._raw)
    cached = getattr(conn, "_jf_job_session", None)
    if cached and cached[0] == (os.getpid(), raw_id):
        return cached[1]
    name = conn.backend.name
    if name == "mysql":
        user, cid = conn.query("SELECT USER(), CONNECTION_ID()")[0]
    elif name == "postgresql":
        user, cid = conn.query("SELECT current_user, pg_backend_pid()")[0]
    else:
        user, cid = getpass.getuser(), 0
    info = {"user": str(user), "host": socket.gethostname(), "pid": os.getpid(),
            "connection_id": int(cid), "version": job_version(conn.config)}
    conn._jf_job_session = ((os.getpid(), id(conn._raw)), info)
    return info


def live_sessions(conn: Any) -> set[int] | None:
    """Database session ids that exist now (None on SQLite, which has no server)."""
    name = conn.backend.name
    if name == "mysql":
        return {int(r[0]) for r in conn.query("SELECT ID FROM information_schema.PROCESSLIST")}
    if name == "postgresql":
        return {int(r[0]) for r in conn.query("SELECT pid FROM pg_stat_activity")}
    return None


def job_version(config: Any) -> str:
    """The code version recorded with jobs and computed rows (``jobs.version_method``:
    ``'git'`` gives the short commit of the working directory, anything else nothing);
    asked once per process."""
    if config["jobs.version_method"] != "git":
        return ""
    if "git" not in _VERSIONS:
        import subprocess
        try:
            out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                                 text=True, timeout=5, check=False)
            _VERSIONS["git"] = out.stdout.strip()[:64] if out.returncode == 0 else ""
        except (OSError, subprocess.SubprocessError):
            _VERSIONS["git"] = ""
    return _VERSIONS["git"]


_VERSIONS: dict[str, str] = {}


def pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# -- declaration ---------------------------------------------------------------------------
def key_attributes(target: Any) -> list[str]:
    """The jobs key: the table's primary-key attributes that its ``key_source`` provides
    (a table may add key attributes of its own, filled by ``make``)."""
    source = target.key_source.heading
    return [a for a in target.primary_key if a in source]


def definition_for(target: Any) -> str:
    heading = target.heading
    keys = [f"{a} : {heading[a].declared}" for a in key_attributes(target)]
    return (f"# Job queue for {target.full_table_name}\n" + "\n".join(keys) + "\n---\n"
            + SECONDARY)


def declare(conn: Any, schema: str, table: str, definition: str) -> None:
    """Create the jobs table; a concurrent creator winning the race is fine."""
    from ..declare import build_attributes, ddl
    from ..definition.parser import parse_definition
    backend = conn.backend
    spec = parse_definition(definition, table=table)
    statements = ddl(schema, table, spec, [], build_attributes(spec, [], backend), backend)
    try:
        if backend.name == "mysql":  # DDL commits implicitly there
            statements[0] = _if_not_exists(statements[0])
            conn.execute_script(statements)
        else:
            with conn.transaction:
                conn.execute_script(statements)
    except errors.JoinflowError:
        if table not in backend.list_tables(conn.run, schema):
            raise
    finally:
        conn.invalidate()


def _if_not_exists(stmt: Any) -> Any:
    if isinstance(stmt, tuple):
        return (_if_not_exists(stmt[0]),) + stmt[1:]
    return stmt.replace("CREATE TABLE ", "CREATE TABLE IF NOT EXISTS ", 1)


# -- the jobs table ------------------------------------------------------------------------
class Job(FreeTable):
    """``Table.jobs``: the jobs queue of one auto-populated table (a table expression)."""

    def __init__(self, target: Any) -> None:
        conn = target.connection
        super().__init__(conn, f"{target.database}.{jobs_table_name(target.table_name)}")
        self._target = target._unrestricted() if hasattr(target, "_unrestricted") else target
        self._ensure()
        self.key_attrs = list(self.primary_key)

    def _ensure(self) -> None:
        conn = self.connection
        cache_key = f"{self.database}.{self.table_name}"
        if cache_key in conn._heading_cache:
            return
        if self.table_name not in conn.backend.list_tables(conn.run, self.database):
            declare(conn, self.database, self.table_name, definition_for(self._target))

    def __repr__(self) -> str:  # the rows, as DataJoint shows a jobs table (no header line)
        return super(FreeTable, self).__repr__()

    @property
    def target(self) -> Any:
        return self._target

    @property
    def definition(self) -> str:  # type: ignore[override]
        """The queue's definition (DataJoint's attribute): the target's key attributes with
        their declared types (``uuid``, not the SQL ``binary(16)``), then the job columns."""
        return definition_for(self._target)

    # -- views by status -------------------------------------------------------------------
    def _status(self, status: str) -> Job:
        return self.restrict({"status": status})

    @property
    def pending(self) -> Job:
        return self._status("pending")

    @property
    def reserved(self) -> Job:
        return self._status("reserved")

    @property
    def errors(self) -> Job:
        return self._status("error")

    @property
    def ignored(self) -> Job:
        return self._status("ignore")

    @property
    def completed(self) -> Job:
        return self._status("success")

    def progress(self) -> dict:
        """Counts per status and the total: ``{'pending': n, ..., 'total': n}``."""
        rows = self.connection.query(
            f"SELECT {self._q('status')}, COUNT(*) FROM {self.full_table_name} "
            f"GROUP BY {self._q('status')}")
        counts = {s: 0 for s in STATUSES}
        counts.update({str(s): int(c) for s, c in rows})
        counts["total"] = sum(counts[s] for s in STATUSES)
        return counts

    # -- helpers ---------------------------------------------------------------------------
    def _q(self, name: str) -> str:
        return self.connection.backend.quote(name)

    def _key_where(self, key: dict) -> tuple[str, list]:
        backend, heading = self.connection.backend, self._target.heading
        terms, params = [], []
        for name in self.key_attrs:
            if name not in key:
                raise errors.DataError(f"job key {key!r} lacks primary-key attribute {name!r}")
            attr = heading[name]
            adapt = backend.adapter(attr.core, attr.spec.args)
            value = key[name]
            terms.append(f"{self._q(name)} = {PH}")
            params.append(adapt(value) if adapt and value is not None else value)
        return " AND ".join(terms), params

    def _update(self, key: dict, sets: dict, raw_sets: str = "", extra_where: str = "",
                extra_params: tuple = ()) -> int:
        where, kparams = self._key_where(key)
        assigns = [f"{self._q(c)} = {PH}" for c in sets] + ([raw_sets] if raw_sets else [])
        sql = (f"UPDATE {self.full_table_name} SET {', '.join(assigns)} WHERE {where}"
               + (f" AND {extra_where}" if extra_where else ""))
        rows = self.connection.query(sql, [*sets.values(), *kparams, *extra_params])
        return max(rows.rowcount, 0)

    def _now(self) -> str:
        return now_sql(self.connection)

    # -- the job life cycle ----------------------------------------------------------------
    def reserve(self, key: dict) -> bool:
        """Atomically take a pending (and due) job; True if this session got it."""
        info = session_info(self.connection)
        n = self._update(key, dict(status="reserved", **info),
                         raw_sets=f"{self._q('reserved_time')} = {self._now()}",
                         extra_where=f"{self._q('status')} = {PH} AND "
                                     f"{self._q('scheduled_time')} <= {self._now()}",
                         extra_params=("pending",))
        return n == 1

    def claim_next(self, priority: int | None = None) -> dict | None:
        """Reserve the most urgent due pending job and return its key (None if none)."""
        keys = self.claim(1, priority)
        return keys[0] if keys else None

    def claim(self, count: int = 1, priority: int | None = None) -> list[dict]:
        """Reserve up to ``count`` of the most urgent due pending jobs and return their keys
        (most urgent first), autocommitted so the reservations are visible at once. One
        statement on PostgreSQL (``UPDATE ... WHERE key IN (SELECT ... FOR UPDATE SKIP
        LOCKED) RETURNING``: concurrent workers never wait for or collide on the same rows)
        and on SQLite (``UPDATE ... RETURNING`` under its single writer). MySQL/MariaDB have
        no ``UPDATE ... RETURNING``: a short transaction locks the most urgent rows with
        ``SELECT ... FOR UPDATE SKIP LOCKED`` (read along the status index, where ``UPDATE ...
        ORDER BY ... LIMIT`` would sort every pending row) and updates them by key. Servers
        without ``SKIP LOCKED`` (MySQL 5.7, MariaDB before 10.6) lock the same way and wait
        for a concurrent claim instead of skipping its rows (a locking read then sees them
        reserved and passes over them)."""
        conn = self.connection
        info = session_info(conn)
        if conn.backend.name == "mysql":
            return self._claim_locked(count, priority, info)
        sql = self._claim_sql(priority is not None)
        params: list = ["reserved", *info.values(), "pending"]
        if priority is not None:
            params.append(int(priority))
        rows = conn.query(sql, [*params, int(count)])
        pk = list(self.key_attrs)
        # most urgent first; equally urgent jobs in key order (as the status index gives them)
        ordered = sorted(rows, key=lambda r: (r[-2], r[-1], *r[:-2])) if len(rows) > 1 \
            else rows
        return [self._python_key(pk, r[:-2]) for r in ordered]

    def _claim_locked(self, count: int, priority: int | None, info: dict) -> list[dict]:
        conn, q, table = self.connection, self._q, self.full_table_name
        pk = [q(c) for c in self.key_attrs]
        due = f"{q('status')} = {PH} AND {q('scheduled_time')} <= {self._now()}"
        params: list = ["pending"]
        if priority is not None:
            due += f" AND {q('priority')} <= {PH}"
            params.append(int(priority))
        select = (f"SELECT {', '.join(pk)}, {q('priority')}, {q('scheduled_time')} FROM {table} "
                  f"WHERE {due} ORDER BY {q('priority')}, {q('scheduled_time')} LIMIT {PH} "
                  "FOR UPDATE" + (" SKIP LOCKED" if getattr(conn.backend, "skip_locked", False)
                                  else ""))
        with conn.transaction:
            rows = conn.query(select, [*params, int(count)])
            if not rows:
                return []
            n = len(pk)
            one = "(" + ", ".join([PH] * n) + ")"
            target = f"({', '.join(pk)})" if n > 1 else pk[0]
            sets = ", ".join(f"{q(c)} = {PH}" for c in ("status", *info))
            conn.query(f"UPDATE {table} SET {sets}, {q('reserved_time')} = {self._now()} "
                       f"WHERE {target} IN ({', '.join([one if n > 1 else PH] * len(rows))})",
                       ["reserved", *info.values(), *(v for r in rows for v in r[:n])])
        keys = [self._python_key(list(self.key_attrs), r[:n]) for r in rows]
        return keys

    def _claim_sql(self, with_priority: bool) -> str:
        """The claim statement of PostgreSQL and SQLite, rendered once per table."""
        cache = self.__dict__.setdefault("_claim_cache", {})
        if with_priority in cache:
            return cache[with_priority]
        name, q, table = self.connection.backend.name, self._q, self.full_table_name
        pk = ", ".join(q(c) for c in self.key_attrs)
        info = ("user", "host", "pid", "connection_id", "version")
        sets = ", ".join(f"{q(c)} = {PH}" for c in ("status", *info))
        sets += f", {q('reserved_time')} = {self._now()}"
        due = f"{q('status')} = {PH} AND {q('scheduled_time')} <= {self._now()}"
        if with_priority:
            due += f" AND {q('priority')} <= {PH}"
        urgent = f"ORDER BY {q('priority')}, {q('scheduled_time')}"
        back = f"{pk}, {q('priority')}, {q('scheduled_time')}"
        lock = " FOR UPDATE SKIP LOCKED" if name == "postgresql" else ""
        sql = (f"UPDATE {table} SET {sets} WHERE ({pk}) IN (SELECT {pk} FROM {table} "
               f"WHERE {due} {urgent} LIMIT {PH}{lock}) RETURNING {back}")
        cache[with_priority] = sql
        return sql

    def _python_key(self, pk: list[str], raw: tuple) -> dict:
        heading, backend = self._target.heading, self.connection.backend
        key = {}
        for name, value in zip(pk, raw):
            convert = backend.converter(heading[name].core, heading[name].spec.args)
            key[name] = convert(value) if convert and value is not None else value
        return key

    def release(self, key: dict) -> None:
        """Give a reservation back (the worker stops before finishing it)."""
        self._update(key, {"status": "pending", "reserved_time": None, "connection_id": 0, "pid": 0},
                     extra_where=f"{self._q('status')} = {PH}", extra_params=("reserved",))

    def complete(self, key: dict, duration: float | None = None,
                 keep: bool | None = None) -> None:
        """Mark done: kept as ``success`` with ``jobs.keep_completed``, otherwise deleted.
        Called by populate inside the transaction that writes the key's rows, so the rows and
        the job's end commit together (one statement)."""
        if keep is None:
            keep = bool(self.connection.config["jobs.keep_completed"])
        sql = self._complete_sql(keep)
        params = self._key_params(key)
        if keep:
            params = [duration, *params]
        # inside populate's transaction: sent with its COMMIT where the backend pipelines
        self.connection.defer(sql, params)

    def _complete_sql(self, keep: bool) -> str:
        cache = self.__dict__.setdefault("_complete_cache", {})
        if keep not in cache:
            q, where = self._q, " AND ".join(f"{self._q(c)} = {PH}" for c in self.key_attrs)
            if keep:
                cache[keep] = (f"UPDATE {self.full_table_name} SET {q('status')} = 'success', "
                               f"{q('duration')} = {PH}, {q('error_message')} = '', "
                               f"{q('error_stack')} = NULL, {q('completed_time')} = "
                               f"{self._now()} WHERE {where}")
            else:
                cache[keep] = f"DELETE FROM {self.full_table_name} WHERE {where}"
        return cache[keep]

    def _key_params(self, key: dict) -> list:
        """The key's values in ``key_attrs`` order, adapted for the driver."""
        adapters = self.__dict__.get("_adapters")
        if adapters is None:
            backend, heading = self.connection.backend, self._target.heading
            adapters = self._adapters = [backend.adapter(heading[n].core, heading[n].spec.args)
                                         for n in self.key_attrs]
        params = []
        for name, adapt in zip(self.key_attrs, adapters):
            if name not in key:
                raise errors.DataError(f"job key {key!r} lacks primary-key attribute {name!r}")
            value = key[name]
            params.append(adapt(value) if adapt and value is not None else value)
        return params

    def error(self, key: dict, error_message: str, error_stack: str | None = None) -> None:
        """Record a failure: status ``error`` with the message and the stack."""
        from ..codecs.blob import pack
        message = error_message if len(error_message) <= ERROR_MESSAGE_LENGTH else \
            error_message[:ERROR_MESSAGE_LENGTH - len(TRUNCATION_APPENDIX)] + TRUNCATION_APPENDIX
        stack = pack(error_stack) if error_stack is not None else None
        n = self._update(key, {"status": "error", "error_message": message, "error_stack": stack},
                         raw_sets=f"{self._q('completed_time')} = {self._now()}")
        if n == 0:  # no job row (e.g. removed meanwhile): record the error anyway
            self._insert_row(key, "error", error_message=message, error_stack=stack)

    def ignore(self, key: dict) -> None:
        """Mark a key ``ignore``: populate skips it until the job is deleted."""
        if self._update(key, {"status": "ignore"}) == 0:
            self._insert_row(key, "ignore")

    def _insert_row(self, key: dict, status: str, **values: Any) -> None:
        heading = self._target.heading
        row = {k: key[k] for k in self.key_attrs}
        now = self.connection.query(f"SELECT {self._now()}")[0][0]  # the queue's clock
        stamped = {"created_time": now, "scheduled_time": now, **values}
        cols = list(row) + ["status", "priority", *stamped]
        params = []
        for k, v in row.items():
            adapt = self.connection.backend.adapter(heading[k].core, heading[k].spec.args)
            params.append(adapt(v) if adapt and v is not None else v)
        params += [status, int(self.connection.config["jobs.default_priority"]),
                   *stamped.values()]
        sql = self.connection.backend.insert_sql(self.full_table_name, cols)
        try:
            self.connection.query(sql, params)
        except errors.DuplicateError:
            self._update(key, dict(status=status, **values))

    def refresh(self, *restrictions: Any, delay: float = 0, priority: int | None = None,
                stale_timeout: float | None = None, orphan_timeout: float | None = None) -> dict:
        """Bring the queue up to date; returns ``{'added', 'removed', 'orphaned',
        're_pended'}`` counts (see ``pipeline.refresh``)."""
        from .refresh import refresh
        return refresh(self, restrictions, delay=delay, priority=priority,
                       stale_timeout=stale_timeout, orphan_timeout=orphan_timeout)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        """Delete jobs (no cascade: nothing depends on a jobs table)."""
        return self.delete_quick()

    def drop(self, *args: Any, **kwargs: Any) -> None:
        self.drop_quick()
        self.connection.invalidate()


def now_utc() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def schema_jobs(schema: Any) -> list[Job]:
    """``schema.jobs``: the jobs tables that exist in the schema, one per auto-populated
    table (DataJoint 2.3.5 returns them as a list)."""
    from ..populate import AutoPopulate
    conn = schema.connection
    existing = set(conn.backend.list_tables(conn.run, schema.database))
    classes = {**schema.make_classes(), **{c.__name__: c for c in schema._classes.values()}}
    out = []
    for cls in classes.values():
        if not (isinstance(cls, type) and issubclass(cls, AutoPopulate)):
            continue
        table = cls()
        if jobs_table_name(table.table_name) in existing:
            out.append(Job(table))
    return sorted(out, key=lambda j: j.table_name)
