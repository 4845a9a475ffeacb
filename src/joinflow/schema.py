"""Schema: binds table classes to a database schema, declares them, and introspects existing
schemas (``list_tables``, ``schema['Name']``, iteration, virtual schemas)."""
from __future__ import annotations

import inspect
import logging
import types
import warnings
from typing import Any, Iterator

from . import errors, lineage
from .connection import Connection, conn as default_conn
from .declare import build_attributes, check_stores, ddl, job_metadata_attributes, resolve_fk
from .definition.parser import parse_definition
from .delete import drop_tables
from .naming import master_of, to_camel, to_snake
from .prompt import confirm, should_prompt
from .table import FreeTable
from .user_tables import Lookup, Part, tier_of

log = logging.getLogger("joinflow")


def _caller_namespace(with_globals: bool = True) -> dict:
    """The namespace of the code that called the caller of this function (where a user's
    table classes live)."""
    frame = inspect.currentframe()
    caller = frame.f_back.f_back if frame is not None and frame.f_back is not None else None
    if caller is None:
        return {}
    return {**caller.f_globals, **caller.f_locals} if with_globals else caller.f_locals


class Schema:
    """``schema = dj.Schema('name')``; decorate table classes with ``@schema``."""

    def __init__(self, schema_name: str | None = None, context: dict | None = None, *,
                 connection: Connection | None = None, create_schema: bool = True,
                 create_tables: bool = True, add_objects: dict | None = None) -> None:
        self.database: str = None  # type: ignore[assignment]  # set by activate()
        self.context = context
        self.add_objects = add_objects or {}
        self.create_tables = create_tables
        self._connection = connection
        self._classes: dict[str, type] = {}
        self._pending: list[tuple[type, dict]] = []
        if schema_name is not None:
            self.activate(schema_name, connection=connection, create_schema=create_schema,
                          create_tables=create_tables)

    def activate(self, schema_name: str, *, connection: Connection | None = None,
                 create_schema: bool = True, create_tables: bool | None = None,
                 add_objects: dict | None = None) -> None:
        self.database = schema_name
        self._connection = connection or self._connection or default_conn()
        if create_tables is not None:
            self.create_tables = create_tables
        if add_objects:
            self.add_objects.update(add_objects)
        backend = self.connection.backend
        if not backend.schema_exists(self.connection.run, schema_name):
            if not create_schema:
                raise errors.MissingTableError(
                    f"schema {schema_name!r} does not exist; set create_schema=True to create it")
            backend.create_schema(self.connection.run, schema_name)
            lineage.create(self.connection, schema_name)
        self.connection.schemas[schema_name] = self
        pending, self._pending = self._pending, []
        for cls, context in pending:  # classes decorated before activation
            self._process(cls, context)

    # -- basics -----------------------------------------------------------------
    @property
    def connection(self) -> Connection:
        if self._connection is None:
            raise errors.JoinflowError("the schema must be activated first")
        return self._connection

    def is_activated(self) -> bool:
        """Whether the schema has been activated (given its database name), as DataJoint."""
        return self.database is not None and self._connection is not None

    @property
    def exists(self) -> bool:
        return self.database is not None and self.connection.backend.schema_exists(
            self.connection.run, self.database)

    def __repr__(self) -> str:  # DataJoint's form
        return f"Schema `{self.database}`\n"

    @property
    def size_on_disk(self) -> int | None:
        """Bytes all tables of the schema take (None where the database cannot tell)."""
        backend, run = self.connection.backend, self.connection.run
        sizes = [backend.table_size(run, self.database, t)
                 for t in backend.list_tables(run, self.database)]
        known = [s for s in sizes if s is not None]
        return None if len(known) < len(sizes) else sum(known)

    # -- decorator -------------------------------------------------------------------
    def __call__(self, cls: type, *, context: dict | None = None) -> type:
        if issubclass(cls, Part):
            raise errors.JoinflowError("the schema decorator should not be applied to Part tables")
        if context is None:
            context = self.context
        if context is None:
            context = _caller_namespace()
        if self.database is None:  # declared when the schema is activated
            self._pending.append((cls, context))
            return cls
        return self._process(cls, context)

    def _process(self, cls: Any, context: dict) -> type:
        context = {**context, **self.add_objects}
        self._bind(cls, cls.sql_name())
        self._declare(cls, {**context, "self": cls, cls.__name__: cls})  # `-> self.source`
        for _name, part in _parts(cls):
            part.master = cls
            self._bind(part, part.sql_name())
            self._declare(part, {**context, "master": cls, "self": part, cls.__name__: cls})
        if issubclass(cls, Lookup) and self.create_tables:
            self._load_contents(cls)
        return cls

    def _bind(self, cls: Any, table_name: str) -> None:
        cls._connection, cls.database, cls._table_name = self.connection, self.database, table_name
        self._classes[table_name] = cls
        _document(cls)

    def _declare(self, cls: Any, context: dict) -> None:
        table = cls()
        if table.is_declared or not self.create_tables:
            return
        if not isinstance(getattr(cls, "definition", None), str) or not cls.definition.strip():
            raise errors.MissingDefinitionError(
                f"table class {cls.__name__} has no `definition` (a string declaring its "
                "attributes); it is needed to declare the table", table=cls.__name__)
        if self.connection.in_transaction:
            raise errors.JoinflowError("cannot declare new tables inside a transaction, e.g. "
                                       "from inside a populate/make call")
        declare_table(self.connection, self.database, cls._table_name, cls.definition, context,
                      cls.__name__)

    def _load_contents(self, cls: type) -> None:
        """Insert a Lookup's ``contents``: a list or tuple of rows, a property or a method
        returning or yielding them."""
        table = cls()
        contents = table.contents  # on an instance, so a @property works
        contents = list((contents() if callable(contents) else contents) or ())
        if contents and len(table) < len(contents):
            with warnings.catch_warnings():  # rows in heading order are how contents are written
                warnings.simplefilter("ignore", DeprecationWarning)
                table.insert(contents, skip_duplicates=True)

    @property
    def jobs(self) -> list:
        """The jobs tables of the schema's auto-populated tables (see ``pipeline.jobs``)."""
        from .pipeline.jobs import schema_jobs
        return schema_jobs(self)

    @property
    def external(self) -> Any:
        """DataJoint 0.x external storage: store name -> its ``~external_<store>`` table."""
        if "_external" not in self.__dict__:
            from .storage.external import ExternalMapping
            self.__dict__["_external"] = ExternalMapping(self)
        return self.__dict__["_external"]

    # -- introspection -----------------------------------------------------------------
    def list_tables(self) -> list[str]:
        """SQL names of the tables, in dependency order (parents first)."""
        backend = self.connection.backend
        names = [t for t in backend.list_tables(self.connection.run, self.database)
                 if not t.startswith("~")]
        self.connection._graph_cache = None
        nodes = self.connection.dependencies.topo_sort([f"{self.database}.{t}" for t in names])
        return [x.split(".", 1)[1] for x in nodes]

    def _resolve_name(self, name: str) -> str:
        tables = self.list_tables()
        if name in tables:
            return name
        for t in tables:
            bare = tier_of(t)[1]
            if bare == name:  # the snake_case name without its tier prefix
                return t
            parts = bare.split("__")
            if to_camel(bare) == name or to_camel(parts[-1]) == name.split(".")[-1] and \
                    len(parts) > 1 and to_camel(parts[0]) == name.split(".")[0]:
                return t
            try:
                if bare == to_snake(name):
                    return t
            except errors.DefinitionError:
                pass
        raise errors.MissingTableError(f"table {name!r} does not exist in schema {self.database!r}")

    def get_table(self, name: str) -> FreeTable:
        return FreeTable(self.connection, f"{self.database}.{self._resolve_name(name)}")

    __getitem__ = get_table

    def __contains__(self, name: str) -> bool:
        try:
            self._resolve_name(name)
            return True
        except errors.MissingTableError:
            return False

    def __iter__(self) -> Iterator[FreeTable]:
        return iter(FreeTable(self.connection, f"{self.database}.{t}") for t in self.list_tables())

    # -- lineage (DataJoint 2.x's ~lineage table) -----------------------------------------
    @property
    def lineage_table_exists(self) -> bool:
        return lineage.exists(self.connection, self.database)

    @property
    def lineage(self) -> dict[str, str]:
        """``'schema.table.attribute' -> its origin`` for every table of the schema."""
        from .catalog import load_heading
        return {f"{self.database}.{t}.{a.name}": a.lineage for t in self.list_tables()
                for a in load_heading(self.connection, self.database, t).values() if a.lineage}

    def rebuild_lineage(self) -> None:
        """Create (if needed) and refill the ``~lineage`` table from the foreign keys."""
        lineage.create(self.connection, self.database)
        for t in self.list_tables():
            lineage.record(self.connection, self.database, t)

    # -- drop ------------------------------------------------------------------------------
    def drop(self, prompt: bool | None = None, force: bool = False) -> None:
        """Drop every table of the schema and the schema itself."""
        if self.connection.backend.is_system_schema(self.database):
            raise errors.AccessError(f"{self.database!r} is a system schema of the database "
                                     "server: joinflow does not drop it")
        if not self.exists:
            log.info("schema %s does not exist", self.database)
            return
        if prompt is None:
            prompt = False if force else None
        if should_prompt(prompt, self.connection.config) and \
                not confirm(f"Proceed to delete entire schema {self.database!r}?"):
            return
        tables = self.list_tables()
        drop_tables(self.connection, [f"{self.database}.{t}" for t in reversed(tables)])
        backend = self.connection.backend
        hidden = [t for t in backend.list_tables(self.connection.run, self.database)
                  if t.startswith("~")]
        drop_tables(self.connection, [f"{self.database}.{t}" for t in hidden])
        backend.drop_schema(self.connection.run, self.database)
        self.connection.invalidate()

    # -- classes for existing tables ------------------------------------------------------------
    def spawn_missing_classes(self, context: dict | None = None) -> dict[str, type]:
        """Create table classes for tables that have none; Parts nest in their masters."""
        if context is None:
            context = _caller_namespace(with_globals=False)
        made = self._make_classes()
        for name, cls in made.items():
            context.setdefault(name, cls)
        return made

    def make_classes(self, into: Any = None) -> dict[str, type]:
        """Classes for the schema's tables (Parts nested in masters), returned and set on
        ``into`` (a dict or a module-like object) where it has no such name yet. Without
        ``into``: the schema's ``context``, or else the caller's namespace (as DataJoint)."""
        if into is None:
            into = self.context if self.context is not None else \
                _caller_namespace(with_globals=False)
        out = self._make_classes()
        for name, cls in out.items():
            if isinstance(into, dict):
                into.setdefault(name, cls)
            elif into is not None and not hasattr(into, name):
                setattr(into, name, cls)
        return out

    def _make_classes(self) -> dict[str, type]:
        out: dict[str, type] = {}
        tables = self.list_tables()
        for t in tables:
            if master_of(t) is None:
                tier, bare = tier_of(t)
                out[to_camel(bare)] = self._class_for(t, tier, to_camel(bare))
        for t in tables:
            master = master_of(t)
            if master is not None and master in self._classes:
                part_name = to_camel(t[len(master) + 2:])
                cls = self._class_for(t, Part, part_name)
                cls.master = self._classes[master]
                setattr(self._classes[master], part_name, cls)
        return out

    def _class_for(self, table_name: str, tier: type, name: str) -> Any:
        if table_name in self._classes:
            return self._classes[table_name]
        from .describe import describe
        cls: Any = types.new_class(name, (tier,), {})
        self._bind(cls, table_name)
        cls.definition = describe(cls(), None)
        return cls


_DEFINITION_HEADER = "\nTable definition:\n\n"


def _document(cls: type) -> None:
    """Append the definition to the class docstring (``help(Table)`` shows it, as in
    DataJoint), once."""
    definition = cls.__dict__.get("definition")
    doc = cls.__dict__.get("__doc__") or ""
    if isinstance(definition, str) and definition.strip() and _DEFINITION_HEADER not in doc:
        cls.__doc__ = doc + _DEFINITION_HEADER + definition


def _parts(cls: type) -> list[tuple[str, Any]]:
    out = []
    for name in dir(cls):
        if name.startswith("_") or name in ("master",):
            continue
        try:
            attr = type.__getattribute__(cls, name)
        except AttributeError:
            continue
        if isinstance(attr, type) and issubclass(attr, Part) and attr is not Part and \
                name[0].isupper():
            out.append((name, attr))
    # in the order the class bodies define them (bases first), so that a part may reference
    # a part defined above it (``-> master.H``)
    order: dict[str, int] = {}
    for klass in reversed(cls.__mro__):
        for name in vars(klass):
            order.setdefault(name, len(order))
    return sorted(out, key=lambda item: order.get(item[0], len(order)))


MAX_TABLE_NAME = {"postgresql": 63}  # bytes; MySQL and the others: 64 characters


def declare_table(conn: Connection, schema: str, table: str, definition: str, context: dict,
                  class_name: str = "") -> None:
    limit = MAX_TABLE_NAME.get(conn.backend.name, 64)
    if len(table.encode()) > limit:
        raise errors.DefinitionError(f"table name {table!r} is too long: {len(table)} characters "
                                     f"(at most {limit} on {conn.backend.name})",
                                     table=class_name or table)
    spec = parse_definition(definition, table=class_name or table)
    fks = [resolve_fk(d, context, class_name or table) for d in spec.foreign_keys]
    backend = conn.backend
    attrs = build_attributes(spec, fks, backend, context)
    attrs += job_metadata_attributes(table, conn.config, backend)
    check_stores(attrs, conn.config["stores"], class_name or table)
    statements = ddl(schema, table, spec, fks, attrs, backend)
    _create_tracking_tables(conn, schema, attrs)
    try:
        conn.execute_script(statements)
    except errors.JoinflowError:
        if table in backend.list_tables(conn.run, schema):
            drop_tables(conn, [f"{schema}.{table}"])
        raise
    finally:
        conn.invalidate()
    try:
        lineage.record(conn, schema, table)
    except errors.JoinflowError as exc:  # the table stands; DataJoint interop only is affected
        log.warning("could not record the lineage of %s: %s", table, exc)


def _create_tracking_tables(conn: Connection, schema: str, attrs: list) -> None:
    """DataJoint 0.x ``name@store`` columns need their stores' ``~external_*`` tables first."""
    if any(a.spec.legacy and a.spec.store for a in attrs):
        from .storage.external import ensure_tracking_table, legacy_stores
        for store in legacy_stores(attrs):
            ensure_tracking_table(conn, schema, store)


class VirtualModule(types.ModuleType):
    """A module-like object with a class for each table of an existing schema."""

    def __init__(self, module_name: str, schema_name: str, *, create_schema: bool = False,
                 create_tables: bool = False, connection: Connection | None = None,
                 add_objects: dict | None = None) -> None:
        super().__init__(module_name)
        schema = Schema(schema_name, connection=connection, create_schema=create_schema,
                        create_tables=create_tables)
        self.schema = schema
        for name, cls in schema.make_classes().items():
            setattr(self, name, cls)
        for name, obj in (add_objects or {}).items():
            setattr(self, name, obj)

    def __repr__(self) -> str:
        return f"<virtual module {self.__name__} for schema {self.schema.database!r}>"


def virtual_schema(schema_name: str, *, connection: Connection | None = None,
                   create_schema: bool = False, create_tables: bool = False,
                   add_objects: dict | None = None) -> VirtualModule:
    return VirtualModule(schema_name, schema_name, connection=connection,
                         create_schema=create_schema, create_tables=create_tables,
                         add_objects=add_objects)


def create_virtual_module(module_name: str, schema_name: str, **kwargs: Any) -> VirtualModule:
    return VirtualModule(module_name, schema_name, **kwargs)


def list_schemas(connection: Connection | None = None) -> list[str]:
    conn = connection or default_conn()
    return conn.backend.list_schemas(conn.run)
