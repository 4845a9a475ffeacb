"""The dependency graph: tables as nodes (``schema.table``), foreign keys as edges from parent
to child. Shared by delete (cascade), drop, lineage, schema iteration and diagrams. Built from
the catalog, so it sees tables in every schema, including ones declared by other processes."""
from __future__ import annotations

from typing import Any

import networkx as nx

from .backends.base import ForeignKeyInfo

TRACKING_PREFIX = "~external_"  # DataJoint 0.x external-storage tracking tables


def node_id(schema: str, table: str) -> str:
    return f"{schema}.{table}"


def split_id(node: str) -> tuple[str, str]:
    schema, _, table = node.partition(".")
    return schema, table


class Dependencies:
    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.graph = nx.MultiDiGraph()
        self.load()

    def load(self) -> None:
        fks = self.conn.backend.foreign_keys(self.conn.run, None)
        self._fks: dict[str, list[ForeignKeyInfo]] = {}
        for fk in fks:
            parent, child = node_id(fk.parent_schema, fk.parent_table), node_id(fk.child_schema,
                                                                                 fk.child_table)
            self.graph.add_edge(parent, child, fk=fk)
            self._fks.setdefault(child, []).append(fk)

    def parent_fks(self, schema: str, table: str) -> list[ForeignKeyInfo]:
        """Foreign keys to parent tables; references to DataJoint 0.x tracking tables
        (``~external_<store>``, behind ``blob@store`` columns) are storage, not parents."""
        return [fk for fk in self._fks.get(node_id(schema, table), [])
                if not fk.parent_table.startswith(TRACKING_PREFIX)]

    def child_fks(self, schema: str, table: str) -> list[ForeignKeyInfo]:
        node = node_id(schema, table)
        if node not in self.graph:
            return []
        return [d["fk"] for _, _, d in self.graph.out_edges(node, data=True)]

    def descendants(self, schema: str, table: str) -> list[str]:
        """All descendants, topologically sorted (the table itself first)."""
        node = node_id(schema, table)
        if node not in self.graph:
            return [node]
        sub = self.graph.subgraph(nx.descendants(self.graph, node) | {node})
        return list(nx.lexicographical_topological_sort(sub))

    def ancestors(self, schema: str, table: str) -> list[str]:
        node = node_id(schema, table)
        if node not in self.graph:
            return [node]
        sub = self.graph.subgraph(nx.ancestors(self.graph, node) | {node})
        return list(nx.lexicographical_topological_sort(sub))

    def topo_sort(self, nodes: list[str]) -> list[str]:
        """``nodes`` in dependency order (parents first), ties broken by name."""
        present = [x for x in nodes if x in self.graph]
        sub = self.graph.subgraph(present)
        ordered = list(nx.lexicographical_topological_sort(sub))
        return ordered + sorted(x for x in nodes if x not in self.graph)
