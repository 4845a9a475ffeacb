"""Populate on a Dask cluster: ``joinflow.dask.populate(Table, client)`` or
``Table.populate(reserve_jobs=True, executor=client)``.

The cluster's workers run populate tasks coordinated by the table's jobs queue, exactly as
``joinflow worker`` processes are: each task opens its own database connection, claims keys
with atomic reservations and ends each key's job in the transaction that writes its rows, so
every key is made once however many tasks run, and a task lost with its worker leaves
reservations that ``jobs.refresh()`` gives back. Results and errors come back to the caller
as one DataJoint 2.x populate result. Any ``dask.distributed`` cluster will do: a
``LocalCluster``, SLURM/PBS/SGE through dask-jobqueue, Kubernetes through dask-kubernetes.

Needs the optional extra: ``pip install 'joinflow[dask]'``.
"""
from __future__ import annotations

import copyreg
import os
import pickle
import threading
import uuid
import weakref
from collections.abc import Iterable
from typing import Any

from . import errors
from .connection import Connection

EMPTY = {"success_count": 0, "error_list": [], "success": 0, "error": 0, "skip": 0}


def _require_distributed() -> Any:
    try:
        import distributed
    except ImportError as exc:
        raise ImportError("joinflow.dask needs dask.distributed: install the optional extra "
                          "with pip install 'joinflow[dask]'") from exc
    return distributed


def populate(tables: Any, client: Any, *restrictions: Any, n_workers: int | None = None,
             suppress_errors: bool = True, return_exception_objects: bool = False,
             max_calls: int | None = None, priority: int | None = None,
             refresh: bool | None = None, make_kwargs: dict | None = None,
             keys: list | None = None) -> dict:
    """Populate ``tables`` (one table, or several in dependency order, each finished before
    the next starts) with ``n_workers`` tasks on the cluster of ``client`` (default: one
    task per worker process of the cluster; tasks sharing a process take turns on its
    connection). Returns ``{'success_count', 'error_list', 'success', 'error', 'skip'}``
    summed over the tasks and tables; a failed key's job is left in ``error`` with the
    message and stack. With ``suppress_errors=False`` the first error is raised here once
    the tasks are done (the other keys are made meanwhile)."""
    _require_distributed()
    if n_workers is None:
        n_workers = max(1, len(client.scheduler_info()["workers"]))
    total = _empty()
    for table in _as_list(tables):
        result = _populate_one(table, client, restrictions, n_workers=n_workers,
                               return_exception_objects=return_exception_objects,
                               max_calls=max_calls, priority=priority, refresh=refresh,
                               make_kwargs=make_kwargs or {}, keys=keys)
        _add(total, result)
    if not suppress_errors and total["error_list"]:
        key, error = total["error_list"][0]
        if isinstance(error, BaseException):
            raise error
        raise errors.JoinflowError(f"make({key!r}) failed on the cluster: {error}")
    return total


def _populate_one(table: Any, client: Any, restrictions: tuple, *, n_workers: int,
                  return_exception_objects: bool, max_calls: int | None,
                  priority: int | None, refresh: bool | None, make_kwargs: dict,
                  keys: list | None) -> dict:
    from .pipeline import runner
    inst = table() if isinstance(table, type) else table
    job = inst.jobs
    if refresh is None:
        refresh = bool(inst.connection.config["jobs.auto_refresh"])
    if refresh:
        runner.retry_deadlocks(lambda: job.refresh(*restrictions, priority=priority))
    if restrictions or keys is not None:  # these keys only, each reserved by its task
        todo: list = runner.reservable_keys(inst, job, restrictions, priority, keys)
        if max_calls is not None:
            todo = todo[:max_calls]
        parts: list[Any] = [todo[i::n_workers] for i in range(n_workers)]
        parts = [p for p in parts if p]
    else:  # the whole queue, claimed from its head
        parts = [runner._share(max_calls, n_workers, i) for i in range(n_workers)]
        parts = [p for p in parts if p is None or p > 0]
    if not parts:
        return _empty()
    futures = [client.submit(_task, type(inst), part, priority, make_kwargs,
                             return_exception_objects, pure=False) for part in parts]
    total = _empty()
    for result in client.gather(futures):
        _add(total, result)
    return total


def _task(cls: type, part: list | int | None, priority: int | None, make_kwargs: dict,
          return_exception_objects: bool) -> dict:
    """On a Dask worker: populate ``part`` (a list of keys to reserve one by one, or how many
    keys to claim from the queue, None for all) through the table's own connection (its
    module's, or one per worker process for a class sent by value), one task at a time per
    connection, since a ``make`` may use other tables on that connection inside its
    transaction."""
    from .pipeline import runner
    table = cls()
    conn = table.connection
    with _task_lock(conn):
        todo = part if isinstance(part, list) else runner.Claim(priority, part)
        result = runner.run_keys(table, todo, suppress_errors=True,
                                 return_exception_objects=return_exception_objects,
                                 reserve_jobs=True, make_kwargs=make_kwargs,
                                 reserved=not isinstance(part, list))
    checked = []
    for key, error in result["error_list"]:  # exceptions that cannot travel go as text
        if isinstance(error, BaseException):
            try:
                pickle.dumps(error)
            except Exception:  # noqa: BLE001 - anything unpicklable
                error = runner._describe(error)
        checked.append((key, error))
    result["error_list"] = checked
    return result


# -- connections travel as their settings --------------------------------------------------
def _settings(conn: Connection) -> dict:
    """What a worker needs to act as this connection: its whole configuration (an
    ``Instance``'s settings are not the worker's ``dj.config``)."""
    return dict(conn.config.items())


def _config(settings: dict) -> Any:
    """The connection's configuration on the worker, standalone: it never reads the worker's
    ``dj.config`` (refused there in thread-safe mode)."""
    from .settings import Config
    return Config(settings)


_CONNECTIONS: dict[str, Connection] = {}
_ORIGINALS: weakref.WeakValueDictionary[str, Connection] = weakref.WeakValueDictionary()
_TOKENS: weakref.WeakKeyDictionary[Connection, str] = weakref.WeakKeyDictionary()  # its inverse
_LOCKS: dict[int, threading.Lock] = {}
_GUARD = threading.Lock()


def _rebuild_connection(settings: dict, token: str) -> Connection:
    """Back in the process that sent it: the connection itself (cloudpickle sets a class's
    attributes again when the class comes back). Elsewhere: one connection per worker
    process and database, shared by every table class that arrives with these settings, so
    a ``make`` writing several tables stays in one transaction."""
    original = _ORIGINALS.get(token)
    if original is not None:
        return original
    ident = repr(sorted(settings.items()))
    with _GUARD:
        conn = _CONNECTIONS.get(ident)
        if conn is None:
            conn = _CONNECTIONS[ident] = Connection(config=_config(settings))
    return conn


def _reduce_connection(conn: Connection) -> tuple:
    token = _TOKENS.get(conn)
    if token is None:
        token = _TOKENS[conn] = f"{os.getpid()}-{uuid.uuid4().hex}"
        _ORIGINALS[token] = conn
    return _rebuild_connection, (_settings(conn), token)


def _task_lock(conn: Connection) -> threading.Lock:
    with _GUARD:
        return _LOCKS.setdefault(id(conn), threading.Lock())


# A table class defined in a script or a notebook travels by value (cloudpickle), with its
# schema's connection: send the settings, and connect again on the worker.
copyreg.pickle(Connection, _reduce_connection)


# -- results -------------------------------------------------------------------------------
def _empty() -> dict:
    return {k: (list(v) if isinstance(v, list) else v) for k, v in EMPTY.items()}


def _add(total: dict, result: dict) -> None:
    for name in ("success_count", "success", "error", "skip"):
        total[name] += result[name]
    total["error_list"] += result["error_list"]


def _as_list(tables: Any) -> list:
    if isinstance(tables, (list, tuple)):
        return list(tables)
    if isinstance(tables, Iterable) and not hasattr(tables, "populate"):
        return list(tables)
    return [tables]
