"""DataJoint internals the DataJoint test suite reaches for, under DataJoint's names
(docs/compatibility.md, issue #6) — on all three backends."""
from __future__ import annotations

import numpy as np
import pytest

import joinflow as dj


def _declare(schema):
    @schema
    class Animal(dj.Manual):
        definition = """
        animal_id : int32
        ---
        name : varchar(16)
        species : enum('mouse', 'monkey')
        weight = null : float32
        blob = null : <blob>
        """

    return Animal


def test_heading_as_dtype_and_original_type(schema):
    Animal = _declare(schema)
    dtype = Animal.heading.as_dtype
    assert dtype.names == ("animal_id", "name", "species", "weight", "blob")
    assert dtype["animal_id"] == np.int32 and dtype["weight"] == np.float32
    assert dtype["name"] == object and dtype["blob"] == object
    rows = np.array([(1, "Peter", "mouse", 1.5, None), (2, "Klara", "monkey", None, None)],
                    dtype)
    Animal.insert1(rows[0])
    Animal.insert(rows[1:])
    assert sorted(Animal.to_arrays("animal_id")) == [1, 2]
    assert Animal.heading["species"].original_type == "enum('mouse', 'monkey')"
    assert Animal.heading["blob"].original_type == "<blob>"
    assert Animal.heading["animal_id"].original_type == "int32"


def test_adapter_names_and_conn_info(conn, backend):
    assert conn.adapter.backend == backend
    assert conn.adapter.quote_identifier("a") == conn.adapter.quote("a")
    info = conn.conn_info
    assert info["backend"] == backend and "password" not in info
    if backend != "sqlite":
        assert info["host"] and info["port"]
    # DataJoint's driver-style SQL: %s placeholders (also on SQLite), args=
    assert conn.query("SELECT 1 + %s", args=(1,)).fetchone()[0] == 2
    assert conn.query("SELECT %s", ("a%",)).fetchone()[0] == "a%"


def test_conn_info_without_tls(backend):
    if backend != "mysql":
        pytest.skip("TLS options are MySQL's")
    from conftest import backend_config
    cfg = backend_config(backend)
    c = dj.Connection(config=cfg, use_tls=False)
    try:
        assert c.conn_info["ssl_input"] is False and "ssl" not in c.conn_info
    finally:
        c.close()


def test_blob_module():
    data = [{"a": 1, "b": "x"}, {"a": 2, "b": np.arange(3)}]
    out = dj.blob.unpack(dj.blob.pack(data, compress=False))
    assert out[0] == {"a": 1, "b": "x"} and list(out[1]["b"]) == [0, 1, 2]


def test_same_arguments_give_the_same_shared_connection(backend, tmp_path):
    from conftest import backend_config
    cfg = backend_config(backend, tmp_path)
    c1 = dj.conn(config=cfg)
    try:
        assert dj.conn() is c1 and dj.conn(config=cfg) is c1
        c2 = dj.conn(reset=True, config=cfg)
        assert c2 is not c1 and dj.conn(config=cfg) is c2
    finally:
        dj.conn().close()


def test_lost_connection_caught_inside_a_transaction_rolls_it_back(conn):
    with conn.transaction, pytest.raises(dj.DataJointError, match="rolled back"):
        conn.close()
        conn.query("SELECT 1", reconnect=True).fetchall()
    assert not conn.in_transaction
    assert conn.query("SELECT 1").fetchone()[0] == 1  # reconnects outside the transaction


def test_self_reference_in_an_inherited_master(schema):
    @schema
    class Source(dj.Manual):
        definition = """
        a_id : int32
        """

    class Base(dj.Manual):
        source = None
        definition = """
        -> self.source
        b_id : int32
        """

        class H(dj.Part):
            definition = """
            -> master
            name : varchar(16)
            """

        class C(dj.Part):
            definition = """
            -> master
            -> master.H
            """

    @schema
    class Derived(Base):
        source = Source

    assert Derived.primary_key == ["a_id", "b_id"]
    assert set(Derived.C.heading.names) == {"a_id", "b_id", "name"}
    Source.insert1({"a_id": 1})
    Derived.insert1({"a_id": 1, "b_id": 2})
    assert len(Derived * Source) == 1


def test_top_wording_and_an_attribute_named_key(schema):
    @schema
    class KeyPK(dj.Lookup):
        definition = """
        id : int32
        key : int32
        """
        contents = [dict(id=i, key=i + j) for i in range(3) for j in range(4, 0, -1)]

    with pytest.raises(dj.DataJointError,
                       match=r"Invalid restriction type Top\(limit=1, order_by=\['KEY'\], offset=0\)"):
        KeyPK & ("id=1", dj.Top())
    top = KeyPK & dj.Top(limit=4, order_by=["key desc", "id"])  # `key` is the attribute here
    assert top.to_dicts() == [{"id": 2, "key": 6}, {"id": 1, "key": 5}, {"id": 2, "key": 5},
                              {"id": 0, "key": 4}]
    assert [r["id"] for r in (KeyPK & dj.Top(2, "KEY DESC")).to_dicts()] == [2, 2]


def test_preview_ends_with_a_newline(schema):
    @schema
    class Many(dj.Lookup):
        definition = """
        a : int32
        """
        contents = [(i,) for i in range(10)]

    with dj.config.override(display__limit=7):
        text = Many.preview()
    lines = text.split("\n")
    assert text.endswith("\n") and lines[-2] == " (Total: 10)" and lines[-3].strip() == "..."
    assert len(lines) == 2 + 7 + 1 + 1 + 1
