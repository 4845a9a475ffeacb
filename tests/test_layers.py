"""Import layering: arrows point down. Every ``import`` of a joinflow module (at module level
and inside functions, ``TYPE_CHECKING`` blocks included) is read with ``ast``; the graph
must have no cycle, and the pure lower floor must import nothing from above it.
A genuinely needed upward edge is listed in ``ALLOWED`` with its reason."""
from __future__ import annotations

import ast
import functools
from pathlib import Path

import networkx as nx

ROOT = Path(__file__).resolve().parent.parent / "src" / "joinflow"

#: (importing module, imported module or package): why the edge is needed. Keep this tiny.
ALLOWED = {
    ("codecs.builtin", "storage"): "registration hook: the built-ins include storage's codecs",
    ("codecs.base", "storage.legacy"): "lazy: legacy name@store types chain to storage/legacy",
    ("codecs.pipeline", "objectstores"): "lazy: a decoder asks the seam for 0.x tracking rows",
    ("objectstores", "storage"): "lazy: the seam to storage/ (which builds on tables)",
    ("condition", "expression"): "lazy: make_condition recognises query operands (and U)",
    ("populate", "pipeline"): "lazy: jobs queue and workers; populate moves into pipeline/",
    ("populate", "dask"): "lazy: populate(executor=client) hands the work to joinflow.dask",
    ("pipeline.jobs", "pipeline.refresh"): "lazy: Job.refresh delegates to refresh",
    ("connection", ""): "lazy: the global dj.config lives in the package (joinflow.config)",
    ("settings", "storage.spec"): "the stores section of the config is checked by storage/spec",
}

LOWER = ("definition", "algebra", "codecs", "backends", "heading", "settings", "errors")


def _module_names() -> dict[str, Path]:
    out = {}
    for path in ROOT.rglob("*.py"):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


MODULES = _module_names()


def _known(name: str) -> str | None:
    """The longest joinflow module (relative name) that ``name`` names or lies in."""
    while name not in MODULES:
        if "." not in name:
            return None
        name = name.rsplit(".", 1)[0]
    return name


def _targets(module: str, node: ast.Import | ast.ImportFrom, is_package: bool) -> set[str]:
    if isinstance(node, ast.Import):
        names = [a.name[len("joinflow."):] for a in node.names if a.name.startswith("joinflow.")]
    else:
        if node.level:
            base = module.split(".") if module else []
            if not is_package:
                base = base[:-1]
            base = base[:len(base) - (node.level - 1)]
            mod = ".".join(base + ([node.module] if node.module else []))
        elif node.module and node.module.startswith("joinflow"):
            mod = node.module[len("joinflow."):] if node.module != "joinflow" else ""
        else:
            return set()
        names = [f"{mod}.{a.name}".strip(".") for a in node.names]
        names = [x if x in MODULES else mod for x in names]
    return {t for t in map(_known, names) if t is not None and t != module}


@functools.cache
def _graph() -> nx.DiGraph:
    graph = nx.DiGraph()
    for module, path in MODULES.items():
        graph.add_node(module)
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                for target in _targets(module, node, path.name == "__init__.py"):
                    if not module.startswith(target + "."):  # a package's own __init__
                        graph.add_edge(module, target, line=node.lineno)
    return graph


def import_graph() -> nx.DiGraph:
    return _graph().copy()


def _within(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def _allowed(source: str, target: str) -> bool:
    return any(source == s and _within(target, t) for s, t in ALLOWED)


def _fmt(graph: nx.DiGraph, edges: list[tuple[str, str]]) -> str:
    return ", ".join(f"{a} -> {b} (line {graph.edges[a, b]['line']})" for a, b in edges)


def test_no_import_cycles() -> None:
    graph = import_graph()
    graph.remove_edges_from([e for e in list(graph.edges) if _allowed(*e)])
    cycles = [c for c in nx.strongly_connected_components(graph) if len(c) > 1]
    messages = []
    for cycle in cycles:
        edges = [(a, b) for a, b in graph.subgraph(cycle).edges]
        messages.append(_fmt(graph, sorted(edges)))
    assert not cycles, "import cycles among joinflow modules:\n" + "\n".join(messages)


def test_lower_floor_imports_only_lower_floor() -> None:
    graph = import_graph()
    lower = {m for m in graph if any(_within(m, p) for p in LOWER)}
    upward = sorted((a, b) for a, b in graph.edges
                    if a in lower and b not in lower and not _allowed(a, b))
    assert not upward, "the pure lower floor imports from above: " + _fmt(graph, upward)


def test_operations_never_import_table_classes() -> None:
    """Operations take a ``TableRef``; ``table`` imports them, never the other way round."""
    graph = import_graph()
    operations = ("insert", "delete", "alter", "describe", "declare", "populate", "tableref",
                  "naming", "prompt", "validation")
    above = ("table", "user_tables", "schema")
    upward = sorted((a, b) for a, b in graph.edges if a in operations and b in above)
    assert not upward, "operation modules import table classes: " + _fmt(graph, upward)


def test_allowed_edges_still_exist() -> None:
    """An allowed exception that is gone must leave the list (it stays tiny)."""
    graph = import_graph()
    stale = [(s, t) for s, t in ALLOWED if not any(a == s and _within(b, t) for a, b in graph.edges)]
    assert not stale, f"remove these from ALLOWED: {stale}"


def test_the_graph_sees_function_level_imports() -> None:
    graph = import_graph()
    assert graph.has_edge("objectstores", "storage.external")  # imported inside a function
    assert graph.has_edge("table", "delete") and not graph.has_edge("delete", "table")
