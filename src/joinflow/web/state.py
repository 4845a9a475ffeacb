"""What the page shows, gathered from the database as plain JSON-able data."""
from __future__ import annotations

import datetime as dt
import decimal
import uuid
from collections.abc import Sequence
from typing import Any

from ..populate import AutoPopulate
from ..schema import Schema
from ..user_tables import Part

#: how many of the newest errors are listed per table
ERRORS_SHOWN = 20


def snapshot(schemas: Sequence[Schema], *, errors_shown: int = ERRORS_SHOWN) -> dict:
    """``{'time': ..., 'schemas': [{'name': ..., 'tables': [...]}, ...]}``, tables in
    dependency order. Each table: ``name`` (class), ``sql_name``, ``tier``, ``master`` (for
    parts), ``rows``; auto-populated ones also ``progress`` (``remaining``/``total``, or
    ``error`` when it cannot be computed) and ``jobs`` (counts per status, ``None`` when the
    table has no jobs queue yet) with ``errors``: the newest ``errors_shown`` failed keys."""
    return {"time": dt.datetime.now().isoformat(timespec="seconds"),
            "schemas": [_schema_state(s, errors_shown) for s in schemas]}


def table_classes(schema: Schema) -> list[Any]:
    """The schema's table classes (parts included) in dependency order."""
    masters = schema.make_classes(into={})
    by_sql: dict[str, Any] = {}
    cls: Any
    for cls in masters.values():
        by_sql[cls.table_name] = cls
        part: Any
        for part in vars(cls).values():
            if isinstance(part, type) and issubclass(part, Part):
                sql_name: Any = part.table_name  # a class-level property
                by_sql[sql_name] = part
    return [by_sql[t] for t in schema.list_tables() if t in by_sql]


def _schema_state(schema: Schema, errors_shown: int) -> dict:
    existing = set(schema.connection.backend.list_tables(schema.connection.run, schema.database))
    tables = [_table_state(cls, existing, errors_shown) for cls in table_classes(schema)]
    return {"name": schema.database, "tables": tables}


def _tier(cls: type) -> str:
    for tier in ("Part", "Lookup", "Manual", "Imported", "Computed"):
        if any(base.__name__ == tier for base in cls.__mro__):
            return tier
    return "Table"


def _table_state(cls: Any, existing: set[str], errors_shown: int) -> dict:
    table = cls()
    master = getattr(cls, "master", None) if _tier(cls) == "Part" else None
    out: dict[str, Any] = {"name": (f"{master.__name__}.{cls.__name__}" if master else cls.__name__),
                           "sql_name": cls.table_name, "tier": _tier(cls), "rows": len(table)}
    if isinstance(table, AutoPopulate):
        out["progress"] = _progress(table)
        out["jobs"], out["errors"] = _jobs(table, existing, errors_shown)
    return out


def _progress(table: AutoPopulate) -> dict:
    try:
        remaining, total = table.progress()
    except Exception as exc:  # e.g. a key_source that needs the class's own code
        return {"error": f"{type(exc).__name__}: {exc}"}
    return {"remaining": remaining, "total": total}


def _jobs(table: AutoPopulate, existing: set[str], errors_shown: int) -> tuple[dict | None, list]:
    from ..pipeline.jobs import Job, jobs_table_name
    if jobs_table_name(table.table_name) not in existing:
        return None, []  # never created by looking at it
    job = Job(table)
    counts = job.progress()
    if not counts.get("error"):
        return counts, []
    shown = ["error_message", "host", "user", "pid", "reserved_time", "completed_time"]
    rows = job.errors.to_dicts(order_by="completed_time DESC", limit=errors_shown)
    errors = [{"key": {k: _plain(r[k]) for k in job.key_attrs},
               **{k: _plain(r.get(k)) for k in shown}} for r in rows]
    return counts, errors


def _plain(value: Any) -> Any:
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, (decimal.Decimal, uuid.UUID)):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    return value
