"""``Table.alter()``: change secondary attributes and the table comment to match the class's
current definition. Primary key, foreign key and index changes are refused.

A rename is declared by starting the new attribute's comment with ``{old_name}``. PostgreSQL
and MySQL use ALTER TABLE; SQLite, which cannot change a column in place, rebuilds the table
inside one transaction (foreign keys from other tables keep pointing at it)."""
from __future__ import annotations

import inspect
import re
from typing import Any

from . import errors
from .declare import build_attributes, column_definition, ddl, label, resolve_fk
from .definition.parser import parse_definition
from .heading import Attribute
from .prompt import confirm, should_prompt
from .tableref import TableRef

_RENAME = re.compile(r"^\{(?P<old>[a-z][a-z0-9_]*)\}\s*")


def _same(a: Attribute, b: Attribute) -> bool:
    return (a.spec.render(), a.nullable, _norm_default(a.default), a.comment) == \
        (b.spec.render(), b.nullable, _norm_default(b.default), b.comment)


def _norm_default(d: Any) -> str | None:
    if d is None:
        return None
    d = re.sub(r"::[\w\s]+(\(\d+\))?$", "", str(d).strip())
    d = d.strip("'\"")
    return "CURRENT_TIMESTAMP" if d.lower() in ("current_timestamp()", "now()") else d


def plan(table: TableRef, context: dict) -> dict:
    """What must change: dict with added, dropped, changed, renamed, comment, attrs, spec, fks."""
    conn = table.connection
    spec = parse_definition(table.definition, table=type(table).__name__)
    fks = [resolve_fk(d, context, type(table).__name__) for d in spec.foreign_keys]
    new_attrs = build_attributes(spec, fks, conn.backend, context)
    renamed: dict[str, str] = {}
    for i, a in enumerate(new_attrs):
        m = _RENAME.match(a.comment)
        if m:
            renamed[a.name] = m.group("old")
            new_attrs[i] = a.replace(comment=a.comment[m.end():])
    old = table.heading
    if [(a.name, a.spec.render()) for a in new_attrs if a.in_key] != \
            [(a.name, a.spec.render()) for a in old.values() if a.in_key]:
        raise NotImplementedError("alter cannot change the primary key (yet)")
    old_fks = {(f.parent_schema, f.parent_table, f.columns)
               for f in conn.dependencies.parent_fks(table.database, table.table_name)}
    new_fks = {(f.parent.database, f.parent.table_name, tuple(c for c, _ in f.attrs)) for f in fks}
    if old_fks != new_fks:
        raise NotImplementedError("alter cannot change foreign keys (yet)")
    for old_name in renamed.values():
        if old_name not in old or old[old_name].in_key:
            raise errors.DefinitionError(f"attribute {old_name!r} does not exist in the original "
                                         "definition (renamed with {…})")
    new_names = {a.name for a in new_attrs}
    sources = set(renamed.values())
    return {
        "spec": spec, "fks": fks, "attrs": new_attrs, "renamed": renamed,
        "dropped": [a for a in old.secondary_attributes if a not in new_names and a not in sources],
        "added": [a for a in new_attrs if not a.in_key and a.name not in old and a.name not in renamed],
        "changed": [a for a in new_attrs if not a.in_key and (
            a.name in renamed or (a.name in old and not _same(a, old[a.name])))],
        "comment": spec.comment if spec.comment != old.table_comment else None,
    }


def _is_noop(p: dict) -> bool:
    return not (p["dropped"] or p["added"] or p["changed"] or p["comment"] is not None)


def alter(table: TableRef, prompt: bool = True, context: dict | None = None) -> None:
    conn = table.connection
    if conn.in_transaction:
        raise errors.JoinflowError("cannot alter a table inside a transaction, e.g. from inside "
                                   "a populate/make call")
    if context is None:
        frame = inspect.currentframe()
        caller = frame.f_back.f_back if frame and frame.f_back else None
        context = {**caller.f_globals, **caller.f_locals} if caller else {}
    schema_obj = conn.schemas.get(table.database)
    if schema_obj is not None:
        context = {**{c.__name__: c for c in schema_obj._classes.values()}, **context}
    master = getattr(type(table), "master", None)
    if master is not None:
        context = {**context, "master": master}
    context = {**context, "self": type(table)}  # `-> self.source` in the definition
    p = plan(table, context)
    if _is_noop(p):
        print("Nothing to alter.")
        return
    statements = _statements(table, p)
    if prompt and should_prompt(None, conn.config):
        print("\n".join(s if isinstance(s, str) else s[0] for s in statements))
        if not confirm("Execute?"):
            return
    _execute(table, p, statements)
    conn.invalidate()
    from . import lineage
    lineage.record(conn, table.database, table.table_name)


def _statements(table: TableRef, p: dict) -> list:
    backend = table.connection.backend
    if backend.name == "sqlite":
        return _sqlite_rebuild(table, p)
    full = table.full_table_name
    q = backend.quote
    if backend.name == "mysql":
        parts = [f"DROP COLUMN {q(a)}" for a in p["dropped"]]
        order = [a.name for a in p["attrs"]]
        for a in p["added"]:
            i = order.index(a.name)
            pos = f" AFTER {q(order[i - 1])}" if i else " FIRST"
            parts.append(f"ADD COLUMN {column_definition(a, backend)}{pos}")
        for a in p["changed"]:
            old = p["renamed"].get(a.name, a.name)
            parts.append(f"CHANGE COLUMN {q(old)} {column_definition(a, backend)}")
        if p["comment"] is not None:
            parts.append(f"COMMENT={backend.literal(p['comment'])}")
        return [f"ALTER TABLE {full} " + ", ".join(parts)]
    return _postgres(table, p)


def _postgres(table: TableRef, p: dict) -> list:
    from .definition.types import TypeSpec
    backend = table.connection.backend
    full, q = table.full_table_name, backend.quote
    out: list = [f"ALTER TABLE {full} DROP COLUMN {q(a)}" for a in p["dropped"]]
    out += [f"ALTER TABLE {full} ADD COLUMN {column_definition(a, backend)}" for a in p["added"]]
    for a in p["changed"]:
        old = p["renamed"].get(a.name)
        if old:
            out.append(f"ALTER TABLE {full} RENAME COLUMN {q(old)} TO {q(a.name)}")
        core = TypeSpec(core=a.spec.core, args=a.spec.args)
        sql_type = backend.column_type(core)
        col = q(a.name)
        out.append(("__drop_checks__", a.name))
        out.append(f"ALTER TABLE {full} ALTER COLUMN {col} TYPE {sql_type} USING {col}::{sql_type}")
        out.append(f"ALTER TABLE {full} ALTER COLUMN {col} " +
                   (f"SET DEFAULT {a.default}" if a.default is not None else "DROP DEFAULT"))
        out.append(f"ALTER TABLE {full} ALTER COLUMN {col} " +
                   ("DROP NOT NULL" if a.nullable else "SET NOT NULL"))
        out += [f"ALTER TABLE {full} ADD CHECK ({c})" for c in backend.checks(a.name, core)]
    for a in p["added"] + p["changed"]:
        out.append(f"COMMENT ON COLUMN {full}.{q(a.name)} IS {backend.literal(label(a))}")
    if p["comment"] is not None:
        out.append(f"COMMENT ON TABLE {full} IS {backend.literal(p['comment'])}")
    return out


def _sqlite_rebuild(table: TableRef, p: dict) -> list[Any]:
    backend = table.connection.backend
    schema, name = table.database, table.table_name
    tmp = f"{name}__alter_tmp"
    old_heading = table.heading
    keep = [a for a in p["attrs"] if a.name in old_heading or a.name in p["renamed"]]
    cols = ", ".join(backend.quote(a.name) for a in keep)
    src = ", ".join(backend.quote(p["renamed"].get(a.name, a.name)) for a in keep)
    drop_idx: list[Any] = [f"DROP INDEX {backend.quote(i.name)}" for i in
                           backend.indexes(table.connection.run, schema, name)]
    return drop_idx + [
        f"ALTER TABLE {backend.full_name(schema, name)} RENAME TO {backend.quote(f'{schema}.{tmp}')}",
        ("__forget__", name),
        *ddl(schema, name, p["spec"], p["fks"], p["attrs"], backend),
        f"INSERT INTO {backend.full_name(schema, name)} ({cols}) SELECT {src} FROM "
        f"{backend.full_name(schema, tmp)}",
        f"DROP TABLE {backend.full_name(schema, tmp)}",
    ]


def _execute(table: TableRef, p: dict, statements: list) -> None:
    conn = table.connection
    backend = conn.backend
    if backend.name == "sqlite":
        conn.query_raw("PRAGMA foreign_keys = OFF")
        conn.query_raw("PRAGMA legacy_alter_table = ON")
    try:
        with conn.transaction:
            for stmt in statements:
                _run(conn, table, stmt)
            if backend.name == "sqlite" and conn.query_raw("PRAGMA foreign_key_check"):
                raise errors.ForeignKeyError("alter would break foreign keys")
    finally:
        if backend.name == "sqlite":
            conn.query_raw("PRAGMA legacy_alter_table = OFF")
            conn.query_raw("PRAGMA foreign_keys = ON")


def _run(conn: Any, table: TableRef, stmt: Any) -> None:
    backend = conn.backend
    if isinstance(stmt, tuple) and stmt[0] == "__forget__":
        backend.forget_table(conn.run, table.database, stmt[1])
    elif isinstance(stmt, tuple) and stmt[0] == "__drop_checks__":
        rows = conn.query_raw(
            "SELECT con.conname FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_attribute a ON "
            "a.attrelid = c.oid AND a.attnum = ANY(con.conkey) WHERE con.contype = 'c' AND "
            "n.nspname = %s AND c.relname = %s AND a.attname = %s",
            (table.database, table.table_name, stmt[1]))
        for (name,) in rows:
            conn.query(f"ALTER TABLE {table.full_table_name} DROP CONSTRAINT {backend.quote(name)}")
    elif isinstance(stmt, tuple):
        conn.query(stmt[0], stmt[1])
    else:
        conn.query(stmt)
