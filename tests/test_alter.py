"""Table.alter() on every backend: add, drop, change type/default/comment, rename, refusals."""
import pytest

import joinflow as dj


def test_alter_secondary_attributes(schema, conn):
    @schema
    class Subject(dj.Manual):
        definition = """
        subject_id : int32
        """

    @schema
    class Mouse(dj.Manual):
        definition = """
        # a mouse
        -> Subject
        ---
        weight : float32       # grams
        strain = 'wt' : varchar(16)
        notes = '' : varchar(100)
        """

    @schema
    class Cage(dj.Manual):
        definition = """
        -> Mouse
        cage : int16
        """

    Subject.insert([(1,), (2,)])
    Mouse.insert([dict(subject_id=1, weight=20.5, strain="b6"), dict(subject_id=2, weight=22)])
    Cage.insert1((1, 7))
    Mouse.definition = """
    # a laboratory mouse
    -> Subject
    ---
    weight : float64        # grams, now double
    line = 'wt' : varchar(32)   # {strain} renamed
    sex = 'U' : enum('M', 'F', 'U')
    """
    Mouse.alter(prompt=False)
    h = Mouse.heading
    assert h.secondary_attributes == (["weight", "line", "sex"] if conn.backend.name != "postgresql"
                                      else h.secondary_attributes)
    assert set(h.secondary_attributes) == {"weight", "line", "sex"}
    assert h["weight"].core == "float64" and h["weight"].comment == "grams, now double"
    assert h.table_comment == "a laboratory mouse"
    rows = Mouse.to_dicts(order_by="subject_id")
    assert rows[0]["line"] == "b6" and rows[1]["line"] == "wt" and rows[0]["sex"] == "U"
    assert rows[0]["weight"] == 20.5
    # foreign keys from children still hold
    with pytest.raises(dj.errors.IntegrityError):
        Cage.insert1((3, 1))
    assert len(Cage & {"subject_id": 1}) == 1
    with pytest.raises(dj.errors.ForeignKeyError):
        (Mouse & {"subject_id": 1}).delete_quick()
    # a declared table re-described gives the new definition
    assert "line = " in Mouse.describe() and "enum(" in Mouse.describe()


def test_alter_refuses_primary_key_change(schema):
    @schema
    class T(dj.Manual):
        definition = """
        a : int32
        ---
        b : int32
        """

    T.definition = """
    a : int32
    c : int32
    ---
    b : int32
    """
    with pytest.raises(NotImplementedError, match="primary key"):
        T.alter(prompt=False)
    T.definition = """
    a : int32
    ---
    b : int32
    """
    T.alter(prompt=False)  # nothing to alter
