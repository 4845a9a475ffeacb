"""Which objects committed rows refer to: the check that keeps the cleanup after a failed
transaction from removing an object another transaction committed a row for in the meantime
(identical content is one object, shared by every row that holds it).

Hash-addressed objects (``<hash@>`` and what chains onto it) are found by their content hash
in the JSON of the schema's hash-addressed columns; DataJoint 0.x objects by a row of their
``~external_<store>`` tracking table. A write without an ``ObjectUse`` was only ever referenced
by the failed rows.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from ..backends.base import PH
from ..codecs.base import ObjectWrite, registry
from .codecs import HashCodec

Key = tuple[str, str]  # (store name as written, path)


def referenced(connection: Any, writes: Sequence[ObjectWrite]) -> set[Key]:
    """The (store, path) of ``writes`` that rows visible to ``connection`` still use."""
    keep: set[Key] = set()
    for schema in dict.fromkeys(w.use.schema for w in writes if w.use is not None):
        mine = [w for w in writes if w.use is not None and w.use.schema == schema]
        tracked = [w for w in mine if w.use.tracking]  # type: ignore[union-attr]
        hashed = [w for w in mine if not w.use.tracking]  # type: ignore[union-attr]
        keep |= _tracked(connection, schema, tracked)
        if hashed:
            keep |= _hashed(connection, schema, hashed)
    return keep


def _key(w: ObjectWrite) -> Key:
    return (w.store or "", w.path)


def _tracked(connection: Any, schema: str, writes: list[ObjectWrite]) -> set[Key]:
    backend, keep = connection.backend, set()
    adapt = backend.adapter("uuid", ()) or (lambda v: v)
    convert = backend.converter("uuid", ()) or (lambda v: v)
    for table in dict.fromkeys(w.use.tracking for w in writes):  # type: ignore[union-attr]
        group = [w for w in writes if w.use.tracking == table]  # type: ignore[union-attr]
        if table not in backend.list_tables(connection.run, schema):
            continue
        column = backend.quote("hash")
        sql = (f"SELECT {column} FROM {backend.full_name(schema, table)} "
               f"WHERE {column} IN ({', '.join([PH] * len(group))})")
        rows = connection.query(sql, [adapt(w.use.token) for w in group])  # type: ignore[union-attr]
        found = {convert(v) for (v,) in rows}
        keep |= {_key(w) for w in group if w.use.token in found}  # type: ignore[union-attr]
    return keep


def _hashed(connection: Any, schema: str, writes: list[ObjectWrite]) -> set[Key]:
    backend, keep = connection.backend, set()
    pending = {w.use.token: w for w in writes}  # type: ignore[union-attr]
    for table, column in _hash_columns(connection, schema):
        if not pending:
            break
        tokens = list(pending)
        text = backend.text_sql(backend.quote(column))
        where = " OR ".join([f"{text} LIKE {PH}"] * len(tokens))
        sql = f"SELECT {text} FROM {backend.full_name(schema, table)} WHERE {where}"
        rows = connection.query(sql, [f"%{t}%" for t in tokens])
        for token in [t for t in tokens if any(t in str(r[0]) for r in rows)]:
            keep.add(_key(pending.pop(token)))
    return keep


def _hash_columns(connection: Any, schema: str) -> Iterable[tuple[str, str]]:
    """(table, column) of every hash-addressed column of the schema's tables."""
    from ..catalog import load_heading
    for table in connection.backend.list_tables(connection.run, schema):
        for attr in load_heading(connection, schema, table).values():
            if attr.codec and attr.spec.store is not None and not attr.spec.legacy and any(
                    isinstance(c, HashCodec) for c in registry.chain_for(attr.spec)[0]):
                yield table, attr.name
