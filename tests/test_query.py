"""Query algebra on every backend: restriction, join, proj, aggr, union, dj.U, dj.Top and
the container protocol (len/bool/iter/in/repr).

Dataset (see ``pipeline``):
  Subject(subject_id*, name, sex, dob)       1 mickey M 2020-01-01 | 2 minnie F 2021-05-05 |
                                             3 donald M NULL
  Session(-> Subject, session*, session_date, note)
                                             (1,1) 2023-12-01 'first' | (1,2) 2024-02-01 NULL |
                                             (2,1) 2024-03-01 'x'
  Session.Trial(-> master, trial*, value)    (1,1,1) .25 (1,1,2) 1.75 (1,2,1) 2.25
                                             (2,1,1) 3.0 (2,1,2) 4.0  (2,1,3) 5.25
  Weight(-> Subject, weight)                 1: 20.5, 2: 18.0
  Equipment (Lookup: rig*, note)             A 'first' | B 'rig b'   (namesake secondary `note`)
"""
from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import numpy as np
import pytest

import joinflow as dj
from joinflow.errors import QueryError, SemanticMatchError


def pipeline(schema) -> SimpleNamespace:
    @schema
    class Subject(dj.Manual):
        definition = """
        subject_id : int32
        ---
        name : varchar(30)
        sex : enum('M', 'F', 'U')
        dob = null : date
        """

    @schema
    class Session(dj.Manual):
        definition = """
        -> Subject
        session : int16
        ---
        session_date : date
        note = null : varchar(100)
        """

        class Trial(dj.Part):
            definition = """
            -> master
            trial : int16
            ---
            value : float64
            """

    @schema
    class Weight(dj.Manual):
        definition = """
        -> Subject
        ---
        weight : float64
        """

    @schema
    class Equipment(dj.Lookup):
        definition = """
        rig : varchar(10)
        ---
        note : varchar(100)
        """
        contents = [("A", "first"), ("B", "rig b")]

    Subject.insert([(1, "mickey", "M", dt.date(2020, 1, 1)),
                    (2, "minnie", "F", dt.date(2021, 5, 5)),
                    (3, "donald", "M", None)])
    Session.insert([(1, 1, dt.date(2023, 12, 1), "first"),
                    (1, 2, dt.date(2024, 2, 1), None),
                    (2, 1, dt.date(2024, 3, 1), "x")])
    Session.Trial.insert([(1, 1, 1, 0.25), (1, 1, 2, 1.75), (1, 2, 1, 2.25),
                          (2, 1, 1, 3.0), (2, 1, 2, 4.0), (2, 1, 3, 5.25)])
    Weight.insert([(1, 20.5), (2, 18.0)])
    return SimpleNamespace(Subject=Subject, Session=Session, Trial=Session.Trial,
                           Weight=Weight, Equipment=Equipment)


def ids(query) -> list:
    """Sorted subject ids of a query."""
    return sorted(k["subject_id"] for k in query.keys())


def keys(query) -> list:
    return sorted(tuple(k.values()) for k in query.keys())


@pytest.fixture
def p(schema):
    return pipeline(schema)


# --------------------------------------------------------------------------- restriction
def test_restrict_by_dict(p):
    S = p.Subject
    assert (S & {"subject_id": 2}).to_dicts() == [
        {"subject_id": 2, "name": "minnie", "sex": "F", "dob": dt.date(2021, 5, 5)}]
    # keys that are not attributes are ignored
    assert ids(S & {"subject_id": 1, "not_an_attr": 99}) == [1]
    # a dict with no matching keys (or {}) restricts nothing; its negation leaves nothing
    assert ids(S & {"not_an_attr": 99}) == [1, 2, 3]
    assert ids(S & {}) == [1, 2, 3]
    assert len(S - {"not_an_attr": 99}) == 0
    # None means IS NULL
    assert ids(S & {"dob": None}) == [3]
    assert ids(S - {"dob": None}) == [1, 2]
    # several keys are ANDed; typed values are bound (dates, strings)
    assert keys(p.Session & {"subject_id": 1, "session_date": dt.date(2024, 2, 1)}) == [(1, 2)]
    assert keys(p.Session & {"session_date": "2024-03-01"}) == [(2, 1)]
    assert ids(S & {"name": "minnie", "sex": "M"}) == []
    # numpy scalars work as values
    assert ids(S & {"subject_id": np.int64(3)}) == [3]


def test_restrict_by_collections(p):
    S = p.Subject
    assert ids(S & [{"subject_id": 1}, {"subject_id": 3}]) == [1, 3]       # OR
    assert ids(S - [{"subject_id": 1}, {"subject_id": 3}]) == [2]
    assert len(S & []) == 0 and ids(S - []) == [1, 2, 3]                    # empty OR
    assert ids(S & ({"subject_id": 1}, "name = 'minnie'")) == [1, 2]        # tuple
    assert ids(S & {"subject_id = 1", "subject_id = 3"}) == [1, 3]          # set
    assert ids(S & ({"subject_id": i} for i in (2, 3))) == [2, 3]           # generator
    # a True item makes an OR list true; False items are dropped
    assert ids(S & [False, {"subject_id": 2}]) == [2]
    assert ids(S & [{"subject_id": 2}, True]) == [1, 2, 3]
    # AndList: all must hold; empty AndList is True
    assert ids(S & dj.AndList(["sex = 'M'", {"dob": None}])) == [3]
    assert ids(S & dj.AndList([])) == [1, 2, 3] and len(S - dj.AndList([])) == 0
    # chained restrictions are ANDed
    assert ids(S & "sex = 'M'" & "subject_id > 1") == [3]


def test_restrict_by_sql_strings(p):
    S, Se, T = p.Subject, p.Session, p.Trial
    assert keys(Se & "session_date > '2024-01-01'") == [(1, 2), (2, 1)]
    assert ids(S & "name LIKE 'm%'") == [1, 2]
    assert ids(S & "name LIKE '%n%'") == [2, 3]
    assert ids(S & 'name = "mickey"') == [1]                     # MySQL double-quoted string
    assert keys(Se & "YEAR(session_date) = 2024") == [(1, 2), (2, 1)]
    assert ids(S & "subject_id IN (1, 3)") == [1, 3]
    assert ids(S & "subject_id BETWEEN 2 AND 3") == [2, 3]
    assert ids(S & "dob IS NULL") == [3]
    assert ids(S & "dob IS NOT NULL") == [1, 2]
    assert ids(S & "NOT subject_id = 1") == [2, 3]
    assert ids(S & "NOT (sex = 'M' AND dob IS NULL)") == [1, 2]
    assert keys(T & "value * 2 > 5") == [(2, 1, 1), (2, 1, 2), (2, 1, 3)]
    assert keys(T & "value + trial >= 6.25") == [(2, 1, 3)]
    assert keys(T & "trial % 2 = 0") == [(1, 1, 2), (2, 1, 2)]          # modulo operator
    assert keys(T & "MOD(trial, 2) = 0 AND value > 2") == [(2, 1, 2)]
    assert keys(Se & "note IS NULL OR note = 'x'") == [(1, 2), (2, 1)]
    assert ids(S & "TRUE") == [1, 2, 3] and len(S & "FALSE") == 0
    # the negation of a string condition
    assert ids(S - "sex = 'M'") == [2]
    # percent signs and quotes in bound literals survive on every driver
    assert ids(S & "name <> '100%'") == [1, 2, 3]


def test_restrict_by_unknown_attribute_names_it(p):
    with pytest.raises(QueryError, match="nonexistent"):
        p.Subject & "nonexistent > 3"
    with pytest.raises(QueryError, match="invalid restriction type"):
        p.Subject & 5


def test_restrict_by_not(p):
    S = p.Subject
    assert ids(S & dj.Not({"subject_id": 1})) == [2, 3]
    assert ids(S & dj.Not(dj.Not({"subject_id": 1}))) == [1]
    assert ids(S & dj.Not("sex = 'M'")) == [2]
    assert ids(S & dj.Not([{"subject_id": 1}, {"subject_id": 2}])) == [3]
    assert ids(S - dj.Not({"subject_id": 1})) == [1]
    assert ids(S & dj.Not(p.Session)) == [3]


def test_restrict_by_bool_record_dataframe(p):
    S = p.Subject
    assert len(S & True) == 3 and len(S & False) == 0
    assert len(S - True) == 0 and len(S - False) == 3
    records = S.to_arrays(order_by="KEY")
    assert ids(S & records[1]) == [2]                              # one numpy record
    assert ids(S & records[:2]) == [1, 2]                          # a record array
    assert ids(S - records[:2]) == [3]
    df = (S & "subject_id > 1").to_pandas()                       # PK index is a field
    assert ids(S & df) == [2, 3]
    assert ids(S - df) == [1]


def test_restrict_by_query(p):
    S, Se, T = p.Subject, p.Session, p.Trial
    assert ids(S & Se) == [1, 2]                          # semijoin
    assert ids(S - Se) == [3]                             # antijoin
    assert ids(S & (T & "value > 4")) == [2]
    assert keys(Se - T) == []
    assert keys(Se & (S & {"name": "mickey"})) == [(1, 1), (1, 2)]
    assert ids(S & Se.proj()) == [1, 2]
    # table classes and instances behave the same
    assert ids(S() & Se()) == [1, 2]
    # no shared attributes: all rows if the other is non-empty, none otherwise
    assert len(S & p.Equipment) == 3
    assert len(S & (p.Equipment & "rig = 'Z'")) == 0
    assert len(S - p.Equipment) == 0
    assert len(S - (p.Equipment & "rig = 'Z'")) == 3
    # dj.U restricts nothing
    assert len(S & dj.U("sex")) == 3


def test_restrict_by_query_checks_lineage(p):
    with pytest.raises(SemanticMatchError, match="note"):
        p.Session & p.Equipment
    got = p.Session.restrict(p.Equipment, semantic_check=False)  # matches on `note`
    assert keys(got) == [(1, 1)]
    got = p.Session.restrict(dj.Not(p.Equipment), semantic_check=False)
    assert keys(got) == [(1, 2), (2, 1)]  # a NULL note matches nothing


# --------------------------------------------------------------------------- join
def test_join_semantic_matching(p):
    S, Se, T = p.Subject, p.Session, p.Trial
    j = S * Se
    assert j.primary_key == ["subject_id", "session"]
    # B determines A: read as Session * Subject, Session's attributes first (2.x spec)
    assert j.heading.names == ["subject_id", "session", "session_date", "note", "name", "sex",
                               "dob"]
    rows = j.to_dicts(order_by="KEY")
    assert [(r["subject_id"], r["session"], r["name"]) for r in rows] == [
        (1, 1, "mickey"), (1, 2, "mickey"), (2, 1, "minnie")]
    # 2.x primary keys
    assert (Se * T).primary_key == ["subject_id", "session", "trial"]
    assert (T * Se).primary_key == ["subject_id", "session", "trial"]
    assert len(Se * T) == 6
    assert (p.Weight * S).primary_key == ["subject_id"]
    unrelated = S * p.Equipment
    assert unrelated.primary_key == ["subject_id", "rig"] and len(unrelated) == 6
    # joins chain and restrict afterwards
    assert keys((S * Se * T) & "value > 2 AND name = 'mickey'") == [(1, 2, 1)]
    # joining with a restriction of itself
    assert ids(S * (S & "subject_id < 3").proj()) == [1, 2]


def test_join_namesake_secondary_is_refused(p):
    with pytest.raises(SemanticMatchError) as info:
        p.Session * p.Equipment
    assert "note" in str(info.value) and "semantic_check=False" in str(info.value)
    with pytest.raises(SemanticMatchError, match="note"):
        p.Session.join(p.Equipment)
    got = p.Session.join(p.Equipment, semantic_check=False)      # natural join on `note`
    assert [(r["subject_id"], r["session"], r["rig"]) for r in got.to_dicts()] == [(1, 1, "A")]
    # renaming one side avoids the clash
    renamed = p.Session * p.Equipment.proj(rig_note="note")
    assert len(renamed) == 6 and renamed.primary_key == ["subject_id", "session", "rig"]


def test_join_through_renamed_foreign_key(schema):
    @schema
    class Person(dj.Manual):
        definition = """
        person_id : int32
        ---
        full_name : varchar(40)
        """

    @schema
    class Marriage(dj.Manual):
        definition = """
        marriage : int32
        ---
        -> Person.proj(husband='person_id')
        -> Person.proj(wife='person_id')
        """

    Person.insert([(1, "al"), (2, "bea"), (3, "cy"), (4, "di")])
    Marriage.insert([(10, 1, 2), (11, 3, 4)])
    assert Marriage.heading["husband"].lineage == Marriage.heading["wife"].lineage \
        == Person.heading["person_id"].lineage
    husbands = Person.proj(husband="person_id", husband_name="full_name")
    wives = Person.proj(wife="person_id", wife_name="full_name")
    got = (Marriage * husbands * wives).to_dicts(order_by="marriage")
    assert [(r["marriage"], r["husband_name"], r["wife_name"]) for r in got] == [
        (10, "al", "bea"), (11, "cy", "di")]
    assert (Marriage * husbands).primary_key == ["marriage"]
    assert sorted(r["wife"] for r in (wives & Marriage).to_dicts()) == [2, 4]
    # the original name does not match the renamed attribute
    assert len(Person * Marriage) == 8  # no shared names: cross product
    # person_id is not in Marriage: restricting by it does nothing
    assert len(Marriage & {"person_id": 1}) == 2


def test_join_primary_key_when_right_determines_left(schema):
    @schema
    class X(dj.Lookup):
        definition = """
        x : int32
        """
        contents = [(1,), (2,)]

    @schema
    class Y(dj.Lookup):
        definition = """
        y : int32
        """
        contents = [(1,), (2,)]

    @schema
    class A(dj.Manual):
        definition = """
        -> X
        -> Y
        ---
        a_val : int32
        """

    @schema
    class B(dj.Manual):
        definition = """
        -> X
        z : int32
        ---
        -> Y
        """

    A.insert([(1, 1, 11), (1, 2, 12), (2, 1, 21)])
    B.insert([(1, 100, 2), (2, 200, 1), (2, 201, 2)])
    ab = A * B
    assert ab.primary_key == ["x", "z"]                 # B -> A
    assert ab.heading.names[:2] == ["x", "z"]
    assert sorted((r["x"], r["z"], r["a_val"]) for r in ab.to_dicts()) == [(1, 100, 12), (2, 200, 21)]
    assert (B * A).primary_key == ["x", "z"]
    assert (A * X).primary_key == ["x", "y"]
    # neither determines the other: union of keys, left operand first
    assert (A * B.proj()).primary_key == ["x", "y", "z"]


def test_left_join_and_extend(p):
    S, W = p.Subject, p.Weight
    for q in (S.join(W, left=True), S.extend(W)):
        assert q.primary_key == ["subject_id"]
        assert len(q) == 3
        assert [(r["subject_id"], r["weight"]) for r in q.to_dicts(order_by="KEY")] == [
            (1, 20.5), (2, 18.0), (3, None)]
    assert len(S * W) == 2
    # the left operand must determine the right one
    with pytest.raises(QueryError, match="session"):
        S.join(p.Session, left=True)
    with pytest.raises(QueryError, match="trial"):
        p.Session.extend(p.Trial)
    # left join after a restriction of the left side keeps its rows only
    q = (S & "subject_id > 1").extend(W)
    assert [(r["subject_id"], r["weight"]) for r in q.to_dicts(order_by="KEY")] == [
        (2, 18.0), (3, None)]
    # restricting the right operand turns its values into NULLs, not missing rows
    q = S.extend(W & "weight > 19")
    assert [(r["subject_id"], r["weight"]) for r in q.to_dicts(order_by="KEY")] == [
        (1, 20.5), (2, None), (3, None)]


# --------------------------------------------------------------------------- proj
def test_proj_select_exclude_rename(p):
    S, Se = p.Subject, p.Session
    assert S.proj().heading.names == ["subject_id"]
    assert Se.proj("note").heading.names == ["subject_id", "session", "note"]
    assert Se.proj(...).heading.names == Se.heading.names
    assert Se.proj(..., "-note").heading.names == ["subject_id", "session", "session_date"]
    with pytest.raises(QueryError, match="session"):
        Se.proj(..., "-session")
    with pytest.raises(QueryError, match="bogus"):
        S.proj("bogus")
    with pytest.raises(QueryError):
        S.proj(3)
    # rename a secondary and the primary key
    q = S.proj(nm="name")
    assert q.heading.names == ["subject_id", "nm"]
    assert q.to_dicts(order_by="KEY")[0] == {"subject_id": 1, "nm": "mickey"}
    mice = S.proj("name", mouse_id="subject_id")
    assert mice.primary_key == ["mouse_id"]
    assert mice.to_dicts(order_by="mouse_id DESC")[0] == {"mouse_id": 3, "name": "donald"}
    assert (mice & {"mouse_id": 2}).fetch1("name") == "minnie"
    assert len(mice & {"subject_id": 2}) == 3          # no longer an attribute: ignored
    # duplicate an attribute with new='(old)'
    q = S.proj("name", name2="(name)")
    assert (q & {"subject_id": 1}).fetch1("name", "name2") == ("mickey", "mickey")
    # restriction by a query on the renamed key (same lineage)
    weighed = p.Weight.proj(mouse_id="subject_id")
    assert sorted(r["mouse_id"] for r in (mice.proj() & weighed)) == [1, 2]
    assert sorted(r["mouse_id"] for r in (mice.proj() - weighed)) == [3]
    # a renamed key keeps its lineage, so it still matches the original name when renamed back
    assert ids(S & mice.proj(subject_id="mouse_id")) == [1, 2, 3]


def test_proj_computed(p):
    T, Se = p.Trial, p.Session
    q = T.proj(v2="value * 2", r="ROUND(value)", label="CONCAT('t', trial)")
    assert q.primary_key == ["subject_id", "session", "trial"]
    rows = q.to_dicts(order_by="KEY")
    assert [(r["v2"], r["r"], r["label"]) for r in rows[:3]] == [
        (0.5, 0.0, "t1"), (3.5, 2.0, "t2"), (4.5, 2.0, "t1")]
    q = Se.proj(year="YEAR(session_date)", has_note="note IS NOT NULL")
    got = {(r["subject_id"], r["session"]): (r["year"], r["has_note"]) for r in q.to_dicts()}
    assert got == {(1, 1): (2023, 1), (1, 2): (2024, 0), (2, 1): (2024, 1)}
    # a projection of a projection refers to the computed alias
    q2 = T.proj(v2="value * 2").proj(v4="v2 * 2")
    assert q2.heading.names == ["subject_id", "session", "trial", "v4"]
    assert sorted(q2.to_arrays("v4").tolist()) == [1.0, 7.0, 9.0, 12.0, 16.0, 21.0]
    # restricting on a computed attribute
    r = T.proj(v2="value * 2") & "v2 > 8"
    assert keys(r) == [(2, 1, 3)]
    assert (r * p.Subject).fetch1("name", "v2") == ("minnie", 10.5)
    # restrict, then compute, then restrict again; order_by/limit on the computed value
    r = (T & {"subject_id": 2}).proj(v2="value - trial") & "v2 < 2.5"
    assert keys(r) == [(2, 1, 1), (2, 1, 2), (2, 1, 3)]
    assert T.proj(v2="value * 2").to_arrays("v2", order_by="v2 DESC", limit=2).tolist() == [10.5, 8.0]
    # a computed attribute joins like any other secondary attribute
    assert len(T.proj(v2="value * 2") * p.Subject) == 6


# --------------------------------------------------------------------------- aggr
def test_aggr(p):
    S, T = p.Subject, p.Trial
    q = S.aggr(T, n="count(*)", mean="avg(value)", top="max(value)", total="sum(value)")
    assert q.primary_key == ["subject_id"]
    # like DataJoint: the key, the attributes of A listed (none here) and the aggregates
    assert q.heading.names == ["subject_id", "n", "mean", "top", "total"]
    assert S.aggr(T, "name", n="count(*)").heading.names == ["subject_id", "name", "n"]
    assert S.aggr(T, ..., n="count(*)").heading.names == ["subject_id", "name", "sex", "dob", "n"]
    rows = {r["subject_id"]: r for r in q.to_dicts()}
    assert rows[1]["n"] == 3 and rows[1]["top"] == 2.25 and rows[1]["total"] == 4.25
    assert rows[1]["mean"] == pytest.approx(4.25 / 3)
    assert rows[2]["n"] == 3 and rows[2]["total"] == 12.25
    assert (S.aggr(T, "name", n="count(*)") & {"subject_id": 2}).fetch1("name") == "minnie"
    # non-matching rows are kept by default: count(*) is 0 (joinflow), other aggregates NULL
    assert rows[3]["n"] == 0 and rows[3]["mean"] is None and rows[3]["total"] is None
    assert len(q) == 3
    # count of a column of the group gives 0 as well
    assert sorted(S.aggr(T, n="count(trial)").to_arrays("n").tolist()) == [0, 3, 3]


def test_aggr_exclude_nonmatching_and_legacy_keyword(p):
    S, T = p.Subject, p.Trial
    assert ids(S.aggr(T, n="count(*)", exclude_nonmatching=True)) == [1, 2]
    assert ids(S.aggr(T, n="count(*)", exclude_nonmatching=False)) == [1, 2, 3]
    assert ids(S.aggr(T, n="count(*)", keep_all_rows=False)) == [1, 2]
    assert ids(S.aggr(T, n="count(*)", keep_all_rows=True)) == [1, 2, 3]


def test_aggr_restrictions_and_attributes(p):
    S, Se, T = p.Subject, p.Session, p.Trial
    q = S.aggr(Se, "name", n="count(*)")
    assert q.heading.names == ["subject_id", "name", "n"]
    assert sorted((r["name"], r["n"]) for r in q.to_dicts()) == [
        ("donald", 0), ("mickey", 2), ("minnie", 1)]
    q = S.aggr(Se, ..., n="count(*)")
    assert q.heading.names == ["subject_id", "name", "sex", "dob", "n"]
    # restricting by the aggregate (HAVING-like)
    agg = S.aggr(T, n="count(*)", top="max(value)")
    assert ids(agg & "n > 0") == [1, 2]
    assert ids(agg & "top > 3") == [2]
    assert ids(agg - "top > 3") == [1]  # NULL top: neither condition holds
    assert ids(agg & "n = 0") == [3]
    # restricting the grouping side and the group
    assert ids((S & "sex = 'M'").aggr(T, n="count(*)")) == [1, 3]
    got = S.aggr(T & "value > 2", n="count(*)").to_dicts()
    assert sorted((r["subject_id"], r["n"]) for r in got) == [(1, 1), (2, 3), (3, 0)]
    # aggregation per session, joined back, projected
    per_session = Se.aggr(T, n="count(*)", s="sum(value)")
    assert {(r["subject_id"], r["session"]): r["n"] for r in per_session.to_dicts()} == {
        (1, 1): 2, (1, 2): 1, (2, 1): 3}
    assert (per_session * S & {"subject_id": 2}).fetch1("name", "s") == ("minnie", 12.25)
    assert sorted(agg.proj(n2="n * 2").to_arrays("n2").tolist()) == [0, 6, 6]
    # aggregate over a comparison: literal bound inside the aggregate
    assert {r["subject_id"]: r["big"] for r in S.aggr(T, big="sum(value > 2)", exclude_nonmatching=True)} \
        == {1: 1, 2: 3}
    with pytest.raises(QueryError, match="session"):
        Se.aggr(S, n="count(*)")  # the group lacks the grouping key


def test_aggr_group_concat(p):
    got = {r["subject_id"]: r["names"] for r in
           p.Subject.aggr(p.Trial, names="GROUP_CONCAT(trial)").to_dicts()}
    assert sorted(got[1].split(",")) == ["1", "1", "2"]
    assert sorted(got[2].split(",")) == ["1", "2", "3"]
    assert got[3] is None
    total = dj.U().aggr(p.Subject, names="GROUP_CONCAT(name SEPARATOR '|')").fetch1("names")
    assert sorted(total.split("|")) == ["donald", "mickey", "minnie"]


def test_aggr_group_concat_ordered(p, backend):
    got = p.Session.aggr(p.Trial, t="GROUP_CONCAT(trial ORDER BY trial DESC)")
    assert (got & {"subject_id": 2}).fetch1("t") == "3,2,1"
    got = p.Session.aggr(p.Trial, t="GROUP_CONCAT(trial ORDER BY trial SEPARATOR ';')")
    assert (got & {"subject_id": 2}).fetch1("t") == "1;2;3"


# --------------------------------------------------------------------------- union
def test_union(p):
    S, W = p.Subject, p.Weight
    a = (S & "subject_id > 1").proj("name")
    b = W.proj("weight")
    u = a + b
    assert u.primary_key == ["subject_id"]
    assert set(u.heading.names) == {"subject_id", "name", "weight"}
    rows = sorted((r["subject_id"], r["name"], r["weight"]) for r in u.to_dicts())
    # keys of both; each side's values where present, NULL where absent
    assert rows == [(1, None, 20.5), (2, "minnie", 18.0), (3, "donald", None)]
    assert len(u) == 3
    u2 = b + a
    assert sorted((r["subject_id"], r["name"], r["weight"]) for r in u2.to_dicts()) == rows
    # keys only
    k = (S & {"subject_id": 1}).proj() + (S & "subject_id > 1").proj() + W.proj()
    assert ids(k) == [1, 2, 3]
    # further operators apply to a union
    assert ids(u & "weight IS NULL") == [3]
    assert len(u * p.Session) == 3
    with pytest.raises(QueryError, match="primary key"):
        S + p.Session
    with pytest.raises(QueryError, match="name"):
        S.proj("name") + S.proj("name")


# --------------------------------------------------------------------------- dj.U
def test_universal_set(p):
    S, T = p.Subject, p.Trial
    sexes = dj.U("sex") & S
    assert sexes.primary_key == ["sex"] and sexes.heading.names == ["sex"]
    assert sorted(r["sex"] for r in sexes.to_dicts()) == ["F", "M"]
    assert len(sexes) == 2
    assert (sexes & "sex = 'M'").to_dicts() == [{"sex": "M"}]
    pairs = dj.U("subject_id", "session") & T
    assert keys(pairs) == [(1, 1), (1, 2), (2, 1)]
    assert (dj.U() & S).to_dicts() == [{}]
    assert len(dj.U() & (S & "subject_id > 9")) == 0
    with pytest.raises(QueryError, match="bogus"):
        dj.U("bogus") & S
    with pytest.raises(QueryError):
        dj.U("sex") - S
    # aggregation by U groups by the U attributes (always an inner join)
    counts = dj.U("sex").aggr(S, n="count(*)")
    assert counts.primary_key == ["sex"]
    assert sorted((r["sex"], r["n"]) for r in counts.to_dicts()) == [("F", 1), ("M", 2)]
    assert (counts & "n > 1").to_dicts() == [{"sex": "M", "n": 2}]
    per_subject = dj.U("subject_id").aggr(T & "value > 2", n="count(*)", top="max(value)")
    assert sorted((r["subject_id"], r["n"], r["top"]) for r in per_subject.to_dicts()) == [
        (1, 1, 2.25), (2, 3, 5.25)]
    one = dj.U().aggr(T, n="count(*)", total="sum(value)")
    assert one.primary_key == [] and one.to_dicts() == [{"n": 6, "total": 16.5}]
    assert one.fetch1("n") == 6
    with pytest.raises(QueryError):
        dj.U("sex").aggr(S, n="count(*)", exclude_nonmatching=False)
    # dj.U(...) * q adds the U attributes to the primary key (rows unchanged)
    promoted = dj.U("sex") * S
    assert promoted.primary_key == ["subject_id", "sex"]
    assert len(promoted) == 3
    assert ids(promoted & {"sex": "M"}) == [1, 3]


# --------------------------------------------------------------------------- dj.Top
def test_top(p):
    S, T = p.Subject, p.Trial
    assert [k["subject_id"] for k in (S & dj.Top(2, "KEY DESC")).keys(order_by="KEY DESC")] == [3, 2]
    assert ids(S & dj.Top()) == [1]                       # default: 1 row by KEY
    assert ids(S & dj.Top(2)) == [1, 2]
    assert ids(S & dj.Top(1, "name DESC")) == [2]            # minnie
    assert ids(S & dj.Top(1, "name DESC", offset=1)) == [1]  # mickey
    assert ids(S & dj.Top(None, "KEY", offset=1)) == [2, 3]
    assert keys(T & dj.Top(2, ["subject_id DESC", "value"])) == [(2, 1, 1), (2, 1, 2)]
    # output methods keep the Top's order
    top = S & dj.Top(3, "name DESC")
    assert [r["name"] for r in top.to_dicts()] == ["minnie", "mickey", "donald"]
    assert [r["name"] for r in top.to_dicts(limit=2)] == ["minnie", "mickey"]
    # operators after a Top apply to the Top's rows
    assert ids(S & dj.Top(2, "KEY DESC") & "subject_id < 3") == [2]
    assert ids((S & "subject_id < 3") & dj.Top(1, "KEY DESC")) == [2]
    assert len((S & dj.Top(2)) * p.Session) == 3
    assert ids(S - (S & dj.Top(1)).proj()) == [2, 3]
    # a Top with order_by=None inherits the previous Top's order
    assert ids(S & dj.Top(3, "name DESC") & dj.Top(1, None, offset=1)) == [1]
    # aggregation then Top
    busiest = S.aggr(p.Session, n="count(*)") & dj.Top(1, "n DESC")
    assert busiest.fetch1("KEY") == {"subject_id": 1}
    with pytest.raises(QueryError, match="integer"):
        dj.Top(1.5)
    with pytest.raises(QueryError, match="integer"):
        dj.Top(1, offset="2")
    with pytest.raises(QueryError, match="strings"):
        dj.Top(1, order_by=[1])
    with pytest.raises(QueryError, match="bogus"):
        S & dj.Top(1, "bogus DESC")
    with pytest.raises(QueryError):
        S - dj.Top(1)
    with pytest.raises(QueryError):
        S & [dj.Top(1)]


def test_removed_operators(p):
    with pytest.raises(QueryError, match="semantic_check=False"):
        p.Session @ p.Subject
    with pytest.raises(QueryError, match="semantic_check=False"):
        p.Session ^ p.Subject


# --------------------------------------------------------------------------- protocol
def test_len_bool_iter_contains_repr(p):
    S, Se = p.Subject, p.Session
    assert len(S) == 3 and len(S & "subject_id > 1") == 2 and len(S * Se) == 3
    assert bool(S) and bool(S & {"subject_id": 3}) and not (S & {"subject_id": 9})
    rows = list(S & "subject_id < 3")
    assert all(isinstance(r, dict) for r in rows)
    assert sorted(r["name"] for r in rows) == ["mickey", "minnie"]
    assert sorted(r["subject_id"] for r in S) == [1, 2, 3]                 # class iteration
    assert {"subject_id": 1} in S and {"subject_id": 9} not in S
    assert {"subject_id": 1, "session": 2} in Se and "session_date > '2024-02-15'" in Se
    text = repr(S())
    for word in ("subject_id", "name", "sex", "dob", "mickey", "Total: 3"):
        assert word in text
    text = repr(Se * S & {"subject_id": 1})
    assert "session_date" in text and "Total: 2" in text and "minnie" not in text
    # the preview keeps a Top's order and shows the total count
    text = repr(S & dj.Top(2, "name DESC"))
    assert text.index("minnie") < text.index("mickey") and "donald" not in text
    assert "Total: 2" in text
    html = S()._repr_html_()
    assert "<table" in html and "subject_id" in html and "minnie" in html and "Total: 3" in html
    assert "&lt;b&gt;" not in html


def test_timestamp_literals_compare_as_datetimes(schema):
    import datetime as dt

    @schema
    class Ev(dj.Manual):
        definition = """
        id : int32
        ---
        t : datetime
        """

    Ev.insert([(1, dt.datetime(2020, 1, 1)), (2, dt.datetime(2020, 1, 1, 0, 0, 1)),
               (3, dt.datetime(2019, 12, 31, 23, 59, 59))])
    assert [k["id"] for k in (Ev & "t > TIMESTAMP '2020-01-01'").keys()] == [2]
    assert [k["id"] for k in (Ev & "t = TIMESTAMP '2020-01-01 00:00:00'").keys()] == [1]
    assert [k["id"] for k in (Ev & "t < TIMESTAMP '2020-01-01'").keys()] == [3]
