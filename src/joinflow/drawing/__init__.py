"""Pictures of a table graph, with or without graphviz. Pure: no database, no joinflow imports.

Layers (arrows point down only)::

    __init__.py  to_svg, to_png, to_mermaid, to_dot, layout, save: the public surface
    dot.py       DOT source in DataJoint's look; runs graphviz `dot` when it is on PATH
    mermaid.py   Mermaid flowchart text
    svg.py       Layout -> SVG text;  raster.py  Layout -> PNG with Pillow (joinflow[diagram])
    layout.py    Graph -> Layout: units (a master with its parts), ranks, ports, routes, frames
    layers.py    layered placement on integer vertices (ranks, crossings, coordinates)
    geometry.py  Box, Route, Frame, Layout; node sizes
    style.py     tier colours and shapes, text metrics
    model.py     Node, Edge, Graph
"""
from __future__ import annotations

import os
import subprocess
import warnings
from pathlib import Path

from . import dot as _dot
from . import raster as _raster
from . import svg as _svg
from .dot import ENGINE_VARIABLE, engine, to_dot
from .geometry import Box, Frame, Layout, Route
from .layout import layout
from .mermaid import to_mermaid
from .model import TIERS, Edge, Graph, Node

SUFFIXES = {".svg": "svg", ".png": "png", ".mmd": "mermaid", ".mermaid": "mermaid", ".dot": "dot", ".gv": "dot"}


def to_svg(graph: Graph) -> str:
    """SVG text: graphviz's layout when `dot` is on PATH (unless JOINFLOW_DIAGRAM_ENGINE=python),
    joinflow's own otherwise."""
    if engine() == "dot":
        made = _graphviz(to_dot(graph), "svg")
        if made is not None:
            return made.decode().strip()
    return _svg.render(layout(graph))


def to_png(graph: Graph, scale: float = 1.0) -> bytes:
    """PNG bytes: graphviz's when `dot` is on PATH (and the engine is not forced to python),
    otherwise joinflow's layout drawn with Pillow, ``scale`` times its size in points."""
    if engine() == "dot":
        made = _graphviz(to_dot(graph).replace("graph [", f"graph [dpi={round(72 * scale)}, ", 1), "png")
        if made is not None:
            return made
    return _raster.render(layout(graph), scale)


def _graphviz(source: str, fmt: str) -> bytes | None:
    """graphviz's picture, or None (with a warning) when `dot` fails: the Python layout draws instead.
    With JOINFLOW_DIAGRAM_ENGINE=dot a failure is an error."""
    try:
        return _dot.run_dot(source, fmt)
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
        if os.environ.get(ENGINE_VARIABLE, "").strip().lower() == "dot":
            raise
        warnings.warn(f"{exc}; drawing with joinflow's own layout instead", RuntimeWarning, stacklevel=3)
        return None


def save(graph: Graph, path: str | os.PathLike[str], format: str | None = None) -> None:
    """Write the picture in ``format`` ("svg", "png", "mermaid"/"mmd", "dot"/"gv") or, without
    one, in the format the file name's suffix names."""
    if format is not None:
        kind = SUFFIXES.get("." + format.lower().lstrip("."))
        if kind is None:
            raise ValueError(f"unknown diagram format {format!r}: use one of "
                             f"{', '.join(s.lstrip('.') for s in SUFFIXES)}")
    else:
        suffix = Path(path).suffix.lower()
        kind = SUFFIXES.get(suffix)
        if kind is None:
            raise ValueError(f"cannot save a diagram as {suffix or 'a file without suffix'!r} "
                             f"({os.fspath(path)}): use one of {', '.join(SUFFIXES)}")
    if kind == "png":
        Path(path).write_bytes(to_png(graph))
        return
    text = {"svg": to_svg, "mermaid": to_mermaid, "dot": to_dot}[kind](graph)
    Path(path).write_text(text, encoding="utf-8")

__all__ = [
    "ENGINE_VARIABLE", "SUFFIXES", "TIERS", "Box", "Edge", "Frame", "Graph", "Layout", "Node", "Route",
    "engine", "layout", "save", "to_dot", "to_mermaid", "to_png", "to_svg",
]
