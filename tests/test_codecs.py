"""Codecs on every backend: <blob>, legacy blob types, <json>/json, <attach>/attach, user codecs
(declared, inserted, fetched, chained), the registry and entry points."""
from __future__ import annotations

import sys
import textwrap
import uuid
from pathlib import Path

import numpy as np
import pytest

import joinflow as dj
from joinflow.codecs.base import registry
from joinflow.errors import CodecError, DataError, DefinitionError


class Graph:
    """A tiny networkx-like graph: nodes and an edge list."""

    def __init__(self, edges):
        self.edges = sorted(tuple(e) for e in edges)

    def __eq__(self, other):
        return isinstance(other, Graph) and self.edges == other.edges


class GraphCodec(dj.Codec):
    """<graph>: stores a Graph as an edge array through <blob> (chained)."""

    name = "graph"

    def get_dtype(self, is_store):
        return "<blob>"

    def encode(self, value, *, context=None):
        assert context is not None and context.attribute == "g"
        return np.array(value.edges, dtype=np.int64).reshape(-1, 2)

    def decode(self, stored, *, context=None):
        return Graph(map(tuple, stored.tolist()))

    def validate(self, value):
        if not isinstance(value, Graph):
            raise TypeError("<graph> needs a Graph")


class Upper(dj.Codec):
    """DataJoint 2.x style signature: encode(value, *, key=None, store_name=None)."""

    name = "upper"

    def get_dtype(self, is_store):
        return "varchar(64)"

    def encode(self, value, *, key=None, store_name=None):
        return value.upper()

    def decode(self, stored, *, key=None):
        return stored.lower()


def test_blob_roundtrip_types(schema):
    @schema
    class Data(dj.Manual):
        definition = """
        id : int32
        ---
        a : <blob>
        b = null : longblob
        c = null : mediumblob
        """

    values = [
        np.random.default_rng(0).normal(size=(50, 40)),
        {"k": [1, 2.5, "x", None], "arr": np.arange(6, dtype=np.uint8).reshape(2, 3)},
        np.array([[1 + 2j, 3 - 1j]], dtype=np.complex64),
        "text", 42, uuid.UUID(int=5), (1, (2, 3)),
    ]
    Data.insert([dict(id=i, a=v, b=v) for i, v in enumerate(values)])
    got = Data.to_dicts(order_by="id")
    for v, row in zip(values, got):
        for col in ("a", "b"):
            if isinstance(v, np.ndarray):
                assert row[col].dtype == v.dtype and np.array_equal(row[col], v)
            elif isinstance(v, dict):
                assert row[col]["k"] == v["k"] and np.array_equal(row[col]["arr"], v["arr"])
            else:
                assert row[col] == v
        assert row["c"] is None
    big = np.zeros(1_000_000)
    Data.insert1(dict(id=100, a=big))
    assert np.array_equal((Data & {"id": 100}).fetch1("a"), big)


def test_blob_stored_bytes_are_datajoint_format(schema, conn):
    @schema
    class B(dj.Manual):
        definition = """
        id : int32
        ---
        v : <blob>
        """

    B.insert1(dict(id=1, v=np.arange(3.0)))
    sql = f"SELECT {conn.backend.quote('v')} FROM {B.full_table_name}"
    raw = bytes(conn.query(sql)[0][0])
    assert raw[:4] in (b"mYm\0", b"dj0\0")


def test_json_type_and_codec(schema):
    @schema
    class J(dj.Manual):
        definition = """
        id : int32
        ---
        params : json
        extra = null : <json>
        """

    doc = {"a": 1, "b": [1, 2, {"c": None}], "s": "x", "t": True, "f": 1.5}
    J.insert1(dict(id=1, params=doc, extra=[1, "two"]))
    J.insert1(dict(id=2, params=[], extra=None))
    row = (J & {"id": 1}).fetch1()
    assert row["params"] == doc and row["extra"] == [1, "two"]
    assert (J & {"id": 2}).fetch1("params") == []
    assert (J & {"id": 2}).fetch1("extra") is None


def test_attach_roundtrip_and_safety(schema, tmp_path):
    @schema
    class Att(dj.Manual):
        definition = """
        id : int32
        ---
        doc : attach
        doc2 = null : <attach>
        """

    src = tmp_path / "src"
    src.mkdir()
    f = src / "image0.tif"
    f.write_bytes(b"\x00\x01binary\xff" * 100)
    Att.insert1((0, str(f), None))
    Att.insert1(dict(id=1, doc=f, doc2=dj.AttachFileType(str(f))))
    down = tmp_path / "down"
    with dj.config.override(download_path=str(down)):
        p = (Att & {"id": 0}).fetch1("doc")
    assert isinstance(p, str)  # a str, as DataJoint returns it
    p = Path(p)
    assert str(p).startswith(str(down)) and p.name == "image0.tif"
    assert p.read_bytes() == f.read_bytes()
    # same name and content: reused; different content: not overwritten
    p2 = Path((Att & {"id": 1}).fetch1("doc", download_path=str(down)))
    assert p2 == p
    p.write_bytes(b"changed locally")
    p3 = Path((Att & {"id": 1}).fetch1("doc", download_path=str(down)))
    assert p3 != p and p.read_bytes() == b"changed locally" and p3.read_bytes() == f.read_bytes()
    with pytest.raises(DataError):
        Att.insert1(dict(id=5, doc=str(src / "missing.bin")))
    assert len(Att) == 2


@pytest.mark.parametrize("name", ["../evil.txt", "/etc/passwd", "a/../../b", "x\0y", ".."])
def test_attach_names_never_escape(tmp_path, name):
    from joinflow.codecs.builtin import AttachCodec, write_attachment
    stored = name.encode() + b"\0payload"
    ctx = dj.CodecContext(config=dj.config.snapshot())
    ctx.config["download_path"] = str(tmp_path / "d")
    try:
        path = AttachCodec().decode(stored, context=ctx)
    except CodecError:
        return
    assert Path(path).resolve().parent == (tmp_path / "d").resolve()
    assert write_attachment  # imported helper exists


def test_user_codec_declared_inserted_fetched_chained(schema, conn):
    @schema
    class Net(dj.Manual):
        definition = """
        id : int32
        ---
        g : <graph>     # a graph
        label = null : <upper>
        """

    g = Graph([(1, 2), (2, 3), (3, 1)])
    Net.insert1(dict(id=1, g=g, label="Hello"))
    row = Net.fetch1()
    assert row["g"] == g and row["label"] == "hello"
    # stored through the chain: <graph> -> <blob> -> bytes, label stored upper-case
    raw = conn.query(f"SELECT {conn.backend.quote('label')} FROM {Net.full_table_name}")[0][0]
    assert raw == "HELLO"
    assert Net.heading["g"].codec == "graph" and Net.heading["g"].comment == "a graph"
    with pytest.raises(DataError, match="graph"):
        Net.insert1(dict(id=2, g="not a graph"))
    assert len(Net) == 1
    # a fresh process reads the codec from the column comment
    vm = dj.virtual_schema(schema.database, connection=conn)
    assert vm.Net.fetch1("g") == g


def test_unknown_codec_lists_known(schema):
    with pytest.raises(CodecError) as info:
        @schema
        class Bad(dj.Manual):
            definition = """
            id : int32
            ---
            x : <nonexistent_codec>
            """
    msg = str(info.value)
    assert "nonexistent_codec" in msg and "<blob>" in msg and "<attach>" in msg


def test_codec_not_in_primary_key(schema):
    with pytest.raises(DefinitionError, match="primary key"):
        @schema
        class Bad(dj.Manual):
            definition = """
            x : <blob>
            """


def test_registry_entry_points(tmp_path, monkeypatch):
    pkg = tmp_path / "jf_ext_codec"
    pkg.mkdir()
    (pkg / "__init__.py").write_text(textwrap.dedent("""
        from joinflow.codecs.base import Codec
        class Rev(Codec, register=False):
            name = "rev"
            def get_dtype(self, is_store):
                return "varchar(32)"
            def encode(self, value, *, context=None):
                return value[::-1]
            def decode(self, stored, *, context=None):
                return stored[::-1]
    """))
    dist = tmp_path / "jf_ext_codec-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: jf-ext-codec\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[joinflow.codecs]\nrev = jf_ext_codec:Rev\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    registry.remove("rev")
    registry._entry_points_loaded = False
    try:
        codec = registry.get("<rev>")
        assert codec.encode("abc") == "cba"
        assert "rev" in dj.list_codecs()
    finally:
        registry.remove("rev")
        sys.modules.pop("jf_ext_codec", None)


def test_get_codec_strips_store():
    assert dj.get_codec("<blob@store>").name == "blob"
    assert dj.get_codec("blob").name == "blob"


def test_json_restrict_by_path(schema):
    @schema
    class Cfg(dj.Manual):
        definition = """
        id : int32
        ---
        params : json
        """

    Cfg.insert([
        dict(id=1, params={"mode": "fast", "n": 3, "flags": {"on": True}, "list": [10, 20]}),
        dict(id=2, params={"mode": "slow", "n": 4, "flags": {"on": False}, "list": [30]}),
        dict(id=3, params={"mode": "fast", "n": 4.5}),
    ])
    assert (Cfg & {"params.mode": "fast"}).keys() == [{"id": 1}, {"id": 3}]
    assert (Cfg & {"params.n": 4}).keys() == [{"id": 2}]
    assert (Cfg & {"params.n": 4.5}).keys() == [{"id": 3}]
    assert (Cfg & {"params.flags.on": True}).keys() == [{"id": 1}]
    assert (Cfg & {"params.list[0]": 30}).keys() == [{"id": 2}]
    assert (Cfg & {"params.flags": None}).keys() == [{"id": 3}]
    assert (Cfg - {"params.mode": "fast"}).keys() == [{"id": 2}]
    assert (Cfg & {"params.mode": "fast", "id": 3}).keys() == [{"id": 3}]
    # the MySQL-syntax JSON operators work in string restrictions too
    assert (Cfg & "params->>'$.mode' = 'slow'").keys() == [{"id": 2}]


class Pair:
    def __init__(self, a, b):
        self.a, self.b = a, b


class PairAdapter(dj.AttributeAdapter):
    """DataJoint 0.x style: attribute_type + put/get, used through the schema context."""

    attribute_type = "longblob"

    def put(self, obj):
        return [obj.a, obj.b]

    def get(self, value):
        return Pair(*value)


pair = PairAdapter()


def test_legacy_attribute_adapter_and_native_dtype(schema):
    @schema
    class Holder(dj.Manual):
        definition = """
        id : int32
        ---
        p : <pair>
        """

    Holder.insert1(dict(id=1, p=Pair(3, "x")))
    got = Holder.fetch1("p")
    assert isinstance(got, Pair) and (got.a, got.b) == (3, "x")
    assert Holder.heading["p"].core == "bytes"


def test_json_values_compared_in_sql_strings(schema):
    @schema
    class Doc(dj.Manual):
        definition = """
        id : int32
        ---
        j : json
        """

    Doc.insert([dict(id=1, j={"a": 1, "b": True, "s": "x"}), dict(id=2, j={"a": 2, "b": False,
                                                                           "s": "y"}),
                dict(id=3, j={"a": 3, "b": True, "s": "z"})])
    ids = lambda q: [k["id"] for k in q.keys(order_by="id")]  # noqa: E731
    assert ids(Doc & "j->'$.a' IN (1, 2)") == [1, 2]
    assert ids(Doc & "j->>'$.s' IN ('x', 'z')") == [1, 3]
    assert ids(Doc & "JSON_EXTRACT(j, '$.a') >= 2") == [2, 3]
    assert ids(Doc & "j->>'$.a' < 3") == [1, 2]


def test_oversized_value_is_refused_clearly_on_mysql(schema, conn, backend):
    """MySQL drops the connection for a packet over max_allowed_packet: joinflow refuses the
    value before sending it, naming the attribute and the limit."""
    if backend != "mysql":
        pytest.skip("max_allowed_packet is a MySQL limit")

    @schema
    class Big(dj.Manual):
        definition = """
        id : int32
        ---
        v : longblob
        """

    too_big = np.random.default_rng(0).normal(size=conn.backend.max_packet // 8 + 1000)
    with pytest.raises(DataError, match="max_allowed_packet.*`v`"):
        Big.insert1((1, too_big))
    Big.insert1((2, np.arange(10)))
    assert len(Big) == 1
