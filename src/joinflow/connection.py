"""Connection: owns one DB-API connection and a backend; executes ``(sql, params)``,
translates driver errors at this one boundary, manages transactions and reconnects.
"""
from __future__ import annotations

import contextlib
import logging
import threading
from typing import Any, Callable, Iterator

from . import errors
from .backends import Backend, get_backend
from .backends.base import PH
from .settings import Config, refuse_in_thread_safe_mode

log = logging.getLogger("joinflow")


class Connection:
    """A connection to one database server (or SQLite file).

    ``Connection(host=..., user=..., password=..., backend=..., config=...)``; omitted
    arguments come from ``config`` (default: ``dj.config``, refused in thread-safe mode).
    ``port`` and ``use_tls`` may also be given by position, as DataJoint's
    ``Connection(host, user, password, port, use_tls)``.
    """

    def __init__(self, host: str | None = None, user: str | None = None,
                 password: str | None = None, port: int | None = None,
                 use_tls: bool | dict | None = None, *, backend: str | None = None,
                 path: str | None = None, config: Config | None = None,
                 init_fun: Any = None) -> None:
        from . import config as global_config
        if config is None:
            refuse_in_thread_safe_mode("a Connection without config= (it reads dj.config)")
        self.last_description: list[str] | None = None
        # a live layer over the given (default: global) configuration, so later changes to
        # dj.config (download_path, safemode, ...) apply; connection arguments stay local
        cfg = (config if config is not None else global_config).child()
        for key, value in (("host", host), ("user", user), ("password", password),
                           ("backend", backend), ("port", port), ("path", path),
                           ("use_tls", use_tls)):
            if value is not None:
                cfg[f"database.{key}"] = value
        #: the target settings as given, before the backend is chosen (see ``conn()``)
        self.requested = {key: cfg[key] for key in TARGET_KEYS}
        named_host = cfg["database.host"]
        if isinstance(named_host, str) and named_host.count(":") == 1:  # DataJoint's host:port
            named_host, _, named_port = named_host.partition(":")
            if named_port.isdigit():
                cfg["database.host"] = named_host
                cfg["database.port"] = port or int(named_port)
        cfg["database.backend"], self.backend_reason = choose_backend(cfg)
        for key in TARGET_KEYS:  # which server this connection talks to is fixed from now on
            cfg[key] = cfg[key]
        self.config = cfg
        self.backend: Backend = get_backend(cfg["database.backend"])
        self._raw: Any = None
        self._depth = 0
        self._lost_in_transaction = False  # a lost connection was reported in this transaction
        self._hooks: list[_Hooks] = []   # one per open transaction level
        #: statements sent ahead of the next one in the same round trip (``defer``)
        self._deferred: list[tuple[str, tuple]] = []
        self._lock = threading.RLock()
        self.schemas: dict[str, Any] = {}
        self._graph_cache: Any = None
        self._heading_cache: dict[str, Any] = {}
        self._init_fun = init_fun
        self._query_cache: str | None = None
        self.connect()

    # -- lifecycle ------------------------------------------------------------
    def connect(self) -> None:
        log.info("connecting to %s (%s)", self.backend.describe_target(self.config),
                 self.backend_reason)
        try:
            self._raw = self.backend.connect(self.config)
        except Exception as exc:  # never let the password reach the message
            raise self._translate(exc, connecting=True) from None
        self._depth = 0
        init = self._init_fun or self.config["connection.init_function"]
        try:
            if callable(init):
                init(self)
            elif init:  # SQL run on every (re)connect, e.g. session settings
                self._query_raw(init, (), many=False, fetch=True, reconnect=None,
                                binary=False)  # never through the query cache
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if self._raw is not None:
            with contextlib.suppress(Exception):
                self._raw.close()
            self._raw = None
        self._deferred = []

    @property
    def is_connected(self) -> bool:
        if self._raw is None:
            return False
        try:
            self.query_raw("SELECT 1", ())
            return True
        except errors.JoinflowError:
            return False

    def __repr__(self) -> str:
        state = "connected" if self._raw is not None else "disconnected"
        return f"Connection({self.backend.describe_target(self.config)}, {state})"

    @property
    def adapter(self) -> Backend:
        """DataJoint's name for the database dialect object: joinflow's backend."""
        return self.backend

    @property
    def _config(self) -> Config:
        """DataJoint 2.x's name for the connection's configuration (what its codec examples
        pass as ``context["config"]``): ``config``."""
        return self.config

    @property
    def conn_info(self) -> dict[str, Any]:
        """DataJoint's connection parameters (no password): host, port, user, ``ssl_input``
        (the ``use_tls`` setting as given) and ``ssl`` (the client TLS options, absent when TLS
        is off)."""
        cfg = self.config
        tls = cfg["database.use_tls"]
        info: dict[str, Any] = {"backend": self.backend.name, "host": cfg["database.host"],
                                "port": cfg["database.port"], "user": cfg["database.user"],
                                "ssl_input": tls}
        if self.backend.name == "sqlite":
            info["path"] = cfg["database.path"]
        elif tls is not False:
            info["ssl"] = dict(tls) if isinstance(tls, dict) else {}
        return info

    def __enter__(self) -> "Connection":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- execution --------------------------------------------------------------
    def _translate(self, exc: BaseException, connecting: bool = False) -> errors.JoinflowError:
        if connecting:
            msg = str(exc)
            pw = self.config["database.password"]
            if pw:
                msg = msg.replace(str(pw), "***")
            target = self.backend.describe_target(self.config)
            kind = errors.AccessError if any(w in msg.lower() for w in (
                "denied", "authentication", "password", "role", "does not exist",
                "not allowed", "permission")) else errors.LostConnectionError
            return kind(f"cannot connect to {target}: {msg}")
        return self.backend.translate_error(exc) or errors.JoinflowError(str(exc))

    # -- query cache (DataJoint's) ------------------------------------------------
    def set_query_cache(self, query_cache: str | None = None) -> None:
        """Serve every SELECT from files under ``dj.config['query_cache']``, keyed by
        ``query_cache`` (a name for the state of the data: results cached under one name are
        returned until the cache is purged), and refuse statements that change the database.
        ``set_query_cache()`` (None) turns caching off."""
        self._query_cache = query_cache

    def purge_query_cache(self) -> None:
        """Delete every cached query result in ``dj.config['query_cache']``."""
        from . import querycache
        if self.config["query_cache"]:
            querycache.purge(querycache.folder(self.config))

    def _cached(self, sql: str, params: Any, many: bool, run: Callable[[], list]) -> list:
        from . import querycache
        if many:
            raise errors.JoinflowError("Only SELECT queries are allowed when query caching is "
                                       "on: call conn.set_query_cache() to turn it off")
        querycache.check_read_only(sql)
        path = querycache.path_for(querycache.folder(self.config), str(self._query_cache),
                                   self.backend.describe_target(self.config), sql, params)
        found = querycache.load(path)
        if found is not None:
            self.last_description, rows = found
            self.last_rowcount = len(rows)
            return rows
        self.last_description = None
        rows = run()
        querycache.save(path, self.last_description, rows)
        return rows

    def query_raw(self, sql: str, params: tuple | list = (), *, many: bool = False,
                  fetch: bool = True, reconnect: bool | None = None,
                  binary: bool = False) -> list:
        """Execute driver-style SQL; returns all rows (or [] for statements). ``reconnect``
        (default ``database.reconnect``): reconnect once if the connection was lost.
        ``binary``: the results carry large binary values (the backend may use a binary
        result format). With a query cache set (``set_query_cache``) only reads run, and
        their results come from the cache when it has them."""
        if self._query_cache:
            return self._cached(sql, params, many, lambda: self._query_raw(
                sql, params, many=many, fetch=fetch, reconnect=reconnect, binary=binary))
        return self._query_raw(sql, params, many=many, fetch=fetch, reconnect=reconnect,
                               binary=binary)

    def _query_raw(self, sql: str, params: tuple | list, *, many: bool, fetch: bool,
                   reconnect: bool | None, binary: bool) -> list:
        refuse = reconnect is False  # asked not to: a closed connection stays closed
        with self._lock:
            for attempt in (0, 1):
                if self._raw is None and refuse and not self._depth:
                    raise errors.LostConnectionError(
                        f"not connected to {self.backend.describe_target(self.config)}")
                if self._raw is None:
                    if self._depth:  # never reconnect silently in the middle of a transaction
                        self._lost_in_transaction = True
                        raise errors.LostConnectionError(
                            f"the connection to {self.backend.describe_target(self.config)} was "
                            "lost during a transaction; the transaction was rolled back")
                    self.connect()
                try:
                    return self._execute(sql, params, many, fetch, binary)
                except Exception as exc:
                    if not self._is_disconnect(exc):
                        raise self._translate(exc) from exc
                    self.close()
                    if reconnect is None:  # (read only when needed: queries are hot)
                        reconnect = bool(self.config["database.reconnect"])
                    if attempt == 0 and self._depth == 0 and reconnect:
                        log.warning("lost connection; reconnecting")
                        continue
                    where = " during a transaction; the transaction was rolled back" \
                        if self._depth else ""
                    self._lost_in_transaction = bool(self._depth)
                    raise errors.LostConnectionError(
                        f"lost the connection to {self.backend.describe_target(self.config)}"
                        f"{where}: {str(exc).strip()}") from exc
        raise errors.LostConnectionError("could not reconnect")  # pragma: no cover

    def _is_disconnect(self, exc: BaseException) -> bool:
        if self.backend.is_disconnect(exc):
            return True
        # MariaDB: 1927 "Connection was killed"; MySQL 8: 4031 disconnected for inactivity
        code = exc.args[0] if getattr(exc, "args", None) else None
        return self.backend.name == "mysql" and code in (1927, 4031)

    def _execute(self, sql: str, params: Any, many: bool, fetch: bool,
                 binary: bool = False) -> list:
        cur = self.backend.cursor(self._raw, binary) if binary else self._raw.cursor()
        try:
            if self._deferred:  # the deferred statements go first, in the same round trip
                deferred, self._deferred = self._deferred, []
                with self.backend.pipeline(self._raw), self._raw.cursor() as ahead:
                    for before in deferred:
                        ahead.execute(*before)
                    if many:
                        cur.executemany(sql, params)
                    else:
                        cur.execute(sql, tuple(params))
            elif many:
                cur.executemany(sql, params)
            else:
                cur.execute(sql, tuple(params))
            if many:
                self.last_rowcount = cur.rowcount
                return []
            self.last_rowcount = cur.rowcount
            if fetch and cur.description is not None:
                self.last_description = [d[0] for d in cur.description]
                return list(cur.fetchall())
            return []
        finally:
            cur.close()

    def query(self, sql: str, params: tuple | list = (), args: tuple | list | None = None,
              **kwargs: Any) -> "Rows":
        """Execute SQL written with the ``PH`` placeholder marker. The rows come back as a list
        that also answers ``fetchone()``/``fetchall()`` like DataJoint's cursor. ``args`` is
        DataJoint's name for ``params``. SQL with parameters but no ``PH`` marker is taken as
        DataJoint's driver-style SQL (``%s`` placeholders, ``%%`` for a literal ``%``), and so is
        SQL on a server written with ``%%`` (``'user'@'%%'``)."""
        if args is not None:
            params = args
        self.last_description = None
        # DataJoint's driver-style SQL: with parameters, or with `%%` for a literal `%` (which
        # DataJoint's driver call turns into `%` even without parameters)
        if PH not in sql and (params or (self.backend.placeholder == "%s" and "%%" in sql)):
            driver_sql = sql if self.backend.placeholder == "%s" else sql.replace("%s", "?")
        else:
            driver_sql = self.backend.render(sql)
        rows = Rows(self.query_raw(driver_sql, params, **kwargs))
        names = self.last_description
        rows.description = [(n, None, None, None, None, None, None) for n in names] \
            if names is not None else None
        rows.rowcount = len(rows) if names is not None else self.last_rowcount
        return rows

    def execute_script(self, statements: list) -> None:
        for stmt in statements:
            if isinstance(stmt, tuple):
                self.query_raw(self.backend.render(stmt[0]), stmt[1])
            else:
                self.query_raw(self.backend.render(stmt), ())

    def run(self, sql: str, params: tuple = ()) -> list:
        """Driver-style execution for catalog queries (passed to the backend)."""
        return self.query_raw(sql, params)

    def defer(self, sql: str, params: tuple | list = ()) -> None:
        """Run a statement (written with ``PH``) whose result is not needed, inside the current
        transaction: on a backend that pipelines (PostgreSQL) it is sent together with the
        next statement or the commit, saving a round trip; elsewhere it runs now. An error
        it raises is raised by that next statement (and fails the transaction)."""
        driver_sql = self.backend.render(sql)
        if self._depth and self.backend.pipelines and self._raw is not None \
                and not self._query_cache:
            self._deferred.append((driver_sql, tuple(params)))
        else:
            self.query_raw(driver_sql, params, fetch=False)

    def flush(self) -> None:
        """Send the deferred statements now (before using the driver directly)."""
        if self._deferred:
            self.query_raw(self.backend.render("SELECT 1"), ())

    def copy_rows(self, sql: str, rows: Any) -> None:
        """``COPY ... FROM STDIN`` (PostgreSQL) of ``rows`` (sequences of driver values)."""
        self.flush()
        with self._lock:
            if self._raw is None:
                self.connect()
            cur = self._raw.cursor()
            try:
                with cur.copy(sql) as copy:
                    for r in rows:
                        copy.write_row(r)
            except Exception as exc:
                raise self._translate(exc) from exc
            finally:
                cur.close()

    # -- transactions ----------------------------------------------------------
    @property
    def in_transaction(self) -> bool:
        return self._depth > 0

    def start_transaction(self) -> None:
        if self._depth:
            raise errors.JoinflowError("a transaction is already in progress; use "
                                       "`with conn.transaction:` to nest safely")
        begin = self.backend.begin_sql()
        if self.backend.pipelines and self._raw is not None and not self._query_cache:
            self._deferred = [(begin, ())]  # sent with the transaction's first statement
        else:
            self.query_raw(begin, ())
        self._lost_in_transaction = False
        self._depth = 1
        self._hooks = [_Hooks()]

    def _only_begin_deferred(self) -> bool:
        """Nothing of the transaction reached the server yet (not even its BEGIN)."""
        return len(self._deferred) == 1 and self._deferred[0][0] == self.backend.begin_sql()

    def commit_transaction(self) -> None:
        hooks, self._hooks = self._hooks, []
        try:
            if self._only_begin_deferred():  # an empty transaction: nothing to send
                self._deferred = []
            else:
                pipelined = bool(self._deferred)
                try:
                    self.query_raw("COMMIT", ())
                except BaseException:
                    if pipelined and self._raw is not None:
                        # a deferred statement failed and the COMMIT sent with it was skipped:
                        # end the failed transaction
                        self._deferred = []
                        with contextlib.suppress(errors.JoinflowError):
                            self.query_raw("ROLLBACK", ())
                    raise
        except BaseException:
            _run([fn for h in reversed(hooks) for fn in h.rollback])
            raise
        finally:
            self._depth = 0
        _run([fn for h in hooks for fn in h.commit])

    def cancel_transaction(self) -> None:
        hooks, self._hooks = self._hooks, []
        empty = self._only_begin_deferred()
        self._deferred = []
        if self._raw is not None and not empty:
            with contextlib.suppress(errors.JoinflowError):
                self.query_raw("ROLLBACK", ())
        self._depth = 0
        self.invalidate()  # DDL inside the transaction may have been undone
        _run([fn for h in reversed(hooks) for fn in h.rollback])

    def on_commit(self, fn: Callable[[], Any]) -> None:
        """Run ``fn`` after the outermost transaction commits (now, outside a transaction)."""
        if not self._hooks:
            fn()
        else:
            self._hooks[-1].commit.append(fn)

    def on_rollback(self, fn: Callable[[], Any]) -> None:
        """Run ``fn`` after the current transaction level is rolled back (the savepoint's, if
        nested); dropped if everything commits. Outside a transaction: never."""
        if self._hooks:
            self._hooks[-1].rollback.append(fn)

    @property
    @contextlib.contextmanager
    def transaction(self) -> Iterator["Connection"]:
        """``with conn.transaction:`` — commit on success, roll back on error. Nested use makes
        a savepoint: the inner block can fail alone and nothing commits until the outermost ends.
        Hooks registered with ``on_commit``/``on_rollback`` run after the outcome is final."""
        with self._lock:
            if self._depth == 0:
                self.start_transaction()
                try:
                    yield self
                except BaseException:
                    self.cancel_transaction()
                    raise
                if self._lost_in_transaction:
                    # the block caught the LostConnectionError that said the transaction was
                    # rolled back: end it as rolled back (like psycopg's commit of a failed
                    # transaction), the loss was already reported
                    self.cancel_transaction()
                    return
                self.commit_transaction()
                return
            name = f"jf_sp{self._depth}"
            if self.backend.pipelines and self._raw is not None and not self._query_cache:
                self._deferred.append((f"SAVEPOINT {name}", ()))  # sent with the next statement
            else:
                self.query_raw(f"SAVEPOINT {name}", ())
            self._depth += 1
            self._hooks.append(_Hooks())
            try:
                yield self
            except BaseException:
                self._depth -= 1
                inner = self._hooks.pop()
                self._rollback_to(name)
                _run(inner.rollback)
                raise
            if not self._lost_in_transaction:
                try:  # (a deferred statement of the block may fail here: the block fails)
                    self.query_raw(f"RELEASE SAVEPOINT {name}", ())
                except BaseException:
                    self._depth -= 1
                    inner = self._hooks.pop()
                    self._rollback_to(name)
                    _run(inner.rollback)
                    raise
            self._depth -= 1
            inner = self._hooks.pop()
            self._hooks[-1].commit += inner.commit     # now part of the enclosing level
            self._hooks[-1].rollback += inner.rollback

    def _rollback_to(self, name: str) -> None:
        """Undo a savepoint's block. Statements deferred by the block go out first; if one of
        them fails, the pipeline skips the rollback, so it is sent again on its own."""
        for _ in (0, 1):
            if self._raw is None:
                return
            try:
                self.query_raw(f"ROLLBACK TO SAVEPOINT {name}", ())
                return
            except errors.JoinflowError:
                self._deferred = []

    # -- catalog caches ----------------------------------------------------------
    def invalidate(self) -> None:
        """Forget cached headings and the dependency graph (after DDL)."""
        self._graph_cache = None
        self._heading_cache.clear()

    @property
    def dependencies(self) -> Any:
        from .dependencies import Dependencies
        if self._graph_cache is None:
            self._graph_cache = Dependencies(self)
        return self._graph_cache


class _Hooks:
    """Callbacks of one transaction level."""

    __slots__ = ("commit", "rollback")

    def __init__(self) -> None:
        self.commit: list[Callable[[], Any]] = []
        self.rollback: list[Callable[[], Any]] = []


def _run(hooks: list[Callable[[], Any]]) -> None:
    """Run transaction hooks; a failing hook is logged, never hides the outcome."""
    for fn in hooks:
        try:
            fn()
        except Exception:  # noqa: BLE001 - cleanup must not mask the transaction's result
            log.exception("transaction hook %r failed", fn)


#: the settings that say which database a connection talks to
TARGET_KEYS = ("database.backend", "database.host", "database.port", "database.user",
               "database.password", "database.name", "database.path", "database.use_tls")
#: settings that name a database server: any of them set (and no backend) means MySQL,
#: or PostgreSQL on port 5432; none set means the SQLite file ``database.path``
SERVER_KEYS = ("database.host", "database.port", "database.user", "database.password")


def choose_backend(cfg: Config) -> tuple[str, str]:
    """The backend a configuration asks for, and the reason (for the log and errors)."""
    if cfg["database.backend"]:
        return cfg["database.backend"], "database.backend is set"
    named = [key for key in SERVER_KEYS if cfg[key] not in (None, "")]
    if not named:
        return "sqlite", "no database server is named: database.host is not set"
    if cfg["database.port"] == 5432:
        return "postgresql", "database.port is 5432 and database.backend is not set"
    return "mysql", f"{named[0]} is set and database.backend is not: MySQL, as in DataJoint"


class Rows(list):
    """Query results: a list of row tuples that can also be read like a DB-API cursor."""

    description: Any = None   # DB-API 7-tuples (name first), None for statements
    rowcount: int = -1
    _next = 0

    def fetchone(self) -> Any:
        if self._next >= len(self):
            return None
        self._next += 1
        return self[self._next - 1]

    def fetchall(self) -> list:
        rest = list(self[self._next:])
        self._next = len(self)
        return rest

    def fetchmany(self, size: int = 1) -> list:
        chunk = list(self[self._next:self._next + size])
        self._next += len(chunk)
        return chunk


_global: Connection | None = None
_global_explicit = False  # made with explicit arguments: kept even if dj.config changes
_global_args: Any = None  # the arguments it was made with


def conn(host: str | None = None, user: str | None = None, password: str | None = None, *,
         reset: bool = False, **kwargs: Any) -> Connection:
    """The shared connection built from ``dj.config`` (created on first use). Refused in
    thread-safe mode (``ThreadSafetyError``): use ``dj.Instance(...).connection``."""
    global _global, _global_explicit, _global_args
    refuse_in_thread_safe_mode("dj.conn()")
    from . import config as global_config
    explicit = bool(host or user or password is not None or kwargs)
    args = (host, user, password, sorted(kwargs.items(), key=lambda kv: kv[0]))
    stale = (_global is not None and not _global_explicit and not explicit
             and any(_global.requested[k] != global_config[k] for k in TARGET_KEYS))
    # the same explicit arguments again give the same connection (as DataJoint's dj.conn)
    same = _global is not None and explicit and _global_explicit and _same_args(args, _global_args)
    if _global is None or stale or reset or explicit and not same:
        if _global is not None and (reset or stale):
            _global.close()  # dj.config now names another database (or a reset was asked)
        _global = Connection(host, user, password, **kwargs)
        _global_explicit, _global_args = explicit, args
    return _global


def _same_args(a: Any, b: Any) -> bool:
    try:
        return bool(a == b)
    except Exception:  # arguments that do not compare (arrays in init_fun closures, ...)
        return False
