"""AutoPopulate: ``populate`` calls ``make(key)`` for each key of ``key_source`` not yet in the
table, one transaction per key. (The jobs queue with atomic reservation builds on this.)"""
from __future__ import annotations

import logging
import sys
from typing import Any

from . import errors

log = logging.getLogger("joinflow")


class AutoPopulate:
    _key_source: Any = None

    @property
    def key_source(self) -> Any:
        """Default: the join of the primary-key parents, projected to their keys."""
        if self._key_source is not None:
            return self._key_source
        parents = self.parents(primary=True, as_objects=True)
        if not parents:
            raise errors.JoinflowError(f"{self.full_table_name} has no primary-key parents; "
                                       "define key_source")
        q = parents[0].proj()
        for p in parents[1:]:
            q = q * p.proj()
        return q

    def make(self, key: dict) -> None:
        raise NotImplementedError(f"{type(self).__name__}.make(key) is not defined")

    def _pending(self, restrictions: tuple) -> Any:
        todo = self.key_source
        for r in restrictions:
            todo = todo & r
        from .condition import Not
        return todo.restrict(Not(self._unrestricted().proj()), semantic_check=False)

    def progress(self, *restrictions: Any, display: bool = False) -> tuple[int, int]:
        total = self.key_source
        for r in restrictions:
            total = total & r
        remaining = len(self._pending(restrictions))
        count = len(total)
        if display:
            print(f"{type(self).__name__}: completed {count - remaining}/{count}")
        return remaining, count

    def populate(self, *restrictions: Any, suppress_errors: bool = False,
                 return_exception_objects: bool = False, reserve_jobs: bool = False,
                 max_calls: int | None = None, display_progress: bool = False,
                 limit: int | None = None, order: str = "original",
                 make_kwargs: dict | None = None, processes: int = 1, **_: Any) -> dict:
        conn = self.connection
        if conn.in_transaction:
            raise errors.JoinflowError("populate cannot be called inside a transaction")
        keys = self._pending(restrictions).keys(order_by="KEY", limit=limit)
        if order == "reverse":
            keys.reverse()
        elif order == "random":
            import random
            random.shuffle(keys)
        if max_calls is not None:
            keys = keys[:max_calls]
        bar = _progress(keys, display_progress, type(self).__name__)
        success, failures = 0, []
        for key in bar:
            try:
                self._make_one(key, make_kwargs or {})
                success += 1
            except (KeyboardInterrupt, SystemExit):
                raise
            except Exception as exc:
                if not suppress_errors:
                    raise
                failures.append((key, exc if return_exception_objects else repr(exc)))
        return {"success_count": success, "error_list": failures, "success": success,
                "error": len(failures)}

    def _make_one(self, key: dict, make_kwargs: dict) -> None:
        conn = self.connection
        with conn.transaction:
            if self & key:  # done meanwhile by another worker
                return
            conn._populating = True
            try:
                self.make(dict(key), **make_kwargs)
            finally:
                conn._populating = False


def _progress(items: list, display: bool, name: str) -> Any:
    if not (display or (sys.stderr and sys.stderr.isatty() and len(items) > 1)):
        return items
    try:
        from tqdm import tqdm
        return tqdm(items, desc=name)
    except ImportError:  # pragma: no cover
        return items
