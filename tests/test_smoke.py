import numpy as np

import joinflow as dj


def test_pipeline_roundtrip(schema):
    @schema
    class Subject(dj.Manual):
        definition = """
        subject_id : int32
        ---
        name : varchar(30)
        """

    @schema
    class Session(dj.Manual):
        definition = """
        -> Subject
        session : int16
        ---
        data = null : longblob
        """

    Subject.insert([(1, "a"), (2, "b")])
    Session.insert1(dict(subject_id=1, session=1, data=np.eye(3)))
    assert len(Subject) == 2
    row = (Session & {"subject_id": 1}).fetch1()
    assert np.array_equal(row["data"], np.eye(3))
    assert (Subject * Session).to_dicts()[0]["name"] == "a"
    assert (Subject - Session).keys() == [{"subject_id": 2}]


def test_restrict_by_query_over_same_table(schema):
    """A & (A & cond) and A - (A & Top) work: attributes born in the same table match."""
    @schema
    class Item(dj.Manual):
        definition = """
        item : int32
        ---
        label : varchar(10)
        """

    @schema
    class Other(dj.Manual):
        definition = """
        other : int32
        ---
        label : varchar(10)
        """

    Item.insert([(1, "a"), (2, "b"), (3, "c")])
    Other.insert([(1, "a")])
    assert (Item - (Item & dj.Top(1, "item DESC"))).keys() == [{"item": 1}, {"item": 2}]
    assert len(Item & (Item & "label > 'a'")) == 2
    import pytest
    with pytest.raises(dj.errors.SemanticMatchError, match="label"):
        Item & Other.proj("label")
