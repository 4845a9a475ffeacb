"""User scenarios written the way DataJoint users write code (tutorials, how-to pages, Elements,
seed 001), run on SQLite, PostgreSQL and MariaDB.

Each test is one realistic session: declare tables with ``@schema``, insert, query with
class-level operators and MySQL-syntax strings, populate, fetch, update and delete.
"""
from __future__ import annotations

import datetime
import decimal
import os
import pathlib
import uuid

import numpy as np
import pandas as pd
import pytest

import joinflow as dj
from joinflow import errors

# --------------------------------------------------------------------------- tutorial pipeline
MICE = [
    (0, "2017-03-01", "M"),
    (1, "2016-11-19", "M"),
    (2, "2016-11-20", "U"),
    (5, "2016-12-25", "F"),
    (10, "2017-01-01", "F"),
    (11, "2017-01-03", "F"),
    (100, "2017-05-12", "F"),
]
SESSIONS = [
    {"mouse_id": 0, "session_date": "2017-05-15", "experiment_setup": 0, "experimenter": "Edgar Y. Walker"},
    {"mouse_id": 0, "session_date": "2017-05-19", "experiment_setup": 0, "experimenter": "Edgar Y. Walker"},
    {"mouse_id": 5, "session_date": "2017-01-05", "experiment_setup": 1, "experimenter": "Fabian Sinz"},
    {"mouse_id": 100, "session_date": "2017-05-25", "experiment_setup": 1, "experimenter": "Jake Reimer"},
]
SCANS = [
    dict(mouse_id=0, session_date="2017-05-15", scan_idx=1, depth=150, wavelength=920,
         laser_power=26, fps=15, file_name="example_scan_01.tif"),
    dict(mouse_id=0, session_date="2017-05-15", scan_idx=2, depth=200, wavelength=920,
         laser_power=24, fps=15, file_name="example_scan_02.tif"),
    dict(mouse_id=0, session_date="2017-05-19", scan_idx=1, depth=150, wavelength=1020,
         laser_power=26, fps=15, file_name="example_scan_03.tif"),
    dict(mouse_id=100, session_date="2017-05-25", scan_idx=1, depth=350, wavelength=920,
         laser_power=30, fps=30, file_name="example_scan_04.tif"),
]


def _image(key):
    """The 'tif file' of a scan: a deterministic 6x8 image."""
    seed = key["scan_idx"] * 7 + int(str(key["session_date"])[-2:]) + key["mouse_id"]
    return (np.arange(48, dtype=np.float64).reshape(6, 8) * (seed % 5 + 1)) % 17


def _tutorial(schema, data=True):
    """The classic DataJoint tutorial pipeline (Mouse / Session / Scan / SegmentationParam /
    Segmentation with a Roi part table), written as in the tutorials (native MySQL types)."""

    @schema
    class Mouse(dj.Manual):
        definition = """
        # Experimental animals
        mouse_id             : int                          # Unique animal ID
        ---
        dob                  : date                         # date of birth
        sex                  : enum('M', 'F', 'U')          # sex
        """

    @schema
    class Session(dj.Manual):
        definition = """
        # Experiment session
        -> Mouse
        session_date               : date                         # date
        ---
        experiment_setup           : int                          # experiment setup ID
        experimenter               : varchar(100)                 # experimenter name
        """

    @schema
    class Scan(dj.Manual):
        definition = """
        -> Session
        scan_idx    : int           # scan index
        ---
        depth       : float         # depth of this scan
        wavelength  : float         # wavelength used
        laser_power : float         # power of the laser used
        fps         : float         # frames per second
        file_name   : varchar(128)  # name of the tif file
        """

    @schema
    class SegmentationParam(dj.Lookup):
        definition = """
        seg_param_id : int
        ---
        threshold    : float    # fraction of the max intensity
        min_size     : int      # minimal number of pixels in an ROI row
        """
        contents = [(1, 0.5, 2), (2, 0.75, 1)]

    @schema
    class Segmentation(dj.Computed):
        definition = """
        -> Scan
        -> SegmentationParam
        ---
        segmented_masks : longblob   # overview of segmented masks
        n_rois          : int
        """

        class Roi(dj.Part):
            definition = """
            -> master
            roi_idx : int
            ---
            mask    : longblob   # mask of this ROI
            area    : int
            """

        def make(self, key):
            image = _image(key)
            threshold, min_size = (SegmentationParam & key).fetch1("threshold", "min_size")
            masks = image > threshold * image.max()
            rois = [row for row in range(masks.shape[0]) if masks[row].sum() >= min_size]
            self.insert1(dict(key, segmented_masks=masks, n_rois=len(rois)))
            self.Roi.insert(
                dict(key, roi_idx=i, mask=np.where(masks[row])[0], area=int(masks[row].sum()))
                for i, row in enumerate(rois))

    if data:
        Mouse.insert(MICE)
        Session.insert(SESSIONS)
        Scan.insert(SCANS)
    return Mouse, Session, Scan, SegmentationParam, Segmentation


def _expected_rois(key, threshold, min_size):
    image = _image(key)
    masks = image > threshold * image.max()
    return [row for row in range(6) if masks[row].sum() >= min_size]


# =========================================================================== tutorial: basics
def test_tutorial_insert_styles_and_fetch(schema):
    Mouse, Session, *_ = _tutorial(schema, data=False)
    Mouse.insert1(dict(mouse_id=0, dob="2017-03-01", sex="M"))        # dict
    Mouse.insert1((1, "2016-11-19", "M"))                              # tuple in heading order
    Mouse.insert([(2, "2016-11-20", "U"), (5, "2016-12-25", "F")])     # list of tuples
    Mouse.insert([{"mouse_id": 10, "dob": datetime.date(2017, 1, 1), "sex": "F"}])
    assert len(Mouse) == 5
    assert Mouse.heading.primary_key == ["mouse_id"]
    assert Mouse.primary_key == ["mouse_id"]

    data = Mouse.fetch()                           # a structured (record) array
    assert isinstance(data, np.ndarray) and data.dtype.names == ("mouse_id", "dob", "sex")
    assert sorted(data["mouse_id"].tolist()) == [0, 1, 2, 5, 10]

    row = (Mouse & {"mouse_id": 0}).fetch1()
    assert row == {"mouse_id": 0, "dob": datetime.date(2017, 3, 1), "sex": "M"}
    assert (Mouse & "mouse_id = 1").fetch1("dob") == datetime.date(2016, 11, 19)
    sex, dob = (Mouse & {"mouse_id": 10}).fetch1("sex", "dob")
    assert (sex, dob) == ("F", datetime.date(2017, 1, 1))
    assert (Mouse & "mouse_id = 5").fetch1("KEY") == {"mouse_id": 5}
    assert type((Mouse & "mouse_id = 5").fetch1("mouse_id")) is int

    keys = Mouse.fetch("KEY")
    assert keys == [{"mouse_id": i} for i in (0, 1, 2, 5, 10)]
    dicts = Mouse.fetch(as_dict=True)
    assert dicts[0] == {"mouse_id": 0, "dob": datetime.date(2017, 3, 1), "sex": "M"}
    assert Mouse.fetch("mouse_id", "sex", as_dict=True)[-1] == {"mouse_id": 10, "sex": "F"}
    ids, sexes = Mouse.fetch("mouse_id", "sex")
    assert list(ids) == [0, 1, 2, 5, 10] and list(sexes) == ["M", "M", "U", "F", "F"]

    with pytest.raises(errors.JoinflowError, match="(?i)fetch1|one"):
        Mouse.fetch1()
    with pytest.raises(errors.JoinflowError, match="(?i)fetch1|one"):
        (Mouse & "mouse_id > 100").fetch1("dob")


def test_fetch_order_by_limit_offset(schema):
    Mouse, Session, *_ = _tutorial(schema)
    assert list(Mouse.fetch("mouse_id", order_by="dob desc", limit=3)) == [100, 0, 11]
    assert Mouse.fetch("KEY", order_by="mouse_id DESC", limit=2) == [{"mouse_id": 100},
                                                                     {"mouse_id": 11}]
    assert list(Mouse.fetch("mouse_id", order_by="mouse_id", limit=2, offset=2)) == [2, 5]
    ids, dobs = Mouse.fetch("mouse_id", "dob", order_by="dob")
    assert list(ids) == [1, 2, 5, 10, 11, 0, 100]
    assert dobs[0] == datetime.date(2016, 11, 19)
    rows = Mouse.fetch(as_dict=True, order_by=("sex", "mouse_id desc"))
    assert [(r["sex"], r["mouse_id"]) for r in rows] == [
        ("F", 100), ("F", 11), ("F", 10), ("F", 5), ("M", 1), ("M", 0), ("U", 2)]
    assert [r["mouse_id"] for r in Mouse.fetch(as_dict=True, order_by="KEY DESC", limit=2)] \
        == [100, 11]
    # 2.x output methods take the same arguments
    assert [r["mouse_id"] for r in Mouse.to_dicts(order_by="dob", limit=2)] == [1, 2]
    assert sorted(k["mouse_id"] for k in (Mouse & dj.Top(2, "dob DESC")).keys()) == [0, 100]
    latest = (Session & dj.Top(1, "session_date DESC")).fetch1()
    assert latest["experimenter"] == "Jake Reimer"
    # iterate over keys, fetch1 per key (a very common loop)
    dates = [(Session & key).fetch1("session_date") for key in Session.fetch("KEY")]
    assert sorted(dates) == sorted(datetime.date.fromisoformat(s["session_date"]) for s in SESSIONS)


def test_fetch_frame_and_dataframe_roundtrip(schema):
    Mouse, Session, *_ = _tutorial(schema)

    @schema
    class MouseArchive(dj.Manual):
        definition = """
        mouse_id : int
        ---
        dob      : date
        sex      : enum('M', 'F', 'U')
        """

    df = Mouse.fetch(format="frame")
    assert isinstance(df, pd.DataFrame) and list(df.index.names) == ["mouse_id"]
    assert list(df.columns) == ["dob", "sex"] and len(df) == 7
    assert df.loc[5, "sex"] == "F"
    frame = (Mouse & 'sex = "F"').to_pandas()
    MouseArchive.insert(frame)                               # PK index goes back into columns
    assert sorted(MouseArchive.fetch("mouse_id")) == [5, 10, 11, 100]
    assert (MouseArchive & {"mouse_id": 5}).fetch1("dob") == datetime.date(2016, 12, 25)
    # a user-built frame with a plain RangeIndex
    MouseArchive.insert(pd.DataFrame({"mouse_id": [0, 1], "dob": ["2017-03-01", "2016-11-19"],
                                      "sex": ["M", "M"]}))
    assert len(MouseArchive) == 6
    # restrict by a DataFrame of keys
    assert len(Mouse & pd.DataFrame({"mouse_id": [0, 5, 7]})) == 2
    sess = (Session * Mouse).fetch(format="frame")
    assert list(sess.index.names) == ["mouse_id", "session_date"]
    assert set(sess.columns) >= {"experimenter", "dob", "sex"}


# =========================================================================== restrictions
def test_restrictions_as_users_type_them(schema):
    Mouse, Session, *_ = _tutorial(schema)

    def ids(q):
        return sorted(q.fetch("mouse_id"))

    assert ids(Mouse & 'sex = "M"') == [0, 1]
    assert ids(Mouse & "sex = 'F'") == [5, 10, 11, 100]
    assert ids(Mouse & 'dob > "2017-01-01"') == [0, 11, 100]
    assert ids(Mouse & 'dob >= "2017-01-01"') == [0, 10, 11, 100]
    assert ids(Mouse & 'sex = "F"' & 'dob < "2017-01-02"') == [5, 10]
    assert ids(Mouse & "`sex` = 'U'") == [2]
    assert ids(Mouse & "mouse_id IN (0, 1, 5, 7)") == [0, 1, 5]
    assert ids(Mouse & "mouse_id NOT IN (0, 1)") == [2, 5, 10, 11, 100]
    assert ids(Mouse & 'sex in ("M", "U")') == [0, 1, 2]
    assert ids(Mouse & "mouse_id BETWEEN 1 AND 10") == [1, 2, 5, 10]
    assert ids(Mouse & 'dob BETWEEN "2016-12-01" AND "2016-12-31"') == [5]
    assert ids(Mouse & "dob <= CURDATE()") == [0, 1, 2, 5, 10, 11, 100]
    assert ids(Mouse & "dob < NOW()") == [0, 1, 2, 5, 10, 11, 100]
    assert ids(Mouse & "YEAR(dob) = 2016") == [1, 2, 5]
    assert ids(Mouse & "MONTH(dob) = 11 AND DAY(dob) > 19") == [2]
    assert ids(Mouse & 'DATEDIFF(dob, "2017-01-01") BETWEEN 0 AND 2') == [10, 11]
    assert ids(Mouse & "mouse_id % 5 = 0") == [0, 5, 10, 100]
    assert ids(Mouse - {"sex": "F"}) == [0, 1, 2]
    assert ids(Mouse & {"sex": "F", "dob": "2017-01-03"}) == [11]
    assert ids(Mouse & [{"mouse_id": 0}, {"mouse_id": 5}]) == [0, 5]
    assert ids(Mouse & ['sex = "U"', "mouse_id = 100"]) == [2, 100]    # OR-list
    assert ids(Mouse & dj.AndList(['sex = "F"', "mouse_id > 10"])) == [11, 100]
    assert ids(Mouse & dj.Not('sex = "F"')) == [0, 1, 2]
    assert ids(Mouse - ['sex = "F"', 'sex = "U"']) == [0, 1]
    assert ids(Mouse & {"no_such_attr": 1}) == [0, 1, 2, 5, 10, 11, 100]   # ignored key
    assert ids(Mouse & []) == []
    assert len(Session & 'experimenter LIKE "Edgar%"') == 2
    assert len(Session & "experimenter LIKE '%Sinz'") == 1
    assert len(Session & 'experimenter NOT LIKE "%Y.%"') == 2
    assert {"mouse_id": 0} in Mouse and {"mouse_id": 3} not in Mouse
    with pytest.raises(errors.QueryError, match="weight"):
        (Mouse & "weight > 20").fetch()


def test_restrict_by_related_tables(schema):
    Mouse, Session, Scan, *_ = _tutorial(schema)
    assert sorted((Mouse & Session).fetch("mouse_id")) == [0, 5, 100]
    assert sorted((Mouse - Session).fetch("mouse_id")) == [1, 2, 10, 11]
    assert len(Session - Scan) == 1
    edgar = Session & 'experimenter = "Edgar Y. Walker"'
    assert len(Scan & edgar) == 3
    assert sorted((Mouse & (Session & 'session_date > "2017-05-16"')).fetch("mouse_id")) == [0, 100]
    deep = Scan & "depth > 160"
    assert sorted((Mouse & deep).fetch("mouse_id")) == [0, 100]
    assert len(Mouse & (Session & "experiment_setup = 1") & 'sex = "F"') == 2
    females_with_scans = (Mouse & 'sex = "F"') & Scan
    assert females_with_scans.keys() == [{"mouse_id": 100}]


# =========================================================================== join / proj
def test_join_and_projection(schema):
    Mouse, Session, Scan, *_ = _tutorial(schema)
    q = Mouse * Session
    assert len(q) == 4
    assert q.heading.primary_key == ["mouse_id", "session_date"]
    rows = (Mouse * Session & 'sex = "M"' & 'session_date > "2017-05-16"').fetch(as_dict=True)
    assert len(rows) == 1 and rows[0]["dob"] == datetime.date(2017, 3, 1)
    assert rows[0]["session_date"] == datetime.date(2017, 5, 19)

    renamed = Mouse.proj(birthday="dob")
    assert renamed.heading.names == ["mouse_id", "birthday"]
    assert (renamed & {"mouse_id": 0}).fetch1("birthday") == datetime.date(2017, 3, 1)
    assert Mouse.proj().heading.names == ["mouse_id"]
    assert Mouse.proj(..., "-sex").heading.names == ["mouse_id", "dob"]
    assert Scan.proj("depth", power="laser_power").heading.secondary_attributes == ["depth", "power"]

    mm = Scan.proj(depth_mm="depth / 1000", energy="laser_power * fps")
    row = (mm & {"mouse_id": 100}).fetch1()
    assert row["depth_mm"] == pytest.approx(0.35) and row["energy"] == pytest.approx(900)
    age = Mouse.proj(age_days='DATEDIFF("2018-01-01", dob)')
    assert (age & {"mouse_id": 0}).fetch1("age_days") == 306
    assert sorted((age & "age_days > 365").fetch("mouse_id")) == [1, 2, 5]
    born = Mouse.proj(year="YEAR(dob)", label='CONCAT(sex, "-", mouse_id)')
    assert (born & "mouse_id = 10").fetch1("year", "label") == (2017, "F-10")

    # join of a table with a projection of itself, restricted on the computed attribute
    scans = Session * Scan.proj(..., deep="depth > 160") & "deep"
    assert sorted(scans.fetch("scan_idx", "depth", as_dict=True),
                  key=lambda r: r["depth"]) == [{"scan_idx": 2, "depth": 200.0},
                                                {"scan_idx": 1, "depth": 350.0}]


def test_aggregation_and_universal_sets(schema):
    Mouse, Session, Scan, *_ = _tutorial(schema)
    # 2.x default keeps all mice; count a column of the group so no-session mice count 0
    counts = Mouse.aggr(Session, n="count(session_date)")
    assert len(counts) == 7
    assert dict(zip(*counts.fetch("mouse_id", "n"))) == {0: 2, 1: 0, 2: 0, 5: 1, 10: 0, 11: 0,
                                                         100: 1}
    assert sorted((counts & "n > 1").fetch("mouse_id")) == [0]
    kept = Mouse.aggr(Session, ..., n="count(session_date)")
    assert kept.heading.names == ["mouse_id", "dob", "sex", "n"]
    last = Mouse.aggr(Session, last_session="max(session_date)", exclude_nonmatching=True)
    assert len(last) == 3
    assert str((last & {"mouse_id": 0}).fetch1("last_session")) == "2017-05-19"
    assert sorted((last & 'last_session > "2017-05-01"').fetch("mouse_id")) == [0, 100]
    inner = Mouse.aggr(Session, n="count(*)", exclude_nonmatching=True)
    assert dict(zip(*inner.fetch("mouse_id", "n"))) == {0: 2, 5: 1, 100: 1}
    depth = Session.aggr(Scan, avg_depth="avg(depth)", n_scans="count(scan_idx)",
                         exclude_nonmatching=True)
    assert (depth & {"mouse_id": 0, "session_date": "2017-05-15"}).fetch1("avg_depth") == 175
    per_mouse = Mouse.aggr(Session * Scan, n_scans="count(scan_idx)")
    assert (per_mouse & "mouse_id = 0").fetch1("n_scans") == 3

    by_sex = dj.U("sex").aggr(Mouse, n="count(*)")
    assert dict(zip(*by_sex.fetch("sex", "n"))) == {"M": 2, "F": 4, "U": 1}
    assert by_sex.heading.primary_key == ["sex"]
    assert sorted((dj.U("sex") & Mouse).fetch("sex")) == ["F", "M", "U"]
    assert len(dj.U("experimenter") & Session) == 3
    per_person = dj.U("experimenter").aggr(Session, n="count(*)", first="min(session_date)")
    n, first = (per_person & 'experimenter = "Edgar Y. Walker"').fetch1("n", "first")
    assert n == 2 and str(first) == "2017-05-15"
    total = dj.U().aggr(Mouse, n="count(*)").fetch1()
    assert total == {"n": 7}
    females = dj.U().aggr(Mouse & 'sex = "F"', n="count(*)").fetch1("n")
    assert females == 4


def test_union_and_top(schema):
    Mouse, Session, *_ = _tutorial(schema)
    # operands of a union must not share secondary attributes: project them away
    with pytest.raises(errors.QueryError, match="secondary"):
        (Mouse & 'sex = "M"') + (Mouse & 'dob > "2017-04-01"')
    q = (Mouse & 'sex = "M"').proj() + (Mouse & 'dob > "2017-04-01"').proj()
    assert sorted(q.fetch("mouse_id")) == [0, 1, 100]
    q = (Mouse & 'sex = "M"').proj("sex") + (Mouse & 'dob > "2017-04-01"').proj("dob")
    rows = {r["mouse_id"]: r for r in q.fetch(as_dict=True)}
    assert rows[0]["sex"] == "M" and rows[100]["sex"] is None
    assert rows[100]["dob"] == datetime.date(2017, 5, 12)
    oldest = Mouse & dj.Top(3, "dob")
    assert sorted(oldest.fetch("mouse_id")) == [1, 2, 5]
    assert len(oldest & 'sex = "M"') == 1
    page = Mouse & dj.Top(2, "mouse_id", offset=2)
    assert page.keys() == [{"mouse_id": 2}, {"mouse_id": 5}]


# =========================================================================== populate
def test_tutorial_populate_master_and_parts(schema):
    Mouse, Session, Scan, SegmentationParam, Segmentation = _tutorial(schema)
    assert Segmentation.table_name == "__segmentation"
    assert Segmentation.Roi.table_name == "__segmentation__roi"
    assert SegmentationParam.table_name == "#segmentation_param"
    assert len(SegmentationParam) == 2                       # Lookup contents loaded
    assert Segmentation.progress() == (8, 8)
    assert len(Segmentation.key_source) == 8

    result = Segmentation.populate({"seg_param_id": 1})
    assert len(Segmentation) == 4 and Segmentation.progress() == (4, 8)
    assert result["success"] == 4 if isinstance(result, dict) else True
    Segmentation.populate('seg_param_id = 2', display_progress=True)
    assert len(Segmentation) == 8 and Segmentation.progress() == (0, 8)
    assert Segmentation.populate()["success"] == 0             # nothing left to do

    expected = 0
    for key in Segmentation.fetch("KEY"):
        threshold, min_size = (SegmentationParam & key).fetch1("threshold", "min_size")
        rows = _expected_rois(key, threshold, min_size)
        expected += len(rows)
        n_rois, masks = (Segmentation & key).fetch1("n_rois", "segmented_masks")
        assert n_rois == len(rows) == len(Segmentation.Roi & key)
        assert masks.dtype == np.bool_ and masks.shape == (6, 8)
        assert np.array_equal(masks, _image(key) > threshold * _image(key).max())
    assert len(Segmentation.Roi) == expected

    key = {"mouse_id": 0, "session_date": "2017-05-15", "scan_idx": 1, "seg_param_id": 2}
    roi = (Segmentation.Roi & key & "roi_idx = 0").fetch1()
    assert isinstance(roi["mask"], np.ndarray) and roi["area"] == len(roi["mask"])
    areas = (Segmentation.Roi & key).fetch("area", order_by="roi_idx")
    assert areas.sum() == (Segmentation & key).fetch1("segmented_masks").sum()
    # aggregate parts back onto the master
    agg = Segmentation.aggr(Segmentation.Roi, total_area="sum(area)", exclude_nonmatching=True)
    assert int((agg & key).fetch1("total_area")) == int(areas.sum())


def test_populate_direct_insert_errors_and_key_source(schema):
    Mouse, Session, Scan, SegmentationParam, Segmentation = _tutorial(schema)
    key = dict(mouse_id=0, session_date="2017-05-15", scan_idx=1, seg_param_id=1)
    with pytest.raises(errors.JoinflowError, match="(?i)make|populate|allow_direct_insert"):
        Segmentation.insert1(dict(key, segmented_masks=np.zeros(2), n_rois=0))
    Segmentation.insert1(dict(key, segmented_masks=np.zeros(2), n_rois=0),
                         allow_direct_insert=True)
    assert len(Segmentation) == 1

    @schema
    class DeepScanStats(dj.Computed):
        definition = """
        -> Scan
        ---
        mean_intensity : double
        """

        @property
        def key_source(self):
            return Scan & "depth > 160"

        def make(self, key):
            if key["mouse_id"] == 100:
                raise ValueError("corrupt tif file")
            self.insert1(dict(key, mean_intensity=float(_image(key).mean())))

    result = DeepScanStats.populate(suppress_errors=True)
    assert len(DeepScanStats) == 1                           # only scan_idx=2 of mouse 0
    errs = result["error_list"] if isinstance(result, dict) else result
    assert len(errs) == 1 and "corrupt" in str(errs[0][1])
    with pytest.raises(ValueError, match="corrupt"):
        DeepScanStats.populate()
    assert DeepScanStats.progress() == (1, 2)


def test_tripartite_make(schema):
    Mouse, Session, Scan, *_ = _tutorial(schema)

    @schema
    class ScanSummary(dj.Computed):
        definition = """
        -> Scan
        ---
        peak : float64
        """

        def make_fetch(self, key):
            return ((Scan & key).fetch1("file_name"),)

        def make_compute(self, key, file_name):
            return (float(_image(key).max()) + len(file_name),)

        def make_insert(self, key, peak):
            self.insert1(dict(key, peak=peak))

    ScanSummary.populate()
    assert len(ScanSummary) == 4
    key = Scan.fetch("KEY")[0]
    assert (ScanSummary & key).fetch1("peak") == float(_image(key).max()) + 19


# =========================================================================== delete
def test_delete_cascades_through_pipeline(schema):
    Mouse, Session, Scan, SegmentationParam, Segmentation = _tutorial(schema)
    Segmentation.populate()
    n_roi0 = len(Segmentation.Roi & {"mouse_id": 0})
    n_roi = len(Segmentation.Roi)
    assert (Mouse - Session).delete() == 4                   # mice without sessions
    assert len(Mouse) == 3
    assert (Mouse & "mouse_id = 0").delete() == 1            # counts the table called on
    assert len(Session) == 2 and len(Scan) == 1 and len(Segmentation) == 2
    assert len(Segmentation.Roi) == n_roi - n_roi0
    assert (Mouse & "mouse_id = 0").delete() == 0            # nothing left to delete
    # deleting a lookup entry cascades into the computed table and its parts
    assert (SegmentationParam & "seg_param_id = 2").delete() == 1
    assert len(Segmentation) == 1 and len(Segmentation.Roi & "seg_param_id = 2") == 0
    # a master delete takes its parts
    (Segmentation & {"mouse_id": 100}).delete()
    assert len(Segmentation) == 0 and len(Segmentation.Roi) == 0
    assert len(Scan) == 1


def test_delete_part_and_delete_quick_rules(schema):
    Mouse, Session, Scan, SegmentationParam, Segmentation = _tutorial(schema)
    Segmentation.populate()
    n = len(Segmentation.Roi)
    with pytest.raises(errors.JoinflowError, match="(?i)part"):
        (Segmentation.Roi & "seg_param_id = 1").delete()
    assert len(Segmentation.Roi) == n                        # rolled back
    with pytest.raises(errors.IntegrityError):
        (Session & {"mouse_id": 0}).delete_quick()           # children reference it
    assert len(Session) == 4
    assert (Scan & {"mouse_id": 100}).delete() == 1
    (Session & {"mouse_id": 100}).delete_quick()
    assert len(Session) == 3
    # delete everything under Scan
    count = Scan.delete()
    assert count == 3 and len(Segmentation) == 0 and len(Segmentation.Roi) == 0


# =========================================================================== update / insert
def test_update1(schema):
    @schema
    class Subject(dj.Manual):
        definition = """
        subject_id : int
        ---
        sex = "U"          : enum('M', 'F', 'U')
        weight = null      : float              # grams
        notes = ""         : varchar(255)
        """

    Subject.insert1(dict(subject_id=1, weight=25.5))
    Subject.insert1(dict(subject_id=2, sex="F", notes="tail mark"))
    assert (Subject & {"subject_id": 1}).fetch1() == {"subject_id": 1, "sex": "U",
                                                      "weight": 25.5, "notes": ""}
    Subject.update1(dict(subject_id=1, sex="M", notes="ear tag 7"))
    assert (Subject & "subject_id = 1").fetch1("sex", "notes", "weight") == ("M", "ear tag 7", 25.5)
    Subject.update1(dict(subject_id=1, weight=None))         # reset a nullable to NULL
    assert (Subject & "subject_id = 1").fetch1("weight") is None
    assert len(Subject & "weight IS NULL") == 2
    with pytest.raises(errors.JoinflowError, match="(?i)primary key"):
        Subject.update1(dict(sex="F"))
    with pytest.raises(errors.JoinflowError, match="(?i)exist"):
        Subject.update1(dict(subject_id=3, sex="F"))
    with pytest.raises(errors.JoinflowError, match="(?i)restrict"):
        (Subject & "subject_id = 2").update1(dict(subject_id=2, sex="M"))
    with pytest.raises(errors.JoinflowError, match="species"):
        Subject.update1(dict(subject_id=2, species="rat"))
    assert (Subject & "subject_id = 2").fetch1("sex") == "F"


def test_insert_options_and_errors(schema):
    Mouse, Session, *_ = _tutorial(schema, data=False)
    Mouse.insert1((0, "2017-03-01", "M"))
    with pytest.raises(errors.DuplicateError, match="(?i)duplicate"):
        Mouse.insert1((0, "2017-03-02", "F"))
    Mouse.insert([(0, "2017-03-02", "F"), (1, "2016-11-19", "M")], skip_duplicates=True)
    assert (Mouse & {"mouse_id": 0}).fetch1("sex") == "M" and len(Mouse) == 2
    Mouse.insert1((0, "2017-03-02", "F"), replace=True)
    assert (Mouse & {"mouse_id": 0}).fetch1("sex", "dob") == ("F", datetime.date(2017, 3, 2))
    with pytest.raises(errors.JoinflowError, match="weight"):
        Mouse.insert1(dict(mouse_id=2, dob="2017-01-01", sex="M", weight=20))
    Mouse.insert1(dict(mouse_id=2, dob="2017-01-01", sex="M", weight=20),
                  ignore_extra_fields=True)
    assert len(Mouse) == 3
    with pytest.raises(errors.JoinflowError, match="dob"):
        Mouse.insert1(dict(mouse_id=3, sex="M"))             # missing required value
    with pytest.raises(errors.JoinflowError):
        Mouse.insert1(dict(mouse_id=4, dob="2017-01-01", sex="X"))   # not in the enum
    with pytest.raises(errors.ForeignKeyError):
        Session.insert1(dict(mouse_id=99, session_date="2017-05-15", experiment_setup=0,
                             experimenter="nobody"))
    assert len(Session) == 0
    # one insert is atomic: a bad row rolls back the good ones
    with pytest.raises(errors.IntegrityError):
        Session.insert([dict(mouse_id=0, session_date="2017-05-15", experiment_setup=0,
                             experimenter="a"),
                        dict(mouse_id=98, session_date="2017-05-16", experiment_setup=0,
                             experimenter="b")])
    assert len(Session) == 0
    # a generator of dicts, as in populate code
    Session.insert(dict(mouse_id=m, session_date="2017-06-01", experiment_setup=m,
                        experimenter="gen") for m in (0, 1, 2))
    assert len(Session & 'experimenter = "gen"') == 3


def test_insert_from_query_server_side(schema):
    Mouse, Session, *_ = _tutorial(schema)

    @schema
    class FemaleMouse(dj.Manual):
        definition = """
        -> Mouse
        ---
        dob : date
        """

    FemaleMouse.insert(Mouse & 'sex = "F"', ignore_extra_fields=True)
    assert sorted(FemaleMouse.fetch("mouse_id")) == [5, 10, 11, 100]
    FemaleMouse.insert((Mouse & 'sex = "F"').proj("dob"), skip_duplicates=True)
    assert len(FemaleMouse) == 4
    FemaleMouse.insert(Mouse.proj("dob") & 'mouse_id = 0')
    assert (FemaleMouse & {"mouse_id": 0}).fetch1("dob") == datetime.date(2017, 3, 1)


# =========================================================================== seed 001
def test_seed001_blobs_and_attachments(schema, tmp_path):
    @schema
    class Test(dj.Manual):
        definition = """
        # Test blob and attachments
        id : int
        ---
        b0 : longblob # a python object stored internally in the table
        a0 : attach # a file attachment stored internally in the table
        """

    rng = np.random.default_rng(0)
    q0 = rng.standard_normal((3, 4))
    f0 = str(tmp_path / "outfile0.npy")
    np.save(f0, q0)
    assert Test.delete() == 0                                # "Nothing to delete"
    Test.insert1(dict(id=1, b0=q0, a0=f0))
    os.remove(f0)
    result = Test.fetch(as_dict=True)
    assert np.array_equal(q0, result[0]["b0"])
    path = result[0]["a0"]
    assert pathlib.Path(path).name == "outfile0.npy"
    assert np.array_equal(np.load(path), q0)
    assert pathlib.Path(path).parent == pathlib.Path(dj.config["download_path"])
    files = Test.fetch("a0")
    assert np.array_equal(np.load(files[0]), q0)
    assert Test.delete() == 1


def test_seed001_lookup_imported_attach_computed(schema, tmp_path):
    web = tmp_path / "web"
    web.mkdir()

    @schema
    class WebImage(dj.Lookup):
        definition = """
        # A reference to a web image
        image_number : int
        ---
        image_name : varchar(30)
        image_description : varchar(1024)
        image_url : varchar(1024)
        unique index(image_name)
        """
        contents = [
            (0, "pyramidal",
             'Coronal section containing the chronically imaged pyramidal neuron "dow" '
             "(visualized by green GFP). Scale bar: 100 um",
             "https://upload.wikimedia.org/wikipedia/commons/d/dc/PLoSBiol4.e126.Fig6fNeuron.jpg"),
            (1, "striatal",
             "Mouse spiny striatal projection neuron expressing a transgenic fluorescent protein",
             "https://upload.wikimedia.org/wikipedia/commons/e/e8/Striatal_neuron.jpg"),
        ]

    def download(url):  # stands in for requests.get(url).content
        n = len(url) % 7 + 3
        return np.arange(n * n, dtype=np.uint8).reshape(n, n)

    @schema
    class OriginalFile(dj.Imported):
        definition = """
        -> WebImage
        ---
        image_file : attach
        """

        def make(self, key):
            url = (WebImage & key).fetch1("image_url")
            local_file = os.path.join(str(web), url.split("/")[-1])
            with open(local_file, "wb") as f:
                np.save(f, download(url))
            self.insert1(dict(key, image_file=local_file))
            os.remove(local_file)

    @schema
    class Slide(dj.Computed):
        definition = """
        -> OriginalFile
        ---
        image_array : longblob   # array in the table
        """

        def make(self, key):
            file = (OriginalFile & key).fetch1("image_file")
            self.insert1(dict(key, image_array=np.load(file)))
            os.remove(file)

    assert len(WebImage) == 2
    assert (WebImage & "image_number=0").fetch1("image_name") == "pyramidal"
    assert '"dow"' in (WebImage & "image_number=0").fetch1("image_description")
    with pytest.raises(errors.DuplicateError):
        WebImage.insert1((2, "striatal", "copy", "http://example.org/x.jpg"))
    OriginalFile.populate()
    assert len(OriginalFile) == 2 and not os.listdir(web)
    file = (OriginalFile & "image_number=1").fetch1("image_file")
    assert pathlib.Path(file).name == "Striatal_neuron.jpg"
    url1 = (WebImage & "image_number=1").fetch1("image_url")
    assert np.array_equal(np.load(file), download(url1))
    os.remove(file)
    Slide.populate()
    img = (Slide & "image_number=0").fetch1("image_array")
    url0 = (WebImage & "image_number=0").fetch1("image_url")
    assert img.dtype == np.uint8 and np.array_equal(img, download(url0))
    assert len(OriginalFile.fetch("image_file")) == 2
    assert (WebImage & "image_number=0").delete() == 1
    assert len(Slide) == 1 and len(OriginalFile) == 1 and len(WebImage) == 1
    assert schema.list_tables().index("#web_image") < schema.list_tables().index("_original_file") \
        < schema.list_tables().index("__slide")


def test_blob_values_roundtrip(schema):
    @schema
    class Recording(dj.Manual):
        definition = """
        recording_id : int
        ---
        traces : longblob
        meta = null : longblob
        """

    traces = np.random.default_rng(1).standard_normal((4, 100)).astype(np.float32)
    meta = {"rate": 30.0, "channels": [1, 2, 3], "name": "probe A", "ok": True,
            "coords": np.array([[1, 2], [3, 4]], dtype=np.int16)}
    Recording.insert1(dict(recording_id=1, traces=traces, meta=meta))
    Recording.insert1(dict(recording_id=2, traces=np.arange(5)))
    t, m = (Recording & {"recording_id": 1}).fetch1("traces", "meta")
    assert t.dtype == np.float32 and np.array_equal(t, traces)
    assert m["rate"] == 30.0 and list(m["channels"]) == [1, 2, 3] and m["name"] == "probe A"
    assert np.array_equal(m["coords"], meta["coords"]) and m["coords"].dtype == np.int16
    assert (Recording & "recording_id = 2").fetch1("meta") is None
    assert len(Recording & "meta IS NULL") == 1
    all_traces = Recording.fetch("traces", order_by="recording_id")
    assert all_traces.dtype == object and np.array_equal(all_traces[1], np.arange(5))
    col = Recording.fetch("traces", squeeze=True)
    assert col[1].shape == (5,)


# =========================================================================== special types
def test_uuid_primary_key(schema):
    @schema
    class Subject(dj.Manual):
        definition = """
        subject_uuid : uuid
        ---
        subject_name : varchar(64)
        """

    @schema
    class Session(dj.Manual):
        definition = """
        -> Subject
        session_uuid : uuid
        ---
        session_start : datetime
        """

    u1, u2 = uuid.UUID("c8a2e0e8-4a2e-4b86-9c1f-3b6f1e3c4d5e"), uuid.uuid4()
    Subject.insert([dict(subject_uuid=u1, subject_name="alpha"),
                    dict(subject_uuid=str(u2), subject_name="beta")])   # a string works too
    s1 = uuid.uuid5(u1, "session-1")
    start = datetime.datetime(2023, 4, 5, 13, 30, 15)
    Session.insert1(dict(subject_uuid=u1, session_uuid=s1, session_start=start))
    assert (Subject & {"subject_uuid": u1}).fetch1("subject_name") == "alpha"
    assert (Subject & {"subject_uuid": str(u2)}).fetch1("subject_name") == "beta"
    key = (Subject & 'subject_name = "beta"').fetch1("KEY")
    assert key == {"subject_uuid": u2} and isinstance(key["subject_uuid"], uuid.UUID)
    row = (Subject * Session).fetch1()
    assert row["session_uuid"] == s1 and row["session_start"] == start
    assert (Session & 'session_start > "2023-04-05 12:00:00"').fetch1("session_uuid") == s1
    assert len(Subject - Session) == 1
    with pytest.raises(errors.JoinflowError, match="(?i)uuid"):
        Subject.insert1(dict(subject_uuid="not-a-uuid", subject_name="x"))
    (Subject & {"subject_uuid": u1}).delete()
    assert len(Session) == 0


def test_json_attribute(schema):
    @schema
    class Param(dj.Lookup):
        definition = """
        param_id : int
        ---
        params : json
        description = "" : varchar(100)
        """
        contents = [
            {"param_id": 1, "params": {"method": "kmeans", "k": 3, "tol": 0.5}},
            {"param_id": 2, "params": {"method": "dbscan", "eps": 0.25, "tags": ["a", "b"]},
             "description": "density"},
        ]

    assert (Param & {"param_id": 2}).fetch1("params") == {"method": "dbscan", "eps": 0.25,
                                                          "tags": ["a", "b"]}
    Param.insert1(dict(param_id=3, params=[1, 2, {"x": None}]))
    assert (Param & "param_id = 3").fetch1("params") == [1, 2, {"x": None}]
    assert (Param & "params->>'$.method' = 'kmeans'").fetch1("param_id") == 1
    assert (Param & "`params`->>'$.method' LIKE '%scan'").fetch1("param_id") == 2
    assert (Param & {"params.method": "dbscan"}).fetch1("param_id") == 2
    assert (Param & {"params.k": 3}).fetch1("param_id") == 1
    assert (Param & {"params.eps": 0.25}).fetch1("param_id") == 2
    Param.update1(dict(param_id=1, params={"method": "kmeans", "k": 4}))
    assert (Param & "param_id = 1").fetch1("params")["k"] == 4
    names = Param.proj(method="params->>'$.method'") & "param_id < 3"
    assert dict(zip(*names.fetch("param_id", "method"))) == {1: "kmeans", 2: "dbscan"}


def _team(schema):
    """The JSON example of the DataJoint docs/tests: a Team with a car."""

    @schema
    class Team(dj.Lookup):
        definition = """
        name : varchar(40)
        ---
        car = null : json
        """
        contents = [
            ("engineering", {"name": "Rever", "length": 20.5, "inspected": True,
                             "tire_pressure": [32, 31, 33, 34],
                             "headlights": [{"side": "left", "hyper_white": None},
                                            {"side": "right", "hyper_white": None}]}),
            ("business", {"name": "Chaching", "length": 100, "safety_inspected": False,
                          "tire_pressure": [34, 30, 27, 32],
                          "headlights": [{"side": "left", "hyper_white": True},
                                         {"side": "right", "hyper_white": True}]}),
            ("marketing", None),
        ]

    return Team


def test_json_dict_restrictions_docs_example(schema):
    Team = _team(schema)
    assert (Team & {"car.name": "Chaching"}).fetch1("name") == "business"
    assert (Team & {"car.length": 20.5}).fetch1("name") == "engineering"
    assert (Team & {"car.inspected": True}).fetch1("name") == "engineering"
    assert (Team & {"car": None}).fetch1("name") == "marketing"
    assert (Team & "car IS NULL").fetch1("name") == "marketing"
    assert (Team & "`car`->>'$.name' LIKE '%ching%'").fetch1("name") == "business"
    assert (Team & "`car`->>'$.inspected' IS NOT NULL").fetch1("name") == "engineering"


def _xfail_on(request, backend, backends, reason):
    if backend in backends:
        request.applymarker(pytest.mark.xfail(reason=reason, strict=True))


def test_json_dict_restriction_by_array(schema, backend, request):
    Team = _team(schema)
    assert (Team & {"car.tire_pressure": [34, 30, 27, 32]}).fetch1("name") == "business"


def test_json_dict_restriction_json_null(schema, backend, request):
    Team = _team(schema)
    q = Team & {"car.headlights[0].hyper_white": None}
    assert q.fetch("name", order_by="name", as_dict=True) == [{"name": "engineering"},
                                                               {"name": "marketing"}]


def test_json_string_numeric_comparison(schema, backend, request):
    Team = _team(schema)
    assert (Team & "`car`->>'$.length' > 30").fetch1("name") == "business"
    assert (Team & "car->>'$.length' < 30").fetch1("name") == "engineering"


def test_json_extract_comparison(schema, backend, request):
    Team = _team(schema)
    assert (Team & "JSON_EXTRACT(car, '$.length') > 30").fetch1("name") == "business"
    assert (Team & 'JSON_EXTRACT(car, "$.name") = "Rever"').fetch1("name") == "engineering"


def test_aggregate_result_types_match_columns(schema, backend):
    Mouse, Session, *_ = _tutorial(schema)

    @schema
    class Payment(dj.Manual):
        definition = """
        payment_id : int
        ---
        amount : decimal(6,2)
        """

    Payment.insert([(1, "10.25"), (2, "5.50")])
    last = Mouse.aggr(Session, last_session="max(session_date)", exclude_nonmatching=True)
    assert (last & {"mouse_id": 0}).fetch1("last_session") == datetime.date(2017, 5, 19)
    total = dj.U().aggr(Mouse, youngest="max(dob)", oldest="min(dob)").fetch1()
    assert total == {"youngest": datetime.date(2017, 5, 12), "oldest": datetime.date(2016, 11, 19)}
    assert dj.U().aggr(Payment, s="sum(amount)").fetch1("s") == decimal.Decimal("15.75")
    assert dj.U().aggr(Payment, m="max(amount)").fetch1("m") == decimal.Decimal("10.25")


def test_heading_attribute_fields(schema):
    Mouse, Session, Scan, *_ = _tutorial(schema, data=False)
    attrs = Scan.heading.attributes
    assert attrs["scan_idx"].in_key and not attrs["depth"].in_key
    assert attrs["depth"].comment == "depth of this scan"
    assert not attrs["depth"].nullable
    assert attrs["file_name"].type == "varchar(128)"             # a string, as in DataJoint
    assert isinstance(Mouse.heading.attributes["sex"].type, str)
    assert Mouse.heading.attributes["sex"].type.lower().startswith("enum")


def test_decimal_datetime_defaults(schema):
    @schema
    class Scope(dj.Lookup):
        definition = """
        scope : varchar(16)
        """
        contents = [("2p-A",), ("2p-B",)]

    @schema
    class Laser(dj.Manual):
        definition = """
        -> Scope
        laser_id : smallint
        ---
        laser_wavelength : decimal(5,1)   # nm
        laser_power      : decimal(4,1)   # mW
        calibrated = 0   : tinyint
        entry_time = CURRENT_TIMESTAMP : timestamp
        """

    Laser.insert1(dict(scope="2p-A", laser_id=1, laser_wavelength=920.5, laser_power="30.2"))
    Laser.insert1(dict(scope="2p-B", laser_id=1, laser_wavelength=decimal.Decimal("1020.0"),
                       laser_power=12))
    row = (Laser & {"scope": "2p-A"}).fetch1()
    assert row["laser_wavelength"] == decimal.Decimal("920.5")
    assert isinstance(row["laser_power"], decimal.Decimal) and row["laser_power"] == decimal.Decimal("30.2")
    assert row["calibrated"] == 0 and isinstance(row["entry_time"], datetime.datetime)
    assert len(Laser & "entry_time <= NOW() + INTERVAL 1 MINUTE") == 2
    assert len(Laser & "laser_wavelength > 1000") == 1
    assert (Laser & "laser_power BETWEEN 30 AND 31").fetch1("scope") == "2p-A"
    total = dj.U().aggr(Laser, p="sum(laser_power)").fetch1("p")
    assert float(total) == pytest.approx(42.2)


# =========================================================================== renamed FKs
def test_marriage_renamed_and_nullable_foreign_keys(schema):
    @schema
    class Person(dj.Manual):
        definition = """
        person_id : int
        ---
        full_name : varchar(60)
        """

    @schema
    class Officiant(dj.Manual):
        definition = """
        officiant_id : int
        ---
        officiant_name : varchar(60)
        """

    @schema
    class Marriage(dj.Manual):
        definition = """
        # A marriage
        -> Person.proj(husband='person_id')
        -> Person.proj(wife='person_id')
        ---
        -> [nullable] Officiant
        marriage_date = null : date
        index(marriage_date)
        """

    Person.insert([(1, "John"), (2, "Mary"), (3, "Bob"), (4, "Alice"), (5, "Carl")])
    Officiant.insert1((7, "Judge Judy"))
    Marriage.insert([dict(husband=1, wife=2, officiant_id=7, marriage_date="2001-06-01"),
                     dict(husband=3, wife=4)])
    assert Marriage.primary_key == ["husband", "wife"]
    assert (Marriage & {"husband": 3}).fetch1("officiant_id", "marriage_date") == (None, None)
    assert len(Marriage & "officiant_id IS NULL") == 1
    with pytest.raises(errors.ForeignKeyError):
        Marriage.insert1(dict(husband=5, wife=9))
    with pytest.raises(errors.ForeignKeyError):
        Marriage.insert1(dict(husband=5, wife=2, officiant_id=8))

    couples = (Marriage
               * Person.proj(husband="person_id", husband_name="full_name")
               * Person.proj(wife="person_id", wife_name="full_name"))
    assert sorted(couples.fetch("husband_name", "wife_name", as_dict=True),
                  key=lambda r: r["husband_name"]) == [
        {"husband_name": "Bob", "wife_name": "Alice"},
        {"husband_name": "John", "wife_name": "Mary"}]
    husbands = Person & Marriage.proj(person_id="husband")
    assert sorted(husbands.fetch("full_name")) == ["Bob", "John"]
    single = Person - Marriage.proj(person_id="husband") - Marriage.proj(person_id="wife")
    assert single.fetch1("full_name") == "Carl"
    with_officiant = Marriage * Officiant
    assert with_officiant.fetch1("officiant_name") == "Judge Judy"
    assert len(Marriage.proj("officiant_id") * Officiant.proj()) == 1

    described = Marriage.describe()
    assert "husband" in described and "wife" in described and "person_id" in described
    assert "nullable" in described.lower() and "Officiant" in described
    # cascade through a renamed FK and through a nullable secondary FK
    assert (Person & {"person_id": 2}).delete() == 1
    assert len(Marriage) == 1
    assert Officiant.delete() == 1 and len(Marriage) == 1


def test_neuron_pairs_self_join(schema):
    @schema
    class Neuron(dj.Manual):
        definition = """
        neuron : int
        ---
        layer : int
        """

    @schema
    class Synapse(dj.Manual):
        definition = """
        -> Neuron.proj(presynaptic='neuron')
        -> Neuron.proj(postsynaptic='neuron')
        ---
        strength : double
        """

    Neuron.insert([(i, 1 + i % 2) for i in range(6)])
    pairs = Neuron.proj(n1="neuron") * Neuron.proj(n2="neuron") & "n1 < n2"
    assert len(pairs) == 15
    same_layer = (Neuron.proj(n1="neuron", layer1="layer")
                  * Neuron.proj(n2="neuron", layer2="layer") & "layer1 = layer2 AND n1 < n2")
    assert len(same_layer) == 6
    Synapse.insert(dict(presynaptic=k["n1"], postsynaptic=k["n2"], strength=0.5 * k["n2"])
                   for k in same_layer.fetch("KEY"))
    assert len(Synapse) == 6
    outgoing = Neuron.proj(presynaptic="neuron").aggr(Synapse, n="count(postsynaptic)")
    assert dict(zip(*outgoing.fetch("presynaptic", "n"))) == {0: 2, 1: 2, 2: 1, 3: 1, 4: 0, 5: 0}
    targets = Neuron & Synapse.proj(neuron="postsynaptic")
    assert sorted(targets.fetch("neuron")) == [2, 3, 4, 5]
    strong = (Synapse & "strength > 1.5").proj(neuron="presynaptic")
    assert sorted((Neuron & strong).fetch("neuron")) == [0, 1, 2, 3]
    assert (Neuron & {"neuron": 4}).delete() == 1
    assert len(Synapse) == 4


# =========================================================================== transactions
def test_transactions(schema, conn):
    Mouse, Session, *_ = _tutorial(schema, data=False)
    with conn.transaction:
        Mouse.insert1((0, "2017-03-01", "M"))
        Session.insert1(dict(mouse_id=0, session_date="2017-05-15", experiment_setup=0,
                             experimenter="Edgar"))
    assert len(Mouse) == 1 and len(Session) == 1
    with pytest.raises(RuntimeError):
        with conn.transaction:
            Mouse.insert1((1, "2016-11-19", "M"))
            Session.insert1(dict(mouse_id=1, session_date="2017-05-15", experiment_setup=0,
                                 experimenter="Edgar"))
            assert len(Mouse) == 2                           # visible inside the transaction
            raise RuntimeError("abort the experiment entry")
    assert len(Mouse) == 1 and len(Session) == 1
    # an integrity error inside the block rolls back the earlier inserts too
    with pytest.raises(errors.ForeignKeyError):
        with Mouse.connection.transaction:
            Mouse.insert1((2, "2016-11-20", "U"))
            Session.insert1(dict(mouse_id=3, session_date="2017-05-15", experiment_setup=0,
                                 experimenter="x"))
    assert len(Mouse) == 1
    # delete inside a user transaction
    with conn.transaction:
        (Mouse & {"mouse_id": 0}).delete(transaction=False)
        assert len(Session) == 0
    assert len(Mouse) == 0
    assert not conn.in_transaction


# =========================================================================== introspection
def test_describe_heading_and_list_tables(schema):
    Mouse, Session, Scan, SegmentationParam, Segmentation = _tutorial(schema, data=False)
    tables = schema.list_tables()
    assert set(tables) == {"mouse", "session", "scan", "#segmentation_param",
                           "__segmentation", "__segmentation__roi"}
    pos = {t: i for i, t in enumerate(tables)}
    assert pos["mouse"] < pos["session"] < pos["scan"] < pos["__segmentation"] \
        < pos["__segmentation__roi"]
    assert pos["#segmentation_param"] < pos["__segmentation"]

    text = Session.describe()
    assert "-> Mouse" in text and "session_date" in text and "experimenter" in text
    assert "Experiment session" in text and "varchar(100)" in text
    seg = Segmentation.describe()
    assert "-> Scan" in seg and "-> SegmentationParam" in seg
    assert "-> master" in Segmentation.Roi.describe() or "-> Segmentation" in \
        Segmentation.Roi.describe()
    assert Scan.heading.primary_key == ["mouse_id", "session_date", "scan_idx"]
    assert Scan.heading.secondary_attributes == ["depth", "wavelength", "laser_power", "fps",
                                                 "file_name"]
    assert Scan.heading.attributes["depth"].comment == "depth of this scan"
    assert Session.table_name == "session" and schema.database in Session.full_table_name
    assert len(dj.FreeTable(Session.connection, Session.full_table_name)) == 0
    assert set(Session.parents()) == {Mouse.full_table_name}
    assert Scan.full_table_name in Session.children()
    assert Segmentation.Roi.full_table_name in Segmentation.descendants()
    assert [p.split(".")[-1].strip("`\"") for p in Segmentation.parts()] == ["__segmentation__roi"]
    # a table definition reused in a new schema comes out the same
    assert Mouse.describe().count("\n") >= 3


def test_virtual_module_queries(schema, conn):
    Mouse, Session, Scan, SegmentationParam, Segmentation = _tutorial(schema)
    Segmentation.populate("seg_param_id = 1")
    lab = dj.virtual_schema(schema.database, connection=conn)
    key = {"mouse_id": 0}
    assert (lab.Mouse & key).fetch1("sex") == "M"
    assert len(lab.Session & key) == 2
    assert len(lab.Session * lab.Mouse & 'sex = "F"') == 2
    assert len(lab.SegmentationParam) == 2
    assert len(lab.Segmentation) == 4 and len(lab.Segmentation.Roi) == len(Segmentation.Roi)
    assert lab.Segmentation.Roi.full_table_name == Segmentation.Roi.full_table_name
    assert len(lab.Mouse & lab.Session) == 3
    lab.Mouse.insert1((7, "2017-02-02", "U"))
    assert len(Mouse) == 8
    assert dj.U("sex").aggr(lab.Mouse, n="count(*)").fetch(as_dict=True, order_by="sex")[-1] \
        == {"sex": "U", "n": 2}
    old = dj.create_virtual_module("lab", schema.database, connection=conn)
    assert len(old.Scan & key) == 3
    assert "Scan" in dir(old)
    assert (lab.Mouse & {"mouse_id": 7}).delete() == 1


# =========================================================================== 2.x tutorial
def test_v2_tutorial_queries(schema):
    @schema
    class Subject(dj.Manual):
        definition = """
        subject_id : varchar(16)
        ---
        species : varchar(50)
        date_of_birth : date
        sex : enum('M', 'F', 'U')
        weight : float32             # grams
        """

    @schema
    class Experimenter(dj.Manual):
        definition = """
        experimenter_id : varchar(16)
        ---
        full_name : varchar(100)
        """

    @schema
    class Session(dj.Manual):
        definition = """
        -> Subject
        session_idx : uint16
        ---
        -> Experimenter
        session_date : date
        duration : float32           # minutes
        notes = null : varchar(255)
        """

        class Trial(dj.Part):
            definition = """
            -> master
            trial_idx : uint16
            ---
            stimulus : varchar(50)
            correct : bool
            reaction_time : float32  # seconds
            """

    Experimenter.insert([{"experimenter_id": "alice", "full_name": "Alice Smith"},
                         {"experimenter_id": "bob", "full_name": "Bob Jones"}])
    Subject.insert([
        {"subject_id": "M001", "species": "Mus musculus", "date_of_birth": "2026-01-15",
         "sex": "M", "weight": 25.5},
        {"subject_id": "M002", "species": "Mus musculus", "date_of_birth": "2026-02-01",
         "sex": "F", "weight": 22.25},
        {"subject_id": "R001", "species": "Rattus norvegicus", "date_of_birth": "2025-12-01",
         "sex": "M", "weight": 310.0},
    ])
    Session.insert([
        dict(subject_id="M001", session_idx=1, experimenter_id="alice",
             session_date="2026-03-01", duration=45.5),
        dict(subject_id="M001", session_idx=2, experimenter_id="bob",
             session_date="2026-03-02", duration=60.0, notes="good"),
        dict(subject_id="M002", session_idx=1, experimenter_id="alice",
             session_date="2026-03-05", duration=30.0),
    ])
    Session.Trial.insert(
        dict(subject_id=s, session_idx=k, trial_idx=t, stimulus="grating" if t % 2 else "dots",
             correct=(t % 3 != 0), reaction_time=0.25 * t)
        for s, k in [("M001", 1), ("M001", 2), ("M002", 1)] for t in range(1, 7))

    assert len(Subject & 'species LIKE "Mus%"') == 2
    assert len(Subject & 'date_of_birth BETWEEN "2026-01-01" AND "2026-12-31"') == 2
    assert (Session & "notes IS NOT NULL").fetch1("session_idx") == 2
    assert len(Session & 'experimenter_id = "alice"' & 'session_date > "2026-03-02"') == 1
    assert len(Session & (Experimenter & 'full_name LIKE "%Smith"')) == 2
    assert len(Session.Trial & "correct") == 12
    assert len(Session.Trial & "NOT correct") == 6
    assert len(Session.Trial & {"correct": True}) == 12
    trial = (Session.Trial & {"subject_id": "M001", "session_idx": 1, "trial_idx": 3}).fetch1()
    assert trial["correct"] in (False, 0) and trial["reaction_time"] == 0.75
    weights = Subject.proj("species", weight_kg="weight / 1000")
    assert (weights & {"subject_id": "M002"}).fetch1("weight_kg") == pytest.approx(0.02225)
    stats = Session.aggr(Session.Trial, n_trials="count(*)", accuracy="avg(correct)",
                         avg_rt="avg(reaction_time)")
    row = (stats & {"subject_id": "M001", "session_idx": 2}).fetch1()
    assert row["n_trials"] == 6
    assert float(row["accuracy"]) == pytest.approx(4 / 6, abs=1e-3)   # MySQL: Decimal(0.6667)
    assert float(row["avg_rt"]) == pytest.approx(0.875)
    per_exp = Experimenter.aggr(Session, n_sessions="count(session_idx)",
                                total="sum(duration)")
    assert dict(zip(*per_exp.fetch("experimenter_id", "n_sessions"))) == {"alice": 2, "bob": 1}
    full = Session * Subject * Experimenter
    assert set(full.fetch("full_name")) == {"Alice Smith", "Bob Jones"}
    assert len(Subject - Session) == 1
    # 2.x output methods
    assert [k["session_idx"] for k in Session.keys(order_by="session_date DESC")] == [1, 2, 1]
    arr = (Session.Trial & {"subject_id": "M002"}).to_arrays("reaction_time", order_by="trial_idx")
    rt = arr[0] if isinstance(arr, tuple) else arr
    assert np.allclose(rt, [0.25 * t for t in range(1, 7)])
    df = Subject.to_pandas()
    assert df.index.name == "subject_id" and df.loc["R001", "weight"] == 310.0
    assert Session.to_dicts(order_by="KEY", limit=1)[0]["duration"] == 45.5
    # master delete takes its trials; a direct part delete is refused
    with pytest.raises(errors.JoinflowError):
        (Session.Trial & {"subject_id": "M002"}).delete()
    assert (Session & {"subject_id": "M002"}).delete() == 1
    assert len(Session.Trial) == 12


def test_v2_codec_blob_and_attach(schema, tmp_path):
    @schema
    class Recording(dj.Manual):
        definition = """
        recording_id : int32
        ---
        waveform : <blob>
        raw_bytes = null : bytes
        report = null : <attach>
        """

    report = tmp_path / "report.txt"
    report.write_text("spike sorting report\n")
    Recording.insert1(dict(recording_id=1, waveform=np.sin(np.linspace(0, 1, 20)),
                           raw_bytes=b"\x00\x01binary", report=str(report)))
    Recording.insert1(dict(recording_id=2, waveform=[1, 2, 3]))
    row = (Recording & "recording_id = 1").fetch1()
    assert np.allclose(row["waveform"], np.sin(np.linspace(0, 1, 20)))
    assert row["raw_bytes"] == b"\x00\x01binary"
    assert pathlib.Path(row["report"]).read_text() == "spike sorting report\n"
    assert (Recording & {"recording_id": 2}).fetch1("report") is None


def test_custom_codec(schema):
    class Graph:  # a user's domain object
        def __init__(self, edges):
            self.edges = sorted(edges)

    class GraphCodec(dj.Codec):
        name = "scenario_graph"

        def get_dtype(self, is_store):
            return "<blob>"

        def encode(self, value, *, key=None, store_name=None):
            return np.array(value.edges, dtype=np.int64)

        def decode(self, stored, *, key=None):
            return Graph([tuple(int(v) for v in e) for e in stored])

        def validate(self, value):
            if not isinstance(value, Graph):
                raise TypeError("expected a Graph")

    @schema
    class Connectivity(dj.Manual):
        definition = """
        network_id : int32
        ---
        graph : <scenario_graph>    # the connectivity graph
        """

    Connectivity.insert1(dict(network_id=1, graph=Graph([(2, 3), (1, 2)])))
    g = (Connectivity & {"network_id": 1}).fetch1("graph")
    assert isinstance(g, Graph) and g.edges == [(1, 2), (2, 3)]
    with pytest.raises((TypeError, ValueError, errors.JoinflowError)):
        Connectivity.insert1(dict(network_id=2, graph="not a graph"))
    assert "<scenario_graph>" in Connectivity.describe()


# =========================================================================== misc user habits
def test_iteration_len_bool_and_preview(schema):
    Mouse, Session, *_ = _tutorial(schema)
    males = Mouse & 'sex = "M"'
    rows = list(males)
    assert len(rows) == 2 and all(isinstance(r, dict) for r in rows)
    assert {r["mouse_id"] for r in rows} == {0, 1}
    assert bool(Mouse & "mouse_id = 0") and not (Mouse & "mouse_id = 3")
    assert len(Mouse()) == 7
    text = repr(Mouse & "mouse_id < 3")
    assert "mouse_id" in text and "dob" in text and "3" in text
    assert isinstance(Mouse.head(3), list) and len(Mouse.head(3)) == 3
    assert Mouse.tail(1)[0]["mouse_id"] == 100


def test_schema_reopen_with_existing_tables(schema, conn):
    """A second notebook opens the same schema and redeclares the same classes."""
    Mouse, *_ = _tutorial(schema)
    same = dj.Schema(schema.database, connection=conn)

    @same
    class Mouse(dj.Manual):  # noqa: F811 - identical definition, table already exists
        definition = """
        # Experimental animals
        mouse_id             : int                          # Unique animal ID
        ---
        dob                  : date                         # date of birth
        sex                  : enum('M', 'F', 'U')          # sex
        """

    assert len(Mouse) == 7
    assert "mouse" in same.list_tables()
    assert "Mouse" in same and len(same["Mouse"]) == 7


# =========================================================================== more MySQL-isms
def test_mysql_functions_in_projection_and_aggregation(schema):
    Mouse, Session, Scan, *_ = _tutorial(schema)
    is_male = Mouse.proj(m='IF(sex = "M", 1, 0)')
    assert dict(zip(*is_male.fetch("mouse_id", "m"))) == {0: 1, 1: 1, 2: 0, 5: 0, 10: 0, 11: 0,
                                                          100: 0}
    cat = Mouse.proj(c='CASE WHEN dob < "2017-01-01" THEN "old" ELSE "young" END')
    assert sorted((cat & 'c = "old"').fetch("mouse_id")) == [1, 2, 5]
    months = Mouse.proj(age_months='TIMESTAMPDIFF(MONTH, dob, "2018-01-01")')
    assert (months & {"mouse_id": 1}).fetch1("age_months") == 13
    people = Mouse.aggr(Session, who="GROUP_CONCAT(experimenter)", exclude_nonmatching=True)
    assert (people & {"mouse_id": 100}).fetch1("who") == "Jake Reimer"
    assert dj.U().aggr(Session, n="count(distinct experimenter)").fetch1("n") == 3
    assert len(Session & 'DATE_ADD(session_date, INTERVAL 1 MONTH) > "2017-06-18"') == 2
    assert len(Mouse & "dob > CURDATE() - INTERVAL 100 YEAR") == 7
    floor = Scan.proj(f="FLOOR(depth / 7)", c="CEIL(depth / 7)", a="ABS(200 - depth)")
    row = (floor & {"mouse_id": 100}).fetch1()
    assert (row["f"], row["c"], row["a"]) == (50, 50, 150)
    lengths = Session.proj(n="CHAR_LENGTH(experimenter)", up="UPPER(experimenter)",
                           first="LEFT(experimenter, 5)")
    assert (lengths & {"mouse_id": 5}).fetch1("n", "up", "first") == (11, "FABIAN SINZ", "Fabia")
    # aggregate then restrict on the aggregate, then join back
    busy = Mouse.aggr(Session, n="count(session_date)") & "n >= 1"
    assert sorted((Mouse * busy & 'sex = "F"').fetch("mouse_id")) == [5, 100]


def test_date_literal_minus_interval(schema, backend, request):
    Mouse, Session, *_ = _tutorial(schema)
    assert len(Session & 'session_date > "2017-05-20" - INTERVAL 7 DAY') == 3
    assert len(Mouse & 'dob BETWEEN "2017-01-10" - INTERVAL 10 DAY AND "2017-01-10"') == 2


def test_recent_sessions_relative_to_today(schema):
    Mouse, Session, *_ = _tutorial(schema)
    today = datetime.date.today()
    Session.insert1(dict(mouse_id=1, session_date=today, experiment_setup=3, experimenter="Ann"))
    Session.insert1(dict(mouse_id=1, session_date=today - datetime.timedelta(days=3),
                         experiment_setup=3, experimenter="Ann"))
    assert len(Session & "session_date >= CURDATE() - INTERVAL 7 DAY") == 2
    assert len(Session & "session_date = CURDATE()") == 1
    assert len(Session & "DATEDIFF(CURDATE(), session_date) BETWEEN 1 AND 5") == 1
    assert len(Session & "session_date < DATE_SUB(CURDATE(), INTERVAL 1 YEAR)") == 4


def test_round_returns_float_like_mysql(schema, backend):
    Mouse, Session, Scan, *_ = _tutorial(schema)
    r = (Scan.proj(r="ROUND(depth / 3, 1)") & {"mouse_id": 0, "scan_idx": 2}).fetch1("r")
    assert isinstance(r, float) and r == 66.7


def test_numpy_values_and_record_arrays(schema):
    Mouse, Session, Scan, *_ = _tutorial(schema)

    @schema
    class MouseCopy(dj.Manual):
        definition = """
        mouse_id : int
        ---
        dob      : date
        sex      : enum('M', 'F', 'U')
        """

    records = Mouse.fetch()
    MouseCopy.insert(records)                                 # a record array from fetch()
    assert len(MouseCopy) == 7
    assert (MouseCopy & records[0]).fetch1("sex") == records[0]["sex"]   # numpy.void
    assert len(Mouse & records[:2]) == 2
    Scan.insert1(dict(mouse_id=np.int64(5), session_date="2017-01-05", scan_idx=np.int32(1),
                      depth=np.float32(1.5), wavelength=np.float64(920.0), laser_power=np.int16(3),
                      fps=np.uint8(15), file_name=np.str_("x.tif")))
    row = (Scan & {"mouse_id": 5}).fetch1()
    assert row["depth"] == 1.5 and row["laser_power"] == 3 and row["file_name"] == "x.tif"
    depths = Scan.fetch("depth", order_by="depth")
    assert depths.dtype.kind == "f" and depths[0] == 1.5
    for key in (Session & "mouse_id = 0").fetch("KEY"):
        assert len(Scan & key) >= 1


def test_special_characters_in_strings(schema):
    Mouse, Session, *_ = _tutorial(schema)
    name = "O'Brien \"Bob\" 100% \\ done"
    Session.insert1(dict(mouse_id=1, session_date="2017-01-01", experiment_setup=2,
                         experimenter=name))
    assert (Session & {"experimenter": name}).fetch1("experimenter") == name
    assert len(Session & "experimenter LIKE \"O'Brien%\"") == 1
    assert len(Session & 'experimenter LIKE "%100\\%%"') == 1
    assert len(Session & "experimenter = 'O''Brien'") == 0


def test_nullable_attributes(schema):
    @schema
    class Subject(dj.Manual):
        definition = """
        subject_id : int
        ---
        weight = null : float
        age = null : int
        nickname = null : varchar(20)
        """

    Subject.insert([dict(subject_id=1, weight=20.5, age=3, nickname="Stu"),
                    dict(subject_id=2),
                    dict(subject_id=3, weight=np.nan, age=None, nickname=None)])
    assert (Subject & {"subject_id": 3}).fetch1() == {"subject_id": 3, "weight": None,
                                                      "age": None, "nickname": None}
    assert sorted((Subject & {"weight": None}).fetch("subject_id")) == [2, 3]
    assert sorted((Subject & "nickname IS NULL").fetch("subject_id")) == [2, 3]
    assert len(Subject & "weight > 10") == 1
    ages = Subject.fetch("age", order_by="subject_id")
    assert ages[0] == 3 and ages[1] is None
    avg = dj.U().aggr(Subject, w="avg(weight)", n="count(weight)").fetch1()
    assert float(avg["w"]) == 20.5 and avg["n"] == 1


def test_group_concat_distinct(schema, backend, request):
    Mouse, Session, *_ = _tutorial(schema)
    people = Mouse.aggr(Session, who="GROUP_CONCAT(DISTINCT experimenter)",
                        exclude_nonmatching=True)
    assert (people & {"mouse_id": 0}).fetch1("who") == "Edgar Y. Walker"


def test_describe_roundtrip_redeclare(schema, make_schema):
    Mouse, Session, Scan, *_ = _tutorial(schema, data=False)
    other = make_schema("jfcopy")
    scan_definition = Scan.describe()
    param_definition = Mouse.describe()

    @other
    class ScanCopy(dj.Manual):
        definition = scan_definition          # -> Session resolves from the caller's locals

    @other
    class MouseCopy(dj.Manual):
        definition = param_definition

    assert ScanCopy.heading.names == Scan.heading.names
    assert ScanCopy.primary_key == Scan.primary_key
    assert [ScanCopy.heading.attributes[n].sql_type == Scan.heading.attributes[n].sql_type
            for n in Scan.heading.names] == [True] * len(Scan.heading.names)
    assert MouseCopy.describe() == Mouse.describe()
    assert Session.full_table_name in ScanCopy.parents()


def test_populate_options(schema):
    Mouse, Session, Scan, SegmentationParam, Segmentation = _tutorial(schema)
    Segmentation.populate(max_calls=3)
    assert len(Segmentation) == 3
    Segmentation.populate(reserve_jobs=True, limit=2)
    assert len(Segmentation) == 5
    Segmentation.populate(order="reverse", reserve_jobs=True, display_progress=False)
    assert len(Segmentation) == 8
    remaining, total = Segmentation.progress()
    assert (remaining, total) == (0, 8)
    (Segmentation & {"mouse_id": 100}).delete()
    assert Segmentation.progress() == (2, 8)
    Segmentation.populate(Mouse & 'sex = "F"')
    assert Segmentation.progress() == (0, 8)


# =========================================================================== 2.x semantics
def test_semantic_matching_and_left_join(schema):
    Mouse, Session, Scan, *_ = _tutorial(schema)

    @schema
    class Note(dj.Manual):
        definition = """
        note_id : int
        ---
        experimenter : varchar(100)     # same name as Session.experimenter, unrelated
        """

    Note.insert1((1, "Jake Reimer"))
    with pytest.raises(errors.SemanticMatchError, match="experimenter"):
        Session * Note
    assert len(Session.join(Note, semantic_check=False)) == 1
    assert len(Session * Note.proj(author="experimenter")) == 4
    with pytest.raises(errors.QueryError, match="@"):
        Session @ Note
    with pytest.raises(errors.QueryError):
        dj.U("sex") - Mouse
    # left join / extend: keep every scan, add its session's attributes
    ext = Scan.extend(Session)
    assert len(ext) == 4 and "experimenter" in ext.heading.names
    with pytest.raises(errors.QueryError, match="(?i)left"):
        Mouse.join(Session, left=True)


def test_marriage_extend_with_nullable_officiant(schema):
    @schema
    class Officiant(dj.Manual):
        definition = """
        officiant_id : int
        ---
        officiant_name : varchar(60)
        """

    @schema
    class Wedding(dj.Manual):
        definition = """
        wedding_id : int
        ---
        -> [nullable] Officiant
        """

    Officiant.insert1((7, "Judge Judy"))
    Wedding.insert([dict(wedding_id=1, officiant_id=7), dict(wedding_id=2)])
    rows = Wedding.extend(Officiant).fetch(as_dict=True, order_by="wedding_id")
    assert rows == [{"wedding_id": 1, "officiant_id": 7, "officiant_name": "Judge Judy"},
                    {"wedding_id": 2, "officiant_id": None, "officiant_name": None}]
    assert len(Wedding * Officiant) == 1


def test_delete_dry_run_validate_and_chunked_insert(schema):
    Mouse, Session, Scan, *_ = _tutorial(schema)
    counts = (Mouse & "mouse_id = 0").delete(dry_run=True)
    assert sorted(counts.values()) == [1, 2, 3]
    assert len(Mouse) == 7 and len(Scan) == 4                 # nothing deleted
    result = Mouse.validate([dict(mouse_id=20, dob="2017-01-01", sex="M"),
                             dict(mouse_id="x"),
                             dict(mouse_id=21, dob="2017-01-01", sex="M", weight=1)])
    assert not result.is_valid and not result
    assert {(i, f) for i, f, _ in result.errors} >= {(1, "mouse_id"), (1, "dob")}
    assert "weight" in {f for _, f, _ in result.errors}
    assert Mouse.validate([dict(mouse_id=20, dob="2017-01-01", sex="M")]).is_valid
    Mouse.insert([(200 + i, "2018-01-01", "U") for i in range(10)], chunk_size=3)
    assert len(Mouse & "mouse_id >= 200") == 10


def test_make_failure_rolls_back_master_and_parts(schema):
    Mouse, Session, Scan, *_ = _tutorial(schema)

    @schema
    class Frames(dj.Imported):
        definition = """
        -> Scan
        ---
        n_frames : int32
        """

        class Frame(dj.Part):
            definition = """
            -> master
            frame : int32
            ---
            brightness : float64
            """

        key_source = Scan & "depth < 300"      # a class attribute, as Elements write it

        def make(self, key):
            image = _image(key)
            self.insert1(dict(key, n_frames=image.shape[0]))
            self.Frame.insert(dict(key, frame=i, brightness=float(row.mean()))
                              for i, row in enumerate(image))
            if key["scan_idx"] == 2:
                raise OSError("tif truncated after the parts were inserted")

    result = Frames.populate(suppress_errors=True)
    assert len(Frames) == 2 and len(Frames.Frame) == 12        # scan_idx=2 rolled back
    assert len(Frames & {"scan_idx": 2}) == 0 and len(Frames.Frame & {"scan_idx": 2}) == 0
    assert result["error"] == 1 if isinstance(result, dict) else True
    assert Frames.progress() == (1, 3)
    mean = (Frames.Frame & Scan.fetch("KEY", order_by="KEY")[0]).fetch("brightness")
    assert len(mean) == 6


def test_validate_reports_row_of_unknown_field(schema):
    Mouse, *_ = _tutorial(schema, data=False)
    result = Mouse.validate([dict(mouse_id=20, dob="2017-01-01", sex="M"),
                             dict(mouse_id=21, dob="2017-01-01", sex="M", weight=1)])
    assert [(i, f) for i, f, _ in result.errors] == [(1, "weight")]


def _lab_subject(make_schema):
    lab = make_schema("jflab")

    @lab
    class Subject(dj.Manual):
        definition = """
        subject : varchar(8)
        ---
        subject_nickname = "" : varchar(64)
        """

    Subject.insert1(("S1", "Stu"))
    return Subject


def test_elements_activate_then_declare(make_schema, conn):
    """Element style: an unnamed schema activated with a linking module's objects."""
    Subject = _lab_subject(make_schema)
    target = make_schema("jfsess")                          # unique name + cleanup
    schema = dj.Schema()
    schema.activate(target.database, connection=conn, create_schema=True, create_tables=True,
                    add_objects={"Subject": Subject})

    @schema
    class Session(dj.Manual):
        definition = """
        -> Subject
        session_id : int
        ---
        session_datetime : datetime
        """

    Session.insert1(("S1", 1, datetime.datetime(2024, 5, 1, 9, 30)))
    assert (Session * Subject).fetch1("subject_nickname") == "Stu"
    assert len(dj.virtual_schema(target.database, connection=conn).Session) == 1


def test_elements_deferred_activation(make_schema, conn):
    Subject = _lab_subject(make_schema)
    target = make_schema("jfsess")
    schema = dj.Schema()                                     # module level in an Element

    @schema
    class Session(dj.Manual):
        definition = """
        -> Subject
        session_id : int
        """

        class Note(dj.Part):
            definition = """
            -> master
            note_idx : int
            ---
            note : varchar(255)
            """

    schema.activate(target.database, connection=conn, create_schema=True, create_tables=True,
                    add_objects={"Subject": Subject})
    Session.insert1(("S1", 1))
    Session.Note.insert1(("S1", 1, 0, "first"))
    assert len(Session * Subject) == 1 and len(Session.Note) == 1


def test_v2_release_api_tour(schema):
    """The 2.0 release summary's API: to_* outputs, insert_dataframe, schema access."""
    Mouse, Session, Scan, SegmentationParam, Segmentation = _tutorial(schema)

    @schema
    class MouseCopy(dj.Manual):
        definition = """
        mouse_id : int32
        ---
        dob      : date
        sex      : enum('M', 'F', 'U')
        """

    df = Mouse.to_pandas()
    MouseCopy.insert_dataframe(df)                       # PK index handled symmetrically
    assert len(MouseCopy) == 7
    assert (MouseCopy & {"mouse_id": 100}).fetch1("dob") == datetime.date(2017, 5, 12)
    arr = Mouse.to_arrays()
    assert arr.dtype.names == ("mouse_id", "dob", "sex") and len(arr) == 7
    ids, sexes = Mouse.to_arrays("mouse_id", "sex", order_by="mouse_id")
    assert list(ids) == [0, 1, 2, 5, 10, 11, 100] and sexes[-1] == "F"
    assert Session.keys(limit=1, order_by="session_date") == [
        {"mouse_id": 5, "session_date": datetime.date(2017, 1, 5)}]
    assert len(schema["Session"]) == 4 and len(schema["SegmentationParam"]) == 2
    assert len(schema.get_table("scan")) == 4
    assert "Mouse" in schema and "Rat" not in schema
    names = [t.table_name if hasattr(t, "table_name") else t for t in schema]
    assert names.index("mouse") < names.index("session")
    with pytest.raises(errors.JoinflowError):
        schema["Rat"]
    Segmentation.populate()
    assert Segmentation.progress() == (0, 8)


def test_part_delete_integrity_options(schema):
    Mouse, Session, Scan, SegmentationParam, Segmentation = _tutorial(schema)
    Segmentation.populate()
    key = {"mouse_id": 100, "seg_param_id": 1}
    n_master, n_parts = len(Segmentation), len(Segmentation.Roi)
    k_parts = len(Segmentation.Roi & key)
    assert k_parts > 0
    # 2.x: cascade up to the master (and all of that master's parts)
    (Segmentation.Roi & key & "roi_idx = 0").delete(part_integrity="cascade")
    assert len(Segmentation & key) == 0 and len(Segmentation.Roi & key) == 0
    assert len(Segmentation) == n_master - 1 and len(Segmentation.Roi) == n_parts - k_parts
    # 0.14: force=True deletes parts only, leaving the master incomplete
    key2 = {"mouse_id": 100, "seg_param_id": 2}
    (Segmentation.Roi & key2).delete(force=True)
    assert len(Segmentation & key2) == 1 and len(Segmentation.Roi & key2) == 0
    (Segmentation.Roi & {"mouse_id": 0}).delete(part_integrity="ignore")
    assert len(Segmentation.Roi) == 0 and len(Segmentation) == n_master - 1
