"""Declaration: a parsed ``TableSpec`` plus the resolved parent tables -> DDL statements.

Foreign-key references are resolved by walking dotted names in the declaration context (no
``eval``); ``.proj(new='old')`` renames were already parsed by the definition parser."""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

from .catalog import resolve_codec
from .codecs.base import register_from_context, registry
from .definition.parser import AttrDecl, ForeignKeyDecl, TableSpec
from .definition.types import KEY_TYPES, TypeSpec
from .errors import CodecError, DefinitionError
from .heading import Attribute
from .naming import split_full_name
from .tableref import BaseTable


@dataclass
class ResolvedFK:
    decl: ForeignKeyDecl
    parent: BaseTable          # the referenced table (a Table instance)
    attrs: list[tuple[str, str]]   # (child name, parent name) in parent's key order


def resolve_reference(ref: str, context: dict, decl: ForeignKeyDecl, table: str) -> Any:
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
    if isinstance(obj, type) and issubclass(obj, BaseTable):
        obj = obj()
    if not isinstance(obj, BaseTable):
        raise DefinitionError(f"foreign key reference {ref!r} is not a table", line=decl.line,
                              lineno=decl.lineno, token=ref, table=table)
    if not obj.is_declared:
        raise DefinitionError(f"referenced table {ref!r} is not declared yet", line=decl.line,
                              lineno=decl.lineno, token=ref, table=table)
    return obj


def resolve_fk(decl: ForeignKeyDecl, context: dict, table: str) -> ResolvedFK:
    parent = resolve_reference(decl.ref, context, decl, table)
    pk = parent.primary_key
    if not pk:
        raise DefinitionError(f"{decl.ref} is a singleton table (no primary key attributes): "
                              "it cannot be referenced by a foreign key", line=decl.line,
                              lineno=decl.lineno, token=decl.ref, table=table)
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
            raise DefinitionError(str(exc).split("\n")[0], lineno=a.lineno,
                                  token=a.type.render()) from None
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
    sql_type = backend.singleton_key_type() if attr.name == SINGLETON and attr.in_key else \
        backend.column_type(core_spec)
    default = attr.default
    if attr.nullable and default is None:
        default = "NULL" if backend.explicit_null_default else None
    checks = backend.checks(attr.name, core_spec)
    return backend.column_sql(attr.name, sql_type, attr.nullable, default, label(attr), checks,
                              attr.autoincrement)


SELECTORS = ("default", "filepath_default")

#: DataJoint 2.x's hidden per-row job record (``jobs.add_job_metadata``), named here without
#: the leading underscore that definitions do not allow
JOB_METADATA = """\
job_start_time = null : datetime(3) # when computation began
job_duration = null : float32 # computation duration in seconds
job_version = "" : varchar(64) # code version
"""


def job_metadata_attributes(table: str, config: Any, backend: Any) -> list[Attribute]:
    """The hidden ``_job_start_time``, ``_job_duration``, ``_job_version`` columns that a
    Computed or Imported table (not its parts) gets when ``jobs.add_job_metadata`` is set."""
    from .naming import master_of, split_tier
    if not config["jobs.add_job_metadata"] or master_of(table) is not None or \
            split_tier(table)[0] not in ("_", "__"):
        return []
    from .definition.parser import parse_definition
    spec = parse_definition("job_key : int8\n---\n" + JOB_METADATA, table=table)
    return [a.replace(name="_" + a.name) for a in build_attributes(spec, [], backend)[1:]]


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


#: the hidden primary key of a singleton table (a definition with nothing above ``---``), as
#: DataJoint 2.x declares it: one boolean column that always holds its default, so the table
#: holds at most one row; hidden (a leading underscore), so it is never fetched or inserted
SINGLETON = "_singleton"


def singleton_key(backend: Any) -> Attribute:
    spec = TypeSpec(core="bool")
    return Attribute(SINGLETON, spec, True, False, backend.default_sql(spec, True),
                     "singleton primary key")


def ddl(schema: str, table: str, spec: TableSpec, fks: list[ResolvedFK],
        attrs: list[Attribute], backend: Any) -> list:
    """Statements creating the table: CREATE TABLE, indexes, comments."""
    if not any(a.in_key for a in attrs):
        attrs = [*attrs, singleton_key(backend)]
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


# -- DataJoint's declare module names (``from datajoint.declare import declare``) ----------------
def _mysql_core_sql() -> dict[str, str | None]:
    from .backends.mysql import MySQLBackend
    return {core: (None if "{" in sql else sql) for core, sql in MySQLBackend.type_sql.items()
            if core != "binary"}


#: the MySQL type of each core type (None: it takes parameters, e.g. varchar(n))
CORE_TYPE_SQL: dict[str, str | None] = _mysql_core_sql()
#: the categories ``match_type`` gives core types and codecs
SPECIAL_TYPES: set[str] = {core.upper() for core in CORE_TYPE_SQL} | {"ENUM", "CODEC"}
_FAMILIES = {"float32": "FLOAT", "float64": "FLOAT", "decimal": "DECIMAL", "char": "STRING",
             "varchar": "STRING", "text": "STRING", "date": "TEMPORAL", "datetime": "TEMPORAL",
             "time": "TEMPORAL", "timestamp": "TEMPORAL", "bytes": "BLOB"}


def match_type(attribute_type: str) -> str:
    """The category of a declared type: a core type in capitals (``'FLOAT32'``, ``'VARCHAR'``),
    ``'CODEC'`` for ``<codec>`` types, and for a native SQL type its family (``'INTEGER'``,
    ``'FLOAT'``, ``'DECIMAL'``, ``'STRING'``, ``'TEMPORAL'``, ``'BLOB'``)."""
    from .definition.types import INTEGER_RANGES, parse_type
    spec = parse_type(attribute_type)
    if spec.codec:
        return "CODEC" if not spec.legacy else "BLOB"
    head = attribute_type.strip().lower().split("(")[0].strip()
    if head == spec.core:
        return spec.core.upper()
    return "INTEGER" if spec.core in INTEGER_RANGES else _FAMILIES.get(spec.core, spec.core.upper())


def declare(full_table_name: str, definition: str, context: dict,
            adapter: Any = None) -> tuple[str, list]:
    """The SQL that would create the table (nothing is run), as DataJoint's ``declare``: for
    comparing two definitions, e.g. ``declare(name, T.describe(), ...)[0]``. ``adapter`` is
    ``conn.adapter`` (the backend; default MySQL). Returns ``(sql, [])``."""
    from .backends.mysql import MySQLBackend
    from .definition.parser import parse_definition
    backend = adapter if adapter is not None else MySQLBackend()
    schema, table = split_full_name(full_table_name)
    spec = parse_definition(definition, table=table)
    fks = [resolve_fk(d, context, table) for d in spec.foreign_keys]
    attrs = build_attributes(spec, fks, backend, context)
    statements = ddl(schema, table, spec, fks, attrs, backend)
    text = [s if isinstance(s, str) else f"{s[0]} -- {list(s[1])!r}" for s in statements]
    at = [i for i, s in enumerate(text) if re.match(r"CREATE (UNIQUE )?INDEX", s)]
    for i, stmt in zip(at, sorted(text[i] for i in at)):  # index order is not part of a table
        text[i] = stmt
    return ";\n".join(text), []
