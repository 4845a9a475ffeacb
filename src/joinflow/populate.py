"""AutoPopulate: ``populate`` calls ``make(key)`` for each key of ``key_source`` not yet in the
table, one transaction per key. (The jobs queue with atomic reservation builds on this.)

``make`` comes in three shapes:
* ``make(self, key)`` — fetch, compute and insert, all inside the key's transaction;
* a generator ``make`` — iterated to the end inside the transaction;
* tripartite ``make_fetch(key)`` / ``make_compute(key, *fetched)`` /
  ``make_insert(key, *computed)`` — fetch and compute run outside the transaction (long
  computations hold no locks); inside it the inputs are fetched again and must be unchanged
  before ``make_insert`` writes.
"""
from __future__ import annotations

import inspect
import logging
import sys
import time
from typing import TYPE_CHECKING, Any

from . import errors
from .tableref import free_table

log = logging.getLogger("joinflow")


class AutoPopulate:
    if TYPE_CHECKING:  # provided by the table class this is mixed into
        database: str
        _unrestricted: Any

        @property
        def connection(self) -> Any: ...
        @property
        def heading(self) -> Any: ...
        @property
        def primary_key(self) -> list[str]: ...
        @property
        def table_name(self) -> str: ...
        @property
        def full_table_name(self) -> str: ...
        make_fetch: Any
        make_compute: Any
        make_insert: Any
    _key_source: Any = None
    _upstream_key: dict | None = None  # the key make() is working on (None outside make)
    _upstream: Any = None              # self.upstream for that key, built on first use

    @property
    def upstream(self) -> Any:
        """Inside ``make``: the ancestors of this table restricted to the rows the current
        key comes from; ``self.upstream[Session]`` is ``Session`` restricted so
        (DataJoint 2.3's ``self.upstream``). Built on first use within each ``make``."""
        if self._upstream_key is None:
            raise errors.JoinflowError(
                "self.upstream is only available inside make(). Outside make(), construct a "
                "trace explicitly: dj.Diagram.trace(self & key).")
        if self._upstream is None:
            from .diagram import upstream_of  # the restriction engine's trace
            self._upstream = upstream_of(self, self._upstream_key)
        return self._upstream

    @property
    def _job_metadata(self) -> bool:
        """Whether the table has the hidden job metadata columns (``jobs.add_job_metadata``
        when it was declared)."""
        return any(a.name == "_job_start_time" for a in self.heading.hidden)

    @property
    def key_source(self) -> Any:
        """Default: the join of the primary-key parents (renamed foreign keys under their new
        names), projected to the referencing attributes."""
        if self._key_source is not None:
            return self._key_source
        conn = self.connection
        pk = set(self.primary_key)
        query = None
        for fk in conn.dependencies.parent_fks(self.database, self.table_name):
            if not set(fk.columns) <= pk:
                continue
            parent = free_table(conn, f"{fk.parent_schema}.{fk.parent_table}")
            renamed = {c: p for c, p in zip(fk.columns, fk.ref_columns) if c != p}
            q = parent.proj(**renamed) if renamed else parent.proj()
            if set(q.heading.names) != set(fk.columns):
                q = q.proj(*fk.columns)
            query = q if query is None else query * q
        if query is None:
            raise errors.JoinflowError(
                "A table must have dependencies from its primary key for auto-populate to "
                f"work: {self.full_table_name} has none (or define key_source)")
        return query

    @property
    def jobs(self) -> Any:
        """The table's jobs queue (``~~name``, DataJoint 2.x), created on first use."""
        from .pipeline.jobs import Job
        return Job(self)

    def make(self, key: dict) -> Any:
        legacy = getattr(self, "_make_tuples", None)  # DataJoint 0.x's name for make
        if legacy is not None:
            return legacy(key)
        raise NotImplementedError(
            "Subclasses of AutoPopulate must implement the method `make` or "
            "(`make_fetch` + `make_compute` + `make_insert`)")

    def _check_unrestricted(self) -> None:
        if getattr(self, "restricted", False):
            raise errors.JoinflowError(
                "Cannot call populate on a restricted table. Instead, pass conditions to "
                "populate() as arguments.")

    def _source(self) -> Any:
        """``key_source``, checked as DataJoint checks it: each of its primary-key
        attributes must be an attribute of this table."""
        todo = self.key_source
        if isinstance(todo, type):  # a table class given as key_source
            todo = todo()
        names = set(self.heading.names)
        missing = [a for a in todo.primary_key if a not in names]
        if missing:
            raise errors.JoinflowError(f"The populate target lacks attribute {missing[0]} from "
                                       "the primary key of key_source")
        return todo

    def _pending(self, restrictions: tuple) -> Any:
        todo = self._source()
        for r in restrictions:
            todo = todo & r
        from .condition import Not
        return todo.restrict(Not(self._unrestricted().proj()), semantic_check=False)

    def progress(self, *restrictions: Any, display: bool = False) -> tuple[int, int]:
        """(remaining, total) keys of ``key_source`` (restricted). ``display=True`` also
        reports it as DataJoint does: an INFO record of the ``joinflow`` logger, ``Name
        Completed n of N (p%)   time`` (printed when no logging handler would show it)."""
        self._check_unrestricted()
        total = self._source()
        for r in restrictions:
            total = total & r
        remaining = len(self._pending(restrictions))
        count = len(total)
        if display:
            _report_progress(type(self).__name__, remaining, count)
        return remaining, count

    def populate(self, *restrictions: Any, suppress_errors: bool = False,
                 return_exception_objects: bool = False, reserve_jobs: bool = False,
                 max_calls: int | None = None, display_progress: bool | None = None,
                 limit: int | None = None, order: str = "original",
                 make_kwargs: dict | None = None, processes: int = 1,
                 keys: list | None = None, priority: int | None = None,
                 refresh: bool | None = None, executor: Any = None) -> dict:
        """Call ``make`` for each pending key. Returns ``{'success': n, 'error': n,
        'skip': n, 'success_count': n, 'error_list': [(key, error), ...]}``; errors are
        raised unless ``suppress_errors`` (then collected as ``repr`` text, or the exception
        objects with ``return_exception_objects``). ``executor``: a ``dask.distributed``
        client whose cluster runs the work (``processes`` tasks, default one per worker
        thread), coordinated by the jobs queue (see :mod:`joinflow.dask`)."""
        conn = self.connection
        if conn.in_transaction:
            raise errors.JoinflowError("Populate cannot be called during a transaction.")
        self._check_unrestricted()
        if executor is not None:
            from .dask import populate as populate_dask
            return _result(populate_dask(self, executor, *restrictions,
                                 n_workers=processes if processes > 1 else None,
                                 suppress_errors=suppress_errors,
                                 return_exception_objects=return_exception_objects,
                                 max_calls=max_calls, priority=priority, refresh=refresh,
                                 make_kwargs=make_kwargs, keys=keys))
        if order not in ("original", "reverse", "random"):
            raise errors.JoinflowError("order must be 'original', 'reverse' or 'random'")
        if reserve_jobs or processes != 1:  # the jobs queue / worker processes: pipeline/
            from .pipeline.runner import populate as populate_jobs
            return _result(populate_jobs(self, restrictions, suppress_errors=suppress_errors,
                                 return_exception_objects=return_exception_objects,
                                 reserve_jobs=reserve_jobs, max_calls=max_calls,
                                 display_progress=display_progress, processes=processes,
                                 make_kwargs=make_kwargs, priority=priority, refresh=refresh,
                                 keys=keys, limit=limit, order=order))
        pending = self._pending(restrictions)
        if keys is not None:
            pending = pending & list(keys)
        todo = pending.keys(order_by="KEY", limit=limit)
        if order == "reverse":
            todo.reverse()
        elif order == "random":
            import random
            random.shuffle(todo)
        if max_calls is not None:
            todo = todo[:max_calls]
        bar = _progress(todo, display_progress, type(self).__name__)
        success, skipped, failures = 0, 0, []
        tripartite = self._tripartite()  # once, not per key
        exact = self._done_check()
        done = _DoneAhead(self, todo, exact)
        from .pipeline.runner import CommitGroup
        group = CommitGroup(conn, enabled=not tripartite)
        try:
            for key in bar:
                group.before()
                start = time.monotonic()
                try:
                    made = self._make_one(key, make_kwargs or {}, tripartite, done)
                except (KeyboardInterrupt, SystemExit):
                    raise
                except Exception as exc:
                    for again, was in group.failed(exc):  # the server dropped the group
                        success, skipped = success - was, skipped - (not was)
                        was = self._make_one(again, make_kwargs or {}, tripartite, exact)
                        success, skipped = success + was, skipped + (not was)
                    if done.ahead and _made_meanwhile(exact, key):
                        skipped += 1  # made by another process after its batch was checked
                        continue
                    if not suppress_errors:
                        raise
                    log.error("%s.make(%r) failed: %s", type(self).__name__, key,
                              error_text(exc))
                    failures.append((key, exc if return_exception_objects
                                     else error_text(exc)))
                    continue
                group.after(key, made, time.monotonic() - start)
                success += made
                skipped += not made
        finally:
            group.commit()
        return PopulateResult(success, failures, skipped)

    def _tripartite(self) -> bool:
        own_make = any("make" in vars(c) for c in type(self).__mro__ if c is not AutoPopulate
                       and issubclass(c, AutoPopulate))
        return not own_make and all(hasattr(self, m) for m in
                                    ("make_fetch", "make_compute", "make_insert"))

    def _done_check(self) -> Any:
        """``done(key)``: whether the table holds ``key`` (done meanwhile by another worker).
        The statement is rendered once per populate; a key that is not exactly the primary
        key falls back to restricting the table."""
        conn, backend = self.connection, self.connection.backend
        from .algebra.compiler import Compiler
        from .backends.base import PH
        pk, heading, bind = self.primary_key, self.heading, Compiler(backend).bind
        specs = [heading[k].spec for k in pk]
        where = " AND ".join(f"{backend.quote(k)} = {PH}" for k in pk)
        sql = backend.render(f"SELECT 1 FROM {backend.full_name(self.database, self.table_name)}"
                             f" WHERE {where} LIMIT 1")
        table = self._unrestricted()

        def done(key: dict) -> bool:
            if len(key) != len(pk) or any(key.get(k) is None for k in pk):
                return bool(table & key)
            return bool(conn.query_raw(sql, [bind(key[k], s) for k, s in zip(pk, specs)]))
        return done

    def _make_one(self, key: dict, make_kwargs: dict, tripartite: bool | None = None,
                  done: Any = None, finish: Any = None) -> bool:
        """Run ``make`` for one key in its own transaction; False if it was already done.
        Four statements when make inserts one row: BEGIN, the check, INSERT, COMMIT (the
        insert needs no savepoint: if it fails, the key fails). ``finish(made, start)``, if
        given, runs inside the transaction just before COMMIT (the jobs queue ends the key's
        job there, so the rows and the job's end commit together). ``done=False`` skips the
        check (the caller holds the key's reservation and checks after a failure instead)."""
        conn = self.connection
        if tripartite is None:
            tripartite = self._tripartite()
        start = time.time()
        self._upstream_key, self._upstream = dict(key), None
        try:
            if tripartite:
                fetched = _as_tuple(self.make_fetch(dict(key), **make_kwargs))
                computed = _as_tuple(self.make_compute(dict(key), *fetched))
            with conn.transaction:
                if done is not False and \
                        (done(key) if done is not None else self._unrestricted() & key):
                    # done meanwhile by another worker
                    if finish is not None:
                        finish(False, start)
                    return False
                previous = getattr(conn, "_populating", False)
                conn._populating = self.full_table_name  # the one table make may insert into
                try:
                    if tripartite:
                        again = _as_tuple(self.make_fetch(dict(key), **make_kwargs))
                        if not _same(again, fetched):
                            raise errors.JoinflowError(
                                "Referential integrity failed! The `make_fetch` data has "
                                f"changed (key {key}: not populated, try again)")
                        self.make_insert(dict(key), *computed)
                    else:
                        result = self.make(dict(key), **make_kwargs)
                        if inspect.isgenerator(result):
                            for _ in result:
                                pass
                finally:
                    conn._populating = previous
                if self._job_metadata:
                    _set_job_metadata(self, key, start)
                if finish is not None:
                    finish(True, start)
        finally:
            self._upstream_key, self._upstream = None, None
        return True


class _DoneAhead:
    """``done(key)`` for populate's keys in their order: while makes are fast, one SELECT
    answers for the next batch of keys (sized to about ``BATCH_SECONDS`` of make time, up to
    ``MAX_BATCH``), so a trivial make does not pay a round trip for its check; slow makes are
    checked one by one, in their own transaction, as before. A key another process makes
    after its batch was checked fails at its insert: the populate loop then checks that key
    alone (``exact``) and counts it as skipped."""

    BATCH_SECONDS = 0.05
    MAX_BATCH = 16

    def __init__(self, table: Any, keys: list, exact: Any) -> None:
        self.table, self.keys, self.exact = table, keys, exact
        self.next = 0                 # index of the key expected next
        self.known: dict[int, bool] = {}
        self.ahead = False            # answered from a batch since the last failure check
        self.last: float | None = None
        self.per_key = 1.0            # seconds a make took, last measured

    def __call__(self, key: dict) -> bool:
        now = time.monotonic()
        if self.last is not None:
            self.per_key = now - self.last
        self.last = now
        i = self.next
        if i >= len(self.keys) or self.keys[i] is not key:  # not in the expected order
            self.ahead = False
            return bool(self.exact(key))
        self.next = i + 1
        if i not in self.known:
            size = max(1, min(self.MAX_BATCH, int(self.BATCH_SECONDS / max(self.per_key, 1e-4))))
            if size == 1:
                self.ahead = False
                return bool(self.exact(key))
            self.known = self._check(i, size)
        self.ahead = True
        return self.known.pop(i)

    def _check(self, start: int, size: int) -> dict[int, bool]:
        """Which of ``keys[start:start + size]`` the table holds: one SELECT."""
        table, backend = self.table, self.table.connection.backend
        from .algebra.compiler import Compiler
        from .backends.base import PH
        pk, heading, bind = table.primary_key, table.heading, Compiler(backend).bind
        batch = self.keys[start:start + size]
        if any(len(k) != len(pk) or any(k.get(a) is None for a in pk) for k in batch):
            return {start + j: bool(self.exact(k)) for j, k in enumerate(batch)}
        specs = [heading[a].spec for a in pk]
        rows = [tuple(bind(k[a], s) for a, s in zip(pk, specs)) for k in batch]
        one = "(" + ", ".join([PH] * len(pk)) + ")" if len(pk) > 1 else PH
        cols = ", ".join(backend.quote(a) for a in pk)
        target = f"({cols})" if len(pk) > 1 else cols
        sql = (f"SELECT {cols} FROM {backend.full_name(table.database, table.table_name)} "
               f"WHERE {target} IN ({', '.join([one] * len(rows))})")
        found = {tuple(r) for r in table.connection.query(sql, [v for r in rows for v in r])}
        # a value the driver returns in another form than it was bound counts as not made:
        # make then fails at its insert and the key is checked alone
        return {start + j: r in found for j, r in enumerate(rows)}


def _made_meanwhile(exact: Any, key: dict) -> bool:
    try:
        return bool(exact(key))
    except errors.JoinflowError:
        return False


class PopulateResult(dict):
    """What ``populate`` returns: DataJoint 2.x's ``{'success_count': n, 'error_list':
    [(key, error), ...]}`` (equal to it, printed and iterated as it). The counts
    ``result['success']``, ``result['error']`` and ``result['skip']`` (keys already made by
    another worker) can also be read, without being items of the dict."""

    def __init__(self, success_count: int = 0, error_list: list | None = None,
                 skip: int = 0) -> None:
        super().__init__(success_count=success_count,
                         error_list=list(error_list) if error_list else [])
        self.skip = skip

    def __missing__(self, key: Any) -> Any:
        if key == "success":
            return self["success_count"]
        if key == "error":
            return len(self["error_list"])
        if key == "skip":
            return self.skip
        raise KeyError(key)

    def get(self, key: Any, default: Any = None) -> Any:
        try:
            return self[key]
        except KeyError:
            return default


def _result(raw: Any) -> PopulateResult:
    if isinstance(raw, PopulateResult):
        return raw
    return PopulateResult(raw["success_count"], raw["error_list"], raw.get("skip", 0))


def error_text(exc: BaseException) -> str:
    """An error as DataJoint reports it: ``'ValueError: message'``, or ``'ValueError'``
    when the message is empty."""
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _report_progress(name: str, remaining: int, total: int) -> None:
    import datetime as dt
    message = "%-20s Completed %d of %d (%2.1f%%)   %s" % (
        name, total - remaining, total, 100 - 100 * remaining / (total + 1e-12),
        dt.datetime.now().strftime("%Y-%m-%d %H:%M:%S"))
    record = log.makeRecord(log.name, logging.INFO, __file__, 0, message, (), None,
                            "progress")
    if _handled(record):
        log.handle(record)  # to the handlers, whatever the logger's level (caplog sees it)
    else:
        print(message)


def _handled(record: logging.LogRecord) -> bool:
    """Whether a handler on the way from the joinflow logger to the root would emit it."""
    logger: logging.Logger | None = log
    while logger is not None:
        if any(record.levelno >= h.level for h in logger.handlers):
            return True
        if not logger.propagate:
            return False
        logger = logger.parent
    return False


def _set_job_metadata(table: Any, key: dict, start: float) -> None:
    """Fill the hidden ``_job_start_time``, ``_job_duration``, ``_job_version`` of the rows
    ``make`` wrote for ``key`` (inside its transaction)."""
    import datetime as dt

    from .algebra.compiler import Compiler
    from .backends.base import PH
    from .pipeline.jobs import job_version
    conn, backend = table.connection, table.connection.backend
    heading, bind = table.heading, Compiler(backend).bind
    hidden = {a.name: a.spec for a in heading.hidden}
    names = [k for k in table.primary_key if k in key]
    values = {"_job_start_time": dt.datetime.fromtimestamp(start),
              "_job_duration": time.time() - start, "_job_version": job_version(conn.config)}
    sets = ", ".join(f"{backend.quote(c)} = {PH}" for c in values)
    where = " AND ".join(f"{backend.quote(k)} = {PH}" for k in names) or "1=1"
    conn.query(f"UPDATE {backend.full_name(table.database, table.table_name)} SET {sets} "
               f"WHERE {where}", [*(bind(v, hidden[c]) for c, v in values.items()),
                                  *(bind(key[k], heading[k].spec) for k in names)])


def _as_tuple(value: Any) -> tuple:
    return value if isinstance(value, tuple) else (value,)


def _same(a: Any, b: Any) -> bool:
    """Whether two fetched values are identical (compared as serialized blobs)."""
    from .codecs.blob import pack
    try:
        return pack(a, compress=False) == pack(b, compress=False)
    except Exception:  # not serializable as a blob: fall back to equality
        try:
            return bool(a == b)
        except Exception:
            return False


def _progress(items: list, display: bool | None, name: str) -> Any:
    """A progress bar: always with display_progress=True, never with False, and by default
    when a person is watching (stderr is a terminal) and there is more than one key."""
    if display is None:
        display = len(items) > 1 and _stderr_is_terminal()
    if not display:
        return items
    try:
        from tqdm import tqdm
        return tqdm(items, desc=name)
    except ImportError:  # pragma: no cover
        return items


def _stderr_is_terminal() -> bool:
    try:
        return bool(sys.stderr) and sys.stderr.isatty()
    except (AttributeError, ValueError, OSError):
        return False
