"""What the table operations (insert, delete, alter, describe, populate) take: a table
reference. ``TableRef`` is the typed interface; ``BaseTable`` is a query over one base table
with its identity (no operations), ``NamedTable`` one addressed by name. ``table.Table`` adds
the operations on top, so the operation modules never import ``table``: arrows point down."""
from __future__ import annotations

from typing import Any, Protocol, TypeVar, runtime_checkable

from . import errors
from .algebra import nodes as n
from .catalog import load_heading
from .expression import QueryExpression
from .heading import Heading
from .naming import split_full_name


@runtime_checkable
class TableRef(Protocol):
    """A base table, possibly restricted: what an operation may read of a table."""

    definition: str
    database: str

    @property
    def connection(self) -> Any: ...

    @property
    def table_name(self) -> str: ...

    @property
    def full_table_name(self) -> str: ...

    @property
    def node_id(self) -> str: ...

    @property
    def heading(self) -> Heading: ...

    @property
    def primary_key(self) -> list[str]: ...

    @property
    def node(self) -> n.Node: ...

    @property
    def restricted(self) -> bool: ...

    def compile(self, **kwargs: Any) -> tuple[str, list]: ...

    def restrict(self, restriction: Any, semantic_check: bool = True) -> QueryExpression: ...

    def proj(self, *attributes: Any, **named: str) -> QueryExpression: ...

    def __and__(self, restriction: Any) -> QueryExpression: ...

    def _unrestricted(self) -> Any: ...


#: the class of a table a method returns a copy of (``typing.Self`` needs Python 3.11)
_Table = TypeVar("_Table", bound="BaseTable")


class BaseTable(QueryExpression):
    """A query over one base table: its identity (name, connection, heading) and restriction;
    the operations are added by ``table.Table``."""

    definition: str = ""
    # both set when a schema decorates the class; until then `connection` says so
    database: str = None  # type: ignore[assignment]
    _table_name: str = None  # type: ignore[assignment]

    # -- identity ---------------------------------------------------------------
    @property
    def table_name(self) -> str:
        return self._table_name

    @property
    def connection(self) -> Any:
        conn = getattr(self, "_connection", None)
        if conn is None:
            raise errors.JoinflowError(
                f"table class {type(self).__name__} is not properly configured: decorate it "
                "with an activated schema (@schema) before using it")
        return conn

    @property
    def class_name(self) -> str:
        return type(self).__name__

    @property
    def full_table_name(self) -> str:
        return self.connection.backend.full_name(self.database, self.table_name)

    @property
    def node_id(self) -> str:
        return f"{self.database}.{self.table_name}"

    @property
    def heading(self) -> Heading:
        if self._node is not None:
            return self._node.heading
        return load_heading(self.connection, self.database, self.table_name)

    @property
    def node(self) -> n.Node:
        if self._node is not None:
            return self._node
        return n.TableNode(self.database, self.table_name, self.heading)

    @property
    def restricted(self) -> bool:
        return self._node is not None and not isinstance(self._node, n.TableNode)

    @property
    def is_declared(self) -> bool:
        return self.table_name in self.connection.backend.list_tables(self.connection.run,
                                                                       self.database)

    def restrict(self: _Table, restriction: Any, semantic_check: bool = True) -> _Table:
        q = QueryExpression.restrict(self, restriction, semantic_check)
        copy = self.__class__.__new__(self.__class__)
        copy.__dict__.update(self.__dict__)
        copy._node = q.node
        return copy

    def _unrestricted(self) -> "BaseTable":
        copy = self.__class__.__new__(self.__class__)
        copy.__dict__.update(self.__dict__)
        copy._node = None
        return copy


class NamedTable(BaseTable):
    """A table addressed by ``schema.table`` (no class): what operations build for the
    tables a cascade or a key source reaches. ``table.FreeTable`` is this plus operations."""

    def __init__(self, conn: Any, full_table_name: str) -> None:
        schema, table = split_full_name(full_table_name)
        self._connection, self.database, self._table_name = conn, schema, table
        self._node = None


def free_table(conn: Any, full_table_name: str) -> NamedTable:
    """The table ``schema.table`` on ``conn``, for reading, restricting and deleting by SQL."""
    return NamedTable(conn, full_table_name)
