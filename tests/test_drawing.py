"""joinflow.drawing: pictures of a table graph with and without graphviz (no database)."""
from __future__ import annotations

import math
import os
import shutil
import struct
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from joinflow import drawing
from joinflow.drawing import Edge, Graph, Node
from joinflow.drawing.style import text_width

SVG = "{http://www.w3.org/2000/svg}"


def university(direction: str = "TB", groups: bool = False) -> Graph:
    nodes = (
        Node("u.department", "Department", "Lookup", introduces_dimension=True),
        Node("u.student", "Student", "Manual", introduces_dimension=True, attributes=("student_id", "name")),
        Node("u.major", "StudentMajor", "Manual"),
        Node("u.term", "Term", "Lookup", introduces_dimension=True),
        Node("u.course", "Course", "Manual", introduces_dimension=True),
        Node("u.section", "Section", "Manual", introduces_dimension=True),
        Node("u.enroll", "Enroll", "Manual"),
        Node("u.grade", "Grade", "Imported"),
        Node("u.advisor", "Advisor", "Manual"),
        Node("u.summary", "Summary", "Computed", attributes=("-> Student", "gpa : float64")),
        Node("u.summary__course", "Summary.Course", "Part", master="u.summary"),
        Node("u.summary__term", "Summary.Term", "Part", master="u.summary"),
        Node("u.letter", 'Letter<"A"&B>', "Lookup"),
    )
    edges = (
        Edge("u.student", "u.major", True, one_to_one=True),
        Edge("u.department", "u.major", False),
        Edge("u.department", "u.course", True),
        Edge("u.course", "u.section", True),
        Edge("u.term", "u.section", True),
        Edge("u.student", "u.enroll", True),
        Edge("u.section", "u.enroll", True),
        Edge("u.enroll", "u.grade", True, one_to_one=True),
        Edge("u.letter", "u.grade", False),
        Edge("u.student", "u.advisor", True, one_to_one=True),
        Edge("u.student", "u.advisor", False, renamed=True, label="advisor_id <- student_id"),
        Edge("u.student", "u.summary", True, one_to_one=True),
        Edge("u.summary", "u.summary__course", True),
        Edge("u.enroll", "u.summary__course", True, one_to_one=True),
        Edge("u.summary", "u.summary__term", True),
        Edge("u.term", "u.summary__term", True),
    )
    framed = (("university", tuple(n.id for n in nodes)),) if groups else ()
    return Graph(nodes, edges, direction=direction, groups=framed)


def pipeline(size: int = 40, schemas: int = 3) -> Graph:
    """A layered pipeline of ``size`` tables over ``schemas`` schemas, with parts and lookups."""
    tiers = ("Manual", "Imported", "Computed", "Computed", "Lookup")
    nodes = [Node(f"s{i * schemas // size}.t{i}", f"Table{i}", tiers[i % 5]) for i in range(size)]
    edges = []
    for i in range(1, size):
        if nodes[i].tier == "Lookup":
            continue
        edges.append(Edge(nodes[i - 1].id, nodes[i].id, True, one_to_one=i % 7 == 0))
        for back, primary in ((3, False), (5, True), (11, True)):
            if i >= back and i % back == 1:
                edges.append(Edge(nodes[i - back].id, nodes[i].id, primary))
    for master in (6, 22):
        for k in range(2):
            part = Node(f"{nodes[master].id}__p{k}", f"Table{master}.Part{k}", "Part", master=nodes[master].id)
            nodes.append(part)
            edges.append(Edge(nodes[master].id, part.id, True))
    groups: dict[str, list[str]] = {}
    for n in nodes:
        groups.setdefault(n.id.split(".")[0], []).append(n.id)
    return Graph(tuple(nodes), tuple(edges), title="pipeline", groups=tuple((k, tuple(v)) for k, v in groups.items()))


GRAPHS = {
    "university": university(),
    "university-LR": university("LR", groups=True),
    "pipeline": pipeline(),
    "pipeline-LR": Graph(pipeline().nodes, pipeline().edges, direction="LR"),
}


@pytest.fixture(autouse=True)
def python_engine(monkeypatch):
    monkeypatch.setenv(drawing.ENGINE_VARIABLE, "python")


def texts(svg: str) -> list[str]:
    return ["".join(t.itertext()) for t in ET.fromstring(svg).iter(SVG + "text")]


def node_boxes(layout: drawing.Layout) -> list[drawing.Box]:
    return list(layout.boxes)


@pytest.mark.parametrize("name", GRAPHS)
def test_svg_parses_and_shows_every_label_once(name):
    graph = GRAPHS[name]
    svg = drawing.to_svg(graph)
    assert svg.startswith("<svg") and svg.endswith("</svg>")   # as Jupyter's _repr_svg_ wants it
    shown = texts(svg)
    for node in graph.nodes:
        assert shown.count(node.label) == 1, node.label
    for name_, _ in graph.groups:
        assert name_ in shown
    if name.startswith("university"):
        assert '>Letter&lt;"A"&amp;B&gt;</text>' in svg


@pytest.mark.parametrize("name", GRAPHS)
def test_tables_do_not_overlap_and_fit_the_canvas(name):
    layout = drawing.layout(GRAPHS[name])
    boxes = node_boxes(layout)
    for i, a in enumerate(boxes):
        assert 0 <= a.x and a.x + a.width <= layout.width and 0 <= a.y and a.y + a.height <= layout.height
        for b in boxes[i + 1:]:
            assert not a.overlaps(b), (a.node.label, b.node.label)


@pytest.mark.parametrize("name", GRAPHS)
def test_text_fits_its_box(name):
    for box in drawing.layout(GRAPHS[name]).boxes:
        style = drawing.style.style_of(box.node)
        room = box.width / (1.2 if style.shape == "ellipse" else 1.0)
        assert text_width(box.node.label, style.font_size) < room, box.node.label


def _inside(point, box, shrink=0.0) -> bool:
    x, y = point
    return box.x + shrink < x < box.x + box.width - shrink and box.y + shrink < y < box.y + box.height - shrink


@pytest.mark.parametrize("name", GRAPHS)
def test_edges_connect_their_tables_and_pass_between_others(name):
    graph = GRAPHS[name]
    layout = drawing.layout(graph)
    assert len(layout.routes) == len(graph.edges)
    boxes = {b.node.id: b for b in layout.boxes}
    for route in layout.routes:
        parent, child = boxes[route.edge.parent], boxes[route.edge.child]
        end = route.arrow[0] if route.arrow else route.end
        assert _inside(route.start, drawing.Box(parent.node, parent.x - 1, parent.y - 1, parent.width + 2,
                                                parent.height + 2))
        assert _inside(end, drawing.Box(child.node, child.x - 1, child.y - 1, child.width + 2, child.height + 2))
        for point in route.polyline():
            hit = [b.node.label for b in layout.boxes if b not in (parent, child) and _inside(point, b, 1.0)]
            assert not hit, (route.edge, hit)


def test_parents_come_first_in_the_drawing_direction():
    for direction, axis in (("TB", 1), ("LR", 0)):
        layout = drawing.layout(university(direction))
        boxes = {b.node.id: b for b in layout.boxes}
        for e in university().edges:
            if boxes[e.child].node.master != e.parent:
                assert boxes[e.parent].centre[axis] < boxes[e.child].centre[axis], e


def test_solid_primary_and_dashed_secondary_edges():
    root = ET.fromstring(drawing.to_svg(university()))
    kinds = {}
    for group in root.iter(SVG + "g"):
        if "edge" in group.get("class", "").split():
            path = group.find(SVG + "path")
            kinds[(group.get("data-parent"), group.get("data-child"), group.get("class"))] = path.get(
                "stroke-dasharray")
    assert kinds[("u.department", "u.major", "edge secondary")] == "5,3"
    assert kinds[("u.department", "u.course", "edge primary")] is None
    assert kinds[("u.student", "u.advisor", "edge secondary")] == "5,3"
    widths = {g.get("data-child"): g.find(SVG + "path").get("stroke-width") for g in root.iter(SVG + "g")
              if g.get("data-parent") == "u.enroll"}
    assert widths == {"u.grade": "2", "u.summary__course": "2"}


def test_renamed_foreign_key_is_marked_in_amber():
    layout = drawing.layout(university())
    renamed = [r for r in layout.routes if r.edge.renamed]
    assert len(renamed) == 1 and renamed[0].marker is not None
    assert all(r.marker is None for r in layout.routes if not r.edge.renamed)
    svg = drawing.to_svg(university())
    assert svg.count('stroke="#C77D3A"') == 1 and "<title>advisor_id &lt;- student_id</title>" in svg


@pytest.mark.parametrize("direction", ["TB", "LR"])
def test_parts_sit_beside_their_master_on_a_shaded_background(direction):
    layout = drawing.layout(university(direction))
    master = layout.box("u.summary")
    entity = [f for f in layout.frames if f.kind == "entity"]
    assert len(entity) == 1 and 'id="cluster_entity_0"' in drawing.to_svg(university(direction))
    frame = entity[0]
    axis = 1 if direction == "TB" else 0
    family = [master] + [layout.box(p) for p in ("u.summary__course", "u.summary__term")]
    for b in family:
        assert abs(b.centre[axis] - master.centre[axis]) < 0.01   # one layer
        assert frame.x <= b.x and b.x + b.width <= frame.x + frame.width
        assert frame.y <= b.y and b.y + b.height <= frame.y + frame.height
    along = 1 - axis
    starts = [(b.x, b.width) if along == 0 else (b.y, b.height) for b in family]
    assert [s for s, _ in starts] == sorted(s for s, _ in starts)   # the master first, then its parts
    for (s1, w1), (s2, _) in zip(starts, starts[1:]):
        assert 0 < s2 - (s1 + w1) <= 12.01   # side by side


def test_a_part_hanging_below_a_sibling_of_its_master_gets_its_own_layer():
    graph = Graph((Node("m", "M", "Manual"), Node("t", "T", "Computed"), Node("m.p", "M.P", "Part", master="m")),
                  (Edge("m", "t", True), Edge("m", "m.p", True), Edge("t", "m.p", True)))
    layout = drawing.layout(graph)
    assert layout.box("m").centre[1] < layout.box("t").centre[1] < layout.box("m.p").centre[1]
    assert not [f for f in layout.frames if f.kind == "entity"]


def test_schema_frames_hold_their_tables_and_do_not_overlap():
    graph = pipeline()
    layout = drawing.layout(graph)
    frames = {f.label: f for f in layout.frames if f.kind == "schema"}
    assert sorted(frames) == ["s0", "s1", "s2"]
    for name, members in graph.groups:
        f = frames[name]
        for node_id in members:
            b = layout.box(node_id)
            assert f.x < b.x and b.x + b.width < f.x + f.width and f.y < b.y and b.y + b.height < f.y + f.height
    listed = list(frames.values())
    for i, a in enumerate(listed):
        for b in listed[i + 1:]:
            assert a.x + a.width <= b.x or b.x + b.width <= a.x or a.y + a.height <= b.y or b.y + b.height <= a.y


def test_a_part_listed_in_another_group_stays_with_its_master():
    base = university()
    graph = Graph(base.nodes, base.edges, groups=(("a", tuple(n.id for n in base.nodes[:-3])),
                                                   ("b", tuple(n.id for n in base.nodes[-3:]))))
    layout = drawing.layout(graph)
    frames = [f for f in layout.frames if f.kind == "schema"]
    assert [f.label for f in frames] == ["a", "b"]
    a, b = frames
    assert a.x + a.width <= b.x or b.x + b.width <= a.x
    assert abs(layout.box("u.summary__term").centre[1] - layout.box("u.summary").centre[1]) < 0.01


def test_same_graph_same_bytes():
    graph = pipeline()
    assert drawing.to_svg(graph) == drawing.to_svg(pipeline())
    assert drawing.to_dot(graph) == drawing.to_dot(pipeline())
    assert drawing.to_mermaid(graph) == drawing.to_mermaid(pipeline())
    pytest.importorskip("PIL")
    assert drawing.to_png(university()) == drawing.to_png(university())


def test_small_and_awkward_graphs():
    one = Graph((Node("a", "A", "Manual"),), ())
    assert texts(drawing.to_svg(one)) == ["A"]
    ET.fromstring(drawing.to_svg(Graph((), ())))
    cycle = Graph((Node("a", "A", "Manual"), Node("b", "B", "Computed"), Node("c", "C", "Other", collapsed=True),
                   Node("x", "", "Alias")),
                  (Edge("a", "b", True), Edge("b", "c", True), Edge("c", "a", False), Edge("a", "x", True),
                   Edge("a", "a", True)))
    layout = drawing.layout(cycle)
    assert len(layout.routes) == 5
    ET.fromstring(drawing.to_svg(cycle))


def test_graph_is_checked_when_built():
    a = Node("a", "A", "Manual")
    with pytest.raises(ValueError, match="no node 'b'"):
        Graph((a,), (Edge("a", "b", True),))
    with pytest.raises(ValueError, match="listed twice"):
        Graph((a, a), ())
    with pytest.raises(ValueError, match="unknown tier 'Table'"):
        Node("x", "X", "Table")
    with pytest.raises(ValueError, match="direction 'BT'"):
        Graph((a,), (), direction="BT")
    with pytest.raises(ValueError, match="group 's': no node 'z'"):
        Graph((a,), (), groups=(("s", ("z",)),))


def test_mermaid_text():
    """DataJoint 2.3.5's text: bare labels, ``Master_Part`` ids, every foreign key ``-->`` with a
    ``linkStyle`` (amber: renamed, 2px: one-to-one), the group's name as the subgraph id."""
    text = drawing.to_mermaid(Graph(university().nodes + (Node("u.end", "end", "Other"),), university().edges,
                                    groups=(("uni", ("u.student", "u.summary", "u.summary__course")),)))
    lines = text.split("\n")
    assert lines[:3] == ["flowchart TB", "", "    classDef manual fill:#E8F0E9,stroke:#3E7A52,color:#28513A"]
    assert [line.split()[1] for line in lines if line.startswith("    classDef")] == [
        "manual", "lookup", "computed", "imported", "part", "other", "collapsed"]
    stripped = [line.strip() for line in lines]
    assert "Student[Student]:::manual" in stripped and "Grade([Grade]):::imported" in stripped
    sub = lines.index('    subgraph uni["uni"]')
    assert lines[sub + 1:sub + 7] == [
        '        subgraph entity_Summary[" "]', "            Summary([Summary]):::computed",
        "            Summary_Course[Course]:::part", "        end", "        Student[Student]:::manual", "    end"]
    assert "Summary_Term[Term]:::part" in stripped   # its master is in the frame, it is not: drawn alone
    assert 'Letter_A_B["Letter#lt;#quot;A#quot;#amp;B#gt;"]:::lookup' in stripped
    assert "t_end[end]:::other" in stripped
    edges = [line.strip() for line in lines if "-->" in line]
    styles = [line.strip() for line in lines if "linkStyle" in line]
    assert len(edges) == len(styles) == len(university().edges) and ".->" not in text
    assert edges[:3] == ["Department --> StudentMajor", "Department --> Course", "Student --> StudentMajor"]
    assert styles[0] == "linkStyle 0 stroke:#171C39,stroke-width:1px"
    assert styles[2] == "linkStyle 2 stroke:#171C39,stroke-width:2px"       # Student -> StudentMajor: 1:1
    renamed = [k for k, e in enumerate(edges) if e == "Student --> Advisor"]
    assert [styles[k].split(" ", 2)[2] for k in renamed] == ["stroke:#171C39,stroke-width:2px",
                                                            "stroke:#C77D3A,stroke-width:1px"]
    assert lines[-1].strip() == styles[-1] and not text.endswith("\n")
    assert drawing.to_mermaid(Graph((), ())).endswith("color:#404040\n\n")


def test_dot_source():
    source = drawing.to_dot(university("LR", groups=True))
    assert "rankdir=LR" in source and 'subgraph cluster_0 {' in source and 'label="university"' in source
    assert "label=<<u>Department</u>>" in source
    assert "label=<Letter&lt;\"A\"&amp;B&gt;>" in source
    assert "style=dashed" in source and "style=solid" in source
    assert "{rank=same; n9; n10; n11;}" in source


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


@pytest.mark.parametrize("scale", [1.0, 2.0, 0.5])
def test_png_has_the_layout_size(scale):
    pytest.importorskip("PIL")
    graph = university()
    layout = drawing.layout(graph)
    width, height = _png_size(drawing.to_png(graph, scale=scale))
    assert (width, height) == (math.ceil(layout.width * scale), math.ceil(layout.height * scale))


def test_png_without_pillow_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "PIL", None)
    with pytest.raises(ImportError, match=r"pip install 'joinflow\[diagram\]'"):
        drawing.to_png(university())


def test_save_by_suffix(tmp_path):
    graph = university()
    for suffix in (".svg", ".mmd", ".mermaid", ".dot", ".gv", ".SVG"):
        drawing.save(graph, tmp_path / f"d{suffix}")
    assert (tmp_path / "d.svg").read_text().startswith("<svg")
    assert (tmp_path / "d.mmd").read_text() == (tmp_path / "d.mermaid").read_text() == drawing.to_mermaid(graph)
    assert (tmp_path / "d.gv").read_text().startswith("digraph {")
    ET.parse(tmp_path / "d.SVG")
    if _has_pillow():
        drawing.save(graph, str(tmp_path / "d.png"))
        _png_size((tmp_path / "d.png").read_bytes())
    with pytest.raises(ValueError, match=r"'\.pdf'.*\.svg, \.png, \.mmd, \.mermaid, \.dot, \.gv"):
        drawing.save(graph, tmp_path / "d.pdf")
    with pytest.raises(ValueError, match="without suffix"):
        drawing.save(graph, tmp_path / "diagram")
    assert not (tmp_path / "d.pdf").exists()
    drawing.save(graph, tmp_path / "picture.txt", format="mermaid")
    assert (tmp_path / "picture.txt").read_text().startswith("flowchart TB")
    drawing.save(graph, tmp_path / "picture", format="SVG")
    ET.parse(tmp_path / "picture")
    with pytest.raises(ValueError, match="unknown diagram format 'pdf': use one of svg, png, mmd"):
        drawing.save(graph, tmp_path / "d.svg", format="pdf")


def _has_pillow() -> bool:
    try:
        import PIL  # noqa: F401
    except ImportError:
        return False
    return True


def _fake_dot(tmp_path: Path) -> Path:
    """A stand-in `dot` that answers with a recognisable SVG: shows which engine ran."""
    program = tmp_path / "bin" / "dot"
    program.parent.mkdir()
    program.write_text("#!/bin/sh\ncat >/dev/null\n"
                       "echo '<svg xmlns=\"http://www.w3.org/2000/svg\"><!-- fake dot --></svg>'\n")
    program.chmod(0o755)
    return program.parent


def test_engine_choice(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", f"{_fake_dot(tmp_path)}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setenv(drawing.ENGINE_VARIABLE, "python")
    assert drawing.engine() == "python" and "fake dot" not in drawing.to_svg(university())
    monkeypatch.delenv(drawing.ENGINE_VARIABLE)
    assert drawing.engine() == "dot" and "fake dot" in drawing.to_svg(university())
    monkeypatch.setenv(drawing.ENGINE_VARIABLE, "neato")
    with pytest.raises(ValueError, match="JOINFLOW_DIAGRAM_ENGINE='neato'"):
        drawing.engine()


def test_engine_dot_without_dot(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv(drawing.ENGINE_VARIABLE)
    assert drawing.engine() == "python"
    assert texts(drawing.to_svg(university())).count("Student") == 1
    monkeypatch.setenv(drawing.ENGINE_VARIABLE, "dot")
    with pytest.raises(FileNotFoundError, match="`dot` program is not on PATH"):
        drawing.to_svg(university())


def test_a_failing_dot_falls_back_to_the_python_layout(tmp_path, monkeypatch):
    program = tmp_path / "dot"
    program.write_text("#!/bin/sh\necho 'Format: \"png\" not recognized' >&2\nexit 1\n")
    program.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv(drawing.ENGINE_VARIABLE)
    with pytest.warns(RuntimeWarning, match="not recognized.*joinflow's own layout"):
        svg = drawing.to_svg(university())
    assert texts(svg).count("Enroll") == 1
    monkeypatch.setenv(drawing.ENGINE_VARIABLE, "dot")
    with pytest.raises(RuntimeError, match=r"dot -Tsvg failed: Format"):
        drawing.to_svg(university())


@pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz `dot` is not on PATH")
def test_graphviz_renders_the_dot_source(monkeypatch):
    monkeypatch.delenv(drawing.ENGINE_VARIABLE)
    graph = university("LR", groups=True)
    svg = drawing.to_svg(graph)
    assert "Generated by graphviz" in svg
    shown = texts(svg)
    for node in graph.nodes:
        assert node.label in shown
    _png_size(drawing.to_png(graph))
