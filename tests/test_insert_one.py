"""``insert1`` of a plain dict takes a short path (statement and converters kept per heading).
It must behave exactly as the general path: each case is run through ``insert1`` and through
``insert(iter([row]))`` (an iterator always takes the general path) on fresh tables, and the
outcomes (rows, or error type and message) must be the same."""
from __future__ import annotations

import datetime as dt
import decimal
import uuid

import numpy as np
import pytest

import joinflow as dj

DEFINITION = """
id : int32
---
n = 7 : int16
name : varchar(8)
maybe = null : float64
day = null : date
price = null : decimal(6, 2)
token = null : uuid
"""

CASES = {
    "plain": dict(id=1, n=3, name="abc"),
    "reordered fields": dict(name="x", id=2),
    "every type": dict(id=3, n=-5, name="é", maybe=2.5, day=dt.date(2024, 2, 29),
                       price=decimal.Decimal("12.50"), token=uuid.UUID(int=5)),
    "numpy scalars": dict(id=np.int64(4), n=np.int16(2), name="n", maybe=np.float32(0.5)),
    "None takes the default": dict(id=5, n=None, name="d"),
    "None in a nullable": dict(id=6, name="e", maybe=None, day=None),
    "NaN is NULL": dict(id=7, name="f", maybe=float("nan")),
    "missing required": dict(id=8, n=1),
    "None in a required": dict(id=9, name=None),
    "unknown field": dict(id=10, name="g", nope=1),
    "out of range": dict(id=11, n=40000, name="h"),
    "string too long": dict(id=12, name="123456789"),
    "wrong type": dict(id=13, name="i", day="not a date"),
    "array for a number": dict(id=14, n=np.arange(3), name="j"),
    "empty dict": dict(),
}


def _outcome(table, fn):
    try:
        fn()
    except Exception as exc:  # noqa: BLE001 - the outcome is compared
        return type(exc), str(exc).replace(table.full_table_name, "T")
    rows = table.to_dicts(order_by="id")
    return [{k: (None if isinstance(v, float) and v != v else v) for k, v in r.items()}
            for r in rows]


@pytest.mark.parametrize("case", list(CASES))
def test_insert1_matches_general_path(schema, case):
    @schema
    class One(dj.Manual):
        definition = DEFINITION

    @schema
    class Many(dj.Manual):
        definition = DEFINITION

    row = CASES[case]
    fast = _outcome(One, lambda: One.insert1(dict(row)))
    general = _outcome(Many, lambda: Many.insert(iter([dict(row)])))
    if isinstance(fast, tuple):
        assert fast[0] is general[0] and fast[1].replace("one", "many") == \
            general[1].replace("one", "many"), (fast, general)
    else:
        assert fast == general
        assert fast, "the row was not inserted"


def test_insert1_twice_and_skip_duplicates(schema):
    @schema
    class T(dj.Manual):
        definition = DEFINITION

    T.insert1(dict(id=1, name="a"))
    with pytest.raises(dj.errors.DuplicateError, match="skip_duplicates=True"):
        T.insert1(dict(id=1, name="b"))
    T.insert1(dict(id=1, name="c"), skip_duplicates=True)
    T.insert1(dict(id=1, name="d"), replace=True)
    assert T.to_dicts()[0]["name"] == "d"
    T.insert1(dict(id=2, name="e"), ignore_extra_fields=True)
    T.insert1(dict(id=3, name="f", extra=1), ignore_extra_fields=True)
    assert T.to_arrays("id").tolist() == [1, 2, 3]


def test_failed_insert1_keeps_the_transaction_usable(schema):
    """A duplicate inside a user's transaction: on PostgreSQL a failed statement spoils the
    transaction, so insert1 still uses a savepoint there; the transaction goes on."""
    @schema
    class T(dj.Manual):
        definition = DEFINITION

    T.insert1(dict(id=1, name="a"))
    conn = schema.connection
    with conn.transaction:
        with pytest.raises(dj.errors.DuplicateError):
            T.insert1(dict(id=1, name="b"))
        T.insert1(dict(id=2, name="c"))
    assert T.to_arrays("id").tolist() == [1, 2]


def test_insert1_after_alter_uses_the_new_heading(schema):
    @schema
    class T(dj.Manual):
        definition = """
        id : int32
        ---
        name : varchar(8)
        """

    T.insert1(dict(id=1, name="a"))
    T.definition = """
    id : int32
    ---
    name : varchar(8)
    extra = 3 : int32
    """
    T.alter(prompt=False)
    T.insert1(dict(id=2, name="b"))
    T.insert1(dict(id=3, name="c", extra=9))
    assert T.to_arrays("extra").tolist() == [3, 3, 9]


def test_plain_insert1_takes_the_short_path(schema, monkeypatch):
    """(So that the comparisons above compare two paths.)"""
    from joinflow import insert

    @schema
    class T(dj.Manual):
        definition = DEFINITION

    general = []
    real = insert._insert_rows
    monkeypatch.setattr(insert, "_insert_rows", lambda *a: general.append(a) or real(*a))
    T.insert1(dict(id=1, name="a", maybe=0.5))
    assert general == []
    T.insert1(dict(id=2, name="b", n=None))
    assert len(general) == 1  # None for a defaulted attribute: the general path
