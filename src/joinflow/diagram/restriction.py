"""The restriction engine: restrictions carried along the foreign-key graph.

One engine serves ``Table.delete`` (and its dry run), ``dj.Diagram.cascade`` / ``restrict`` /
``trace`` and ``self.upstream`` in ``make``. A ``Restrictor`` holds, per table (full name), the
*contributions* that restrict it, each keyed by where it came from (the seed, a foreign-key
edge, a part lifting its master), so revisiting a table replaces its old contribution:

- ``cascade`` (downstream, OR): a child row is affected when it references an affected parent
  row through *any* foreign key. Each edge restricts the child by the parent's rows projected
  onto the foreign key (renamed columns renamed back), so renamed and parallel foreign keys
  (two references to one parent) restrict exactly, and a NULL foreign key references nothing.
- ``restrict`` (downstream, AND): a child row is kept when it matches *every* restricted
  parent (DataJoint's export semantics).
- ``trace`` (upstream, OR): the parent rows the seed's rows reference, through any path.

``part_integrity='cascade'`` lifts every restricted part to its master (through intermediate
parts and renamed keys), and the master then cascades down to all its parts.

A caller may *fix* each table's rows as soon as its restriction is complete (``fix``): delete
copies the keys into temporary tables, so the SQL stays flat at any depth and every key is
known before anything is deleted; children are then restricted by the key table."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable

import networkx as nx

from .. import errors
from ..algebra import nodes as n
from ..algebra.sqlfrag import referenced_columns
from ..condition import make_condition
from ..dependencies import topo_sort, unquote
from ..expression import QueryExpression, U
from ..naming import master_of
from ..tableref import BaseTable, free_table

__all__ = ["Restrictor", "PART_INTEGRITY", "check_part_integrity", "Fixed"]

PART_INTEGRITY = ("enforce", "ignore", "cascade")

#: what a ``fix`` callback returns: the restricted table, a query of its keys (what children
#: are restricted by) and the number of rows
Fix = Callable[[str, QueryExpression], "Fixed"]


@dataclass
class Fixed:
    table: QueryExpression
    keys: QueryExpression
    count: int


def check_part_integrity(value: str, allowed: tuple[str, ...] = PART_INTEGRITY) -> None:
    if value not in allowed:
        raise ValueError("part_integrity must be " + ", ".join(repr(a) for a in allowed[:-1])
                         + f" or {allowed[-1]!r}, got {value!r}")


def master_name(graph: Any, name: str) -> str | None:
    """The full name of the master of a part table (None for other tables). The master is
    an ancestor: a parent, or reached through the part's other parts."""
    schema, table = unquote(name)
    master = master_of(table)
    if master is None or name not in graph:
        return None
    seen, frontier = {name}, [name]
    while frontier:
        node = frontier.pop()
        for parent in graph.predecessors(node):
            if parent in seen:
                continue
            p_schema, p_table = unquote(parent)
            if p_schema == schema and p_table == master:
                return parent
            seen.add(parent)
            if p_schema == schema and master_of(p_table) == master:
                frontier.append(parent)  # another part of the same master
    return None


class Restrictor:
    """Contributions per table and how to combine them (see the module's docstring)."""

    def __init__(self, conn: Any, graph: nx.MultiDiGraph, mode: str) -> None:
        self.conn, self.graph, self.mode = conn, graph, mode
        self.contrib: dict[str, dict[Any, Any]] = {}
        self.fixed: dict[str, Fixed] = {}
        self._keys: dict[str, set[str]] = {}
        self.lifted = False  # a part lifted its master (part_integrity='cascade')

    # -- the restricted tables ------------------------------------------------------
    def table(self, name: str) -> Any:
        """``name`` restricted by its contributions (OR for cascade/trace, AND for restrict):
        a ``NamedTable`` (a ``TableRef``)."""
        if name in self.fixed:
            return self.fixed[name].table
        base: Any = free_table(self.conn, name)
        conds = list(self.contrib.get(name, {}).values())
        if not conds:
            return base
        if len(conds) == 1 and _is_table(conds[0], name):
            base._node = conds[0].node
            return base
        nodes = [c.cond if isinstance(c, Copied) else
                 make_condition(_as_cond(c, name), base.heading, False) for c in conds]
        if len(nodes) == 1:
            cond = nodes[0]
        else:
            cond = n.AndCond(tuple(nodes)) if self.mode == "restrict" else n.OrCond(tuple(nodes))
        base._node = n.Restrict(base.node, cond)
        return base

    def copied(self, name: str) -> "Copied | None":
        """``name``'s restriction as conditions on its own attributes that read no table
        (the seed's, or copied from parents), or None."""
        parts = []
        for c in self.contrib.get(name, {}).values():
            part = c if isinstance(c, Copied) else _copyable(c, name)
            if part is None:
                return None
            parts.append(part)
        if len(parts) == 1:
            return parts[0]
        combine = n.AndCond if self.mode == "restrict" else n.OrCond
        return Copied(combine(tuple(p.cond for p in parts)),
                      frozenset().union(*(p.attrs for p in parts)))

    def _key_of(self, name: str) -> set[str]:
        key = self._keys.get(name)
        if key is None:
            key = self._keys[name] = set(free_table(self.conn, name).primary_key)
        return key

    def source(self, name: str) -> QueryExpression:
        """What ``name``'s neighbours are restricted by: its key table when fixed."""
        return self.fixed[name].keys if name in self.fixed else self.table(name)

    def restricted(self) -> list[str]:
        return [x for x in topo_sort(self.graph.subgraph(self.contrib))]

    # -- seeds ------------------------------------------------------------------------
    def seed(self, name: str, expr: Any, key: Any = "seed") -> None:
        self.contrib.setdefault(name, {})[key] = expr

    # -- downstream -------------------------------------------------------------------
    def down(self, starts: Iterable[str], part_integrity: str = "ignore",
             fix: Fix | None = None, skip_empty: bool = False) -> None:
        """Carry the restrictions of ``starts`` to every descendant, parents first, until
        nothing changes (a lifted master sends a second wave down)."""
        graph = self.graph
        dirty = set(starts)
        lifted_pairs: set[tuple[str, str]] = set()
        scope = set(dirty)
        for s in dirty:
            scope |= nx.descendants(graph, s)
        while dirty:
            order = topo_sort(graph.subgraph(scope))
            for node in order:
                if node not in dirty:
                    continue
                dirty.discard(node)
                copy = self.copied(node)
                if fix is not None:
                    self.fixed.pop(node, None)
                    if copy is None:
                        self.fixed[node] = fix(node, self.table(node))
                    else:  # reads no table: its rows are fixed already
                        table = self.table(node)
                        self.fixed[node] = Fixed(table, table, len(table))
                    if skip_empty and not self.fixed[node].count:
                        self._withdraw(node, dirty)
                        continue
                src = self.source(node)
                for _, child, ekey, data in graph.out_edges(node, keys=True, data=True):
                    attr_map = data["attr_map"]
                    if copy is not None and not data["aliased"] and \
                            copy.attrs <= set(attr_map) <= self._key_of(child):
                        item: Any = copy  # the same rows: a child's key holds the columns
                    else:
                        item = _down(src, attr_map)
                    self.contrib.setdefault(child, {})[(node, ekey)] = item
                    dirty.add(child)
                if part_integrity == "cascade":
                    master = master_name(graph, node)
                    if master is not None and (node, master) not in lifted_pairs:
                        lifted_pairs.add((node, master))
                        self._lift(node, master, literal=fix is None)
                        dirty.add(master)
                        scope |= {master} | nx.descendants(graph, master)
            # a dirty node left is one the order passed already (a master): go again

    def _withdraw(self, node: str, dirty: set[str]) -> None:
        """An empty table restricts nothing below it: drop what it contributed."""
        for _, child, ekey in self.graph.out_edges(node, keys=True):
            if self.contrib.get(child, {}).pop((node, ekey), None) is not None:
                if not self.contrib[child]:
                    del self.contrib[child]
                    self.fixed.pop(child, None)
                dirty.add(child)
        dirty.difference_update(x for x in list(dirty) if x not in self.contrib)

    def _lift(self, part: str, master: str, literal: bool) -> None:
        """Restrict ``master`` to the masters of ``part``'s restricted rows, walking up the
        foreign keys from the part (through intermediate parts) to the master. ``literal``:
        as the master keys' values, read now (the query would nest the part's restriction
        under every table below the master, too deep for SQLite's parser)."""
        try:
            path = nx.shortest_path(self.graph, master, part)
        except nx.NetworkXNoPath:  # pragma: no cover - a part always references its master
            return
        query = self.source(part)
        for child, parent in zip(reversed(path), list(reversed(path))[1:]):
            data = next(iter(self.graph.get_edge_data(parent, child).values()))
            keys = _up(query, data["attr_map"])
            query = keys if parent == master else \
                free_table(self.conn, parent).restrict(keys, semantic_check=False)
        self.contrib.setdefault(master, {})[("lift", part)] = (
            query.to_dicts() if literal else query)
        self.lifted = True

    # -- upstream ---------------------------------------------------------------------
    def up(self, start: str, key: dict | None = None) -> None:
        """Carry ``start``'s restriction to every ancestor (OR over paths). With ``key`` (a
        dict of attribute values), an edge whose foreign-key columns the key names passes
        the values on instead of the rows: the ancestors of a row not inserted yet."""
        graph = self.graph
        scope = nx.ancestors(graph, start) | {start}
        # per table: the key values restricting it, or None where rows restrict it
        values: dict[str, list[dict] | None] = {start: [key] if key is not None else None}
        for node in reversed(topo_sort(graph.subgraph(scope))):
            if node not in self.contrib:
                continue
            vals = values.get(node)
            for parent, _, ekey, data in graph.in_edges(node, keys=True, data=True):
                attr_map = data["attr_map"]
                if vals is not None and all(c in v for v in vals for c in attr_map):
                    carried = [{p: v[c] for c, p in attr_map.items()} for v in vals]
                    self.contrib.setdefault(parent, {})[(node, ekey)] = carried
                    if parent not in values:
                        values[parent] = []
                    if values[parent] is not None:
                        values[parent].extend(carried)  # type: ignore[union-attr]
                else:
                    self.contrib.setdefault(parent, {})[(node, ekey)] = _up(self.table(node),
                                                                             attr_map)
                    values[parent] = None

    # -- counting -----------------------------------------------------------------------
    def counts(self, names: Iterable[str]) -> dict[str, int]:
        """Rows per table: fixed tables' counts, the others in one statement."""
        names = list(names)
        out = {x: self.fixed[x].count for x in names if x in self.fixed}
        rest = [x for x in names if x not in out]
        if rest:
            selects, params = [], []
            for x in rest:
                sql, ps = self.table(x).compile(count=True)
                selects.append(f"({sql})")
                params += ps
            try:
                row = self.conn.query("SELECT " + ", ".join(selects), params)[0]
            except errors.JoinflowError:  # too deep for one statement (SQLite's parser)
                row = [len(self.table(x)) for x in rest]
            out.update({x: int(c) for x, c in zip(rest, row)})
        return {x: out[x] for x in names}


@dataclass(frozen=True)
class Copied:
    """A restriction that reads no table, on attributes a child's foreign key carries unchanged
    into its primary key: it selects exactly the child rows that reference the parent rows it
    selects, so it is copied instead of a subquery (DataJoint's first propagation rule)."""

    cond: n.Cond
    attrs: frozenset


def _copyable(expr: Any, name: str) -> Copied | None:
    """The user's restriction of the seed table ``name`` as a ``Copied``, where it is made of
    conditions on the table's own attributes that read no table."""
    if not _is_table(expr, name):
        return None
    node, conds = expr.node, []
    while isinstance(node, n.Restrict):
        conds.append(node.cond)
        node = node.child
    if not isinstance(node, n.TableNode):
        return None  # a Top, a projection: restrict by its keys
    attrs: set[str] = set()
    for c in conds:
        found = _cond_attrs(c)
        if found is None:
            return None
        attrs |= found
    if not conds:
        return Copied(n.TrueCond(), frozenset())
    return Copied(conds[0] if len(conds) == 1 else n.AndCond(tuple(reversed(conds))),
                  frozenset(attrs))


def _cond_attrs(cond: n.Cond) -> set[str] | None:
    """The attributes a condition reads, or None if it reads a table (or cannot tell)."""
    if isinstance(cond, (n.TrueCond, n.FalseCond)):
        return set()
    if isinstance(cond, n.EqCond):
        return {item[0] for item in cond.items}
    if isinstance(cond, n.JsonPathCond):
        return {cond.attr}
    if isinstance(cond, n.SqlCond):
        if "select" in cond.text.lower():
            return None
        return referenced_columns(cond.text)
    if isinstance(cond, n.NotCond):
        return _cond_attrs(cond.cond)
    if isinstance(cond, (n.AndCond, n.OrCond)):
        out: set[str] = set()
        for c in cond.conds:
            found = _cond_attrs(c)
            if found is None:
                return None
            out |= found
        return out
    return None


def _is_table(cond: Any, name: str) -> bool:
    return isinstance(cond, BaseTable) and cond.full_table_name == name


def _as_cond(cond: Any, name: str) -> Any:
    """A contribution as a restriction of table ``name``: the table itself (restricted by
    the user) restricts by its primary key."""
    if _is_table(cond, name):
        return cond.proj()
    return cond


def _down(parent: QueryExpression, attr_map: dict[str, str]) -> QueryExpression:
    """The parent's keys named as the child's foreign-key columns."""
    renames = {c: p for c, p in attr_map.items() if c != p}
    keys = parent.proj(**renames) if renames else parent.proj()
    if set(keys.heading.names) != set(attr_map):
        keys = U(*attr_map) & keys
    return keys


def _up(child: QueryExpression, attr_map: dict[str, str]) -> QueryExpression:
    """The parent keys the child's rows reference, named as the parent's columns."""
    keys = U(*attr_map) & child
    renames = {p: c for c, p in attr_map.items() if c != p}
    return keys.proj(**renames) if renames else keys
