"""Delete (cascade, part integrity, dry run, atomicity) and drop on all three backends."""
from __future__ import annotations

import pytest

import joinflow as dj
from joinflow import errors


def _pipeline(schema):
    @schema
    class Subject(dj.Manual):
        definition = """
        subject_id : int32
        ---
        name : varchar(16)
        """

    @schema
    class Session(dj.Manual):
        definition = """
        -> Subject
        session : int16
        """

        class Trial(dj.Part):
            definition = """
            -> master
            trial : int16
            """

    @schema
    class Stat(dj.Computed):
        definition = """
        -> Session
        ---
        n : int32
        """

        class Unit(dj.Part):
            definition = """
            -> master
            unit : int16
            """

        def make(self, key):
            trials = (Session.Trial & key).keys()
            self.insert1(dict(key, n=len(trials)))
            self.Unit.insert(dict(key, unit=u) for u in range(2))

    Subject.insert([(1, "a"), (2, "b"), (3, "c")])
    Session.insert([(s, k) for s in (1, 2, 3) for k in (1, 2)])
    Session.Trial.insert([(s, k, t) for s in (1, 2, 3) for k in (1, 2) for t in (1, 2, 3)])
    Stat.populate()
    return Subject, Session, Stat


def test_cascade_across_pipeline(schema):
    Subject, Session, Stat = _pipeline(schema)
    assert (len(Session), len(Session.Trial), len(Stat), len(Stat.Unit)) == (6, 18, 6, 12)
    count = (Subject & {"subject_id": 1}).delete(prompt=False)
    assert count == 1
    assert sorted(Subject.to_arrays("subject_id").tolist()) == [2, 3]
    assert (len(Session), len(Session.Trial), len(Stat), len(Stat.Unit)) == (4, 12, 4, 8)
    for t in (Session, Session.Trial, Stat, Stat.Unit):
        assert len(t & {"subject_id": 1}) == 0
    # restricted on a child: only matching rows and their dependents
    count = (Session & {"subject_id": 2, "session": 1}).delete(prompt=False)
    assert count == 1
    assert len(Subject) == 2
    assert (len(Session), len(Session.Trial), len(Stat), len(Stat.Unit)) == (3, 9, 3, 6)
    assert len(Stat & {"subject_id": 2, "session": 2}) == 1


def test_delete_returns_count_of_called_table(schema):
    Subject, Session, Stat = _pipeline(schema)
    assert Subject.delete(prompt=False) == 3
    assert all(len(t) == 0 for t in (Subject, Session, Session.Trial, Stat, Stat.Unit))
    assert Subject.delete(prompt=False) == 0
    assert (Subject & {"subject_id": 99}).delete(prompt=False) == 0


def test_dry_run(schema):
    Subject, Session, Stat = _pipeline(schema)
    counts = (Subject & {"subject_id": 1}).delete(dry_run=True)
    assert counts == {
        Subject.full_table_name: 1, Session.full_table_name: 2,
        Session.Trial.full_table_name: 6, Stat.full_table_name: 2,
        Stat.Unit.full_table_name: 4,
    }
    assert len(Subject) == 3 and len(Stat.Unit) == 12
    assert (Subject & {"subject_id": 99}).delete(dry_run=True) == {}


def test_delete_quick_no_cascade(schema):
    Subject, Session, Stat = _pipeline(schema)
    with pytest.raises(errors.IntegrityError):
        (Subject & {"subject_id": 1}).delete_quick()
    assert len(Subject) == 3 and len(Session) == 6
    assert (Stat.Unit & {"subject_id": 1}).delete_quick(get_count=True) == 4
    assert (Stat.Unit & {"subject_id": 2}).delete_quick() is None
    assert len(Stat.Unit) == 4


def test_part_integrity(schema):
    Subject, Session, Stat = _pipeline(schema)
    with pytest.raises(errors.JoinflowError, match="part_integrity"):
        (Stat.Unit & {"subject_id": 1}).delete(prompt=False)
    assert len(Stat.Unit) == 12
    # a cascade reaching a Part whose master is not deleted is refused too
    with pytest.raises(errors.JoinflowError, match="part_integrity"):
        (Session.Trial & {"subject_id": 1, "trial": 1}).delete(prompt=False)
    assert len(Session.Trial) == 18
    # ignore: just the part rows
    assert (Stat.Unit & {"subject_id": 1, "unit": 0}).delete(
        prompt=False, part_integrity="ignore") == 2
    assert len(Stat.Unit) == 10 and len(Stat) == 6
    # cascade: the master rows go, with all their parts (siblings included)
    (Stat.Unit & {"subject_id": 2, "session": 1, "unit": 0}).delete(
        prompt=False, part_integrity="cascade")
    assert len(Stat & {"subject_id": 2, "session": 1}) == 0
    assert len(Stat.Unit & {"subject_id": 2, "session": 1}) == 0
    assert len(Stat) == 5 and len(Stat.Unit) == 8
    assert len(Session) == 6  # the master's parents stay
    # legacy spelling
    (Stat.Unit & {"subject_id": 3}).delete(prompt=False, force=True)
    assert len(Stat.Unit & {"subject_id": 3}) == 0 and len(Stat & {"subject_id": 3}) == 2


def test_delete_master_takes_parts(schema):
    Subject, Session, Stat = _pipeline(schema)
    assert (Stat & {"subject_id": 1, "session": 2}).delete(prompt=False) == 1
    assert len(Stat.Unit) == 10 and len(Stat) == 5


def test_cascade_across_schemas_and_renamed_fk(make_schema):
    a, b = make_schema("jfa"), make_schema("jfb")

    @a
    class Person(dj.Manual):
        definition = """
        person_id : int32
        ---
        name : varchar(16)
        """

    @b
    class Experiment(dj.Manual):
        definition = """
        -> Person
        exp : int16
        """

    @b
    class Review(dj.Manual):
        definition = """
        -> Experiment
        -> Person.proj(reviewer_id='person_id')
        ---
        grade : int16
        """

    Person.insert([(1, "p"), (2, "q"), (3, "r")])
    Experiment.insert([(1, 1), (1, 2), (2, 1)])
    Review.insert([(1, 1, 2, 5), (2, 1, 3, 4), (1, 2, 3, 3)])
    # deleting person 3 removes reviews *by* 3 through the renamed FK
    assert (Person & {"person_id": 3}).delete(prompt=False) == 1
    assert sorted(Review.to_arrays("reviewer_id").tolist()) == [2]
    assert len(Experiment) == 3
    # deleting person 1 removes their experiments (other schema) and its reviews
    assert (Person & {"person_id": 1}).delete(dry_run=True) == {
        Person.full_table_name: 1, Experiment.full_table_name: 2, Review.full_table_name: 1}
    (Person & {"person_id": 1}).delete(prompt=False)
    assert Experiment.keys() == [{"person_id": 2, "exp": 1}]
    assert len(Review) == 0


def test_delete_is_atomic(schema, monkeypatch):
    Subject, Session, Stat = _pipeline(schema)
    import joinflow.delete as jd

    real = jd._delete_sql
    calls = []

    def failing(query):
        calls.append(query.table_name)
        if len(calls) == 3:
            raise errors.JoinflowError("simulated failure mid-cascade")
        return real(query)

    monkeypatch.setattr(jd, "_delete_sql", failing)
    with pytest.raises(errors.JoinflowError, match="simulated"):
        Subject.delete(prompt=False)
    monkeypatch.undo()
    assert len(calls) == 3
    assert (len(Subject), len(Session), len(Session.Trial), len(Stat), len(Stat.Unit)) == (
        3, 6, 18, 6, 12)


def test_delete_inside_transaction(schema):
    Subject, Session, Stat = _pipeline(schema)
    conn = schema.connection
    with pytest.raises(RuntimeError):
        with conn.transaction:
            Subject.delete(prompt=False)
            assert len(Subject) == 0
            raise RuntimeError("abort")
    assert len(Subject) == 3 and len(Stat.Unit) == 12
    with conn.transaction:
        (Subject & {"subject_id": 1}).delete(transaction=False, prompt=False)
    assert len(Subject) == 2


def test_prompt_false_never_asks(schema, monkeypatch):
    Subject, Session, Stat = _pipeline(schema)

    def no_input(*args):
        raise AssertionError("asked for input")

    monkeypatch.setattr("builtins.input", no_input)
    with dj.config.override(safemode=True):
        schema.connection.config["safemode"] = True
        assert (Subject & {"subject_id": 1}).delete(prompt=False) == 1
        Stat.Unit.drop_quick()
        Stat.drop(prompt=False)
    assert not Stat.is_declared


def test_prompt_answer(schema, monkeypatch, capsys):
    Subject, Session, Stat = _pipeline(schema)
    answers = iter(["no", "", "yes"])
    monkeypatch.setattr("builtins.input", lambda message: next(answers))
    monkeypatch.setattr("joinflow.prompt.interactive", lambda: True)
    for _ in range(2):
        assert (Subject & {"subject_id": 1}).delete(prompt=True) == 0
        assert len(Subject) == 3 and len(Stat.Unit) == 12
    out = capsys.readouterr().out
    assert "2 rows from " + Session.full_table_name in out
    assert (Subject & {"subject_id": 1}).delete(prompt=True) == 1
    assert len(Subject) == 2


def test_no_prompt_without_terminal(schema, monkeypatch):
    """safemode prompts only when someone can answer; a script never hangs on input()."""
    Subject, Session, Stat = _pipeline(schema)

    def no_input(message):
        raise AssertionError("input() must not be called without a terminal")

    monkeypatch.setattr("builtins.input", no_input)
    monkeypatch.setattr("joinflow.prompt.interactive", lambda: False)
    schema.connection.config["safemode"] = True  # prompt=None follows safemode
    assert (Subject & {"subject_id": 1}).delete() == 1
    assert len(Subject) == 2
    Stat.drop()
    assert not Stat.is_declared


def test_prompt_cancelled_when_input_fails(schema, monkeypatch):
    Subject, Session, Stat = _pipeline(schema)

    def no_stdin(message):
        raise EOFError

    monkeypatch.setattr("builtins.input", no_stdin)
    monkeypatch.setattr("joinflow.prompt.interactive", lambda: True)
    assert Subject.delete(prompt=True) == 0
    assert len(Subject) == 3


def test_drop(schema):
    Subject, Session, Stat = _pipeline(schema)
    with pytest.raises(errors.JoinflowError, match="Part"):
        Stat.Unit.drop()
    with pytest.raises(errors.JoinflowError, match="restrict"):
        (Subject & {"subject_id": 1}).drop()
    assert Stat.Unit.is_declared
    Session.drop(prompt=False)
    for t in (Session, Session.Trial, Stat, Stat.Unit):
        assert not t.is_declared
    assert Subject.is_declared and len(Subject) == 3


def test_drop_quick(schema):
    Subject, Session, Stat = _pipeline(schema)
    with pytest.raises(errors.IntegrityError):
        Stat.drop_quick()  # its part depends on it
    Stat.Unit.drop_quick()
    Stat.drop_quick()
    assert not Stat.is_declared and Session.is_declared
    Stat.drop_quick()  # not declared: nothing happens


def test_restriction_by_descendant(schema):
    Subject, Session, Stat = _pipeline(schema)
    # the restriction reads Stat, whose rows are deleted before Subject's
    assert (Subject & (Stat & {"subject_id": 2, "session": 1})).delete(prompt=False) == 1
    assert sorted(Subject.to_arrays("subject_id").tolist()) == [1, 3]
    assert len(Stat) == 4 and len(Session.Trial) == 12
    assert (Session - Stat.Unit).delete(prompt=False) == 0
    assert (Session & (Stat.Unit & {"subject_id": 3})).delete(prompt=False) == 2
    assert len(Session) == 2 and len(Stat.Unit) == 4


def test_deep_and_diamond_cascades(schema):
    """A 10-level chain and diamonds (a table referencing two tables with one parent, and a
    table with two foreign keys to the same parent) cascade on every backend."""
    ctx = {}

    @schema
    class Root(dj.Manual):
        definition = """
        r : int32
        """
    ctx["Root"] = Root
    prev = Root
    chain = [Root]
    for level in range(1, 11):
        name = f"Level{level}"
        cls = type(name, (dj.Manual,), {"definition": f"""
            -> {prev.__name__}
            l{level} : int16
            """})
        schema(cls, context={**ctx})
        ctx[name] = cls
        chain.append(cls)
        prev = cls

    @schema
    class Left(dj.Manual):
        definition = """
        -> Root
        side : int16
        """

    @schema
    class Right(dj.Manual):
        definition = """
        -> Root
        other : int16
        """

    @schema
    class Both(dj.Manual):
        definition = """
        -> Left
        -> Right
        """

    @schema
    class Pair(dj.Manual):
        definition = """
        -> Root.proj(a='r')
        -> Root.proj(b='r')
        """

    Root.insert([(1,), (2,)])
    key = {}
    for level, cls in enumerate(chain[1:], start=1):
        key[f"l{level}"] = 0
        cls.insert([dict(r=r, **key) for r in (1, 2)])
    Left.insert([(1, 0), (2, 0)])
    Right.insert([(1, 5), (2, 5)])
    Both.insert([(1, 0, 5), (2, 0, 5)])
    Pair.insert([(1, 2), (2, 2), (2, 1)])
    counts = (Root & {"r": 1}).delete(dry_run=True)
    assert counts[Pair.full_table_name] == 2 and counts[chain[-1].full_table_name] == 1
    assert (Root & {"r": 1}).delete() == 1
    assert len(chain[-1]) == 1 and len(Both) == 1 and Pair.to_dicts() == [{"a": 2, "b": 2}]
