"""``self.upstream`` inside ``make``: each ancestor of the table restricted to the rows the key
being made comes from (DataJoint 2.3's upstream trace).

The restriction walks the foreign-key graph (``conn.dependencies``) upward: a parent reached by
a foreign key whose columns the key holds is restricted by the key's values (under the
parent's names); a table further up is restricted by the semijoin with each traced child
that references it (a row is upstream if any traced row refers to it). This is a small
stand-in for the Diagram restriction engine's ``trace``, and goes away when that lands.
"""
from __future__ import annotations

from typing import Any

from .. import errors
from ..dependencies import node_id
from ..naming import split_full_name


class Upstream:
    """``self.upstream[Table]``: ``Table`` restricted to the current key's upstream rows."""

    def __init__(self, table: Any, key: dict) -> None:
        conn = table.connection
        self._conn, self._key = conn, dict(key)
        self._node = node_id(table.database, table.table_name)
        self._deps = conn.dependencies
        self.nodes = [n for n in self._deps.ancestors(table.database, table.table_name)
                      if n != self._node]
        self._cache: dict[str, Any] = {}

    def __contains__(self, item: Any) -> bool:
        return _node_of(item) in self.nodes

    def __getitem__(self, item: Any) -> Any:
        node = _node_of(item)
        if node not in self.nodes:
            raise errors.JoinflowError(f"{node} is not upstream of {self._node}: it is not in "
                                       "this trace")
        return self._restricted(node)

    def __repr__(self) -> str:
        return f"Upstream({self._node}, {self._key!r}: {', '.join(self.nodes)})"

    def _restricted(self, node: str) -> Any:
        if node in self._cache:
            return self._cache[node]
        from ..table import FreeTable
        table = FreeTable(self._conn, node)
        conditions = []
        for fk in self._deps.child_fks(*split_full_name(node)):
            child = node_id(fk.child_schema, fk.child_table)
            if child == self._node:
                if all(c in self._key for c in fk.columns):
                    conditions.append({r: self._key[c]
                                       for c, r in zip(fk.columns, fk.ref_columns)})
            elif child in self.nodes:
                same = [c for c, r in zip(fk.columns, fk.ref_columns) if c == r]
                renamed = {r: c for c, r in zip(fk.columns, fk.ref_columns) if c != r}
                conditions.append(self._restricted(child).proj(*same, **renamed))
        if len(conditions) == 1:
            result = table.restrict(conditions[0], semantic_check=False)
        else:  # reached along several paths (or none): any of them
            result = table.restrict(conditions, semantic_check=False)
        self._cache[node] = result
        return result


def _node_of(item: Any) -> str:
    """``schema.table`` of a table class, instance or (quoted) full table name."""
    if isinstance(item, str):
        return node_id(*split_full_name(item))
    database, name = getattr(item, "database", None), getattr(item, "table_name", None)
    if not isinstance(database, str) or not isinstance(name, str):
        raise errors.JoinflowError(f"self.upstream[...] takes a table, not {item!r}")
    return node_id(database, name)
