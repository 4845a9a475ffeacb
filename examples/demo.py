"""joinflow demo on the embedded default: a SQLite file and a local folder, nothing to start.

Run:  .venv/bin/python examples/demo.py
It builds a small pipeline (subject -> session -> recording -> computed statistics with parts),
stores numpy arrays as blobs (in the table, and in a local object store), an array as a .npy
file at a browsable path (fetched lazily), a file as an attachment, queries it, collects garbage
and cleans up after itself.
"""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np

import joinflow as dj

work = Path(tempfile.mkdtemp(prefix="joinflow-demo-"))
dj.config["database.backend"] = "sqlite"
dj.config["database.path"] = str(work / "pipeline.db")
dj.config["download_path"] = str(work / "downloads")
dj.config["safemode"] = False
dj.config["stores"] = {"default": "local",  # an object store in a local folder
                       "local": {"protocol": "file", "location": str(work / "store")}}

schema = dj.Schema("demo")


@schema
class Subject(dj.Manual):
    definition = """
    # an experimental animal
    subject_id : int32
    ---
    species = 'mouse' : varchar(32)
    date_of_birth = null : date
    """


@schema
class Session(dj.Manual):
    definition = """
    -> Subject
    session : int16
    ---
    session_date : date
    notes = '' : varchar(255)
    protocol = null : attach     # a file attached to the session
    """


@schema
class Recording(dj.Imported):
    definition = """
    -> Session
    ---
    trace : longblob   # a numpy array, in the table
    raw : <blob@>      # the same in the object store (hash-addressed)
    frames : <npy@>    # a .npy file in _schema/demo/_recording/subject_id=1/session=1/
    """

    def make(self, key):
        rng = np.random.default_rng(key["subject_id"] * 100 + key["session"])
        trace = rng.normal(size=1000)
        self.insert1(dict(key, trace=trace, raw=trace, frames=rng.normal(size=(100, 8))))


@schema
class Stats(dj.Computed):
    definition = """
    -> Recording
    ---
    mean : float64
    std : float64
    """

    class Peak(dj.Part):
        definition = """
        -> master
        peak : int32
        ---
        value : float64
        """

    def make(self, key):
        trace = (Recording & key).fetch1("trace")
        self.insert1(dict(key, mean=float(trace.mean()), std=float(trace.std())))
        top = np.argsort(trace)[-3:]
        self.Peak.insert(dict(key, peak=int(i), value=float(trace[i])) for i in top)


protocol = work / "protocol.txt"
protocol.write_text("stimulus: gratings\n")
Subject.insert([dict(subject_id=1, date_of_birth="2024-01-15"), dict(subject_id=2)])
Session.insert([
    dict(subject_id=1, session=1, session_date="2024-03-01", protocol=str(protocol)),
    dict(subject_id=1, session=2, session_date="2024-03-02"),
    dict(subject_id=2, session=1, session_date="2024-03-05", notes="short"),
])
Recording.populate()
Stats.populate()

print(Session())
print("sessions per subject:", Subject.aggr(Session, n="count(*)").to_dicts())
print("stats after March 1:", (Stats * Session & "session_date > '2024-03-01'").to_dicts())
print("attachment fetched to:", (Session & {"subject_id": 1, "session": 1}).fetch1("protocol"))
raw = (Recording & {"subject_id": 1, "session": 1}).fetch1("raw")
objects = sorted(p.relative_to(work / "store") for p in (work / "store").rglob("*") if p.is_file())
print(f"object store: {len(objects)} objects, e.g. {objects[0]}; fetched back {raw.shape}")
assert np.array_equal(raw, (Recording & {"subject_id": 1, "session": 1}).fetch1("trace"))
frames = (Recording & {"subject_id": 1, "session": 1}).fetch1("frames")  # lazy: an NpyRef
print(f"npy: {frames.path}, shape {frames.shape}, downloaded: {frames.is_loaded}; "
      f"frames[10:12] reads two rows: {frames[10:12].shape}")
(Subject & {"subject_id": 2}).delete()  # its .npy goes with the row
print("after deleting subject 2:", len(Session), "sessions,", len(Stats.Peak), "peaks,",
      len(list((work / "store" / "_schema").rglob("*.npy"))), ".npy files")
assert len(Stats.Peak) == 6
report = dj.gc.GarbageCollector(schema).collect(dry_run=False)  # the shared blob objects
print(f"garbage collection: {report['deleted']} unreferenced object deleted "
      f"({report['bytes_freed']} bytes), {report['hash_paths_referenced']} kept")
assert report["deleted"] == 1
shutil.rmtree(work)
print("demo finished OK")
