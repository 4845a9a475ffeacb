"""Reading table headings back from the database catalog.

The declared type of each column comes from its comment label (``:<blob>:comment``,
``:int32:comment`` — DataJoint's convention), or, for tables made without labels (DataJoint
0.x), from the SQL type. Lineage follows foreign keys to the attribute's origin."""
from __future__ import annotations

import re
from typing import Any

from .backends.base import ColumnInfo
from .codecs.base import registry
from .definition.types import TypeSpec, parse_type
from .errors import DefinitionError, MissingTableError
from .heading import Attribute, Heading

_PG_TYPES = {
    "integer": "int32", "smallint": "int16", "bigint": "int64", "real": "float32",
    "double precision": "float64", "boolean": "bool", "text": "text", "bytea": "bytes",
    "jsonb": "json", "json": "json", "uuid": "uuid", "date": "date",
    "time without time zone": "time", "time": "time", "interval": "time", "longtext": "text",
    "mediumtext": "text", "tinytext": "text",
}
_SQLITE_TYPES = {"INTEGER": "int64", "INT": "int64", "REAL": "float64", "TEXT": "text", "BLOB": "bytes",
                 "ANY": "text"}
_LEGACY_BLOBS = ("longblob", "mediumblob", "blob", "tinyblob")


def split_label(comment: str) -> tuple[str | None, str]:
    """``':<blob>:my comment'`` -> ``('<blob>', 'my comment')``; no label -> ``(None, comment)``."""
    if not comment.startswith(":"):
        return None, comment
    quote, depth = None, 0
    for i in range(1, len(comment)):
        ch = comment[i]
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch in "(<":
            depth += 1
        elif ch in ")>":
            depth -= 1
        elif ch == ":" and depth == 0:
            return comment[1:i], comment[i + 1:]
    return None, comment


def type_from_sql(sql_type: str) -> TypeSpec:
    """Best reading of a column's type from its SQL type alone (no label)."""
    t = " ".join(sql_type.lower().split())
    if t in _PG_TYPES:
        return TypeSpec(core=_PG_TYPES[t], declared=t)
    if t in _LEGACY_BLOBS:
        return TypeSpec(core="bytes", codec="blob", legacy=True, declared=t)
    m = re.match(r"^(character varying|character|varchar|char)\((\d+)\)$", t)
    if m:
        return TypeSpec(core="char" if m.group(1) in ("character", "char") else "varchar",
                        args=(int(m.group(2)),), declared=t)
    m = re.match(r"^timestamp(\(\d\))? (without|with) time zone$", t)
    if m:
        return TypeSpec(core="datetime", args=(int(m.group(1)[1:-1]),) if m.group(1) else (),
                        declared=t)
    if re.match(r"^time(\(\d\))?( (without|with) time zone)?$", t):
        return TypeSpec(core="time", declared=t)
    if t == "integer" or t == "int":
        return TypeSpec(core="int64" if t == "integer" else "int32", declared=t)
    if t in ("real", "text", "blob") or t == "":
        return TypeSpec(core={"real": "float64", "text": "text", "blob": "bytes", "": "bytes"}[t])
    if t.startswith(("binary", "varbinary")):
        return TypeSpec(core="bytes", declared=t)
    try:
        return parse_type(re.sub(r"\bint\(\d+\)", "int", re.sub(r"(int)\(\d+\)", r"\1", t)))
    except DefinitionError:
        return TypeSpec(core="text", declared=t)


def resolve_codec(spec: TypeSpec) -> TypeSpec:
    """Fill in the storage core type of a codec type."""
    if not spec.codec:
        return spec
    try:
        _, dtype = registry.chain_for(spec)
    except Exception:
        return TypeSpec(core="bytes", args=(), codec=spec.codec, store=spec.store,
                        legacy=spec.legacy, declared=spec.declared)
    core = parse_type(dtype) if not dtype.startswith("<") else TypeSpec(core="bytes")
    return TypeSpec(core=core.core, args=core.args, codec=spec.codec, store=spec.store,
                    legacy=spec.legacy, declared=spec.declared)


def column_type(col: ColumnInfo, sqlite: bool, raw_blobs: bool = False) -> tuple[TypeSpec, str]:
    """The declared type and user comment of a column. ``raw_blobs``: an unlabelled
    ``longblob`` holds raw bytes (DataJoint 2.x), not a 0.x serialized blob."""
    label, comment = split_label(col.comment)
    if label is not None:
        try:
            spec = parse_type(label)
        except DefinitionError:
            spec = type_from_sql(col.sql_type)
    elif sqlite:
        spec = TypeSpec(core=_SQLITE_TYPES.get(col.sql_type.upper(), "text"))
    else:
        spec = type_from_sql(col.sql_type)
        if raw_blobs and spec.codec == "blob" and spec.legacy:
            spec = TypeSpec(core="bytes", declared=spec.declared)
    if spec.codec:
        spec = resolve_codec(spec)
    return spec, comment


def _is_v2_schema(conn: Any, schema: str) -> bool:
    """True when DataJoint 2.x made the schema (it keeps a hidden ``~lineage`` table)."""
    key = f"{schema}.~lineage?"
    if key not in conn._heading_cache:
        conn._heading_cache[key] = "~lineage" in conn.backend.list_tables(conn.run, schema)
    return conn._heading_cache[key]


def _unlabelled_blob(col: ColumnInfo) -> bool:
    return split_label(col.comment)[0] is None and \
        " ".join(col.sql_type.lower().split()) in _LEGACY_BLOBS


def _default(col: ColumnInfo) -> Any:
    """The column default as SQL text, the same on every backend: no PostgreSQL casts
    (``'mouse'::character varying``), and None (not 'NULL') for no default."""
    d = col.default
    if d is None:
        return None
    d = re.sub(r"^\((.*)\)$", r"\1", str(d).strip())
    d = re.sub(r"::[a-z ]+(\(\d+(,\d+)?\))?(\[\])?$", "", d)
    return None if d.upper() == "NULL" else d


def load_heading(conn: Any, schema: str, table: str) -> Heading:
    """The heading of ``schema.table`` (cached on the connection until the next DDL)."""
    cache_key = f"{schema}.{table}"
    cached = conn._heading_cache.get(cache_key)
    if cached is not None:
        return cached
    backend = conn.backend
    cols = backend.columns(conn.run, schema, table)
    if not cols:
        raise MissingTableError(f"table {backend.full_name(schema, table)} does not exist")
    pk_order = backend.primary_key_order(conn.run, schema, table)
    lineage = _lineage(conn, schema, table, [c.name for c in cols])
    raw_blobs = backend.name != "sqlite" and any(_unlabelled_blob(c) for c in cols) and \
        _is_v2_schema(conn, schema)
    attrs = []
    for col in cols:
        spec, comment = column_type(col, backend.name == "sqlite", raw_blobs)
        in_key = col.name in pk_order
        attrs.append(Attribute(col.name, spec, in_key, col.nullable, _default(col), comment,
                               col.sql_type, lineage.get(col.name), col.autoincrement))
    order = {name: i for i, name in enumerate(pk_order)}
    keys = sorted((a for a in attrs if a.in_key), key=lambda a: order[a.name])
    heading = Heading(keys + [a for a in attrs if not a.in_key and not a.is_hidden],
                      backend.table_comment(conn.run, schema, table),
                      hidden=tuple(a for a in attrs if a.is_hidden and not a.in_key))
    conn._heading_cache[cache_key] = heading
    return heading


def _lineage(conn: Any, schema: str, table: str, names: list[str]) -> dict[str, str | None]:
    # every attribute born in this table has this table as its origin (DataJoint 2.x gives
    # native secondary attributes no lineage, which forbids even A & (A & cond); we keep them
    # distinct per table instead, so unrelated namesakes still refuse to match)
    out: dict[str, str | None] = {k: f"{schema}.{table}.{k}" for k in names}
    for fk in conn.dependencies.parent_fks(schema, table):
        if fk.parent_table.startswith("~external_"):
            continue  # DataJoint 0.x tracking tables: the column is born here
        parent = load_heading(conn, fk.parent_schema, fk.parent_table)
        for col, ref in zip(fk.columns, fk.ref_columns):
            if ref in parent:
                out[col] = parent[ref].lineage
    return out
