"""Every declared type round-trips exactly on every backend; values that do not fit raise
DataError; NULLs and defaults behave the same everywhere."""
from __future__ import annotations

import datetime as dt
import decimal
import uuid

import numpy as np
import pytest

import joinflow as dj
from joinflow.definition.types import INTEGER_RANGES
from joinflow.errors import DataError


def _one(table, **key):
    return (table & key).fetch1()


# --------------------------------------------------------------------------- integers
def test_integer_ranges(schema):
    @schema
    class Ints(dj.Manual):
        definition = """
        id : int32
        ---
        i8 = null : int8
        i16 = null : int16
        i32 = null : int32
        i64 = null : int64
        u8 = null : uint8
        u16 = null : uint16
        u32 = null : uint32
        u64 = null : uint64
        """

    cols = ["i8", "i16", "i32", "i64", "u8", "u16", "u32", "u64"]
    core = {c: ("int" if c[0] == "i" else "uint") + c[1:] for c in cols}
    u64_max = INTEGER_RANGES["uint64"][1]
    lows = {c: INTEGER_RANGES[core[c]][0] for c in cols}
    highs = {c: INTEGER_RANGES[core[c]][1] for c in cols}
    if schema.connection.backend.name == "sqlite":
        # SQLite integers are 64-bit signed: uint64 stops at 2**63-1 (documented limit)
        highs["u64"] = 2**63 - 1
    Ints.insert1(dict(id=1, **lows))
    Ints.insert1(dict(id=2, **highs))
    assert {k: v for k, v in _one(Ints, id=1).items() if k != "id"} == lows
    got = _one(Ints, id=2)
    assert {k: got[k] for k in cols} == highs
    assert all(type(got[c]) is int for c in cols)
    # restriction by the extreme values finds the row
    assert len(Ints & {"u32": highs["u32"], "i64": highs["i64"]}) == 1
    for c in cols:
        lo, hi = INTEGER_RANGES[core[c]]
        with pytest.raises(DataError):
            Ints.insert1({"id": 10, c: lo - 1})
        with pytest.raises(DataError):
            Ints.insert1({"id": 11, c: hi + 1 if c != "u64" else u64_max + 1})
    assert len(Ints) == 2


# --------------------------------------------------------------------------- numbers
def test_float_bool_decimal(schema):
    @schema
    class Num(dj.Manual):
        definition = """
        id : int16
        ---
        f32 : float32
        f64 : float64
        flag : bool
        price : decimal(8,3)
        """

    Num.insert1(dict(id=1, f32=0.5, f64=1 / 3, flag=True, price=decimal.Decimal("12345.678")))
    Num.insert1(dict(id=2, f32=-2.25, f64=-1e300, flag=False, price=decimal.Decimal("-0.001")))
    Num.insert1(dict(id=4, f32=0.1, f64=0.1, flag=np.bool_(True), price=7))
    r4 = _one(Num, id=4)
    assert r4["f32"] == pytest.approx(0.1, rel=1e-7) and r4["f64"] == 0.1
    assert r4["price"] == decimal.Decimal("7.000") and r4["flag"] is True
    (Num & {"id": 4}).delete_quick()
    r1, r2 = _one(Num, id=1), _one(Num, id=2)
    assert r1["f32"] == 0.5 and r2["f32"] == -2.25
    assert r1["f64"] == 1 / 3 and r2["f64"] == -1e300
    assert r1["flag"] is True and r2["flag"] is False
    assert isinstance(r1["price"], decimal.Decimal)
    assert r1["price"] == decimal.Decimal("12345.678")
    assert r2["price"] == decimal.Decimal("-0.001")
    assert (Num & {"flag": False}).keys() == [{"id": 2}]
    # bool columns hold 0/1 everywhere, so MySQL-style fragments work on every backend
    for cond, ids in [("flag", [1]), ("flag = 1", [1]), ("flag = TRUE", [1]), ("NOT flag", [2]),
                      ("flag = 0", [2])]:
        assert [k["id"] for k in (Num & cond).keys()] == ids, cond
    # SQLite stores decimals as REAL: exact only up to ~15 significant digits (documented limit)
    with pytest.raises(DataError):
        Num.insert1(dict(id=3, f32=0, f64=0, flag=True, price=decimal.Decimal("123456789.5")))


# --------------------------------------------------------------------------- strings
def test_strings_and_enum(schema):
    @schema
    class Txt(dj.Manual):
        definition = """
        code : char(4)
        ---
        name : varchar(8)
        kind : enum('small', 'big', 'it''s')
        note = null : text
        """

    Txt.insert1(dict(code="ab", name="12345678", kind="it's", note="x" * 5000))
    Txt.insert1(dict(code="abcd", name="", kind="big", note=None))
    r = _one(Txt, code="ab")
    assert r == dict(code="ab", name="12345678", kind="it's", note="x" * 5000)
    assert _one(Txt, code="abcd")["note"] is None
    assert (Txt & {"kind": "big"}).keys() == [{"code": "abcd"}]
    with pytest.raises(DataError):
        Txt.insert1(dict(code="zz", name="123456789", kind="big"))
    with pytest.raises(DataError):
        Txt.insert1(dict(code="abcde", name="x", kind="big"))
    with pytest.raises(DataError):
        Txt.insert1(dict(code="zz", name="x", kind="medium"))
    assert len(Txt) == 2
    # char(n) values come back without padding, and trailing spaces are not kept
    Txt.insert1(dict(code="xy  ", name="a", kind="big"))
    assert (Txt & {"code": "xy"}).fetch1("code") == "xy"


# --------------------------------------------------------------------------- time
def test_dates_and_times(schema):
    @schema
    class When(dj.Manual):
        definition = """
        day : date
        ---
        at : datetime
        at_ms : datetime(3)
        at_us : datetime(6)
        clock : time
        stamp : timestamp
        """

    at = dt.datetime(2024, 2, 29, 23, 59, 58)
    Thing = dict(day=dt.date(2024, 2, 29), at=at,
                 at_ms=dt.datetime(2024, 1, 2, 3, 4, 5, 123000),
                 at_us=dt.datetime(2024, 1, 2, 3, 4, 5, 123456),
                 clock=dt.timedelta(hours=13, minutes=5, seconds=7),
                 stamp=dt.datetime(2023, 6, 1, 12, 0, 0))
    When.insert1(Thing)
    r = _one(When, day=dt.date(2024, 2, 29))
    assert type(r["day"]) is dt.date and r["day"] == dt.date(2024, 2, 29)
    assert type(r["at"]) is dt.datetime and r["at"] == at
    assert r["at_ms"] == dt.datetime(2024, 1, 2, 3, 4, 5, 123000)
    assert r["at_us"] == dt.datetime(2024, 1, 2, 3, 4, 5, 123456)
    assert r["clock"] == dt.timedelta(hours=13, minutes=5, seconds=7)
    assert r["stamp"] == dt.datetime(2023, 6, 1, 12, 0, 0)
    assert len(When & {"day": "2024-02-29"}) == 1
    assert len(When & {"at_ms": dt.datetime(2024, 1, 2, 3, 4, 5, 123000)}) == 1
    with pytest.raises(DataError):
        When.insert1({**Thing, "day": "2024-02-30"})


def test_time_is_a_signed_duration(schema):
    @schema
    class Span(dj.Manual):
        definition = """
        id : int32
        ---
        d : time
        """

    values = [dt.timedelta(0), dt.timedelta(hours=30, minutes=1, seconds=2),
              -dt.timedelta(hours=1, minutes=30), dt.timedelta(seconds=1, microseconds=500000),
              dt.time(8, 15)]
    Span.insert([dict(id=i, d=v) for i, v in enumerate(values)])
    got = [r["d"] for r in Span.to_dicts(order_by="id")]
    assert got == [dt.timedelta(0), dt.timedelta(hours=30, minutes=1, seconds=2),
                   -dt.timedelta(hours=1, minutes=30), dt.timedelta(seconds=1, microseconds=500000),
                   dt.timedelta(hours=8, minutes=15)]
    assert all(type(g) is dt.timedelta for g in got)
    assert (Span & {"d": dt.timedelta(hours=8, minutes=15)}).keys() == [{"id": 4}]


def test_fractional_seconds_follow_declared_precision(schema):
    @schema
    class Tick(dj.Manual):
        definition = """
        id : int32
        ---
        t0 : datetime
        t3 : datetime(3)
        """

    Tick.insert1(dict(id=1, t0=dt.datetime(2024, 1, 1, 0, 0, 1, 300000),
                      t3=dt.datetime(2024, 1, 1, 0, 0, 1, 123400)))
    r = Tick.fetch1()
    assert r["t0"] == dt.datetime(2024, 1, 1, 0, 0, 1)
    assert r["t3"] == dt.datetime(2024, 1, 1, 0, 0, 1, 123000)


# --------------------------------------------------------------------------- uuid / json / bytes
def test_uuid_json_bytes(schema):
    @schema
    class Obj(dj.Manual):
        definition = """
        oid : uuid
        ---
        doc : json
        raw : bytes
        """

    a, b = uuid.uuid4(), uuid.UUID("00000000-0000-0000-0000-000000000001")
    doc = {"a": [1, 2.5, None, "x"], "b": {"c": True}}
    Obj.insert1(dict(oid=a, doc=doc, raw=b"\x00\x01\xffabc"))
    Obj.insert1(dict(oid=str(b), doc=[1, "two"], raw=b""))
    r = _one(Obj, oid=a)
    assert isinstance(r["oid"], uuid.UUID) and r["oid"] == a
    assert r["doc"] == doc
    assert r["raw"] == b"\x00\x01\xffabc" and isinstance(r["raw"], bytes)
    r2 = (Obj & {"oid": b}).fetch1()
    assert r2["doc"] == [1, "two"] and r2["raw"] == b""
    assert (Obj & {"oid": str(b)}).keys() == [{"oid": b}]
    assert len(Obj - {"oid": a}) == 1
    with pytest.raises(DataError):
        Obj.insert1(dict(oid="not-a-uuid", doc={}, raw=b""))


# --------------------------------------------------------------------------- native names
def test_native_type_names(schema, tmp_path):
    @schema
    class Native(dj.Manual):
        definition = """
        id : int
        ---
        a : int unsigned
        b : smallint unsigned
        c : tinyint
        d : bigint
        e : double
        f : float
        g : varchar(20)
        h : longblob
        i = null : blob
        j = null : mediumblob
        k = null : attach
        """

    heading = Native.heading
    assert {n: heading[n].core for n in "abcdefg"} == dict(
        a="uint32", b="uint16", c="int8", d="int64", e="float64", f="float32", g="varchar")
    arr = np.arange(12, dtype=np.float64).reshape(3, 4)
    f = tmp_path / "notes.txt"
    f.write_bytes(b"hello attach")
    Native.insert1(dict(id=1, a=2**32 - 1, b=65535, c=-128, d=-2**63, e=0.1, f=1.5, g="ok",
                        h=arr, i={"k": [1, 2]}, j="text in a blob", k=str(f)))
    r = Native.fetch1()
    assert (r["a"], r["b"], r["c"], r["d"], r["e"], r["f"], r["g"]) == \
        (2**32 - 1, 65535, -128, -2**63, 0.1, 1.5, "ok")
    assert isinstance(r["h"], np.ndarray) and np.array_equal(r["h"], arr)
    assert r["i"]["k"] is not None and list(np.ravel(r["i"]["k"])) == [1, 2]
    assert r["j"] == "text in a blob"
    assert open(r["k"], "rb").read() == b"hello attach"
    with pytest.raises(DataError):
        Native.insert1(dict(id=2, a=-1, b=0, c=0, d=0, e=0, f=0, g="", h=arr))
    with pytest.raises(DataError):
        Native.insert1(dict(id=2, a=0, b=65536, c=0, d=0, e=0, f=0, g="", h=arr))


# --------------------------------------------------------------------------- nulls and defaults
def test_nulls_and_defaults(schema):
    @schema
    class Dflt(dj.Manual):
        definition = """
        id : int32
        ---
        n = 7 : int32
        s = "a#b:c" : varchar(20)   # quoted default with # and :
        q = 'it''s' : varchar(20)
        flag = true : bool
        kind = "big" : enum('small', 'big')
        x = 2.5 : float64
        day = "2020-01-01" : date
        created = CURRENT_TIMESTAMP : datetime
        maybe = null : varchar(10)
        blob = null : longblob
        doc = null : json
        oid = null : uuid
        """

    Dflt.insert1(dict(id=1))
    Dflt.insert1(dict(id=2, n=None, s=None, flag=None, kind=None, maybe=None, x=None,
                      day=None, created=None, doc=None, oid=None, blob=None))
    Dflt.insert1(dict(id=3, n=1, s="z", q="y", flag=False, kind="small", x=0.0,
                      day=dt.date(1999, 12, 31), maybe="m", doc={"z": 1},
                      oid=uuid.UUID(int=5), blob=[1, 2]))
    for i in (1, 2):
        r = _one(Dflt, id=i)
        created = r.pop("created")
        assert isinstance(created, dt.datetime)
        assert abs((created - dt.datetime.now(dt.timezone.utc).replace(tzinfo=None))
                   .total_seconds()) < 300
        assert r == dict(id=i, n=7, s="a#b:c", q="it's", flag=True, kind="big", x=2.5,
                         day=dt.date(2020, 1, 1), maybe=None, blob=None, doc=None, oid=None)
    r = _one(Dflt, id=3)
    assert (r["n"], r["s"], r["q"], r["flag"], r["kind"], r["x"], r["day"], r["maybe"],
            r["doc"], r["oid"]) == (1, "z", "y", False, "small", 0.0, dt.date(1999, 12, 31),
                                    "m", {"z": 1}, uuid.UUID(int=5))
    assert len(Dflt & "maybe IS NULL") == 2
    heading = Dflt.heading
    assert heading["maybe"].nullable and not heading["n"].nullable
    assert heading["s"].comment == "quoted default with # and :"


def test_missing_required_value(schema):
    @schema
    class Req(dj.Manual):
        definition = """
        id : int32
        ---
        must : varchar(5)
        """

    with pytest.raises(DataError, match="must"):
        Req.insert1(dict(id=1))
    with pytest.raises(DataError, match="must"):
        Req.insert1(dict(id=1, must=None))
    assert len(Req) == 0


def test_json_structures(schema):
    @schema
    class Doc(dj.Manual):
        definition = """
        id : int32
        ---
        doc : json
        """

    values = [{"nested": {"list": [1, [2, 3]], "s": "ü"}}, [], {}, "plain", 3, 2.5, True]
    Doc.insert([dict(id=i, doc=v) for i, v in enumerate(values)])
    got = [r["doc"] for r in Doc.to_dicts(order_by="id")]
    assert got == values
    assert [type(g) for g in got] == [type(v) for v in values]


def test_integer_valued_floats_go_into_integer_columns(schema):
    @schema
    class Count(dj.Manual):
        definition = """
        id : int32
        ---
        n = null : uint16
        """

    import pandas as pd
    df = pd.DataFrame({"id": [1, 2, 3], "n": [5, None, 7]})  # n becomes float64 with NaN
    Count.insert(df)
    assert [(r["id"], r["n"]) for r in Count.to_dicts(order_by="id")] == [(1, 5), (2, None), (3, 7)]
    assert all(type(r["n"]) is int for r in Count.to_dicts() if r["n"] is not None)


ALL_TYPES = ["int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "float32",
             "float64", "bool", "decimal(6,2)", "char(3)", "varchar(9)", "enum('x','y')", "date",
             "datetime", "datetime(3)", "time", "timestamp", "uuid", "json", "bytes", "text",
             "int unsigned", "double", "longblob", "<blob>", "attach"]


def test_every_type_is_nullable(schema):
    lines = "\n".join(f"c{i} = null : {t}" for i, t in enumerate(ALL_TYPES))
    Nul = schema(type("Nul", (dj.Manual,), {"definition": f"id : int32\n---\n{lines}\n"}))
    Nul.insert1(dict(id=1))
    Nul.insert1({"id": 2, **{f"c{i}": None for i in range(len(ALL_TYPES))}})
    for row in Nul.to_dicts():
        assert all(row[f"c{i}"] is None for i in range(len(ALL_TYPES))), row
    assert len(Nul & "c5 IS NULL" & "c20 IS NULL") == 2
    assert [Nul.heading[f"c{i}"].type for i in range(len(ALL_TYPES))][:3] == \
        ["int8", "int16", "int32"]
