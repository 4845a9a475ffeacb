"""``dj.Diagram``: a view of the dependency graph, with DataJoint 2.3's API.

A Diagram is a ``networkx.MultiDiGraph`` over full table names (a copy of the connection's
``Dependencies``) plus the set of tables it shows (``nodes_to_show``). Set operations choose
what is shown; ``cascade``, ``restrict`` and ``trace`` attach restrictions computed by the
restriction engine (``restriction.py``), read back with ``counts()``, ``diagram[Table]`` and
iteration. Pictures are drawn by ``joinflow.drawing`` from the neutral graph ``_graph()``
builds; that package is imported only when a picture is asked for."""
from __future__ import annotations

import functools
import inspect
import logging
from typing import Any, Iterator

import networkx as nx

from .. import errors
from ..dependencies import topo_sort, unquote
from ..naming import master_of, split_tier, to_camel
from .restriction import Restrictor, check_part_integrity, master_name

log = logging.getLogger("joinflow")

__all__ = ["Diagram", "diagram_active", "upstream_of"]

#: DataJoint's flag "networkx and pydot are importable"; joinflow draws without graphviz
diagram_active = True

TIERS = {"#": "Lookup", "_": "Imported", "__": "Computed", "": "Manual"}


class Diagram(nx.MultiDiGraph):
    """Tables and foreign keys of a schema, a table or a module (``dj.Diagram(schema)``).

    ``d + n`` / ``d - n`` add n generations of descendants / ancestors; ``+``, ``-``, ``*``
    between diagrams (or tables) are union, difference and intersection of the tables shown;
    ``add_parts()`` adds the parts of the masters shown; ``collapse()`` draws each schema as
    one node. ``Diagram.cascade(expr)``, ``Diagram.trace(expr)`` and ``d.restrict(expr)``
    restrict the tables (``counts()``, ``d[Table]``, ``prune()``)."""

    def __init__(self, source: Any = None, context: dict | None = None) -> None:
        super().__init__()
        self.nodes_to_show: set[str] = set()
        self._expanded_nodes: set[str] = set()
        self.context: dict = {}
        self._connection: Any = None
        self._mode: str | None = None  # None, "cascade", "restrict" or "trace"
        self._seeds: list[tuple[str, Any]] = []
        self._restrictor: Restrictor | None = None
        if source is None:  # networkx makes empty instances for views and copies
            return
        if isinstance(source, Diagram):
            self._copy_from(source)
            return
        if context is None:
            frame = inspect.currentframe().f_back  # type: ignore[union-attr]
            context = dict(frame.f_globals, **frame.f_locals) if frame else {}
            del frame
        self.context = context
        conn = _connection_of(source)
        self._load(conn)
        name = getattr(source, "full_table_name", None)
        if isinstance(source, type) and name is None:
            name = source().full_table_name
        if name is not None:
            self._ensure(name)
            self.nodes_to_show = {name}
        else:
            database = _database_of(source)
            names = [conn.backend.full_name(database, t) for t in
                     conn.backend.list_tables(conn.run, database) if not t.startswith("~")]
            if any(x not in self for x in names):  # maybe new foreign keys too: reload
                conn.dependencies.load()
                self._load(conn)
            for x in names:  # tables in no foreign key
                self._ensure(x)
            self.nodes_to_show = {x for x, d in self.nodes(data=True) if d["schema"] == database}
        self._keep_related({d["schema"] for x, d in self.nodes(data=True)
                            if x in self.nodes_to_show} | set(getattr(conn, "schemas", {})))
        self._expanded_nodes = set(self.nodes_to_show)

    def _keep_related(self, seeds: set[str]) -> None:
        """Keep the tables of ``seeds`` (the schemas this session activated and the source's)
        and of the schemas linked to them by foreign keys, as DataJoint's graph holds only the
        loaded schemas: tables of unrelated schemas on the server are not in the diagram
        (``len(d)``, ``d.nodes()``)."""
        schema_of = {x: d.get("schema") for x, d in self.nodes(data=True)}
        links: dict[Any, set] = {}
        for a, b in self.edges():
            if schema_of[a] != schema_of[b]:
                links.setdefault(schema_of[a], set()).add(schema_of[b])
                links.setdefault(schema_of[b], set()).add(schema_of[a])
        keep, todo = set(seeds), list(seeds)
        while todo:
            for other in links.get(todo.pop(), ()):
                if other not in keep:
                    keep.add(other)
                    todo.append(other)
        self.remove_nodes_from([x for x, s in schema_of.items() if s not in keep])

    def _load(self, conn: Any) -> None:
        self._connection = conn
        self.clear()
        deps = conn.dependencies
        self.add_nodes_from(deps.nodes(data=True))
        self.add_edges_from(deps.edges(keys=True, data=True))

    def _ensure(self, name: str) -> None:
        if name not in self:
            schema, table = unquote(name)
            self.add_node(name, schema=schema, table=table, node_id=f"{schema}.{table}")

    def _copy_from(self, other: "Diagram") -> None:
        self.add_nodes_from(other.nodes(data=True))
        self.add_edges_from(other.edges(keys=True, data=True))
        self.nodes_to_show = set(other.nodes_to_show)
        self._expanded_nodes = set(other._expanded_nodes)
        self.context = other.context
        self._connection = other._connection
        self._mode = other._mode
        self._seeds = list(other._seeds)
        if other._restrictor is not None:
            r = Restrictor(other._connection, other._restrictor.graph, other._restrictor.mode)
            r.contrib = {k: dict(v) for k, v in other._restrictor.contrib.items()}
            self._restrictor = r

    @classmethod
    def from_sequence(cls, sequence: Any) -> "Diagram":
        """The union of the diagrams of each item of ``sequence``."""
        return functools.reduce(lambda a, b: a + b, map(Diagram, sequence))

    # -- which tables are shown ---------------------------------------------------------
    def add_parts(self) -> "Diagram":
        """A copy that also shows the part tables of the masters it shows."""
        out = Diagram(self)
        shown = {unquote(x) for x in self.nodes_to_show}
        for x in self.nodes():
            schema, table = unquote(x)
            master = master_of(table)
            while master is not None and (schema, master) not in shown:
                master = master_of(master)
            if master is not None:
                out.nodes_to_show.add(x)
                out._expanded_nodes.add(x)
        return out

    def collapse(self) -> "Diagram":
        """A copy whose tables are drawn as one node per schema (expanded tables of another
        diagram win in a union)."""
        out = Diagram(self)
        out._expanded_nodes = set()
        return out

    def __add__(self, arg: Any) -> "Diagram":
        out = Diagram(self)
        if isinstance(arg, Diagram):
            out.add_nodes_from(arg.nodes(data=True))
            out.add_edges_from(arg.edges(keys=True, data=True))
            out.nodes_to_show |= arg.nodes_to_show
            out.context = {**self.context, **arg.context}
            out._expanded_nodes = self._expanded_nodes | arg._expanded_nodes
        elif isinstance(arg, int):
            out.nodes_to_show |= _generations(self, self.nodes_to_show, arg, nx.MultiDiGraph.successors)
            out._expanded_nodes |= out.nodes_to_show
        else:
            name = _table_name(arg)
            out._ensure(name)
            out.nodes_to_show.add(name)
            out._expanded_nodes.add(name)
        return out

    def __sub__(self, arg: Any) -> "Diagram":
        out = Diagram(self)
        if isinstance(arg, Diagram):
            out.nodes_to_show -= arg.nodes_to_show
        elif isinstance(arg, int):
            out.nodes_to_show |= _generations(self, self.nodes_to_show, arg,
                                              nx.MultiDiGraph.predecessors)
        else:
            out.nodes_to_show.discard(_table_name(arg))
        return out

    def __mul__(self, arg: Any) -> "Diagram":
        out = Diagram(self)
        out.nodes_to_show &= arg.nodes_to_show
        return out

    def topo_sort(self) -> list[str]:
        """The tables shown, parents first (each part after its master)."""
        return [x for x in topo_sort(self) if x in self.nodes_to_show]

    # -- restrictions -------------------------------------------------------------------
    @classmethod
    def cascade(cls, table_expr: Any, part_integrity: str = "enforce") -> "Diagram":
        """What deleting ``table_expr`` would delete: the table and its descendants (across
        schemas), each restricted to the rows that reference deleted rows through any foreign
        key. ``part_integrity='cascade'`` adds the masters of restricted parts (and their
        other parts). Nothing is deleted: read it with ``counts()`` or ``d[Table]``."""
        check_part_integrity(part_integrity)
        table = _as_table(table_expr)
        out = cls._seeded(table, "cascade")
        out._restrictor.down([table.full_table_name], part_integrity)  # type: ignore[union-attr]
        out._trim()
        return out

    @classmethod
    def trace(cls, table_expr: Any) -> "Diagram":
        """Where ``table_expr``'s rows came from: it and its ancestors, each restricted to
        the rows the seed's rows reference through any path (``d[Ancestor]``)."""
        return cls._traced(_as_table(table_expr), None)

    @classmethod
    def _traced(cls, table: Any, key: dict | None) -> "Diagram":
        out = cls._seeded(table, "trace", key)
        out._restrictor.up(table.full_table_name, key)  # type: ignore[union-attr]
        out._trim()
        return out

    @classmethod
    def _seeded(cls, table: Any, mode: str, key: dict | None = None) -> "Diagram":
        conn = table.connection
        deps = conn.dependencies
        deps.load_all_downstream()
        out = cls()
        out._load(conn)
        name = deps.ensure(table.full_table_name)
        out._ensure(name)
        out._mode = mode
        out._restrictor = Restrictor(conn, deps, "cascade")
        out._restrictor.seed(name, key if key is not None else table)
        out._seeds = [(name, table)]
        return out

    def _trim(self) -> None:
        """Keep only the restricted tables (DataJoint's cascade and trace diagrams)."""
        keep = set(self._restrictor.contrib)  # type: ignore[union-attr]
        self.remove_nodes_from([x for x in list(self.nodes()) if x not in keep])
        self.nodes_to_show = set(keep)
        self._expanded_nodes = set(keep)

    def restrict(self, table_expr: Any) -> "Diagram":
        """A copy restricted to ``table_expr``'s rows and, below it, the rows that match every
        restricted parent (AND; chainable). Not for cascade diagrams."""
        if self._mode in ("cascade", "trace"):
            raise errors.JoinflowError(
                f"Cannot apply restrict() on a Diagram produced by Diagram.{self._mode}(). "
                "cascade and restrict are mutually exclusive modes.")
        table = _as_table(table_expr)
        name = table.full_table_name
        if name not in self:
            raise errors.JoinflowError(f"Table {name} is not in the diagram.")
        out = Diagram(self)
        out._mode = "restrict"
        out._seeds.append((name, table))
        r = out._restrictor = Restrictor(self._connection, nx.MultiDiGraph(self), "restrict")
        for i, (seed_name, expr) in enumerate(out._seeds):
            r.seed(seed_name, expr, ("seed", i))
        r.down({s for s, _ in out._seeds})
        return out

    @property
    def _cascade_restrictions(self) -> dict[str, list]:
        if self._mode in ("cascade", "trace"):
            return {k: list(v.values()) for k, v in self._restrictor.contrib.items()}  # type: ignore[union-attr]
        return {}

    @property
    def _restrict_conditions(self) -> dict[str, list]:
        if self._mode == "restrict":
            return {k: list(v.values()) for k, v in self._restrictor.contrib.items()}  # type: ignore[union-attr]
        return {}

    def _restricted_names(self) -> list[str]:
        if self._restrictor is None:
            return []
        return [x for x in self.topo_sort() if x in self._restrictor.contrib]

    def counts(self) -> dict[str, int]:
        """Rows per restricted table (full name -> count); nothing is changed."""
        if self._restrictor is None:
            raise errors.JoinflowError("No restrictions applied. Use Diagram.cascade(table_expr) "
                                       "or diag.restrict(table_expr) first.")
        counts = self._restrictor.counts(self._restricted_names())
        for name, count in counts.items():  # as DataJoint logs them
            log.info("%s (%d tuples)", name, count)
        return counts

    preview = counts

    def prune(self) -> "Diagram":
        """A copy without the tables that have no (restricted) rows."""
        if self._mode in ("cascade", "trace"):
            raise errors.JoinflowError(
                f"prune() cannot be used on a Diagram produced by Diagram.{self._mode}(). "
                "Cascade diagrams must retain all descendant tables for safe deletion.")
        out = Diagram(self)
        if out._restrictor is not None:
            for name, count in out._restrictor.counts(out._restricted_names()).items():
                if not count:
                    out._restrictor.contrib.pop(name, None)
                    out.nodes_to_show.discard(name)
        else:
            from ..tableref import free_table
            for name in list(out.nodes_to_show):
                if not len(free_table(self._connection, name)):
                    out.nodes_to_show.discard(name)
        return out

    def _table(self, name: str) -> Any:
        from ..table import FreeTable
        out = FreeTable(self._connection, name)
        if self._restrictor is not None and name in self._restrictor.contrib:
            out._node = self._restrictor.table(name).node
        return out

    def __getitem__(self, key: Any) -> Any:
        """``d[Table]`` / ``d[table_object]`` / ``d['schema.table']``: the table restricted
        by this diagram (a ``FreeTable``). On a diagram without restrictions, a full table
        name gives networkx's adjacency, as in DataJoint."""
        if isinstance(key, str) and self._restrictor is None and key in self:
            return super().__getitem__(key)
        name = self._resolve(key)
        if name is None or name not in self.nodes_to_show:
            what = "trace's subgraph (not an ancestor of the seed)" if self._mode == "trace" \
                else "diagram"
            raise errors.JoinflowError(f"Table {key if name is None else name} is not in this "
                                       f"{what}.")
        return self._table(name)

    def _resolve(self, key: Any) -> str | None:
        if not isinstance(key, str):
            try:
                return _table_name(key)
            except errors.JoinflowError:
                raise errors.JoinflowError(
                    f"diagram[...] expects a table class, a table or a name; got "
                    f"{type(key).__name__}") from None
        if key in self:
            return key
        if "`" in key or '"' in key or "." in key and key.split(".")[0] in \
                {d["schema"] for _, d in self.nodes(data=True)}:
            target = unquote(key)
            return next((x for x in self.nodes() if unquote(x) == target), None)
        found = [x for x in self.nodes_to_show if self._class_name(x).split(".")[-1] == key
                 or self._class_name(x) == key]
        if len(found) > 1:
            raise errors.JoinflowError(f"Ambiguous table reference {key!r}: matches "
                                       f"{', '.join(sorted(found))}; use a full name")
        return found[0] if found else None

    def __iter__(self) -> Iterator[Any]:  # type: ignore[override]
        """The tables shown, parents first, restricted by this diagram."""
        for name in self.topo_sort():
            yield self._table(name)

    def __reversed__(self) -> Iterator[Any]:
        for name in reversed(self.topo_sort()):
            yield self._table(name)

    # -- text -----------------------------------------------------------------------------
    def __repr__(self) -> str:
        lines = []
        for x in self.topo_sort():
            parents = sorted(self.nodes[p]["node_id"] for p in set(self.predecessors(x))
                             if p in self.nodes_to_show)
            lines.append(self.nodes[x]["node_id"] + (f"  <- {', '.join(parents)}"
                                                     if parents else ""))
        return "\n".join(lines)

    __str__ = __repr__

    # -- drawing ----------------------------------------------------------------------------
    def _class_name(self, name: str) -> str:
        found = _context_names(self.context).get(name)
        if found:
            return found
        schema, table = unquote(name)
        parts = split_tier(table)[1].split("__")
        return ".".join(to_camel(p) for p in parts)

    def _make_graph(self) -> nx.MultiDiGraph:
        """The shown tables as a graph of class names (``Master.Part`` for parts), with the
        tier of each node and the foreign keys between them."""
        graph = nx.MultiDiGraph()
        names = {x: self._class_name(x) for x in self.nodes_to_show}
        for x in self.topo_sort():
            graph.add_node(names[x], node_type=_tier(self, x), full_name=x,
                           collapsed=x not in self._expanded_nodes)
        for p, c, k, d in self.edges(keys=True, data=True):
            if p in names and c in names:
                graph.add_edge(names[p], names[c], key=k, attr_map=d.get("attr_map", {}),
                               aliased=d.get("aliased", False))
        return graph

    def _graph(self) -> Any:
        """The neutral picture model ``joinflow.drawing`` renders: a node per table shown
        (a collapsed schema: one node), its foreign keys, a frame per schema."""
        from ..drawing.model import Edge, Graph, Node
        conn = self._connection
        shown = self.topo_sort()
        ids = {x: self.nodes[x]["node_id"] for x in shown}
        for x in shown:  # collapsed tables become their schema's node
            if x not in self._expanded_nodes:
                ids[x] = self.nodes[x]["schema"]
        nodes: dict[str, Any] = {}
        for x in shown:
            if ids[x] in nodes:
                continue
            if x not in self._expanded_nodes:
                schema = self.nodes[x]["schema"]
                nodes[schema] = Node(id=schema, label=schema, tier="Other", collapsed=True)
                continue
            key = _key_of(conn, x)
            inherited = {c for _, _, d in self.in_edges(x, data=True) for c in d["attr_map"]}
            master = master_name(self, x)
            label = self._class_name(x)
            nodes[ids[x]] = Node(
                id=ids[x], label=label.split(".")[-1] if master else label, tier=_tier(self, x),
                master=ids[master] if master in ids and master in self._expanded_nodes
                else None, introduces_dimension=bool(set(key) - inherited),
                tooltip=", ".join(key))
        edges: dict[tuple, Any] = {}
        for p, c, d in self.edges(data=True):
            if p not in ids or c not in ids or ids[p] == ids[c]:
                continue
            attr_map = d.get("attr_map", {})
            child_key = set(_key_of(conn, c))
            edge = Edge(parent=ids[p], child=ids[c], primary=_is_primary(conn, c, attr_map),
                        renamed=bool(d.get("aliased")),
                        label=", ".join(f"{k} <- {v}" for k, v in attr_map.items() if k != v),
                        one_to_one=bool(child_key) and set(attr_map) == child_key)
            edges.setdefault((edge.parent, edge.child, edge.label), edge)
        groups: dict[str, list[str]] = {}
        for node_id in nodes:
            schema = node_id.split(".", 1)[0]
            groups.setdefault(schema, []).append(node_id)
        direction = conn.config["display.diagram_direction"] or "LR"
        return Graph(nodes=tuple(nodes.values()), edges=tuple(edges.values()),
                     direction=direction if direction in ("TB", "LR") else "LR",
                     groups=tuple((k, tuple(v)) for k, v in groups.items()), arrowheads=False)

    def make_dot(self) -> Any:
        """The picture as a small object with pydot's ``create_svg()`` / ``create_png()`` /
        ``to_string()`` (graphviz's ``dot`` is not needed)."""
        return _Dot(self._graph())

    def svg_string(self) -> str:
        from ..drawing import to_svg
        return to_svg(self._graph())

    def make_svg(self) -> Any:
        """An IPython SVG object (the SVG text where IPython is absent)."""
        text = self.svg_string()
        try:
            from IPython.display import SVG
        except ImportError:
            return text
        return SVG(text)

    def make_png(self) -> Any:
        """PNG bytes in a ``BytesIO``, as DataJoint returns them."""
        import io

        from ..drawing import to_png
        return io.BytesIO(to_png(self._graph()))

    def make_image(self) -> Any:
        """The picture as a numpy array (height, width, channels)."""
        import numpy as np
        try:
            from PIL import Image
        except ImportError:
            raise errors.JoinflowError("make_image needs Pillow to read the PNG: "
                                       "pip install pillow") from None
        return np.asarray(Image.open(self.make_png()))

    def make_mermaid(self) -> str:
        """Mermaid flowchart text, as DataJoint 2.3.5 writes it: ids are class names
        (``Master_Part``), a schema's subgraph is labelled with its Python module when its
        tables come from one module that no other schema shown shares, and a collapsed schema
        is one node named so, reading ``(N tables)``."""
        from dataclasses import replace

        from ..drawing import to_mermaid
        graph = self._graph()
        shown = self.topo_sort()
        modules = _context_modules(self.context)
        by_schema: dict[str, set[str]] = {}
        for x in shown:
            if x in modules:
                by_schema.setdefault(self.nodes[x]["schema"], set()).add(modules[x])
        owners: dict[str, int] = {}
        for found in by_schema.values():
            for module in found:
                owners[module] = owners.get(module, 0) + 1
        labels = {schema: next(iter(found)) for schema, found in by_schema.items()
                  if len(found) == 1 and owners[next(iter(found))] == 1}
        names = {self.nodes[x]["node_id"]: self._class_name(x) for x in shown
                 if x in self._expanded_nodes}
        collapsed = [x for x in shown if x not in self._expanded_nodes]
        nodes = []
        for node in graph.nodes:
            if node.collapsed:
                count = sum(self.nodes[x]["schema"] == node.id for x in collapsed)
                names[node.id] = labels.get(node.id, node.id)
                node = replace(node, label=f"({count} tables)")
            nodes.append(node)
        return to_mermaid(replace(graph, nodes=tuple(nodes)), names=names, group_labels=labels)

    def _repr_svg_(self) -> str:
        """The ``<svg>`` element alone, as Jupyter embeds it (graphviz's output starts with an
        XML declaration and a DOCTYPE, which IPython's SVG display drops too)."""
        text = self.svg_string()
        start = text.find("<svg")
        return text[start:] if start > 0 else text

    def draw(self) -> None:
        """Show the picture (inline in Jupyter; else with matplotlib, else as text)."""
        try:
            from IPython import get_ipython
            if get_ipython() is not None:
                from IPython.display import display
                display(self.make_svg())
                return
        except ImportError:
            pass
        try:
            import matplotlib.pyplot as plt
        except ImportError:
            print(repr(self))
            return
        plt.imshow(self.make_image())
        plt.gca().axis("off")
        plt.show()

    def save(self, filename: str, format: str | None = None) -> None:
        """Write the picture: format from ``format`` or the file's extension (``svg``,
        ``png``, ``mmd``/``mermaid``, ``dot``)."""
        from ..drawing import save
        save(self._graph(), filename, format=format)


class _Dot:
    """What ``make_dot()`` returns: pydot's methods the DataJoint API exposes."""

    def __init__(self, graph: Any) -> None:
        self.graph = graph

    def create_svg(self) -> bytes:
        from ..drawing import to_svg
        return to_svg(self.graph).encode()

    def create_png(self) -> bytes:
        from ..drawing import to_png
        return to_png(self.graph)

    def to_string(self) -> str:
        from ..drawing import to_dot
        return to_dot(self.graph)


ERD = Di = Diagram


def upstream_of(table: Any, key: dict | None = None) -> Diagram:
    """The trace of ``table`` restricted to ``key`` (what ``self.upstream`` is inside
    ``make(key)``): ``upstream_of(self, key)[Session]`` is the Session row the key comes
    from. Where a foreign key's columns are all in ``key`` the ancestor is restricted by the
    values themselves, so it works before the row is inserted."""
    table = _as_table(table)
    if key is None:
        return Diagram.trace(table)
    key = {k: v for k, v in dict(key).items()}
    return Diagram._traced(table & key, key)


# -- helpers ---------------------------------------------------------------------------------
def _connection_of(source: Any) -> Any:
    for candidate in (source, getattr(source, "schema", None)):
        conn = getattr(candidate, "connection", None)
        if conn is not None:
            return conn
    raise errors.JoinflowError(f"Could not find a database connection in {source!r}")


def _database_of(source: Any) -> str:
    for candidate in (source, getattr(source, "schema", None)):
        database = getattr(candidate, "database", None)
        if isinstance(database, str):
            return database
    raise errors.JoinflowError(f"Cannot make a Diagram of {source!r}")


def _as_table(expr: Any) -> Any:
    table = expr() if isinstance(expr, type) else expr
    if getattr(table, "full_table_name", None) is None:
        raise errors.JoinflowError(f"expected a table or a restricted table, got {expr!r}")
    return table


def _table_name(arg: Any) -> str:
    name = getattr(arg, "full_table_name", None)
    if isinstance(arg, type) and not isinstance(name, str):
        name = getattr(arg(), "full_table_name", None)
    if not isinstance(name, str):
        raise errors.JoinflowError(f"not a table: {arg!r}")
    return name


def _generations(graph: nx.MultiDiGraph, start: set[str], n: int, step: Any) -> set[str]:
    seen = set(start)
    frontier = set(start)
    for _ in range(n):
        frontier = {y for x in frontier if x in graph for y in step(graph, x)} - seen
        if not frontier:
            break
        seen |= frontier
    return seen


def _tier(graph: nx.MultiDiGraph, name: str) -> str:
    schema, table = unquote(name)
    if master_of(table) is not None:
        return "Part"
    return TIERS.get(split_tier(table)[0], "Other")


def _context_names(context: dict) -> dict[str, str]:
    """Full table name -> class name (``Master.Part`` for parts) of the table classes
    in ``context``."""
    out: dict[str, str] = {}
    for key, value, name in _declared_tables(context):
        if key.startswith("_"):
            continue
        out.setdefault(name, key)
        for attr, part in vars(value).items():
            part_name = getattr(part, "full_table_name", None) \
                if isinstance(part, type) else None
            if isinstance(part_name, str) and attr[:1].isupper():
                out.setdefault(part_name, f"{key}.{attr}")
    return out


def _context_modules(context: dict) -> dict[str, str]:
    """Full table name -> the (last part of the) module of its class in ``context``."""
    out: dict[str, str] = {}
    for _, value, name in _declared_tables(context):
        module = str(getattr(value, "__module__", "") or "").rsplit(".", 1)[-1]
        if module:
            out.setdefault(name, module)
    return out


def _declared_tables(context: dict) -> Iterator[tuple[str, type, str]]:
    """(name in ``context``, class, full table name) of the declared table classes."""
    for key, value in list(context.items()):
        if not isinstance(value, type) or not isinstance(getattr(value, "definition", None), str):
            continue
        try:
            name = getattr(value, "full_table_name", None)
        except Exception:  # noqa: BLE001 - undeclared classes have no table
            continue
        if isinstance(name, str):
            yield key, value, name


def _key_of(conn: Any, name: str) -> list[str]:
    from ..catalog import load_heading
    try:
        return list(load_heading(conn, *unquote(name)).primary_key)
    except errors.JoinflowError:
        return []


def _is_primary(conn: Any, child: str, attr_map: dict) -> bool:
    from ..catalog import load_heading
    try:
        heading = load_heading(conn, *unquote(child))
    except errors.JoinflowError:
        return False
    return all(heading[c].in_key for c in attr_map if c in heading)
