"""DataJoint 2.x compatibility: Arrow/polars output and input, insert error wording
(docs/compatibility.md, issue #6) — on all three backends."""
from __future__ import annotations

import datetime as dt
import sys
import uuid
import warnings

import numpy as np
import pandas as pd
import pytest

import joinflow as dj
from joinflow import errors

pa = pytest.importorskip("pyarrow")
pl = pytest.importorskip("polars")


def _declare(schema):
    @schema
    class Item(dj.Manual):
        definition = """
        item_id : int32
        ---
        label : varchar(16)
        score = null : float64
        """

    return Item


def _rows(n, start=0):
    return [dict(item_id=i, label=f"v{i}", score=float(i)) for i in range(start, start + n)]


# ------------------------------------------------------------------ Arrow / polars output
def test_to_arrow_types_and_values(schema):
    @schema
    class Typed(dj.Manual):
        definition = """
        k : uint16
        ---
        f32 : float32
        day : date
        u : uuid
        flag : bool
        doc = null : json
        note = null : varchar(8)
        """

    u = uuid.uuid4()
    Typed.insert1(dict(k=1, f32=1.5, day=dt.date(2024, 1, 2), u=u, flag=True,
                       doc={"a": [1, 2]}, note=None))
    t = Typed.to_arrow()
    assert isinstance(t, pa.Table)
    assert t.column_names == ["k", "f32", "day", "u", "flag", "doc", "note"]
    assert t.schema.field("k").type == pa.uint16()
    assert t.schema.field("f32").type == pa.float32()
    assert t.schema.field("day").type == pa.date32()
    row = t.to_pylist()[0]
    assert row["u"] == u and row["day"] == dt.date(2024, 1, 2) and row["note"] is None
    assert row["flag"] is True and row["doc"] == {"a": [1, 2]}
    df = Typed.to_polars()
    assert isinstance(df, pl.DataFrame)
    assert df["u"].to_list() == [str(u)] and df["k"].to_list() == [1]


def test_to_arrow_empty_keeps_the_schema_and_restrictions_apply(schema):
    Item = _declare(schema)
    t = Item.to_arrow()
    assert t.num_rows == 0 and t.schema.field("item_id").type == pa.int32()
    Item.insert(_rows(5))
    assert (Item & "item_id > 2").to_arrow(order_by="item_id DESC")["item_id"].to_pylist() \
        == [4, 3]
    assert Item.to_polars(order_by="item_id", limit=2)["label"].to_list() == ["v0", "v1"]


def test_blob_columns_to_arrow(schema):
    @schema
    class Sig(dj.Manual):
        definition = """
        s : int32
        ---
        trace : <blob>
        """

    Sig.insert1(dict(s=1, trace=np.arange(3)))
    assert Sig.to_arrow()["trace"].to_pylist() == [[0, 1, 2]]
    Sig.insert1(dict(s=2, trace=np.zeros((2, 2))))
    with pytest.raises(errors.QueryError, match="cannot be converted to Arrow"):
        Sig.to_arrow()


def test_missing_optional_dependency_names_the_extra(schema, monkeypatch):
    Item = _declare(schema)
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    with pytest.raises(ImportError, match=r"joinflow\[arrow\]"):
        Item.to_arrow()
    monkeypatch.setitem(sys.modules, "polars", None)
    with pytest.raises(ImportError, match=r"joinflow\[polars\]"):
        Item.to_polars()


# ------------------------------------------------------------------ Arrow / polars input
@pytest.mark.parametrize("kind", ["arrow", "polars"])
def test_insert_arrow_and_polars(schema, kind):
    Item = _declare(schema)
    make = pa.Table.from_pylist if kind == "arrow" else pl.DataFrame
    Item.insert(make(_rows(2)))
    Item.insert(make(_rows(3, start=1)), skip_duplicates=True)
    assert len(Item) == 4
    Item.insert(make(_rows(50, start=10)), chunk_size=7)
    assert len(Item) == 54
    out = Item.to_arrow() if kind == "arrow" else Item.to_polars()
    Item.delete_quick()
    Item.insert(out)  # round trip
    assert len(Item) == 54 and (Item & {"item_id": 12}).fetch1("label") == "v12"
    with pytest.raises(errors.UnknownAttributeError):
        Item.insert(make([dict(item_id=100, label="x", extra=1)]))


# ------------------------------------------------------------------ wording
def test_insert_error_wording(schema):
    Item = _declare(schema)
    with pytest.raises(dj.DataJointError, match="Cannot insert empty row") as exc:
        Item.insert1({})
    assert "require values" in str(exc.value) and "item_id" in str(exc.value)
    with pytest.raises(dj.DataJointError, match="Incorrect number of attributes") as exc:
        Item.insert1((1, "a"))
    assert "3 attributes" in str(exc.value)
    result = Item.validate([(1, "a")])
    assert "Incorrect number of attributes" in result.errors[0][2]
    Item.insert(_rows(2))
    with pytest.raises(dj.DataJointError, match="chunk_size is not supported"):
        Item.insert(Item.proj(), chunk_size=10)


def test_positional_insert_warns(schema):
    Item = _declare(schema)
    with pytest.warns(DeprecationWarning, match="Positional inserts") as rec:
        Item.insert1((1, "a", 1.0))
    assert rec[0].filename == __file__  # points at the caller
    with pytest.warns(DeprecationWarning, match="Positional inserts"):
        Item.insert([(2, "b", 2.0)])
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        Item.insert1(dict(item_id=3, label="c"))
        rec = np.array([(4, "d", 4.0)], dtype=[("item_id", int), ("label", "U8"), ("score", float)])
        Item.insert1(rec[0])
    assert len(Item) == 4


def test_insert_dataframe_checks(schema):
    Item = _declare(schema)
    with pytest.raises(dj.DataJointError, match="requires a pandas DataFrame"):
        Item.insert_dataframe(_rows(1))
    with pytest.raises(dj.DataJointError, match="requires a pandas DataFrame"):
        Item.insert_dataframe(pl.DataFrame(_rows(1)))
    df = pd.DataFrame({"label": ["a", "b"]}, index=pd.Index([1, 2], name="wrong"))
    with pytest.raises(dj.DataJointError, match="do not match"):
        Item.insert_dataframe(df, index_as_pk=True)
    df.index.name = "item_id"
    Item.insert_dataframe(df, index_as_pk=True)
    Item.insert_dataframe(pd.DataFrame(_rows(2, start=5)))  # RangeIndex dropped
    Item.insert_dataframe(pd.DataFrame(_rows(1, start=9), index=[7]), index_as_pk=False)
    assert sorted(Item.to_arrays("item_id")) == [1, 2, 5, 6, 9]


def test_csv_values_are_text_converted_by_type(schema, tmp_path):
    @schema
    class Person(dj.Manual):
        definition = """
        person_id : int64
        ---
        born : date
        zip : char(10)
        score = null : float32
        """

    path = tmp_path / "people.csv"
    path.write_text("person_id,born,zip,score\n100,1991-05-09,01352,1.5\n101,1995-05-18,50324,\n")
    Person.insert(path)
    Person.insert(str(path), skip_duplicates=True)
    rows = Person.to_dicts(order_by="person_id")
    assert [r["zip"] for r in rows] == ["01352", "50324"]  # leading zero kept (not read as int)
    assert rows[0]["born"] == dt.date(1991, 5, 9) and rows[1]["score"] is None
