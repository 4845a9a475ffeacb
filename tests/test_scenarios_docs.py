"""DataJoint 2.x documentation examples, followed literally (docs.datajoint.com).

Sources (datajoint/datajoint-docs, src/...):
  how-to/query-data.md, how-to/fetch-results.md, how-to/insert-data.md,
  how-to/delete-data.md, how-to/define-tables.md, how-to/alter-tables.md,
  tutorials/basics/04-queries.ipynb, reference/specs/{query-algebra,primary-keys,
  semantic-matching,fetch-api,data-manipulation,virtual-schemas}.md

Only what is needed to run on SQLite, PostgreSQL and MariaDB was adapted (fixtures instead of
``dj.Schema('name')``). Expected values are the documented outputs where the page shows them.
"""
from __future__ import annotations

import datetime
import random
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

import joinflow as dj
from joinflow import errors


# --------------------------------------------------------------------------- tutorial data
def _queries_tutorial(schema, extra_session=False):
    """Tables and data of tutorials/basics/04-queries.ipynb (cells 2-3), verbatim."""

    @schema
    class Subject(dj.Manual):
        definition = """
        subject_id : varchar(16)
        ---
        species : varchar(50)
        date_of_birth : date
        sex : enum('M', 'F', 'U')
        weight : decimal(4,1)        # grams
        """

    @schema
    class Experimenter(dj.Manual):
        definition = """
        experimenter_id : varchar(16)
        ---
        full_name : varchar(100)
        """

    @schema
    class Session(dj.Manual):
        definition = """
        -> Subject
        session_idx : int32
        ---
        -> Experimenter
        session_date : date
        duration : decimal(4,1)      # minutes
        """

        class Trial(dj.Part):
            definition = """
            -> master
            trial_idx : int32
            ---
            stimulus : varchar(50)
            response : varchar(50)
            correct : bool
            reaction_time : decimal(3,2)  # seconds
            """

    rng = random.Random(42)
    Experimenter.insert([
        {'experimenter_id': 'alice', 'full_name': 'Alice Smith'},
        {'experimenter_id': 'bob', 'full_name': 'Bob Jones'},
    ])
    Subject.insert([
        {'subject_id': 'M001', 'species': 'Mus musculus',
         'date_of_birth': '2026-01-15', 'sex': 'M', 'weight': 25.3},
        {'subject_id': 'M002', 'species': 'Mus musculus',
         'date_of_birth': '2026-02-01', 'sex': 'F', 'weight': 22.1},
        {'subject_id': 'M003', 'species': 'Mus musculus',
         'date_of_birth': '2026-02-15', 'sex': 'M', 'weight': 26.8},
        {'subject_id': 'R001', 'species': 'Rattus norvegicus',
         'date_of_birth': '2024-01-01', 'sex': 'F', 'weight': 280.5},
    ])
    sessions = [
        {'subject_id': 'M001', 'session_idx': 1, 'experimenter_id': 'alice',
         'session_date': '2026-01-06', 'duration': 45.0},
        {'subject_id': 'M001', 'session_idx': 2, 'experimenter_id': 'alice',
         'session_date': '2026-01-07', 'duration': 50.0},
        {'subject_id': 'M002', 'session_idx': 1, 'experimenter_id': 'bob',
         'session_date': '2026-01-06', 'duration': 40.0},
        {'subject_id': 'M002', 'session_idx': 2, 'experimenter_id': 'bob',
         'session_date': '2026-01-08', 'duration': 55.0},
        {'subject_id': 'M003', 'session_idx': 1, 'experimenter_id': 'alice',
         'session_date': '2026-01-07', 'duration': 35.0},
    ]
    Session.insert(sessions)
    trials = []
    for s in sessions:
        for i in range(10):
            trials.append({
                'subject_id': s['subject_id'],
                'session_idx': s['session_idx'],
                'trial_idx': i + 1,
                'stimulus': rng.choice(['left', 'right']),
                'response': rng.choice(['left', 'right']),
                'correct': rng.random() > 0.3,
                'reaction_time': round(rng.uniform(0.2, 0.8), 2),
            })
    Session.Trial.insert(trials)
    if extra_session:  # a session without trials, to see what aggregation keeps
        Session.insert1({'subject_id': 'M003', 'session_idx': 2, 'experimenter_id': 'bob',
                         'session_date': '2026-01-09', 'duration': 20.0})
    return Subject, Experimenter, Session, trials


def _ids(rows, *names):
    return [tuple(r[n] for n in names) if len(names) > 1 else r[names[0]] for r in rows]


# =========================================================================== query-data
def test_tutorial_restrictions_documented_outputs(schema):
    """04-queries.ipynb cells 3-10: counts and rows shown in the notebook."""
    Subject, Experimenter, Session, _ = _queries_tutorial(schema)
    assert (len(Subject()), len(Session()), len(Session.Trial())) == (4, 5, 50)
    assert _ids((Subject & "weight > 25").to_dicts(order_by="KEY"), "subject_id") == \
        ["M001", "M003", "R001"]
    assert _ids((Subject & "sex = 'M' AND weight > 25").keys(), "subject_id") == ["M001", "M003"]
    assert _ids((Subject & {'sex': 'F'}).keys(), "subject_id") == ["M002", "R001"]
    row = (Session & {'subject_id': 'M001', 'session_idx': 1}).fetch1()
    assert row == {'subject_id': 'M001', 'session_idx': 1, 'experimenter_id': 'alice',
                   'session_date': datetime.date(2026, 1, 6), 'duration': Decimal('45.0')}
    assert (Subject & "subject_id = 'R001'").fetch1("weight") == Decimal("280.5")


def test_query_data_restriction_forms(schema):
    """how-to/query-data.md, 'Restriction' and 'Anti-Restriction'."""
    Subject, Experimenter, Session, _ = _queries_tutorial(schema)
    assert len(Session & "session_date > '2026-01-06'") == 3
    assert len(Session & "duration BETWEEN 30 AND 60") == 5
    assert len(Session & "duration BETWEEN 41 AND 51") == 2
    assert len(Session & {'subject_id': 'M001'}) == 2
    assert len(Session & {'subject_id': 'M001', 'session_idx': 1}) == 1
    assert len(Session & Subject) == 5
    assert _ids((Session & (Subject & "sex = 'M'")).keys(), "subject_id", "session_idx") == \
        [("M001", 1), ("M001", 2), ("M003", 1)]
    assert len(Session & [{'subject_id': 'M001'}, {'subject_id': 'M002'}]) == 4
    assert _ids((Subject - Session).keys(), "subject_id") == ["R001"]
    assert len(Session - {'subject_id': 'M001'}) == 3


def test_query_data_top(schema):
    """how-to/query-data.md 'Top N Rows (dj.Top)'."""
    Subject, Experimenter, Session, _ = _queries_tutorial(schema)
    assert len(Session & dj.Top(10)) == 5
    assert len(Session & dj.Top(2)) == 2
    assert _ids((Session & dj.Top(2)).keys(), "subject_id", "session_idx") == \
        [("M001", 1), ("M001", 2)]
    latest = (Session & dj.Top(1, 'session_date DESC')).fetch1()
    assert latest["session_date"] == datetime.date(2026, 1, 8)
    page = (Session & dj.Top(2, ['session_date DESC', 'subject_id'], offset=1)).keys()
    assert sorted(_ids(page, "subject_id", "session_idx")) == [("M001", 2), ("M003", 1)]
    assert len(Session & dj.Top(10, 'session_date DESC', offset=20)) == 0
    assert len(Session & dj.Top(None, 'session_date DESC')) == 5
    assert sorted(_ids((Session & dj.Top(2, 'KEY DESC')).keys(), "subject_id", "session_idx")) \
        == [("M002", 2), ("M003", 1)]


def test_query_data_projection(schema):
    """how-to/query-data.md 'Projection (.proj())'."""
    Subject, Experimenter, Session, _ = _queries_tutorial(schema)
    assert Subject.proj().heading.names == ["subject_id"]
    assert Subject.proj('species', 'sex').heading.names == ["subject_id", "species", "sex"]
    assert Subject.proj(...).heading.names == \
        ["subject_id", "species", "date_of_birth", "sex", "weight"]
    assert Subject.proj(..., '-weight').heading.names == \
        ["subject_id", "species", "date_of_birth", "sex"]
    renamed = Subject.proj(animal_species='species')
    assert renamed.heading.names == ["subject_id", "animal_species"]
    assert (renamed & {"subject_id": "R001"}).fetch1("animal_species") == "Rattus norvegicus"
    kg = Subject.proj(weight_kg='weight / 1000')
    assert float((kg & {"subject_id": "R001"}).fetch1("weight_kg")) == pytest.approx(0.2805)
    assert kg.primary_key == ["subject_id"]


def test_query_data_join_and_precedence(schema):
    """how-to/query-data.md 'Join (*)' and 'Operator Precedence'."""
    Subject, Experimenter, Session, _ = _queries_tutorial(schema)
    j = Subject * Session
    assert len(j) == 5
    assert j.primary_key == ["subject_id", "session_idx"]
    assert len(Subject * Session * Experimenter) == 5
    assert "full_name" in (Subject * Session * Experimenter).heading.names
    assert len((Subject & "sex = 'M'") * Session) == 3
    cond = "duration > 42"
    assert len((Subject & "sex = 'M'") * (Session & cond)) == 2
    # * binds tighter than &: Subject * Session & cond == (Subject * Session) & cond
    assert len(Subject * Session & cond) == len((Subject * Session) & cond) == 3
    # chain from the how-to, with the restriction written as a parenthesised join
    result = ((Subject & "sex = 'M'") * Session & "duration > 30").proj(
        'species', 'session_date', 'duration')
    # Session determines Subject: the join reads as Session * Subject (Session's first)
    assert result.heading.names == ["subject_id", "session_idx", "session_date", "duration",
                                    "species"]
    assert len(result) == 3


def test_query_data_aggregation(schema):
    """how-to/query-data.md 'Aggregation (.aggr())'; spec query-algebra §5.7."""
    Subject, Experimenter, Session, trials = _queries_tutorial(schema, extra_session=True)
    counts = Session.aggr(Session.Trial, n_trials='count(trial_idx)')
    assert len(counts) == 6
    got = {(r["subject_id"], r["session_idx"]): r["n_trials"] for r in counts.to_dicts()}
    assert got[("M003", 2)] == 0 and got[("M001", 1)] == 10
    stats = Session.aggr(Session.Trial, n_trials='count(trial_idx)',
                         avg_rt='avg(reaction_time)', min_rt='min(reaction_time)')
    row = (stats & {'subject_id': 'M002', 'session_idx': 2}).fetch1()
    mine = [t["reaction_time"] for t in trials if (t["subject_id"], t["session_idx"]) ==
            ("M002", 2)]
    assert float(row["avg_rt"]) == pytest.approx(sum(mine) / 10, abs=1e-6)
    assert Decimal(row["min_rt"]) == Decimal(str(min(mine)))
    empty = (stats & {'subject_id': 'M003', 'session_idx': 2}).fetch1()
    assert empty["n_trials"] == 0 and empty["avg_rt"] is None and empty["min_rt"] is None
    assert len(Session.aggr(Session.Trial, n='count(trial_idx)', exclude_nonmatching=True)) == 5
    # restriction on the result goes to HAVING / an outer WHERE
    assert len(Session.aggr(Session.Trial, n='count(trial_idx)') & "n > 5") == 5
    n_correct = Session.aggr(Session.Trial, n_correct='sum(correct = 1)')
    expect = sum(t["correct"] for t in trials if t["subject_id"] == "M001" and
                 t["session_idx"] == 1)
    assert int((n_correct & {'subject_id': 'M001', 'session_idx': 1}).fetch1("n_correct")) == \
        expect


def test_query_data_universal_set(schema):
    """how-to/query-data.md 'Universal Set (dj.U())'."""
    Subject, Experimenter, Session, _ = _queries_tutorial(schema)
    species = dj.U('species') & Subject
    assert species.primary_key == ["species"] and species.heading.names == ["species"]
    assert sorted(_ids(species.to_dicts(), "species")) == ["Mus musculus", "Rattus norvegicus"]
    by_date = dj.U('session_date').aggr(Session, n='count(session_idx)')
    assert by_date.primary_key == ["session_date"]
    assert {r["session_date"]: r["n"] for r in by_date.to_dicts()} == {
        datetime.date(2026, 1, 6): 2, datetime.date(2026, 1, 7): 2,
        datetime.date(2026, 1, 8): 1}
    total = dj.U().aggr(Session, total='count(*)')
    assert total.primary_key == [] and total.fetch1() == {"total": 5}
    assert len(dj.U() & Session) == 1


def test_query_data_extend_keeps_all_rows(schema):
    """how-to/query-data.md 'Extension' / query-algebra §6: NULL where B has no match."""
    @schema
    class Experimenter(dj.Manual):
        definition = """
        experimenter_id : varchar(16)
        ---
        full_name : varchar(100)
        """

    @schema
    class Session(dj.Manual):
        definition = """
        session_id : int32
        ---
        -> [nullable] Experimenter
        session_date : date
        """

    Experimenter.insert1({'experimenter_id': 'alice', 'full_name': 'Alice Smith'})
    Session.insert([{'session_id': 1, 'experimenter_id': 'alice', 'session_date': '2026-01-06'},
                    {'session_id': 2, 'session_date': '2026-01-07'}])
    ext = Session.extend(Experimenter)
    assert ext.primary_key == ["session_id"]
    assert ext.heading.names == ["session_id", "experimenter_id", "session_date", "full_name"]
    assert [r["full_name"] for r in ext.to_dicts(order_by="KEY")] == ["Alice Smith", None]
    assert len(Session * Experimenter) == 1
    assert len(Session.join(Experimenter, left=True)) == 2


def test_query_data_make_sql(schema):
    """how-to/query-data.md 'View Query': make_sql() and len() without fetching."""
    Subject, Experimenter, Session, _ = _queries_tutorial(schema)
    condition = "sex = 'F'"
    sql = (Subject & condition).make_sql()
    assert isinstance(sql, str) and sql.lstrip().upper().startswith("SELECT")
    assert len(Subject & condition) == 2


# =========================================================================== fetch-results
def test_fetch_results_output_methods(schema):
    """how-to/fetch-results.md and reference/specs/fetch-api.md."""
    Subject, Experimenter, Session, _ = _queries_tutorial(schema)
    rows = Subject.to_dicts()
    assert isinstance(rows, list) and len(rows) == 4 and isinstance(rows[0], dict)
    assert rows[0] == {'subject_id': 'M001', 'species': 'Mus musculus',
                       'date_of_birth': datetime.date(2026, 1, 15), 'sex': 'M',
                       'weight': Decimal('25.3')}
    df = Subject.to_pandas()
    assert isinstance(df, pd.DataFrame) and df.index.name == "subject_id"
    assert list(df.columns) == ["species", "date_of_birth", "sex", "weight"]
    df = Session.to_pandas()
    assert isinstance(df.index, pd.MultiIndex)
    assert list(df.index.names) == ["subject_id", "session_idx"]
    assert df.loc[("M002", 2), "experimenter_id"] == "bob"
    arr = Subject.to_arrays()
    assert isinstance(arr, np.ndarray)
    assert arr.dtype.names == ("subject_id", "species", "date_of_birth", "sex", "weight")
    species, weights = Subject.to_arrays('species', 'weight')
    assert list(species) == ["Mus musculus"] * 3 + ["Rattus norvegicus"]
    assert [float(w) for w in weights] == [25.3, 22.1, 26.8, 280.5]
    keys = Session.keys()
    assert keys[0] == {'subject_id': 'M001', 'session_idx': 1} and len(keys) == 5
    for key in keys:
        assert len(Session & key) == 1
    row = (Subject & {'subject_id': 'M001'}).fetch1()
    assert row["sex"] == "M"
    species, weight = (Subject & {'subject_id': 'M001'}).fetch1('species', 'weight')
    assert (species, weight) == ("Mus musculus", Decimal("25.3"))
    # method summary: fetch1 of one attribute is the bare value
    assert (Subject & {'subject_id': 'M002'}).fetch1('sex') == "F"


def test_fetch_results_ordering_and_limiting(schema):
    """how-to/fetch-results.md 'Ordering and Limiting'."""
    Subject, Experimenter, Session, _ = _queries_tutorial(schema)
    assert _ids(Subject.to_dicts(order_by='weight DESC'), "subject_id") == \
        ["R001", "M003", "M001", "M002"]
    assert _ids(Session.to_dicts(order_by=['session_date DESC', 'duration']),
                "subject_id", "session_idx") == \
        [("M002", 2), ("M003", 1), ("M001", 2), ("M002", 1), ("M001", 1)]
    assert _ids(Subject.to_dicts(order_by='KEY'), "subject_id") == \
        ["M001", "M002", "M003", "R001"]
    assert len(Subject.to_dicts(limit=10)) == 4
    assert len(Subject.to_dicts(limit=2)) == 2
    assert _ids(Subject.to_dicts(order_by='KEY', limit=10, offset=2), "subject_id") == \
        ["M003", "R001"]
    assert _ids(Subject.to_dicts(order_by='KEY DESC', limit=1), "subject_id") == ["R001"]
    # to_arrays with limit / offset (fetch-api migration table)
    ids = Subject.to_arrays('subject_id', order_by='KEY', limit=2, offset=1)
    ids = ids[0] if isinstance(ids, tuple) else ids
    assert list(ids) == ["M002", "M003"]
    # keys() accepts the same parameters
    assert Session.keys(order_by='KEY DESC', limit=1) == [{'subject_id': 'M003',
                                                           'session_idx': 1}]


def test_fetch_streaming_iteration_and_head_tail(schema):
    """fetch-results.md 'Streaming'; fetch-api head/tail and proj column selection."""
    Subject, Experimenter, Session, _ = _queries_tutorial(schema)
    seen = []
    for row in Subject:
        assert isinstance(row, dict)
        seen.append(row["subject_id"])
        if row["subject_id"] == "M002":
            break  # early termination
    assert seen == ["M001", "M002"]
    assert [r["subject_id"] for r in Subject] == ["M001", "M002", "M003", "R001"]
    assert list(Subject) == Subject.to_dicts()
    assert _ids(Session.Trial.head(3), "trial_idx") == [1, 2, 3]
    assert _ids(Session.head(limit=2), "subject_id", "session_idx") == [("M001", 1), ("M001", 2)]
    assert _ids(Session.tail(limit=2), "subject_id", "session_idx") == [("M002", 2), ("M003", 1)]
    assert len(Session.Trial.head()) == 25
    # column selection with proj(), then an output method
    assert Subject.proj('sex').to_dicts()[0] == {"subject_id": "M001", "sex": "M"}
    assert list(Subject.proj('sex', 'weight').to_pandas().columns) == ["sex", "weight"]


def test_fetch1_requires_exactly_one_row(schema):
    """fetch-api: fetch1() raises if not exactly one row."""
    Subject, Experimenter, Session, _ = _queries_tutorial(schema)
    with pytest.raises(errors.DataJointError):
        Subject.fetch1()
    with pytest.raises(errors.DataJointError):
        (Subject & {'subject_id': 'X999'}).fetch1()
    with pytest.raises(errors.DataJointError):
        (Subject & "sex = 'F'").fetch1('weight')


def test_top_limit_inherits_ordering_in_output_methods(schema):
    """query-algebra §12.6: to_arrays(..., limit=N) applies Top(N, order_by=None)."""
    Subject, Experimenter, Session, _ = _queries_tutorial(schema)
    query = Subject & dj.Top(order_by="weight DESC", limit=None)
    ids, weights = query.to_arrays("subject_id", "weight", limit=2)
    assert list(ids) == ["R001", "M003"]
    assert [float(w) for w in weights] == [280.5, 26.8]
    assert _ids(query.to_dicts(limit=3), "subject_id") == ["R001", "M003", "M001"]


# =========================================================================== query algebra spec
def test_spec_dict_restriction_unmatched_keys_are_ignored(schema):
    """query-algebra §2.4: unmatched keys are skipped; no match at all gives all rows."""
    Subject, Experimenter, Session, _ = _queries_tutorial(schema)
    assert len(Session & {"subject_id": "M001", "nonexistent": "value"}) == 2
    assert len(Session & {"nonexistent": "value"}) == 5
    assert len(Session - {"nonexistent": "value"}) == 0
    # a row fetched from another table works as a restriction
    subj = (Subject & {"subject_id": "M002"}).fetch1()
    assert len(Session & subj) == 2
    # string restrictions validate names
    with pytest.raises(errors.DataJointError, match="nonexistent"):
        len(Session & "nonexistent = 'value'")


def test_spec_string_restriction_unknown_attribute_error_type(schema):
    """query-algebra §2.11: unknown attribute in a string → UnknownAttributeError."""
    Subject, Experimenter, Session, _ = _queries_tutorial(schema)
    with pytest.raises(errors.UnknownAttributeError):
        len(Session & "nonexistent = 'value'")


def test_spec_restriction_condition_types(schema):
    """query-algebra §2.2 / §2.6 / §2.8 condition kinds."""
    Subject, Experimenter, Session, _ = _queries_tutorial(schema)
    assert len(Session & True) == 5
    assert len(Session & False) == 0
    assert len(Session & []) == 0
    assert len(Session - []) == 5
    # OR list is equivalent to IN
    a = Session & [{"subject_id": "M001"}, {"subject_id": "M002"}]
    b = Session & "subject_id IN ('M001', 'M002')"
    assert a.keys() == b.keys() and len(a) == 4
    # tuple and set also mean OR
    assert len(Session & ({"session_idx": 2}, "subject_id = 'M003'")) == 3
    # chaining means AND
    c1, c2 = "session_date > '2026-01-06'", {"experimenter_id": "alice"}
    assert (Session & c1 & c2).keys() == ((Session & c1) & c2).keys() == \
        [{"subject_id": "M001", "session_idx": 2}, {"subject_id": "M003", "session_idx": 1}]
    # numpy record (numpy.void) is treated like a dict
    rec = (Subject & {"subject_id": "M003"}).to_arrays()[0]
    assert isinstance(rec, np.void)
    assert (Subject & rec).keys() == [{"subject_id": "M003"}]
    # pandas DataFrame: OR of its rows
    df = pd.DataFrame({"subject_id": ["M001", "R001"]})
    assert _ids((Subject & df).keys(), "subject_id") == ["M001", "R001"]
    # Not and AndList
    assert len(Session & dj.Not({"subject_id": "M001"})) == 3
    assert len(Session & dj.AndList([c1, c2])) == 2
    # immutability (§1.1)
    original = Session()
    restricted = original & "session_date > '2026-01-06'"
    assert len(original) == 5 and len(restricted) == 3


def test_spec_top_chaining_merge_and_subquery(schema):
    """query-algebra §12.5 examples."""
    @schema
    class Result(dj.Manual):
        definition = """
        id : int32
        ---
        x : int32
        score : float64
        """

    Result.insert({"id": i, "x": 100 - i, "score": float((i * 37) % 101)} for i in range(1, 41))
    by_score = sorted(Result.to_dicts(), key=lambda r: -r["score"])
    # merge: second Top inherits order_by
    q = (Result & dj.Top(10, "score DESC")) & dj.Top(5, order_by=None)
    assert _ids(q.to_dicts(order_by="score DESC"), "id") == _ids(by_score[:5], "id")
    assert len(q) == 5
    # merge with offsets: Top(3, "x", offset=7)
    q = (Result & dj.Top(10, "x", offset=5)) & dj.Top(3, order_by=None, offset=2)
    by_x = sorted(Result.to_dicts(), key=lambda r: r["x"])
    assert sorted(_ids(q.to_dicts(), "id")) == sorted(_ids(by_x[7:10], "id"))
    # different ordering: first top 10 by score, then the 3 smallest ids of those
    q = (Result & dj.Top(10, "score DESC")) & dj.Top(3, "id ASC")
    assert sorted(_ids(q.to_dicts(), "id")) == sorted(_ids(by_score[:10], "id"))[:3]
    # restriction after a Top applies to the limited rows
    q = (Result & dj.Top(10, "score DESC")) & "id > 20"
    assert sorted(_ids(q.to_dicts(), "id")) == sorted(i for i in _ids(by_score[:10], "id")
                                                      if i > 20)
    # dj.Top() defaults: limit 1 by primary key
    assert (Result & dj.Top()).keys() == [{"id": 1}]
    assert _ids((Result & dj.Top(limit=5)).keys(), "id") == [1, 2, 3, 4, 5]
    assert _ids((Result & dj.Top(5, offset=10)).keys(), "id") == [11, 12, 13, 14, 15]


def test_spec_top_argument_errors(schema):
    """query-algebra §12.9 error conditions."""
    @schema
    class Item(dj.Manual):
        definition = """
        item : int32
        """

    Item.insert([(1,), (2,)])
    for bad in (lambda: dj.Top("5"), lambda: dj.Top(5, order_by=[7]),
                lambda: dj.Top(5, offset="1")):
        with pytest.raises(errors.DataJointError):
            bad()
    with pytest.raises(errors.DataJointError):
        len(Item & [dj.Top(1), {"item": 2}])
    with pytest.raises(errors.DataJointError):
        len(Item & dj.AndList([dj.Top(1), {"item": 2}]))


def test_spec_top_argument_type_errors_are_type_errors():
    with pytest.raises(TypeError, match="limit"):
        dj.Top("5")
    with pytest.raises(TypeError):
        dj.Top(5, order_by=7)
    with pytest.raises(TypeError, match="offset"):
        dj.Top(5, offset="1")


def test_spec_projection_rules_and_errors(schema):
    """query-algebra §3: renaming, duplication, alias of alias, error conditions."""
    Subject, Experimenter, Session, _ = _queries_tutorial(schema)
    dup = Subject.proj('species', animal='(species)')
    assert dup.heading.names == ["subject_id", "species", "animal"]
    r = (dup & {"subject_id": "M001"}).fetch1()
    assert r["species"] == r["animal"] == "Mus musculus"
    mice = Subject.proj(mouse_id='subject_id')
    assert mice.primary_key == ["mouse_id"] and mice.heading.names == ["mouse_id"]
    assert _ids(mice.keys(), "mouse_id") == ["M001", "M002", "M003", "R001"]
    assert Session.proj(..., '-duration', '-session_date').heading.names == \
        ["subject_id", "session_idx", "experimenter_id"]
    # projection of a projection that uses the alias (subquery), then restrict on it
    dec = Session.proj(dd='duration * 2').proj(quad='dd * 2')
    assert float((dec & {"subject_id": "M003", "session_idx": 1}).fetch1("quad")) == 140.0
    assert len(Session.proj(dd='duration * 2') & "dd > 95") == 2
    with pytest.raises(errors.DataJointError):
        Subject.proj(..., '-subject_id')          # cannot exclude a PK attribute
    with pytest.raises(errors.DataJointError):
        Subject.proj('nonexistent')
    # a new name that is not selected replaces nothing: proj(species='sex') is a rename
    assert (Subject.proj(species='sex') & {"subject_id": "M002"}).fetch1("species") == "F"


def test_spec_projection_new_name_clashes_with_selected_attribute(schema):
    Subject, Experimenter, Session, _ = _queries_tutorial(schema)
    with pytest.raises(errors.DataJointError, match="species"):
        Subject.proj('species', species='sex')


def test_spec_union(schema):
    """query-algebra §7: same PK, no shared secondaries, A's values take precedence."""
    @schema
    class Mouse(dj.Manual):
        definition = """
        animal_id : int32
        ---
        mouse_strain : varchar(20)
        """

    @schema
    class Rat(dj.Manual):
        definition = """
        -> Mouse.proj(rat_src='animal_id')
        """

    Mouse.insert([(1, "C57"), (2, "BALB"), (3, "C57")])
    u = Mouse.proj() + (Mouse & "animal_id > 1").proj()
    assert len(u) == 3 and u.primary_key == ["animal_id"]
    a = Mouse & "animal_id < 3"
    b = (Mouse & "animal_id > 1").proj(other='mouse_strain')
    u = a + b
    assert u.primary_key == ["animal_id"]
    rows = {r["animal_id"]: (r["mouse_strain"], r["other"]) for r in u.to_dicts()}
    assert rows == {1: ("C57", None), 2: ("BALB", "BALB"), 3: (None, "C57")}
    assert len(b + a) == len(a + b) == 3
    with pytest.raises(errors.DataJointError):
        Mouse + Mouse                             # shared secondary attribute
    with pytest.raises(errors.DataJointError):
        Mouse.proj() + Rat.proj()                 # different primary keys


def test_spec_universal_set_errors(schema):
    """query-algebra §8.6-8.7 and semantic-matching 'Invalid Operations'."""
    Subject, Experimenter, Session, _ = _queries_tutorial(schema)
    assert len(dj.U('sex') & Subject) == 2
    with pytest.raises(errors.DataJointError):
        dj.U('invalid') & Subject
    with pytest.raises(errors.DataJointError):
        dj.U('sex') - Subject
    with pytest.raises(errors.DataJointError):
        dj.U().aggr(Subject, n='count(*)', exclude_nonmatching=False)
    assert Subject & dj.U('sex') is not None and len(Subject & dj.U('sex')) == 4


def test_spec_removed_operators(schema):
    """semantic-matching.md 'Removed Operators': @ and ^ raise with migration guidance."""
    Subject, Experimenter, Session, _ = _queries_tutorial(schema)
    with pytest.raises(errors.DataJointError, match=r"semantic_check=False"):
        Session @ Subject
    with pytest.raises(errors.DataJointError, match=r"semantic_check=False"):
        Session ^ Subject
    assert len(Session.join(Subject, semantic_check=False)) == 5
    assert len(Session.restrict(Subject & "sex = 'F'", semantic_check=False)) == 2


# =========================================================================== primary keys spec
def _xyz(schema):
    """Dimension tables so that x, y, z are homologous wherever they appear."""
    @schema
    class X(dj.Manual):
        definition = """
        x : int32
        """

    @schema
    class Y(dj.Manual):
        definition = """
        y : int32
        """

    @schema
    class Z(dj.Manual):
        definition = """
        z : int32
        """

    X.insert([(1,), (2,)])
    Y.insert([(10,), (20,)])
    Z.insert([(100,), (200,)])
    return X, Y, Z


def _example1(schema):
    """primary-keys.md Example 1 tables: A(x*, y*) and B(x*, z*, y)."""
    X, Y, Z = _xyz(schema)

    @schema
    class A(dj.Manual):
        definition = """
        -> X
        -> Y
        """

    @schema
    class B(dj.Manual):
        definition = """
        -> X
        -> Z
        ---
        -> Y
        """

    return X, Y, Z, A, B


def test_primary_keys_example1_b_determines_a(schema):
    """primary-keys.md Example 1: A(x*, y*), B(x*, z*, y) → PK(A*B) = {x, z}, B first."""
    X, Y, Z, A, B = _example1(schema)

    A.insert([(1, 10), (1, 20), (2, 10)])
    B.insert([(1, 100, 10), (1, 200, 20), (2, 100, 20)])
    j = A * B
    assert j.primary_key == ["x", "z"]
    assert j.heading.names == ["x", "z", "y"]
    assert sorted(_ids(j.to_dicts(), "x", "z", "y")) == [(1, 100, 10), (1, 200, 20)]
    # non-commutative schema, same rows
    assert (B * A).primary_key == ["x", "z"]
    # left join is refused: A does not determine B (z)
    with pytest.raises(errors.DataJointError, match=r"z"):
        A.join(B, left=True)
    with pytest.raises(errors.DataJointError):
        A.extend(B)


def test_primary_keys_example2_both_directions(schema):
    """Example 2: A(x*, y*, z), B(y*, z*, x) → PK(A) = {x, y}, A's attributes first."""
    X, Y, Z = _xyz(schema)

    @schema
    class A(dj.Manual):
        definition = """
        -> X
        -> Y
        ---
        -> Z
        """

    @schema
    class B(dj.Manual):
        definition = """
        -> Y
        -> Z
        ---
        -> X
        """

    A.insert([(1, 10, 100), (2, 20, 200)])
    B.insert([(10, 100, 1), (20, 200, 1)])
    j = A * B
    assert j.primary_key == ["x", "y"]
    assert j.heading.names == ["x", "y", "z"]
    assert j.keys() == [{"x": 1, "y": 10}]
    assert (B * A).primary_key == ["y", "z"]


def test_primary_keys_example3_neither_direction(schema):
    """Example 3: A(x*, y*), B(z*, x) → PK = {x, y, z}, A's PK first."""
    X, Y, Z = _xyz(schema)

    @schema
    class A(dj.Manual):
        definition = """
        -> X
        -> Y
        """

    @schema
    class B(dj.Manual):
        definition = """
        -> Z
        ---
        -> X
        """

    A.insert([(1, 10), (1, 20), (2, 10)])
    B.insert([(100, 1), (200, 2)])
    j = A * B
    assert j.primary_key == ["x", "y", "z"]
    assert j.heading.names == ["x", "y", "z"]
    assert len(j) == 3
    assert (B * A).primary_key == ["z", "x", "y"]


def test_primary_keys_example4_session_trial(schema):
    """Example 4: Session(session_id*) * Trial(session_id*, trial_num*) → Trial's PK, Trial first;
    restriction, projection, aggregation and extension keep PK(A)."""
    @schema
    class Session(dj.Manual):
        definition = """
        session_id : int32
        ---
        date : date
        """

    @schema
    class Trial(dj.Manual):
        definition = """
        -> Session
        trial_num : int32
        ---
        response_time : float64
        """

    Session.insert([(1, "2024-01-01"), (2, "2024-01-02")])
    Trial.insert([(1, 1, 0.5), (1, 2, 0.7)])
    j = Session * Trial
    assert j.primary_key == ["session_id", "trial_num"]
    assert set(j.heading.names) == {"session_id", "trial_num", "response_time", "date"}
    assert (Trial * Session).heading.names == ["session_id", "trial_num", "response_time", "date"]
    agg = Session.aggr(Trial, avg_rt='avg(response_time)')
    assert agg.primary_key == ["session_id"]
    assert {r["session_id"]: r["avg_rt"] for r in agg.to_dicts()} == {
        1: pytest.approx(0.6), 2: None}
    assert (Trial & Session).primary_key == ["session_id", "trial_num"]
    assert Trial.proj().primary_key == ["session_id", "trial_num"]
    ext = Trial.extend(Session)
    assert ext.primary_key == ["session_id", "trial_num"] and len(ext) == 2


def test_primary_keys_b_determines_a_attribute_order(schema):
    @schema
    class Session(dj.Manual):
        definition = """
        session_id : int32
        ---
        date : date
        """

    @schema
    class Trial(dj.Manual):
        definition = """
        -> Session
        trial_num : int32
        ---
        response_time : float64
        """

    assert (Session * Trial).heading.names == ["session_id", "trial_num", "response_time", "date"]


def test_left_join_error_names_missing_attributes(schema):
    X, Y, Z, A, B = _example1(schema)

    with pytest.raises(errors.DataJointError, match=r"(?i)left join requires.*\['z'\]"):
        A.join(B, left=True)
    with pytest.raises(errors.DataJointError, match=r"(?s)Left join requires the left operand "
                       r"to determine the right operand.*\['z'\]"):
        A.join(B, left=True)


# =========================================================================== semantic matching
def test_semantic_matching_student_course_id(schema):
    """semantic-matching.md 'When You Might See Errors' / 'How to Resolve'."""
    @schema
    class Student(dj.Manual):
        definition = """
        id : uint32
        ---
        name : varchar(100)
        """

    @schema
    class Course(dj.Manual):
        definition = """
        id : uint32
        ---
        title : varchar(100)
        """

    Student.insert([(1, "Ann"), (2, "Bob")])
    Course.insert([(1, "Math"), (3, "Art")])
    with pytest.raises(errors.DataJointError, match=r"`?id`?"):
        Student() * Course()
    with pytest.raises(errors.DataJointError, match=r"id"):
        Student & Course
    with pytest.raises(errors.DataJointError, match=r"id"):
        Student - Course
    assert len(Student() * Course().proj(course_id='id')) == 4
    assert Student().join(Course(), semantic_check=False).to_dicts() == [
        {"id": 1, "name": "Ann", "title": "Math"}]
    assert Student.restrict(Course, semantic_check=False).keys() == [{"id": 1}]
    assert Student.restrict(dj.Not(Course), semantic_check=False).keys() == [{"id": 2}]


def test_semantic_matching_error_message_text(schema):
    """semantic-matching.md 'Error Messages': names the attribute and both lineages."""
    @schema
    class TableA(dj.Manual):
        definition = """
        id : uint32
        ---
        value_a : int32
        """

    @schema
    class TableB(dj.Manual):
        definition = """
        id : uint32
        ---
        value_b : int32
        """

    with pytest.raises(errors.SemanticMatchError) as exc:
        TableA() * TableB()
    msg = str(exc.value)
    assert "id" in msg and "table_a" in msg and "table_b" in msg
    assert len(TableA() * TableB().proj(b_id='id')) == 0


def test_semantic_matching_examples_3_4_5(schema):
    """semantic-matching.md Examples 3 (multi-hop), 4 (secondary FK), 5 (aliased FK)."""
    @schema
    class Session(dj.Manual):
        definition = """
        session_id : uint32
        ---
        session_date : date
        """

    @schema
    class Trial(dj.Manual):
        definition = """
        -> Session
        trial_num : uint16
        """

    @schema
    class Response(dj.Computed):
        definition = """
        -> Trial
        ---
        response_time : float64
        """

        def make(self, key):
            self.insert1({**key, "response_time": 0.1 * key["trial_num"]})

    Session.insert([(1, "2024-01-01"), (2, "2024-01-02")])
    Trial.insert([(1, 1), (1, 2), (2, 1)])
    Response.populate()
    assert len(Session() * Trial()) == 3
    assert len(Session() * Response()) == 3
    assert len(Trial() * Response()) == 3

    @schema
    class Course(dj.Manual):
        definition = """
        course_id : int unsigned
        ---
        title : varchar(100)
        """

    @schema
    class FavoriteCourse(dj.Manual):
        definition = """
        student_id : int unsigned
        ---
        -> Course
        """

    @schema
    class RequiredCourse(dj.Manual):
        definition = """
        major_id : int unsigned
        ---
        -> Course
        """

    Course.insert([(1, "Math"), (2, "Art")])
    FavoriteCourse.insert([(10, 1), (11, 2)])
    RequiredCourse.insert([(7, 1), (8, 1)])
    fr = FavoriteCourse() * RequiredCourse()
    assert len(fr) == 2 and fr.primary_key == ["student_id", "major_id"]

    @schema
    class Person(dj.Manual):
        definition = """
        person_id : int unsigned
        ---
        full_name : varchar(100)
        """

    @schema
    class Marriage(dj.Manual):
        definition = """
        -> Person.proj(husband='person_id')
        -> Person.proj(wife='person_id')
        ---
        marriage_date : date
        """

    Person.insert([(1, "A"), (2, "B"), (3, "C")])
    Marriage.insert1((1, 2, "2020-06-01"))
    # different names: no match, so a cross product
    assert len(Person * Marriage) == 3
    # renaming to the same name lets them match (homologous)
    assert (Person.proj(husband='person_id', h_name='full_name') * Marriage).fetch1("h_name") == "A"
    assert len(Marriage & Person.proj(wife='person_id')) == 1


def test_semantic_matching_schema_lineage_api(schema):
    """semantic-matching.md 'API Reference': schema.lineage / lineage_table_exists."""
    @schema
    class Session(dj.Manual):
        definition = """
        session_id : uint32
        ---
        session_date : date
        """

    @schema
    class Trial(dj.Manual):
        definition = """
        -> Session
        trial_num : uint16
        """

    assert schema.lineage_table_exists is True
    lin = schema.lineage
    db = schema.database
    assert lin[f"{db}.trial.session_id"] == f"{db}.session.session_id"
    assert lin[f"{db}.trial.trial_num"] == f"{db}.trial.trial_num"
    schema.rebuild_lineage()
    assert schema.lineage[f"{db}.trial.session_id"] == f"{db}.session.session_id"


# =========================================================================== insert / update
def _subject_table(schema):
    @schema
    class Subject(dj.Manual):
        definition = """
        subject_id : varchar(16)
        ---
        species : varchar(32)
        date_of_birth : date
        sex : enum('M', 'F', 'U')
        notes = null : varchar(255)
        """
    return Subject


def test_insert_data_howto(schema):
    """how-to/insert-data.md: single row, multiple rows, DataFrame, duplicates, extra fields."""
    Subject = _subject_table(schema)
    Subject.insert1({'subject_id': 'M001', 'species': 'Mus musculus',
                     'date_of_birth': '2026-01-15', 'sex': 'M'})
    Subject.insert([
        {'subject_id': 'M002', 'species': 'Mus musculus', 'date_of_birth': '2026-02-01',
         'sex': 'F'},
        {'subject_id': 'M003', 'species': 'Mus musculus', 'date_of_birth': '2026-02-15',
         'sex': 'M'},
    ])
    df = pd.DataFrame({
        'subject_id': ['M004', 'M005'],
        'species': ['Mus musculus', 'Mus musculus'],
        'date_of_birth': ['2026-03-01', '2026-03-15'],
        'sex': ['F', 'M'],
    })
    Subject.insert(df)
    assert len(Subject) == 5
    assert (Subject & {'subject_id': 'M005'}).fetch1('date_of_birth') == datetime.date(2026, 3, 15)
    rows = [{'subject_id': 'M001', 'species': 'Rattus', 'date_of_birth': '2020-01-01',
             'sex': 'U'},
            {'subject_id': 'M006', 'species': 'Rattus', 'date_of_birth': '2020-01-01',
             'sex': 'U'}]
    with pytest.raises(errors.DuplicateError):
        Subject.insert(rows)
    assert len(Subject) == 5  # atomic: nothing inserted
    Subject.insert(rows, skip_duplicates=True)
    assert (Subject & {'subject_id': 'M001'}).fetch1('species') == 'Mus musculus'
    assert len(Subject) == 6
    Subject.insert(rows, replace=True)
    assert (Subject & {'subject_id': 'M001'}).fetch1('species') == 'Rattus'
    extra = [{'subject_id': 'M007', 'species': 'Mus', 'date_of_birth': '2026-01-01',
              'sex': 'F', 'cage': 12}]
    with pytest.raises(errors.UnknownAttributeError):
        Subject.insert(extra)
    Subject.insert(extra, ignore_extra_fields=True)
    assert (Subject & {'subject_id': 'M007'}).fetch1('notes') is None
    with pytest.raises(errors.MissingAttributeError):
        Subject.insert1({'subject_id': 'M008', 'species': 'Mus'})


def test_insert_master_part_in_transaction_and_fk_error(schema):
    """insert-data.md 'Master-Part Tables'; data-manipulation §8 error table."""
    @schema
    class Session(dj.Manual):
        definition = """
        subject_id : varchar(16)
        session_idx : int32
        ---
        session_date : date
        """

        class Trial(dj.Part):
            definition = """
            -> master
            trial_idx : int32
            ---
            outcome : enum('hit', 'miss')
            reaction_time : float32
            """

    with schema.connection.transaction:
        Session.insert1({'subject_id': 'M001', 'session_idx': 1, 'session_date': '2026-01-20'})
        Session.Trial.insert([
            {'subject_id': 'M001', 'session_idx': 1, 'trial_idx': 1, 'outcome': 'hit',
             'reaction_time': 0.35},
            {'subject_id': 'M001', 'session_idx': 1, 'trial_idx': 2, 'outcome': 'miss',
             'reaction_time': 0.82},
        ])
    assert len(Session) == 1 and len(Session.Trial) == 2
    assert (Session.Trial & {'trial_idx': 1}).fetch1('reaction_time') == pytest.approx(0.35)
    with pytest.raises(errors.IntegrityError):
        with schema.connection.transaction:
            Session.insert1({'subject_id': 'M002', 'session_idx': 1,
                             'session_date': '2026-01-21'})
            Session.Trial.insert1({'subject_id': 'M009', 'session_idx': 1, 'trial_idx': 1,
                                   'outcome': 'hit', 'reaction_time': 0.1})  # no such master
    assert len(Session) == 1 and len(Session.Trial) == 2
    with pytest.raises(errors.IntegrityError):
        Session.Trial.insert1({'subject_id': 'M009', 'session_idx': 1, 'trial_idx': 1,
                               'outcome': 'hit', 'reaction_time': 0.1})


def test_insert_from_query_with_projection(schema):
    """insert-data.md 'Insert from Query'."""
    @schema
    class OldTable(dj.Manual):
        definition = """
        id : int32
        ---
        attr1 : varchar(10)
        attr2 : float64
        old_name : int32
        """

    @schema
    class NewTable(dj.Manual):
        definition = """
        id : int32
        ---
        attr1 : varchar(10)
        attr2 : float64
        new_name : int32
        """

    OldTable.insert([(1, "a", 1.5, 10), (2, "b", 2.5, 20), (3, "c", 3.5, 30)])
    NewTable.insert(OldTable.proj('attr1', 'attr2', new_name='old_name') & 'id < 3')
    assert NewTable.to_dicts() == [
        {"id": 1, "attr1": "a", "attr2": 1.5, "new_name": 10},
        {"id": 2, "attr1": "b", "attr2": 2.5, "new_name": 20}]
    with pytest.raises(errors.DataJointError):
        NewTable.insert(OldTable & 'id = 3')  # old_name is not in NewTable


def test_validate_before_insert(schema):
    """insert-data.md 'Validate Before Insert'; data-manipulation §5."""
    Subject = _subject_table(schema)
    good = [{'subject_id': 'M001', 'species': 'Mus', 'date_of_birth': '2026-01-15', 'sex': 'M'}]
    result = Subject.validate(good)
    assert result and result.is_valid and result.rows_checked == 1 and result.errors == []
    bad = good + [{'subject_id': 'M002', 'species': 'Mus', 'date_of_birth': '2026-01-15'},
                  {'species': 'Mus', 'date_of_birth': '2026-01-15', 'sex': 'F'},
                  {'subject_id': 'M004', 'species': 'Mus', 'date_of_birth': '2026-01-15',
                   'sex': 'F', 'cage': 3}]
    result = Subject.validate(bad)
    assert not result and result.rows_checked == 4
    fields = {(i, f) for i, f, _ in result.errors}
    assert (1, 'sex') in fields and (2, 'subject_id') in fields and (3, 'cage') in fields
    assert isinstance(result.summary(), str) and "sex" in result.summary()
    assert Subject.validate(bad[3:], ignore_extra_fields=True).is_valid
    with pytest.raises(errors.DataJointError):
        result.raise_if_invalid()
    if Subject.validate(good):
        Subject.insert(good)
    assert len(Subject) == 1


def test_chunked_insert_keeps_completed_chunks(schema):
    """data-manipulation §2.7: each chunk is a separate transaction."""
    @schema
    class Item(dj.Manual):
        definition = """
        item : int32
        """

    Item.insert1((5,))
    with pytest.raises(errors.DuplicateError):
        Item.insert(((i,) for i in range(10)), chunk_size=3)
    assert sorted(_ids(Item.keys(), "item")) == [0, 1, 2, 5]


def test_update1_rules(schema):
    """data-manipulation §3: update1 requirements and reset to default."""
    Subject = _subject_table(schema)
    Subject.insert([{'subject_id': 'M001', 'species': 'Mous', 'date_of_birth': '2026-01-15',
                     'sex': 'M', 'notes': 'typo'},
                    {'subject_id': 'M011', 'species': 'Mus', 'date_of_birth': '2026-01-15',
                     'sex': 'F'}])
    Subject.update1({'subject_id': 'M001', 'species': 'Mus'})
    Subject.update1({'subject_id': 'M001', 'species': 'Mus musculus', 'notes': 'Updated'})
    assert (Subject & {'subject_id': 'M001'}).fetch1('species', 'notes') == \
        ('Mus musculus', 'Updated')
    Subject.update1({'subject_id': 'M001', 'notes': None})
    assert (Subject & {'subject_id': 'M001'}).fetch1('notes') is None
    with pytest.raises(errors.DataJointError):
        Subject.update1({'species': 'NewName'})               # incomplete primary key
    with pytest.raises(errors.DataJointError):
        Subject.update1({'subject_id': 'M999', 'species': 'Ghost'})   # row does not exist
    with pytest.raises(errors.DataJointError):
        (Subject & "subject_id > 'M010'").update1({'subject_id': 'M011', 'species': 'x'})
    # the documented way to update many rows: iterate keys
    for key in (Subject & "sex = 'F'").keys():
        Subject.update1({**key, 'notes': 'archived'})
    assert (Subject & {'subject_id': 'M011'}).fetch1('notes') == 'archived'
    assert (Subject & {'subject_id': 'M011'}).fetch1('species') == 'Mus'


def test_auto_populated_direct_insert(schema):
    """data-manipulation §2.6."""
    @schema
    class Source(dj.Manual):
        definition = """
        key_id : int32
        """

    @schema
    class ComputedTable(dj.Computed):
        definition = """
        -> Source
        ---
        result : int32
        """

        def make(self, key):
            self.insert1({**key, 'result': key['key_id'] * 2})

    Source.insert([(1,), (2,)])
    with pytest.raises(errors.DataJointError, match="allow_direct_insert"):
        ComputedTable.insert1({'key_id': 1, 'result': 42})
    ComputedTable.insert1({'key_id': 1, 'result': 42}, allow_direct_insert=True)
    ComputedTable.populate()
    assert {r['key_id']: r['result'] for r in ComputedTable.to_dicts()} == {1: 42, 2: 4}


# =========================================================================== delete
def _delete_pipeline(schema):
    @schema
    class Subject(dj.Manual):
        definition = """
        subject_id : varchar(16)
        """

    @schema
    class Session(dj.Manual):
        definition = """
        -> Subject
        session_idx : int32
        ---
        session_date : date
        """

        class Trial(dj.Part):
            definition = """
            -> master
            trial_idx : int32
            ---
            outcome : enum('hit', 'miss')
            """

    @schema
    class ProcessedData(dj.Computed):
        definition = """
        -> Session
        ---
        n_hits : int32
        """

        def make(self, key):
            self.insert1({**key, 'n_hits': len(Session.Trial & key & "outcome = 'hit'")})

    Subject.insert([('M001',), ('M002',)])
    Session.insert([('M001', 1, '2023-12-01'), ('M001', 2, '2024-01-08'),
                    ('M001', 3, '2024-02-01'), ('M002', 1, '2024-03-01')])
    Session.Trial.insert((s, k, t, 'hit' if t % 3 else 'miss')
                         for s, k in [('M001', 1), ('M001', 2), ('M001', 3), ('M002', 1)]
                         for t in range(1, 6))
    ProcessedData.populate()
    return Subject, Session, ProcessedData


def test_delete_howto_cascade_and_return_value(schema):
    """how-to/delete-data.md: cascade, return value, patterns, recomputation."""
    Subject, Session, ProcessedData = _delete_pipeline(schema)
    assert len(ProcessedData) == 4 and len(Session.Trial) == 20
    count = (Session & "session_date < '2024-01-01'").delete(prompt=False)
    assert count == 1
    assert len(Session) == 3 and len(Session.Trial) == 15 and len(ProcessedData) == 3
    # recomputation pattern
    key = {'subject_id': 'M001', 'session_idx': 2}
    (Session & key).delete(prompt=False)
    with schema.connection.transaction:
        Session.insert1({**key, 'session_date': '2024-01-08'})
        Session.Trial.insert({**key, 'trial_idx': t, 'outcome': 'hit'} for t in range(1, 4))
    ProcessedData.populate()
    assert (ProcessedData & key).fetch1('n_hits') == 3
    # deletes subject AND all their sessions AND all trials
    assert (Subject & {'subject_id': 'M001'}).delete() == 1
    assert len(Session) == 1 and len(Session.Trial) == 5 and len(ProcessedData) == 1
    with dj.config.override(safemode=False):
        assert Subject.delete() == 1
    assert len(Session.Trial) == 0


def test_delete_part_integrity_policies(schema):
    """delete-data.md 'Part Tables'."""
    Subject, Session, ProcessedData = _delete_pipeline(schema)
    with pytest.raises(errors.DataJointError):
        Session.Trial.delete()
    assert len(Session.Trial) == 20
    key = {'subject_id': 'M001', 'session_idx': 1}
    (Session.Trial & key & "outcome = 'miss'").delete(part_integrity="ignore")
    assert len(Session.Trial & key) == 4 and len(Session & key) == 1
    (Session.Trial & key).delete(part_integrity="cascade")
    assert len(Session & key) == 0 and len(Session.Trial & key) == 0
    assert len(ProcessedData & key) == 0
    # by join: trials from old sessions
    old_sessions = Session & "session_date < '2024-01-09'"
    assert len(old_sessions) == 1
    (Session.Trial & old_sessions).delete(part_integrity="ignore")
    assert len(Session.Trial) == 10


def test_delete_quick_and_dry_run(schema):
    """delete-data.md 'Quick Delete' and 'Inspecting Cascade Before Deleting' (dry_run)."""
    Subject, Session, ProcessedData = _delete_pipeline(schema)
    with pytest.raises(errors.IntegrityError):
        (Subject & {'subject_id': 'M002'}).delete_quick()
    assert len(Subject) == 2
    preview = (Session & {'subject_id': 'M001'}).delete(dry_run=True)
    assert isinstance(preview, dict)
    assert preview[Session.full_table_name] == 3
    assert preview[Session.Trial.full_table_name] == 15
    assert preview[ProcessedData.full_table_name] == 3
    assert len(Session) == 4  # nothing deleted
    n = (ProcessedData & {'subject_id': 'M002'}).delete_quick(get_count=True)
    assert n == 1 and len(ProcessedData) == 3
    assert (ProcessedData & {'subject_id': 'M001'}).delete_quick() is None
    assert len(ProcessedData) == 0


def test_delete_within_existing_transaction(schema):
    """delete-data.md 'Transaction Handling': transaction=False inside a transaction."""
    Subject, Session, ProcessedData = _delete_pipeline(schema)
    with schema.connection.transaction:
        (Session & {'subject_id': 'M002'}).delete(transaction=False)
        (Session & {'subject_id': 'M001', 'session_idx': 1}).delete(transaction=False)
        Subject.insert([('M003',)])
    assert len(Session) == 2 and len(Subject) == 3
    with pytest.raises(RuntimeError):
        with schema.connection.transaction:
            (Session & {'subject_id': 'M001'}).delete(transaction=False)
            raise RuntimeError("abort")
    assert len(Session) == 2 and len(Session.Trial) == 10


def test_delete_cascade_preview_via_diagram(schema):
    """delete-data.md: dj.Diagram(schema).cascade(expr).preview() (new in 2.2)."""
    Subject, Session, ProcessedData = _delete_pipeline(schema)
    restricted = dj.Diagram(schema).cascade(Session & {'subject_id': 'M001'})
    counts = restricted.preview()
    assert counts[Session.full_table_name] == 3
    assert counts[ProcessedData.full_table_name] == 3


# =========================================================================== define tables
def test_define_tables_defaults_and_nullable(schema):
    """how-to/define-tables.md 'Default Values and Nullable Attributes'."""
    @schema
    class Subject(dj.Manual):
        definition = """
        subject_id : varchar(16)
        ---
        weight = null : float32           # Nullable (default is NULL)
        notes = '' : varchar(1000)        # Default empty string
        is_active = 1 : bool              # Default true
        created = CURRENT_TIMESTAMP : timestamp
        """

    before = datetime.datetime.now() - datetime.timedelta(days=1)
    Subject.insert1({'subject_id': 'M001'})
    row = (Subject & {'subject_id': 'M001'}).fetch1()
    assert row['weight'] is None and row['notes'] == ''
    assert bool(row['is_active']) is True
    assert isinstance(row['created'], datetime.datetime) and row['created'] > before
    assert Subject.heading['weight'].nullable
    assert not Subject.heading['notes'].nullable
    assert Subject.primary_key == ['subject_id']


def test_define_tables_primary_key_rules(schema):
    """define-tables.md 'Key rules': PK cannot be nullable; timestamp default PK is allowed."""
    with pytest.raises(errors.DefinitionError):
        @schema
        class BadNullKey(dj.Manual):
            definition = """
            k = null : int32
            ---
            v : int32
            """

    @schema
    class Snapshot(dj.Manual):
        definition = """
        created_at = CURRENT_TIMESTAMP : timestamp(6)   # Microsecond precision
        ---
        data : <blob>
        """

    Snapshot.insert1({'data': np.arange(3)})
    row = Snapshot.fetch1()
    assert isinstance(row['created_at'], datetime.datetime)
    assert np.array_equal(row['data'], np.arange(3))
    assert Snapshot.primary_key == ['created_at']


def test_define_tables_full_example(schema):
    """define-tables.md: Lookup contents, Part, Computed make, indexes, uuid/json, describe."""
    @schema
    class TaskType(dj.Lookup):
        definition = """
        task_type : varchar(32)
        ---
        description : varchar(200)
        """
        contents = [
            {'task_type': 'detection', 'description': 'Detect target stimulus'},
            {'task_type': 'discrimination', 'description': 'Distinguish between stimuli'},
        ]

    @schema
    class Subject(dj.Manual):
        definition = """
        # Table comment (optional)
        subject_id : varchar(16)      # Subject identifier
        """

    @schema
    class Session(dj.Manual):
        definition = """
        -> Subject                # References Subject table
        session_idx : int32
        ---
        -> TaskType
        session_date : date
        experimenter : varchar(50)
        external_id : int32
        index (session_date)              # Index for faster queries
        index (experimenter)              # Another index
        unique index (external_id)        # Unique constraint
        """

        class Trial(dj.Part):
            definition = """
            -> master
            trial_idx : int32
            ---
            outcome : enum('hit', 'miss')
            reaction_time : float32
            """

    @schema
    class SessionStats(dj.Computed):
        definition = """
        -> Session
        ---
        n_trials : int64
        hit_rate : float32
        """

        def make(self, key):
            trials = (Session.Trial & key).to_dicts()
            self.insert1({
                **key,
                'n_trials': len(trials),
                'hit_rate': sum(t['outcome'] == 'hit' for t in trials) / len(trials)
            })

    assert len(TaskType) == 2
    assert Session.primary_key == ['subject_id', 'session_idx']
    assert Session.heading.secondary_attributes == ['task_type', 'session_date', 'experimenter',
                                                    'external_id']
    Subject.insert1({'subject_id': 'M001'})
    Session.insert1({'subject_id': 'M001', 'session_idx': 1, 'task_type': 'detection',
                     'session_date': '2026-01-20', 'experimenter': 'alice', 'external_id': 7})
    Session.Trial.insert([{'subject_id': 'M001', 'session_idx': 1, 'trial_idx': i,
                           'outcome': 'hit' if i < 3 else 'miss', 'reaction_time': 0.5}
                          for i in range(4)])
    with pytest.raises(errors.DuplicateError):
        Session.insert1({'subject_id': 'M001', 'session_idx': 2, 'task_type': 'detection',
                         'session_date': '2026-01-21', 'experimenter': 'bob', 'external_id': 7})
    with pytest.raises(errors.IntegrityError):
        Session.insert1({'subject_id': 'M001', 'session_idx': 3, 'task_type': 'nope',
                         'session_date': '2026-01-21', 'experimenter': 'bob', 'external_id': 8})
    SessionStats.populate()
    assert SessionStats.fetch1('n_trials', 'hit_rate') == (4, 0.75)
    text = Session().describe()
    assert "-> Subject" in text and "-> TaskType" in text
    assert "uniqueindex(external_id)" in text.lower().replace("`", "").replace(" ", "")
    assert "index(session_date)" in text.replace(" ", "")
    heading = str(Session().heading)
    assert "session_date" in heading and "external_id" in heading
    assert Subject.heading.table_comment == "Table comment (optional)"
    assert Subject.heading['subject_id'].comment == "Subject identifier"


def test_define_tables_native_types_allowed(schema):
    """define-tables.md 'Native Database Types': allowed (with a warning), portable here."""
    @schema
    class Record(dj.Manual):
        definition = """
        record_id : int unsigned      # Native MySQL type
        ---
        description : text            # Unlimited text
        """

    Record.insert1({'record_id': 4000000000, 'description': 'x' * 5000})
    assert Record.fetch1() == {'record_id': 4000000000, 'description': 'x' * 5000}


def test_define_tables_drop_table_and_schema(make_schema):
    """define-tables.md 'Dropping Tables and Schemas'."""
    schema = make_schema()

    @schema
    class Session(dj.Manual):
        definition = """
        session_id : int32
        ---
        session_date : date
        """

    Session.insert1((1, '2026-01-01'))
    Session.drop()
    assert 'session' not in schema.list_tables()
    assert not Session.is_declared

    @schema
    class Session(dj.Manual):  # noqa: F811 - redeclared after the drop
        definition = """
        session_id : int32
        ---
        session_date : date
        notes = '' : varchar(100)
        """

    assert len(Session) == 0 and 'notes' in Session.heading.names
    schema.drop()
    assert not schema.exists


# =========================================================================== alter tables
def test_alter_tables_howto(schema):
    """how-to/alter-tables.md: add a column, modify a type, drop a column, PK change refused."""
    @schema
    class Subject(dj.Manual):
        definition = """
        subject_id : varchar(16)
        ---
        species : varchar(32)
        old_field = 0 : int32
        """

    Subject.insert1({'subject_id': 'M001', 'species': 'Mus musculus', 'old_field': 3})
    Subject.definition = """
    subject_id : varchar(16)
    ---
    species : varchar(32)
    old_field = 0 : int32
    weight = null : float32      # New column
    """
    Subject.alter(prompt=False)
    assert Subject.heading.names == ['subject_id', 'species', 'old_field', 'weight']
    assert (Subject & {'subject_id': 'M001'}).fetch1('weight') is None
    Subject.definition = """
    subject_id : varchar(16)
    ---
    species : varchar(100)       # Was varchar(32)
    weight = null : float32
    """
    Subject.alter(prompt=False)
    assert Subject.heading.names == ['subject_id', 'species', 'weight']
    Subject.insert1({'subject_id': 'M002', 'species': 'S' * 100})
    assert (Subject & {'subject_id': 'M002'}).fetch1('species') == 'S' * 100
    assert (Subject & {'subject_id': 'M001'}).fetch1('species') == 'Mus musculus'
    assert 'varchar(100)' in Subject.describe()
    Subject.definition = """
    new_id : uuid               # Changed primary key
    ---
    species : varchar(32)
    """
    with pytest.raises((NotImplementedError, errors.DataJointError)):
        Subject.alter(prompt=False)
    assert Subject.primary_key == ['subject_id'] and len(Subject) == 2


def test_alter_table_comment_and_default(schema):
    """alter-tables.md: 'Change defaults' and 'Update table comment' are supported."""
    @schema
    class Probe(dj.Manual):
        definition = """
        # old comment
        probe_id : int32
        ---
        gain = 1.0 : float64
        """

    Probe.definition = """
    # new comment
    probe_id : int32
    ---
    gain = 2.5 : float64
    """
    Probe.alter(prompt=False)
    Probe.insert1({'probe_id': 1})
    assert Probe.fetch1('gain') == 2.5
    assert Probe.heading.table_comment == "new comment"


# =========================================================================== virtual schemas
def _lab_for_virtual(schema):
    @schema
    class Subject(dj.Manual):
        definition = """
        subject_id : varchar(16)
        ---
        species : varchar(32)
        """

    @schema
    class Session(dj.Manual):
        definition = """
        -> Subject
        session_idx : int32
        ---
        session_date : date
        """

        class Trial(dj.Part):
            definition = """
            -> master
            trial_idx : int32
            """

    @schema
    class Method(dj.Lookup):
        definition = """
        method : varchar(16)
        """
        contents = [("a",), ("b",)]

    Subject.insert([('M001', 'mouse'), ('M002', 'rat')])
    Session.insert([('M001', 1, '2024-01-02'), ('M001', 2, '2024-01-03'),
                    ('M002', 1, '2024-01-04')])
    Session.Trial.insert([('M001', 1, 1), ('M001', 1, 2)])
    return Subject, Session, Method


def test_virtual_schema_module_access(schema, conn):
    """virtual-schemas.md §1, §3, §4.3."""
    _lab_for_virtual(schema)
    lab = dj.virtual_schema(schema.database, connection=conn)
    assert len(lab.Subject.to_dicts()) == 2
    assert len(lab.Session & 'subject_id="M001"') == 2
    assert len(lab.Session * lab.Subject) == 3
    assert lab.schema.database == schema.database
    assert set(lab.schema.list_tables()) >= {'subject', 'session', 'session__trial', '#method'}
    assert len(lab.Session.Trial.to_dicts()) == 2
    assert issubclass(lab.Method, dj.Lookup) and issubclass(lab.Session.Trial, dj.Part)
    assert "species" in lab.Subject.describe()
    module = dj.VirtualModule('lab', schema.database, connection=conn)
    assert len(module.Subject & {'subject_id': 'M002'}) == 1


def test_schema_introspection_api(schema):
    """virtual-schemas.md §2: schema['Name'], get_table, iteration, containment."""
    _lab_for_virtual(schema)
    experiment = schema['Session']
    assert isinstance(experiment, dj.FreeTable) and len(experiment) == 3
    assert len(schema['session']) == 3
    assert len(schema.get_table('Session')) == len(schema.get_table('session')) == 3
    assert 'Session' in schema and 'nonexistent' not in schema
    with pytest.raises(errors.DataJointError):
        schema.get_table('nonexistent')
    tables = list(schema)
    assert all(isinstance(t, dj.FreeTable) for t in tables)
    names = [t.full_table_name for t in tables]
    assert names.index(schema['subject'].full_table_name) < \
        names.index(schema['session'].full_table_name) < \
        names.index(schema['session__trial'].full_table_name)
    assert {len(t) for t in tables} >= {2, 3}


def test_schema_migration_pattern(make_schema, conn):
    """virtual-schemas.md §5.3: copy data in topological order with INSERT...SELECT."""
    src = make_schema("src")
    _lab_for_virtual(src)
    dst = make_schema("dst")
    # same structure in the new schema, declared from the virtual module's definitions
    old = dj.virtual_schema(src.database, connection=conn)
    new = dj.Schema(dst.database, connection=conn)

    @new
    class Subject(dj.Manual):
        definition = old.Subject.definition

    @new
    class Session(dj.Manual):
        definition = old.Session.definition

        class Trial(dj.Part):
            definition = old.Session.Trial.definition

    for table in old.schema:
        if table.table_name.startswith('#'):
            continue
        new_table = new.get_table(table.table_name)
        new_table.insert(table)
    assert len(Subject) == 2 and len(Session) == 3 and len(Session.Trial) == 2


def test_make_classes_into_namespace(schema):
    _lab_for_virtual(schema)
    ns = {}
    schema.make_classes(into=ns)
    assert len(ns['Subject']) == 2 and len(ns['Session'].Trial) == 2
