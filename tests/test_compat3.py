"""DataJoint 2.x behaviour met by its own test suite (issue #6, third pass): lazy iteration,
the query cache, singleton tables, docstrings, class names, tier regexps, the HTML preview,
``make_classes`` into the caller's namespace, and floats in integer columns."""
from __future__ import annotations

import json
import re
import types
import warnings

import numpy as np
import pytest

import joinflow as dj


@pytest.fixture
def language(schema):
    @schema
    class Language(dj.Lookup):
        """Languages people speak."""

        definition = """
        name : varchar(40)
        language : varchar(40)
        ---
        recording = null : <blob>
        """
        contents = [("Fabian", "English", None), ("Edgar", "Spanish", np.arange(3))]

    return Language


# -- iteration -------------------------------------------------------------------------------
def test_iteration_is_a_lazy_generator(language):
    rows = iter(language)
    assert isinstance(rows, types.GeneratorType)
    language.insert1(("Chris", "Latin", None))  # the query runs at the first next(), not before
    first = next(rows)
    assert set(first) == {"name", "language", "recording"}
    everything = [first, *rows]
    assert sorted(r["name"] for r in everything) == ["Chris", "Edgar", "Fabian"]
    edgar = next(r for r in everything if r["name"] == "Edgar")
    np.testing.assert_array_equal(edgar["recording"], np.arange(3))  # decoded, as to_dicts
    assert list(language & {"name": "Nobody"}) == []


def test_iteration_decodes_in_batches(language, monkeypatch):
    from joinflow import fetch
    monkeypatch.setattr(fetch, "ITERATION_BATCH", 1)
    language.insert([(f"p{i}", "Esperanto", np.full(2, i)) for i in range(5)])
    got = {r["name"]: r["recording"] for r in language & {"language": "Esperanto"}}
    assert sorted(got) == [f"p{i}" for i in range(5)]
    for i in range(5):
        np.testing.assert_array_equal(got[f"p{i}"], np.full(2, i))


# -- display and class-level text ------------------------------------------------------------
def test_repr_html_starts_with_its_style_and_shows_the_rows(language):
    text = language()._repr_html_()
    assert text.startswith("<style")
    assert "<th><b>name</b></th>" in text and "Fabian" in text and "Total: 2" in text


def test_definition_is_in_the_docstring(language, schema):
    @schema
    class NoDoc(dj.Manual):
        definition = """
        k : int32
        """

    assert language.__doc__.startswith("Languages people speak.\nTable definition:\n")
    assert language.definition in language.__doc__
    assert language().__doc__ == language.__doc__
    assert NoDoc.definition in NoDoc.__doc__
    schema(NoDoc)  # decorating again does not repeat it
    assert NoDoc.__doc__.count("Table definition:") == 1


def test_tier_regexps_match_their_own_tables_only(schema):
    @schema
    class Subject(dj.Manual):
        definition = """
        subject_id : int32
        """

    @schema
    class Species(dj.Lookup):
        definition = """
        species : varchar(20)
        """

    @schema
    class RawScan(dj.Imported):
        definition = """
        -> Subject
        """

        def make(self, key):
            self.insert1(key)

    @schema
    class ScanStats(dj.Computed):
        definition = """
        -> RawScan
        """

        class Unit(dj.Part):
            definition = """
            -> master
            unit : int32
            """

        def make(self, key):
            self.insert1(key)

    tiers = [dj.Manual, dj.Lookup, dj.Imported, dj.Computed, dj.Part]
    for table in (Subject, Species, RawScan, ScanStats, ScanStats.Unit):
        matching = [t for t in tiers if re.match(t.tier_regexp, table.table_name)]
        assert matching == [next(t for t in tiers if issubclass(table, t))], table.table_name
    parts = re.match(dj.Part.tier_regexp, ScanStats.Unit.table_name)
    assert (parts["computed"], parts["part"]) == ("__scan_stats", "unit")


# -- declaration errors and warnings ---------------------------------------------------------
def test_a_class_without_definition_is_not_implemented(schema):
    class Misspelled(dj.Manual):
        definitions = """
        id : int32
        """

    with pytest.raises(NotImplementedError, match="Misspelled has no `definition`") as info:
        schema(Misspelled)
    assert isinstance(info.value, dj.errors.DefinitionError)
    assert schema.list_tables() == []


def test_underscores_in_a_class_name_warn_and_are_dropped(schema):
    class Table_With_Underscores(dj.Manual):
        definition = """
        id : int32
        """

    with pytest.warns(UserWarning, match="`Table_With_Underscores` contains underscores") as got:
        schema(Table_With_Underscores)
    assert got[0].filename == __file__  # the warning points at the decorating line
    assert Table_With_Underscores.is_declared
    assert Table_With_Underscores.table_name == "table_with_underscores"
    with pytest.raises(dj.errors.DefinitionError, match="CamelCase"):
        @schema
        class lowercase(dj.Manual):  # noqa: N801 - the point of the test
            definition = """
            id : int32
            """


def test_an_unknown_field_in_an_insert_is_a_key_error(language):
    for row in ({"name": "Bob", "language": "Welsh", "spouse": "Alice"},
                {"nam": "Bob", "language": "Welsh"}):
        with pytest.raises(KeyError) as info:
            language.insert1(row)
        assert isinstance(info.value, dj.DataJointError)
        assert str(info.value).startswith("attribute(s) [")  # not quoted like a KeyError
    language.insert1({"name": "Bob", "language": "Welsh", "spouse": "A"},
                     ignore_extra_fields=True)
    assert len(language()) == 3


# -- floats into integer columns ---------------------------------------------------------------
def test_whole_floats_go_into_integer_columns_fractions_are_refused(schema):
    @schema
    class Counts(dj.Manual):
        definition = """
        k : int32
        ---
        n = null : int32
        """

    Counts.insert([{"k": 1, "n": 2.0}, {"k": 2, "n": np.float64(-7.0)},
                   {"k": 3, "n": np.float32(3.0)}, {"k": 4, "n": None}])
    assert Counts.to_dicts(order_by="k") == [{"k": 1, "n": 2}, {"k": 2, "n": -7},
                                             {"k": 3, "n": 3}, {"k": 4, "n": None}]
    for value in (2.5, np.float64(0.3), -1.5):
        with pytest.raises(dj.errors.DataError, match="not rounded") as info:
            Counts.insert1({"k": 9, "n": value})
        assert "`n`" in str(info.value)
    assert len(Counts()) == 4  # nothing half-written


# -- the query cache -------------------------------------------------------------------------
def test_query_cache_serves_reads_and_refuses_writes(schema, tmp_path):
    @schema
    class Note(dj.Manual):
        definition = """
        key : int32
        ---
        value : varchar(300)
        data = null : <blob>
        """

    conn = Note.connection
    cache = tmp_path / "query_cache"
    with dj.config.override(query_cache=str(cache)):
        Note.insert([{"key": i, "value": f"v{i}", "data": np.arange(i + 1)} for i in range(2)])
        conn.set_query_cache(query_cache="main")
        try:
            cached = Note.to_dicts(order_by="key")
            with pytest.raises(dj.DataJointError, match="Only SELECT queries are allowed"):
                Note.insert1({"key": 5, "value": "refused"})
            assert len(list(cache.iterdir())) >= 1
            files = sorted(cache.iterdir())
            json.loads(files[0].read_text())  # data, not pickles
        finally:
            conn.set_query_cache()
        Note.insert1({"key": 7, "value": "new"})
        conn.set_query_cache(query_cache="main")
        try:
            again = Note.to_dicts(order_by="key")  # the cached result, without key 7
        finally:
            conn.set_query_cache()
        assert [r["key"] for r in again] == [0, 1]
        assert [r["value"] for r in again] == [r["value"] for r in cached]
        np.testing.assert_array_equal(again[1]["data"], np.arange(2))
        assert [r["key"] for r in Note.to_dicts(order_by="key")] == [0, 1, 7]
        conn.purge_query_cache()
        assert list(cache.iterdir()) == []


def test_query_cache_needs_a_folder(schema):
    @schema
    class Item(dj.Manual):
        definition = """
        k : int32
        """

    conn = Item.connection
    with dj.config.override(query_cache=None):
        conn.set_query_cache("main")
        try:
            with pytest.raises(dj.errors.ConfigError, match="query_cache"):
                Item.to_dicts()
        finally:
            conn.set_query_cache()
    assert Item.to_dicts() == []


# -- singleton tables --------------------------------------------------------------------------
def test_singleton_table_holds_one_row(schema):
    @schema
    class Settings(dj.Lookup):
        definition = """
        # global settings
        ---
        version : varchar(20)
        workers = 4 : int32
        """

    heading = Settings.heading
    assert Settings.primary_key == [] and list(heading.attributes) == ["version", "workers"]
    assert "_singleton" in heading._attributes and "_singleton" not in heading
    assert len(Settings()) == 0 and not Settings()
    Settings.insert1({"version": "1.0"})
    assert Settings.fetch1() == {"version": "1.0", "workers": 4}
    with pytest.raises(dj.errors.DuplicateError):
        Settings.insert1({"version": "2.0"})
    Settings.insert1({"version": "2.0"}, skip_duplicates=True)
    assert Settings.fetch1("version") == "1.0"
    Settings.insert1({"version": "3.0", "workers": 8}, replace=True)
    assert Settings.fetch1() == {"version": "3.0", "workers": 8}
    Settings.update1({"workers": 16})
    assert Settings.to_dicts() == [{"version": "3.0", "workers": 16}]
    assert Settings.keys() == [{}] and list(Settings) == [{"version": "3.0", "workers": 16}]
    assert len(Settings & {"version": "3.0"}) == 1 and len(Settings & {"version": "x"}) == 0
    (Settings & {"version": "x"}).delete()
    assert len(Settings()) == 1
    Settings.delete()
    assert len(Settings()) == 0
    Settings.insert([{"version": "a"}, {"version": "b"}], replace=True)  # the last one stays
    assert Settings.fetch1("version") == "b"


def test_singleton_with_an_index_describes_and_reloads(schema):
    @schema
    class Labelled(dj.Manual):
        definition = """
        index (label)
        ---
        label : varchar(32)
        """

    text = Labelled.describe()
    assert "_singleton" not in text and text.splitlines()[0] == "---"

    class LabelledAgain(dj.Manual):
        definition = text

    schema(LabelledAgain)
    assert LabelledAgain.heading._attributes.keys() == Labelled.heading._attributes.keys()
    LabelledAgain.insert1({"label": "only"})
    with pytest.raises(dj.errors.DuplicateError):
        LabelledAgain.insert1({"label": "second"})
    module = dj.VirtualModule("singletons", schema.database, connection=schema.connection)
    assert module.LabelledAgain.fetch1() == {"label": "only"}
    assert module.LabelledAgain.primary_key == []


def test_altered_singleton_still_holds_one_row(schema):
    @schema
    class Flags(dj.Manual):
        definition = """
        ---
        debug : bool
        """

    Flags.insert1({"debug": True})
    Flags.definition = Flags.definition + "    level = 1 : int32\n"
    Flags.alter(prompt=False)
    assert Flags.fetch1() == {"debug": 1, "level": 1}
    assert "_singleton" in Flags.heading._attributes
    with pytest.raises(dj.errors.DuplicateError):
        Flags.insert1({"debug": False, "level": 2})


def test_a_singleton_cannot_be_referenced(schema):
    @schema
    class Only(dj.Manual):
        definition = """
        ---
        x : int32
        """

    class Child(dj.Manual):
        definition = """
        -> Only
        y : int32
        """

    with pytest.raises(dj.errors.DefinitionError, match="Only is a singleton table"):
        schema(Child, context={"Only": Only})


# -- make_classes ------------------------------------------------------------------------------
def test_make_classes_fills_the_callers_namespace(schema):
    @schema
    class Subject(dj.Manual):
        definition = """
        subject_id : int32
        """

        class Note(dj.Part):
            definition = """
            -> master
            n : int32
            """

    reader = dj.Schema(schema.database, connection=schema.connection)
    made = reader.make_classes()
    assert issubclass(made["Subject"], dj.Manual)
    assert made["Subject"].Note.__base__ is dj.Part
    frame_locals = locals()  # the classes went into this function's namespace too
    assert frame_locals["Subject"] is Subject  # an existing name is kept

    context: dict = {}
    in_context = dj.Schema(schema.database, context=context, connection=schema.connection)
    in_context.make_classes()
    assert issubclass(context["Subject"], dj.Manual)


def test_make_classes_into_none_defines_missing_names(schema):
    schema(types.new_class("Animal", (dj.Manual,), {},
                           lambda ns: ns.update(definition="animal_id : int32")))
    reader = dj.Schema(schema.database, connection=schema.connection)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        reader.make_classes(into=None)
    made = locals()["Animal"]  # not a local variable here: made by make_classes
    assert issubclass(made, dj.Manual) and made.table_name == "animal"


# -- jobs ----------------------------------------------------------------------------------
def test_jobs_definition_names_declared_types(schema):
    @schema
    class Sample(dj.Manual):
        definition = """
        item : uuid
        """

    @schema
    class Measured(dj.Computed):
        definition = """
        -> Sample
        ---
        value : int32
        """

        def make(self, key):
            self.insert1(dict(key, value=1))

    definition = Measured.jobs.definition
    assert "item : uuid" in definition.splitlines() and "binary(16)" not in definition
    Measured.jobs.refresh()
    assert Measured.jobs.heading["item"].original_type == "uuid"
