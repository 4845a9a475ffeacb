"""A minimal ``dj.Diagram``: the dependency graph of schemas or tables, as text.

Graphical rendering (with or without graphviz) comes with the pipelines work; until then a
Diagram supports DataJoint's set operations (``+``, ``-``, ``+ n`` for descendants) and shows
its tables in dependency order with their parents."""
from __future__ import annotations

from typing import Any


class Diagram:
    def __init__(self, source: Any, context: Any = None) -> None:
        from .schema import Schema
        if isinstance(source, Diagram):
            self.conn, self.nodes = source.conn, set(source.nodes)
            return
        if isinstance(source, Schema):
            self.conn = source.connection
            self.nodes = {f"{source.database}.{t}" for t in source.list_tables()}
            return
        table = source() if isinstance(source, type) else source
        self.conn, self.nodes = table.connection, {table.node_id}

    def _copy(self, nodes: set[str]) -> "Diagram":
        out = Diagram.__new__(Diagram)
        out.conn, out.nodes = self.conn, nodes
        return out

    def __add__(self, other: Any) -> "Diagram":
        if isinstance(other, int):  # expand by descendants, `other` generations
            graph, nodes = self.conn.dependencies.graph, set(self.nodes)
            for _ in range(other):
                nodes |= {c for n in nodes if n in graph for c in graph.successors(n)}
            return self._copy(nodes)
        return self._copy(self.nodes | Diagram(other).nodes)

    def __sub__(self, other: Any) -> "Diagram":
        if isinstance(other, int):  # expand by ancestors
            graph, nodes = self.conn.dependencies.graph, set(self.nodes)
            for _ in range(other):
                nodes |= {p for n in nodes if n in graph for p in graph.predecessors(n)}
            return self._copy(nodes)
        return self._copy(self.nodes - Diagram(other).nodes)

    def topo_sort(self) -> list[str]:
        return self.conn.dependencies.topo_sort(sorted(self.nodes))

    def __repr__(self) -> str:
        graph = self.conn.dependencies.graph
        lines = []
        for node in self.topo_sort():
            parents = sorted(p for p in graph.predecessors(node) if p in self.nodes) \
                if node in graph else []
            lines.append(node + (f"  <- {', '.join(parents)}" if parents else ""))
        return "\n".join(lines)

    def draw(self) -> None:
        print(repr(self))

    def cascade(self, query: Any) -> "Cascade":
        """What deleting ``query`` would take with it (DataJoint 2.2)."""
        return Cascade(query)


class Cascade:
    """``dj.Diagram(schema).cascade(expr)``: ``preview()``/``counts()`` give the rows per table
    a delete would remove; nothing is deleted."""

    def __init__(self, query: Any) -> None:
        self.query = query() if isinstance(query, type) else query

    def counts(self) -> dict[str, int]:
        return self.query.delete(dry_run=True)

    preview = counts


ERD = Di = Diagram
