"""The proof of dj.migrate with the real packages, on MariaDB: DataJoint 0.14 makes a schema
(native types, an in-table blob, external blob@/attach@/filepath@ on file stores); joinflow's
dry runs change nothing (tables, comments, rows, files); joinflow migrates it; then joinflow
and the real DataJoint 2.3.5 both read every value back equal. DataJoint 2.3.5's own
``migrate`` runs on a parallel copy, to compare the labels it chooses.

Needs ``JF_DATAJOINT014_PYTHON`` (a python with ``datajoint==0.14.*``) and
``JF_DATAJOINT_PYTHON`` (a python with ``datajoint==2.3.5``); skipped otherwise."""
from __future__ import annotations

import json
import os
import pickle
import subprocess
import uuid
from pathlib import Path

import pytest
from conftest import connect, unique_name
from storage_helpers import files_under

import joinflow as dj

DJ14 = os.environ.get("JF_DATAJOINT014_PYTHON")
DJ2 = os.environ.get("JF_DATAJOINT_PYTHON")
pytestmark = pytest.mark.skipif(
    not (DJ14 and DJ2),
    reason="set JF_DATAJOINT014_PYTHON (datajoint 0.14) and JF_DATAJOINT_PYTHON (datajoint "
           "2.3.5) to run the 0.14 -> 2.x migration proof")

VALUES_SRC = r'''
import os
import uuid
import numpy as np

def blob_value(i):
    return {1: np.arange(5), 2: np.zeros(1000), 3: {"k": [1, 2], "s": "x"}}[i]

def ext_value(i):
    return {1: np.random.RandomState(1).randn(20, 30), 2: "text", 3: np.eye(3)}[i]

def make_row(i, folders):
    att = os.path.join(folders["input"], f"att{i % 2}.txt")
    with open(att, "w") as f:
        f.write(f"attachment {i % 2}\n")
    raw = os.path.join(folders["stage"], "sub", f"raw{i}.dat")
    os.makedirs(os.path.dirname(raw), exist_ok=True)
    with open(raw, "w") as f:
        f.write(f"RAW-{i}-" * 10)
    return dict(subject_id=1, id=i, b=blob_value(i), eb=ext_value(i), a=att, ia=att,
                u=uuid.UUID(int=i), f=raw if i < 3 else None)

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
exec(VALUES_SRC, _values)  # noqa: S102  (the same source runs in DataJoint's interpreters)

SUBJECT = {"subject_id": 1, "weight": 1.5, "n": 3, "big": 2 ** 40, "sex": "M"}

DJ14_SCRIPT = r'''
import json, os, pickle, sys
os.environ["DJ_SUPPORT_FILEPATH_MANAGEMENT"] = "TRUE"
import datajoint as dj
args = json.loads(sys.argv[1])
exec(args["values"])
dj.config.update({"database.host": args["host"], "database.port": args["port"],
                  "database.user": args["user"], "database.password": args["password"] or "",
                  "database.use_tls": False, "safemode": False, "stores": args["stores"]})
schema = dj.schema(args["schema"])

@schema
class Subject(dj.Manual):
    definition = """
    subject_id : int
    ---
    weight = 1.5 : float         # grams
    n = null : smallint unsigned
    big : bigint
    sex : enum('M', 'F')
    """

@schema
class Ext(dj.Manual):
    definition = """
    -> Subject
    id : int
    ---
    b : longblob              # in the table
    eb : blob@local           # in a store
    a : attach@local          # an attachment
    ia : attach               # an attachment in the table
    u : uuid
    f = null : filepath@data  # a staged file
    """

Subject.insert1(dict(subject_id=1, n=3, big=2 ** 40, sex="M"))
Ext.insert([make_row(i, args["folders"]) for i in (1, 2, 3)])
'''

DJ2_SCRIPT = r'''
import json, os, pickle, sys, warnings
warnings.simplefilter("ignore")
import datajoint as dj
args = json.loads(sys.argv[1])
dj.config["database.host"] = args["host"]
dj.config["database.port"] = args["port"]
dj.config["database.user"] = args["user"]
dj.config["database.password"] = args["password"] or ""
dj.config["safemode"] = False
dj.config["download_path"] = args["download"]
dj.config["stores"] = {k: {"protocol": "file", "location": v["location"]}
                       for k, v in args["stores"].items()}
result = {}
if args["phase"] == "read":
    vm = dj.VirtualModule("vm", args["schema"])
    result["heading"] = {n: a.original_type or a.type for n, a in vm.Ext.heading.attributes.items()}
    rows = []
    for r in vm.Ext.to_dicts(order_by="id"):
        f = r["f"]
        rows.append(dict(id=r["id"], b=r["b"], eb=r["eb"], u=r["u"],
                         a=(os.path.basename(r["a"]), open(r["a"], "rb").read()),
                         ia=(os.path.basename(r["ia"]), open(r["ia"], "rb").read()),
                         f=None if f is None else (f.path, f.read())))
    result["rows"] = rows
    result["subject"] = vm.Subject.to_dicts()
else:
    from datajoint import migrate
    schema = dj.Schema(args["schema"], create_schema=False)
    result["columns"] = migrate.migrate_columns(schema, dry_run=False)["details"]
    result["lineage_status"] = migrate.rebuild_lineage(schema, dry_run=False)["status"]
    conn = dj.conn()
    result["lineage"] = [tuple(r) for r in conn.query(
        "SELECT table_name, attribute_name, lineage FROM `%s`.`~lineage`" % args["schema"])]
    result["comments"] = dict(((t, c), m) for t, c, m in conn.query(
        "SELECT table_name, column_name, column_comment FROM information_schema.columns "
        "WHERE table_schema = %s", args=(args["schema"],)).fetchall())
with open(args["out"], "wb") as f:
    pickle.dump(result, f)
'''


def run(python: str, script: str, args: dict, tmp_path: Path, phase: str) -> dict:
    out = tmp_path / f"{phase}.pkl"
    payload = {**args, "phase": phase, "out": str(out), "values": VALUES_SRC}
    proc = subprocess.run([python, "-c", script, json.dumps(payload)], capture_output=True,
                          text=True, timeout=300, cwd=tmp_path, check=False)
    if proc.returncode:
        pytest.fail(f"{phase} failed:\n{proc.stdout}\n{proc.stderr}")
    if not out.exists():
        return {}
    with open(out, "rb") as f:
        return pickle.load(f)


def check_rows(rows: list, *, read_by: str) -> None:
    same = _values["same"]
    assert [r["id"] for r in rows] == [1, 2, 3], read_by
    for r in rows:
        i = r["id"]
        assert same(r["b"], _values["blob_value"](i)), (read_by, "b", i)
        assert same(r["eb"], _values["ext_value"](i)), (read_by, "eb", i)
        assert r["a"] == (f"att{i % 2}.txt", f"attachment {i % 2}\n".encode()), (read_by, i)
        assert r["ia"] == r["a"] and r["u"] == uuid.UUID(int=i), (read_by, i)
        if i < 3:
            path, content = r["f"]
            assert str(path).endswith(f"sub/raw{i}.dat") and content == f"RAW-{i}-".encode() * 10
        else:
            assert r["f"] is None


def snapshot(conn, name: str, folders: dict) -> tuple:
    """Everything a dry run must leave alone: tables, columns (types, defaults, comments),
    rows, and the files of both stores."""
    tables = conn.backend.list_tables(conn.run, name)
    q = conn.backend.quote
    rows = {t: sorted(map(repr, conn.query(f"SELECT * FROM {q(name)}.{q(t)}")))
            for t in tables if t != "~log"}
    return (tables, {t: conn.backend.columns(conn.run, name, t) for t in tables}, rows,
            files_under(Path(folders["local"])), files_under(Path(folders["data"])))


def test_datajoint014_schema_migrates_to_2x(tmp_path):
    conn = connect("mysql", tmp_path)
    folders = {k: str(tmp_path / k) for k in ("local", "data", "stage", "input", "dl", "dl2")}
    for folder in folders.values():
        os.makedirs(folder)
    stores = {"local": {"protocol": "file", "location": folders["local"]},
              "data": {"protocol": "file", "location": folders["data"],
                       "stage": folders["stage"]}}
    name, copy = unique_name("jfm14"), unique_name("jfm14c")
    cfg = conn.config
    args = {"host": cfg["database.host"], "port": cfg["database.port"],
            "user": cfg["database.user"], "password": cfg["database.password"],
            "schema": name, "stores": stores, "folders": folders, "download": folders["dl2"]}
    try:
        with dj.config.override(stores=stores, download_path=folders["dl"]):
            run(DJ14, DJ14_SCRIPT, args, tmp_path, "write014")
            _migrate_and_read(conn, name, copy, args, folders, tmp_path)
    finally:
        for schema in (name, copy):
            conn.query(f"DROP DATABASE IF EXISTS `{schema}`")
        conn.close()


def _migrate_and_read(conn, name: str, copy: str, args: dict, folders: dict,
                      tmp_path: Path) -> None:
    m = dj.migrate
    schema = dj.Schema(name, connection=conn, create_schema=False)

    # 1. every dry run leaves the schema and the stores as they are
    before = snapshot(conn, name, folders)
    status = m.check_store_configuration(schema)
    assert sorted(status["stores_configured"]) == ["data", "local"]
    integrity = m.verify_external_integrity(schema)
    assert integrity["valid"] == integrity["total_references"] == 7 and not integrity["missing"]
    analysis = m.analyze_columns(schema)
    assert {(c["column"], c["core_type"]) for c in analysis["needs_migration"]
            if c["table"].endswith(".subject")} == \
        {("subject_id", "int32"), ("weight", "float32"), ("n", "int32"), ("big", "int64")}
    assert [c["column"] for c in analysis["external_storage"]] == ["eb", "a", "f"]
    assert ("ia", "<attach>") in {(c["column"], c["core_type"])
                                  for c in analysis["needs_migration"]}
    previews = [m.migrate_columns(schema), m.migrate_blob_columns(schema),
                m.rebuild_lineage(schema), m.add_job_metadata_columns(schema),
                m.migrate_external(schema), m.migrate_filepath(schema)]
    assert previews[0]["columns_migrated"] == 0 and previews[0]["sql_statements"]
    assert [d["rows"] for d in previews[4]["details"]] == [3, 3]
    assert [d["rows"] for d in previews[5]["details"]] == [2]
    assert not m.verify_schema_v20(name, connection=conn)["compatible"]
    assert snapshot(conn, name, folders) == before

    # 2. a parallel copy, for DataJoint 2.3.5's own migration
    m.create_parallel_schema(name, copy, copy_data=True, connection=conn)
    for table in ("subject", "ext", "~external_local", "~external_data"):
        assert m.compare_query_results(name, copy, table, connection=conn)["match"], table

    # 3. joinflow migrates
    m.migrate_columns(schema, dry_run=False)
    assert m.migrate_external(schema, dry_run=False)["rows_migrated"] == 6
    assert m.migrate_filepath(schema, dry_run=False)["rows_migrated"] == 2
    m.migrate_external(schema, dry_run=False, finalize=True)
    m.migrate_filepath(schema, dry_run=False, finalize=True)
    assert m.rebuild_lineage(schema, dry_run=False)["status"] == "rebuilt"
    assert m.verify_schema_v20(name, connection=conn) == {
        "compatible": True, "blob_markers": True, "lineage_exists": True, "issues": []}
    assert set(before[3]) < set(files_under(Path(folders["local"])))  # 0.14 objects kept

    # 4. joinflow reads every value
    vm = dj.virtual_schema(name, connection=conn)
    assert vm.Ext.heading["eb"].declared == "<blob@local>"
    rows = []
    for r in vm.Ext.to_dicts(order_by="id"):
        f = r["f"]
        rows.append(dict(r, a=(Path(r["a"]).name, Path(r["a"]).read_bytes()),
                         ia=(Path(r["ia"]).name, Path(r["ia"]).read_bytes()),
                         f=None if f is None else (f.path, f.read())))
    check_rows(rows, read_by="joinflow")
    subject = vm.Subject.fetch1()
    assert {k: subject[k] for k in SUBJECT} == SUBJECT

    # 5. DataJoint 2.3.5 reads every value
    seen = run(DJ2, DJ2_SCRIPT, args, tmp_path, "read")
    assert seen["heading"]["eb"] == "<blob@local>" and seen["heading"]["b"] == "<blob>"
    assert seen["heading"]["ia"] == "<attach>"
    check_rows(seen["rows"], read_by="datajoint 2.3.5")
    assert {k: seen["subject"][0][k] for k in SUBJECT} == SUBJECT

    # 6. DataJoint 2.3.5's migrate_columns on the copy: every label it writes, joinflow wrote
    #    too (joinflow also labels MariaDB's int(11)-style columns, which 2.3.5 skips)
    theirs = run(DJ2, DJ2_SCRIPT, {**args, "schema": copy}, tmp_path, "migrate")
    ours = {(t, c.name): c.comment for t in ("subject", "ext")
            for c in conn.backend.columns(conn.run, name, t)}
    labelled = {k: v for k, v in theirs["comments"].items()
                if k[0] in ("subject", "ext") and v.startswith((":<blob>:", ":float", ":int"))}
    assert labelled, "DataJoint 2.3.5 labelled nothing: the comparison would be empty"
    for key, comment in labelled.items():
        assert ours[key] == comment, key
    # ... and every lineage row it writes, joinflow wrote too (joinflow also records native
    # secondary attributes; 2.3.5 ran on the unmigrated copy, whose 0.x columns still point
    # at the tracking tables: those rows are left out)
    assert theirs["lineage_status"] == "rebuilt" and theirs["lineage"]
    q = conn.backend.quote
    our_lineage = {tuple(r) for r in conn.query(
        f"SELECT table_name, attribute_name, lineage FROM {q(name)}.{q('~lineage')}")}
    for table, attr, origin in theirs["lineage"]:
        if ".~external_" in origin:
            continue
        assert (table, attr, origin.replace(copy, name, 1)) in our_lineage, (table, attr)
