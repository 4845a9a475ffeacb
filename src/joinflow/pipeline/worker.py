"""A worker: ``populate(reserve_jobs=True)`` in a loop until told to stop.

Workers need nothing but the shared database (and object store): start as many as you like, on
as many machines. SIGTERM or SIGINT stops a worker cleanly: a ``make`` in progress is
interrupted, its transaction rolled back and its reservation given back to the queue; the exit
status is 0.
"""
from __future__ import annotations

import importlib
import logging
import signal
import sys
import time
from typing import Any

from .. import errors
from . import runner

log = logging.getLogger("joinflow")


def load_table(spec: str, module: str | None = None) -> Any:
    """The table class named by ``package.module:Class``, or by ``schema.Table`` (or just
    ``Table``) found in ``module``."""
    if ":" in spec:
        mod_name, _, attr = spec.partition(":")
        return _resolve(importlib.import_module(mod_name), attr)
    if module is None:
        raise errors.JoinflowError(f"{spec!r}: give module:Class, or --module with "
                                   "schema.Table")
    mod = importlib.import_module(module)
    schema_name, _, cls_name = spec.rpartition(".")
    found = _resolve(mod, cls_name)
    if schema_name and found.database != schema_name:
        raise errors.JoinflowError(f"{module}.{cls_name} is in schema {found.database!r}, "
                                   f"not {schema_name!r}")
    return found


def _resolve(mod: Any, dotted: str) -> Any:
    obj = mod
    for part in dotted.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise errors.JoinflowError(f"{mod.__name__} has no {dotted!r}") from None
    if not hasattr(obj, "populate"):
        raise errors.JoinflowError(f"{dotted!r} is not an auto-populated table")
    return obj


def _on_signal(signum: int, frame: Any) -> None:
    log.info("worker: signal %d received, stopping", signum)
    runner.stop_requested.set()
    if runner.in_make.is_set():
        raise runner.WorkerStop(f"signal {signum}")


def install_signal_handlers() -> None:
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)


def run(table: Any, *, poll_interval: float = 5.0, max_idle: float | None = None,
        once: bool = False, max_calls: int | None = None, priority: int | None = None,
        restrictions: tuple = ()) -> dict:
    """Populate ``table`` from its jobs queue until stopped (or idle for ``max_idle``
    seconds, or after one pass with ``once``). Returns the totals."""
    runner.stop_requested.clear()
    totals = {"success": 0, "error": 0, "calls": 0}
    idle_since = time.monotonic()
    while not runner.stop_requested.is_set():
        try:
            result = table.populate(*restrictions, reserve_jobs=True, suppress_errors=True,
                                    display_progress=False, priority=priority,
                                    max_calls=_left(max_calls, totals))
        except runner.WorkerStop:
            break
        did = result["success"] + result["error"]
        totals["success"] += result["success"]
        totals["error"] += result["error"]
        totals["calls"] += did
        if once or (max_calls is not None and totals["calls"] >= max_calls):
            break
        if did:
            idle_since = time.monotonic()
        elif max_idle is not None and time.monotonic() - idle_since >= max_idle:
            break
        else:
            runner.stop_requested.wait(poll_interval)
    log.info("worker: stopped after %d made, %d failed", totals["success"], totals["error"])
    return totals


def _left(max_calls: int | None, totals: dict) -> int | None:
    return None if max_calls is None else max_calls - totals["calls"]


def configure_logging(level: int = logging.INFO) -> None:
    """Log to stderr with time and process id. ``logging.INFO`` shows one line per job too
    (logged at ``runner.JOBS``, just below INFO, so that a library user's INFO logging is not
    flooded by populate)."""
    if level == logging.INFO:
        level = runner.JOBS
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(process)d %(levelname)s %(message)s"))
    log.addHandler(handler)
    log.setLevel(level)
    log.propagate = False
