"""A ``Graph`` as a Mermaid flowchart (renders on GitHub, in Markdown tools, mermaid.live).

Tiers become classes with DataJoint's colours; secondary foreign keys are dotted links; thick
(1:1) and renamed (amber) ones get a ``linkStyle``; a master and its parts share a subgraph."""
from __future__ import annotations

import re

from .model import Edge, Graph, Node
from .style import EDGE_COLOR, RENAMED_COLOR, TIER_STYLES

_RESERVED = {"end", "graph", "subgraph", "flowchart", "style", "classdef", "class", "click", "linkstyle",
             "direction", "default"}


def _text(text: str) -> str:
    """A label inside ``"..."``: Mermaid's entity codes for what would end or confuse it."""
    for plain, code in (("&", "#amp;"), ('"', "#quot;"), ("<", "#lt;"), (">", "#gt;")):
        text = text.replace(plain, code)
    return text.replace("\n", " ")


def _ids(graph: Graph) -> dict[str, str]:
    out: dict[str, str] = {}
    taken: set[str] = set()
    for node in graph.nodes:
        base = re.sub(r"\W+", "_", node.label, flags=re.ASCII).strip("_") or "node"
        if base[0].isdigit() or base.lower() in _RESERVED:
            base = "t_" + base
        name, k = base, 2
        while name.lower() in taken:
            name, k = f"{base}_{k}", k + 1
        taken.add(name.lower())
        out[node.id] = name
    return out


def _shape(node: Node, name: str) -> str:
    label = _text(node.label)
    if node.collapsed:
        return f'{name}[["{label}"]]:::collapsed'
    if node.tier == "Alias":
        return f'{name}((" ")):::alias'
    if node.tier in ("Imported", "Computed"):
        return f'{name}(["{label}"]):::{node.tier.lower()}'
    return f'{name}["{label}"]:::{node.tier.lower()}'


def _link(edge: Edge, ids: dict[str, str]) -> str:
    arrow = "-->" if edge.primary else "-.->"
    if edge.label:
        arrow = f'-- "{_text(edge.label)}" -->' if edge.primary else f'-. "{_text(edge.label)}" .->'
    return f"{ids[edge.parent]} {arrow} {ids[edge.child]}"


def to_mermaid(graph: Graph) -> str:
    ids = _ids(graph)
    lines = [f"flowchart {graph.direction}"]
    if graph.title:
        lines.insert(0, f"---\ntitle: {_text(graph.title)}\n---")
    for tier, style in TIER_STYLES.items():
        lines.append(f"    classDef {tier.lower()} fill:{style.fill},stroke:{style.stroke},color:{style.text}")
    lines.append("    classDef collapsed fill:#EDEEF0,stroke:#808890,color:#404040")
    grouped: set[str] = set()
    for g, (name, members) in enumerate(graph.groups):
        lines.append(f'    subgraph schema_{g}["{_text(name)}"]')
        lines += _members(graph, ids, set(members), "        ")
        lines.append("    end")
        grouped.update(members)
    lines += _members(graph, ids, {n.id for n in graph.nodes} - grouped, "    ")
    lines += ["    " + _link(e, ids) for e in graph.edges]
    for k, e in enumerate(graph.edges):
        if e.renamed or e.one_to_one:
            colour = RENAMED_COLOR if e.renamed else EDGE_COLOR
            lines.append(f"    linkStyle {k} stroke:{colour},stroke-width:{2 if e.one_to_one else 1}px")
    return "\n".join(lines) + "\n"


def _members(graph: Graph, ids: dict[str, str], members: set[str], indent: str) -> list[str]:
    lines = []
    for node in graph.nodes:
        if node.id not in members or (node.tier == "Part" and node.master in members):
            continue
        parts = [n for n in graph.nodes if n.tier == "Part" and n.master == node.id and n.id in members]
        if not parts:
            lines.append(indent + _shape(node, ids[node.id]))
            continue
        lines.append(f'{indent}subgraph entity_{ids[node.id]}[" "]')
        lines += [indent + "    " + _shape(n, ids[n.id]) for n in [node] + parts]
        lines.append(indent + "end")
    return lines
