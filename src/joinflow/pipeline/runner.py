"""``populate(reserve_jobs=True)`` and ``populate(processes=n)``.

With ``reserve_jobs`` every key is taken from the jobs queue by an atomic reservation before
``make`` runs, so any number of workers (processes, machines, DataJoint or joinflow) can
populate the same table: each key is made once. A failing ``make`` is rolled back (its
transaction leaves nothing of the key behind) and its job is left in ``error`` with the message
and the stack. With ``processes > 1`` the keys are split among forked worker processes, each with
its own database connection.
"""
from __future__ import annotations

import datetime as dt
import functools
import logging
import multiprocessing
import random
import signal
import threading
import time
import traceback
import warnings
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

from .. import errors
from ..backends.base import PH
from .jobs import Job, now_sql

log = logging.getLogger("joinflow")

#: the level of the one line logged per key made (DataJoint 2.x's ``JOBS``, between DEBUG and
#: INFO): hidden by ``logging.INFO``, shown by a worker (``joinflow worker``)
JOBS = 15
if logging.getLevelName(JOBS) == f"Level {JOBS}":
    logging.addLevelName(JOBS, "JOBS")

#: set (e.g. by a worker's SIGTERM handler) to stop after the current key
stop_requested = threading.Event()
#: set while ``make`` runs (a stopping worker interrupts it only then)
in_make = threading.Event()


class WorkerStop(BaseException):
    """Raised inside ``make`` to stop a worker now; its reservation is given back."""


def _sigterm_exits(populate: Callable[..., dict]) -> Callable[..., dict]:
    """DataJoint 2.x: while ``populate(reserve_jobs=True)`` runs, SIGTERM raises
    ``SystemExit('SIGTERM received')``, so a ``make`` in progress is rolled back and its job
    recorded as an error (``SystemExit: SIGTERM received``) before the process exits. Only in
    the main thread and where SIGTERM has no handler yet (a worker's own handler stays)."""
    @functools.wraps(populate)
    def wrapper(table: Any, restrictions: tuple, **kwargs: Any) -> dict:
        if not kwargs.get("reserve_jobs") or \
                threading.current_thread() is not threading.main_thread() or \
                signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
            return populate(table, restrictions, **kwargs)
        signal.signal(signal.SIGTERM, _sigterm_handler)
        try:
            return populate(table, restrictions, **kwargs)
        finally:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
    return wrapper


def _sigterm_handler(signum: int, frame: Any) -> None:
    log.info("Populate terminated by SIGTERM")
    raise SystemExit("SIGTERM received")


@_sigterm_exits
def populate(table: Any, restrictions: tuple, *, suppress_errors: bool = False,
             return_exception_objects: bool = False, reserve_jobs: bool = False,
             max_calls: int | None = None, display_progress: bool | None = None,
             processes: int = 1, make_kwargs: dict | None = None, priority: int | None = None,
             refresh: bool | None = None, keys: list | None = None, limit: int | None = None,
             order: str = "original") -> dict:
    opts: dict[str, Any] = {"suppress_errors": suppress_errors,
                "return_exception_objects": return_exception_objects,
                "reserve_jobs": reserve_jobs, "make_kwargs": make_kwargs or {}}
    if reserve_jobs:
        job = table.jobs
        if refresh is None:
            refresh = bool(table.connection.config["jobs.auto_refresh"])
        if refresh:
            retry_deadlocks(lambda: job.refresh(*restrictions, priority=priority))
        if not restrictions and keys is None and limit is None and order == "original":
            # the whole queue: claim job after job
            processes = max(1, int(processes or 1))
            if processes > 1 and _effective_processes(table, processes, processes) > 1:
                claims = [Claim(priority, _share(max_calls, processes, i))
                          for i in range(processes)]
                return _run_forked(table, claims, processes, dict(opts, reserved=True),
                                   flat=True)
            claimed: Any = Claim(priority, max_calls).iter(job)
            if display_progress:
                claimed = _bar(claimed, _due_count(job, priority, max_calls),
                               type(table).__name__)
            return run_keys(table, claimed, reserved=True, **opts)
        todo: Any = reservable_keys(table, job, restrictions, priority, keys)
    else:
        todo = table._pending(restrictions)
        if keys is not None:
            todo = todo & list(keys)
        todo = todo.keys(order_by="KEY")
    todo = _ordered(todo, order)
    for cap in (limit, max_calls):
        if cap is not None:
            todo = todo[:cap]
    processes = _effective_processes(table, processes, len(todo))
    if processes > 1:
        return _run_forked(table, todo, processes, opts)
    from ..populate import _progress
    return run_keys(table, _progress(todo, display_progress, type(table).__name__), **opts)


def _ordered(todo: list, order: str) -> list:
    if order == "reverse":
        return todo[::-1]
    if order == "random":
        return random.sample(todo, len(todo))
    return todo


def _share(total: int | None, parts: int, i: int) -> int | None:
    return None if total is None else total // parts + (i < total % parts)


def _bar(todo: Iterator[dict], total: int, name: str) -> Any:
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover
        return todo
    return tqdm(todo, desc=name, total=total)


def _due_count(job: Job, priority: int | None, max_calls: int | None) -> int:
    """How many keys a populate of the whole queue expects to make (the progress bar's
    total, as DataJoint counts it): the due pending jobs (of ``priority`` or more urgent),
    at most ``max_calls``."""
    q = job.connection.backend.quote
    sql = (f"SELECT COUNT(*) FROM {job.full_table_name} WHERE {q('status')} = {PH} AND "
           f"{q('scheduled_time')} <= {now_sql(job.connection)}")
    params: list = ["pending"]
    if priority is not None:
        sql += f" AND {q('priority')} <= {PH}"
        params.append(int(priority))
    total = int(job.connection.query(sql, params)[0][0])
    return total if max_calls is None else min(total, max_calls)


def reservable_keys(table: Any, job: Any, restrictions: tuple, priority: int | None,
                    keys: list | None) -> list[dict]:
    """The due pending jobs among the restricted, not yet made keys, most urgent first (by
    priority, then scheduled time, then key), as DataJoint 2.3.5 takes them; ``max_calls``
    then counts keys that can be made now. (The reservation checks again that a job is
    still pending and due.)"""
    due = job.pending
    if priority is not None:
        due = due & f"priority <= {int(priority)}"
    wanted = table._pending(restrictions)
    if keys is not None:
        wanted = wanted & list(keys)
    due = due.restrict(wanted.proj(), semantic_check=False)
    pk = list(job.key_attrs)
    rows = due.proj("priority", "scheduled_time").to_dicts(
        order_by=["priority", "scheduled_time", *pk])
    now = _queue_now(job)
    return [{k: r[k] for k in pk} for r in rows if r["scheduled_time"] <= now]


def _queue_now(job: Any) -> dt.datetime:
    """The queue's clock now (the database's, see ``jobs.now_sql``)."""
    value = job.connection.query(f"SELECT {now_sql(job.connection)}")[0][0]
    return dt.datetime.fromisoformat(value) if isinstance(value, str) else value


def _effective_processes(table: Any, processes: int, n_keys: int) -> int:
    processes = max(1, min(int(processes or 1), n_keys))
    if processes > 1 and table.connection.backend.name == "sqlite" and \
            table.connection.config["database.path"] in (":memory:", ""):
        warnings.warn("populate: an in-memory SQLite database cannot be shared between "
                      "processes; running in one process", stacklevel=3)
        return 1
    return processes


class Claim:
    """Keys claimed from the head of the queue (``Job.claim``); each key it yields is already
    reserved. Keys are claimed in batches sized to about ``BATCH_SECONDS`` of ``make`` time
    (one at a time while makes are slow, up to ``MAX_BATCH`` while they are fast), so a
    trivial make does not pay a round trip and a commit for its reservation alone, and slow
    makes are still shared key by key among workers. Keys claimed but not started when the
    iteration stops are given back."""

    BATCH_SECONDS = 0.05
    MAX_BATCH = 64

    def __init__(self, priority: int | None, max_calls: int | None) -> None:
        self.priority, self.max_calls = priority, max_calls

    def iter(self, job: Job) -> Iterator[dict]:
        count, batch = 0, 1
        held: list[dict] = []
        try:
            while self.max_calls is None or count < self.max_calls:
                if stop_requested.is_set():
                    return
                if not held:
                    # a claim is its own short transaction, visible at once: the keys made
                    # so far commit first
                    group = getattr(_open_group, "group", None)
                    if group is not None:
                        group.commit()
                    want = batch if self.max_calls is None else min(batch,
                                                                    self.max_calls - count)
                    held = retry_deadlocks(partial(job.claim, want, self.priority))
                    if not held:
                        return
                    started = time.monotonic()
                    size = len(held)
                key = held.pop(0)
                count += 1
                yield key
                if not held:  # size the next batch from how long this one took
                    per_key = (time.monotonic() - started) / size
                    batch = max(1, min(self.MAX_BATCH, int(self.BATCH_SECONDS /
                                                           max(per_key, 1e-4))))
        finally:
            for key in held:
                _release_quietly(job, key)


class CommitGroup:
    """Fast makes share one COMMIT. While makes take under ``FAST`` seconds, the keys of up to
    ``seconds`` (``populate.group_commit``, default 0.05; 0: every key commits alone) or
    ``MAX_KEYS`` keys run in one transaction, each key in a savepoint of its own: a failing key
    still leaves nothing behind and the others stay. A key's rows are visible to other
    sessions when its group commits (at most ``seconds`` later); a crash loses the group's
    uncommitted keys, which are then simply made again (their jobs are still reserved by a
    session that is gone, so ``refresh()`` takes them back). If the server rolls the whole
    transaction back (a MySQL deadlock), the group's keys are made again one by one."""

    FAST = 0.005
    MAX_KEYS = 64

    def __init__(self, conn: Any, enabled: bool) -> None:
        self.conn = conn
        self.seconds = float(conn.config["populate.group_commit"] or 0) if enabled else 0.0
        self.open, self.fast = False, False
        self.keys: list[tuple[dict, bool]] = []  # (key, made) of the open group
        self.started = 0.0

    def before(self) -> None:
        """Before a key: open a group if makes are fast."""
        if self.seconds > 0 and self.fast and not self.open and not self.conn.in_transaction:
            self.conn.start_transaction()
            self.open, self.keys, self.started = True, [], time.monotonic()
            _open_group.group = self

    def after(self, key: dict, made: bool, seconds: float) -> None:
        """After a key that succeeded (made or found made): commit the group when it is full."""
        self.fast = seconds < self.FAST
        if self.open:
            self.keys.append((key, made))
            if not self.fast or len(self.keys) >= self.MAX_KEYS or \
                    time.monotonic() - self.started >= self.seconds:
                self.commit()

    def commit(self) -> None:
        if self.open:
            self.open, self.keys = False, []
            _open_group.group = None
            if self.conn.in_transaction:
                self.conn.commit_transaction()

    def failed(self, exc: BaseException) -> list[tuple[dict, bool]]:
        """After a key that failed: commit the keys made before it, or, if the server rolled
        the whole transaction back, roll it back here too and return the keys to make again."""
        if not self.open:
            return []
        if not _transaction_lost(self.conn, exc):
            self.commit()
            return []
        keys, self.keys, self.open = self.keys, [], False
        _open_group.group = None
        if self.conn.in_transaction:
            self.conn.cancel_transaction()
        return keys


#: the commit group open in this thread (a claim commits it first)
_open_group = threading.local()


def _transaction_lost(conn: Any, exc: BaseException) -> bool:
    """Whether an error ended the server's whole transaction (MySQL rolls a transaction back
    on a deadlock, and may on a lock wait timeout; a lost connection ends it everywhere)."""
    if isinstance(exc, errors.LostConnectionError):
        return True
    text = str(exc).lower()
    return conn.backend.name == "mysql" and ("deadlock" in text or "lock wait timeout" in text)


def retry_deadlocks(fn: Callable[[], Any], attempts: int = 5) -> Any:
    """Run ``fn``; a deadlock (or serialization failure) between concurrent workers rolls
    back its statement: try again."""
    for attempt in range(attempts):
        try:
            return fn()
        except errors.JoinflowError as exc:
            text = str(exc).lower()
            if attempt == attempts - 1 or not ("deadlock" in text or "serializ" in text):
                raise
            time.sleep(0.01 * (attempt + 1) * random.random())
    return None  # pragma: no cover


# -- one process ---------------------------------------------------------------------------
def run_keys(table: Any, todo: Any, *, suppress_errors: bool, return_exception_objects: bool,
             reserve_jobs: bool, make_kwargs: dict, reserved: bool = False) -> dict:
    job = table.jobs if reserve_jobs else None
    if isinstance(todo, Claim):
        if job is None:
            raise errors.JoinflowError("claimed keys need reserve_jobs=True")
        todo = todo.iter(job)
    maker = Maker(table, job, make_kwargs)
    # one SQLite file has one writer: a group would hold it for its 50 ms and starve the other
    # workers of the queue (their busy handlers rarely catch the moment between two groups)
    group = CommitGroup(table.connection, enabled=not maker.tripartite and not (
        reserve_jobs and table.connection.backend.single_writer))
    success, skipped, failures = 0, 0, []
    try:
        for key in todo:
            if stop_requested.is_set():
                break
            if job is not None and not reserved and \
                    not retry_deadlocks(partial(job.reserve, key)):
                continue
            group.before()
            start = time.monotonic()
            try:
                done = maker(key)
            except Exception as exc:
                for again, made in group.failed(exc):  # the server dropped the group: again
                    success, skipped = success - made, skipped - (not made)
                    made = bool(maker(again))
                    success, skipped = success + made, skipped + (not made)
                if not suppress_errors:
                    raise
                failures.append((key, exc if return_exception_objects else _describe(exc)))
                continue
            group.after(key, bool(done), time.monotonic() - start)
            success += done
            skipped += not done
    finally:
        group.commit()
        close = getattr(todo, "close", None)
        if close is not None:  # a Claim gives back the keys it holds
            close()
    return {"success_count": success, "error_list": failures, "success": success,
            "error": len(failures), "skip": skipped}


class Maker:
    """``make`` of one key at a time, for one populate: what does not change between keys
    (the shape of ``make``, the done check's statement, the job statements) is settled once.
    With a jobs queue, the key's job ends (deleted, or ``success`` with
    ``jobs.keep_completed``) inside the transaction that writes its rows: both commit or
    neither does, so a key is never left made but still reserved, nor done but lost."""

    def __init__(self, table: Any, job: Job | None, make_kwargs: dict) -> None:
        self.table, self.job, self.make_kwargs = table, job, make_kwargs
        self.tripartite = table._tripartite()
        self.done = table._done_check()
        self.keep = bool(table.connection.config["jobs.keep_completed"])
        self.name = type(table).__name__

    def __call__(self, key: dict) -> bool:
        job = self.job
        finish = None
        if job is not None:
            def finish(made: bool, start: float) -> None:
                job.complete(key, time.time() - start, keep=self.keep)
        in_make.set()
        start = time.time()
        try:
            # A reserved key is not checked before make: no worker using the queue can have
            # made it since refresh queued it. Only a populate that bypasses the queue could;
            # then make's insert fails on the key, and the check after the failure says so.
            done = self.table._make_one(key, self.make_kwargs, self.tripartite,
                                        False if job is not None else self.done, finish)
        except Exception as exc:
            if job is not None and _made_meanwhile(self, key):
                retry_deadlocks(lambda: job.complete(key, time.time() - start, keep=self.keep))
                return False
            log.error("%s.make(%r) failed: %s", self.name, key, _describe(exc))
            if job is not None:
                stack, message = traceback.format_exc(), _describe(exc)
                retry_deadlocks(lambda: job.error(key, message, stack))
            raise
        except WorkerStop:  # a worker told to stop: the key goes back to the queue
            if job is not None:
                _release_quietly(job, key)
            raise
        except BaseException as exc:  # SystemExit, KeyboardInterrupt in make: recorded (DataJoint)
            if job is not None:
                _record_quietly(job, key, _describe(exc), traceback.format_exc())
            raise
        finally:
            in_make.clear()
        if log.isEnabledFor(JOBS):
            log.log(JOBS, "%s %r %s in %.3f s", self.name, key,
                    "made" if done else "already made", time.time() - start)
        return done


def _made_meanwhile(maker: Maker, key: dict) -> bool:
    """After a failed make of a reserved key: whether the table holds the key anyway (made
    by a populate that does not use the queue); the failure was then the collision."""
    try:
        return bool(maker.done(key))
    except errors.JoinflowError:
        return False


def _release_quietly(job: Job, key: dict) -> None:
    try:
        if job.connection.in_transaction:  # a commit group: the keys made before this one stay
            job.connection.commit_transaction()
        job.release(key)
    except Exception as exc:  # noqa: BLE001 - the session is gone: refresh() will find the reservation
        log.warning("could not release the reservation of %r: %s", key, exc)


def _record_quietly(job: Job, key: dict, message: str, stack: str) -> None:
    try:
        if job.connection.in_transaction:  # a commit group: the keys made before this one stay
            job.connection.commit_transaction()
        job.error(key, message, stack)
    except Exception as exc:  # noqa: BLE001 - the session is gone: refresh() recovers the key
        log.warning("could not record the interruption of %r: %s", key, exc)


def _describe(exc: BaseException) -> str:
    """An error as DataJoint reports it: ``'ValueError: message'``, or ``'ValueError'``."""
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


# -- several processes ---------------------------------------------------------------------
_child_table: Any = None


def _run_forked(table: Any, todo: list, processes: int, opts: dict, flat: bool = False) -> dict:
    chunks = todo if flat else [todo[i::processes] for i in range(processes)]
    ctx = multiprocessing.get_context("fork")
    child_opts = opts
    with ctx.Pool(processes, initializer=_child_init, initargs=(table,)) as pool:
        results = pool.starmap(_child_run, [(chunk, child_opts) for chunk in chunks])
    total = {"success_count": 0, "error_list": [], "success": 0, "error": 0, "skip": 0}
    for res in results:
        if "raised" in res:
            raise RuntimeError(f"populate worker failed: {res['raised']}")
        for name in ("success_count", "success", "error", "skip"):
            total[name] += res[name]
        total["error_list"] += res["error_list"]
    return total


def _child_init(table: Any) -> None:
    """In a forked child: forget the parent's database session (without closing it, which
    would close the parent's) and open one of its own on first use."""
    global _child_table
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # the pool's terminate() ends a child
    conn = table.connection
    conn._raw = None
    conn._depth = 0
    conn._deferred = []
    conn._hooks = []
    conn._lock = threading.RLock()
    _child_table = table


def _child_run(chunk: list, opts: dict) -> dict:
    try:
        result = run_keys(_child_table, chunk, **opts)
    except Exception as exc:  # noqa: BLE001 - exceptions may not pickle: report them as text
        return {"raised": _describe(exc)}
    # exception objects go back to the parent as they are when they pickle, else as text
    result["error_list"] = [(key, err if isinstance(err, str) or _pickles(err)
                             else _describe(err)) for key, err in result["error_list"]]
    return result


def _pickles(obj: Any) -> bool:
    import pickle
    try:
        pickle.loads(pickle.dumps(obj))
        return True
    except Exception:  # noqa: BLE001 - any failure means: send it as text
        return False
