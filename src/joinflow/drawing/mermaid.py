"""A ``Graph`` as a Mermaid flowchart (renders on GitHub, in Markdown tools, mermaid.live), in
DataJoint 2.3.5's text: a class per tier with its colours, a subgraph per schema (its id the
schema, its label the Python module when known), a master and its parts in an inner subgraph,
every foreign key an ``-->`` with a ``linkStyle`` giving its colour (amber: renamed) and
thickness (2px: one-to-one)."""
from __future__ import annotations

import re
from collections.abc import Mapping

from .model import Edge, Graph, Node
from .style import EDGE_COLOR, RENAMED_COLOR, TIER_STYLES

_RESERVED = {"end", "graph", "subgraph", "flowchart", "style", "classdef", "class", "click", "linkstyle",
             "direction", "default"}
#: DataJoint's order of the class definitions
_CLASS_ORDER = ("Manual", "Lookup", "Computed", "Imported", "Part", "Other")
_PLAIN = re.compile(r"[\w. ]+", re.ASCII)


def _escape(text: str) -> str:
    """Mermaid's entity codes for what would end or confuse a quoted label."""
    for plain, code in (("&", "#amp;"), ('"', "#quot;"), ("<", "#lt;"), (">", "#gt;")):
        text = text.replace(plain, code)
    return text.replace("\n", " ")


def _text(text: str) -> str:
    """A label as DataJoint writes it (bare) when Mermaid reads it so, else quoted."""
    return text if _PLAIN.fullmatch(text) else f'"{_escape(text)}"'


def _safe_id(text: str) -> str:
    base = re.sub(r"\W+", "_", text, flags=re.ASCII).strip("_") or "node"
    if base[0].isdigit() or base.lower() in _RESERVED:
        base = "t_" + base
    return base


def _ids(graph: Graph, names: Mapping[str, str]) -> dict[str, str]:
    """Mermaid ids: ``names`` when given, else the label; a part is ``Master_Part``."""
    labels = {node.id: node.label for node in graph.nodes}
    out: dict[str, str] = {}
    taken: set[str] = set()
    for node in graph.nodes:
        if node.id in names:
            base = names[node.id]
        elif node.tier == "Part" and node.master in labels and "." not in node.label:
            base = f"{labels[node.master]}.{node.label}"
        else:
            base = node.label
        base = _safe_id(base)
        name, k = base, 2
        while name.lower() in taken:
            name, k = f"{base}_{k}", k + 1
        taken.add(name.lower())
        out[node.id] = name
    return out


def _shape(node: Node, name: str) -> str:
    if node.collapsed:
        return f'{name}[["{_escape(node.label)}"]]:::collapsed'
    if node.tier == "Alias":
        return f'{name}((" ")):::alias'
    label = _text(node.label.rsplit(".", 1)[-1] if node.tier == "Part" else node.label)
    if node.tier in ("Imported", "Computed"):
        return f"{name}([{label}]):::{node.tier.lower()}"
    return f"{name}[{label}]:::{node.tier.lower()}"


def _link_style(k: int, edge: Edge) -> str:
    colour = RENAMED_COLOR if edge.renamed else EDGE_COLOR
    return f"    linkStyle {k} stroke:{colour},stroke-width:{2 if edge.one_to_one else 1}px"


def to_mermaid(graph: Graph, *, names: Mapping[str, str] | None = None,
               group_labels: Mapping[str, str] | None = None) -> str:
    """The flowchart text. ``names``: node id -> Mermaid id (default: from the label);
    ``group_labels``: group name -> the label its subgraph shows (default: the name)."""
    ids = _ids(graph, names or {})
    group_labels = group_labels or {}
    lines = [f"flowchart {graph.direction}", ""]
    if graph.title:
        lines.insert(0, f"---\ntitle: {_escape(graph.title)}\n---")
    for tier in _CLASS_ORDER:
        style = TIER_STYLES[tier]
        lines.append(f"    classDef {tier.lower()} fill:{style.fill},stroke:{style.stroke},color:{style.text}")
    lines.append("    classDef collapsed fill:#EDEEF0,stroke:#808890,color:#404040")
    if any(node.tier == "Alias" for node in graph.nodes):
        alias = TIER_STYLES["Alias"]
        lines.append(f"    classDef alias fill:{alias.fill},stroke:{alias.stroke},color:{alias.text}")
    lines.append("")
    grouped: set[str] = set()
    for name, members in graph.groups:
        label = group_labels.get(name, name)
        lines.append(f'    subgraph {_safe_id(name)}["{_escape(label)}"]')
        lines += _members(graph, ids, set(members), "        ")
        lines.append("    end")
        grouped.update(members)
    lines += _members(graph, ids, {n.id for n in graph.nodes} - grouped, "    ")
    lines.append("")
    # a parent's foreign keys together, parents in the order of the nodes
    order = {node.id: k for k, node in enumerate(graph.nodes)}
    edges = sorted(graph.edges, key=lambda e: order[e.parent])
    lines += [f"    {ids[e.parent]} --> {ids[e.child]}" for e in edges]
    lines += [_link_style(k, e) for k, e in enumerate(edges)]
    return "\n".join(lines)


def _members(graph: Graph, ids: dict[str, str], members: set[str], indent: str) -> list[str]:
    """A master with its parts (an inner subgraph each) first, then the other tables."""
    entities, single = [], []
    for node in graph.nodes:
        if node.id not in members or (node.tier == "Part" and node.master in members):
            continue
        parts = [n for n in graph.nodes if n.tier == "Part" and n.master == node.id and n.id in members]
        if not parts:
            single.append(indent + _shape(node, ids[node.id]))
            continue
        entities.append(f'{indent}subgraph entity_{ids[node.id]}[" "]')
        entities += [indent + "    " + _shape(n, ids[n.id]) for n in [node] + parts]
        entities.append(indent + "end")
    return entities + single
