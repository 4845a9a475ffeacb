"""Catalog access for the migration tools, the same on every backend: the tables and columns
of a schema, and the few DDL steps a migration takes (set a column's comment, add a column,
rename a column). Statements are ``(sql, params)`` pairs; ``shown`` renders one for a report."""
from __future__ import annotations

import re
from typing import Any

from ..backends.base import PH, ColumnInfo
from ..definition.types import TypeSpec
from ..errors import JoinflowError

Statement = tuple[str, tuple]


def user_tables(conn: Any, database: str) -> list[str]:
    """The tables of a schema, hidden ones (``~...``) left out."""
    return [t for t in conn.backend.list_tables(conn.run, database) if not t.startswith("~")]


def hidden_tables(conn: Any, database: str, prefix: str = "~") -> list[str]:
    return [t for t in conn.backend.list_tables(conn.run, database) if t.startswith(prefix)]


def columns(conn: Any, database: str, table: str) -> list[ColumnInfo]:
    return conn.backend.columns(conn.run, database, table)


def column(conn: Any, database: str, table: str, name: str) -> ColumnInfo | None:
    return next((c for c in columns(conn, database, table) if c.name == name), None)


def full_name(conn: Any, database: str, table: str) -> str:
    return conn.backend.full_name(database, table)


def shown(conn: Any, stmt: Statement) -> str:
    """A statement as text for a report (its parameters written as literals)."""
    sql, params = stmt
    backend = conn.backend
    for value in params:
        sql = sql.replace(PH, backend.literal(value), 1)
    return sql


def run(conn: Any, statements: list[Statement]) -> None:
    for sql, params in statements:
        conn.query(sql, params)
    conn.invalidate()


# -- comments ----------------------------------------------------------------------------------
_COMMENT_RE = re.compile(r"\s+COMMENT\s+'(?:[^'\\]|\\.|'')*'", re.I)


def mysql_column_sql(conn: Any, database: str, table: str, name: str) -> str:
    """The column's definition as ``SHOW CREATE TABLE`` writes it (type, nullability, default,
    comment): what ``MODIFY COLUMN`` must repeat to keep everything but what it changes."""
    q = conn.backend.quote
    create = conn.query(f"SHOW CREATE TABLE {q(database)}.{q(table)}")[0][1]
    head = q(name) + " "
    for line in create.splitlines():
        line = line.strip()
        if line.startswith(head):
            return line.rstrip(",")
    raise LookupError(f"column {name!r} not found in {database}.{table}")


def _with_comment(definition: str, comment_sql: str) -> str:
    if _COMMENT_RE.search(definition):
        return _COMMENT_RE.sub(lambda _: " " + comment_sql, definition, count=1)
    check = re.search(r"\s+CHECK\s*\(", definition, re.I)
    if check:
        return definition[:check.start()] + " " + comment_sql + definition[check.start():]
    return definition + " " + comment_sql


def set_comment(conn: Any, database: str, table: str, name: str,
                comment: str) -> list[Statement]:
    """Statements giving column ``name`` the comment ``comment``, nothing else changed."""
    backend = conn.backend
    full = backend.full_name(database, table)
    if backend.name == "mysql":
        definition = mysql_column_sql(conn, database, table, name)
        new = _with_comment(definition, "COMMENT " + backend.literal(comment))
        return [(f"ALTER TABLE {full} MODIFY COLUMN {new}", ())]
    if backend.name == "postgresql":
        return [(f"COMMENT ON COLUMN {full}.{backend.quote(name)} IS "
                 f"{backend.literal(comment)}", ())]
    return _sqlite_comments(conn, database, table, {name: comment})


def _sqlite_comments(conn: Any, database: str, table: str,
                     comments: dict[str, str]) -> list[Statement]:
    backend = conn.backend
    current = backend.table_comment(conn.run, database, table)
    out = []
    for sql, params in backend.comment_statements(database, table, current, comments)[1:]:
        out.append((sql.replace("?", PH), tuple(params)))
    return out


def forget_comment(conn: Any, database: str, table: str, name: str) -> list[Statement]:
    """SQLite keeps column comments in ``~columns``: drop the row of a renamed column."""
    if conn.backend.name != "sqlite":
        return []
    full = f"{database}.{table}"
    return [(f'DELETE FROM "~columns" WHERE tbl = {PH} AND col = {PH}', (full, name))]


# -- columns ------------------------------------------------------------------------------------
def add_json_column(conn: Any, database: str, table: str, name: str,
                    comment: str) -> list[Statement]:
    """Add a nullable JSON column with ``comment`` (its label)."""
    backend = conn.backend
    spec = TypeSpec(core="json")
    sql = backend.column_sql(name, backend.column_type(spec), True,
                             "NULL" if backend.explicit_null_default else None,
                             comment, backend.checks(name, spec))
    out: list[Statement] = [(f"ALTER TABLE {backend.full_name(database, table)} "
                             f"ADD COLUMN {sql}", ())]
    if backend.name != "mysql":
        out += set_comment(conn, database, table, name, comment) if backend.name == "sqlite" \
            else [(f"COMMENT ON COLUMN {backend.full_name(database, table)}."
                   f"{backend.quote(name)} IS {backend.literal(comment)}", ())]
    return out


def rename_column(conn: Any, database: str, table: str, old: str, new: str, *,
                  sql_type: str, nullable: bool, comment: str) -> list[Statement]:
    """Rename a column to ``new`` with SQL type ``sql_type``, nullability and ``comment``
    (SQLite cannot change nullability in place: there the column keeps its own)."""
    backend = conn.backend
    full, q = backend.full_name(database, table), backend.quote
    if backend.name == "mysql":
        definition = backend.column_sql(new, sql_type, nullable, "NULL" if nullable else None,
                                        comment, [])
        return [(f"ALTER TABLE {full} CHANGE COLUMN {q(old)} {definition}", ())]
    out: list[Statement] = [(f"ALTER TABLE {full} RENAME COLUMN {q(old)} TO {q(new)}", ())]
    if backend.name == "postgresql":
        out.append((f"ALTER TABLE {full} ALTER COLUMN {q(new)} "
                    f"{'DROP' if nullable else 'SET'} NOT NULL", ()))
        out.append((f"COMMENT ON COLUMN {full}.{q(new)} IS {backend.literal(comment)}", ()))
        return out
    return out + forget_comment(conn, database, table, old) + \
        _sqlite_comments(conn, database, table, {new: comment})


class MigrationError(JoinflowError):
    """A migration step failed (DataJoint raises ``DataJointError``, which this is)."""
