"""dj.Diagram: set operations, parts, collapse, the restriction engine (cascade with each
part_integrity mode, restrict, trace, counts, prune, diagram[Table]) with renamed and parallel
foreign keys and across two schemas, on all three backends; rendering when joinflow.drawing
is present."""
from __future__ import annotations

import importlib.util

import networkx as nx
import pytest

import joinflow as dj
from joinflow import errors
from joinflow.diagram import upstream_of


def _lab(schema):
    @schema
    class Subject(dj.Manual):
        definition = """
        subject_id : int32
        ---
        name : varchar(16)
        """

    @schema
    class Rig(dj.Lookup):
        definition = """
        rig : int16
        """
        contents = [(1,), (2,)]

    @schema
    class Session(dj.Manual):
        definition = """
        -> Subject
        session : int16
        ---
        -> Rig
        """

        class Trial(dj.Part):
            definition = """
            -> master
            trial : int16
            """

    @schema
    class Pair(dj.Manual):  # two foreign keys to one parent, both renamed
        definition = """
        pair : int16
        ---
        -> Subject.proj(first='subject_id')
        -> Subject.proj(second='subject_id')
        """

    @schema
    class Stat(dj.Computed):
        definition = """
        -> Session
        ---
        n : int32
        """

        def make(self, key):
            self.insert1(dict(key, n=len(Session.Trial & key)))

    Subject.insert([(1, "ann"), (2, "bob"), (3, "cy")])
    Session.insert([(1, 1, 1), (1, 2, 2), (2, 1, 1), (3, 1, 2)])
    Session.Trial.insert([(s, n, t) for s, n in [(1, 1), (1, 2), (2, 1), (3, 1)]
                          for t in range(3)])
    Pair.insert([(10, 1, 2), (11, 2, 3), (12, 3, 3)])
    Stat.populate()
    return Subject, Rig, Session, Pair, Stat


def names(*tables):
    return {t.full_table_name for t in tables}


# -- which tables a diagram shows ---------------------------------------------------------------
def test_set_operations_and_parts(schema):
    Subject, Rig, Session, Pair, Stat = _lab(schema)
    whole = dj.Diagram(schema)
    assert whole.nodes_to_show == names(Subject, Rig, Session, Session.Trial, Pair, Stat)
    assert (dj.Diagram(Subject) + 1).nodes_to_show == names(Subject, Session, Pair)
    assert (dj.Diagram(Subject) + 2).nodes_to_show == names(Subject, Session, Pair,
                                                           Session.Trial, Stat)
    assert (dj.Diagram(Stat) - 1).nodes_to_show == names(Stat, Session)
    assert (dj.Diagram(Stat) - 3).nodes_to_show == names(Stat, Session, Subject, Rig)
    assert (whole - dj.Diagram(Session)).nodes_to_show == whole.nodes_to_show - names(Session)
    assert ((dj.Diagram(Subject) + 1) * (dj.Diagram(Stat) - 1)).nodes_to_show == names(Session)
    assert (dj.Diagram(Subject) + Rig).nodes_to_show == names(Subject, Rig)
    assert (dj.Diagram(Session) + dj.Diagram(Rig)).add_parts().nodes_to_show == \
        names(Session, Session.Trial, Rig)
    assert dj.Diagram(Session).collapse()._expanded_nodes == set()
    assert (dj.Diagram(Session).collapse() + dj.Diagram(Rig))._expanded_nodes == names(Rig)
    order = whole.topo_sort()
    assert order.index(Subject.full_table_name) < order.index(Session.full_table_name) \
        < order.index(Session.Trial.full_table_name) < order.index(Stat.full_table_name)
    graph = dj.Diagram(schema, context=locals())._make_graph()
    assert {"Subject", "Session", "Session.Trial", "Stat"} <= set(graph.nodes())
    assert graph.nodes["Session.Trial"]["node_type"] == "Part"
    assert graph.nodes["Rig"]["node_type"] == "Lookup"
    assert graph.nodes["Stat"]["node_type"] == "Computed"


def test_parallel_foreign_keys_are_two_edges(schema, conn):
    Subject, _, _, Pair, _ = _lab(schema)
    deps = conn.dependencies
    assert deps.number_of_edges(Subject.full_table_name, Pair.full_table_name) == 2
    maps = [d["attr_map"] for _, _, d in deps.in_edges(Pair.full_table_name, data=True)]
    assert sorted(maps, key=str) == [{"first": "subject_id"}, {"second": "subject_id"}]
    assert dj.Diagram(schema).number_of_edges(Subject.full_table_name, Pair.full_table_name) == 2
    assert set(deps.descendants(Subject.full_table_name)) >= names(Subject, Pair)
    assert nx.is_directed_acyclic_graph(deps)


# -- cascade ---------------------------------------------------------------------------------------
def test_cascade_counts_and_tables_nothing_deleted(schema):
    Subject, _, Session, Pair, Stat = _lab(schema)
    cascade = dj.Diagram.cascade(Subject & {"subject_id": 1})
    counts = cascade.counts()
    assert counts == {Subject.full_table_name: 1, Session.full_table_name: 2,
                      Session.Trial.full_table_name: 6, Stat.full_table_name: 2,
                      Pair.full_table_name: 1}
    assert set(cascade[Session].to_arrays("session")) == {1, 2}
    assert len(cascade[Session.Trial.full_table_name]) == 6
    assert len(Subject()) == 3 and len(Session.Trial()) == 12  # nothing deleted
    with pytest.raises(errors.JoinflowError, match="prune"):
        cascade.prune()
    with pytest.raises(errors.JoinflowError, match="mutually exclusive"):
        cascade.restrict(Subject)


def test_cascade_through_parallel_renamed_fks_is_an_or(schema):
    """Pair references Subject twice (first, second): deleting subject 3 deletes the pairs
    naming it in either column, and the delete matches the preview."""
    Subject, _, _, Pair, _ = _lab(schema)
    seed = Subject & {"subject_id": 3}
    assert dj.Diagram.cascade(seed).counts()[Pair.full_table_name] == 2
    assert seed.delete(dry_run=True)[Pair.full_table_name] == 2
    seed.delete()
    assert sorted(Pair.to_arrays("pair")) == [10]
    seed = Subject & {"subject_id": 1}
    assert dj.Diagram.cascade(seed).counts()[Pair.full_table_name] == 1


def test_cascade_part_integrity_modes(schema):
    Subject, _, Session, _, Stat = _lab(schema)
    trials = Session.Trial & {"subject_id": 1, "session": 1}
    with pytest.raises(errors.JoinflowError, match="before its master"):
        trials.delete()
    assert len(Session.Trial()) == 12  # nothing deleted
    with pytest.raises(ValueError, match="part_integrity must be"):
        dj.Diagram.cascade(trials, part_integrity="casade")
    cascade = dj.Diagram.cascade(trials & {"trial": 0}, part_integrity="cascade").counts()
    # the part lifts its master, which takes its other parts and its dependents
    assert cascade[Session.full_table_name] == 1
    assert cascade[Session.Trial.full_table_name] == 3
    assert cascade[Stat.full_table_name] == 1
    assert dj.Diagram.cascade(trials, part_integrity="ignore").counts() == {
        Session.Trial.full_table_name: 3}
    (trials & {"trial": 0}).delete(part_integrity="cascade")
    assert len(Session()) == 3 and len(Session.Trial()) == 9 and len(Stat()) == 3
    (Session.Trial & {"subject_id": 2}).delete(part_integrity="ignore")
    assert len(Session()) == 3 and len(Session.Trial()) == 6


def test_cascade_from_a_secondary_foreign_key(schema):
    """Rig is a secondary parent of Session: deleting a rig deletes its sessions and below."""
    _, Rig, Session, _, Stat = _lab(schema)
    counts = dj.Diagram.cascade(Rig & {"rig": 2}).counts()
    assert counts[Session.full_table_name] == 2 and counts[Stat.full_table_name] == 2
    (Rig & {"rig": 2}).delete()
    assert sorted(Session.to_arrays("session")) == [1, 1]


def test_cascade_and_trace_across_two_schemas(make_schema):
    upper, lower = make_schema("up"), make_schema("down")

    @upper
    class Animal(dj.Manual):
        definition = """
        animal_id : int32
        ---
        species : varchar(16)
        """

    @lower
    class Observation(dj.Manual):
        definition = """
        obs_id : int32
        ---
        -> Animal.proj(subject_id='animal_id')
        """

    Animal.insert([(1, "mouse"), (2, "rat")])
    Observation.insert([(10, 1), (11, 1), (20, 2)])
    assert dj.Diagram.cascade(Animal & "animal_id = 1").counts() == {
        Animal.full_table_name: 1, Observation.full_table_name: 2}
    trace = dj.Diagram.trace(Observation & {"obs_id": 20})
    assert trace[Animal].fetch1("species") == "rat"
    assert trace.counts() == {Animal.full_table_name: 1, Observation.full_table_name: 1}
    (Animal & "animal_id = 1").delete()
    assert Observation.to_arrays("obs_id").tolist() == [20]


def test_top_seed(schema):
    Subject, _, Session, _, _ = _lab(schema)
    seed = Subject & dj.Top(1, order_by="subject_id DESC")
    assert dj.Diagram.cascade(seed).counts()[Session.full_table_name] == 1
    seed.delete()
    assert sorted(Subject.to_arrays("subject_id")) == [1, 2]


# -- trace, upstream ----------------------------------------------------------------------------
def test_trace_or_over_paths_and_errors(schema):
    Subject, Rig, Session, Pair, Stat = _lab(schema)
    assert set(dj.Diagram.trace(Pair & {"pair": 11})[Subject].to_arrays("subject_id")) == {2, 3}
    trace = dj.Diagram.trace(Stat & {"subject_id": 1})
    assert trace.counts() == {Subject.full_table_name: 1, Rig.full_table_name: 2,
                              Session.full_table_name: 2, Stat.full_table_name: 2}
    with pytest.raises(errors.JoinflowError, match="not in this trace"):
        trace[Pair]
    with pytest.raises(errors.JoinflowError, match="not in this trace"):
        trace[Session.Trial]  # a master's part is not upstream of the master's child
    assert isinstance(trace[Session.full_table_name], dj.FreeTable)


def test_upstream_of_a_key_not_inserted_yet(schema):
    """What make() sees as self.upstream: the key's ancestors, found from the key's values
    before the row exists."""
    Subject, Rig, Session, _, Stat = _lab(schema)
    key = {"subject_id": 1, "session": 2}
    (Stat & key).delete()
    up = upstream_of(Stat, key)
    assert up[Subject].fetch1("name") == "ann"
    assert up[Session].fetch1("rig") == 2
    assert up[Rig].fetch1("rig") == 2  # through the session's row: a secondary key


# -- restrict, counts, prune ----------------------------------------------------------------------
def test_restrict_is_an_and_and_prune(schema):
    Subject, Rig, Session, Pair, Stat = _lab(schema)
    diagram = dj.Diagram(schema)
    with pytest.raises(errors.JoinflowError, match="No restrictions"):
        diagram.counts()
    both = diagram.restrict(Subject & {"subject_id": 1}).restrict(Rig & {"rig": 1})
    counts = both.counts()
    assert counts[Session.full_table_name] == 1  # subject 1 AND rig 1
    assert counts[Stat.full_table_name] == 1
    assert len(both[Session.Trial]) == 3
    pruned = diagram.restrict(Subject & {"subject_id": 3}).prune()
    # Pair is kept: pair 12 names subject 3 in both of its references (AND)
    assert set(pruned._restrict_conditions) == names(Subject, Session, Session.Trial, Stat, Pair)
    empty = diagram.restrict(Subject & {"subject_id": 99}).prune()
    assert empty.counts() == {}
    Stat.delete()
    assert Stat.full_table_name not in diagram.prune().nodes_to_show


def test_iteration_and_text(schema):
    Subject, _, Session, _, _ = _lab(schema)
    cascade = dj.Diagram.cascade(Subject & {"subject_id": 2})
    tables = list(cascade)
    assert tables[0].full_table_name == Subject.full_table_name and len(tables[0]) == 1
    assert [t.full_table_name for t in reversed(cascade)][-1] == Subject.full_table_name
    text = repr(dj.Diagram(schema))
    assert text.index(".subject") < text.index(".session") and "<- " in text


# -- rendering ----------------------------------------------------------------------------------
drawing = pytest.mark.skipif(importlib.util.find_spec("joinflow.drawing") is None,
                             reason="joinflow.drawing (the renderer) is not merged yet")


@drawing
def test_rendering(schema, tmp_path):
    _lab(schema)
    diagram = dj.Diagram(schema)
    svg = diagram.svg_string()  # graphviz's starts with an XML declaration, as DataJoint's
    assert "<svg" in svg[:400] and svg.rstrip().endswith("svg>")
    inline = diagram._repr_svg_()  # what Jupyter embeds: the <svg> element alone
    assert inline.startswith("<svg") and svg.endswith(inline)
    assert "flowchart" in diagram.make_mermaid() or "graph" in diagram.make_mermaid()
    assert diagram.make_png().getvalue()[:8] == b"\x89PNG\r\n\x1a\n"
    for ext in ("svg", "png", "mmd"):
        diagram.save(str(tmp_path / f"lab.{ext}"))
        assert (tmp_path / f"lab.{ext}").stat().st_size > 0
    graph = diagram._graph()
    trial = next(x for x in graph.nodes if x.tier == "Part")
    assert trial.label == "Trial" and trial.master is not None
    assert sum(e.renamed for e in graph.edges) == 2  # Pair's two renamed references


def test_part_of_part_lifts_its_master(schema):
    """A part referencing another part (renamed) of the same master: the cascade from it
    reaches the master through the other part and comes back down to all their rows."""
    @schema
    class Master(dj.Manual):
        definition = """
        master_id : int32
        """

        class A(dj.Part):
            definition = """
            -> master
            a_id : int32
            """

        class B(dj.Part):
            definition = """
            -> Master.A.proj(src_master='master_id', src_a='a_id')
            b_id : int32
            """

    Master.insert([(1,), (2,)])
    Master.A.insert([(1, 10), (1, 11), (2, 20)])
    Master.B.insert([(1, 10, 100), (1, 11, 110), (2, 20, 200)])
    seed = Master.B & {"b_id": 100}
    counts = dj.Diagram.cascade(seed, part_integrity="cascade").counts()
    assert counts == {Master.full_table_name: 1, Master.A.full_table_name: 2,
                      Master.B.full_table_name: 2}
    with pytest.raises(errors.JoinflowError, match="before its master"):
        seed.delete()
    seed.delete(part_integrity="cascade")
    assert Master.to_arrays("master_id").tolist() == [2]
    assert len(Master.A()) == 1 and len(Master.B()) == 1
