"""Schema upkeep for DataJoint 2.x: the ``~lineage`` table and the hidden ``_job_*`` columns."""
from __future__ import annotations

import logging
from typing import Any

from ..declare import column_definition, job_metadata_attributes, label
from . import _catalog as cat
from ._catalog import MigrationError
from .labels import analyze_blob_columns

log = logging.getLogger("joinflow.migrate")


def _lineage_rows(schema: Any) -> int:
    from ..catalog import load_heading
    conn = schema.connection
    return sum(1 for t in schema.list_tables()
               for a in load_heading(conn, schema.database, t).values() if a.lineage)


def rebuild_lineage(schema: Any, dry_run: bool = True) -> dict:
    """Create (if needed) and refill DataJoint 2.x's ``~lineage`` table from the foreign keys.
    Returns tables_analyzed, lineage_entries (would be written, in a dry run), status
    (``dry_run`` / ``rebuilt``).

    Unlabelled blob columns must be labelled first (:func:`migrate_columns`): in a schema with
    ``~lineage`` an unlabelled ``longblob`` holds raw bytes (DataJoint 2.x), so the rebuild
    refuses while any is left."""
    conn = schema.connection
    tables = cat.user_tables(conn, schema.database)
    result: dict[str, Any] = {"tables_analyzed": len(tables), "lineage_entries": 0,
                              "status": "pending"}
    unlabelled = [f"{c['table_name']}.{c['column_name']}" for c in analyze_blob_columns(schema)
                  if c["needs_migration"]]
    if dry_run:
        result["lineage_entries"] = _lineage_rows(schema)
        result["status"] = "dry_run"
        if unlabelled:
            result["unlabelled_blobs"] = unlabelled
        return result
    if unlabelled:
        raise MigrationError(
            "Lineage rebuild refused: blob columns without a :<blob>: label would then read as "
            f"raw bytes: {', '.join(unlabelled)}. Label them first with "
            "migrate_columns(schema, dry_run=False)")
    try:
        schema.rebuild_lineage()
    except Exception as exc:
        raise MigrationError(f"Lineage rebuild failed: {exc}") from exc
    target = conn.backend.full_name(schema.database, "~lineage")
    result["lineage_entries"] = int(conn.query(f"SELECT COUNT(*) FROM {target}")[0][0])
    result["status"] = "rebuilt"
    log.info("rebuilt ~lineage of %s: %d entries", schema.database, result["lineage_entries"])
    return result


# -- job metadata ------------------------------------------------------------------------------
def _targets(target: Any) -> list[tuple[Any, str, str]]:
    """``(connection, database, table)`` for a schema (all its tables), a table or a class."""
    from ..schema import Schema
    from ..table import Table
    if isinstance(target, Schema):
        conn = target.connection
        return [(conn, target.database, t) for t in cat.user_tables(conn, target.database)]
    if isinstance(target, type) and issubclass(target, Table):
        target = target()
    if isinstance(target, Table):
        return [(target.connection, target.database, target.table_name)]
    raise MigrationError("target must be a Table class, Table instance, or Schema, got "
                         f"{type(target).__name__}")


def _job_columns(conn: Any, database: str, table: str) -> list[Any]:
    """The ``_job_*`` attributes a Computed/Imported table (not a part) has when declared with
    ``jobs.add_job_metadata`` on; ``[]`` for any other table."""
    return job_metadata_attributes(table, {"jobs.add_job_metadata": True}, conn.backend)


def _add_statements(conn: Any, database: str, table: str, attr: Any) -> list:
    backend = conn.backend
    out = [(f"ALTER TABLE {backend.full_name(database, table)} ADD COLUMN "
            f"{column_definition(attr, backend)}", ())]
    if backend.name != "mysql":
        out += cat.set_comment(conn, database, table, attr.name, label(attr))
    return out


def add_job_metadata_columns(target: Any, dry_run: bool = True) -> dict:
    """Add the hidden ``_job_start_time``, ``_job_duration``, ``_job_version`` columns (the
    same columns a declaration with ``jobs.add_job_metadata`` makes) to Computed and Imported
    tables that lack them. ``target``: a Schema (all its tables), a table class or instance.
    Returns tables_analyzed, tables_modified, columns_added, details (per table: status
    ``pending`` in a dry run, ``migrated``, or ``already_migrated``)."""
    result: dict[str, Any] = {"tables_analyzed": 0, "tables_modified": 0, "columns_added": 0,
                              "details": []}
    for conn, database, table in _targets(target):
        result["tables_analyzed"] += 1
        wanted = _job_columns(conn, database, table)
        if not wanted:
            continue
        have = {c.name for c in cat.columns(conn, database, table)}
        missing = [a for a in wanted if a.name not in have]
        name = f"{database}.{table}"
        if not missing:
            result["details"].append({"table": name, "status": "already_migrated",
                                      "columns_added": 0})
            continue
        statements = [s for a in missing for s in _add_statements(conn, database, table, a)]
        detail = {"table": name, "status": "pending" if dry_run else "migrated",
                  "columns_added": len(missing),
                  "sql_statements": [cat.shown(conn, s) for s in statements]}
        if not dry_run:
            try:
                cat.run(conn, statements)
            except Exception as exc:
                raise MigrationError(f"Migration failed: adding job metadata to {name}: "
                                     f"{exc}") from exc
        result["tables_modified"] += 1
        result["columns_added"] += len(missing)
        result["details"].append(detail)
    return result
