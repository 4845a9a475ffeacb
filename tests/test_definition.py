"""The definition language parser (pure: no database)."""
from __future__ import annotations

import random

import pytest

from joinflow.definition.parser import (ForeignKeyDecl, SqlDefault, parse_definition,
                                        parse_default)
from joinflow.definition.types import TypeSpec, parse_type
from joinflow.errors import DefinitionError


def attrs(spec):
    return {a.name: a for a in spec.attributes}


def test_comment_key_split_and_attribute_parts():
    spec = parse_definition("""
    # Experimental subject  # with a hash
    subject_id : int32        # the id
    ---
    name = "anon" : varchar(30)   # full name
    weight = null : float64
    # a later comment line is ignored
    """)
    assert spec.comment == "Experimental subject  # with a hash"
    a = attrs(spec)
    assert list(a) == ["subject_id", "name", "weight"]
    assert a["subject_id"].in_key and not a["name"].in_key and not a["weight"].in_key
    assert a["subject_id"].comment == "the id" and a["subject_id"].type == TypeSpec("int32")
    assert (a["name"].default, a["name"].has_default, a["name"].nullable) == ("anon", True, False)
    assert a["name"].type.core == "varchar" and a["name"].type.args == (30,)
    assert a["name"].comment == "full name"
    assert a["weight"].nullable and a["weight"].default is None and a["weight"].has_default
    assert a["name"].lineno == 5


@pytest.mark.parametrize("sep", ["---", "----------", "___", "_____", "--- # secondary"])
def test_separators(sep):
    spec = parse_definition(f"a : int32\n{sep}\nb : int32")
    assert [x.in_key for x in spec.attributes] == [True, False]


def test_no_separator_means_all_key():
    spec = parse_definition("a : int32\nb : date")
    assert all(x.in_key for x in spec.attributes)


def test_defaults():
    spec = parse_definition("""
    id : int32
    ---
    ts = CURRENT_TIMESTAMP : datetime
    ts3 = current_timestamp(3) : datetime(3)
    s1 = "a # b : c" : varchar(20)  # tricky
    s2 = 'x:y#z' : varchar(20)
    s3 = 'it''s' : varchar(20)
    word = pending : enum('pending', 'done')
    n = -5 : int32
    f = 2.5e3 : float64
    flag = TRUE : bool
    nul = NULL : int32
    """)
    a = attrs(spec)
    assert a["ts"].default == SqlDefault("CURRENT_TIMESTAMP")
    assert a["ts3"].default == SqlDefault("CURRENT_TIMESTAMP")
    assert a["s1"].default == "a # b : c" and a["s1"].comment == "tricky"
    assert a["s1"].type.args == (20,)
    assert a["s2"].default == "x:y#z" and a["s2"].comment == ""
    assert a["s3"].default == "it's"
    assert a["word"].default == "pending"
    assert a["n"].default == -5 and a["f"].default == 2500.0 and a["flag"].default is True
    assert a["nul"].nullable and a["nul"].default is None


def test_enum_values_with_quotes():
    spec = parse_definition("""k : int8
    ---
    e : enum('a', "b,c", 'it''s', 'x#y', 'p:q')  # comment
    """)
    e = attrs(spec)["e"]
    assert e.type.core == "enum" and e.type.args == ("a", "b,c", "it's", "x#y", "p:q")
    assert e.comment == "comment"
    assert parse_type(e.type.render()) == e.type


def test_foreign_keys():
    spec = parse_definition("""
    -> Subject
    -> lab.Session.proj(session_date = 'date')
    trial : int16
    ---
    -> [nullable] Experimenter
    -> [unique] Rig
    -> [ Nullable , UNIQUE ] other_module.Device   # a device
    -> Person.proj(husband='person_id', wife="other_id")
    unique index(trial, husband)
    index (wife)
    """)
    fks = spec.foreign_keys
    assert [f.ref for f in fks] == ["Subject", "lab.Session", "Experimenter", "Rig",
                                    "other_module.Device", "Person"]
    assert [f.in_key for f in fks] == [True, True, False, False, False, False]
    assert fks[1].renames == {"session_date": "date"}
    assert fks[2].options == {"nullable"} and fks[3].options == {"unique"}
    assert fks[4].options == {"nullable", "unique"}
    assert fks[5].renames == {"husband": "person_id", "wife": "other_id"}
    assert all(isinstance(f, ForeignKeyDecl) for f in fks)
    assert [(i.columns, i.unique) for i in spec.indexes] == [(("trial", "husband"), True),
                                                              (("wife",), False)]
    # items keep declaration order (foreign keys interleaved with attributes)
    kinds = [type(i).__name__ for i in spec.items]
    assert kinds == ["ForeignKeyDecl", "ForeignKeyDecl", "AttrDecl"] + ["ForeignKeyDecl"] * 4


@pytest.mark.parametrize("text, core, args", [
    ("int8", "int8", ()), ("uint64", "uint64", ()), ("int", "int32", ()),
    ("int unsigned", "uint32", ()), ("INT(11) UNSIGNED", "uint32", ()),
    ("smallint unsigned", "uint16", ()), ("tinyint", "int8", ()), ("bigint", "int64", ()),
    ("double", "float64", ()), ("float", "float32", ()), ("decimal(8, 3)", "decimal", (8, 3)),
    ("numeric(5)", "decimal", (5, 0)), ("varchar(255)", "varchar", (255,)),
    ("char(4)", "char", (4,)), ("datetime(3)", "datetime", (3,)), ("datetime", "datetime", ()),
    ("timestamp", "timestamp", ()), ("time", "time", ()), ("date", "date", ()),
    ("uuid", "uuid", ()), ("json", "json", ()), ("bytes", "bytes", ()), ("text", "text", ()),
    ("bool", "bool", ()), ("boolean", "bool", ()), ("longtext", "text", ()),
])
def test_core_and_native_types(text, core, args):
    t = parse_type(text)
    assert (t.core, t.args, t.codec) == (core, args, None)


@pytest.mark.parametrize("text, codec, store, legacy", [
    ("longblob", "blob", None, True), ("blob", "blob", None, True),
    ("mediumblob", "blob", None, True), ("attach", "attach", None, True),
    ("<blob>", "blob", None, False), ("<blob@>", "blob", "", False),
    ("<attach@raw>", "attach", "raw", False), ("blob@store", "blob", "store", True),
])
def test_codec_types(text, codec, store, legacy):
    t = parse_type(text)
    assert (t.codec, t.store, t.legacy) == (codec, store, legacy)
    assert parse_type(t.render()).codec == codec


BAD = [
    # (definition, lineno, line, token, words in the message)
    ("id : int32\n---\nx : foo32", 3, "x : foo32", "foo32", "unknown attribute type"),
    ("id : int32\n---\nx int32", 3, "x int32", "x int32", "missing ':'"),
    ("id : int32\n---\nBad : int32", 3, "Bad : int32", "Bad", "attribute name"),
    ("id : int32\n---\n_hidden : int32", 3, "_hidden : int32", "_hidden", "attribute name"),
    ("id = null : int32\n---\nx : int32", 1, "id = null : int32", "id", "nullable"),
    ("id : int32\n---\n-> [nulable] Parent", 3, "-> [nulable] Parent", "nulable", "option"),
    ("-> [nullable] Parent\n---\nx : int32", 1, "-> [nullable] Parent", "nullable", "nullable"),
    ("id : int32\n---\nx : int32\nx : int16", 4, "x : int16", "x", "duplicate"),
    ("id : int32\n---\nimg = 0 : <blob>", 3, "img = 0 : <blob>", "0", "null"),
    ("id : int32\n---\nimg = 'a' : longblob", 3, "img = 'a' : longblob", "'a'", "null"),
    ("id : int32\n---\ndoc = 1 : json", 3, "doc = 1 : json", "1", "null"),
    ("id : int32\n---\nx = a b : int32", 3, "x = a b : int32", "a b", "default"),
    ("id : int32\n---\nx = : int32", 3, "x = : int32", "=", "default"),
    ("id : int32\n---\nx : enum(a, b)", 3, "x : enum(a, b)", "a, b", "quoted"),
    ("id : int32\n---\nx : varchar", 3, "x : varchar", "varchar", "length"),
    ("id : int32\n---\nx : varchar(n)", 3, "x : varchar(n)", "n", "integer"),
    ("id : int32\n---\nx : decimal(3,5)", 3, "x : decimal(3,5)", "decimal(3,5)", "scale"),
    ("id : int32\n---\nx : datetime(9)", 3, "x : datetime(9)", "datetime(9)", "precision"),
    ("id : int32\n---\nx : int32 unsigned", 3, "x : int32 unsigned", "int32 unsigned",
     "uint32"),
    ("id : int32\n---\nx : int32(5)", 3, "x : int32(5)", "int32(5)", "no arguments"),
    ("id : int32\n---\nx : <blob", 3, "x : <blob", "<blob", "codec"),
    ("id : int32\n---\nx : int NOT NULL", 3, "x : int NOT NULL", "int NOT NULL", "type"),
    ("id : int32\n---\nx = CURRENT_TIMESTAMP : int32", 3, "x = CURRENT_TIMESTAMP : int32",
     "CURRENT_TIMESTAMP", "datetime"),
    ("id : bytes\n---\nx : int32", 1, "id : bytes", "bytes", "primary key"),
    ("id : <blob>\n---\nx : int32", 1, "id : <blob>", "<blob>", "primary key"),
    ("id : int32\n---\nindex()", 3, "index()", "index()", "at least one"),
    ("id : int32\n---\nindex(a + b)", 3, "index(a + b)", "a + b", "attribute"),
    ("id : int32\n---\n---\nx : int32", 3, "---", "---", "separator"),
    ("id : int32\n---\n->", 3, "->", "->", "foreign key"),
    ("id : int32\n---\n-> P.proj(x=y)", 3, "-> P.proj(x=y)", "x=y", "rename"),
    ("id : int32\n---\n-> P.proj(", 3, "-> P.proj(", "P.proj(", "reference"),
    ("id : int32\n---\n-> 3P", 3, "-> 3P", "3P", "reference"),
]


@pytest.mark.parametrize("text, lineno, line, token, words", BAD,
                         ids=[b[4] + "-" + str(i) for i, b in enumerate(BAD)])
def test_errors_name_line_and_token(text, lineno, line, token, words):
    with pytest.raises(DefinitionError) as info:
        parse_definition(text, table="Demo")
    exc = info.value
    assert (exc.lineno, exc.line.strip(), exc.token) == (lineno, line, token)
    msg = str(exc)
    assert f"line {lineno}" in msg and repr(line) in msg and repr(token) in msg
    assert "[Demo]" in msg
    assert words.lower() in msg.lower()


def test_no_primary_key_is_a_singleton():
    """Nothing above '---' (an index line is no attribute) parses as a singleton table."""
    for text in ("# only secondary\n---\nx : int32", "index (x)\n---\nx : int32"):
        spec = parse_definition(text, table="Demo")
        assert [(a.name, a.in_key) for a in spec.attributes] == [("x", False)]
    assert parse_definition("index (x)\n---\nx : int32").indexes[0].columns == ("x",)
    with pytest.raises(DefinitionError, match="no attributes") as info:
        parse_definition("# nothing\n---", table="Demo")
    assert "[Demo]" in str(info.value)
    with pytest.raises(DefinitionError, match="no attributes"):
        parse_definition("")


def test_default_parser_alone():
    assert parse_default("null") == (True, None, True)
    assert parse_default("'a''b'") == (False, "a'b", True)
    assert parse_default("now()") == (False, SqlDefault("CURRENT_TIMESTAMP"), True)
    with pytest.raises(DefinitionError):
        parse_default("1 + 2")


def test_fuzzed_definitions_raise_only_definition_error():
    """Random garbling of a valid definition never escapes as anything but DefinitionError."""
    base = """# comment
    -> Parent.proj(a='b')
    k : int32
    ---
    v = "x#y" : varchar(10)  # c
    e : enum('a', 'b')
    d = null : decimal(5,2)
    unique index(v, e)
    """
    alphabet = "-#:=()[]'\",._<>@ aZ9\n"
    rng = random.Random(7)
    for _ in range(3000):
        chars = list(base)
        for _ in range(rng.randint(1, 4)):
            i = rng.randrange(len(chars))
            op = rng.random()
            if op < 0.4:
                del chars[i]
            elif op < 0.8:
                chars.insert(i, rng.choice(alphabet))
            else:
                chars[i] = rng.choice(alphabet)
        text = "".join(chars)
        try:
            parse_definition(text)
        except DefinitionError as exc:
            assert exc.lineno is None or exc.line is not None, text
