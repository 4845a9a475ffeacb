"""Interoperability with the real DataJoint 0.14 external storage on MariaDB, both directions.

DataJoint 0.14 runs in its own Python (``JF_DATAJOINT014_PYTHON``, a venv with
``datajoint==0.14.*``), driven through the subprocess script below, as a black box:

1. 0.14 declares a table with ``blob@local``, ``attach@local`` and ``filepath@data`` columns
   (file stores in tmp_path) and inserts two rows.
2. joinflow reads the table (``virtual_schema``) and fetches equal values, then inserts more
   rows into it.
3. 0.14 fetches every row (joinflow's included) with equal values.
4. Each side deletes a row and cleans its ``schema.external[...]``: unused entries and their
   files go, used ones stay, and the other side still reads what is left.
"""
from __future__ import annotations

import json
import os
import pickle
import subprocess
from pathlib import Path

import pytest
from conftest import connect, unique_name

import joinflow as dj
from storage_helpers import files_under
from joinflow.codecs.blob import pack
from joinflow.storage.hashing import legacy_uuid

DJ14_PYTHON = os.environ.get("JF_DATAJOINT014_PYTHON")
pytestmark = pytest.mark.skipif(
    not DJ14_PYTHON,
    reason="set JF_DATAJOINT014_PYTHON to a python with datajoint 0.14 (e.g. "
           "/work/venvs/dj014/bin/python) to run the DataJoint 0.14 external-storage interop test")

# Executed in both interpreters: the values of row i, and a deep comparison.
VALUES_SRC = r'''
import os
import numpy as np

def blob_value(i):
    values = {1: np.arange(5), 2: np.zeros(1000), 3: {"k": [1, 2], "s": "x"},
              4: np.random.RandomState(4).randn(30, 40), 5: "text", 6: np.eye(3)}
    return values[i]

def make_row(i, folders):
    att = os.path.join(folders["input"], f"att{i % 2}.txt")
    with open(att, "w") as f:
        f.write(f"attachment {i % 2}\n")
    raw = os.path.join(folders["stage"], "sub", f"raw{i}.dat")
    os.makedirs(os.path.dirname(raw), exist_ok=True)
    with open(raw, "w") as f:
        f.write(f"RAW-{i}-" * 10)
    return dict(id=i, b=blob_value(i), a=att, f=raw if i % 3 else None)

def same(x, y):
    if isinstance(x, np.ndarray) or isinstance(y, np.ndarray):
        return np.array_equal(np.asarray(x), np.asarray(y))
    if isinstance(x, dict) and isinstance(y, dict):
        return x.keys() == y.keys() and all(same(x[k], y[k]) for k in x)
    if isinstance(x, (list, tuple)) and isinstance(y, (list, tuple)):
        return len(x) == len(y) and all(same(a, b) for a, b in zip(x, y))
    return x == y
'''
_values: dict = {}
exec(VALUES_SRC, _values)  # noqa: S102  (the same source runs in DataJoint's interpreter)

EXT_DEF = """
# external storage of every kind
id : int
---
b : blob@local          # a blob in a file store
a : attach@local        # an attachment
f = null : filepath@data  # a staged file
"""

DJ14_SCRIPT = r'''
import json, os, pickle, sys
os.environ["DJ_SUPPORT_FILEPATH_MANAGEMENT"] = "TRUE"
import datajoint as dj
args = json.loads(sys.argv[1])
dj.config["database.host"] = args["host"]
dj.config["database.port"] = args["port"]
dj.config["database.user"] = args["user"]
dj.config["database.password"] = args["password"] or ""
dj.config["database.use_tls"] = False
dj.config["safemode"] = False
dj.config["stores"] = args["stores"]
exec(args["values"])
schema = dj.schema(args["schema"])

@schema
class Ext(dj.Manual):
    definition = args["definition"]

def dump_rows():
    out = []
    for r in Ext.fetch(as_dict=True, order_by="id", download_path=args["download"]):
        out.append(dict(id=r["id"], b=r["b"],
                        a=(os.path.basename(r["a"]), open(r["a"], "rb").read()),
                        f=None if r["f"] is None else (r["f"], open(r["f"], "rb").read())))
    return out

phase, result = args["phase"], {}
if phase == "write":
    Ext.insert([make_row(i, args["folders"]) for i in (1, 2)])
elif phase == "read":
    result["rows"] = dump_rows()
elif phase == "delete":
    (Ext & "id = 1").delete()
    result["unused"] = len(schema.external["local"].unused())
    result["errors"] = schema.external["local"].delete(delete_external_files=True)
    result["tracking"] = len(schema.external["local"])
    result["rows"] = dump_rows()
with open(args["out"], "wb") as f:
    pickle.dump(result, f)
'''


@pytest.fixture
def backend() -> str:
    return "mysql"


def run_dj14(phase: str, args: dict, tmp_path: Path) -> dict:
    out = tmp_path / f"dj14-{phase}.pkl"
    payload = {**args, "phase": phase, "out": str(out), "values": VALUES_SRC,
               "definition": EXT_DEF}
    proc = subprocess.run([DJ14_PYTHON, "-c", DJ14_SCRIPT, json.dumps(payload)],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path,
                          check=False)
    if proc.returncode:
        pytest.fail(f"DataJoint 0.14 ({phase}) failed:\n{proc.stdout}\n{proc.stderr}")
    with open(out, "rb") as f:
        return pickle.load(f)


def check_row(row: dict, i: int, *, fetched_by: str) -> None:
    same = _values["same"]
    assert same(row["b"], _values["blob_value"](i)), (fetched_by, i)
    name, content = row["a"]
    assert name == f"att{i % 2}.txt" and content == f"attachment {i % 2}\n".encode()
    if i % 3:
        path, content = row["f"]
        assert path.endswith(f"sub/raw{i}.dat") and content == f"RAW-{i}-".encode() * 10
    else:
        assert row["f"] is None


def test_datajoint014_external_storage_both_ways(tmp_path):
    conn = connect("mysql", tmp_path)
    folders = {k: str(tmp_path / k) for k in ("local", "data", "stage", "input", "dl14")}
    for folder in folders.values():
        os.makedirs(folder)
    stores = {"local": {"protocol": "file", "location": folders["local"]},
              "data": {"protocol": "file", "location": folders["data"],
                       "stage": folders["stage"]}}
    name = unique_name("jf14")
    cfg = conn.config
    args = {"host": cfg["database.host"], "port": cfg["database.port"],
            "user": cfg["database.user"], "password": cfg["database.password"], "schema": name,
            "stores": stores, "folders": folders, "download": folders["dl14"]}
    try:
        with dj.config.override(stores=stores):
            _both_ways(conn, name, args, folders, tmp_path)
    finally:
        conn.query(f"DROP DATABASE IF EXISTS `{name}`")
        conn.close()


def _both_ways(conn, name: str, args: dict, folders: dict, tmp_path: Path) -> None:
    # 1. DataJoint 0.14 declares and writes
    run_dj14("write", args, tmp_path)
    assert len(files_under(Path(folders["local"]))) == 4  # 2 blobs + 2 attachments

    # 2. joinflow reads 0.14's rows and writes more
    vm = dj.virtual_schema(name, connection=conn)
    ext = vm.Ext
    assert ext.heading["b"].declared == "blob@local"
    rows = ext.fetch(as_dict=True, order_by="id", download_path=str(tmp_path / "dljf"))
    assert [r["id"] for r in rows] == [1, 2]
    for r in rows:
        i = r["id"]
        check_row(dict(r, a=(Path(r["a"]).name, Path(r["a"]).read_bytes()),
                       f=None if r["f"] is None else (r["f"], Path(r["f"]).read_bytes())),
                  i, fetched_by="joinflow")
    schema = dj.Schema(name, connection=conn, create_schema=False)
    tracked = set(schema.external["local"].fetch("hash"))
    for i in (1, 2):  # joinflow's blob bytes hash to 0.14's uuids (np.zeros(1000): compressed)
        assert legacy_uuid(pack(_values["blob_value"](i), compress=True)) in tracked
    ext.insert([_values["make_row"](i, folders) for i in (3, 4, 5, 6)])
    # the same attachments hash the same: 4 new blobs, no new attachment entries
    assert len(schema.external["local"]) == len(tracked) + 4

    # 3. DataJoint 0.14 reads every row back, joinflow's included
    seen = run_dj14("read", args, tmp_path)["rows"]
    assert [r["id"] for r in seen] == [1, 2, 3, 4, 5, 6]
    for r in seen:
        check_row(r, r["id"], fetched_by="datajoint 0.14")

    # 4. deletes and external cleanup, from both sides
    result = run_dj14("delete", args, tmp_path)
    assert result["errors"] == [] and result["unused"] == 1  # row 1's blob (attachment shared)
    assert [r["id"] for r in result["rows"]] == [2, 3, 4, 5, 6]
    before = files_under(Path(folders["local"]))
    (vm.Ext & "id in (2, 3)").delete()
    assert len(schema.external["local"].unused()) == 2  # blobs of rows 2 and 3
    assert schema.external["local"].delete() == []
    assert len(files_under(Path(folders["local"]))) == len(before) - 2
    assert len(schema.external["local"].unused()) == 0
    final = run_dj14("read", args, tmp_path)["rows"]
    assert [r["id"] for r in final] == [4, 5, 6]
    for r in final:
        check_row(r, r["id"], fetched_by="datajoint 0.14 after joinflow's cleanup")
