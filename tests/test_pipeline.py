"""A realistic two-schema pipeline: declare, populate, query across schemas, delete."""
from __future__ import annotations

import numpy as np
import pytest

import joinflow as dj
from joinflow import errors

RAW = {  # the "files" Scan imports: (subject, session) -> samples
    (s, k): np.arange(4 * s + k, dtype=np.float64) * (s + 1)
    for s in (1, 2, 3) for k in (1, 2)
}


def _build(make_schema):
    lab, ephys = make_schema("jflab"), make_schema("jfephys")

    @lab
    class Subject(dj.Manual):
        definition = """
        subject_id : int32
        ---
        species = "mouse" : varchar(16)
        """

    @ephys
    class Session(dj.Manual):
        definition = """
        -> Subject
        session : int16
        ---
        operator : varchar(16)
        """

    @ephys
    class Scan(dj.Imported):
        definition = """
        -> Session
        ---
        samples : longblob
        n : int32
        """

        def make(self, key):
            data = RAW[(key["subject_id"], key["session"])]
            if key["subject_id"] == 99:
                raise ValueError("corrupt file")
            self.insert1(dict(key, samples=data, n=len(data)))

    @ephys
    class Method(dj.Lookup):
        definition = """
        method : varchar(8)
        ---
        factor : float64
        """
        contents = [("single", 1.0), ("double", 2.0)]

    @ephys
    class Stats(dj.Computed):
        definition = """
        -> Scan
        -> Method
        ---
        mean : float64
        """

        class Sample(dj.Part):
            definition = """
            -> master
            idx : int32
            ---
            value : float64
            """

        def make(self, key):
            samples = (Scan & key).fetch1("samples")
            factor = (Method & key).fetch1("factor")
            values = samples * factor
            self.insert1(dict(key, mean=float(values.mean())))
            self.Sample.insert(dict(key, idx=i, value=float(v)) for i, v in enumerate(values))

    Subject.insert([(s, "mouse") for s in (1, 2, 3)])
    Session.insert([(s, k, "op") for s in (1, 2, 3) for k in (1, 2)])
    return lab, ephys, Subject, Session, Scan, Method, Stats


def test_pipeline_populate_query_delete(make_schema):
    lab, ephys, Subject, Session, Scan, Method, Stats = _build(make_schema)
    # default key sources: PK parents, projected to their keys
    assert len(Scan.key_source) == 6
    assert sorted(Scan.key_source.heading.names) == ["session", "subject_id"]
    assert len(Stats.key_source) == 0  # nothing scanned yet
    assert Scan.progress() == (6, 6)

    result = Scan.populate({"subject_id": 1})
    assert result["success"] == 2 and result["error"] == 0
    assert Scan.progress() == (4, 6)
    Scan.populate()
    assert Scan.progress() == (0, 6)
    assert Scan.populate()["success"] == 0  # nothing left
    assert len(Stats.key_source) == 12 and Stats.progress() == (12, 12)
    Stats.populate(max_calls=5)
    assert Stats.progress() == (7, 12)
    Stats.populate()
    assert Stats.progress() == (0, 12)

    # values flow through
    row = (Scan & {"subject_id": 2, "session": 1}).fetch1()
    assert np.array_equal(row["samples"], RAW[(2, 1)]) and row["n"] == 9
    mean = (Stats & {"subject_id": 2, "session": 1, "method": "double"}).fetch1("mean")
    assert mean == pytest.approx(RAW[(2, 1)].mean() * 2)
    assert len(Stats.Sample & {"subject_id": 2, "session": 1, "method": "double"}) == 9

    # a query across both schemas
    q = (Subject * Session * Stats) & {"method": "single", "species": "mouse"}
    assert len(q) == 6
    agg = Subject.aggr(Stats.Sample, n_samples="count(*)")
    counts = {r["subject_id"]: r["n_samples"] for r in agg.to_dicts()}
    assert counts == {s: 2 * sum(len(RAW[(s, k)]) for k in (1, 2)) for s in (1, 2, 3)}

    # deleting a subject in schema lab removes everything downstream in schema ephys
    expected = {Subject.full_table_name: 1, Session.full_table_name: 2, Scan.full_table_name: 2,
                Stats.full_table_name: 4,
                Stats.Sample.full_table_name: 2 * sum(len(RAW[(2, k)]) for k in (1, 2))}
    assert (Subject & {"subject_id": 2}).delete(dry_run=True) == expected
    assert (Subject & {"subject_id": 2}).delete(prompt=False) == 1
    for t in (Session, Scan, Stats, Stats.Sample):
        assert len(t & {"subject_id": 2}) == 0
    assert len(Scan) == 4 and len(Stats) == 8 and len(Method) == 2
    assert Scan.progress() == (0, 4)

    # dropping the upstream schema's table drops the dependents in the other schema
    Subject.drop(prompt=False)
    assert not Stats.Sample.is_declared and not Session.is_declared
    assert Method.is_declared


def test_populate_errors_and_rollback(make_schema):
    lab, ephys, Subject, Session, Scan, Method, Stats = _build(make_schema)
    Subject.insert1((99, "rat"))
    Session.insert1((99, 1, "op"))
    RAW[(99, 1)] = np.zeros(3)
    try:
        with pytest.raises(ValueError, match="corrupt"):
            Scan.populate({"subject_id": 99})
        assert len(Scan) == 0
        result = Scan.populate(suppress_errors=True)
        assert result["success"] == 6 and result["error"] == 1
        [(key, err)] = result["error_list"]
        assert key == {"subject_id": 99, "session": 1} and "corrupt" in str(err)
        result = Scan.populate(suppress_errors=True, return_exception_objects=True)
        [(key, err)] = result["error_list"]
        assert isinstance(err, ValueError)
        assert Scan.progress() == (1, 7)
        assert Scan.progress({"subject_id": 1}) == (0, 2)
    finally:
        del RAW[(99, 1)]


def test_make_failure_rolls_back_parts(make_schema):
    lab, ephys, Subject, Session, Scan, Method, Stats = _build(make_schema)
    Scan.populate()

    @ephys
    class Fragile(dj.Computed):
        definition = """
        -> Scan
        ---
        ok : int16
        """

        class Piece(dj.Part):
            definition = """
            -> master
            piece : int16
            """

        def make(self, key):
            self.insert1(dict(key, ok=1))
            self.Piece.insert1(dict(key, piece=1))
            if key["session"] == 2:
                raise RuntimeError("half way")

    result = Fragile.populate(suppress_errors=True)
    assert result["success"] == 3 and result["error"] == 3
    assert len(Fragile) == 3 and len(Fragile.Piece) == 3
    assert set(Fragile.to_arrays("session").tolist()) == {1}
    with pytest.raises(errors.JoinflowError, match="allow_direct_insert"):
        Fragile.insert1(dict(subject_id=1, session=2, ok=1))


def test_custom_key_source_and_make_kwargs(make_schema):
    lab, ephys, Subject, Session, Scan, Method, Stats = _build(make_schema)

    @ephys
    class Tagged(dj.Computed):
        definition = """
        -> Session
        ---
        tag : varchar(16)
        """

        @property
        def key_source(self):
            return Session & "session = 1"

        def make(self, key, tag="none"):
            self.insert1(dict(key, tag=tag))

    assert Tagged.progress() == (3, 3)
    Tagged.populate(make_kwargs={"tag": "hello"})
    assert set(Tagged.to_arrays("tag").tolist()) == {"hello"}
    assert len(Tagged) == 3 and Tagged.progress() == (0, 3)
    with pytest.raises(errors.JoinflowError, match="transaction"):
        with Tagged.connection.transaction:
            Tagged.populate()


def test_key_source_through_renamed_fk(schema):
    @schema
    class Person(dj.Manual):
        definition = """
        person_id : int32
        """

    @schema
    class Pair(dj.Computed):
        definition = """
        -> Person.proj(first='person_id')
        -> Person.proj(second='person_id')
        ---
        total : int32
        """

        def make(self, key):
            self.insert1(dict(key, total=key["first"] + key["second"]))

    Person.insert([(1,), (2,), (3,)])
    assert sorted(Pair.key_source.heading.names) == ["first", "second"]
    assert Pair.progress() == (9, 9)
    Pair.populate(keys=[{"first": 1, "second": 2}, {"first": 3, "second": 3}])
    assert Pair.to_dicts(order_by="KEY") == [dict(first=1, second=2, total=3),
                                             dict(first=3, second=3, total=6)]
    Pair.populate({"first": 2}, order="reverse")
    assert Pair.progress() == (4, 9)
    (Person & {"person_id": 2}).delete(prompt=False)
    assert len(Pair) == 1 and Pair.progress() == (3, 4)


def test_generator_and_tripartite_make(schema):
    @schema
    class Src(dj.Manual):
        definition = """
        src : int32
        ---
        value : int32
        """

    calls = []

    @schema
    class Gen(dj.Computed):
        definition = """
        -> Src
        ---
        double : int32
        """

        def make(self, key):
            value = (Src & key).fetch1("value")
            yield
            result = 2 * value
            yield
            self.insert1(dict(key, double=result))

    @schema
    class Tri(dj.Computed):
        definition = """
        -> Src
        ---
        square : int32
        """

        def make_fetch(self, key):
            calls.append(("fetch", schema.connection.in_transaction))
            return (Src & key).fetch1("value")

        def make_compute(self, key, value):
            calls.append(("compute", schema.connection.in_transaction))
            if key["src"] == 3:  # the input changes while computing
                Src.update1(dict(src=3, value=100))
            return value * value

        def make_insert(self, key, square):
            calls.append(("insert", schema.connection.in_transaction))
            self.insert1(dict(key, square=square))

    Src.insert([(1, 2), (2, 5), (3, 7)])
    assert Gen.populate()["success"] == 3
    assert Gen.to_arrays("double", order_by="src").tolist() == [4, 10, 14]
    result = Tri.populate(suppress_errors=True)
    assert result["success"] == 2 and result["error"] == 1
    assert "changed" in str(result["error_list"][0][1])
    assert Tri.to_arrays("square", order_by="src").tolist() == [4, 25]
    assert calls[:4] == [("fetch", False), ("compute", False), ("fetch", True),
                         ("insert", True)]
    Tri.populate()
    assert (Tri & {"src": 3}).fetch1("square") == 10000
