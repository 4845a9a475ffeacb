"""What a DataJoint user meets first (issue #6): Lookup contents in every form, describe()
round trips, wrong-typed values as DataError, definition error messages."""
from __future__ import annotations

import pytest

import joinflow as dj


# -- Lookup.contents -----------------------------------------------------------------------
def test_lookup_contents_every_form(schema):
    @schema
    class AsList(dj.Lookup):
        definition = """
        shape : varchar(16)
        ---
        corners : int32
        """
        contents = [("square", 4), ("triangle", 3)]

    @schema
    class AsTupleOfDicts(dj.Lookup):
        definition = """
        colour : varchar(16)
        """
        contents = ({"colour": "red"}, {"colour": "blue"})

    @schema
    class AsProperty(dj.Lookup):
        definition = """
        rig : varchar(16)
        ---
        room : int32
        """

        @property
        def contents(self):
            yield {"rig": "A", "room": 101}
            yield {"rig": "B", "room": 102}

    @schema
    class AsMethod(dj.Lookup):
        definition = """
        n : int32
        """

        def contents(self):
            for n in range(3):
                yield (n,)

    @schema
    class Empty(dj.Lookup):
        definition = """
        k : int32
        """

    assert AsList.to_dicts(order_by="shape") == [{"shape": "square", "corners": 4},
                                                 {"shape": "triangle", "corners": 3}]
    assert sorted(AsTupleOfDicts.to_arrays("colour")) == ["blue", "red"]
    assert AsProperty.to_dicts(order_by="rig") == [{"rig": "A", "room": 101},
                                                   {"rig": "B", "room": 102}]
    assert sorted(AsMethod.to_arrays("n")) == [0, 1, 2]
    assert len(Empty()) == 0
    schema(AsProperty)  # declaring again (a second import) inserts nothing twice
    assert len(AsProperty()) == 2


# -- describe() ----------------------------------------------------------------------------
def test_describe_keeps_indexes_and_defaults_and_round_trips(schema):
    @schema
    class Parent(dj.Manual):
        definition = """
        parent_id : int32
        """

    @schema
    class Animal(dj.Manual):
        definition = """
        # an animal
        animal_id : int32
        ---
        -> Parent
        nickname : varchar(32)
        a = -1 : int32
        b = 2.50 : decimal(5,2)
        f = 1e3 : float64
        s = '' : varchar(8)
        c = "x'y" : varchar(8)   # a comment
        d = null : date
        e = 'on' : enum('on', 'off')
        t = CURRENT_TIMESTAMP : datetime
        unique index (nickname)
        index (a, b)
        """

    text = Animal.describe()
    lines = [line.strip() for line in text.splitlines()]
    assert "unique index (nickname)" in lines and "index (a, b)" in lines
    assert "-> Parent" in lines
    for line in ('a = -1 : int32', 'b = 2.50 : decimal(5,2)', 'f = 1000.0 : float64',
                 's = "" : varchar(8)', 'c = "x\'y" : varchar(8)  # a comment',
                 'd = null : date', 'e = "on" : enum(\'on\',\'off\')',
                 't = CURRENT_TIMESTAMP : datetime'):
        assert line in lines, (line, text)

    class AnimalAgain(dj.Manual):
        definition = text

    schema(AnimalAgain, context={"Parent": Parent})
    assert AnimalAgain.describe() == text

    def heading(t):
        return [(a.name, a.declared, a.in_key, a.nullable, a.default, a.comment)
                for a in t.heading.attributes.values()]

    assert heading(AnimalAgain) == heading(Animal)
    Parent.insert1({"parent_id": 1})
    AnimalAgain.insert1({"animal_id": 1, "parent_id": 1, "nickname": "rex"})
    with pytest.raises(dj.errors.DuplicateError):  # the unique index came back
        AnimalAgain.insert1({"animal_id": 2, "parent_id": 1, "nickname": "rex"})


# -- definition errors ---------------------------------------------------------------------
@pytest.mark.parametrize("line, token", [
    ("x = 'abc : varchar(8)", "'abc : varchar(8)"),
    ('x = "abc : varchar(8)   # a comment', '"abc : varchar(8)   # a comment'),
    ("x : enum('a', 'b)", "'b)"),
])
def test_unclosed_quote_is_reported_as_such(schema, line, token):
    class Broken(dj.Manual):
        definition = f"""
        id : int32
        ---
        {line}
        """

    with pytest.raises(dj.errors.DefinitionError, match="unclosed quote") as info:
        schema(Broken)
    assert "missing ':'" not in str(info.value)
    assert (info.value.token, info.value.line, info.value.lineno) == (token, line, 4)
    assert str(info.value).startswith("[Broken] unclosed quote")
    assert schema.list_tables() == []
