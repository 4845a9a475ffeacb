"""Type labels: DataJoint 2.x reads a column's type from its comment (``:int32:``,
``:<blob>:``); DataJoint 0.14 wrote none for native types and serialized blobs. These
functions find such columns and add the label, changing nothing else (data, type, default,
nullability stay as they are)."""
from __future__ import annotations

import logging
import re
from typing import Any

from ..backends.base import ColumnInfo
from ..catalog import split_label
from . import _catalog as cat
from ._catalog import MigrationError

log = logging.getLogger("joinflow.migrate")

#: 0.14's labels of external storage (no angle brackets): handled by migrate_external/filepath
LEGACY_EXTERNAL = re.compile(r"^(blob|attach|filepath)@([A-Za-z][\w\-]*)$")
_BLOB_TYPES = ("tinyblob", "blob", "mediumblob", "longblob")
#: 0.14 labels that DataJoint 2.x reads differently: 0.14's in-table ``attach`` (the bytes
#: ``name NUL contents``, exactly 2.x's ``<attach>``) reads as raw bytes in 2.3.5
RELABEL = {"attach": "<attach>"}

#: MySQL native type (display width dropped) -> the DataJoint 2.x core type it is labelled
#: with. DataJoint 2.x has no unsigned types: unsigned ones widen to the next signed type
#: (``bigint unsigned`` -> int64 cannot hold values above 2**63-1; a warning says so).
MYSQL_CORE = {
    "tinyint unsigned": "int16", "smallint unsigned": "int32", "mediumint unsigned": "int32",
    "int unsigned": "int64", "bigint unsigned": "int64",
    "tinyint": "int8", "smallint": "int16", "mediumint": "int32", "int": "int32",
    "bigint": "int64", "float": "float32", "double": "float64",
    **{t: "<blob>" for t in _BLOB_TYPES},
}
#: PostgreSQL and SQLite: numeric types only (their binary columns hold raw bytes)
POSTGRES_CORE = {"smallint": "int16", "integer": "int32", "bigint": "int64", "real": "float32",
                 "double precision": "float64"}
SQLITE_CORE = {"integer": "int64", "real": "float64"}


def _native(sql_type: str) -> str:
    t = " ".join(sql_type.lower().split())
    return re.sub(r"^(tinyint|smallint|mediumint|int|bigint)\(\d+\)", r"\1", t)


def core_type_for(backend_name: str, sql_type: str) -> str | None:
    """The label an unlabelled column of ``sql_type`` gets, or None (read as it is)."""
    table = {"mysql": MYSQL_CORE, "postgresql": POSTGRES_CORE}.get(backend_name, SQLITE_CORE)
    return table.get(_native(sql_type))


def _entry(database: str, table: str, col: ColumnInfo) -> dict:
    return {"table": f"{database}.{table}", "column": col.name, "native_type": col.sql_type,
            "comment": col.comment, "is_nullable": col.nullable}


def analyze_columns(schema: Any) -> dict:
    """Columns that need a type label (``needs_migration``), that have one
    (``already_migrated``), and 0.x external storage columns (``external_storage``: see
    :func:`migrate_external`). Each entry: table, column, native_type, core_type, comment,
    is_nullable."""
    conn, database = schema.connection, schema.database
    out: dict[str, list] = {"needs_migration": [], "already_migrated": [], "external_storage": []}
    for table in cat.user_tables(conn, database):
        for col in cat.columns(conn, database, table):
            entry = _entry(database, table, col)
            label, _ = split_label(col.comment)
            if label is not None and LEGACY_EXTERNAL.match(label):
                out["external_storage"].append({**entry, "core_type": None,
                                                "reason": "external_storage"})
            elif label in RELABEL:
                out["needs_migration"].append({**entry, "core_type": RELABEL[label]})
            elif label is not None:
                out["already_migrated"].append({**entry, "core_type": label})
            else:
                core = core_type_for(conn.backend.name, col.sql_type)
                if core is None:
                    continue
                if _native(col.sql_type) == "bigint unsigned":
                    log.warning("column %s.%s is bigint unsigned and is labelled int64 (DataJoint "
                                "2.x has no unsigned types): values above 2**63-1 do not survive "
                                "a describe -> declare -> copy round trip", entry["table"],
                                col.name)
                out["needs_migration"].append({**entry, "core_type": core})
    return out


def _label_statements(conn: Any, col: dict) -> list:
    database, table = col["table"].split(".", 1)
    comment = f":{col['core_type']}:{split_label(col['comment'])[1]}"
    return cat.set_comment(conn, database, table, col["column"], comment)


def _apply(conn: Any, statements: list, what: str) -> None:
    try:
        cat.run(conn, statements)
    except Exception as exc:
        raise MigrationError(f"Migration failed at {what}: {exc}") from exc


def migrate_columns(schema: Any, dry_run: bool = True) -> dict:
    """Add the type label to every column :func:`analyze_columns` lists as needing one.
    ``dry_run`` (the default) only reports the statements."""
    conn = schema.connection
    analysis = analyze_columns(schema)
    skipped = len(analysis["already_migrated"]) + len(analysis["external_storage"])
    result: dict[str, Any] = {"columns_analyzed": skipped + len(analysis["needs_migration"]),
                              "columns_migrated": 0, "columns_skipped": skipped,
                              "sql_statements": [], "details": []}
    for col in analysis["needs_migration"]:
        statements = _label_statements(conn, col)
        result["sql_statements"] += [cat.shown(conn, s) for s in statements]
        detail = {k: col[k] for k in ("table", "column", "native_type", "core_type")}
        if dry_run:
            detail["status"] = "dry_run"
        else:
            _apply(conn, statements, f"{col['table']}.{col['column']}")
            detail["status"] = "migrated"
            result["columns_migrated"] += 1
            log.info("labelled %s.%s as %s", col["table"], col["column"], col["core_type"])
        result["details"].append(detail)
    return result


def analyze_blob_columns(schema: Any) -> list[dict]:
    """Every MySQL blob column (``tinyblob`` ... ``longblob``) of the schema:
    table_name, column_name, column_type, current_comment, needs_migration (no label yet),
    is_nullable. Other backends have no 0.x serialized blobs: the list is empty."""
    conn, database = schema.connection, schema.database
    if conn.backend.name != "mysql":
        return []
    out = []
    for table in cat.user_tables(conn, database):
        for col in cat.columns(conn, database, table):
            if _native(col.sql_type) not in _BLOB_TYPES:
                continue
            out.append({"table_name": f"{database}.{table}", "column_name": col.name,
                        "column_type": col.sql_type, "current_comment": col.comment,
                        "needs_migration": split_label(col.comment)[0] is None,
                        "is_nullable": col.nullable})
    return out


def _blob_statements(schema: Any, target_type: str) -> list:
    conn = schema.connection
    out = []
    for col in analyze_blob_columns(schema):
        if col["needs_migration"]:
            database, table = col["table_name"].split(".", 1)
            out += cat.set_comment(conn, database, table, col["column_name"],
                                   f":<{target_type}>:{col['current_comment']}")
    return out


def generate_migration_sql(schema: Any, target_type: str = "blob",
                           dry_run: bool = True) -> list[str]:
    """The statements that label unlabelled blob columns ``:<blob>:`` (nothing is run)."""
    conn = schema.connection
    return [cat.shown(conn, s) for s in _blob_statements(schema, target_type)]


def migrate_blob_columns(schema: Any, target_type: str = "blob", dry_run: bool = True) -> dict:
    """Label unlabelled blob columns ``:<blob>:`` (only the comment changes). Returns
    analyzed, needs_migration, migrated (0 in a dry run), sql_statements."""
    columns = analyze_blob_columns(schema)
    statements = _blob_statements(schema, target_type)
    conn = schema.connection
    result = {"analyzed": len(columns),
              "needs_migration": sum(c["needs_migration"] for c in columns), "migrated": 0,
              "sql_statements": [cat.shown(conn, s) for s in statements]}
    if dry_run:
        return result
    for stmt in statements:
        _apply(conn, [stmt], cat.shown(conn, stmt))
        result["migrated"] += 1
    return result


def check_migration_status(schema: Any) -> dict:
    """Blob columns labelled (``migrated``) and not yet (``pending``)."""
    columns = analyze_blob_columns(schema)
    pending = sum(c["needs_migration"] for c in columns)
    return {"total_blob_columns": len(columns), "migrated": len(columns) - pending,
            "pending": pending, "columns": columns}


def verify_schema_v20(schema: str, connection: Any = None) -> dict:
    """Whether a schema is ready for DataJoint 2.x: ``~lineage`` exists, every blob column is
    labelled, and no 0.x external storage column is left. Returns compatible, blob_markers,
    lineage_exists, issues (one line each)."""
    from ..connection import conn as default_connection
    conn = connection or default_connection()
    found = conn.backend.list_tables(conn.run, schema)
    result: dict[str, Any] = {"compatible": True, "blob_markers": True,
                              "lineage_exists": "~lineage" in found, "issues": []}
    for table in (t for t in found if not t.startswith("~")):
        for col in cat.columns(conn, schema, table):
            label, _ = split_label(col.comment)
            if conn.backend.name == "mysql" and _native(col.sql_type) in _BLOB_TYPES and \
                    label is None:
                result["blob_markers"] = False
                result["issues"].append(f"{table}.{col.name}: Missing :<blob>: marker in comment")
            elif label in RELABEL:
                result["issues"].append(f"{table}.{col.name}: DataJoint 0.x label :{label}: "
                                        f"(2.x: :{RELABEL[label]}:): run migrate_columns")
            elif label is not None and LEGACY_EXTERNAL.match(label):
                result["issues"].append(f"{table}.{col.name}: DataJoint 0.x external storage "
                                        f"({label}): run migrate_external / migrate_filepath")
    if not result["lineage_exists"]:
        result["issues"].append("~lineage table is missing: run rebuild_lineage")
    result["compatible"] = not result["issues"]
    return result
