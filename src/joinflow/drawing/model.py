"""What a picture shows: tables (``Node``), foreign keys (``Edge``) and the whole ``Graph``.

Plain frozen values, checked when built; every renderer reads only these."""
from __future__ import annotations

from dataclasses import dataclass

TIERS = ("Manual", "Lookup", "Imported", "Computed", "Part", "Alias", "Other")
DIRECTIONS = ("TB", "LR")


@dataclass(frozen=True)
class Node:
    """One table. ``id`` is opaque (a full table name); ``label`` is what is printed."""
    id: str
    label: str
    tier: str
    master: str | None = None            #: id of the master node, for Part tables
    attributes: tuple[str, ...] = ()     #: optional lines shown under the label
    collapsed: bool = False              #: a whole schema shown as one node
    introduces_dimension: bool = False   #: primary key adds attributes of its own: name underlined
    tooltip: str = ""                    #: hover text in SVG (e.g. the definition)

    def __post_init__(self) -> None:
        if self.tier not in TIERS:
            raise ValueError(f"node {self.id!r}: unknown tier {self.tier!r}; expected one of {', '.join(TIERS)}")


@dataclass(frozen=True)
class Edge:
    """A foreign key from ``parent`` to ``child``."""
    parent: str
    child: str
    primary: bool            #: part of the child's primary key: solid line, else dashed
    renamed: bool = False    #: ``-> Parent.proj(new='old')``: drawn in amber and marked with a dot
    label: str = ""          #: hover text (e.g. ``advisor_id <- student_id``)
    one_to_one: bool = False  #: the foreign key is the child's whole primary key: drawn thick


@dataclass(frozen=True)
class Graph:
    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]
    title: str = ""
    direction: str = "TB"   #: "TB" (parents above children) or "LR" (parents left)
    groups: tuple[tuple[str, tuple[str, ...]], ...] = ()   #: (schema label, node ids) framed together
    arrowheads: bool = True   #: DataJoint 2.x draws none; layered direction already tells

    def __post_init__(self) -> None:
        if self.direction not in DIRECTIONS:
            raise ValueError(f"direction {self.direction!r}: expected 'TB' or 'LR'")
        ids = [n.id for n in self.nodes]
        seen: set[str] = set()
        for node_id in ids:
            if node_id in seen:
                raise ValueError(f"node {node_id!r} is listed twice")
            seen.add(node_id)
        for edge in self.edges:
            for end in (edge.parent, edge.child):
                if end not in seen:
                    raise ValueError(f"edge {edge.parent!r} -> {edge.child!r}: no node {end!r}")
        grouped: set[str] = set()
        for name, members in self.groups:
            for node_id in members:
                if node_id not in seen:
                    raise ValueError(f"group {name!r}: no node {node_id!r}")
                if node_id in grouped:
                    raise ValueError(f"node {node_id!r} is in two groups")
                grouped.add(node_id)

    def node(self, node_id: str) -> Node:
        for n in self.nodes:
            if n.id == node_id:
                return n
        raise KeyError(node_id)
