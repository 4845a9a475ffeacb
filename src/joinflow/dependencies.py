"""The dependency graph: tables as nodes, foreign keys as edges from parent to child.

``Dependencies`` is a ``networkx.MultiDiGraph`` over full table names (``backend.full_name``:
```lab`.`subject``` on MySQL, ``"lab"."subject"`` on PostgreSQL, ``"lab.subject"`` on SQLite),
as in DataJoint: two foreign keys from one child to the same parent are two parallel edges,
keyed by the child's columns. Edge data: ``attr_map`` (child column -> parent column),
``aliased`` (a column is renamed), ``fk`` (the ``ForeignKeyInfo``). Node data: ``schema``,
``table`` and ``node_id`` (``schema.table``, joinflow's internal name).

Shared by delete (cascade), drop, lineage, schema iteration and ``dj.Diagram``. Built from the
catalog, so it sees tables in every schema, including ones declared by other processes."""
from __future__ import annotations

from typing import Any, Iterable

import networkx as nx

from .backends.base import ForeignKeyInfo
from .naming import master_of

__all__ = ["Dependencies", "topo_sort", "node_id", "split_id", "unquote"]

TRACKING_PREFIX = "~external_"  # DataJoint 0.x external-storage tracking tables


def node_id(schema: str, table: str) -> str:
    return f"{schema}.{table}"


def split_id(node: str) -> tuple[str, str]:
    schema, _, table = node.partition(".")
    return schema, table


def unquote(full_name: str) -> tuple[str, str]:
    """(schema, table) of a full table name in any backend's quoting (or none)."""
    return split_id(full_name.replace("`", "").replace('"', ""))


def _group_of(name: str) -> str:
    """The master a part table belongs to (itself for a table that is not a part)."""
    schema, table = unquote(name)
    master = master_of(table)
    return node_id(schema, master) if master else node_id(schema, table)


def topo_sort(graph: nx.DiGraph) -> list:
    """The nodes of ``graph`` parents first, each part table right after its master (and its
    other parts), ties broken by name, so the order is the same on every run."""
    nodes = list(graph.nodes())
    plain = nx.DiGraph()  # a plain graph: a subclass (Diagram) may iterate differently
    plain.add_nodes_from(nodes)
    plain.add_edges_from(graph.edges())
    graph = plain
    groups: dict[str, list] = {}
    for x in nodes:
        groups.setdefault(_group_of(str(x)), []).append(x)
    collapsed = nx.DiGraph()
    collapsed.add_nodes_from(groups)
    collapsed.add_edges_from((_group_of(str(p)), _group_of(str(c))) for p, c in graph.edges()
                             if _group_of(str(p)) != _group_of(str(c)))
    if not nx.is_directed_acyclic_graph(collapsed):  # a part's descendant feeds its master
        return list(nx.lexicographical_topological_sort(graph, key=str))
    out: list = []
    for group in nx.lexicographical_topological_sort(collapsed):
        members = groups[group]
        if len(members) == 1:
            out.extend(members)
        else:
            out.extend(nx.lexicographical_topological_sort(graph.subgraph(members), key=str))
    return out


class Dependencies(nx.MultiDiGraph):
    """The foreign-key graph of every schema the connection's database server holds.

    ``Dependencies(conn)`` loads it; networkx calls ``Dependencies()`` (no connection) for
    copies and views, which are plain graphs."""

    def __init__(self, conn: Any = None, incoming_graph_data: Any = None, **attr: Any) -> None:
        super().__init__(incoming_graph_data, **attr)
        self.conn = conn
        self._loaded = False
        self._loaded_schemas: set[str] = set()
        self._fks: dict[str, list[ForeignKeyInfo]] = {}
        self._tracked: dict[str, list[ForeignKeyInfo]] = {}  # 0.x tracking table -> its users
        self._names: dict[str, str] = {}  # node_id -> full name
        if conn is not None:
            self.load()

    # -- loading ----------------------------------------------------------------------
    def load(self, force: bool = True) -> None:
        """Read every foreign key from the catalog (one query): the tables that take part in
        one are the nodes (``dj.Diagram`` adds a schema's other tables). ``force=False``
        keeps a graph already loaded."""
        if self._loaded and not force:
            return
        self.clear()
        self._fks, self._tracked, self._names = {}, {}, {}
        conn = self.conn
        schemas: set[str] = set(getattr(conn, "schemas", {}))
        for fk in conn.backend.foreign_keys(conn.run, None):
            if fk.parent_table.startswith(TRACKING_PREFIX):  # storage, not a dependency
                self._fks.setdefault(node_id(fk.child_schema, fk.child_table), []).append(fk)
                self._tracked.setdefault(node_id(fk.parent_schema, fk.parent_table), []).append(fk)
                continue
            parent = self._add_node(fk.parent_schema, fk.parent_table)
            child = self._add_node(fk.child_schema, fk.child_table)
            attr_map = dict(zip(fk.columns, fk.ref_columns))
            self.add_edge(parent, child, key=tuple(fk.columns), fk=fk, attr_map=attr_map,
                          aliased=any(c != p for c, p in attr_map.items()))
            self._fks.setdefault(node_id(fk.child_schema, fk.child_table), []).append(fk)
            schemas.update((fk.child_schema, fk.parent_schema))
        self._loaded, self._loaded_schemas = True, schemas

    def ensure(self, name: str) -> str:
        """Make the table ``name`` (a full name) a node, if no foreign key made it one."""
        if name not in self:
            schema, table = unquote(name)
            self._add_node(schema, table)
        return name

    def _add_node(self, schema: str, table: str) -> str:
        nid = node_id(schema, table)
        name = self._names.get(nid)
        if name is None:
            name = self._names[nid] = self.conn.backend.full_name(schema, table)
            self.add_node(name, schema=schema, table=table, node_id=nid)
        return name

    def load_all_downstream(self) -> None:
        """DataJoint's discovery of schemas below the loaded ones: joinflow's graph already
        spans every schema, so this loads only when nothing (or a new schema) is loaded."""
        self._load_if_new()

    def load_all_upstream(self) -> None:
        """The upstream mirror of ``load_all_downstream``."""
        self._load_if_new()

    def _load_if_new(self) -> None:
        known = set(getattr(self.conn, "schemas", {}))
        if self._loaded and known <= self._loaded_schemas:
            return
        self.load()

    # -- names ------------------------------------------------------------------------
    def full_name(self, node: str) -> str:
        """The full table name of a ``schema.table`` node id."""
        return self._names.get(node) or self.conn.backend.full_name(*split_id(node))

    def node_id_of(self, name: str) -> str:
        """``schema.table`` of a full table name (or of a node id)."""
        data = self.nodes.get(name)
        return data["node_id"] if data else node_id(*unquote(name))

    def _name(self, *args: str) -> str:
        return self.full_name(node_id(*args)) if len(args) == 2 else args[0]

    # -- foreign keys by schema and table (joinflow's operations) ----------------------
    def parent_fks(self, schema: str, table: str) -> list[ForeignKeyInfo]:
        """Foreign keys to parent tables; references to DataJoint 0.x tracking tables
        (``~external_<store>``, behind ``blob@store`` columns) are storage, not parents."""
        return [fk for fk in self._fks.get(node_id(schema, table), [])
                if not fk.parent_table.startswith(TRACKING_PREFIX)]

    def child_fks(self, schema: str, table: str) -> list[ForeignKeyInfo]:
        """Foreign keys referencing the table (for a 0.x tracking table: its users')."""
        name = self._names.get(node_id(schema, table))
        if name is None:
            return list(self._tracked.get(node_id(schema, table), []))
        return [d["fk"] for _, _, d in self.out_edges(name, data=True)]

    # -- DataJoint's accessors (full names) ---------------------------------------------
    def parents(self, table_name: str, primary: bool | None = None) -> dict[str, dict]:
        """Parent full name -> edge properties (the last edge where there are several)."""
        return {p: d for p, _, d in self.in_edges(table_name, data=True)
                if primary is None or self._is_primary(table_name, d) == primary}

    def children(self, table_name: str, primary: bool | None = None) -> dict[str, dict]:
        return {c: d for _, c, d in self.out_edges(table_name, data=True)
                if primary is None or self._is_primary(c, d) == primary}

    def _is_primary(self, child: str, data: dict) -> bool:
        from .catalog import load_heading
        heading = load_heading(self.conn, *split_id(self.nodes[child]["node_id"]))
        return all(heading[c].in_key for c in data["attr_map"] if c in heading)

    def descendants(self, *table: str) -> list[str]:
        """The table and all its descendants, parents first. Given ``full_name``: full
        names (DataJoint); given ``schema, table``: node ids (joinflow's operations)."""
        return self._related(nx.descendants, table)

    def ancestors(self, *table: str) -> list[str]:
        """The table and all its ancestors, parents first (same arguments as
        ``descendants``)."""
        return self._related(nx.ancestors, table)

    def _related(self, walk: Any, table: tuple[str, ...]) -> list[str]:
        name = self._name(*table)
        if name not in self:
            return [node_id(*table) if len(table) == 2 else name]
        ordered = topo_sort(self.subgraph(walk(self, name) | {name}))
        if len(table) == 2:
            return [self.nodes[x]["node_id"] for x in ordered]
        return ordered

    def topo_sort(self, nodes: Iterable[str]) -> list[str]:
        """Node ids (``schema.table``) in dependency order (parents first), ties broken by
        name; ids not in the graph go last."""
        nodes = list(nodes)
        present = [self._names[x] for x in nodes if x in self._names]
        ordered = [self.nodes[x]["node_id"] for x in topo_sort(self.subgraph(present))]
        return ordered + sorted(x for x in nodes if x not in self._names)
