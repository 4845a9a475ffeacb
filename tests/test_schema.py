"""Declaration on a database: foreign keys, the Schema API, virtual schemas, FreeTable,
describe() round trips, parents/children and the exact DDL each dialect gets."""
from __future__ import annotations

import datetime as dt
import uuid

import numpy as np
import pytest

import joinflow as dj
from joinflow.backends import get_backend
from joinflow.declare import ResolvedFK, build_attributes, ddl
from joinflow.definition.parser import parse_definition
from joinflow.definition.types import TypeSpec
from joinflow.errors import (DataError, DefinitionError, DuplicateError, ForeignKeyError,
                             IntegrityError, MissingTableError)
from joinflow.heading import Attribute, Heading
from joinflow.naming import to_camel, to_snake


def plain(heading):
    """What a heading promises a user, without lineage / SQL spelling."""
    return [(a.name, a.type, a.in_key, a.nullable, a.comment, a.default is not None)
            for a in heading.values()]


# --------------------------------------------------------------------------- foreign keys
def test_foreign_keys_primary_and_secondary(schema):
    @schema
    class Person(dj.Manual):
        definition = """
        person_id : int32
        ---
        name : varchar(20)
        """

    @schema
    class Rig(dj.Lookup):
        definition = """
        rig : varchar(8)
        """
        contents = [("r1",), ("r2",), ("r3",)]

    @schema
    class Marriage(dj.Manual):
        definition = """
        # two people, one officiant
        -> Person.proj(husband='person_id')
        -> Person.proj(wife='person_id')
        ---
        -> [nullable] Person.proj(officiant='person_id')
        -> [unique] Rig
        """

    Person.insert([(1, "a"), (2, "b"), (3, "c"), (4, "d")])
    h = Marriage.heading
    assert h.primary_key == ["husband", "wife"]
    assert h.secondary_attributes == ["officiant", "rig"]
    assert h["officiant"].nullable and not h["rig"].nullable
    assert h["husband"].core == "int32" and h["rig"].type == "varchar(8)"
    Marriage.insert1(dict(husband=1, wife=2, officiant=None, rig="r1"))
    Marriage.insert1(dict(husband=3, wife=4, officiant=1, rig="r2"))
    assert (Marriage & {"husband": 3}).fetch1("officiant") == 1
    with pytest.raises(DuplicateError):
        Marriage.insert1(dict(husband=2, wife=1, rig="r1"))  # [unique] rig
    with pytest.raises(ForeignKeyError) as info:
        Marriage.insert1(dict(husband=1, wife=9, rig="r3"))  # no person 9
    assert isinstance(info.value, IntegrityError)
    with pytest.raises(ForeignKeyError):
        Marriage.insert1(dict(husband=1, wife=3, officiant=9, rig="r3"))
    assert len(Marriage) == 2
    # parents / children
    # one entry per foreign key (three to Person under different names), as in DataJoint
    parents = Marriage.parents()
    assert sorted(parents) == sorted([Person.full_table_name] * 3 + [Rig.full_table_name])
    info = dict(Marriage.parents(foreign_key_info=True) and
                [(n, p) for n, p in Marriage.parents(foreign_key_info=True) if n == Rig.full_table_name])
    assert info[Rig.full_table_name]["attr_map"] == {"rig": "rig"}
    maps = sorted(tuple(p["attr_map"].items()) for n, p in Marriage.parents(foreign_key_info=True)
                  if n == Person.full_table_name)
    assert maps == [(("husband", "person_id"),), (("officiant", "person_id"),),
                    (("wife", "person_id"),)]
    assert Person.children() == [Marriage.full_table_name] * 3
    assert Marriage.children() == []
    primaries = [p["attr_map"] for _, p in Marriage.parents(primary=True, foreign_key_info=True)]
    assert sorted(list(m) for m in primaries) == [["husband"], ["wife"]]


def test_foreign_key_across_schemas(make_schema):
    s1, s2 = make_schema("jfa"), make_schema("jfb")

    @s1
    class Animal(dj.Manual):
        definition = """
        animal : varchar(10)
        """

    @s2
    class Weighing(dj.Manual):
        definition = """
        -> Animal
        day : date
        ---
        grams : float32
        """

    Animal.insert1(("rex",))
    Weighing.insert1(("rex", "2024-01-01", 10.5))
    with pytest.raises(ForeignKeyError):
        Weighing.insert1(("tom", "2024-01-01", 1))
    assert Weighing.parents() == [Animal.full_table_name]
    assert Animal.children() == [Weighing.full_table_name]
    assert (Animal * Weighing).fetch1("grams") == 10.5
    assert s2.list_tables() == ["weighing"]
    assert "Weighing" in s2 and "Animal" not in s2


def test_declaration_errors_on_database(schema):
    @schema
    class Parent(dj.Manual):
        definition = """
        pid : int32
        """

    with pytest.raises(DefinitionError) as info:
        @schema
        class Child(dj.Manual):
            definition = """
            -> Parent
            ---
            x : int32
            index(x, nope)
            """
    assert "nope" in str(info.value) and "line 5" in str(info.value)
    with pytest.raises(DefinitionError, match="Missing"):
        @schema
        class Orphan(dj.Manual):
            definition = """
            -> Missing
            """
    with pytest.raises(DefinitionError, match="not a primary key attribute"):
        @schema
        class Renamed(dj.Manual):
            definition = """
            -> Parent.proj(other='nothere')
            """
    with pytest.raises(DefinitionError, match="CamelCase"):
        @schema
        class bad_name(dj.Manual):
            definition = "x : int32"
    assert schema.list_tables() == ["parent"]


# --------------------------------------------------------------------------- schema API
def test_naming():
    assert to_snake("Subject") == "subject"
    assert to_snake("SessionTrial") == "session_trial"
    assert to_snake("ProcessedEMG") == "processed_e_m_g"
    assert to_snake("Scan2Trial") == "scan2_trial"
    assert to_snake("V1Neuron") == "v1_neuron"
    assert to_snake("Area51") == "area51"
    assert to_snake("Table2D") == "table2_d"
    for bad in ("My_Table", "subject", "2Fast", "Tab le"):
        with pytest.raises(DefinitionError):
            to_snake(bad)
    assert to_camel("session_trial") == "SessionTrial"


def test_schema_introspection(schema, conn):
    @schema
    class Subject(dj.Manual):
        definition = """
        subject_id : int32
        ---
        species = "mouse" : varchar(20)
        """

    @schema
    class Param(dj.Lookup):
        definition = """
        param : int16
        ---
        value : float64
        """
        contents = [(1, 0.5), (2, 1.5)]

    @schema
    class Scan(dj.Imported):
        definition = """
        -> Subject
        scan : int16
        ---
        frames : longblob
        """

    @schema
    class Filter(dj.Computed):
        definition = """
        -> Scan
        -> Param
        ---
        score : float32
        """

        class Unit(dj.Part):
            definition = """
            -> master
            unit : int32
            ---
            trace : longblob
            """

    @schema
    class V1Neuron2D(dj.Entry):
        definition = """
        n : int32
        """

    assert dj.Entry is dj.Manual and dj.Ingest is dj.Imported and dj.Compute is dj.Computed
    names = schema.list_tables()
    expected = {"subject", "#param", "_scan", "__filter", "__filter__unit", "v1_neuron2_d"}
    assert set(names) == expected and len(names) == len(expected)
    for parent, child in [("subject", "_scan"), ("_scan", "__filter"), ("#param", "__filter"),
                          ("__filter", "__filter__unit")]:
        assert names.index(parent) < names.index(child)
    assert [t.table_name for t in schema] == names
    assert Param.to_dicts(order_by="param") == [dict(param=1, value=0.5), dict(param=2, value=1.5)]
    assert Filter.Unit.table_name == "__filter__unit"
    assert Filter.Unit.master is Filter
    # lookup by class name or SQL name
    for name in ("Subject", "subject"):
        t = schema[name]
        assert isinstance(t, dj.FreeTable) and t.table_name == "subject"
    assert schema["Param"].table_name == "#param" and schema["#param"].table_name == "#param"
    assert schema["Filter.Unit"].table_name == "__filter__unit"
    assert schema.get_table("Scan").table_name == "_scan"
    # the snake_case name without its tier prefix (DataJoint 2.x)
    assert schema.get_table("scan").table_name == "_scan" and "scan" in schema
    assert schema["param"].table_name == "#param" and schema["filter__unit"].table_name == "__filter__unit"
    assert schema["V1Neuron2D"].table_name == "v1_neuron2_d"
    assert "Subject" in schema and "#param" in schema and "Nope" not in schema
    with pytest.raises(MissingTableError):
        schema["Nope"]
    # FreeTable by name, quoted or not
    Subject.insert1(dict(subject_id=1))
    ft = dj.FreeTable(conn, f"{schema.database}.subject")
    assert ft.to_dicts() == [dict(subject_id=1, species="mouse")]
    assert dj.FreeTable(conn, Subject.full_table_name).heading == Subject.heading
    assert ft.primary_key == ["subject_id"] and ft.heading.secondary_attributes == ["species"]
    ft.insert1(dict(subject_id=2, species="rat"))
    assert len(Subject) == 2
    # heading of a part through its FK
    assert Filter.Unit.heading.primary_key == ["subject_id", "scan", "param", "unit"]
    assert Filter.Unit.parents() == [Filter.full_table_name]
    assert Filter.parts() == [Filter.Unit.full_table_name]


def test_schema_drop(make_schema, conn):
    s = make_schema("jfd")

    @s
    class Thing(dj.Manual):
        definition = "t : int32"

    @s
    class Sub(dj.Manual):
        definition = "-> Thing\ns : int32"

    name = s.database
    assert name in dj.list_schemas(conn)
    s.drop(prompt=False)
    assert not s.exists and name not in dj.list_schemas(conn)
    s.drop(prompt=False)  # a second drop does nothing
    with pytest.raises(MissingTableError):
        dj.Schema(name, connection=conn, create_schema=False)


def test_virtual_schema(schema, conn):
    @schema
    class Session(dj.Manual):
        definition = """
        # sessions
        session : int32
        ---
        notes = "" : varchar(100)   # free notes
        data = null : longblob
        """

        class Trial(dj.Part):
            definition = """
            -> master
            trial : int16
            ---
            result : <blob>
            """

    @schema
    class Kind(dj.Lookup):
        definition = "kind : varchar(8)"
        contents = [("a",), ("b",)]

    arr = np.linspace(0, 1, 7)
    Session.insert1(dict(session=1, notes="n", data=arr))
    Session.Trial.insert([dict(session=1, trial=t, result={"t": t}) for t in range(3)])

    vm = dj.virtual_schema(schema.database, connection=conn)
    assert vm.schema.database == schema.database
    assert issubclass(vm.Session, dj.Manual) and issubclass(vm.Kind, dj.Lookup)
    assert issubclass(vm.Session.Trial, dj.Part) and vm.Session.Trial.master is vm.Session
    row = vm.Session.fetch1()
    assert np.array_equal(row["data"], arr) and row["notes"] == "n"
    assert [r["result"]["t"] for r in vm.Session.Trial.to_dicts(order_by="trial")] == [0, 1, 2]
    assert sorted(vm.Kind.to_dicts(), key=str) == [dict(kind="a"), dict(kind="b")]
    vm.Session.insert1(dict(session=2, data=[1, 2]))
    assert len(Session) == 2 and Session.heading.secondary_attributes == ["notes", "data"]
    assert plain(vm.Session.heading) == plain(Session.heading)
    assert plain(vm.Session.Trial.heading) == plain(Session.Trial.heading)
    assert vm.Session.heading.table_comment == "sessions"
    assert len(vm.Session * vm.Session.Trial) == 3


def test_describe_redeclares_identically(make_schema):
    a = make_schema("jfo")

    @a
    class Person(dj.Manual):
        definition = """
        # a person
        person_id : int32        # id
        ---
        name = "x#y:z" : varchar(30)   # the name
        born = null : date
        kind = 'human' : enum('human', 'robot')
        score = 1.5 : float64
        stamp = CURRENT_TIMESTAMP : datetime(3)
        flag = true : bool
        photo = null : longblob
        doc = null : json
        token = null : uuid
        price = null : decimal(9,2)
        n = 5 : uint8
        unique index(name)
        index(score, kind)
        """

    @a
    class Pair(dj.Manual):
        definition = """
        -> Person.proj(left_id='person_id')
        -> Person.proj(right_id='person_id')
        ---
        -> [nullable] Person
        -> [unique, nullable] Person.proj(witness='person_id')
        note = null : varchar(10)
        """

    texts = {"Person": Person.describe(), "Pair": Pair.describe()}
    assert texts["Person"].startswith("# a person\n")
    assert "-> Person.proj(left_id='person_id')" in texts["Pair"].replace('"', "'")
    b = make_schema("jfn")
    ns: dict = {}
    for name in ("Person", "Pair"):
        cls = type(name, (dj.Manual,), {"definition": texts[name]})
        ns[name] = b(cls, context=ns)
    for name, orig in (("Person", Person), ("Pair", Pair)):
        assert plain(ns[name].heading) == plain(orig.heading), name
        assert ns[name].heading.table_comment == orig.heading.table_comment
        assert ns[name].describe() == texts[name]
    # indexes and FK options survived
    ns["Person"].insert([dict(person_id=1, name="a"), dict(person_id=2, name="b")])
    with pytest.raises(DuplicateError):
        ns["Person"].insert1(dict(person_id=3, name="a"))
    ns["Pair"].insert1(dict(left_id=1, right_id=2, witness=None))
    ns["Pair"].insert1(dict(left_id=2, right_id=1, witness=None))
    ns["Pair"].insert1(dict(left_id=1, right_id=1, witness=2))
    with pytest.raises(DuplicateError):
        ns["Pair"].insert1(dict(left_id=2, right_id=2, witness=2))
    with pytest.raises(DataError):
        ns["Person"].insert1(dict(person_id=4, name="c", kind="alien"))


def test_describe_round_trips_tricky_defaults(make_schema):
    a, b = make_schema("jfo"), make_schema("jfn")
    definition = r"""
    id : int32
    ---
    tag = "00000000-0000-0000-0000-00000000000a" : uuid
    when = "2020-01-02" : datetime
    day = '2021-03-04' : date
    clock = "12:30:00" : time
    quote = "say ""hi"" it's" : varchar(20)
    slash = 'back\slash\n' : varchar(20)
    hash = "a#b:c" : varchar(10)
    neg = -5 : int32
    ratio = -0.25 : float64
    kind = pending : enum('pending', 'done')
    flag = false : bool
    """
    orig = a(type("Defaults", (dj.Manual,), {"definition": definition}))
    copy = b(type("Defaults", (dj.Manual,), {"definition": orig.describe()}))
    assert plain(copy.heading) == plain(orig.heading)
    orig.insert1(dict(id=1))
    copy.insert1(dict(id=1))
    row = orig.fetch1()
    assert row == copy.fetch1()
    assert row == dict(id=1, tag=uuid.UUID(int=10), when=dt.datetime(2020, 1, 2),
                       day=dt.date(2021, 3, 4), clock=dt.timedelta(hours=12, minutes=30),
                       quote='say "hi" it\'s', slash="back\\slash\\n", hash="a#b:c", neg=-5,
                       ratio=-0.25, kind="pending", flag=False)
    assert copy.describe() == orig.describe()


def test_fk_attribute_keeps_parent_type_and_comment(schema):
    @schema
    class Src(dj.Manual):
        definition = """
        code : char(3)   # three letters
        src_id : uint32
        """

    @schema
    class Dst(dj.Manual):
        definition = """
        -> Src
        idx : int8
        """

    h = Dst.heading
    assert h["code"].type == "char(3)" and h["code"].comment == "three letters"
    assert h["src_id"].core == "uint32"
    Src.insert1(("abc", 2**32 - 1))
    Dst.insert1(("abc", 2**32 - 1, -1))
    assert Dst.fetch1() == dict(code="abc", src_id=2**32 - 1, idx=-1)


def test_long_names(schema):
    long_name = "A" + "b" * 70

    with pytest.raises(DefinitionError, match="long"):
        schema(type(long_name, (dj.Manual,), {"definition": "x : int32"}))
    # long (but allowed) table and index names work on every backend
    cls = type("Long" + "x" * 50, (dj.Manual,), {"definition": """
        some_rather_long_attribute_name_number_one : int32
        ---
        some_rather_long_attribute_name_number_two : int32
        some_rather_long_attribute_name_number_three : int32
        index(some_rather_long_attribute_name_number_two)
        unique index(some_rather_long_attribute_name_number_three)
        """})
    t = schema(cls)
    t.insert1((1, 2, 3))
    with pytest.raises(DuplicateError):
        t.insert1((2, 2, 3))
    assert schema.list_tables() == ["long" + "x" * 50]


# --------------------------------------------------------------------------- golden DDL
GOLDEN_DEFINITION = """
# A recording session
session_id : uint16          # session number
---
started = CURRENT_TIMESTAMP : datetime(3)
label = "n/a" : varchar(32)  # free text
quality : enum('good', 'bad')
gain = 1.5 : float64
flag = false : bool
tag = null : uuid
data = null : <blob>
unique index(label)
index(quality, gain)
"""

GOLDEN = {
    "sqlite": [
        'CREATE TABLE "lab.session" (\n'
        '  "session_id" INT NOT NULL CHECK ("session_id" BETWEEN 0 AND 65535),\n'
        '  "started" TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP '
        'CHECK (substr("started", 1, 19) = datetime("started")),\n'
        '  "label" TEXT NOT NULL DEFAULT \'n/a\' CHECK (length("label") <= 32),\n'
        '  "quality" TEXT NOT NULL CHECK ("quality" IN (\'good\', \'bad\')),\n'
        '  "gain" REAL NOT NULL DEFAULT 1.5,\n'
        '  "flag" INTEGER NOT NULL DEFAULT 0 CHECK ("flag" IN (0, 1)),\n'
        '  "tag" BLOB CHECK (length("tag") = 16),\n'
        '  "data" BLOB,\n'
        '  PRIMARY KEY ("session_id")\n'
        ') STRICT',
        'CREATE UNIQUE INDEX "lab.session.u_label_f9247e87" ON "lab.session" ("label")',
        'CREATE INDEX "lab.session.i_quality_72cbe6ab" ON "lab.session" ("quality", "gain")',
        ('INSERT OR REPLACE INTO "~columns" (tbl, col, comment) VALUES (?, ?, ?)',
         ('lab.session', '', 'A recording session')),
        ('INSERT OR REPLACE INTO "~columns" (tbl, col, comment) VALUES (?, ?, ?)',
         ('lab.session', 'session_id', ':uint16:session number')),
        ('INSERT OR REPLACE INTO "~columns" (tbl, col, comment) VALUES (?, ?, ?)',
         ('lab.session', 'started', ':datetime(3):')),
        ('INSERT OR REPLACE INTO "~columns" (tbl, col, comment) VALUES (?, ?, ?)',
         ('lab.session', 'label', ':varchar(32):free text')),
        ('INSERT OR REPLACE INTO "~columns" (tbl, col, comment) VALUES (?, ?, ?)',
         ('lab.session', 'quality', ":enum('good','bad'):")),
        ('INSERT OR REPLACE INTO "~columns" (tbl, col, comment) VALUES (?, ?, ?)',
         ('lab.session', 'gain', ':float64:')),
        ('INSERT OR REPLACE INTO "~columns" (tbl, col, comment) VALUES (?, ?, ?)',
         ('lab.session', 'flag', ':bool:')),
        ('INSERT OR REPLACE INTO "~columns" (tbl, col, comment) VALUES (?, ?, ?)',
         ('lab.session', 'tag', ':uuid:')),
        ('INSERT OR REPLACE INTO "~columns" (tbl, col, comment) VALUES (?, ?, ?)',
         ('lab.session', 'data', ':<blob>:')),
    ],
    "postgresql": [
        'CREATE TABLE "lab"."session" (\n'
        '  "session_id" integer NOT NULL CHECK ("session_id" BETWEEN 0 AND 65535),\n'
        '  "started" timestamp(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,\n'
        '  "label" varchar(32) NOT NULL DEFAULT \'n/a\',\n'
        '  "quality" varchar(4) NOT NULL CHECK ("quality" IN (\'good\', \'bad\')),\n'
        '  "gain" double precision NOT NULL DEFAULT 1.5,\n'
        '  "flag" smallint NOT NULL DEFAULT 0 CHECK ("flag" IN (0, 1)),\n'
        '  "tag" uuid DEFAULT NULL,\n'
        '  "data" bytea DEFAULT NULL,\n'
        '  PRIMARY KEY ("session_id")\n'
        ')',
        'CREATE UNIQUE INDEX "session__u_label_f9247e87" ON "lab"."session" ("label")',
        'CREATE INDEX "session__i_quality_72cbe6ab" ON "lab"."session" ("quality", "gain")',
        ('COMMENT ON TABLE "lab"."session" IS \'A recording session\'', ()),
        ('COMMENT ON COLUMN "lab"."session"."session_id" IS \':uint16:session number\'', ()),
        ('COMMENT ON COLUMN "lab"."session"."started" IS \':datetime(3):\'', ()),
        ('COMMENT ON COLUMN "lab"."session"."label" IS \':varchar(32):free text\'', ()),
        ('COMMENT ON COLUMN "lab"."session"."quality" IS \':enum(\'\'good\'\',\'\'bad\'\'):\'', ()),
        ('COMMENT ON COLUMN "lab"."session"."gain" IS \':float64:\'', ()),
        ('COMMENT ON COLUMN "lab"."session"."flag" IS \':bool:\'', ()),
        ('COMMENT ON COLUMN "lab"."session"."tag" IS \':uuid:\'', ()),
        ('COMMENT ON COLUMN "lab"."session"."data" IS \':<blob>:\'', ()),
    ],
    "mysql": [
        "CREATE TABLE `lab`.`session` (\n"
        "  `session_id` smallint unsigned NOT NULL COMMENT ':uint16:session number',\n"
        "  `started` datetime(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) COMMENT ':datetime(3):',\n"
        "  `label` varchar(32) NOT NULL DEFAULT 'n/a' COMMENT ':varchar(32):free text',\n"
        "  `quality` enum('good', 'bad') NOT NULL COMMENT ':enum(''good'',''bad''):',\n"
        "  `gain` double NOT NULL DEFAULT 1.5 COMMENT ':float64:',\n"
        "  `flag` tinyint NOT NULL DEFAULT 0 COMMENT ':bool:' CHECK (`flag` IN (0, 1)),\n"
        "  `tag` binary(16) NULL DEFAULT NULL COMMENT ':uuid:',\n"
        "  `data` longblob NULL DEFAULT NULL COMMENT ':<blob>:',\n"
        "  PRIMARY KEY (`session_id`)\n"
        ") ENGINE=InnoDB COMMENT='A recording session'",
        "CREATE UNIQUE INDEX `u_label_f9247e87` ON `lab`.`session` (`label`)",
        "CREATE INDEX `i_quality_72cbe6ab` ON `lab`.`session` (`quality`, `gain`)",
    ],
}


@pytest.mark.parametrize("dialect", sorted(GOLDEN))
def test_golden_ddl(dialect):
    backend = get_backend(dialect)
    spec = parse_definition(GOLDEN_DEFINITION)
    statements = ddl("lab", "session", spec, [], build_attributes(spec, [], backend), backend)
    assert statements == GOLDEN[dialect]


def test_golden_definition_declares(schema):
    """The golden table is valid on the live server and reads back as declared."""
    cls = schema(type("Session", (dj.Manual,), {"definition": GOLDEN_DEFINITION}))
    h = cls.heading
    assert h.table_comment == "A recording session"
    assert [h[n].type for n in h.names] == [
        "uint16", "datetime(3)", "varchar(32)", "enum('good','bad')", "float64", "bool", "uuid",
        "<blob>"]
    cls.insert1(dict(session_id=65535, quality="good"))
    row = cls.fetch1()
    assert (row["label"], row["gain"], row["flag"], row["tag"], row["data"]) == \
        ("n/a", 1.5, False, None, None)
    assert row["started"].year >= 2024


GOLDEN_FK_DEFINITION = """
-> Subject
trial : int16
---
-> [nullable] Subject.proj(helper='subject_id')
"""

GOLDEN_FK = {
    "sqlite": [
        'CREATE TABLE "lab.trial" (\n'
        '  "subject_id" INT NOT NULL CHECK ("subject_id" BETWEEN -2147483648 AND 2147483647),\n'
        '  "trial" INT NOT NULL CHECK ("trial" BETWEEN -32768 AND 32767),\n'
        '  "helper" INT CHECK ("helper" BETWEEN -2147483648 AND 2147483647),\n'
        '  PRIMARY KEY ("subject_id", "trial"),\n'
        '  FOREIGN KEY ("subject_id") REFERENCES "lab.subject" ("subject_id") '
        'ON UPDATE CASCADE ON DELETE RESTRICT,\n'
        '  FOREIGN KEY ("helper") REFERENCES "lab.subject" ("subject_id") '
        'ON UPDATE CASCADE ON DELETE RESTRICT\n'
        ') STRICT',
        'CREATE INDEX "lab.trial.i_helper_7cb7e627" ON "lab.trial" ("helper")',
    ],
    "postgresql": [
        'CREATE TABLE "lab"."trial" (\n'
        '  "subject_id" integer NOT NULL,\n'
        '  "trial" smallint NOT NULL,\n'
        '  "helper" integer DEFAULT NULL,\n'
        '  PRIMARY KEY ("subject_id", "trial"),\n'
        '  FOREIGN KEY ("subject_id") REFERENCES "lab"."subject" ("subject_id") '
        'ON UPDATE CASCADE ON DELETE RESTRICT,\n'
        '  FOREIGN KEY ("helper") REFERENCES "lab"."subject" ("subject_id") '
        'ON UPDATE CASCADE ON DELETE RESTRICT\n'
        ')',
        'CREATE INDEX "trial__i_helper_7cb7e627" ON "lab"."trial" ("helper")',
    ],
    "mysql": [
        "CREATE TABLE `lab`.`trial` (\n"
        "  `subject_id` int NOT NULL COMMENT ':int32:the subject',\n"
        "  `trial` smallint NOT NULL COMMENT ':int16:',\n"
        "  `helper` int NULL DEFAULT NULL COMMENT ':int32:the subject',\n"
        "  PRIMARY KEY (`subject_id`, `trial`),\n"
        "  FOREIGN KEY (`subject_id`) REFERENCES `lab`.`subject` (`subject_id`) "
        "ON UPDATE CASCADE ON DELETE RESTRICT,\n"
        "  FOREIGN KEY (`helper`) REFERENCES `lab`.`subject` (`subject_id`) "
        "ON UPDATE CASCADE ON DELETE RESTRICT\n"
        ") ENGINE=InnoDB COMMENT=''",
    ],
}


class _StubParent:
    """Stands in for a declared parent table (only what declaration reads)."""

    database, table_name = "lab", "subject"
    heading = Heading([Attribute("subject_id", TypeSpec("int32"), True, comment="the subject")])


@pytest.mark.parametrize("dialect", sorted(GOLDEN_FK))
def test_golden_ddl_with_foreign_keys(dialect):
    backend = get_backend(dialect)
    spec = parse_definition(GOLDEN_FK_DEFINITION)
    fks = [ResolvedFK(d, _StubParent(), [(next(iter(d.renames), "subject_id"), "subject_id")])
           for d in spec.foreign_keys]
    statements = ddl("lab", "trial", spec, fks, build_attributes(spec, fks, backend), backend)
    creates = [s for s in statements if isinstance(s, str)]
    assert creates == GOLDEN_FK[dialect]
    comments = [s for s in statements if not isinstance(s, str)]
    assert len(comments) == (0 if dialect == "mysql" else 4)
    assert any(":int32:the subject" in str(c) for c in comments) or dialect == "mysql"


def test_diagram_text_and_attribute_flags(schema):
    @schema
    class Subject(dj.Manual):
        definition = """
        subject_id : int32
        ---
        name : varchar(16)
        meta = null : json
        guid = null : uuid
        file = null : attach
        """

    @schema
    class Session(dj.Manual):
        definition = """
        -> Subject
        session : int16
        """

    d = dj.Diagram(schema)
    text = repr(d)
    assert text.index(".subject") < text.index(".session") and "<- " in text
    assert repr(dj.Diagram(Subject) + 1).count("\n") == 1
    assert (dj.Diagram(Session) - 1).nodes == d.nodes
    h = Subject.heading
    assert h["name"].string and h["meta"].json and h["guid"].uuid and h["file"].is_attachment
    assert not h["file"].is_external and h["subject_id"].numeric and not h["name"].numeric
    assert Subject.fetch(dj.key) == []


def test_lineage_table_kept_for_datajoint(schema, conn):
    """DataJoint 2.x reads `~lineage`; joinflow keeps it current (hidden from list_tables)."""
    @schema
    class Person(dj.Manual):
        definition = """
        person_id : int32
        ---
        name : varchar(20)
        """

    @schema
    class Marriage(dj.Manual):
        definition = """
        -> Person.proj(husband='person_id')
        -> Person.proj(wife='person_id')
        """

    assert "~lineage" not in schema.list_tables()
    lin = dj.FreeTable(conn, f"{schema.database}.~lineage")
    rows = {(r["table_name"], r["attribute_name"]): r["lineage"] for r in lin.to_dicts()}
    origin = f"{schema.database}.person.person_id"
    assert rows[("marriage", "husband")] == rows[("marriage", "wife")] == origin
    assert rows[("person", "person_id")] == origin
    Marriage.drop()
    assert not [k for k in {(r["table_name"]) for r in lin.to_dicts()} if k == "marriage"]


def test_size_on_disk(schema):
    @schema
    class Blobby(dj.Manual):
        definition = """
        a : int32
        ---
        payload : longblob
        """

    Blobby.insert([(i, b"x" * 1000) for i in range(200)])
    size = Blobby.size_on_disk  # MySQL's figure comes from InnoDB's (lazy) statistics
    assert size is None or size > 0
    total = schema.size_on_disk
    assert total is None or total >= (size or 0)


# --------------------------------------------------------------------------- system schemas
def test_system_schema_activates_but_is_never_dropped(conn, backend):
    if backend == "sqlite":
        pytest.skip("SQLite has no system schemas")
    info = dj.Schema("information_schema", connection=conn)  # exists: nothing is created
    assert info.exists
    with pytest.raises(dj.errors.AccessError, match="'information_schema' is a system schema"):
        info.drop(prompt=False)
    assert dj.Schema("information_schema", connection=conn).exists


def test_read_only_user_activates_an_existing_schema(schema, backend, tmp_path):
    if backend != "mysql":
        pytest.skip("user accounts are set up here for MySQL only")

    @schema
    class Probe(dj.Lookup):
        definition = """
        probe : int32
        """
        contents = [(1,), (2,)]

    user = f"jfro{uuid.uuid4().hex[:8]}"
    run = schema.connection.query
    run(f"CREATE USER '{user}'@'%%' IDENTIFIED BY 'pw'")
    try:
        run(f"GRANT SELECT ON `{schema.database}`.* TO '{user}'@'%%'")
        ro = dj.Connection(host=schema.connection.conn_info["host"],
                           port=schema.connection.conn_info["port"], user=user, password="pw")
        try:
            view = dj.Schema(schema.database, connection=ro, create_tables=False)
            assert "#probe" in view.list_tables()
            assert sorted(dj.FreeTable(ro, f"{schema.database}.#probe").to_arrays("probe")) \
                == [1, 2]
            with pytest.raises(dj.errors.AccessError):
                view.drop(prompt=False)
        finally:
            ro.close()
    finally:
        run(f"DROP USER '{user}'@'%%'")


def test_is_activated(conn):
    later = dj.Schema()
    assert not later.is_activated()
    name = f"jft_act_{uuid.uuid4().hex[:8]}"
    later.activate(name, connection=conn)
    try:
        assert later.is_activated() and later.exists
    finally:
        later.drop(prompt=False)
