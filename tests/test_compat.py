"""What a DataJoint user meets first (issue #6): Lookup contents in every form, describe()
round trips, wrong-typed values as DataError, definition error messages."""
from __future__ import annotations

import datetime
import decimal
import re

import numpy as np
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


# -- wrong-typed values: a DataError naming the table, the attribute and the problem ------
@pytest.fixture
def thing(schema):
    @schema
    class Thing(dj.Manual):
        definition = """
        id : int32
        ---
        f = null : float64
        f32 = null : float32
        small = null : uint8
        n = null : int32
        d = null : decimal(6,2)
        name = null : varchar(8)
        code = null : char(3)
        note = null : varchar(4000)
        when = null : datetime
        day = null : date
        tm = null : time
        mood = null : enum('happy', 'sad')
        ok = null : bool
        """
    return Thing


BAD_VALUES = [
    ("f", "abc", "'abc' is not a number"),
    ("f", np.arange(3), "expected a number, got an array of shape (3,)"),
    ("f", [1.0], "expected a number, got list [1.0]"),
    ("f", b"xx", "expected a number, got bytes b'xx'"),
    ("f32", 1e300, "1e+300 is out of range for float32"),
    ("small", 300, "300 is out of range for uint8 [0, 255]"),
    ("small", -1, "-1 is out of range for uint8 [0, 255]"),
    ("n", 2**40, "1099511627776 is out of range for int32"),
    ("n", "abc", "'abc' is not an integer"),
    ("n", 2.5, "2.5 is not an integer"),
    ("n", np.arange(2), "expected an integer, got an array of shape (2,)"),
    ("d", "abc", "'abc' is not a number"),
    ("d", 12345.678, "12345.678 is out of range for decimal(6,2)"),
    ("d", decimal.Decimal("9999.999"), "9999.999 is out of range for decimal(6,2)"),
    ("name", "a-long-name", "'a-long-name' is too long for varchar(8) (11 characters)"),
    ("code", "abcd", "'abcd' is too long for char(3) (4 characters)"),
    ("note", np.arange(2), "expected a string, got an array of shape (2,)"),
    ("when", "not a date", "'not a date' is not a valid datetime"),
    ("when", "2020-13-45", "'2020-13-45' is not a valid datetime"),
    ("when", 5, "expected a datetime, got int 5"),
    ("day", "2020-02-30", "'2020-02-30' is not a valid date"),
    ("tm", "abc", "expected a time"),
    ("mood", "angry", "'angry' is not one of ['happy', 'sad']"),
    ("ok", np.arange(2), "expected true or false, got an array of shape (2,)"),
    ("ok", "perhaps", "expected true or false, got str 'perhaps'"),
]


@pytest.mark.parametrize("attr, value, problem", BAD_VALUES,
                         ids=[f"{a}-{i}" for i, (a, _, _) in enumerate(BAD_VALUES)])
def test_wrong_values_are_data_errors_naming_table_and_attribute(thing, attr, value, problem):
    where = f"for attribute `{attr}` of {thing.full_table_name}"
    with pytest.raises(dj.errors.DataError) as info:
        thing.insert1({"id": 1, attr: value})
    assert str(info.value) == f"{problem} {where}" or (
        str(info.value).startswith(problem) and str(info.value).endswith(where)), str(info.value)
    assert len(thing()) == 0
    thing.insert1({"id": 1})
    with pytest.raises(dj.errors.DataError, match=re.escape(where)):  # update1: the same checks
        thing.update1({"id": 1, attr: value})
    assert (thing & {"id": 1}).fetch1(attr) is None


def test_good_values_still_go_in(thing):
    thing.insert1({"id": 1, "f": "1.5", "f32": 0.25, "small": 255, "n": 2.0, "d": "1234.5",
                   "name": "eight ch", "code": "abc", "when": "2020-01-02 03:04:05",
                   "day": datetime.date(2020, 2, 29), "tm": "01:02:03", "mood": "sad",
                   "ok": "true"})
    row = thing.fetch1()
    assert (row["f"], row["f32"], row["small"], row["n"], row["d"]) == (
        1.5, 0.25, 255, 2, decimal.Decimal("1234.50"))
    assert (row["name"], row["code"], row["mood"], row["ok"]) == ("eight ch", "abc", "sad", True)
    assert row["when"] == datetime.datetime(2020, 1, 2, 3, 4, 5)
    assert row["day"] == datetime.date(2020, 2, 29)


def test_database_worded_data_errors_name_table_and_attribute(thing, backend):
    """The fallback: a value only the database refuses still names the table and attribute."""
    from joinflow.backends import PH
    from joinflow.insert import named_data_error
    conn = thing.connection
    q = conn.backend.quote
    with pytest.raises(dj.errors.DataError) as info:
        conn.query(f"INSERT INTO {thing.full_table_name} ({q('id')}, {q('small')}) "
                   f"VALUES ({PH}, {PH})", (1, 300))
    err = named_data_error(thing(), info.value)
    assert isinstance(err, dj.errors.DataError)
    assert str(err).startswith(f"invalid value for attribute `small` of {thing.full_table_name}")


# -- DataJoint's declare module and legacy names -------------------------------------------
def test_declare_sql_of_definition_and_describe_agree(schema):
    from joinflow.declare import declare

    @schema
    class Rig(dj.Lookup):
        definition = """
        rig : varchar(16)
        """

    @schema
    class Run(dj.Manual):
        definition = """
        # a run
        run_id : int32
        ---
        -> Rig
        speed = 1.5 : float64
        label = 'x' : varchar(8)   # a label
        unique index (label)
        index (speed, run_id)
        """

    adapter = Run.connection.adapter
    assert adapter is Run.connection.backend
    context = {"Rig": Rig}
    sql, _ = declare(Run.full_table_name, Run.definition, context, adapter)
    assert "CREATE TABLE" in sql.upper() and "label" in sql
    assert declare(Run.full_table_name, Run.describe(), context, adapter)[0] == sql
    changed = Run.definition.replace("'x'", "'y'")
    assert declare(Run.full_table_name, changed, context, adapter)[0] != sql


def test_match_type_and_core_type_sql():
    from joinflow.declare import CORE_TYPE_SQL, SPECIAL_TYPES, match_type
    assert [match_type(t) for t in ("float32", "int64", "bool", "<blob>")] == [
        "FLOAT32", "INT64", "BOOL", "CODEC"]
    assert all(match_type(t) in SPECIAL_TYPES for t in ("float32", "int8", "uuid", "json"))
    assert [match_type(t) for t in ("int", "tinyint unsigned", "double", "varchar(8)")] == [
        "INTEGER", "INTEGER", "FLOAT", "VARCHAR"]
    assert (CORE_TYPE_SQL["float32"], CORE_TYPE_SQL["int16"], CORE_TYPE_SQL["bool"]) == (
        "float", "smallint", "tinyint")


def test_legacy_make_tuples(schema):
    @schema
    class Source(dj.Lookup):
        definition = """
        n : int32
        """
        contents = [(1,), (2,)]

    @schema
    class Square(dj.Computed):
        definition = """
        -> Source
        ---
        sq : int32
        """

        def _make_tuples(self, key):  # DataJoint 0.x's name for make
            self.insert1(dict(key, sq=key["n"] ** 2))

    Square.populate()
    assert Square.to_dicts(order_by="n") == [{"n": 1, "sq": 1}, {"n": 2, "sq": 4}]


def test_drop_refuses_to_orphan_a_part_table(schema):
    @schema
    class Site(dj.Lookup):
        definition = """
        url : varchar(64)
        """

    @schema
    class Person(dj.Manual):
        definition = """
        person_id : int32
        """

        class Site(dj.Part):
            definition = """
            -> master
            -> Site
            """

    with pytest.raises(dj.errors.JoinflowError, match="without its master"):
        Site.drop()
    assert Site.is_declared and Person.Site.is_declared
    Site.drop(part_integrity="ignore")
    assert not Site.is_declared and not Person.Site.is_declared and Person.is_declared


def test_validation_result_as_datajoint_builds_it(schema):
    @schema
    class Item(dj.Manual):
        definition = """
        id : int32
        ---
        value : varchar(8)
        """

    assert bool(dj.ValidationResult(is_valid=True, errors=[], rows_checked=1)) is True
    errors = [(i, f"field{i}", f"error{i}") for i in range(12)]
    bad = dj.ValidationResult(is_valid=False, errors=errors, rows_checked=12)
    assert not bad and "Validation failed: 12 error(s)" in bad.summary()
    assert "Row 0, field0: error0" in bad.summary() and "and 2 more errors" in bad.summary()
    assert Item.validate([{"id": 1, "value": "one"}]).summary() == \
        "Validation passed: 1 rows checked"
    result = Item.validate([{"value": "one"}])
    assert not result.is_valid and "'id'" in result.errors[0][2]


def test_year_type(schema):
    @schema
    class Term(dj.Manual):
        definition = """
        term_year : year
        """

    Term.insert([{"term_year": 2019}, {"term_year": 2020}])
    assert sorted(Term.to_arrays("term_year")) == [2019, 2020]


def test_query_reconnect_argument(conn):
    conn.close()
    with pytest.raises(dj.errors.LostConnectionError, match="not connected"):
        conn.query("SELECT 1", reconnect=False)
    assert conn.query("SELECT 1", reconnect=True) == [(1,)]


def test_use_tls_false_connects_without_tls(backend, tmp_path):
    from conftest import backend_config, connect
    if backend == "sqlite":
        pytest.skip("SQLite has no server")
    connect(backend).close()  # skip when the server is unreachable
    c = dj.Connection(config=backend_config(backend, tmp_path), use_tls=False)
    assert c.config["database.use_tls"] is False and c.query("SELECT 1") == [(1,)]
    c.close()


def test_undecorated_or_unactivated_table_says_so():
    class Loose(dj.Manual):
        definition = """
        id : int32
        """

    with pytest.raises(dj.errors.JoinflowError, match="not properly configured"):
        Loose().full_table_name
    later = dj.Schema()  # activated later (Elements)

    @later
    class Waiting(dj.Manual):
        definition = """
        id : int32
        """

    for use in (lambda: Waiting().heading, lambda: Waiting().primary_key):
        with pytest.raises(dj.errors.JoinflowError, match="not properly configured"):
            use()
