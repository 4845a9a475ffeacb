"""dj.migrate on every backend, without DataJoint: type labels on tables declared with raw
SQL, the ~lineage rebuild, job metadata columns, 0.x external storage columns (declared by
joinflow, which writes DataJoint 0.14's layout) to 2.x JSON columns, and parallel copies."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import unique_name
from storage_helpers import files_under

import joinflow as dj
from joinflow.codecs.blob import pack
from joinflow.migrate import MigrationError

RAW_TABLES = {
    "mysql": [
        "CREATE TABLE `{s}`.`subject` (subject_id int NOT NULL, weight float NOT NULL DEFAULT "
        "1.5 COMMENT 'grams', n smallint DEFAULT NULL, u int unsigned NOT NULL DEFAULT 7, "
        "name varchar(20) NOT NULL DEFAULT 'x', data longblob COMMENT 'it''s a \\\\ signal', "
        "PRIMARY KEY (subject_id)) ENGINE=InnoDB",
        "CREATE TABLE `{s}`.`session` (subject_id int NOT NULL, session int NOT NULL, "
        "PRIMARY KEY (subject_id, session), FOREIGN KEY (subject_id) REFERENCES "
        "`{s}`.`subject` (subject_id))"],
    "postgresql": [
        'CREATE TABLE "{s}"."subject" (subject_id integer NOT NULL, weight real NOT NULL '
        "DEFAULT 1.5, n smallint, u bigint NOT NULL DEFAULT 7, name varchar(20) NOT NULL "
        "DEFAULT 'x', PRIMARY KEY (subject_id))",
        'COMMENT ON COLUMN "{s}"."subject".weight IS \'grams\'',
        'CREATE TABLE "{s}"."session" (subject_id integer NOT NULL REFERENCES '
        '"{s}"."subject" (subject_id), session integer NOT NULL, '
        "PRIMARY KEY (subject_id, session))"],
    "sqlite": [
        'CREATE TABLE "{s}.subject" (subject_id INTEGER NOT NULL, weight REAL NOT NULL '
        "DEFAULT 1.5, n INTEGER, u INTEGER NOT NULL DEFAULT 7, name TEXT NOT NULL DEFAULT "
        "'x', PRIMARY KEY (subject_id)) STRICT",
        'INSERT INTO "~columns" (tbl, col, comment) VALUES (\'{s}.subject\', \'weight\', '
        "'grams')",
        'CREATE TABLE "{s}.session" (subject_id INTEGER NOT NULL REFERENCES '
        '"{s}.subject" (subject_id), session INTEGER NOT NULL, '
        "PRIMARY KEY (subject_id, session)) STRICT"],
}
#: the labels each backend's native types get (DataJoint 2.3.5's mapping on MySQL)
LABELS = {
    "mysql": {"subject_id": "int32", "weight": "float32", "n": "int16", "u": "int64",
              "data": "<blob>"},
    "postgresql": {"subject_id": "int32", "weight": "float32", "n": "int16", "u": "int64"},
    "sqlite": {"subject_id": "int64", "weight": "float64", "n": "int64", "u": "int64"},
}
BLOB = {"a": np.arange(4), "s": "text"}


def raw_schema(conn) -> dj.Schema:
    """A schema made with SQL only, as DataJoint 0.x left it: no labels, no ~lineage."""
    name = unique_name("jfmig")
    conn.backend.create_schema(conn.run, name)
    for sql in RAW_TABLES[conn.backend.name]:
        conn.query_raw(sql.format(s=name))
    subject = conn.backend.full_name(name, "subject")
    if conn.backend.name == "mysql":
        conn.query(f"INSERT INTO {subject} (subject_id, n, data) VALUES (1, 3, %s)",
                   (pack(BLOB),))
    else:
        conn.query(f"INSERT INTO {subject} (subject_id, n) VALUES (1, 3)")
    conn.query(f"INSERT INTO {conn.backend.full_name(name, 'session')} VALUES (1, 1)")
    conn.invalidate()
    return dj.Schema(name, connection=conn, create_schema=False)


@pytest.fixture
def raw(conn):
    schema = raw_schema(conn)
    yield schema
    schema.drop(force=True)


def catalog(conn, database: str) -> dict:
    """Every table's columns as the catalog reports them (names, types, defaults, comments)."""
    return {t: conn.backend.columns(conn.run, database, t)
            for t in conn.backend.list_tables(conn.run, database)}


def test_migrate_columns_labels_native_types_and_keeps_everything_else(raw, conn):
    before = catalog(conn, raw.database)
    analysis = dj.migrate.analyze_columns(raw)
    wanted = LABELS[conn.backend.name]
    assert {c["column"]: c["core_type"] for c in analysis["needs_migration"]
            if c["table"].endswith(".subject")} == wanted
    assert "name" not in {c["column"] for c in analysis["needs_migration"]}

    preview = dj.migrate.migrate_columns(raw)
    assert preview["columns_migrated"] == 0 and preview["sql_statements"]
    assert {d["status"] for d in preview["details"]} == {"dry_run"}
    assert catalog(conn, raw.database) == before

    done = dj.migrate.migrate_columns(raw, dry_run=False)
    assert done["columns_migrated"] == len(analysis["needs_migration"])
    after = {c.name: c for c in catalog(conn, raw.database)["subject"]}
    for col in before["subject"]:
        new = after[col.name]
        assert (new.sql_type, new.nullable, new.default) == (col.sql_type, col.nullable,
                                                              col.default)
        if col.name in wanted:
            assert new.comment == f":{wanted[col.name]}:{col.comment}"
    heading = raw["subject"].heading
    assert heading["weight"].type == wanted["weight"] and heading["weight"].comment == "grams"
    assert raw["subject"].fetch1("weight", "n", "u") == (1.5, 3, 7)

    again = dj.migrate.migrate_columns(raw, dry_run=False)
    assert again["columns_migrated"] == 0 and again["columns_skipped"] == done["columns_analyzed"]


def test_blob_status_and_lineage_rebuild(raw, conn):
    mysql = conn.backend.name == "mysql"
    status = dj.migrate.check_migration_status(raw)
    assert (status["total_blob_columns"], status["pending"]) == ((1, 1) if mysql else (0, 0))
    assert not raw.lineage_table_exists
    preview = dj.migrate.rebuild_lineage(raw)
    assert preview["status"] == "dry_run" and preview["lineage_entries"] > 0
    assert not raw.lineage_table_exists
    if mysql:  # an unlabelled blob would read as raw bytes once ~lineage exists
        assert preview["unlabelled_blobs"] == [f"{raw.database}.subject.data"]
        with pytest.raises(MigrationError, match="migrate_columns"):
            dj.migrate.rebuild_lineage(raw, dry_run=False)
        assert not raw.lineage_table_exists
        assert dj.migrate.migrate_blob_columns(raw)["needs_migration"] == 1
        assert dj.migrate.migrate_blob_columns(raw, dry_run=False)["migrated"] == 1
        assert dj.migrate.check_migration_status(raw)["pending"] == 0
    verdict = dj.migrate.verify_schema_v20(raw.database, connection=conn)
    assert not verdict["compatible"] and not verdict["lineage_exists"]

    done = dj.migrate.rebuild_lineage(raw, dry_run=False)
    assert done["status"] == "rebuilt" and done["lineage_entries"] == preview["lineage_entries"]
    assert raw.lineage[f"{raw.database}.session.subject_id"] == \
        f"{raw.database}.subject.subject_id"
    assert dj.migrate.verify_schema_v20(raw.database, connection=conn)["compatible"]
    if mysql:
        assert raw["subject"].fetch1("data")["s"] == "text"


# -- job metadata ------------------------------------------------------------------------------
def test_add_job_metadata_columns_matches_a_fresh_declaration(conn, make_schema):
    definition = """
    id : int32
    ---
    value : float32
    """

    def declare(add_metadata: bool):
        schema = make_schema("jfjob")
        with dj.config.override(**{"jobs.add_job_metadata": add_metadata}):
            src = schema(type("Source", (dj.Lookup,), {"definition": definition,
                                                       "contents": [(1, 1.0)]}))

            class Result(dj.Computed):
                definition = "-> Source\n---\nout : float32\n"

                def make(self, key):
                    self.insert1({**key, "out": 2.0})

            schema(Result, context={"Source": src})
        return schema, Result

    legacy_schema, legacy = declare(False)
    fresh_schema, _ = declare(True)
    jobs = ("_job_start_time", "_job_duration", "_job_version")

    def job_columns(schema):
        return {c.name: (c.sql_type, c.nullable, c.default, c.comment)
                for c in conn.backend.columns(conn.run, schema.database, "__result")
                if c.name in jobs}

    assert job_columns(legacy_schema) == {}
    preview = dj.migrate.add_job_metadata_columns(legacy_schema)
    assert (preview["tables_modified"], preview["columns_added"]) == (1, 3)
    assert preview["details"][0]["status"] == "pending" and job_columns(legacy_schema) == {}

    done = dj.migrate.add_job_metadata_columns(legacy, dry_run=False)
    assert done["columns_added"] == 3 and done["details"][0]["status"] == "migrated"
    assert job_columns(legacy_schema) == job_columns(fresh_schema)
    again = dj.migrate.add_job_metadata_columns(legacy_schema, dry_run=False)
    assert again["columns_added"] == 0 and again["details"][0]["status"] == "already_migrated"

    with dj.config.override(**{"jobs.add_job_metadata": True}):
        legacy.populate()
    q = conn.backend.quote
    start, duration = conn.query(f"SELECT {q('_job_start_time')}, {q('_job_duration')} FROM "
                                 f"{conn.backend.full_name(legacy_schema.database, '__result')}")[0]
    assert start is not None and duration is not None
    with pytest.raises(MigrationError, match="Table class"):
        dj.migrate.add_job_metadata_columns("not a table")


# -- external storage --------------------------------------------------------------------------
LEGACY_DEF = """
id : int32
---
b : blob@local            # a blob
a : attach@local          # an attachment
ia : attach               # 0.x in-table attachment (2.x: <attach>)
f = null : filepath@data  # a staged file
"""


@pytest.fixture
def stores(tmp_path):
    folders = {k: tmp_path / k for k in ("local", "data", "stage", "input", "other")}
    for folder in folders.values():
        folder.mkdir()
    config = {"local": {"protocol": "file", "location": str(folders["local"])},
              "data": {"protocol": "file", "location": str(folders["data"]),
                       "stage": str(folders["stage"])},
              "other": {"protocol": "file", "location": str(folders["other"])}}
    with dj.config.override(stores=config):
        yield folders


def legacy_rows(folders: dict) -> list[dict]:
    (folders["stage"] / "sub").mkdir(exist_ok=True)
    rows = []
    for i in (1, 2, 3):
        att = folders["input"] / f"att{i % 2}.txt"
        att.write_text(f"attachment {i % 2}")
        raw = folders["stage"] / "sub" / f"raw{i}.dat"
        raw.write_text(f"RAW-{i}" * 5)
        rows.append({"id": i, "b": {"i": i, "x": np.arange(i * 100.0)}, "a": str(att),
                     "ia": str(att),
                     "f": str(raw) if i != 3 else None})
    return rows


def check_values(table, folders: dict, ids=(1, 2, 3)) -> None:
    got = {r["id"]: r for r in table.to_dicts(order_by="id")}
    assert sorted(got) == list(ids)
    for i in ids:
        r = got[i]
        assert r["b"]["i"] == i and np.array_equal(r["b"]["x"], np.arange(i * 100.0))
        assert Path(r["a"]).name == f"att{i % 2}.txt"
        assert Path(r["a"]).read_text() == f"attachment {i % 2}"
        assert Path(r["ia"]).read_bytes() == Path(r["a"]).read_bytes()
        if i not in (1, 2):  # rows 3 and 4 have no file
            assert r["f"] is None
        elif isinstance(r["f"], str):  # 0.x filepath@: the path of the local copy
            assert Path(r["f"]).read_bytes() == f"RAW-{i}".encode() * 5
        else:  # 2.x <filepath@>: a reference into the store
            with r["f"].open() as fh:
                assert fh.read() == f"RAW-{i}".encode() * 5


def legacy_table(make_schema, folders):
    schema = make_schema("jfext")
    ext = schema(type("Ext", (dj.Manual,), {"definition": LEGACY_DEF}))
    ext.insert(legacy_rows(folders))
    return schema, ext


def test_external_columns_migrate_to_2x_json(conn, make_schema, stores):
    schema, _ = legacy_table(make_schema, stores)
    before, files = catalog(conn, schema.database), files_under(stores["local"])
    for preview in (dj.migrate.migrate_external(schema), dj.migrate.migrate_filepath(schema)):
        assert {d["status"] for d in preview["details"]} == {"dry_run"}
    assert [d["rows"] for d in dj.migrate.migrate_external(schema)["details"]] == [3, 3]
    with pytest.raises(MigrationError, match="without finalize first"):
        dj.migrate.migrate_external(schema, finalize=True)
    assert catalog(conn, schema.database) == before and files_under(stores["local"]) == files

    done = dj.migrate.migrate_external(schema, dry_run=False)
    assert (done["columns_migrated"], done["rows_migrated"]) == (2, 6)
    assert dj.migrate.migrate_filepath(schema, dry_run=False)["rows_migrated"] == 2
    table = dj.FreeTable(conn, f"{schema.database}.ext")
    assert table.heading["b_v2"].declared == "<blob@local>"
    check_values(table.proj("ia", b="b_v2", a="a_v2", f="f_v2"), stores)
    # the 2.x objects are new files; every 0.x object is still there
    assert set(files) < set(files_under(stores["local"]))
    again = dj.migrate.migrate_external(schema, dry_run=False)
    assert {d["status"] for d in again["details"]} == {"already_migrated"}

    dj.migrate.migrate_external(schema, dry_run=False, finalize=True)
    dj.migrate.migrate_filepath(schema, dry_run=False, finalize=True)
    assert not dj.migrate.verify_schema_v20(schema.database, connection=conn)["compatible"]
    labelled = dj.migrate.migrate_columns(schema, dry_run=False)["details"]
    assert [(d["column"], d["core_type"]) for d in labelled] == [("ia", "<attach>")]
    table = dj.FreeTable(conn, f"{schema.database}.ext")
    assert [table.heading[n].declared for n in ("b", "a", "ia", "f")] == \
        ["<blob@local>", "<attach@local>", "<attach>", "<filepath@data>"]
    assert table.heading["b"].comment == "a blob"
    check_values(table, stores)
    assert set(files) < set(files_under(stores["local"]))
    # the 0.x tracking rows stay in use (column b_v1): 0.x cleanup removes nothing
    assert len(schema.external["local"].unused()) == 0
    integrity = dj.migrate.verify_external_integrity(schema)
    assert integrity["valid"] == integrity["total_references"] == 7  # 3 blobs, 2 attach, 2 files
    assert dj.migrate.verify_schema_v20(schema.database, connection=conn)["compatible"]
    # the migrated table takes new rows in 2.x form
    table.insert1({"id": 4, "b": {"i": 4, "x": np.arange(400.0)},
                   "a": str(stores["input"] / "att0.txt"), "ia": str(stores["input"] / "att0.txt")})
    check_values(table & "id = 4", stores, ids=(4,))


def test_a_missing_object_leaves_its_rows_and_blocks_finalize(conn, make_schema, stores):
    schema, _ = legacy_table(make_schema, stores)
    integrity = dj.migrate.verify_external_integrity(schema, "local")
    assert integrity["valid"] == 5 and integrity["missing"] == []
    victim = next(p for p in stores["local"].rglob("*") if p.is_file() and "." not in p.name)
    victim.unlink()
    missing = dj.migrate.verify_external_integrity(schema)["missing"]
    assert [m["filepath"].rsplit("/", 1)[-1] for m in missing] == [victim.name]

    result = dj.migrate.migrate_external(schema, dry_run=False)
    blob = next(d for d in result["details"] if d["column"] == "b")
    assert blob["status"] == "incomplete" and blob["rows"] == 2
    assert "cannot read" in blob["errors"][0]
    with pytest.raises(MigrationError, match="1 rows .* not converted"):
        dj.migrate.migrate_external(schema, dry_run=False, finalize=True)
    assert dj.FreeTable(conn, f"{schema.database}.ext").heading["b"].declared == "blob@local"
    with pytest.raises(MigrationError, match="no ~external_nowhere table"):
        dj.migrate.verify_external_integrity(schema, "nowhere")
    with dj.config.override(stores={}):  # the stores are gone from the configuration
        assert dj.migrate.check_store_configuration(schema)["stores_missing"] == ["data", "local"]
        with pytest.raises(MigrationError, match="check_store_configuration"):
            dj.migrate.migrate_filepath(schema, dry_run=False)
    assert "f_v2" not in dj.FreeTable(conn, f"{schema.database}.ext").heading.names


def test_large_objects_pass_through_a_temporary_file(conn, make_schema, stores, monkeypatch,
                                                    tmp_path):
    import joinflow.migrate.objects as objects
    monkeypatch.setattr(objects, "STREAM_OVER", 0)  # every object counts as large
    schema, _ = legacy_table(make_schema, stores)
    scratch = tmp_path / "scratch"
    with dj.config.override(download_path=str(scratch)):
        assert dj.migrate.migrate_external(schema, dry_run=False)["rows_migrated"] == 6
    dj.migrate.migrate_external(schema, dry_run=False, finalize=True)
    table = dj.FreeTable(conn, f"{schema.database}.ext")
    got = table.proj("b", "a").to_dicts(order_by="id")
    assert [r["b"]["i"] for r in got] == [1, 2, 3]
    assert [Path(r["a"]).read_text() for r in got] == ["attachment 1", "attachment 0",
                                                      "attachment 1"]
    assert files_under(scratch) == []  # temporary files are gone


def test_pointers_of_a_parallel_copy(conn, make_schema, stores):
    schema, _ = legacy_table(make_schema, stores)
    copy = unique_name("jfcopy")
    made = dj.migrate.create_parallel_schema(schema.database, copy, copy_data=True,
                                             connection=conn)
    try:
        assert {"ext", "~external_local", "~external_data"} <= set(made["tables"])
        for name in ("ext", "~external_local"):
            assert dj.migrate.compare_query_results(schema.database, copy, name,
                                                    connection=conn)["match"]
        refused = dj.migrate.migrate_external_pointers_v2(
            copy, "ext", "a", "local", "local", connection=conn, source_schema=schema.database)
        assert refused["rows_migrated"] == 0 and len(refused["errors"]) == 2
        assert "copy_files=True" in refused["errors"][0]
        assert dj.FreeTable(conn, f"{copy}.ext").heading["a"].declared == "attach@local"
        result = dj.migrate.migrate_external_pointers_v2(
            copy, "ext", "b", "local", "other", copy_files=True, connection=conn,
            source_schema=schema.database)
        assert result["rows_migrated"] == 3 and result["errors"] == []
        assert result["files_copied"] == 3
        table = dj.FreeTable(conn, f"{copy}.ext")
        assert table.heading["b"].declared == "<blob@other>"
        got = table.proj("b").to_dicts(order_by="id")  # a: 0.x objects live under the source name
        assert [r["b"]["i"] for r in got] == [1, 2, 3]
        # without a copy, a blob is referenced where 0.14 put it
        other = unique_name("jfcopy")
        dj.migrate.create_parallel_schema(schema.database, other, copy_data=True,
                                          connection=conn)
        try:
            kept = dj.migrate.migrate_external_pointers_v2(
                other, "ext", "b", "local", "local", connection=conn,
                source_schema=schema.database)
            assert kept["files_copied"] == 0 and kept["rows_migrated"] == 3
            assert [r["b"]["i"] for r in dj.FreeTable(conn, f"{other}.ext").proj("b")
                    .to_dicts(order_by="id")] == [1, 2, 3]
        finally:
            dj.Schema(other, connection=conn, create_schema=False).drop(force=True)
    finally:
        dj.Schema(copy, connection=conn, create_schema=False).drop(force=True)


def test_a_parallel_copy_migrates_whole(conn, make_schema, stores):
    """The _v20 workflow: copy production, migrate the copy; production stays 0.x."""
    schema, _ = legacy_table(make_schema, stores)
    copy = unique_name("jfv20")
    dj.migrate.create_parallel_schema(schema.database, copy, copy_data=True, connection=conn)
    try:
        target = dj.Schema(copy, connection=conn, create_schema=False)
        done = dj.migrate.migrate_external(target, dry_run=False, source_schema=schema.database)
        assert done["rows_migrated"] == 6 and "errors" not in str(done)
        dj.migrate.migrate_filepath(target, dry_run=False)
        dj.migrate.migrate_external(target, dry_run=False, finalize=True)
        dj.migrate.migrate_filepath(target, dry_run=False, finalize=True)
        check_values(dj.FreeTable(conn, f"{copy}.ext"), stores)
        production = dj.FreeTable(conn, f"{schema.database}.ext")
        assert production.heading["b"].declared == "blob@local"
        check_values(production, stores)
    finally:
        dj.Schema(copy, connection=conn, create_schema=False).drop(force=True)


# -- parallel schemas, backup, restore ---------------------------------------------------------
def test_backup_restore_and_compare(raw, conn):
    backup = unique_name("jfbak")
    made = dj.migrate.backup_schema(raw.database, backup, connection=conn)
    try:
        assert made["tables_backed_up"] == 2 and made["rows_backed_up"] == 2
        with pytest.raises(MigrationError, match="already has tables"):
            dj.migrate.create_parallel_schema(raw.database, backup, connection=conn)
        assert dj.migrate.compare_query_results(raw.database, backup, "subject",
                                                connection=conn)["match"]
        # foreign keys point into the copy
        with pytest.raises(dj.errors.IntegrityError):
            conn.query(f"INSERT INTO {conn.backend.full_name(backup, 'session')} "
                       "VALUES (9, 1)")
        subject = conn.backend.full_name(raw.database, "subject")
        conn.query(f"UPDATE {subject} SET weight = 2.5")
        diff = dj.migrate.compare_query_results(raw.database, backup, "subject",
                                                connection=conn)
        assert not diff["match"] and "weight" in diff["discrepancies"][0]
        copied = dj.migrate.copy_table_data(raw.database, backup, "subject", connection=conn,
                                            where_clause="subject_id > 100")
        assert copied["rows_copied"] == 1
        restored = dj.migrate.restore_schema(backup, raw.database, connection=conn)
        assert restored == {"tables_restored": 2, "rows_restored": 2}
        assert dj.migrate.compare_query_results(raw.database, backup, "subject",
                                                connection=conn)["match"]
        with pytest.raises(MigrationError, match="does not exist"):
            dj.migrate.restore_schema(unique_name("nothere"), raw.database, connection=conn)
        assert raw["subject"].fetch1("weight") == 1.5
    finally:
        dj.Schema(backup, connection=conn, create_schema=False).drop(force=True)


def test_external_columns_in_an_s3_store(conn, make_schema, moto_s3, tmp_path):
    """The same migration on an object store (moto's S3): objects are read, checked and
    copied through the store, never through local paths."""
    with dj.config.override(stores={"s3": moto_s3.store_config()}):
        schema = make_schema("jfs3")
        ext = schema(type("Ext", (dj.Manual,), {"definition": """
            id : int32
            ---
            b : blob@s3
            a : attach@s3
            """}))
        att = tmp_path / "note.txt"
        att.write_text("on s3")
        ext.insert([{"id": i, "b": np.arange(i + 3), "a": str(att)} for i in (1, 2)])
        status = dj.migrate.check_store_configuration(schema)
        assert status["stores_configured"] == ["s3"]
        assert dj.migrate.verify_external_integrity(schema)["valid"] == 3
        assert dj.migrate.migrate_external(schema, dry_run=False)["rows_migrated"] == 4
        dj.migrate.migrate_external(schema, dry_run=False, finalize=True)
        table = dj.FreeTable(conn, f"{schema.database}.ext")
        assert table.heading["b"].declared == "<blob@s3>"
        rows = table.to_dicts(order_by="id")
        assert [list(r["b"]) for r in rows] == [list(range(4)), list(range(5))]
        assert [Path(r["a"]).read_text() for r in rows] == ["on s3", "on s3"]
        assert dj.migrate.verify_external_integrity(schema)["missing"] == []


def test_restoring_a_schema_onto_itself_is_refused_and_keeps_it(raw, conn):
    with pytest.raises(MigrationError, match="same schema"):
        dj.migrate.restore_schema(raw.database, raw.database, connection=conn)
    assert conn.backend.schema_exists(conn.run, raw.database)
    assert raw["subject"].fetch1("subject_id") == 1


def test_restoring_an_empty_backup_is_refused_and_keeps_the_schema(raw, conn, make_schema):
    empty = make_schema("jfempty")  # a backup schema left empty
    assert conn.backend.schema_exists(conn.run, empty.database)
    with pytest.raises(MigrationError, match="has no tables"):
        dj.migrate.restore_schema(empty.database, raw.database, connection=conn)
    assert raw["subject"].fetch1("subject_id") == 1


def test_a_damaged_object_already_at_the_2x_place_is_not_referenced(conn, make_schema, stores):
    from joinflow.objectstores import store_access
    from joinflow.storage.hashing import content_hash, hash_path
    schema, _ = legacy_table(make_schema, stores)
    spec = store_access(conn).get("local").spec
    blobs = [p for p in (stores["local"] / schema.database).rglob("*")
             if p.is_file() and "." not in p.name]
    assert len(blobs) == 3
    data = blobs[0].read_bytes()  # a 0.14 blob's bytes are its 2.x object
    place = stores["local"] / hash_path(content_hash(data), schema.database,
                                        hash_prefix=spec.hash_prefix,
                                        subfolding=spec.subfolding)
    place.parent.mkdir(parents=True)
    place.write_bytes(data[:-1])  # e.g. left by an interrupted copy of another tool
    result = dj.migrate.migrate_external(schema, dry_run=False)
    blob = next(d for d in result["details"] if d["column"] == "b")
    assert blob["status"] == "incomplete" and blob["rows"] == 2
    assert "wrong size" in blob["errors"][0]
    table = dj.FreeTable(conn, f"{schema.database}.ext")
    assert len(table & "b_v2 IS NULL") == 1


def test_a_user_column_named_like_the_2x_column_is_left_alone(conn, make_schema, stores):
    schema = make_schema("jfext")
    ext = schema(type("Ext", (dj.Manual,), {"definition": """
        id : int32
        ---
        b : blob@local        # a blob
        b_v2 : int32          # the user's own column
        """}))
    ext.insert([{"id": i, "b": {"i": i}, "b_v2": 10 * i} for i in (1, 2)])
    for finalize in (False, True):
        with pytest.raises(MigrationError, match="b_v2 .* not a column this migration"):
            dj.migrate.migrate_external(schema, dry_run=False, finalize=finalize)
    table = dj.FreeTable(conn, f"{schema.database}.ext")
    assert table.heading["b"].declared == "blob@local"
    assert [r["b_v2"] for r in table.to_dicts(order_by="id")] == [10, 20]


def test_a_finalize_failing_half_way_keeps_the_column(conn, make_schema, stores, monkeypatch):
    schema, _ = legacy_table(make_schema, stores)
    dj.migrate.migrate_external(schema, dry_run=False)
    query, q = conn.query, conn.backend.quote

    def failing(sql, *args, **kwargs):  # the second rename fails (e.g. the connection drops)
        if f"COLUMN {q('b_v2')}" in sql:
            raise dj.errors.QueryError("connection lost")
        return query(sql, *args, **kwargs)

    monkeypatch.setattr(conn, "query", failing)
    with pytest.raises(MigrationError, match="Finalize failed .*connection lost"):
        dj.migrate.migrate_external(schema, dry_run=False, finalize=True)
    monkeypatch.undo()
    conn.invalidate()
    names = dj.FreeTable(conn, f"{schema.database}.ext").heading.names
    assert {"b", "b_v2"} <= set(names) and "b_v1" not in names
    dj.migrate.migrate_external(schema, dry_run=False, finalize=True)
    check_values(dj.FreeTable(conn, f"{schema.database}.ext").proj("b", "a", "ia", f="f"),
                 stores)


def test_a_backup_failing_half_way_leaves_no_partial_backup(raw, conn, monkeypatch):
    import joinflow.migrate.parallel as parallel
    copy_rows, calls = parallel._insert_select, []

    def failing(*args, **kwargs):  # the second table's rows fail (e.g. the disk is full)
        calls.append(args)
        if len(calls) == 2:
            raise dj.errors.QueryError("disk full")
        return copy_rows(*args, **kwargs)

    monkeypatch.setattr(parallel, "_insert_select", failing)
    backup = unique_name("jfbak")
    with pytest.raises(MigrationError, match="backup .* failed.*disk full"):
        dj.migrate.backup_schema(raw.database, backup, connection=conn)
    assert not conn.backend.schema_exists(conn.run, backup)
    with pytest.raises(MigrationError, match="does not exist"):
        dj.migrate.restore_schema(backup, raw.database, connection=conn)
    assert raw["subject"].fetch1("subject_id") == 1
