"""Second round of user scenarios: what a DataJoint user (0.12 - 2.x docs) does that the first
round (test_scenarios.py) does not cover — definition errors, dj.config / dj.conn usage,
0.14-style fetch, master-part patterns, Imported tables reading files, key_source, insert
edge cases, special types, alter, error classes and Python protocols (len/bool/in/iter/repr).

Every test runs on SQLite, PostgreSQL and MariaDB through the conftest fixtures.
"""
from __future__ import annotations

import datetime
import re
import json
import uuid

import numpy as np
import pandas as pd
import pytest

import joinflow as dj
from joinflow import errors

from conftest import unique_name


# --------------------------------------------------------------------------- shared pipeline
def _lab(schema, data=True):
    @schema
    class Subject(dj.Manual):
        definition = """
        # experimental subjects
        subject_id : int                 # unique subject id
        ---
        species = "mouse" : varchar(30)  # species name
        sex : enum('M', 'F', 'U')
        dob = null : date
        """

    @schema
    class Session(dj.Manual):
        definition = """
        -> Subject
        session : smallint
        ---
        session_date : date
        operator : varchar(60)
        """

    @schema
    class Method(dj.Lookup):
        definition = """
        method : varchar(16)
        ---
        factor : float
        """
        contents = [("double", 2.0), ("triple", 3.0)]

    if data:
        Subject.insert([
            dict(subject_id=1, sex="M", dob="2020-01-01"),
            dict(subject_id=2, sex="F", dob="2020-02-01"),
            dict(subject_id=3, sex="F", species="rat"),
            dict(subject_id=4, sex="U"),
        ])
        Session.insert([
            (1, 1, "2021-01-01", "alice"),
            (1, 2, "2021-01-02", "bob"),
            (2, 1, "2021-01-05", "alice"),
            (3, 1, "2021-02-01", "carol"),
        ])
    return Subject, Session, Method


# =========================================================================== definitions
def test_definition_syntax_errors_name_the_problem(schema):
    cases = {
        "UnknownType": ("id : int\n---\nx : notatype", "notatype"),
        "MissingColon": ("id int\n---\nx : int", "id int"),
        "NoAttributes": ("# only a comment\n---", "no attributes"),
        "BadFk": ("-> NoSuchTable\n---\nx : int", "NoSuchTable"),
    }
    for name, (definition, pattern) in cases.items():
        cls = type(name, (dj.Manual,), {"definition": definition})
        with pytest.raises(errors.DefinitionError, match=pattern):
            schema(cls)
    # DataJoint users catch the DataJoint name
    with pytest.raises(dj.DataJointError):
        schema(type("Again", (dj.Manual,), {"definition": "id : int\n---\nx : notatype"}))
    assert schema.list_tables() == []               # nothing half-declared


def test_duplicate_attribute_in_definition_is_rejected(schema):
    with pytest.raises(errors.DefinitionError, match="x"):
        @schema
        class Dup(dj.Manual):
            definition = """
            id : int
            ---
            x : int
            x : float
            """
    assert "dup" not in schema.list_tables()


def test_definition_comments_defaults_and_blank_lines(schema):
    @schema
    class Rig(dj.Lookup):
        definition = """
        # recording rigs in the lab

        rig : varchar(8)      # rig name
        ---
        # a full-line comment between attributes
        room = "B-101" : varchar(16)    # room with a dash
        note = "it's #1" : varchar(64)  # a default with a quote and a hash
        power = 1.5 : float
        active = 1 : tinyint
        """
        contents = [{"rig": "r1"}]

    row = Rig.fetch1()
    assert row == {"rig": "r1", "room": "B-101", "note": "it's #1", "power": 1.5, "active": 1}
    assert Rig.heading.attributes["room"].comment == "room with a dash"
    assert Rig.heading.attributes["note"].default is not None
    text = Rig.describe()
    assert "recording rigs in the lab" in text and "room with a dash" in text
    assert text.index("rig") < text.index("---") < text.index("room")


# =========================================================================== dj.config / conn
def test_config_item_access_and_override_restores():
    host = dj.config["database.host"]   # None until a server is named (then not SQLite)
    assert host == dj.config.database.host == dj.config["database"]["host"]
    assert dj.config["display.limit"] == dj.config.display.limit
    before = dj.config["display.limit"]
    with dj.config.override(display={"limit": 3}, safemode=True):
        assert dj.config["display.limit"] == 3 and dj.config["safemode"] is True
    assert dj.config["display.limit"] == before and dj.config["safemode"] is False
    with pytest.raises(RuntimeError, match="boom"):
        with dj.config.override(safemode=True):
            assert dj.config["safemode"] is True
            raise RuntimeError("boom")
    assert dj.config["safemode"] is False                  # restored on error too
    dj.config["display.limit"] = 7
    try:
        assert dj.config["display.limit"] == 7
    finally:
        dj.config["display.limit"] = before
    with pytest.raises((KeyError, errors.JoinflowError)):
        dj.config["database.hots"] = "typo"


def test_config_014_call_context_manager():
    with dj.config(display__limit=5, safemode=True):
        assert dj.config["display.limit"] == 5 and dj.config["safemode"] is True
    assert dj.config["safemode"] is False


def test_config_save_local(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with dj.config.override(display={"limit": 9}):
        dj.config.save_local()
    saved = json.loads((tmp_path / "dj_local_conf.json").read_text())
    assert saved.get("display.limit", saved.get("display", {}).get("limit")) == 9


def test_config_display_limit_controls_repr(schema):
    @schema
    class Number(dj.Lookup):
        definition = """
        n : int
        """
        contents = [(i,) for i in range(20)]

    with dj.config.override(display={"limit": 3}):
        text = repr(Number())
    assert "20" in text                                    # the total is shown
    shown = [line for line in text.splitlines() if line.strip() in {str(i) for i in range(20)}]
    assert len(shown) == 3


def test_dj_conn_global_connection_and_schema_without_connection(conn, backend, tmp_path):
    """The classic script: set dj.config['database.*'], then dj.conn() and dj.Schema('name')."""
    keys = ["host", "port", "user", "password", "backend"]
    keys += ["path"] if backend == "sqlite" else ["name"]
    database = {k: conn.config[f"database.{k}"] for k in keys}
    if backend == "sqlite":
        database["path"] = str(tmp_path / "global.db")
    with dj.config.override(database=database):
        assert dj.config["database.backend"] == backend
        c = dj.conn(reset=True)
        try:
            assert dj.conn() is c                       # the shared connection is reused
            lab = dj.Schema(unique_name("jfglobal"))    # no connection argument
            try:
                assert lab.connection is c

                @lab
                class Animal(dj.Manual):
                    definition = """
                    animal : int
                    """

                Animal.insert1((1,))
                assert Animal.connection is c and len(Animal) == 1
                assert lab.database in dj.list_schemas()
            finally:
                lab.drop(prompt=False)
        finally:
            c.close()


def test_connection_transaction_and_query(schema, conn):
    Subject, Session, Method = _lab(schema)
    assert Subject.connection is conn and schema.connection is conn
    assert not conn.in_transaction
    with conn.transaction:
        assert conn.in_transaction
        Subject.insert1(dict(subject_id=10, sex="M"))
    assert len(Subject & {"subject_id": 10}) == 1
    with pytest.raises(RuntimeError):
        with conn.transaction:
            Subject.insert1(dict(subject_id=11, sex="M"))
            raise RuntimeError("abort")
    assert len(Subject & {"subject_id": 11}) == 0
    assert not conn.in_transaction


# =========================================================================== 0.14 fetch
def test_fetch_record_array_dtypes(schema):
    @schema
    class Measure(dj.Manual):
        definition = """
        mid : int
        ---
        count_val : smallint
        maybe_int = null : int
        value : double
        label : varchar(20)
        day : date
        trace = null : longblob
        """

    Measure.insert([
        dict(mid=1, count_val=3, maybe_int=7, value=0.25, label="a", day="2020-01-01",
             trace=np.arange(3)),
        dict(mid=2, count_val=-4, value=1.5, label="bé", day="2020-01-02"),
    ])
    arr = Measure.fetch(order_by="mid")
    assert isinstance(arr, np.ndarray) and arr.dtype.names == (
        "mid", "count_val", "maybe_int", "value", "label", "day", "trace")
    assert arr.dtype["mid"].kind == "i" and arr.dtype["count_val"].kind == "i"
    assert arr.dtype["value"].kind == "f"
    assert arr["value"].tolist() == [0.25, 1.5]
    assert arr["label"].tolist() == ["a", "bé"]
    assert arr["day"][1] == datetime.date(2020, 1, 2)
    assert arr["maybe_int"][1] is None and arr["maybe_int"][0] == 7
    assert np.array_equal(arr["trace"][0], np.arange(3)) and arr["trace"][1] is None
    rec = arr[0]
    assert rec["mid"] == 1 and rec["label"] == "a"           # numpy.void records index by name
    empty = (Measure & "mid > 100").fetch()
    assert len(empty) == 0 and empty.dtype.names == arr.dtype.names
    labels = (Measure & "mid > 100").fetch("label")
    assert isinstance(labels, np.ndarray) and len(labels) == 0


def test_fetch_key_forms_and_frame(schema):
    Subject, Session, Method = _lab(schema)
    assert Subject.fetch(dj.key) == Subject.fetch("KEY")
    keys, sexes = Subject.fetch("KEY", "sex", order_by="subject_id")
    assert keys == [{"subject_id": i} for i in (1, 2, 3, 4)]
    assert list(sexes) == ["M", "F", "F", "U"]
    rows = Session.fetch("operator", as_dict=True, order_by="KEY")
    assert rows[0] == {"operator": "alice"} or rows[0] == {"subject_id": 1, "session": 1,
                                                          "operator": "alice"}
    keyed = Session.fetch("KEY", "operator", as_dict=True, order_by="KEY")
    assert keyed[1] == {"subject_id": 1, "session": 2, "operator": "bob"}
    df = Session.fetch(format="frame", order_by="KEY")
    assert isinstance(df, pd.DataFrame) and df.index.names == ["subject_id", "session"]
    assert df.loc[(2, 1), "operator"] == "alice"
    with pytest.raises(errors.JoinflowError):
        Session.fetch("operator", format="frame")
    with pytest.raises(errors.JoinflowError, match="format"):
        Session.fetch(format="table")
    assert (Session & {"subject_id": 3}).fetch1("KEY") == {"subject_id": 3, "session": 1}
    # the common 0.14 idiom: zip the arrays
    pairs = dict(zip(*Subject.fetch("subject_id", "species")))
    assert pairs[3] == "rat" and pairs[1] == "mouse"


def test_fetch_format_frame_from_config(schema):
    Subject, *_ = _lab(schema)
    with dj.config.override(fetch_format="frame"):
        df = Subject.fetch()
    assert isinstance(df, pd.DataFrame) and len(df) == 4
    assert isinstance(Subject.fetch(), np.ndarray)


# =========================================================================== aggregation / U
def test_aggr_keep_all_rows_014(schema):
    Subject, Session, Method = _lab(schema)
    kept = Subject.aggr(Session, n="count(session)", keep_all_rows=True)
    assert dict(zip(*kept.fetch("subject_id", "n"))) == {1: 2, 2: 1, 3: 1, 4: 0}
    inner = Subject.aggr(Session, n="count(session)", keep_all_rows=False)
    assert sorted(inner.fetch("subject_id")) == [1, 2, 3]
    last = Subject.aggr(Session, last="max(session_date)", keep_all_rows=True)
    assert (last & {"subject_id": 4}).fetch1("last") is None
    assert (last & {"subject_id": 1}).fetch1("last") == datetime.date(2021, 1, 2)


def test_universal_set_patterns(schema):
    Subject, Session, Method = _lab(schema)
    assert len(dj.U("sex") & Subject) == 3                        # distinct values
    assert sorted((dj.U("species") & Subject).fetch("species")) == ["mouse", "rat"]
    assert len(dj.U("operator") & Session) == 3
    counts = dj.U("operator").aggr(Session, n="count(*)")
    assert dict(zip(*counts.fetch("operator", "n"))) == {"alice": 2, "bob": 1, "carol": 1}
    per_sex = dj.U("sex").aggr(Subject, n="count(*)")
    assert (per_sex & {"sex": "F"}).fetch1("n") == 2
    total = dj.U().aggr(Session, n="count(*)", first="min(session_date)").fetch1()
    assert total == {"n": 4, "first": datetime.date(2021, 1, 1)}
    n_subjects = dj.U().aggr(Session, n="count(distinct subject_id)").fetch1("n")
    assert n_subjects == 3
    assert len(dj.U() & Session) == 1 and len(dj.U() & (Session & "session > 5")) == 0
    assert len(Subject & dj.U("sex")) == 4
    pairs = dj.U("subject_id", "operator") & Session
    assert pairs.primary_key == ["subject_id", "operator"] and len(pairs) == 4
    with pytest.raises(errors.JoinflowError):
        dj.U("weight") & Subject


# =========================================================================== master / part
def _pipeline(schema, tmp_path):
    Subject, Session, Method = _lab(schema)
    data_dir = tmp_path / "raw"
    data_dir.mkdir()

    @schema
    class RawFile(dj.Manual):
        definition = """
        -> Session
        ---
        file_name : varchar(255)
        """

    @schema
    class Recording(dj.Imported):
        definition = """
        -> RawFile
        ---
        n_samples : int
        mean_value : double
        """

        class Channel(dj.Part):
            definition = """
            -> master
            channel : tinyint
            ---
            samples : longblob
            peak : double
            """

        def make(self, key):
            path = data_dir / (RawFile & key).fetch1("file_name")
            data = np.loadtxt(path, delimiter=",", ndmin=2)
            self.insert1(dict(key, n_samples=data.shape[0], mean_value=float(data.mean())))
            self.Channel.insert(dict(key, channel=c, samples=data[:, c], peak=float(data[:, c].max()))
                                for c in range(data.shape[1]))

    @schema
    class Scaled(dj.Computed):
        definition = """
        -> Recording
        -> Method
        ---
        scaled_mean : double
        """

        @property
        def key_source(self):
            return Recording.proj() * Method & 'method = "double"'

        def make(self, key):
            mean = (Recording & key).fetch1("mean_value")
            self.insert1(dict(key, scaled_mean=mean * (Method & key).fetch1("factor")))

    for i, key in enumerate(Session.fetch("KEY", order_by="KEY")):
        name = f"rec_{key['subject_id']}_{key['session']}.csv"
        data = np.arange(6, dtype=float).reshape(3, 2) + i
        np.savetxt(data_dir / name, data, delimiter=",")
        RawFile.insert1(dict(key, file_name=name))
    return Subject, Session, Method, RawFile, Recording, Scaled


def test_imported_table_reads_files(schema, tmp_path):
    Subject, Session, Method, RawFile, Recording, Scaled = _pipeline(schema, tmp_path)
    assert len(Recording.key_source) == 4
    Recording.populate()
    assert len(Recording) == 4 and len(Recording.Channel) == 8
    row = (Recording & {"subject_id": 1, "session": 1}).fetch1()
    assert row["n_samples"] == 3 and row["mean_value"] == pytest.approx(2.5)
    samples = (Recording.Channel & {"subject_id": 1, "session": 1, "channel": 1}).fetch1("samples")
    assert np.array_equal(samples, np.array([1.0, 3.0, 5.0]))
    peaks = (Recording.Channel & {"channel": 0}).fetch("peak", order_by="subject_id, session")
    assert peaks.tolist() == [4.0, 5.0, 6.0, 7.0]
    assert Recording.progress() == (0, 4)


def test_populate_with_restrictions_and_key_source_property(schema, tmp_path):
    Subject, Session, Method, RawFile, Recording, Scaled = _pipeline(schema, tmp_path)
    Recording.populate({"subject_id": 1}, "session = 2")            # ANDed restrictions
    assert Recording.fetch("KEY") == [{"subject_id": 1, "session": 2}]
    Recording.populate(Subject & 'sex = "F"')
    assert len(Recording) == 3
    assert Recording.progress() == (1, 4)
    Recording.populate(dj.AndList([{"subject_id": 1}, "session = 1"]))
    assert len(Recording) == 4
    Scaled.populate()
    assert len(Scaled) == 4 and set(Scaled.fetch("method")) == {"double"}
    assert Scaled.progress() == (0, 4)
    v = (Scaled & {"subject_id": 1, "session": 1}).fetch1("scaled_mean")
    assert v == pytest.approx(5.0)


def test_master_part_delete_and_direct_insert_rules(schema, tmp_path):
    Subject, Session, Method, RawFile, Recording, Scaled = _pipeline(schema, tmp_path)
    Recording.populate()
    Scaled.populate()
    key = {"subject_id": 1, "session": 1}
    with pytest.raises(errors.JoinflowError, match="(?i)make|populate|direct"):
        Recording.insert1(dict(subject_id=2, session=1, n_samples=1, mean_value=0.0),
                          skip_duplicates=True)
    # DataJoint 2.3.5 guards only the master: a part of an existing master row takes inserts
    Recording.Channel.insert1(dict(key, channel=9, samples=np.zeros(1), peak=0.0))
    assert len(Recording.Channel & key) == 3
    # deleting the master removes its parts and its downstream computed rows
    (Recording & key).delete()
    assert len(Recording.Channel & key) == 0 and len(Scaled & key) == 0
    assert len(Recording) == 3 and len(Recording.Channel) == 6
    # a direct part delete is refused (0.14 and 2.x) ...
    with pytest.raises(errors.JoinflowError, match="(?i)part|master"):
        (Recording.Channel & {"subject_id": 2}).delete()
    assert len(Recording.Channel) == 6
    # ... unless forced (0.14 spelling)
    (Recording.Channel & {"subject_id": 2}).delete(force=True)
    assert len(Recording.Channel) == 4 and len(Recording & {"subject_id": 2}) == 1
    # deleting an upstream manual row cascades through master and parts
    (Session & {"subject_id": 3}).delete()
    assert len(Recording & {"subject_id": 3}) == 0 and len(Recording.Channel) == 2


def test_make_inserts_master_and_parts_in_one_transaction(schema):
    Subject, Session, Method = _lab(schema)
    seen = []

    @schema
    class Summary(dj.Computed):
        definition = """
        -> Session
        ---
        n_items : int
        """

        class Item(dj.Part):
            definition = """
            -> master
            item : int
            ---
            value : varchar(20)
            """

        def make(self, key):
            seen.append(self.connection.in_transaction)
            self.insert1(dict(key, n_items=2))
            self.Item.insert([dict(key, item=0, value="x"), dict(key, item=1, value="y")])
            if key["subject_id"] == 3:
                # the duplicate part row aborts this key; master and parts roll back together
                self.Item.insert1(dict(key, item=1, value="dup"))

    Summary.populate(suppress_errors=True)
    assert all(seen) and len(seen) == 4
    assert len(Summary) == 3 and len(Summary.Item) == 6
    assert len(Summary & {"subject_id": 3}) == 0 and len(Summary.Item & {"subject_id": 3}) == 0
    with pytest.raises(errors.DuplicateError):
        Summary.populate()


# =========================================================================== drop
def test_table_drop_and_part_drop(schema):
    Subject, Session, Method = _lab(schema)

    @schema
    class Analysis(dj.Computed):
        definition = """
        -> Session
        ---
        score : float
        """

        class Detail(dj.Part):
            definition = """
            -> master
            idx : int
            """

        def make(self, key):
            self.insert1(dict(key, score=1.0))

    with pytest.raises(errors.JoinflowError, match="(?i)part|master"):
        Analysis.Detail.drop()
    with pytest.raises(errors.JoinflowError, match="(?i)restrict"):
        (Session & {"subject_id": 1}).drop()
    assert "__analysis__detail" in schema.list_tables()
    Session.drop()                                    # drops Analysis and its part too
    tables = schema.list_tables()
    assert "session" not in tables and "__analysis" not in tables
    assert "__analysis__detail" not in tables
    assert set(tables) == {"subject", "#method"}
    assert len(Subject) == 4


# =========================================================================== spawn / virtual
def test_spawn_missing_classes_and_virtual_module(schema, conn, tmp_path):
    _pipeline(schema, tmp_path)
    other = dj.Schema(schema.database, connection=conn)
    ctx: dict = {}
    other.spawn_missing_classes(context=ctx)
    assert {"Subject", "Session", "Method", "RawFile", "Recording", "Scaled"} <= set(ctx)
    assert issubclass(ctx["Subject"], dj.Manual) and issubclass(ctx["Method"], dj.Lookup)
    assert issubclass(ctx["Recording"], dj.Imported) and issubclass(ctx["Scaled"], dj.Computed)
    assert issubclass(ctx["Recording"].Channel, dj.Part)
    assert len(ctx["Method"]) == 2
    assert len(ctx["Subject"] * ctx["Session"] & 'sex = "F"') == 2
    vm = dj.create_virtual_module("pipeline", schema.database, connection=conn)
    assert issubclass(vm.Recording, dj.Imported)
    assert vm.Recording.Channel.full_table_name.endswith(
        ctx["Recording"].Channel.full_table_name.split(".")[-1])
    assert vm.schema.database == schema.database
    vm.Subject.insert1(dict(subject_id=9, sex="M"))
    assert len(ctx["Subject"]) == 5


# =========================================================================== introspection
def test_describe_renders_fk_variants_and_indexes(schema):
    Subject, Session, Method = _lab(schema, data=False)

    @schema
    class Pairing(dj.Manual):
        definition = """
        # pairs of subjects
        -> Subject.proj(male='subject_id')
        -> Subject.proj(female='subject_id')
        ---
        -> [nullable] Method
        tag = null : varchar(20)
        unique index (tag)
        """

    text = Pairing.describe()
    assert "pairs of subjects" in text
    assert "male" in text and "female" in text and ".proj(" in text
    assert "-> [nullable] Method" in text
    assert re.search(r"unique index\s*\(`?\"?tag", text, re.IGNORECASE)
    attrs = Pairing.heading.attributes
    assert attrs["method"].nullable and not attrs["male"].nullable
    assert attrs["male"].in_key and not attrs["tag"].in_key
    assert Pairing.primary_key == ["male", "female"]
    info = Pairing.parents(foreign_key_info=True)
    aliased = [(name, props) for name, props in info if props["aliased"]]
    assert {name for name, _ in aliased} == {Subject.full_table_name}
    assert sorted(tuple(props["attr_map"].items()) for _, props in aliased) == [
        (("female", "subject_id"),), (("male", "subject_id"),)]
    assert set(Pairing.parents(primary=False)) == {Method.full_table_name}
    assert Pairing.full_table_name in Subject.children()
    assert Pairing.full_table_name in Method.children(primary=False)
    Subject.insert([dict(subject_id=1, sex="M"), dict(subject_id=2, sex="F")])
    Pairing.insert1(dict(male=1, female=2))
    with pytest.raises(errors.ForeignKeyError):
        Pairing.insert1(dict(male=1, female=3))
    Pairing.insert1(dict(male=2, female=1, tag="x"))
    Pairing.insert1(dict(male=2, female=2))                   # NULL tags never collide
    with pytest.raises(errors.DuplicateError):
        Pairing.insert1(dict(male=1, female=1, tag="x"))
    assert len(Pairing) == 3


def test_heading_and_expression_headings(schema):
    Subject, Session, Method = _lab(schema)
    h = Subject.heading
    assert h.names == ["subject_id", "species", "sex", "dob"]
    assert h.primary_key == ["subject_id"] and h.secondary_attributes == ["species", "sex", "dob"]
    assert h.attributes["dob"].nullable and not h.attributes["sex"].nullable
    assert h.attributes["subject_id"].numeric and h.attributes["species"].string
    assert h.attributes["subject_id"].comment == "unique subject id"
    assert "species" in str(h) and "subject_id" in repr(h)
    joined = Subject * Session
    assert joined.primary_key == ["subject_id", "session"]
    agg = Subject.aggr(Session, n="count(*)")
    assert agg.primary_key == ["subject_id"] and "n" in agg.heading.secondary_attributes
    assert Session.proj("operator").heading.names == ["subject_id", "session", "operator"]
    assert (dj.U("operator") & Session).heading.names == ["operator"]
    assert Session.parents() == [Subject.full_table_name]
    assert Session.parents(as_objects=True)[0].full_table_name == Subject.full_table_name
    assert Subject.children(as_objects=True)[0].full_table_name == Session.full_table_name
    assert Subject.descendants()[0] == Subject.full_table_name or \
        Session.full_table_name in Subject.descendants()
    assert Subject.full_table_name in Session.ancestors()


# =========================================================================== restrictions
def test_restrict_by_andlist_of_dicts_and_strings(schema):
    Subject, Session, Method = _lab(schema)

    def ids(q):
        return sorted({int(k["subject_id"]) for k in q.fetch("KEY")})

    assert ids(Session & dj.AndList([{"subject_id": 1}, "session > 1"])) == [1]
    assert ids(Session & dj.AndList([{"operator": "alice"}, 'session_date > "2021-01-03"'])) == [2]
    assert ids(Session & dj.AndList([])) == [1, 2, 3]
    assert ids(Session & [{"subject_id": 1}, {"subject_id": 3}]) == [1, 3]         # OR
    assert ids(Session & dj.AndList([[{"subject_id": 1}, {"subject_id": 3}],
                                     "operator != 'bob'"])) == [1, 3]
    assert ids(Subject & dj.Not([{"sex": "F"}, {"sex": "U"}])) == [1]
    assert ids(Subject - dj.AndList([{"sex": "F"}, "species = 'rat'"])) == [1, 2, 4]
    assert ids(Subject & {}) == [1, 2, 3, 4]
    assert ids(Subject & True) == [1, 2, 3, 4] and ids(Subject & False) == []
    assert ids(Subject & (Session & "operator = 'carol'")) == [3]
    assert ids(Subject & "dob IS NULL") == [3, 4]
    assert ids(Subject & {"dob": None}) == [3, 4]
    assert ids(Subject & {"dob": datetime.date(2020, 2, 1)}) == [2]
    rec = Subject.fetch(order_by="subject_id")
    assert ids(Subject & rec[1:3]) == [2, 3]                  # a slice of a record array


# =========================================================================== insert edge cases
def test_insert_edge_cases(schema):
    Subject, Session, Method = _lab(schema)

    @schema
    class Female(dj.Manual):
        definition = """
        subject_id : int
        ---
        sex : enum('M', 'F', 'U')
        """

    Female.insert([])                                           # nothing to do
    Female.insert(r for r in [])                                # empty generator
    Female.insert(np.array([], dtype=[("subject_id", "i8"), ("sex", "O")]))
    assert len(Female) == 0
    records = (Subject & 'sex = "F"').fetch()                   # extra fields species, dob
    with pytest.raises(errors.JoinflowError, match="species|dob"):
        Female.insert(records)
    Female.insert(records, ignore_extra_fields=True)
    assert sorted(Female.fetch("subject_id")) == [2, 3]
    df = (Subject & 'sex != "F"').fetch(format="frame").reset_index()
    df["comment"] = "extra"
    with pytest.raises(errors.JoinflowError, match="comment|species"):
        Female.insert(df)
    Female.insert(df, ignore_extra_fields=True)
    assert len(Female) == 4
    Female.insert(((i, "U") for i in range(100, 103)))            # generator of tuples
    Female.insert([[200, "M"], [201, "F"]])                       # list of lists
    assert len(Female) == 9
    with pytest.raises(errors.JoinflowError):
        Female.insert1((300,))                                    # too few positional values
    with pytest.raises(errors.JoinflowError):
        Female.insert1((300, "M", "extra"))
    assert len(Female & "subject_id = 300") == 0
    Female.insert1(dict(subject_id=np.int64(301), sex=np.str_("M")))
    assert (Female & {"subject_id": 301}).fetch1("sex") == "M"


def test_insert_with_missing_required_value_and_unknown_field_errors(schema):
    Subject, Session, Method = _lab(schema, data=False)
    with pytest.raises(dj.errors.MissingAttributeError, match="sex"):
        Subject.insert1(dict(subject_id=1))
    with pytest.raises(dj.errors.UnknownAttributeError, match="weight"):
        Subject.insert1(dict(subject_id=1, sex="M", weight=3))
    Subject.insert1(dict(subject_id=1, sex="M"))
    with pytest.raises(dj.errors.DuplicateError) as info:
        Subject.insert1(dict(subject_id=1, sex="F"))
    assert isinstance(info.value, dj.errors.IntegrityError)
    assert isinstance(info.value, dj.DataJointError)
    with pytest.raises(dj.errors.IntegrityError):
        Session.insert1(dict(subject_id=2, session=1, session_date="2020-01-01", operator="x"))
    try:
        Session.insert1(dict(subject_id=7, session=1, session_date="2020-01-01", operator="x"))
    except dj.DataJointError as exc:                      # the catch-all used in scripts
        assert "foreign" in str(exc).lower() or "parent" in str(exc).lower() \
            or "constraint" in str(exc).lower()
    else:
        pytest.fail("no error for a missing parent")


def test_string_length_and_enum_enforced_on_every_backend(schema):
    @schema
    class Label(dj.Manual):
        definition = """
        label_id : int
        ---
        short : varchar(5)
        kind : enum('a', 'b')
        code : char(3)
        """

    Label.insert1((1, "abcde", "a", "xyz"))
    with pytest.raises(errors.DataError):
        Label.insert1((2, "abcdef", "a", "xyz"))
    with pytest.raises(errors.DataError):
        Label.insert1((3, "ok", "c", "xyz"))
    assert len(Label) == 1


# =========================================================================== special types
def test_unicode_and_long_strings(schema):
    @schema
    class Text(dj.Manual):
        definition = """
        text_id : varchar(32)
        ---
        body : varchar(4000)
        note = "" : varchar(255)
        """

    long_body = "αβγ-" * 900 + "終"
    rows = [("grüße", long_body, "emoji 🐭 mouse"), ("日本語", "短い", "")]
    Text.insert(rows)
    assert (Text & {"text_id": "grüße"}).fetch1("body") == long_body
    assert len((Text & {"text_id": "grüße"}).fetch1("body")) == 3601
    assert (Text & {"text_id": "grüße"}).fetch1("note") == "emoji 🐭 mouse"
    assert (Text & "text_id = '日本語'").fetch1("body") == "短い"
    assert len(Text & "note LIKE '%🐭%'") == 1
    assert sorted(Text.fetch("text_id")) == sorted(["grüße", "日本語"])
    assert Text.fetch("KEY", order_by="text_id")[0]["text_id"] in ("grüße", "日本語")


def test_big_and_unsigned_integers(schema):
    @schema
    class Counter(dj.Manual):
        definition = """
        counter_id : bigint
        ---
        big : bigint
        ubyte : tinyint unsigned
        uint : int unsigned
        small : smallint
        """

    rows = [(2**62, 2**63 - 1, 255, 2**32 - 1, -32768),
            (-(2**62), -(2**63), 0, 0, 32767)]
    Counter.insert(rows)
    got = Counter.fetch(as_dict=True, order_by="counter_id")
    assert [tuple(r.values()) for r in got] == sorted(rows)
    assert all(type(v) is int for v in got[0].values())
    assert (Counter & {"counter_id": 2**62}).fetch1("big") == 2**63 - 1
    assert len(Counter & f"big > {2**62}") == 1
    arr = Counter.fetch("big", order_by="counter_id")
    assert arr.dtype == np.int64 and arr[0] == -(2**63)
    with pytest.raises(errors.DataError):
        Counter.insert1((1, 0, 256, 0, 0))                       # tinyint unsigned overflow
    with pytest.raises(errors.DataError):
        Counter.insert1((2, 0, 0, -1, 0))                        # negative into unsigned


def test_bigint_unsigned_max(schema, backend, request):
    if backend == "sqlite":
        request.applymarker(pytest.mark.xfail(
            reason="BUG: bigint unsigned (uint64) values >= 2**63 are refused on SQLite",
            strict=True))
    @schema
    class Hash(dj.Manual):
        definition = """
        h : bigint unsigned
        """

    Hash.insert([(2**64 - 1,), (2**63,), (1,)])
    assert sorted(Hash.fetch("h").tolist()) == [1, 2**63, 2**64 - 1]
    assert (Hash & {"h": 2**64 - 1}).fetch1("h") == 2**64 - 1


def test_uuid4_keys_generated_in_code(schema):
    @schema
    class Sample(dj.Manual):
        definition = """
        sample_uuid : uuid
        ---
        label : varchar(16)
        """

    @schema
    class Aliquot(dj.Manual):
        definition = """
        -> Sample
        aliquot : int
        ---
        volume : float
        """

    uids = [uuid.uuid4() for _ in range(5)]
    Sample.insert(dict(sample_uuid=u, label=f"s{i}") for i, u in enumerate(uids))
    Aliquot.insert([dict(sample_uuid=uids[0], aliquot=a, volume=1.5) for a in range(3)])
    keys = Sample.fetch("KEY")
    assert {k["sample_uuid"] for k in keys} == set(uids)
    assert all(isinstance(k["sample_uuid"], uuid.UUID) for k in keys)
    assert len(Sample & [{"sample_uuid": u} for u in uids[:2]]) == 2
    assert (Sample & {"sample_uuid": uids[3]}).fetch1("label") == "s3"
    assert len(Sample & Aliquot) == 1 and len(Sample - Aliquot) == 4
    arr = Sample.fetch("sample_uuid")
    assert isinstance(arr[0], uuid.UUID)
    df = Sample.to_pandas()
    assert set(df.index) == set(uids)
    row = (Aliquot * Sample & {"aliquot": 2}).fetch1()
    assert row["sample_uuid"] == uids[0] and row["label"] == "s0"
    (Sample & {"sample_uuid": uids[0]}).delete()
    assert len(Aliquot) == 0
    with pytest.raises(errors.DuplicateError):
        Sample.insert1(dict(sample_uuid=str(uids[1]).upper(), label="again"))


def test_time_timestamp_and_datetime_types(schema):
    @schema
    class Event(dj.Manual):
        definition = """
        event_id : int
        ---
        start_time : time
        happened : datetime(6)
        logged = CURRENT_TIMESTAMP : timestamp
        day = null : date
        """

    before = datetime.datetime.now() - datetime.timedelta(days=1)
    Event.insert1(dict(event_id=1, start_time="13:45:10",
                       happened=datetime.datetime(2022, 3, 4, 5, 6, 7, 123456)))
    Event.insert1(dict(event_id=2, start_time=datetime.timedelta(hours=1, minutes=2),
                       happened="2022-03-04 05:06:08", logged="2022-01-01 00:00:00",
                       day=datetime.date(2022, 3, 4)))
    row = (Event & {"event_id": 1}).fetch1()
    assert row["start_time"] in (datetime.timedelta(hours=13, minutes=45, seconds=10),
                                 datetime.time(13, 45, 10))
    assert row["happened"] == datetime.datetime(2022, 3, 4, 5, 6, 7, 123456)
    assert isinstance(row["logged"], datetime.datetime) and row["logged"] > before
    assert row["day"] is None
    assert (Event & {"event_id": 2}).fetch1("logged") == datetime.datetime(2022, 1, 1)
    assert len(Event & 'happened > "2022-03-04 05:06:07.5"') == 1
    assert len(Event & 'start_time > "12:00:00"') == 1
    assert len(Event & {"happened": datetime.datetime(2022, 3, 4, 5, 6, 8)}) == 1


def test_nullable_secondary_foreign_key(schema):
    Subject, Session, Method = _lab(schema)

    @schema
    class Processing(dj.Manual):
        definition = """
        proc_id : int
        ---
        -> [nullable] Method
        -> [nullable] Subject
        note = "" : varchar(40)
        """

    Processing.insert([dict(proc_id=1, method="double", subject_id=1),
                       dict(proc_id=2, note="no method"),
                       dict(proc_id=3, method=None, subject_id=None)])
    assert (Processing & {"proc_id": 2}).fetch1() == {"proc_id": 2, "method": None,
                                                      "subject_id": None, "note": "no method"}
    assert sorted((Processing & "method IS NULL").fetch("proc_id")) == [2, 3]
    assert len(Processing * Method) == 1
    assert len(Method & Processing) == 1
    with pytest.raises(errors.ForeignKeyError):
        Processing.insert1(dict(proc_id=4, method="quadruple"))
    Processing.update1(dict(proc_id=2, method="triple"))
    assert (Processing & {"proc_id": 2}).fetch1("method") == "triple"
    Processing.update1(dict(proc_id=2, method=None))
    assert (Processing & {"proc_id": 2}).fetch1("method") is None
    (Subject & {"subject_id": 1}).delete()
    assert sorted(Processing.fetch("proc_id")) == [2, 3]


# =========================================================================== update1 / alter
def test_update1_on_blobs(schema):
    @schema
    class Model(dj.Manual):
        definition = """
        model_id : int
        ---
        weights : longblob
        meta = null : longblob
        """

    Model.insert1(dict(model_id=1, weights=np.zeros((2, 2))))
    Model.update1(dict(model_id=1, weights=np.ones((3, 3), dtype=np.float32)))
    w = (Model & {"model_id": 1}).fetch1("weights")
    assert w.shape == (3, 3) and w.dtype == np.float32 and w.sum() == 9
    Model.update1(dict(model_id=1, meta={"lr": 0.1, "layers": [4, 8]}))
    meta = (Model & {"model_id": 1}).fetch1("meta")
    assert meta["lr"] == 0.1 and list(meta["layers"]) == [4, 8]
    Model.update1(dict(model_id=1, meta=None))
    assert (Model & {"model_id": 1}).fetch1("meta") is None
    with pytest.raises(errors.JoinflowError):
        Model.update1(dict(model_id=1, weights=None))           # not nullable, no default
    assert (Model & {"model_id": 1}).fetch1("weights").shape == (3, 3)


def test_alter_table_comment_and_add_attribute(schema):
    @schema
    class Animal(dj.Manual):
        definition = """
        # animals
        animal_id : int
        ---
        name : varchar(20)
        """

    Animal.insert([(1, "rex"), (2, "tom")])
    Animal.definition = """
    # animals in the colony
    animal_id : int
    ---
    name : varchar(20)   # call name
    weight = null : float   # grams
    color = "brown" : varchar(12)
    """
    Animal.alter(prompt=False)
    assert Animal.heading.names == ["animal_id", "name", "weight", "color"]
    assert (Animal & {"animal_id": 1}).fetch1() == {"animal_id": 1, "name": "rex",
                                                    "weight": None, "color": "brown"}
    assert Animal.heading.attributes["name"].comment == "call name"
    assert "animals in the colony" in Animal.describe()
    Animal.insert1(dict(animal_id=3, name="kit", weight=12.5))
    assert (Animal & {"animal_id": 3}).fetch1("color") == "brown"
    Animal.definition = """
    # animals in the colony
    animal_id : bigint
    ---
    name : varchar(20)   # call name
    weight = null : float   # grams
    color = "brown" : varchar(12)
    """
    with pytest.raises(NotImplementedError, match="(?i)primary key"):
        Animal.alter(prompt=False)


# =========================================================================== python protocols
def test_len_bool_iteration_in_and_repr(schema):
    Subject, Session, Method = _lab(schema)
    assert len(Subject) == 4 and len(Subject * Session) == 4
    assert len(Subject.aggr(Session, n="count(*)")) == 4
    assert len(Session.proj()) == 4 and len(dj.U("operator") & Session) == 3
    assert bool(Subject) and not bool(Subject & "subject_id > 10")
    empty = Subject & "subject_id > 10"
    assert list(empty) == [] and len(empty) == 0
    keys = [k for k in Session.proj()]
    assert {(k["subject_id"], k["session"]) for k in keys} == {(1, 1), (1, 2), (2, 1), (3, 1)}
    assert {"subject_id": 2} in Subject and {"subject_id": 2, "sex": "M"} not in Subject
    assert {"subject_id": 1, "session": 2} in Session
    assert "subject_id = 3" in Subject
    text = repr(Subject())
    assert "subject_id" in text and "species" in text and "rat" in text and "4" in text
    text = repr(Subject & "subject_id > 10")
    assert "subject_id" in text and "0" in text
    assert "session" in repr(Subject * Session)
    html = (Subject & "subject_id = 1")._repr_html_()
    assert "<table" in html.lower() and "subject_id" in html


def test_delete_counts_and_delete_quick(schema):
    Subject, Session, Method = _lab(schema)
    assert (Session & {"subject_id": 1}).delete() == 2
    assert (Session & "subject_id > 100").delete() == 0
    assert (Session & {"subject_id": 2}).delete_quick(get_count=True) == 1
    with pytest.raises(errors.IntegrityError):
        (Subject & {"subject_id": 3}).delete_quick()             # a session still references it
    assert len(Subject) == 4 and len(Session) == 1
    assert Subject.delete() == 4 and len(Session) == 0


def test_unique_secondary_index_duplicate(schema, backend, request):
    @schema
    class User(dj.Manual):
        definition = """
        user_id : int
        ---
        email : varchar(64)
        unique index (email)
        """

    User.insert1((1, "a@x.org"))
    with pytest.raises(errors.DuplicateError):
        User.insert1((2, "a@x.org"))
    User.insert1((2, "a@x.org"), skip_duplicates=True)             # silently skipped
    assert len(User) == 1


def test_schema_lifecycle(make_schema, conn):
    lab = make_schema("jflife")
    assert lab.exists and lab.database in dj.list_schemas(connection=conn)

    @lab
    class Thing(dj.Manual):
        definition = """
        thing : int
        """

    Thing.insert1((1,))
    lab.drop(prompt=False)
    assert not lab.exists and lab.database not in dj.list_schemas(connection=conn)
    with pytest.raises(errors.JoinflowError):
        dj.Schema(lab.database, connection=conn, create_schema=False)


def test_connection_query_returns_cursor(conn):
    cur = conn.query("SELECT 1")
    assert cur.fetchone()[0] == 1
    assert conn.query("SELECT 2").fetchall()[0][0] == 2


def test_heading_defaults_consistent_across_backends(schema, backend, request):

    @schema
    class Animal(dj.Manual):
        definition = """
        animal_id : int
        ---
        species = "mouse" : varchar(30)
        kind = "a" : enum('a', 'b')
        n = 3 : int
        """

    attrs = Animal.heading.attributes
    assert attrs["species"].default.strip("'\"") == "mouse"
    assert attrs["kind"].default.strip("'\"") == "a"
    assert str(attrs["n"].default) == "3"


# =========================================================================== more user habits
def test_dataframe_with_nan_and_none_inserts_null(schema):
    @schema
    class Weighing(dj.Manual):
        definition = """
        weigh_id : int
        ---
        weight = null : float
        count = null : int
        note = null : varchar(20)
        """

    df = pd.DataFrame({"weigh_id": [1, 2, 3], "weight": [20.5, np.nan, 21.0],
                       "count": [1, None, 3], "note": ["ok", None, np.nan]})
    Weighing.insert(df)
    rows = Weighing.fetch(as_dict=True, order_by="weigh_id")
    assert rows[1] == {"weigh_id": 2, "weight": None, "count": None, "note": None}
    assert rows[0]["count"] == 1 and type(rows[0]["count"]) is int
    assert rows[2]["note"] is None and rows[2]["weight"] == 21.0
    assert sorted((Weighing & "weight IS NULL").fetch("weigh_id")) == [2]


def test_preview_shows_blob_placeholder_and_total(schema):
    @schema
    class Trace(dj.Manual):
        definition = """
        trace_id : int
        ---
        data : longblob
        label : varchar(10)
        """

    Trace.insert([(i, np.random.rand(100), f"t{i}") for i in range(3)])
    text = repr(Trace())
    assert "=BLOB=" in text and "t1" in text and "3" in text
    assert Trace.heading.attributes["data"].is_blob
    assert not Trace.heading.attributes["label"].is_blob
    assert Trace.proj(..., "-data").heading.names == ["trace_id", "label"]
    assert (Trace & {"trace_id": 1}).fetch1("data").shape == (100,)


def test_alter_rename_and_drop_attribute(schema):
    @schema
    class Probe(dj.Manual):
        definition = """
        probe_id : int
        ---
        maker : varchar(20)
        obsolete = 0 : int
        """

    Probe.insert1((1, "acme", 5))
    Probe.definition = """
    probe_id : int
    ---
    manufacturer : varchar(20)   # {maker} renamed
    """
    Probe.alter(prompt=False)
    assert Probe.heading.names == ["probe_id", "manufacturer"]
    assert (Probe & {"probe_id": 1}).fetch1("manufacturer") == "acme"
    Probe.definition = """
    probe_id : int
    ---
    manufacturer : varchar(20)
    -> Probe
    """
    with pytest.raises((NotImplementedError, errors.JoinflowError)):
        Probe.alter(prompt=False)


def test_nested_transactions_and_delete_inside_transaction(schema, conn):
    Subject, Session, Method = _lab(schema)
    with conn.transaction:
        Subject.insert1(dict(subject_id=20, sex="M"))
        try:
            with conn.transaction:                    # inner block: a savepoint
                Subject.insert1(dict(subject_id=21, sex="M"))
                raise ValueError("inner failure")
        except ValueError:
            pass
        (Session & {"subject_id": 1}).delete(transaction=False)
    assert {"subject_id": 20} in Subject and {"subject_id": 21} not in Subject
    assert len(Session & {"subject_id": 1}) == 0


def test_free_table_and_missing_table_errors(schema, conn):
    Subject, Session, Method = _lab(schema)
    free = dj.FreeTable(conn, Subject.full_table_name)
    assert len(free) == 4 and free.primary_key == ["subject_id"]
    assert sorted((free & 'sex = "F"').fetch("subject_id")) == [2, 3]
    missing_name = Subject.full_table_name.replace("subject", "nosuchtable")
    with pytest.raises(errors.MissingTableError):
        len(dj.FreeTable(conn, missing_name))
    vm = dj.create_virtual_module("lab", schema.database, connection=conn)
    with pytest.raises(AttributeError):
        vm.NoSuchTable


def test_instances_and_class_level_operators(schema):
    Subject, Session, Method = _lab(schema)
    assert len(Subject()) == len(Subject) == 4
    assert (Subject() & {"subject_id": 1}).fetch1("sex") == "M"
    q = Subject.proj("sex") * Session.proj("operator") & 'operator = "alice"'
    assert sorted(q.fetch("subject_id")) == [1, 2]
    assert (Subject & Session) .fetch("KEY", order_by="subject_id") == [
        {"subject_id": 1}, {"subject_id": 2}, {"subject_id": 3}]
    assert len(Subject - Session) == 1
    assert len(Subject * Session * Method) == 8
    assert Subject().table_name == Subject.table_name == "subject"


def test_populate_uses_key_source_with_renamed_parent(schema):
    Subject, Session, Method = _lab(schema)

    @schema
    class Comparison(dj.Computed):
        definition = """
        -> Subject.proj(subject_a='subject_id')
        -> Subject.proj(subject_b='subject_id')
        ---
        same_sex : tinyint
        """

        @property
        def key_source(self):
            a = Subject.proj(subject_a="subject_id")
            b = Subject.proj(subject_b="subject_id")
            return a * b & "subject_a < subject_b"

        def make(self, key):
            sa = (Subject & {"subject_id": key["subject_a"]}).fetch1("sex")
            sb = (Subject & {"subject_id": key["subject_b"]}).fetch1("sex")
            self.insert1(dict(key, same_sex=int(sa == sb)))

    assert len(Comparison.key_source) == 6
    Comparison.populate({"subject_a": 2})
    assert len(Comparison) == 2
    Comparison.populate()
    assert len(Comparison) == 6
    assert (Comparison & {"subject_a": 2, "subject_b": 3}).fetch1("same_sex") == 1
    (Subject & {"subject_id": 2}).delete()
    assert len(Comparison) == 3


def test_u_aggr_keep_all_rows_is_an_error(schema):
    Subject, Session, Method = _lab(schema)
    with pytest.raises(errors.JoinflowError):
        dj.U("sex").aggr(Subject, n="count(*)", keep_all_rows=True).fetch()
    with pytest.raises(errors.JoinflowError, match="(?i)infinite|not supported|U"):
        dj.U("sex") - Subject


def test_insert_csv_path_bool_and_decimal(schema, tmp_path):
    import decimal
    import pathlib

    @schema
    class Price(dj.Manual):
        definition = """
        item : int
        ---
        active = 0 : bool
        price = null : decimal(8,2)
        """

    Price.insert([(1, True, "1.25"), (2, np.bool_(False), decimal.Decimal("3.50"))])
    Price.insert1(dict(item=3, active=1))
    csv = pathlib.Path(tmp_path) / "prices.csv"
    csv.write_text("item,active,price\n10,1,2.5\n11,0,\n")
    Price.insert(csv)                                          # 0.14.0+: a CSV file path
    rows = {r["item"]: r for r in Price.fetch(as_dict=True)}
    assert rows[1]["price"] == decimal.Decimal("1.25") and rows[1]["active"] is True
    assert rows[2]["active"] is False and rows[2]["price"] == decimal.Decimal("3.50")
    assert rows[3]["price"] is None
    assert rows[10]["price"] == decimal.Decimal("2.50") and rows[11]["price"] is None
    assert sorted((Price & "active").fetch("item")) == [1, 3, 10]
    assert sorted((Price & {"active": False}).fetch("item")) == [2, 11]
    total = dj.U().aggr(Price, s="sum(price)").fetch1("s")
    assert decimal.Decimal(str(total)) == decimal.Decimal("7.25")


def test_populate_error_reporting(schema):
    Subject, Session, Method = _lab(schema)

    @schema
    class Check(dj.Computed):
        definition = """
        -> Subject
        ---
        ok : tinyint
        """

        def make(self, key):
            if key["subject_id"] == 2:
                raise ValueError("bad subject 2")
            self.insert1(dict(key, ok=1))

    with pytest.raises(ValueError, match="bad subject 2"):
        Check.populate(order="original")
    n_before = len(Check)
    result = Check.populate(suppress_errors=True)
    assert len(Check) == 3 and n_before < 3
    errs = result["error_list"] if isinstance(result, dict) else result
    assert len(errs) == 1 and errs[0][0] == {"subject_id": 2}
    assert "bad subject 2" in str(errs[0][1])
    result = Check.populate(suppress_errors=True, return_exception_objects=True)
    errs = result["error_list"] if isinstance(result, dict) else result
    assert isinstance(errs[0][1], ValueError)
    assert Check.progress() == (1, 4)


def test_reserve_jobs_records_errors(schema):
    Subject, Session, Method = _lab(schema)

    @schema
    class Check(dj.Computed):
        definition = """
        -> Subject
        ---
        ok : tinyint
        """

        def make(self, key):
            if key["subject_id"] == 2:
                raise ValueError("bad subject 2")
            self.insert1(dict(key, ok=1))

    Check.populate(reserve_jobs=True, suppress_errors=True)
    jobs = Check.jobs if hasattr(Check, "jobs") else schema.jobs
    errors_ = jobs & 'status = "error"'
    assert len(errors_) == 1
    assert "bad subject 2" in errors_.fetch1("error_message")


def test_insert_select_with_renamed_projection_and_class_iteration(schema):
    Subject, Session, Method = _lab(schema)

    @schema
    class Visit(dj.Manual):
        definition = """
        visitor : int
        visit : smallint
        ---
        visit_date : date
        """

    Visit.insert(Session.proj(visitor="subject_id", visit="session", visit_date="session_date"))
    assert len(Visit) == 4
    assert (Visit & {"visitor": 2}).fetch1("visit_date") == datetime.date(2021, 1, 5)
    assert sorted(r["visitor"] for r in Visit) == [1, 1, 2, 3]          # iterate the class
    rows = [row for row in Session & {"subject_id": 1}]
    assert {r["operator"] for r in rows} == {"alice", "bob"}


def test_mixed_row_kinds_in_one_insert_give_a_datajoint_error(schema):
    Subject, Session, Method = _lab(schema, data=False)
    with pytest.raises(dj.DataJointError, match="(?i)field|attribute|differ|mix"):
        Subject.insert([dict(subject_id=1, sex="M"), (2, "mouse", "F", None)])
    with pytest.raises(dj.DataJointError, match="(?i)field|attribute|differ|mix"):
        Subject.insert([(3, "mouse", "F", None), dict(subject_id=4, sex="M")])
    assert len(Subject) == 0


def test_table_class_name(schema):
    Subject, Session, Method = _lab(schema, data=False)
    assert Subject.class_name == "Subject" and Method().class_name == "Method"
