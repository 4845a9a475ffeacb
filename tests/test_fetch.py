"""Fetch API on every backend: to_dicts / to_pandas / to_arrays / keys / fetch1 / head / tail
and the legacy fetch() with 0.14 return shapes."""
from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

import joinflow as dj
from joinflow.errors import QueryError

SUBJECTS = [(1, "mickey", "M", dt.date(2020, 1, 1)),
            (2, "minnie", "F", dt.date(2021, 5, 5)),
            (3, "donald", "M", None),
            (4, "daisy", "F", dt.date(2019, 7, 7))]


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
        score = null : float64
        """

    Subject.insert(SUBJECTS)
    Session.insert([(1, 1, dt.date(2023, 12, 1), 0.5), (1, 2, dt.date(2024, 2, 1), None),
                    (2, 1, dt.date(2024, 3, 1), 2.5)])
    return SimpleNamespace(Subject=Subject, Session=Session)


@pytest.fixture
def p(schema):
    return pipeline(schema)


def as_dict(row):
    return dict(zip(("subject_id", "name", "sex", "dob"), row))


def test_to_dicts(p):
    S = p.Subject
    rows = S.to_dicts(order_by="KEY")
    assert rows == [as_dict(r) for r in SUBJECTS]
    assert type(rows[0]["subject_id"]) is int and type(rows[0]["dob"]) is dt.date
    assert rows[2]["dob"] is None
    assert [r["name"] for r in S.to_dicts(order_by="name")] == ["daisy", "donald", "mickey", "minnie"]
    assert [r["name"] for r in S.to_dicts(order_by="name DESC", limit=2)] == ["minnie", "mickey"]
    assert [r["name"] for r in S.to_dicts(order_by="name DESC", limit=2, offset=1)] == [
        "mickey", "donald"]
    assert [r["subject_id"] for r in S.to_dicts(order_by=["sex", "subject_id DESC"])] == [4, 2, 3, 1]
    assert [r["subject_id"] for r in S.to_dicts(order_by="KEY DESC")] == [4, 3, 2, 1]
    # limit without order_by uses the primary key order
    assert [r["subject_id"] for r in S.to_dicts(limit=2)] == [1, 2]
    assert [r["subject_id"] for r in S.to_dicts(limit=2, offset=2)] == [3, 4]
    assert (S & "subject_id > 10").to_dicts() == []
    with pytest.raises(QueryError, match="bogus"):
        S.to_dicts(order_by="bogus")


def test_to_pandas(p):
    df = p.Subject.to_pandas(order_by="KEY")
    assert isinstance(df, pd.DataFrame)
    assert df.index.name == "subject_id" and list(df.index) == [1, 2, 3, 4]
    assert list(df.columns) == ["name", "sex", "dob"]
    assert df.loc[2, "name"] == "minnie" and df.loc[2, "dob"] == dt.date(2021, 5, 5)
    df = p.Session.to_pandas(order_by="KEY")
    assert isinstance(df.index, pd.MultiIndex)
    assert list(df.index.names) == ["subject_id", "session"]
    assert list(df.index) == [(1, 1), (1, 2), (2, 1)]
    assert df.loc[(2, 1), "score"] == 2.5
    assert pd.isna(df.loc[(1, 2), "score"])
    df = p.Subject.to_pandas(order_by="name DESC", limit=1)
    assert list(df.index) == [2]
    empty = (p.Subject & "subject_id > 10").to_pandas()
    assert len(empty) == 0 and list(empty.columns) == ["name", "sex", "dob"]
    # a key-less result has a plain index
    df = dj.U().aggr(p.Session, n="count(*)").to_pandas()
    assert list(df.columns) == ["n"] and df["n"].tolist() == [3]


def test_to_arrays(p):
    S, Se = p.Subject, p.Session
    rec = S.to_arrays(order_by="KEY")
    assert isinstance(rec, np.ndarray) and rec.dtype.names == ("subject_id", "name", "sex", "dob")
    assert rec["subject_id"].dtype == np.int32 and rec["subject_id"].tolist() == [1, 2, 3, 4]
    assert rec[1]["name"] == "minnie" and rec[2]["dob"] is None
    scores = Se.to_arrays(order_by="KEY")["score"]
    assert scores.dtype == np.float64 and scores[0] == 0.5 and np.isnan(scores[1])
    names, dobs = S.to_arrays("name", "dob", order_by="KEY")
    assert names.tolist() == ["mickey", "minnie", "donald", "daisy"]
    assert dobs.tolist() == [r[3] for r in SUBJECTS]
    single = S.to_arrays("name", order_by="name", limit=2)
    assert isinstance(single, np.ndarray) and single.tolist() == ["daisy", "donald"]
    keys, names = S.to_arrays("name", include_key=True, order_by="KEY DESC")
    assert keys == [{"subject_id": 4}, {"subject_id": 3}, {"subject_id": 2}, {"subject_id": 1}]
    assert names.tolist() == ["daisy", "donald", "minnie", "mickey"]
    empty = (S & "subject_id > 10").to_arrays()
    assert len(empty) == 0 and empty.dtype.names == ("subject_id", "name", "sex", "dob")
    ids, = (S & "subject_id > 10").to_arrays("subject_id"),
    assert len(ids) == 0
    with pytest.raises(QueryError, match="bogus"):
        S.to_arrays("bogus")


def test_keys(p):
    assert p.Subject.keys(order_by="KEY") == [{"subject_id": i} for i in (1, 2, 3, 4)]
    assert p.Session.keys(order_by="KEY DESC", limit=2) == [
        {"subject_id": 2, "session": 1}, {"subject_id": 1, "session": 2}]
    assert (p.Subject & "sex = 'F'").keys(order_by="name") == [{"subject_id": 4}, {"subject_id": 2}]
    assert (p.Subject & "subject_id > 10").keys() == []


def test_fetch1(p):
    S = p.Subject
    one = S & {"subject_id": 2}
    assert one.fetch1() == as_dict(SUBJECTS[1])
    assert one.fetch1("name") == "minnie"
    assert one.fetch1("name", "dob") == ("minnie", dt.date(2021, 5, 5))
    assert one.fetch1("KEY") == {"subject_id": 2}
    assert one.fetch1("KEY", "name") == ({"subject_id": 2}, "minnie")
    assert (S & {"subject_id": 3}).fetch1("dob") is None
    assert (p.Session & {"subject_id": 1, "session": 2}).fetch1("KEY") == {
        "subject_id": 1, "session": 2}
    with pytest.raises(QueryError, match="exactly one") as info:
        (S & {"subject_id": 99}).fetch1()
    assert "0" in str(info.value)
    with pytest.raises(QueryError, match="exactly one") as info:
        S.fetch1()
    assert "4" in str(info.value)
    with pytest.raises(QueryError, match="exactly one"):
        (S & "sex = 'F'").fetch1("name")
    with pytest.raises(QueryError, match="bogus"):
        one.fetch1("bogus")


def test_head_tail(p):
    S = p.Subject
    assert [r["subject_id"] for r in S.head(2)] == [1, 2]
    assert [r["subject_id"] for r in S.tail(2)] == [3, 4]         # ascending order
    assert [r["subject_id"] for r in S.head()] == [1, 2, 3, 4]
    assert [r["subject_id"] for r in S.tail(limit=1)] == [4]
    assert S.head(1) == [as_dict(SUBJECTS[0])]
    assert [(r["subject_id"], r["session"]) for r in p.Session.tail(2)] == [(1, 2), (2, 1)]


def test_fetch_legacy_shapes(p):
    S = p.Subject
    rec = S.fetch(order_by="KEY")
    assert isinstance(rec, np.ndarray) and rec.dtype.names == ("subject_id", "name", "sex", "dob")
    assert rec["name"].tolist() == ["mickey", "minnie", "donald", "daisy"]
    assert S.fetch(as_dict=True, order_by="KEY") == [as_dict(r) for r in SUBJECTS]
    df = S.fetch(format="frame", order_by="KEY")
    assert isinstance(df, pd.DataFrame) and df.index.name == "subject_id"
    assert df["name"].tolist() == ["mickey", "minnie", "donald", "daisy"]
    assert isinstance(S.fetch(format="array"), np.ndarray)
    names = S.fetch("name", order_by="KEY")
    assert isinstance(names, np.ndarray) and names.tolist() == ["mickey", "minnie", "donald", "daisy"]
    got = S.fetch("name", "subject_id", order_by="KEY")
    assert isinstance(got, tuple) and len(got) == 2  # DataJoint 2.3.5: a tuple
    names, ids = got
    assert ids.dtype == np.int32 and ids.tolist() == [1, 2, 3, 4]
    assert S.fetch("KEY", order_by="KEY") == [{"subject_id": i} for i in (1, 2, 3, 4)]
    keys, names = S.fetch("KEY", "name", order_by="KEY DESC")
    assert keys == [{"subject_id": i} for i in (4, 3, 2, 1)]
    assert names.tolist() == ["daisy", "donald", "minnie", "mickey"]
    assert S.fetch("name", "sex", as_dict=True, order_by="KEY", limit=1) == [
        {"name": "mickey", "sex": "M"}]
    assert S.fetch("KEY", "name", as_dict=True, order_by="KEY", limit=1) == [
        {"subject_id": 1, "name": "mickey"}]
    scores = p.Session.fetch("score", order_by="KEY")
    assert scores.dtype == np.float64 and np.isnan(scores[1])


def test_fetch_legacy_order_limit_offset(p):
    S = p.Subject
    assert S.fetch("name", order_by="name DESC", limit=2).tolist() == ["minnie", "mickey"]
    assert S.fetch("name", order_by="name DESC", limit=2, offset=1).tolist() == ["mickey", "donald"]
    assert S.fetch("subject_id", limit=3).tolist() == [1, 2, 3]
    # NULL sorts first ascending and last descending on every backend
    assert S.fetch("subject_id", order_by="dob").tolist() == [3, 4, 1, 2]
    assert S.fetch("subject_id", order_by="dob DESC").tolist() == [2, 1, 4, 3]
    assert S.fetch("KEY", order_by=["sex DESC", "name"]) == [
        {"subject_id": 3}, {"subject_id": 1}, {"subject_id": 4}, {"subject_id": 2}]
    with pytest.warns(UserWarning, match="offset"):
        assert S.fetch("subject_id", order_by="KEY", offset=3).tolist() == [4]
    with pytest.raises(QueryError, match="format"):
        S.fetch("name", format="frame")
    with pytest.raises(QueryError, match="format"):
        S.fetch(as_dict=True, format="frame")
    with pytest.raises(QueryError, match="xml"):
        S.fetch(format="xml")


def test_fetch_from_derived_queries(p):
    S, Se = p.Subject, p.Session
    j = S * Se
    rows = j.to_dicts(order_by="KEY")
    assert [(r["subject_id"], r["session"], r["name"], r["score"]) for r in rows] == [
        (1, 1, "mickey", 0.5), (1, 2, "mickey", None), (2, 1, "minnie", 2.5)]
    agg = S.aggr(Se, n="count(*)", best="max(score)")
    assert agg.fetch("n", order_by="KEY").tolist() == [2, 1, 0, 0]
    # computed numbers come back as numeric arrays (NULL floats as NaN)
    rec = agg.to_arrays(order_by="KEY")
    assert rec["n"].dtype == np.int64 and rec["n"].tolist() == [2, 1, 0, 0]
    assert rec["best"].dtype == np.float64 and rec["best"][0] == 0.5 and np.isnan(rec["best"][3])
    doubled = Se.proj(s2="score * 2").to_arrays("s2", order_by="KEY")
    assert doubled.dtype == np.float64 and doubled[0] == 1.0 and np.isnan(doubled[1])
    assert (agg & {"subject_id": 1}).fetch1("n", "best") == (2, 0.5)
    df = agg.to_pandas(order_by="KEY")
    assert df.index.name == "subject_id" and df["n"].tolist() == [2, 1, 0, 0]
    top = S & dj.Top(2, "dob DESC")
    assert top.fetch("name").tolist() == ["minnie", "mickey"]      # keeps the Top order
    assert top.fetch("name", order_by="name").tolist() == ["mickey", "minnie"]
    assert [r["subject_id"] for r in top.head()] == [1, 2]
    proj = S.proj(born="YEAR(dob)")
    assert proj.fetch("born", order_by="KEY").tolist() == [2020, 2021, None, 2019]
    assert (proj & "born < 2020").fetch1("KEY") == {"subject_id": 4}
