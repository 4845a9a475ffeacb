"""Behaviour checked against DataJoint 2.3.5 (run on PostgreSQL and MariaDB): settings
validation, restriction by hidden job-metadata attributes, the direct-insert guard of
auto-populated tables and their parts, and the Mermaid text of ``Diagram.make_mermaid``."""
from __future__ import annotations

import re

import pytest

import joinflow as dj
from joinflow import errors
from joinflow.settings import Config

GUARD = ("Inserts into an auto-populated table can only be done inside its make method during a "
         "populate call. To override, set keyword argument allow_direct_insert=True.")


# -- 1. settings ---------------------------------------------------------------------------
@pytest.mark.parametrize("key, value, allowed", [
    ("jobs.default_priority", -1, "from 0 to 255"),
    ("jobs.default_priority", 256, "from 0 to 255"),
    ("jobs.default_priority", 3.5, "an integer"),
    ("jobs.default_priority", None, "an integer"),
    ("jobs.version_method", "svn", "'git', 'none' or None"),
    ("jobs.version_method", "GIT", "'git', 'none' or None"),
    ("display.diagram_direction", "RL", "'TB' or 'LR'"),
    ("display.diagram_direction", "tb", "'TB' or 'LR'"),
    ("display.diagram_theme", "blue", "'light', 'dark' or 'auto'"),
    ("jobs.stale_timeout", -1, ">= 0"),
    ("jobs.stale_timeout", "abc", "an integer"),
    ("display.limit", 2.5, "an integer"),
    ("jobs.keep_completed", 2, "true or false"),
    ("display.show_tuple_count", None, "true or false"),
])
def test_invalid_settings_are_refused_at_assignment(key, value, allowed):
    cfg = Config()
    before = cfg[key]
    with pytest.raises(errors.ConfigError) as info:
        cfg[key] = value
    assert isinstance(info.value, ValueError)   # DataJoint raises pydantic's ValidationError
    assert key in str(info.value) and allowed in str(info.value) and repr(value) in str(info.value)
    assert cfg[key] == before


@pytest.mark.parametrize("key, value, stored", [
    ("jobs.default_priority", 0, 0), ("jobs.default_priority", 255, 255),
    ("jobs.default_priority", "7", 7), ("jobs.default_priority", "3.0", 3),
    ("jobs.version_method", "git", "git"), ("jobs.version_method", "none", "none"),
    ("jobs.version_method", None, None),
    ("display.diagram_direction", "TB", "TB"), ("display.diagram_theme", "dark", "dark"),
    ("jobs.stale_timeout", 0, 0), ("jobs.stale_timeout", "10", 10),
    ("display.limit", 2.0, 2), ("display.limit", -1, -1),
    ("jobs.keep_completed", 1, True), ("jobs.add_job_metadata", "yes", True),
])
def test_valid_settings_are_kept(key, value, stored):
    cfg = Config()
    cfg[key] = value
    assert cfg[key] == stored and type(cfg[key]) is type(stored)


def test_settings_are_checked_on_every_path(tmp_path):
    cfg = Config()
    with pytest.raises(ValueError, match="jobs.default_priority"):
        cfg.jobs.default_priority = 300
    with pytest.raises(ValueError, match="display.diagram_direction"):
        cfg["display"] = {"diagram_direction": "BT"}
    with pytest.raises(ValueError, match="jobs.stale_timeout"):
        with cfg.override(jobs__stale_timeout=-5):
            pass
    assert (cfg.jobs.default_priority, cfg.display.diagram_direction, cfg.jobs.stale_timeout) == (5, "LR", 3600)
    with pytest.raises(ValueError, match="jobs.version_method"):
        cfg.load_environment({"DJ_JOBS_VERSION_METHOD": "svn"})
    path = tmp_path / "datajoint.json"
    path.write_text('{"jobs": {"default_priority": 999}}')
    with pytest.raises(ValueError, match="jobs.default_priority"):
        cfg.load(path)
    with pytest.raises(KeyError):   # an unknown key stays a KeyError too
        cfg["jobs.no_such_key"]


# -- 2. restriction by hidden attributes ---------------------------------------------------
def _metadata_pipeline(schema):
    @schema
    class Src(dj.Manual):
        definition = """
        sid : int32
        ---
        v : int32
        """

    @schema
    class Analysis(dj.Computed):
        definition = """
        -> Src
        ---
        r : int32
        """

        def make(self, key):
            self.insert1(dict(key, r=(Src & key).fetch1("v") * 2))

    Src.insert([(1, 10), (2, 20)])
    Analysis.populate()
    return Src, Analysis


def test_restrict_by_hidden_job_metadata(schema):
    with dj.config.override(jobs={"add_job_metadata": True, "version_method": "none"}):
        Src, Analysis = _metadata_pipeline(schema)
    assert len(Analysis & "_job_duration >= 0") == 2
    assert len(Analysis & "_job_start_time IS NOT NULL") == 2
    assert len(Analysis - "_job_duration >= 0") == 0
    assert len(Analysis & "_job_version = ''" & "r > 20") == 1
    assert len(Analysis & dj.AndList(["_job_duration >= 0", "r > 20"])) == 1
    assert len(Analysis & ["_job_duration < 0", "r = 20"]) == 1
    assert len(Analysis & dj.Not("_job_duration >= 0")) == 0
    assert len((Analysis & dj.Top(1)) & "_job_start_time IS NOT NULL") == 1
    assert len(Src & (Analysis & "_job_duration >= 0")) == 2
    # the hidden attributes stay out of what is fetched, the heading and joins
    restricted = Analysis & "_job_duration >= 0"
    assert restricted.heading.names == ["sid", "r"]
    assert restricted.to_dicts() == [{"sid": 1, "r": 20}, {"sid": 2, "r": 40}]
    assert sorted((restricted * Src).heading.names) == ["r", "sid", "v"]
    assert len(restricted * Src) == 2
    with pytest.raises(errors.QueryError, match="_job_duration"):
        Analysis.fetch("_job_duration")
    with pytest.raises(errors.UnknownAttributeError, match="_job_duration"):
        Analysis.proj("_job_duration")
    # only the table's own hidden attributes: other names still fail early
    with pytest.raises(errors.UnknownAttributeError, match="_job_duration"):
        Src & "_job_duration >= 0"
    with pytest.raises(errors.UnknownAttributeError, match="nosuch"):
        Analysis & "nosuch >= 0"
    # a dict naming a hidden attribute restricts nothing (DataJoint ignores unknown keys)
    assert len(Analysis & {"_job_duration": -1}) == 2
    (Analysis & "_job_duration >= 0" & "sid = 1").delete()
    assert Analysis.fetch("sid").tolist() == [2]


# -- 3. direct inserts into auto-populated tables and their parts ----------------------------
def _guarded_pipeline(schema):
    @schema
    class Src(dj.Manual):
        definition = """
        sid : int32
        """

    @schema
    class Imp(dj.Imported):
        definition = """
        -> Src
        """

        class Item(dj.Part):
            definition = """
            -> master
            i : int32
            """

        def make(self, key):
            self.insert1(key)

    @schema
    class Comp(dj.Computed):
        definition = """
        -> Src
        ---
        r : int32
        """

        class Item(dj.Part):
            definition = """
            -> master
            i : int32
            """

        def make(self, key):
            Comp().insert1(dict(key, r=1))          # any instance of the table being populated
            Comp.Item().insert1(dict(key, i=0))
            with pytest.raises(errors.JoinflowError) as info:   # another auto-populated table: no
                Imp.insert1(key)
            assert str(info.value) == GUARD

    Src.insert([(1,), (2,), (3,)])
    return Src, Imp, Comp


def test_direct_insert_guard(schema):
    Src, Imp, Comp = _guarded_pipeline(schema)
    for attempt in (lambda: Comp.insert1(dict(sid=1, r=5)),
                    lambda: Comp.insert([dict(sid=1, r=5)], skip_duplicates=True),
                    lambda: Comp.insert([]),
                    lambda: Comp.insert1(dict(sid=1, r=5), allow_direct_insert=False),
                    lambda: (Comp & "sid = 1").insert1(dict(sid=1, r=5)),
                    lambda: Imp.insert1(dict(sid=1))):
        with pytest.raises(errors.JoinflowError) as info:
            attempt()
        assert str(info.value) == GUARD
    assert len(Comp) == len(Imp) == 0
    Comp.insert1(dict(sid=1, r=5), allow_direct_insert=True)
    # a part takes direct inserts; its foreign key to the master keeps it consistent
    Comp.Item.insert1(dict(sid=1, i=7))
    Comp.Item.insert([dict(sid=1, i=8)], allow_direct_insert=False)
    with pytest.raises(errors.IntegrityError):
        Comp.Item.insert1(dict(sid=2, i=7))     # no master row
    with pytest.raises(errors.IntegrityError):
        Imp.Item.insert1(dict(sid=1, i=7))
    assert sorted(Comp.Item.fetch("i")) == [7, 8]
    assert Comp.populate()["success_count"] == 2
    assert (len(Comp), len(Comp.Item), len(Imp)) == (3, 4, 0)
    with pytest.raises(errors.JoinflowError, match="allow_direct_insert=True"):
        Comp.insert1(dict(sid=3, r=5), skip_duplicates=True)   # the populate is over


# -- 4. Mermaid ------------------------------------------------------------------------------
#: DataJoint 2.3.5's make_mermaid() text for the pipeline below (a schema ``SCHEMA`` whose
#: classes live in module ``MODULE``); its order of nodes and edges follows dict order, so
#: the test compares the lines as a multiset and the order by its rules.
DATAJOINT_TEXT = """flowchart LR

    classDef manual fill:#E8F0E9,stroke:#3E7A52,color:#28513A
    classDef lookup fill:#F0F0F1,stroke:#808285,color:#5A5C5F
    classDef computed fill:#FFEDE5,stroke:#FF5113,color:#B23200
    classDef imported fill:#E0F4FC,stroke:#00A0DF,color:#00537A
    classDef part fill:#FFFFFF,stroke:#B9BBBE,color:#55585C
    classDef other fill:#FFFDE7,stroke:#C9BC5B,color:#6B6420
    classDef collapsed fill:#EDEEF0,stroke:#808890,color:#404040

    subgraph SCHEMA["MODULE"]
        subgraph entity_Analysis[" "]
            Analysis([Analysis]):::computed
            Analysis_Unit[Unit]:::part
            Analysis_Stat[Stat]:::part
        end
        Subject[Subject]:::manual
        Session[Session]:::manual
        Species[Species]:::lookup
        Recording([Recording]):::imported
        Summary([Summary]):::computed
    end

    Subject --> Session
    Subject --> Analysis
    Subject --> Summary
    Session --> Recording
    Species --> Session
    Species --> Analysis_Stat
    Recording --> Analysis
    Analysis --> Analysis_Unit
    Analysis --> Analysis_Stat
    linkStyle 0 stroke:#171C39,stroke-width:1px
    linkStyle 1 stroke:#C77D3A,stroke-width:1px
    linkStyle 2 stroke:#171C39,stroke-width:2px
    linkStyle 3 stroke:#171C39,stroke-width:2px
    linkStyle 4 stroke:#171C39,stroke-width:1px
    linkStyle 5 stroke:#171C39,stroke-width:1px
    linkStyle 6 stroke:#171C39,stroke-width:2px
    linkStyle 7 stroke:#171C39,stroke-width:1px
    linkStyle 8 stroke:#171C39,stroke-width:1px"""


def _mermaid_pipeline(schema):
    @schema
    class Subject(dj.Manual):
        definition = """
        subject_id : int32
        ---
        name : varchar(20)
        """

    @schema
    class Species(dj.Lookup):
        definition = """
        species : varchar(20)
        """
        contents = [("mouse",)]

    @schema
    class Session(dj.Manual):
        definition = """
        -> Subject
        session : int32
        ---
        -> Species
        """

    @schema
    class Recording(dj.Imported):
        definition = """
        -> Session
        """

        def make(self, key):
            pass

    @schema
    class Analysis(dj.Computed):
        definition = """
        -> Recording
        ---
        -> Subject.proj(ref_subject="subject_id")
        """

        class Unit(dj.Part):
            definition = """
            -> master
            unit : int32
            """

        class Stat(dj.Part):
            definition = """
            -> master
            -> Species
            """

        def make(self, key):
            pass

    @schema
    class Summary(dj.Computed):
        definition = """
        -> Subject
        """

        def make(self, key):
            pass

    return locals()


def _parts(text: str) -> tuple[list, list, list[tuple[str, str]]]:
    """(edges with their link style, every other line sorted, the edge lines in order)."""
    lines = text.split("\n")
    edges = [line.strip() for line in lines if "-->" in line]
    styles = [re.fullmatch(r"    linkStyle (\d+) (.*)", line) for line in lines if "linkStyle" in line]
    assert [int(m.group(1)) for m in styles if m] == list(range(len(edges)))
    pairs = sorted(zip(edges, [m.group(2) for m in styles if m]))
    rest = sorted(line for line in lines if "-->" not in line and "linkStyle" not in line)
    return pairs, rest, edges


def test_mermaid_text_as_datajoint(schema):
    tables = _mermaid_pipeline(schema)
    with dj.config.override(display__diagram_direction="LR"):
        text = dj.Diagram(schema, context=tables).make_mermaid()
    module = tables["Subject"].__module__.rsplit(".", 1)[-1]
    expected = DATAJOINT_TEXT.replace("SCHEMA", schema.database).replace("MODULE", module)
    got_pairs, got_rest, edges = _parts(text)
    want_pairs, want_rest, _ = _parts(expected)
    assert got_pairs == want_pairs and got_rest == want_rest
    lines = text.split("\n")
    assert lines[:2] == ["flowchart LR", ""] and not text.endswith("\n")
    # the order's rules: the entity subgraph first in its schema; a blank line before the
    # edges; a parent's edges together; a linkStyle per edge after the edges
    start = lines.index(f'    subgraph {schema.database}["{module}"]')
    assert lines[start + 1] == '        subgraph entity_Analysis[" "]'
    assert lines[start + 2] == "            Analysis([Analysis]):::computed"
    first_edge = next(k for k, line in enumerate(lines) if "-->" in line)
    assert lines[first_edge - 1] == "" and lines[first_edge - 2] == "    end"
    parents = [e.split(" --> ")[0] for e in edges]
    assert all(parents.index(p) == k or parents[k - 1] == p for k, p in enumerate(parents))
    assert lines[first_edge + len(edges)].startswith("    linkStyle 0 ")


def test_mermaid_direction_collapse_and_two_schemas(make_schema):
    first, second = make_schema(), make_schema()

    @first
    class Subject(dj.Manual):
        definition = """
        subject_id : int32
        """

    @second
    class Extra(dj.Manual):
        definition = """
        -> Subject
        x : int32
        """

    @second
    class Derived(dj.Computed):
        definition = """
        -> Extra
        """

        def make(self, key):
            pass

    module = Subject.__module__.rsplit(".", 1)[-1]
    with dj.config.override(display__diagram_direction="TB"):
        text = (dj.Diagram(first) + dj.Diagram(second)).make_mermaid()
        collapsed = (dj.Diagram(first) + dj.Diagram(second).collapse()).make_mermaid()
    assert text.startswith("flowchart TB\n\n")
    # one module for two schemas: each subgraph is labelled with its schema's name
    assert f'    subgraph {first.database}["{first.database}"]' in text.split("\n")
    assert text.endswith("    Subject --> Extra\n    Extra --> Derived\n"
                         "    linkStyle 0 stroke:#171C39,stroke-width:1px\n"
                         "    linkStyle 1 stroke:#171C39,stroke-width:2px")
    assert (f'    subgraph {second.database}["{second.database}"]\n'
            f'        {second.database}[["(2 tables)"]]:::collapsed\n    end\n') in collapsed
    assert collapsed.endswith(f"    Subject --> {second.database}\n"
                              "    linkStyle 0 stroke:#171C39,stroke-width:1px")
    alone = dj.Diagram(Subject).make_mermaid()
    assert alone.endswith(f'    subgraph {first.database}["{module}"]\n'
                          "        Subject[Subject]:::manual\n    end\n")
