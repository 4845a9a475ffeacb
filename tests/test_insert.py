"""Insert, update1 and validate on all three backends."""
from __future__ import annotations

import math
import uuid

import numpy as np
import pandas as pd
import pytest

import joinflow as dj
from joinflow import errors


def _declare(schema):
    @schema
    class Subject(dj.Manual):
        definition = """
        subject_id : int32
        ---
        name : varchar(16)
        weight = null : float64
        age = 7 : int16
        """

    return Subject


def _rows(table):
    return sorted(table.to_dicts(), key=lambda r: r["subject_id"])


# ------------------------------------------------------------------ row sources
def test_insert_dicts_tuples_lists(schema):
    Subject = _declare(schema)
    Subject.insert1(dict(subject_id=1, name="a", weight=1.5, age=3))
    Subject.insert1((2, "b", None, 4))
    Subject.insert([[3, "c", 2.25, 5], (4, "d", 0.5, 6)])
    assert _rows(Subject) == [
        dict(subject_id=1, name="a", weight=1.5, age=3),
        dict(subject_id=2, name="b", weight=None, age=4),
        dict(subject_id=3, name="c", weight=2.25, age=5),
        dict(subject_id=4, name="d", weight=0.5, age=6),
    ]
    r = (Subject & {"subject_id": 1}).fetch1()
    assert type(r["subject_id"]) is int and type(r["weight"]) is float


def test_insert_positional_wrong_arity(schema):
    Subject = _declare(schema)
    with pytest.raises(errors.DataError, match="4 attributes"):
        Subject.insert1((1, "a"))
    assert len(Subject) == 0


def test_insert_numpy_records(schema):
    Subject = _declare(schema)
    arr = np.array([(1, "a", 1.0, 2), (2, "b", 2.5, 3)],
                   dtype=[("subject_id", "i4"), ("name", "U16"), ("weight", "f8"), ("age", "i2")])
    Subject.insert(arr)
    Subject.insert1(np.array([(3, "c", 4.0, 9)], dtype=arr.dtype)[0])  # np.void record
    Subject.insert([np.array([(4, "d", 5.0, 1)], dtype=arr.dtype)[0]])
    rows = _rows(Subject)
    assert rows[1] == dict(subject_id=2, name="b", weight=2.5, age=3)
    assert rows[2] == dict(subject_id=3, name="c", weight=4.0, age=9)
    assert [r["subject_id"] for r in rows] == [1, 2, 3, 4]
    assert type(rows[0]["subject_id"]) is int and type(rows[0]["name"]) is str


def test_insert_dataframe_index_handling(schema):
    Subject = _declare(schema)
    # unnamed single index is dropped
    df = pd.DataFrame(dict(subject_id=[1, 2], name=["a", "b"], weight=[1.0, np.nan], age=[1, 2]),
                      index=[10, 11])
    Subject.insert(df)
    assert _rows(Subject)[1] == dict(subject_id=2, name="b", weight=None, age=2)
    # named (primary-key) index is reset into a column
    df2 = pd.DataFrame(dict(name=["c"], weight=[3.0], age=[3]),
                       index=pd.Index([3], name="subject_id"))
    Subject.insert(df2)
    assert (Subject & {"subject_id": 3}).fetch1("name") == "c"
    # round trip through to_pandas (PK index)
    out = Subject.to_pandas()
    Subject.delete(prompt=False)
    assert len(Subject) == 0
    Subject.insert(out)
    assert len(Subject) == 3
    assert (Subject & {"subject_id": 3}).fetch1() == dict(subject_id=3, name="c", weight=3.0,
                                                            age=3)


def test_insert_dataframe_method_roundtrip(schema):
    Subject = _declare(schema)
    Subject.insert([(1, "a", 1.0, 2), (2, "b", None, 3)])
    df = Subject.to_pandas()
    before = _rows(Subject)
    Subject.delete(prompt=False)
    Subject.insert_dataframe(df)
    assert _rows(Subject) == before


def test_insert_from_generator(schema):
    Subject = _declare(schema)
    Subject.insert(dict(subject_id=i, name=f"n{i}") for i in range(5))
    assert len(Subject) == 5
    assert (Subject & {"subject_id": 4}).fetch1("age") == 7


def test_insert_from_query(schema):
    Subject = _declare(schema)

    @schema
    class Other(dj.Manual):
        definition = """
        subject_id : int32
        ---
        name : varchar(16)
        """

    @schema
    class Wide(dj.Manual):
        definition = """
        subject_id : int32
        ---
        name : varchar(16)
        extra : int32
        """

    Subject.insert([(1, "a", 1.0, 2), (2, "b", None, 3)])
    Other.insert(Subject.proj("name"))
    assert sorted(Other.to_dicts(), key=lambda r: r["subject_id"]) == [
        dict(subject_id=1, name="a"), dict(subject_id=2, name="b")]
    Wide.insert([(5, "w", 1)])
    with pytest.raises(errors.DataError, match="extra"):
        Other.insert(Wide)
    Other.insert(Wide, ignore_extra_fields=True)
    assert (Other & {"subject_id": 5}).fetch1("name") == "w"
    # INSERT ... SELECT with skip_duplicates
    Other.insert(Subject.proj("name"), skip_duplicates=True)
    assert len(Other) == 3
    with pytest.raises(errors.DuplicateError):
        Other.insert(Subject.proj("name"))
    # INSERT ... SELECT with replace overwrites
    Subject.update1(dict(subject_id=1, name="A"))
    Other.insert(Subject.proj("name"), replace=True)
    assert (Other & {"subject_id": 1}).fetch1("name") == "A"
    assert len(Other) == 3


# ------------------------------------------------------------------ duplicates & fields
def test_duplicates_skip_replace(schema):
    Subject = _declare(schema)
    Subject.insert1(dict(subject_id=1, name="orig", age=1))
    with pytest.raises(errors.DuplicateError, match="skip_duplicates"):
        Subject.insert1(dict(subject_id=1, name="new", age=2))
    Subject.insert1(dict(subject_id=1, name="new", age=2), skip_duplicates=True)
    assert (Subject & {"subject_id": 1}).fetch1("name") == "orig"
    Subject.insert1(dict(subject_id=1, name="new", age=2), replace=True)
    assert (Subject & {"subject_id": 1}).fetch1() == dict(subject_id=1, name="new", weight=None,
                                                            age=2)
    # skip_duplicates with a mix of new and existing rows
    Subject.insert([dict(subject_id=1, name="x"), dict(subject_id=2, name="y")],
                   skip_duplicates=True)
    assert _rows(Subject)[0]["name"] == "new"
    assert _rows(Subject)[1]["name"] == "y"
    # replace overwrites the whole row: attributes left out return to their default
    Subject.insert1(dict(subject_id=2, name="y2", weight=3.5, age=9), replace=True)
    Subject.insert1(dict(subject_id=2, name="y3"), replace=True)
    assert (Subject & {"subject_id": 2}).fetch1() == dict(subject_id=2, name="y3", weight=None,
                                                            age=7)


def test_replace_many_rows(schema):
    Subject = _declare(schema)
    Subject.insert(dict(subject_id=i, name="a") for i in range(300))
    Subject.insert((dict(subject_id=i, name="b") for i in range(300)), replace=True)
    assert set(Subject.to_arrays("name")) == {"b"}


def test_extra_and_missing_fields(schema):
    Subject = _declare(schema)
    with pytest.raises(errors.DataError, match="colour"):
        Subject.insert1(dict(subject_id=1, name="a", colour="red"))
    Subject.insert1(dict(subject_id=1, name="a", colour="red"), ignore_extra_fields=True)
    assert (Subject & {"subject_id": 1}).fetch1("name") == "a"
    with pytest.raises(errors.DataError, match="name"):
        Subject.insert1(dict(subject_id=2))
    with pytest.raises(errors.DataError, match="name"):
        Subject.insert1(dict(subject_id=2, name=None))
    assert len(Subject) == 1


def test_none_nan_empty_for_numeric(schema):
    Subject = _declare(schema)
    Subject.insert1(dict(subject_id=1, name="a", weight=None, age=None))
    Subject.insert1(dict(subject_id=2, name="b", weight=float("nan"), age=""))
    Subject.insert1(dict(subject_id=3, name="c", weight="", age=np.nan))
    for r in _rows(Subject):
        assert r["weight"] is None
        assert r["age"] == 7
    # mixed: some rows give a value, others rely on the default
    Subject.insert([dict(subject_id=4, name="d", age=1), dict(subject_id=5, name="e", age=None)])
    assert (Subject & {"subject_id": 4}).fetch1("age") == 1
    assert (Subject & {"subject_id": 5}).fetch1("age") == 7


def test_bad_uuid(schema):
    @schema
    class Thing(dj.Manual):
        definition = """
        thing_id : uuid
        """

    u = uuid.uuid4()
    Thing.insert1({"thing_id": u})
    assert Thing.fetch1("thing_id") == u
    with pytest.raises(errors.DataError, match="UUID.*thing_id"):
        Thing.insert1({"thing_id": "not-a-uuid"})
    assert len(Thing) == 1


def test_foreign_key_missing_parent(schema):
    Subject = _declare(schema)  # noqa: F841 - `-> Subject` finds it among the caller's locals

    @schema
    class Session(dj.Manual):
        definition = """
        -> Subject
        session : int16
        """

    with pytest.raises(errors.ForeignKeyError):
        Session.insert1((1, 1))


# ------------------------------------------------------------------ atomicity & chunks
def test_insert_is_atomic(schema):
    Subject = _declare(schema)
    rows = [dict(subject_id=i, name="x") for i in range(1000)]
    rows[499] = dict(subject_id=3, name="dup")  # 500th row duplicates row 4
    with pytest.raises(errors.DuplicateError):
        Subject.insert(rows)
    assert len(Subject) == 0


def test_insert_atomic_range_violation(schema):
    Subject = _declare(schema)
    rows = [dict(subject_id=i, name="x", age=1) for i in range(600)]
    rows[499]["age"] = 70000  # out of int16 range
    with pytest.raises(errors.JoinflowError):
        Subject.insert(rows)
    assert len(Subject) == 0


def test_chunk_size_commits_each_chunk(schema):
    Subject = _declare(schema)
    rows = [dict(subject_id=i, name="x") for i in range(10)]
    rows[7] = dict(subject_id=0, name="dup")
    with pytest.raises(errors.DuplicateError):
        Subject.insert(rows, chunk_size=3)
    # chunks [0,1,2], [3,4,5] committed; [6,dup,8] rolled back; [9] never written
    assert sorted(Subject.to_arrays("subject_id").tolist()) == [0, 1, 2, 3, 4, 5]


def test_chunk_size_all_rows(schema):
    Subject = _declare(schema)
    Subject.insert((dict(subject_id=i, name="x") for i in range(25)), chunk_size=4)
    assert len(Subject) == 25


def test_failed_insert_in_transaction_rolls_back_all(schema):
    Subject = _declare(schema)
    conn = schema.connection
    with pytest.raises(errors.DuplicateError):
        with conn.transaction:
            Subject.insert1(dict(subject_id=1, name="a"))
            Subject.insert1(dict(subject_id=2, name="b"))
            Subject.insert1(dict(subject_id=1, name="c"))
    assert len(Subject) == 0
    assert not conn.in_transaction


def test_nested_transaction_savepoint(schema):
    Subject = _declare(schema)
    conn = schema.connection
    with conn.transaction:
        Subject.insert1(dict(subject_id=1, name="a"))
        with pytest.raises(errors.DuplicateError):
            with conn.transaction:
                Subject.insert1(dict(subject_id=2, name="b"))
                Subject.insert1(dict(subject_id=1, name="c"))
        Subject.insert1(dict(subject_id=3, name="d"))
        # inner insert() calls (which open their own transaction) still work after the failure
        Subject.insert([dict(subject_id=4, name="e")])
    assert sorted(Subject.to_arrays("subject_id").tolist()) == [1, 3, 4]


def _second_connection(conn, backend, tmp_path):
    from conftest import backend_config
    cfg = backend_config(backend, tmp_path)
    if backend == "sqlite":
        cfg["database.path"] = conn.config["database.path"]
    return dj.Connection(config=cfg)


def test_nested_transaction_never_commits_early(schema, backend, tmp_path):
    Subject = _declare(schema)
    conn = schema.connection
    other = _second_connection(conn, backend, tmp_path)
    try:
        def visible():
            (n,), = other.query(f"SELECT COUNT(*) FROM {Subject.full_table_name}")
            return n

        with conn.transaction:
            Subject.insert1(dict(subject_id=1, name="a"))
            with conn.transaction:
                Subject.insert1(dict(subject_id=2, name="b"))
            assert visible() == 0
            Subject.insert([dict(subject_id=3, name="c")])
            assert visible() == 0
        assert visible() == 3
    finally:
        other.close()


# ------------------------------------------------------------------ auto-populated tables
def test_allow_direct_insert(schema):
    Subject = _declare(schema)

    @schema
    class Stat(dj.Computed):
        definition = """
        -> Subject
        ---
        value : int32
        """

        class Item(dj.Part):
            definition = """
            -> master
            item : int16
            """

        def make(self, key):
            self.insert1(dict(key, value=key["subject_id"] * 10))
            self.Item.insert1(dict(key, item=1))

    Subject.insert1(dict(subject_id=1, name="a"))
    Subject.insert1(dict(subject_id=2, name="b"))
    with pytest.raises(errors.JoinflowError, match="allow_direct_insert"):
        Stat.insert1(dict(subject_id=1, value=3))
    assert len(Stat) == 0
    Stat.insert1(dict(subject_id=1, value=3), allow_direct_insert=True)
    assert Stat.fetch1("value") == 3
    # DataJoint 2.3.5 guards only the master: its parts take direct inserts
    Stat.Item.insert1(dict(subject_id=1, item=3))
    Stat.populate()
    assert (Stat & {"subject_id": 2}).fetch1("value") == 20
    assert sorted(Stat.Item.fetch("item")) == [1, 3]
    # after populate the flag is cleared again
    with pytest.raises(errors.JoinflowError, match="allow_direct_insert"):
        Stat.insert1(dict(subject_id=3, value=3))


# ------------------------------------------------------------------ update1
def test_update1(schema):
    Subject = _declare(schema)
    Subject.insert1(dict(subject_id=1, name="a", weight=1.0, age=3))
    Subject.update1(dict(subject_id=1, name="z", weight=2.5))
    assert (Subject & {"subject_id": 1}).fetch1() == dict(subject_id=1, name="z", weight=2.5,
                                                            age=3)
    Subject.update1(dict(subject_id=1, weight=None, age=None))
    assert (Subject & {"subject_id": 1}).fetch1() == dict(subject_id=1, name="z", weight=None,
                                                            age=7)
    with pytest.raises(errors.DataError, match="primary key"):
        Subject.update1(dict(name="q"))
    with pytest.raises(errors.DataError, match="exist"):
        Subject.update1(dict(subject_id=99, name="q"))
    with pytest.raises(errors.DataError, match="colour"):
        Subject.update1(dict(subject_id=1, colour="q"))
    with pytest.raises(errors.JoinflowError, match="restricted"):
        (Subject & {"subject_id": 1}).update1(dict(subject_id=1, name="q"))
    with pytest.raises(errors.DataError, match="dict"):
        Subject.update1((1, "q"))
    with pytest.raises(errors.DataError, match="name"):
        Subject.update1(dict(subject_id=1, name=None))  # required, no default
    assert (Subject & {"subject_id": 1}).fetch1("name") == "z"


def test_update1_blob_and_uuid(schema):
    @schema
    class Rec(dj.Manual):
        definition = """
        rec : int32
        ---
        data = null : longblob
        token = null : uuid
        """

    Rec.insert1(dict(rec=1))
    u = uuid.uuid4()
    Rec.update1(dict(rec=1, data=np.arange(4), token=u))
    row = Rec.fetch1()
    assert np.array_equal(row["data"], np.arange(4)) and row["token"] == u


# ------------------------------------------------------------------ validate
def test_validate(schema):
    @schema
    class Item(dj.Manual):
        definition = """
        item_id : int16
        ---
        label : varchar(4)
        kind : enum('a', 'b')
        token = null : uuid
        n = 0 : uint8
        """

    good = [dict(item_id=1, label="ok", kind="a"), dict(item_id=2, label="fine", kind="b",
                                                           token=uuid.uuid4(), n=255)]
    result = Item.validate(good)
    assert result.is_valid and result and result.errors == [] and result.rows_checked == 2
    result.raise_if_invalid()

    bad = [
        dict(item_id=1, label="toolong", kind="a"),
        dict(item_id=40000, label="x", kind="a"),
        dict(item_id=3, label="x", kind="c"),
        dict(item_id=4, label="x", kind="a", token="nope"),
        dict(item_id=5, label="x", kind="a", n=256),
    ]
    result = Item.validate(bad)
    assert not result.is_valid and not result
    found = {(i, f) for i, f, _ in result.errors}
    assert found == {(0, "label"), (1, "item_id"), (2, "kind"), (3, "token"), (4, "n")}
    assert "UUID" in dict(((i, f), m) for i, f, m in result.errors)[(3, "token")]
    assert "out of range" in dict(((i, f), m) for i, f, m in result.errors)[(1, "item_id")]
    assert "label" in result.summary()
    with pytest.raises(errors.DataError):
        result.raise_if_invalid()

    unknown = Item.validate([dict(item_id=1, label="x", kind="a", extra=1)])
    assert [f for _, f, _ in unknown.errors] == ["extra"]
    assert Item.validate([dict(item_id=1, label="x", kind="a", extra=1)],
                         ignore_extra_fields=True).is_valid
    missing = Item.validate([dict(item_id=1, label="x")])
    assert [f for _, f, _ in missing.errors] == ["kind"]
    nulls = Item.validate([dict(item_id=1, label=None, kind="a")])
    assert [f for _, f, _ in nulls.errors] == ["label"]
    arity = Item.validate([(1, "x")])
    assert not arity.is_valid
    assert Item.validate([(1, "x", "a", None, 3)]).is_valid
    assert len(Item) == 0  # validate writes nothing


def test_dataframe_nan_in_string_columns_is_null(schema):
    @schema
    class Note(dj.Manual):
        definition = """
        note_id : int32
        ---
        text = null : varchar(8)
        kind = null : enum('x', 'yy')
        n = null : int32
        """

    df = pd.DataFrame(dict(note_id=[1, 2], text=["hi", np.nan], kind=[np.nan, "yy"],
                           n=[np.nan, 3.0]))
    df["text"] = df["text"].astype("string")  # pandas' string dtype: NULL is pd.NA
    Note.insert(df)
    assert Note.to_dicts(order_by="note_id") == [
        dict(note_id=1, text="hi", kind=None, n=None), dict(note_id=2, text=None, kind="yy", n=3)]
    assert Note.validate(df).is_valid


def _nullable_table(schema):
    @schema
    class Rec(dj.Manual):
        definition = """
        rec : int32
        ---
        flag = null : bool
        when = null : datetime
        info = null : json
        """

    return Rec


def test_to_pandas_roundtrip_null_bool(schema):
    Rec = _nullable_table(schema)
    Rec.insert([dict(rec=1, flag=False), dict(rec=2)])
    df = Rec.to_pandas()
    Rec.delete(prompt=False)
    Rec.insert(df)
    assert [r["flag"] for r in Rec.to_dicts(order_by="rec")] == [False, None]


def test_to_pandas_roundtrip_null_datetime_json(schema, backend):
    import datetime as dt
    Rec = _nullable_table(schema)
    Rec.insert([dict(rec=1, when=dt.datetime(2020, 1, 2, 3, 4, 5), info={"a": 1}),
                dict(rec=2)])
    before = Rec.proj("when", "info").to_dicts(order_by="rec")
    df = Rec.proj("when", "info").to_pandas()
    Rec.delete(prompt=False)
    Rec.insert(df)
    assert Rec.proj("when", "info").to_dicts(order_by="rec") == before


def test_rows_of_defaults_only_are_all_inserted(schema):
    @schema
    class Counter(dj.Manual):
        definition = """
        id : int32 auto_increment
        ---
        x = 0 : int32
        """

    Counter.insert([{"id": None, "x": None}, {"id": None, "x": None}, {"id": None, "x": 3}])
    assert sorted(r["x"] for r in Counter.to_dicts()) == [0, 0, 3]
    Counter.insert([{}, {}])
    Counter.insert1({"x": 7})
    assert len(Counter) == 6 and len({r["id"] for r in Counter.to_dicts()}) == 6


def test_integer_values_are_checked_alike(schema):
    @schema
    class Num(dj.Manual):
        definition = """
        id : int32
        ---
        small : uint8
        """

    with pytest.raises(dj.errors.DataError, match="not an integer"):
        Num.insert1(dict(id=1, small=2.7))
    Num.insert([dict(id=1, small=True), dict(id=2, small=3.0), dict(id=3, small="4"),
                dict(id=4, small=np.int16(5))])
    assert [r["small"] for r in Num.to_dicts(order_by="id")] == [1, 3, 4, 5]


def test_aware_datetimes_stored_in_utc(schema):
    import datetime as dt

    @schema
    class When(dj.Manual):
        definition = """
        id : int32
        ---
        t : datetime
        """

    tz = dt.timezone(dt.timedelta(hours=2))
    When.insert1(dict(id=1, t=dt.datetime(2024, 1, 1, 12, 0, tzinfo=tz)))
    assert When.fetch1("t") == dt.datetime(2024, 1, 1, 10, 0)


def test_subsecond_key_rounds_to_declared_precision(schema):
    import datetime as dt

    @schema
    class Tick(dj.Manual):
        definition = """
        t : datetime
        """

    Tick.insert1((dt.datetime(2024, 1, 1, 12, 0, 0, 100000),))
    with pytest.raises(dj.errors.DuplicateError):
        Tick.insert1((dt.datetime(2024, 1, 1, 12, 0, 0, 200000),))
    key = Tick.keys()[0]
    assert key == {"t": dt.datetime(2024, 1, 1, 12, 0)} and len(Tick & key) == 1


def test_replace_with_repeated_keys_keeps_the_last(schema):
    @schema
    class R(dj.Manual):
        definition = """
        id : int32
        ---
        v : int32
        """

    R.insert([(1, 1), (1, 2), (2, 5), (1, 3)], replace=True)
    assert R.to_dicts(order_by="id") == [{"id": 1, "v": 3}, {"id": 2, "v": 5}]


def test_query_rows_read_like_a_cursor(conn):
    rows = conn.query("SELECT 1 AS a, 2 AS b")
    assert [d[0] for d in rows.description] == ["a", "b"] and rows.rowcount == 1
    assert tuple(rows.fetchone()) == (1, 2) and rows.fetchone() is None
    assert conn.query("SELECT 3").fetchall()[0][0] == 3


def test_replace_never_overwrites_another_row_through_a_unique_index(schema):
    @schema
    class User(dj.Manual):
        definition = """
        id : int32
        ---
        email : varchar(40)
        name : varchar(20)
        unique index(email)
        """

    User.insert([(1, "a@x", "x"), (2, "b@x", "y")])
    with pytest.raises(dj.errors.DuplicateError):
        User.insert1((3, "a@x", "z"), replace=True)
    User.insert1((1, "a@x", "renamed"), replace=True)  # same row: fine
    assert User.to_dicts(order_by="id") == [{"id": 1, "email": "a@x", "name": "renamed"},
                                            {"id": 2, "email": "b@x", "name": "y"}]


def test_rows_of_defaults_honour_skip_duplicates(schema):
    @schema
    class Single(dj.Manual):
        definition = """
        id = 1 : int32
        ---
        x = 0 : int32
        """

    Single.insert([{}])
    with pytest.raises(dj.errors.DuplicateError):
        Single.insert([{}])
    Single.insert([{}], skip_duplicates=True)
    assert Single.to_dicts() == [{"id": 1, "x": 0}]


def test_infinite_floats(schema, backend):
    @schema
    class Reading(dj.Manual):
        definition = """
        reading : int32
        ---
        value : float64
        """

    rows = [{"reading": 1, "value": math.inf}, {"reading": 2, "value": 1.5}]
    if backend == "mysql":  # MySQL's DOUBLE has no infinity: refused before sending, nothing lost
        for many in (True, False):
            with pytest.raises(errors.DataError, match=r"inf cannot be stored.*`value`"):
                Reading.insert(rows) if many else Reading.insert1(rows[0])
        assert len(Reading) == 0
        Reading.insert(rows[1:])
        with pytest.raises(errors.DataError, match="-inf cannot be stored"):
            Reading.update1({"reading": 2, "value": -math.inf})
        assert Reading.fetch1("value") == 1.5
    else:
        Reading.insert(rows)
        assert Reading.to_dicts(order_by="reading")[0]["value"] == math.inf
