"""Graphviz: ``to_dot`` writes DOT source in DataJoint's look; ``run_dot`` renders it with the
``dot`` program when one is on PATH."""
from __future__ import annotations

import os
import shutil
import subprocess
from html import escape as html_escape

from .model import Edge, Graph, Node
from .style import (
    ATTRIBUTE_SIZE,
    EDGE_COLOR,
    ENTITY_FILL,
    RENAMED_COLOR,
    SCHEMA_FRAME,
    style_of,
)

ENGINE_VARIABLE = "JOINFLOW_DIAGRAM_ENGINE"
_ALPHA = "9E"


def quote(text: str) -> str:
    """A DOT double-quoted string."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _html(text: str) -> str:
    return html_escape(text, quote=False)


def _label(node: Node) -> str:
    name = _html(node.label)
    if node.introduces_dimension:
        name = f"<u>{name}</u>"
    if not node.attributes:
        return f"<{name}>" if node.introduces_dimension or node.label != _html(node.label) else quote(node.label)
    lines = "".join(f"{_html(a)}<br align=\"left\"/>" for a in node.attributes)
    return f'<{name}<br/><font point-size="{ATTRIBUTE_SIZE:g}">{lines}</font>>'


def _node(i: int, node: Node) -> str:
    style = style_of(node)
    if style.shape == "dot":
        return (f'n{i} [shape=circle, label="", width=0.12, height=0.12, fixedsize=true, style=filled, '
                f'fillcolor="{style.fill}", color="{style.stroke}", tooltip={quote(node.tooltip or node.id)}];')
    look = "filled" + (",rounded" if style.rounded and style.shape == "box" else "")
    return (f"n{i} [label={_label(node)}, shape={style.shape}, style={quote(look)}, fillcolor=\"{style.fill}\", "
            f'color="{style.stroke}", fontcolor="{style.text}", fontsize={style.font_size:g}, '
            f'tooltip={quote(node.tooltip or node.id)}];')


def _edge(index: dict[str, int], edge: Edge, graph: Graph) -> str:
    colour = (RENAMED_COLOR if edge.renamed else EDGE_COLOR) + _ALPHA
    master_part = graph.node(edge.child).master == edge.parent
    attrs = [f'color="{colour}"', f"style={'solid' if edge.primary else 'dashed'}",
             f"penwidth={2 if edge.one_to_one else 1}", f"arrowhead={'normal' if graph.arrowheads else 'none'}",
             "arrowsize=0.6", f"weight={3 if master_part or edge.one_to_one else 1}"]
    if edge.label:
        attrs.append(f"tooltip={quote(edge.label)}")
    return f"n{index[edge.parent]} -> n{index[edge.child]} [{', '.join(attrs)}];"


def to_dot(graph: Graph) -> str:
    index = {n.id: i for i, n in enumerate(graph.nodes)}
    lines = ["digraph {", f"graph [rankdir={graph.direction}, fontname=Helvetica, nodesep=0.3, ranksep=0.45"
             + (f", label={quote(graph.title)}, labelloc=t, labeljust=l, fontsize=14" if graph.title else "") + "];",
             "node [fontname=Helvetica, margin=\"0.11,0.06\", height=0.4];", "edge [fontname=Helvetica];"]
    grouped: set[str] = set()
    for g, (name, members) in enumerate(graph.groups):
        lines += [f"subgraph cluster_{g} {{", f"label={quote(name)}; labelloc=t; labeljust=r; fontsize=12;",
                  f'style="rounded,dashed"; color="{SCHEMA_FRAME}"; fontcolor="{EDGE_COLOR}";']
        lines += _members(graph, index, set(members), f"{g}_")
        lines.append("}")
        grouped.update(members)
    lines += _members(graph, index, {n.id for n in graph.nodes} - grouped, "")
    lines += [_edge(index, e, graph) for e in graph.edges]
    lines.append("}")
    return "\n".join(lines) + "\n"


def _members(graph: Graph, index: dict[str, int], ids: set[str], prefix: str) -> list[str]:
    """Node lines for ``ids``; a master and its parts in a shaded cluster on one rank."""
    parts: dict[str, list[Node]] = {}
    for node in graph.nodes:
        if node.id in ids and node.tier == "Part" and node.master in ids:
            parts.setdefault(node.master or "", []).append(node)
    lines = []
    for node in graph.nodes:
        if node.id not in ids or (node.tier == "Part" and node.master in ids):
            continue
        if node.id not in parts:
            lines.append(_node(index[node.id], node))
            continue
        family = [node] + parts[node.id]
        lines += [f"subgraph cluster_entity_{prefix}{index[node.id]} {{",
                  f'label=""; style="rounded,filled"; fillcolor="{ENTITY_FILL}"; color="{ENTITY_FILL}";']
        lines += [_node(index[m.id], m) for m in family]
        lines += ["{rank=same; " + " ".join(f"n{index[m.id]};" for m in family) + "}", "}"]
    return lines


def engine() -> str:
    """"dot" or "python": what renders SVG now (``JOINFLOW_DIAGRAM_ENGINE`` overrides)."""
    wanted = os.environ.get(ENGINE_VARIABLE, "").strip().lower()
    if wanted not in ("", "auto", "dot", "python"):
        raise ValueError(f"{ENGINE_VARIABLE}={wanted!r}: expected 'dot', 'python' or 'auto'")
    if wanted == "python":
        return "python"
    if shutil.which("dot"):
        return "dot"
    if wanted == "dot":
        raise FileNotFoundError(f"{ENGINE_VARIABLE}=dot, but graphviz's `dot` program is not on PATH")
    return "python"


def run_dot(source: str, fmt: str) -> bytes:
    """``source`` rendered by graphviz ``dot -T<fmt>``; a failure raises RuntimeError with dot's message."""
    program = shutil.which("dot")
    if program is None:
        raise FileNotFoundError("graphviz's `dot` program is not on PATH")
    done = subprocess.run([program, f"-T{fmt}"], input=source.encode(), capture_output=True, timeout=120,
                          check=False)
    if done.returncode:
        raise RuntimeError(f"dot -T{fmt} failed: {done.stderr.decode(errors='replace').strip()}")
    return done.stdout
