"""Declaration: a parsed ``TableSpec`` plus the resolved parent tables -> DDL statements.

Foreign-key references are resolved by walking dotted names in the declaration context (no
``eval``); ``.proj(new='old')`` renames were already parsed by the definition parser."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from .catalog import resolve_codec
from .codecs.base import register_from_context, registry
from .definition.parser import AttrDecl, ForeignKeyDecl, TableSpec
from .definition.types import KEY_TYPES, TypeSpec
from .errors import CodecError, DefinitionError
from .heading import Attribute


@dataclass
class ResolvedFK:
    decl: ForeignKeyDecl
    parent: Any                # a Table instance
    attrs: list[tuple[str, str]]   # (child name, parent name) in parent's key order


def resolve_reference(ref: str, context: dict, decl: ForeignKeyDecl, table: str) -> Any:
    from .table import Table
    parts = ref.split(".")
    if parts[0] not in context:
        raise DefinitionError(f"foreign key reference {ref!r} could not be resolved",
                              line=decl.line, lineno=decl.lineno, token=parts[0], table=table)
    obj = context[parts[0]]
    for p in parts[1:]:
        if not hasattr(obj, p):
            raise DefinitionError(f"foreign key reference {ref!r} could not be resolved",
                                  line=decl.line, lineno=decl.lineno, token=p, table=table)
        obj = getattr(obj, p)
    if isinstance(obj, type) and issubclass(obj, Table):
        obj = obj()
    if not isinstance(obj, Table):
        raise DefinitionError(f"foreign key reference {ref!r} is not a table", line=decl.line,
                              lineno=decl.lineno, token=ref, table=table)
    if not obj.is_declared:
        raise DefinitionError(f"referenced table {ref!r} is not declared yet", line=decl.line,
                              lineno=decl.lineno, token=ref, table=table)
    return obj


def resolve_fk(decl: ForeignKeyDecl, context: dict, table: str) -> ResolvedFK:
    parent = resolve_reference(decl.ref, context, decl, table)
    pk = parent.primary_key
    inverse = {old: new for new, old in decl.renames.items()}
    for old in decl.renames.values():
        if old not in pk:
            raise DefinitionError(f"{old!r} is not a primary key attribute of {decl.ref}",
                                  line=decl.line, lineno=decl.lineno, token=old, table=table)
    return ResolvedFK(decl, parent, [(inverse.get(k, k), k) for k in pk])


def build_attributes(spec: TableSpec, fks: list[ResolvedFK], backend: Any,
                     context: dict | None = None) -> list[Attribute]:
    """Attributes in declaration order, foreign-key attributes copied from their parents."""
    by_decl = {id(f.decl): f for f in fks}
    attrs: dict[str, Attribute] = {}
    for item in spec.items:
        if isinstance(item, ForeignKeyDecl):
            fk = by_decl[id(item)]
            for child, parent_name in fk.attrs:
                if child in attrs:
                    continue
                pa = fk.parent.heading[parent_name]
                attrs[child] = Attribute(child, pa.spec, item.in_key, "nullable" in item.options,
                                         None, pa.comment, pa.sql_type, pa.lineage)
        else:
            if item.type.codec and context:
                register_from_context(item.type.codec, context)
            attrs[item.name] = _declared_attribute(item, backend)
    return list(attrs.values())


def _declared_attribute(a: AttrDecl, backend: Any) -> Attribute:
    spec = a.type
    if spec.codec:
        if not (spec.legacy and spec.store):
            registry.get(spec.codec)  # unknown codec -> error listing the known ones
        try:
            registry.chain_for(spec)  # loops, store-only codecs, bad dtypes
        except (CodecError, DefinitionError) as exc:
            raise DefinitionError(str(exc).split("\n")[0], lineno=a.lineno, token=a.type.render())
        spec = resolve_codec(spec)
        if a.has_default and a.default is not None:
            raise DefinitionError("codec attributes (blob, attach, ...) can only default to null",
                                  lineno=a.lineno, token=a.name)
    if a.in_key and (spec.codec or spec.core not in KEY_TYPES):
        raise DefinitionError(f"type {spec.render()} is not allowed in the primary key",
                              lineno=a.lineno, token=a.name)
    default = None
    if a.has_default and not a.nullable:
        default = backend.default_sql(spec, a.default)
    return Attribute(a.name, spec, a.in_key, a.nullable, default, a.comment, "", None,
                     a.autoincrement)


def label(attr: Attribute) -> str:
    """The column comment: ``:declared type:comment``."""
    return f":{attr.spec.render()}:{attr.comment}"


def column_definition(attr: Attribute, backend: Any) -> str:
    spec = attr.spec
    core_spec = TypeSpec(core=spec.core, args=spec.args) if spec.codec else spec
    sql_type = backend.column_type(core_spec)
    default = attr.default
    if attr.nullable and default is None:
        default = "NULL" if backend.explicit_null_default else None
    checks = backend.checks(attr.name, core_spec)
    return backend.column_sql(attr.name, sql_type, attr.nullable, default, label(attr), checks,
                              attr.autoincrement)


SELECTORS = ("default", "filepath_default")


def check_stores(attrs: list[Attribute], stores: Any, table: str = "") -> None:
    """Every store a column names must be configured; ``<x@>`` needs ``stores.default``
    (``<filepath@>``: ``stores.filepath_default`` or ``stores.default``)."""
    stores = stores or {}
    names = [k for k in stores if k not in SELECTORS]
    listing = ", ".join(repr(n) for n in names) or "none"
    for a in attrs:
        store = a.spec.store
        if store is None:
            continue
        if store == "":
            keys = ("filepath_default", "default") if a.spec.codec == "filepath" else ("default",)
            store = next((stores[k] for k in keys if stores.get(k)), None)
            if store is None:
                raise DefinitionError(
                    f"attribute {a.name!r} ({a.spec.render()}) uses the default store, but "
                    f"dj.config['stores'] sets no {' or '.join(keys)}; configured stores: "
                    f"{listing}", token=a.spec.render(), table=table or None)
        if store not in names:
            raise DefinitionError(
                f"attribute {a.name!r} ({a.spec.render()}) names store {store!r}, which is "
                f"not configured in dj.config['stores']; configured stores: {listing}",
                token=a.spec.render(), table=table or None)


def tracking_foreign_keys(schema: str, attrs: list[Attribute], backend: Any) -> list[str]:
    """DataJoint 0.x ``name@store`` columns reference their store's ``~external_<store>``."""
    from .storage.legacy import tracking_table
    q = backend.quote
    return [f"FOREIGN KEY ({q(a.name)}) REFERENCES "
            f"{backend.full_name(schema, tracking_table(a.spec.store))} ({q('hash')}) "
            "ON UPDATE RESTRICT ON DELETE RESTRICT"
            for a in attrs if a.spec.legacy and a.spec.store]


def index_name(table: str, columns: tuple, unique: bool) -> str:
    digest = hashlib.md5(("|".join(columns) + str(unique)).encode()).hexdigest()[:8]
    return f"{'u' if unique else 'i'}_{columns[0][:40]}_{digest}"


def ddl(schema: str, table: str, spec: TableSpec, fks: list[ResolvedFK],
        attrs: list[Attribute], backend: Any) -> list:
    """Statements creating the table: CREATE TABLE, indexes, comments."""
    pk = [a.name for a in attrs if a.in_key]
    columns = [column_definition(a, backend) for a in attrs]
    fk_sql, indexes = [], []
    for fk in fks:
        cols = ", ".join(backend.quote(c) for c, _ in fk.attrs)
        refs = ", ".join(backend.quote(p) for _, p in fk.attrs)
        fk_sql.append(f"FOREIGN KEY ({cols}) REFERENCES "
                      f"{backend.full_name(fk.parent.database, fk.parent.table_name)} ({refs}) "
                      "ON UPDATE CASCADE ON DELETE RESTRICT")
        child_cols = tuple(c for c, _ in fk.attrs)
        if "unique" in fk.decl.options:
            indexes.append((child_cols, True))
        elif not backend.indexes_foreign_keys and tuple(pk[: len(child_cols)]) != child_cols:
            indexes.append((child_cols, False))
    fk_sql += tracking_foreign_keys(schema, attrs, backend)
    if not backend.indexes_foreign_keys:
        indexes += [((a.name,), False) for a in attrs if a.spec.legacy and a.spec.store]
    names = {a.name for a in attrs}
    for idx in spec.indexes:
        for c in idx.columns:
            if c not in names:
                raise DefinitionError(f"index refers to unknown attribute {c!r}",
                                      line=idx.line or None, lineno=idx.lineno or None, token=c,
                                      table=table)
        indexes.append((tuple(idx.columns), idx.unique))
    index_sql = [backend.index_sql(schema, table, index_name(table, cols, u), list(cols), u)
                 for cols, u in dict.fromkeys(indexes)]
    stmts: list = backend.create_table_sql(schema, table, columns, pk, fk_sql, index_sql,
                                           spec.comment)
    stmts += backend.comment_statements(schema, table, spec.comment,
                                        {a.name: label(a) for a in attrs})
    return stmts
