"""Interoperability with the real DataJoint (2.3.5), used only as a black box.

DataJoint runs in its own Python (``JF_DATAJOINT_PYTHON``, a venv with ``datajoint`` and
``psycopg2-binary``), driven through the subprocess scripts below. Two directions, on MySQL and
PostgreSQL (DataJoint has no SQLite backend):

* A: DataJoint declares and fills a schema; joinflow reads it through ``virtual_schema``
  (tiers, headings, every value, semantic joins), writes into it and deletes with cascade;
  DataJoint reads the result back.
* B: joinflow declares and fills the same schema; DataJoint reads it (headings from joinflow's
  column labels, every value, blobs, attachments), writes into it and deletes with cascade;
  joinflow reads the result back.

Known DataJoint 2.3.5 defects on PostgreSQL (not joinflow's): it cannot insert or fetch
``uuid`` values and cannot fetch ``<attach>`` values, so those columns are left out of the
DataJoint side on PostgreSQL. See docs/interop.md.
"""
from __future__ import annotations

import datetime
import decimal
import json
import os
import pickle
import subprocess
import uuid
from pathlib import Path

import numpy as np
import pytest

import joinflow as dj

DJ_PYTHON = os.environ.get("JF_DATAJOINT_PYTHON")
needs_datajoint = pytest.mark.skipif(
    not DJ_PYTHON,
    reason="set JF_DATAJOINT_PYTHON to a python with datajoint==2.3.5 (and psycopg2-binary) "
           "to run the DataJoint interoperability tests")


@pytest.fixture(params=["postgresql", "mysql"])
def backend(request) -> str:
    """DataJoint supports MySQL and PostgreSQL only: overrides conftest's three backends."""
    return request.param


# ---------------------------------------------------------------------------------- shared data
# Executed in both interpreters: the rows of the Item table (attachment path and backend vary).
ROWS_SRC = r'''
import datetime, decimal, uuid
import numpy as np

def item_rows(att, pg, dj_writes):
    # DataJoint 2.3.5 cannot insert uuid values on PostgreSQL
    guid = (lambda s: None) if (pg and dj_writes) else uuid.UUID
    return [
        dict(item_id=1, kind="alpha", owner_id=1, i8=-128, i16=-32768, i32=-2147483648,
             f32=1.5, f64=2.25, flag=True, price=decimal.Decimal("12.345"), label="first",
             code="ab12", color="green", day=datetime.date(2024, 2, 29),
             moment=datetime.datetime(2024, 1, 2, 3, 4, 5),
             moment3=datetime.datetime(2024, 1, 2, 3, 4, 5, 123000),
             guid=guid("12345678-1234-5678-1234-567812345678"),
             doc={"a": [1, 2, {"b": None}], "s": "x"}, raw=b"\x00\x01\xff",
             arr=np.arange(6, dtype=np.float64).reshape(2, 3),
             nested={"k": [1, 2], "m": np.array([1, 2], dtype=np.int32), "s": "t"}, att=att),
        dict(item_id=2, kind=None, owner_id=2, i8=127, i16=32767, i32=2147483647,
             f32=-0.5, f64=1e300, flag=False, price=decimal.Decimal("-1.000"), label="second",
             code="cd34", color="red", day=datetime.date(1999, 12, 31),
             moment=datetime.datetime(1999, 12, 31, 23, 59, 59),
             moment3=datetime.datetime(1999, 12, 31, 23, 59, 59, 999000),
             guid=guid("00000000-0000-0000-0000-000000000001"),
             doc=[1, "two", 3.5], raw=b"", arr=np.array([1, 2, 3], dtype=np.int64),
             nested=None, att=None),
    ]

def third_row(att):
    return dict(item_id=3, kind="beta", owner_id=3, i8=0, i16=1, i32=2, f32=0.25, f64=0.5,
                flag=True, price=decimal.Decimal("0.001"), label="third", code="ef56",
                color="blue", day=datetime.date(2000, 1, 1),
                moment=datetime.datetime(2000, 1, 1, 0, 0, 1),
                moment3=datetime.datetime(2000, 1, 1, 0, 0, 1, 500000),
                guid=uuid.UUID(int=7), doc={"z": [True, None]}, raw=b"r", arr=np.eye(2),
                nested={"x": [1, "y"]}, att=att)

ITEM_DEF = """
# an item of every type
item_id : int64            # the id
---
-> [nullable] Kind
-> Person.proj(owner_id='person_id')
i8 : int8       # tiny
i16 : int16
i32 : int32
f32 : float32
f64 : float64   # double
flag : bool
price : decimal(8,3)
label : varchar(40)
code : char(4)
color : enum('red', 'green', 'blue')
day : date
moment : datetime
moment3 : datetime(3)
guid = null : uuid
doc : json
raw : bytes
arr : <blob>   # a blob
nested = null : <blob>
att = null : <attach>
{extra}
index (label)
unique index (code)
"""
KIND_DEF = """
kind : varchar(16)   # kind of thing
---
kind_rank : int16
"""
PERSON_DEF = """
# a person
person_id : int32   # person number
---
name : varchar(64)  # full name
"""
MEASURE_DEF = """
-> Item
---
value : float64
"""
STAT_DEF = """
-> Measure
---
total : float64
"""
PART_DEF = """
-> master
part_no : int16
---
part_val : float64
"""
'''
_shared: dict = {}
exec(ROWS_SRC, _shared)

# Declares the pipeline; {tier_base} is dj.Manual etc., the same text serves both libraries.
PIPELINE_SRC = r'''
@schema
class Kind(dj.Lookup):
    definition = KIND_DEF
    contents = [("alpha", 1), ("beta", 2)]

@schema
class Person(dj.Manual):
    definition = PERSON_DEF

@schema
class Item(dj.Manual):
    definition = ITEM_DEF.format(extra=EXTRA)

@schema
class Measure(dj.Imported):
    definition = MEASURE_DEF
    def make(self, key):
        self.insert1(dict(key, value=key["item_id"] * 1.5))

@schema
class Stat(dj.Computed):
    definition = STAT_DEF
    class Part(dj.Part):
        definition = PART_DEF
    def make(self, key):
        v = (Measure & key).fetch1("value")
        self.insert1(dict(key, total=v * 2))
        self.Part.insert([dict(key, part_no=i, part_val=v + i) for i in range(2)])

Person.insert([(1, "Ann"), (2, "Bob")])
Item.insert(item_rows(ATT, PG, DJ_WRITES))
Measure.populate()
Stat.populate()
'''

DJ_PRELUDE = r'''
import sys, os, json, pickle
import datajoint as dj
args = json.loads(sys.argv[1])
dj.config["database.backend"] = args["backend"]
dj.config["database.host"] = args["host"]
dj.config["database.port"] = args["port"]
dj.config["database.user"] = args["user"]
dj.config["database.password"] = args["password"] or ""
dj.config["safemode"] = False
dj.config["download_path"] = args["download"]
PG = args["backend"] == "postgresql"
# DataJoint 2.3.5 on PostgreSQL cannot decode uuid or <attach> values: leave them out there
SKIP = ["guid", "att"] if PG else []

def plain(v):
    if isinstance(v, memoryview):  # psycopg2 bytea
        return bytes(v)
    return v

def dump(vm, out):
    tables = {}
    for name in ["Kind", "Person", "Item", "Measure", "Stat", "Stat.Part"]:
        t = vm
        for p in name.split("."):
            t = getattr(t, p)
        heading = [(a.name, a.in_key, a.nullable, a.comment, a.original_type or a.type)
                   for a in t.heading.attributes.values()]
        q = t.proj(..., *["-" + s for s in SKIP if s in t.heading.names]) \
            if any(s in t.heading.names for s in SKIP) else t
        rows = [{k: plain(v) for k, v in r.items()} for r in q.to_dicts(order_by=t.primary_key)]
        for r in rows:
            if r.get("att") is not None:  # a downloaded path: keep name and content
                r["att"] = (os.path.basename(r["att"]), open(r["att"], "rb").read())
        tables[name] = dict(tier=t.__mro__[1].__name__, table_name=t.table_name,
                            heading=heading, rows=rows)
    tables["_list"] = dj.Schema(args["schema"]).list_tables()
    with open(out, "wb") as f:
        pickle.dump(tables, f)
'''

# Direction A, DataJoint side: declare, fill, dump.
DJ_DECLARE = DJ_PRELUDE + ROWS_SRC + r'''
ATT = os.path.join(args["work"], "note.txt")
with open(ATT, "wb") as f:
    f.write(b"hello attachment\n")
DJ_WRITES = True
# DataJoint 2.3.5 has no unsigned core types: a native unsigned column, MySQL only.
# A native longblob holds raw bytes in 2.x (not a serialized blob).
EXTRA = "" if PG else "lb = null : longblob\nun = null : int unsigned"
schema = dj.Schema(args["schema"])
''' + PIPELINE_SRC + r'''
# an enum inherited through a foreign key carries no label (a native enum type on PostgreSQL)
@schema
class Tag(dj.Manual):
    definition = "tag : enum('x', 'y')"

@schema
class Tagged(dj.Manual):
    definition = "-> Tag\nn : int32"

Tag.insert([("x",), ("y",)])
Tagged.insert1(("y", 1))
if not PG:
    Item.update1(dict(item_id=1, lb=b"raw\x00bytes", un=4000000000))
dump(dj.VirtualModule("vm", args["schema"]), args["out"])
'''

# DataJoint reads any schema (after joinflow wrote to it), optionally writing and deleting.
DJ_READ = DJ_PRELUDE + ROWS_SRC + r'''
vm = dj.VirtualModule("vm", args["schema"])
dump(vm, args["out"])
if args.get("write"):
    att = os.path.join(args["work"], "dj_att.bin")
    with open(att, "wb") as f:
        f.write(b"\x00from datajoint\xff")
    row = third_row(att)
    if PG:
        row["guid"] = None
    vm.Person.insert1(dict(person_id=3, name="Cy"))
    vm.Item.insert1(row)
    vm.Measure.insert1(dict(item_id=3, value=4.5), allow_direct_insert=True)
    (vm.Item & {"item_id": 1}).delete()
    dump(vm, args["out"] + ".after")
'''


def run_dj(script: str, conn, schema: str, tmp_path: Path, **extra) -> dict:
    cfg = conn.config
    out = tmp_path / f"dj_{len(list(tmp_path.glob('dj_*')))}.pkl"
    args = dict(backend=conn.backend.name, host=cfg["database.host"],
                port=cfg["database.port"] or (5432 if conn.backend.name == "postgresql" else 3306),
                user=cfg["database.user"] or ("postgres" if conn.backend.name == "postgresql"
                                              else "root"),
                password=cfg["database.password"], schema=schema, work=str(tmp_path),
                download=str(tmp_path / "dj_download"), out=str(out), **extra)
    os.makedirs(args["download"], exist_ok=True)
    proc = subprocess.run([DJ_PYTHON, "-c", script, json.dumps(args)], capture_output=True,
                          text=True, timeout=120, cwd=tmp_path)
    if proc.returncode:
        pytest.fail(f"DataJoint script failed:\n{proc.stderr[-4000:]}")
    with open(out, "rb") as f:
        result = pickle.load(f)
    if extra.get("write"):
        with open(str(out) + ".after", "rb") as f:
            result["_after"] = pickle.load(f)
    return result


# ------------------------------------------------------------------------------------- helpers
def same(a, b) -> bool:
    """Value equality with exact types (numpy arrays by dtype, shape and content)."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and \
            a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(map(same, a, b))
    if isinstance(a, float) and isinstance(b, float):
        return a == b
    return type(a) is type(b) and a == b


def assert_rows(actual: list, expected: list, skip=()) -> None:
    assert len(actual) == len(expected)
    for got, want in zip(actual, expected):
        assert set(got) >= set(want) - set(skip)
        for k, v in want.items():
            if k in skip:
                continue
            assert same(got[k], v), f"{k}: {got[k]!r} != {v!r}"


NATIVE = {"bigint": "int64", "int": "int32", "integer": "int32", "smallint": "int16",
          "tinyint": "int8", "int unsigned": "uint32", "longblob": "bytes", "bytea": "bytes",
          "timestamp without time zone": "datetime"}


def normal_type(t: str) -> str:
    t = t.replace(" ", "") if t.startswith("enum") else t
    return NATIVE.get(t, t)


def assert_heading_matches(jf_table, dj_heading: list) -> None:
    jf = [(a.name, a.in_key, a.nullable, a.comment, normal_type(a.type))
          for a in jf_table.heading.attributes.values()]
    # DataJoint on PostgreSQL gives foreign-key attributes no comment (None)
    dj_ = [(n, k, nl, c or "", normal_type(t)) for n, k, nl, c, t in dj_heading]
    assert jf == dj_


def attach_of(value) -> tuple:
    p = Path(value)
    return p.name, p.read_bytes()


def expected_item_rows(att_path: str, pg: bool, dj_writes: bool) -> list:
    rows = _shared["item_rows"](att_path, pg, dj_writes)
    for r in rows:
        r["att"] = None if r["att"] is None else (Path(att_path).name,
                                                  Path(att_path).read_bytes())
    return rows


TIERS = {"Kind": "Lookup", "Person": "Manual", "Item": "Manual", "Measure": "Imported",
         "Stat": "Computed", "Stat.Part": "Part"}
TABLE_NAMES = {"Kind": "#kind", "Person": "person", "Item": "item", "Measure": "_measure",
               "Stat": "__stat", "Stat.Part": "__stat__part"}


def table_of(vm, name):
    first, *rest = name.split(".")
    t = vm[first] if isinstance(vm, dict) else getattr(vm, first)
    for p in rest:
        t = getattr(t, p)
    return t


def fetch_items(table, tmp_path) -> list:
    rows = table.to_dicts(order_by="item_id", download_path=str(tmp_path / "jf_download"))
    for r in rows:
        if r.get("att") is not None:
            r["att"] = attach_of(r["att"])
    return rows


# --------------------------------------------------------------------------------------- tests
@needs_datajoint
def test_datajoint_writes_joinflow_reads(conn, tmp_path):
    """Direction A: a DataJoint-made schema, read, written and cascaded by joinflow."""
    pg = conn.backend.name == "postgresql"
    name = f"jfi_a_{uuid.uuid4().hex[:10]}"
    try:
        dj_data = run_dj(DJ_DECLARE, conn, name, tmp_path)
        vm = dj.virtual_schema(name, connection=conn)

        # tables, tiers, names; DataJoint's hidden ~lineage table exists but is not a class
        assert "~lineage" in conn.backend.list_tables(conn.run, name)
        assert sorted(n for n in dir(vm) if n[:1].isupper()) == \
            ["Item", "Kind", "Measure", "Person", "Stat", "Tag", "Tagged"]
        for tname, tier in TIERS.items():
            t = table_of(vm, tname)
            assert issubclass(t, getattr(dj, tier)), tname
            assert t.table_name == TABLE_NAMES[tname] == dj_data[tname]["table_name"]
            assert dj_data[tname]["tier"] == tier
            assert_heading_matches(t(), dj_data[tname]["heading"])
        item = vm.Item()
        assert item.heading["arr"].type == "<blob>" and item.heading["att"].type == "<attach>"
        assert item.heading["color"].type == "enum('red','green','blue')"
        assert item.heading["guid"].type == "uuid" and item.heading["doc"].type == "json"
        assert vm.Tagged.heading["tag"].type == "enum('x','y')"
        assert (vm.Tagged & {"tag": "y"}).to_dicts() == [{"tag": "y", "n": 1}]
        if not pg:  # a 2.x native longblob holds raw bytes; unsigned is native only
            assert item.heading["lb"].type == "bytes"
            assert item.heading["un"].type == "uint32"

        # every value decodes to the value DataJoint inserted, and to what DataJoint fetches
        att = str(tmp_path / "note.txt")
        want = expected_item_rows(att, pg, dj_writes=True)
        if not pg:
            want[0].update(lb=b"raw\x00bytes", un=4000000000)
            want[1].update(lb=None, un=None)
        got = fetch_items(vm.Item, tmp_path)
        assert_rows(got, want)
        # DataJoint itself returns its bool as 0/1 on MySQL
        assert_rows(got, dj_data["Item"]["rows"], skip=["flag"])
        assert [r["flag"] for r in got] == [True, False]
        assert vm.Kind.to_dicts(order_by="kind") == dj_data["Kind"]["rows"]
        assert vm.Stat.Part.to_dicts(order_by=["item_id", "part_no"]) == \
            dj_data["Stat.Part"]["rows"]

        # semantic matching from foreign keys (lineage), hidden tables ignored
        assert len(vm.Item * vm.Kind) == 1
        joined = (vm.Item.proj("owner_id") * vm.Person.proj("name", owner_id="person_id"))
        assert joined.to_dicts(order_by="item_id") == [
            {"item_id": 1, "owner_id": 1, "name": "Ann"},
            {"item_id": 2, "owner_id": 2, "name": "Bob"}]
        assert len(vm.Stat.Part * vm.Measure) == 4
        with pytest.raises(dj.errors.SemanticMatchError):
            (vm.Person.proj(item_id="person_id") * vm.Item).to_dicts()
        assert (vm.Item & {"color": "green"}).keys() == [{"item_id": 1}]
        assert (vm.Item & {"flag": False}).keys() == [{"item_id": 2}]
        if not pg:
            assert (vm.Item & {"guid": uuid.UUID("12345678-1234-5678-1234-567812345678")}
                    ).keys() == [{"item_id": 1}]

        # joinflow writes into DataJoint's tables (native bool/enum/uuid/jsonb on PostgreSQL)
        att3 = tmp_path / "jf_att.bin"
        att3.write_bytes(b"\x00from joinflow")
        vm.Person.insert1(dict(person_id=3, name="Cy"))
        row3 = _shared["third_row"](str(att3))
        vm.Item.insert1(row3)
        vm.Measure.insert1(dict(item_id=3, value=4.5), allow_direct_insert=True)
        vm.Stat.insert1(dict(item_id=3, total=9.0), allow_direct_insert=True)
        vm.Stat.Part.insert1(dict(item_id=3, part_no=0, part_val=1.0), allow_direct_insert=True)
        assert (vm.Item & {"guid": uuid.UUID(int=7)}).keys() == [{"item_id": 3}]
        assert (vm.Item & {"flag": True}).keys() == [{"item_id": 1}, {"item_id": 3}]

        # cascade through Measure -> Stat -> Stat.Part
        (vm.Item & {"item_id": 1}).delete()
        assert [len(t) for t in (vm.Item, vm.Measure, vm.Stat, vm.Stat.Part)] == [2, 2, 2, 3]

        # DataJoint sees joinflow's writes
        after = run_dj(DJ_READ, conn, name, tmp_path)
        dj_rows = {r["item_id"]: r for r in after["Item"]["rows"]}
        assert sorted(dj_rows) == [2, 3]
        want3 = dict(row3, att=(att3.name, att3.read_bytes()), flag=True if pg else 1)
        skip = ["guid", "att"] if pg else []
        assert_rows([dj_rows[3]], [want3], skip=skip)
        assert [len(after[t]["rows"]) for t in ("Measure", "Stat", "Stat.Part")] == [2, 2, 3]
    finally:
        conn.backend.drop_schema(conn.run, name)


@needs_datajoint
def test_joinflow_writes_datajoint_reads(make_schema, conn, tmp_path):
    """Direction B: a joinflow-made schema, read, written and cascaded by DataJoint."""
    pg = conn.backend.name == "postgresql"
    schema = make_schema("jfi_b")
    att = tmp_path / "note.txt"
    att.write_bytes(b"hello attachment\n")
    ns = dict(_shared, dj=dj, schema=schema, ATT=str(att), PG=pg, DJ_WRITES=False,
              EXTRA="u8 = null : uint8\nu16 = null : uint16\nu32 = null : uint32\n"
                    "u64 = null : uint64\ndur = null : time\nstamp = null : timestamp")
    exec(PIPELINE_SRC, ns)
    extra = dict(u8=255, u16=65535, u32=4294967295, u64=18446744073709551615,
                 dur=datetime.timedelta(hours=1, minutes=2, seconds=3, microseconds=500000),
                 stamp=datetime.datetime(2020, 5, 6, 7, 8, 9))
    ns["Item"].update1(dict(item_id=1, **extra))

    dj_data = run_dj(DJ_READ, conn, schema.database, tmp_path, write=True)

    # DataJoint sees the tables, tiers and types from joinflow's labels
    # DataJoint's list_tables order is not fixed on PostgreSQL: compare the sets
    assert sorted(dj_data["_list"]) == sorted(["#kind", "person", "item", "_measure", "__stat",
                                               "__stat__part"])
    for tname, tier in TIERS.items():
        assert dj_data[tname]["tier"] == tier
        assert dj_data[tname]["table_name"] == TABLE_NAMES[tname]
        assert_heading_matches(table_of(ns, tname)(), dj_data[tname]["heading"])
    types = {n: t for n, _, _, _, t in dj_data["Item"]["heading"]}
    assert types["arr"] == "<blob>" and types["att"] == "<attach>" and types["guid"] == "uuid"
    assert types["u64"] == "uint64" and types["flag"] == "bool" and types["doc"] == "json"

    # DataJoint decodes joinflow's values, blobs and attachments
    want = expected_item_rows(str(att), pg, dj_writes=False)
    want[0].update(extra)
    want[0]["flag"], want[1]["flag"] = 1, 0  # DataJoint returns joinflow's bool as 0/1
    if pg:
        want[0]["u64"] = decimal.Decimal(want[0]["u64"])  # numeric(20,0) read as Decimal
    assert_rows(dj_data["Item"]["rows"], want, skip=["guid", "att"] if pg else [])
    assert dj_data["Kind"]["rows"] == [{"kind": "alpha", "kind_rank": 1},
                                      {"kind": "beta", "kind_rank": 2}]
    assert [len(dj_data[t]["rows"]) for t in ("Measure", "Stat", "Stat.Part")] == [2, 2, 4]

    # DataJoint wrote item 3 and deleted item 1 with cascade: joinflow reads the result
    item = ns["Item"]
    assert [len(ns[t]()) for t in ("Item", "Measure", "Stat")] == [2, 2, 1]
    assert len(ns["Stat"].Part()) == 2
    got = {r["item_id"]: r for r in fetch_items(item, tmp_path)}
    dj_att = tmp_path / "dj_att.bin"
    want3 = dict(_shared["third_row"](str(dj_att)), att=(dj_att.name, dj_att.read_bytes()))
    if pg:
        want3["guid"] = None
    assert_rows([got[3]], [want3])


def test_preview_shows_decoded_uuid_and_bool(schema):
    @schema
    class Flagged(dj.Manual):
        definition = """
        fid : int32
        ---
        guid : uuid
        flag : bool
        """
    Flagged.insert1((1, uuid.UUID(int=3), True))
    text = repr(Flagged())
    assert str(uuid.UUID(int=3))[:8] in text and "True" in text


DJ_SINGLETON = DJ_PRELUDE + r'''
schema = dj.Schema(args["schema"])
vm = dj.VirtualModule("vm", args["schema"])
found = {"jf": vm.JfSettings.fetch1(), "jf_key": vm.JfSettings.heading.primary_key}
try:
    vm.JfSettings.insert1({"version": "second"})
    found["jf_second"] = "inserted"
except dj.errors.DuplicateError:
    found["jf_second"] = "duplicate"

@schema
class DjSettings(dj.Lookup):
    definition = """
    ---
    version : varchar(20)
    """

DjSettings.insert1({"version": "dj-1"})
with open(args["out"], "wb") as f:
    pickle.dump(found, f)
'''


@needs_datajoint
def test_singleton_tables_both_ways(make_schema, conn, tmp_path):
    """A singleton table (no key attributes) made by either side is one for the other."""
    schema = make_schema("jfi_s")

    @schema
    class JfSettings(dj.Lookup):
        definition = """
        ---
        version : varchar(20)
        """

    JfSettings.insert1({"version": "jf-1"})
    found = run_dj(DJ_SINGLETON, conn, schema.database, tmp_path)
    assert found == {"jf": {"version": "jf-1"}, "jf_key": [], "jf_second": "duplicate"}
    module = dj.VirtualModule("singletons", schema.database, connection=conn)
    assert module.DjSettings.fetch1() == {"version": "dj-1"}
    assert module.DjSettings.primary_key == []
    with pytest.raises(dj.errors.DuplicateError):
        module.DjSettings.insert1({"version": "jf-2"})
