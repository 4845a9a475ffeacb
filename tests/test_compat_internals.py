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
