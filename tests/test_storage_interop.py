"""Hash-addressed objects shared with the real DataJoint 2.3.5, both ways (PostgreSQL: 2.3.5
cannot write store columns on MariaDB, whose json columns its heading misreads; see the
storage-format notes). DataJoint runs as a black box in ``JF_DATAJOINT_PYTHON``."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import unique_name
from test_interop_datajoint import DJ_PRELUDE, needs_datajoint, run_dj

import joinflow as dj

pytestmark = needs_datajoint

DJ_STORES = r'''
dj.config["stores"] = {"default": "main",
                       "main": {"protocol": "file", "location": args["main"]},
                       "cold": {"protocol": "file", "location": args["cold"],
                                "subfolding": [2, 2]}}
'''

DJ_READS = DJ_PRELUDE + DJ_STORES + r'''
vm = dj.VirtualModule("vm", args["schema"])
rows = vm.Obj.to_dicts(order_by="id")
for r in rows:
    r["a"] = open(r["a"], "rb").read() if r["a"] else None
with open(args["out"], "wb") as f:
    pickle.dump(rows, f)
'''

DJ_WRITES = DJ_PRELUDE + DJ_STORES + r'''
import numpy as np
schema = dj.Schema(args["schema"])

@schema
class Obj(dj.Manual):
    definition = """
    id : int32
    ---
    b : <blob@main>
    h : <hash@cold>
    """

Obj.insert([dict(id=1, b=np.arange(5), h=b"raw-bytes"), dict(id=2, b=np.arange(5), h=b"x")])
with open(args["out"], "wb") as f:
    pickle.dump([], f)
'''


@pytest.fixture
def backend() -> str:
    return "postgresql"


@pytest.fixture
def locations(tmp_path: Path) -> dict[str, str]:
    main, cold = tmp_path / "main", tmp_path / "cold"
    main.mkdir()
    cold.mkdir()
    dj.config["stores"] = {"default": "main", "main": {"protocol": "file", "location": str(main)},
                           "cold": {"protocol": "file", "location": str(cold),
                                    "subfolding": [2, 2]}}
    return {"main": str(main), "cold": str(cold)}


def test_datajoint_reads_what_joinflow_wrote(schema: dj.Schema, conn: dj.Connection,
                                             locations: dict[str, str], tmp_path: Path) -> None:
    @schema
    class Obj(dj.Manual):
        definition = """
        id : int32
        ---
        b : <blob@main>
        c : <blob@>
        a : <attach@main>
        h : <hash@cold>
        """

    att = tmp_path / "hello.txt"
    att.write_bytes(b"hello attachment\n")
    Obj.insert1({"id": 1, "b": np.arange(5), "c": {"k": [1, 2]}, "a": str(att),
                 "h": b"raw-bytes"})
    rows = run_dj(DJ_READS, conn, schema.database, tmp_path, **locations)
    (row,) = rows
    assert np.array_equal(row["b"], np.arange(5)) and row["c"] == {"k": [1, 2]}
    assert row["h"] == b"raw-bytes" and row["a"] == b"hello attachment\n"


def test_joinflow_reads_what_datajoint_wrote(conn: dj.Connection,
                                             locations: dict[str, str], tmp_path: Path) -> None:
    name = unique_name("jft_djw")
    try:
        run_dj(DJ_WRITES, conn, name, tmp_path, **locations)
        vm = dj.VirtualModule("vm", name, connection=conn)
        rows = vm.Obj.to_dicts(order_by="id")
        assert [r["h"] for r in rows] == [b"raw-bytes", b"x"]
        assert all(np.array_equal(r["b"], np.arange(5)) for r in rows)
        # DataJoint deduplicated the blob: both rows reference one object
        objects = [p for p in Path(locations["main"]).rglob("*") if p.is_file()]
        assert len(objects) == 1
    finally:
        dj.Schema(name, connection=conn).drop(prompt=False)
