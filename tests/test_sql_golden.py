"""Golden SQL: compiling a query is pure (no connection, no database) and deterministic.

Headings are built by hand; each query is compiled for SQLite, PostgreSQL and MySQL and the
exact text and bound parameters are pinned. In the pinned text, the placeholder marker is
shown as ``?``. Values are always bound: no literal from a restriction or fragment appears in
the text.
"""
from __future__ import annotations

import pytest

import joinflow as dj
from joinflow.algebra import nodes as n
from joinflow.algebra.compiler import compile_query
from joinflow.backends import PH, MySQLBackend, PostgresBackend, SQLiteBackend
from joinflow.definition.types import TypeSpec
from joinflow.errors import QueryError, SemanticMatchError
from joinflow.expression import QueryExpression
from joinflow.heading import Attribute, Heading


def attr(name, core, key=False, lineage=None, nullable=False):
    return Attribute(name, TypeSpec(core=core), key, nullable, lineage=lineage)


SUBJECT_ID = "lab.subject.subject_id"
SESSION = "lab.session.session"
HEADINGS = {
    "subject": Heading([attr("subject_id", "int32", True, SUBJECT_ID), attr("name", "varchar"),
                        attr("dob", "date", nullable=True)]),
    "session": Heading([attr("subject_id", "int32", True, SUBJECT_ID),
                        attr("session", "int16", True, SESSION), attr("session_date", "date")]),
    "session__trial": Heading([attr("subject_id", "int32", True, SUBJECT_ID),
                               attr("session", "int16", True, SESSION),
                               attr("trial", "int16", True, "lab.session__trial.trial"),
                               attr("value", "float64")]),
    "weight": Heading([attr("subject_id", "int32", True, SUBJECT_ID), attr("weight", "float64")]),
    "rig": Heading([attr("rig", "varchar", True, "lab.rig.rig"), attr("name", "varchar")]),
}


def table(name: str) -> QueryExpression:
    """A query over a hand-made heading, with no connection at all."""
    return QueryExpression._from(n.TableNode("lab", name, HEADINGS[name]), None)


S, Se, T, W = table("subject"), table("session"), table("session__trial"), table("weight")


def queries() -> dict:
    """Fresh query objects (built anew for every compilation)."""
    return {
        "dict": (S & {"subject_id": 3, "not_an_attribute": 1}, {}),
        "string": (Se & "session_date > '2024-01-01' AND YEAR(session_date) < 2026", {}),
        "semijoin": (S & (Se & {"session": 1}), {}),
        "antijoin": (S - Se, {}),
        "join": (S * Se, {}),
        "proj": (S.proj("dob", mouse="subject_id", nm="name", age="2025 - YEAR(dob)"), {}),
        "proj_restrict": (T.proj(v2="value * 2") & "v2 > 3", {}),
        "aggr": (S.aggr(T, n="count(*)", mean="avg(value)"), {}),
        "union": ((S & "subject_id < 3").proj("name") + W, {}),
        "u_distinct": (dj.U("session") & (Se & {"subject_id": 1}), {}),
        "u_aggr": (dj.U("session").aggr(T, n="count(*)"), {}),
        "top": ((S & dj.Top(2, "name DESC", offset=1)) & "dob IS NULL", {}),
        "fetch_page": (S & [{"subject_id": 1}, "name LIKE 'm%'"],
                       dict(order_by=("KEY DESC",), limit=5, offset=2, columns=["name"])),
        "count": (S * Se, dict(count=True)),
    }


BACKENDS = {"sqlite": SQLiteBackend, "postgresql": PostgresBackend, "mysql": MySQLBackend}


def compiled(backend_name: str, key: str) -> tuple[str, list]:
    query, kwargs = queries()[key]
    sql, params = compile_query(query.node, BACKENDS[backend_name](), **kwargs)
    return sql.replace(PH, "?"), params


GOLDEN = {
    'sqlite': {
        'dict': (
            'SELECT _t1."subject_id", _t1."name", _t1."dob" FROM "lab.subject" AS _t1 WHERE'
            ' (_t1."subject_id" = ?)',
            [3]),
        'string': (
            'SELECT _t1."subject_id", _t1."session", _t1."session_date" FROM "lab.session" AS _t1'
            ' WHERE (_t1."session_date" > ? AND CAST(STRFTIME(\'%Y\', _t1."session_date") AS INTEGER)'
            ' < ?)',
            ['2024-01-01', 2026]),
        'semijoin': (
            'SELECT _t1."subject_id", _t1."name", _t1."dob" FROM "lab.subject" AS _t1 WHERE (EXISTS'
            ' (SELECT 1 FROM (SELECT _t2."subject_id", _t2."session", _t2."session_date" FROM'
            ' "lab.session" AS _t2 WHERE (_t2."session" = ?)) AS _s3 WHERE _s3."subject_id" ='
            ' _t1."subject_id"))',
            [1]),
        'antijoin': (
            'SELECT _t1."subject_id", _t1."name", _t1."dob" FROM "lab.subject" AS _t1 WHERE (NOT'
            ' (EXISTS (SELECT 1 FROM "lab.session" AS _t2 WHERE _t2."subject_id" ='
            ' _t1."subject_id")))',
            []),
        'join': (
            'SELECT _t1."subject_id", _t1."name", _t1."dob", _t2."session", _t2."session_date" FROM'
            ' "lab.subject" AS _t1 JOIN "lab.session" AS _t2 ON _t1."subject_id" = _t2."subject_id"',
            []),
        'proj': (
            'SELECT _s2."mouse", _s2."nm", _s2."dob", _s2."age" FROM (SELECT _t1."subject_id" AS'
            ' "mouse", _t1."name" AS "nm", _t1."dob", (? - CAST(STRFTIME(\'%Y\', _t1."dob") AS'
            ' INTEGER)) AS "age" FROM "lab.subject" AS _t1) AS _s2',
            [2025]),
        'proj_restrict': (
            'SELECT _s2."subject_id", _s2."session", _s2."trial", _s2."v2" FROM (SELECT'
            ' _t1."subject_id", _t1."session", _t1."trial", (_t1."value" * ?) AS "v2" FROM'
            ' "lab.session__trial" AS _t1) AS _s2 WHERE (_s2."v2" > ?)',
            [2, 3]),
        'aggr': (
            'SELECT _t3."subject_id", COALESCE(_g4."n", 0) AS "n", _g4."mean"'
            ' FROM "lab.subject" AS _t3 LEFT JOIN (SELECT _t1."subject_id", (COUNT(*)) AS "n",'
            ' (AVG(_t2."value")) AS "mean" FROM "lab.subject" AS _t1 JOIN "lab.session__trial" AS'
            ' _t2 ON _t1."subject_id" = _t2."subject_id" GROUP BY _t1."subject_id") AS _g4 ON'
            ' _t3."subject_id" = _g4."subject_id"',
            []),
        'union': (
            'SELECT _u7."subject_id", _u7."name", _u7."weight" FROM (SELECT * FROM (SELECT'
            ' _s2."subject_id", _s2."name", _t3."weight" FROM (SELECT _t1."subject_id", _t1."name"'
            ' FROM "lab.subject" AS _t1 WHERE (_t1."subject_id" < ?)) AS _s2 LEFT JOIN "lab.weight"'
            ' AS _t3 ON _s2."subject_id" = _t3."subject_id") UNION ALL SELECT * FROM (SELECT'
            ' _t4."subject_id", NULL AS "name", _t4."weight" FROM "lab.weight" AS _t4 WHERE (NOT'
            ' (EXISTS (SELECT 1 FROM (SELECT _t5."subject_id", _t5."name" FROM "lab.subject" AS _t5'
            ' WHERE (_t5."subject_id" < ?)) AS _s6 WHERE _s6."subject_id" = _t4."subject_id"))))) AS'
            ' _u7',
            [3, 3]),
        'u_distinct': (
            'SELECT DISTINCT _t1."session" FROM "lab.session" AS _t1 WHERE (_t1."subject_id" = ?)',
            [1]),
        'u_aggr': (
            'SELECT _s2."session", _s2."n" FROM (SELECT _t1."session", (COUNT(*)) AS "n" FROM'
            ' "lab.session__trial" AS _t1 GROUP BY _t1."session") AS _s2',
            []),
        'top': (
            'SELECT _s2."subject_id", _s2."name", _s2."dob" FROM (SELECT _t1."subject_id",'
            ' _t1."name", _t1."dob" FROM "lab.subject" AS _t1 ORDER BY _t1."name" DESC LIMIT 2'
            ' OFFSET 1) AS _s2 WHERE (_s2."dob" IS NULL)',
            []),
        'fetch_page': (
            'SELECT _t1."name" FROM "lab.subject" AS _t1 WHERE ((_t1."subject_id" = ?) OR'
            ' (_t1."name" LIKE ?)) ORDER BY _t1."subject_id" DESC LIMIT 5 OFFSET 2',
            [1, 'm%']),
        'count': (
            'SELECT count(*) FROM (SELECT _t1."subject_id", _t1."name", _t1."dob", _t2."session",'
            ' _t2."session_date" FROM "lab.subject" AS _t1 JOIN "lab.session" AS _t2 ON'
            ' _t1."subject_id" = _t2."subject_id") AS _count',
            []),
    },
    'postgresql': {
        'dict': (
            'SELECT _t1."subject_id", _t1."name", _t1."dob" FROM "lab"."subject" AS _t1 WHERE'
            ' (_t1."subject_id" = ?)',
            [3]),
        'string': (
            'SELECT _t1."subject_id", _t1."session", _t1."session_date" FROM "lab"."session" AS _t1'
            ' WHERE (_t1."session_date" > ? AND CAST(EXTRACT(YEAR FROM CAST(_t1."session_date" AS'
            ' DATE)) AS INT) < ?)',
            ['2024-01-01', 2026]),
        'semijoin': (
            'SELECT _t1."subject_id", _t1."name", _t1."dob" FROM "lab"."subject" AS _t1 WHERE'
            ' (EXISTS (SELECT 1 FROM (SELECT _t2."subject_id", _t2."session", _t2."session_date"'
            ' FROM "lab"."session" AS _t2 WHERE (_t2."session" = ?)) AS _s3 WHERE _s3."subject_id" ='
            ' _t1."subject_id"))',
            [1]),
        'antijoin': (
            'SELECT _t1."subject_id", _t1."name", _t1."dob" FROM "lab"."subject" AS _t1 WHERE (NOT'
            ' (EXISTS (SELECT 1 FROM "lab"."session" AS _t2 WHERE _t2."subject_id" ='
            ' _t1."subject_id")))',
            []),
        'join': (
            'SELECT _t1."subject_id", _t1."name", _t1."dob", _t2."session", _t2."session_date" FROM'
            ' "lab"."subject" AS _t1 JOIN "lab"."session" AS _t2 ON _t1."subject_id" ='
            ' _t2."subject_id"',
            []),
        'proj': (
            'SELECT _s2."mouse", _s2."nm", _s2."dob", _s2."age" FROM (SELECT _t1."subject_id" AS'
            ' "mouse", _t1."name" AS "nm", _t1."dob", (? - CAST(EXTRACT(YEAR FROM CAST(_t1."dob" AS'
            ' DATE)) AS INT)) AS "age" FROM "lab"."subject" AS _t1) AS _s2',
            [2025]),
        'proj_restrict': (
            'SELECT _s2."subject_id", _s2."session", _s2."trial", _s2."v2" FROM (SELECT'
            ' _t1."subject_id", _t1."session", _t1."trial", (_t1."value" * ?) AS "v2" FROM'
            ' "lab"."session__trial" AS _t1) AS _s2 WHERE (_s2."v2" > ?)',
            [2, 3]),
        'aggr': (
            'SELECT _t3."subject_id", COALESCE(_g4."n", 0) AS "n", _g4."mean"'
            ' FROM "lab"."subject" AS _t3 LEFT JOIN (SELECT _t1."subject_id", (COUNT(*)) AS "n",'
            ' (AVG(_t2."value")) AS "mean" FROM "lab"."subject" AS _t1 JOIN "lab"."session__trial"'
            ' AS _t2 ON _t1."subject_id" = _t2."subject_id" GROUP BY _t1."subject_id") AS _g4 ON'
            ' _t3."subject_id" = _g4."subject_id"',
            []),
        'union': (
            'SELECT _u7."subject_id", _u7."name", _u7."weight" FROM ((SELECT _s2."subject_id",'
            ' _s2."name", _t3."weight" FROM (SELECT _t1."subject_id", _t1."name" FROM'
            ' "lab"."subject" AS _t1 WHERE (_t1."subject_id" < ?)) AS _s2 LEFT JOIN "lab"."weight"'
            ' AS _t3 ON _s2."subject_id" = _t3."subject_id") UNION ALL (SELECT _t4."subject_id",'
            ' NULL AS "name", _t4."weight" FROM "lab"."weight" AS _t4 WHERE (NOT (EXISTS (SELECT 1'
            ' FROM (SELECT _t5."subject_id", _t5."name" FROM "lab"."subject" AS _t5 WHERE'
            ' (_t5."subject_id" < ?)) AS _s6 WHERE _s6."subject_id" = _t4."subject_id"))))) AS _u7',
            [3, 3]),
        'u_distinct': (
            'SELECT DISTINCT _t1."session" FROM "lab"."session" AS _t1 WHERE (_t1."subject_id" = ?)',
            [1]),
        'u_aggr': (
            'SELECT _s2."session", _s2."n" FROM (SELECT _t1."session", (COUNT(*)) AS "n" FROM'
            ' "lab"."session__trial" AS _t1 GROUP BY _t1."session") AS _s2',
            []),
        'top': (
            'SELECT _s2."subject_id", _s2."name", _s2."dob" FROM (SELECT _t1."subject_id",'
            ' _t1."name", _t1."dob" FROM "lab"."subject" AS _t1 ORDER BY _t1."name" DESC NULLS LAST'
            ' LIMIT 2 OFFSET 1) AS _s2 WHERE (_s2."dob" IS NULL)',
            []),
        'fetch_page': (
            'SELECT _t1."name" FROM "lab"."subject" AS _t1 WHERE ((_t1."subject_id" = ?) OR'
            ' (_t1."name" LIKE ?)) ORDER BY _t1."subject_id" DESC NULLS LAST LIMIT 5 OFFSET 2',
            [1, 'm%']),
        'count': (
            'SELECT count(*) FROM (SELECT _t1."subject_id", _t1."name", _t1."dob", _t2."session",'
            ' _t2."session_date" FROM "lab"."subject" AS _t1 JOIN "lab"."session" AS _t2 ON'
            ' _t1."subject_id" = _t2."subject_id") AS _count',
            []),
    },
    'mysql': {
        'dict': (
            'SELECT _t1.`subject_id`, _t1.`name`, _t1.`dob` FROM `lab`.`subject` AS _t1 WHERE'
            ' (_t1.`subject_id` = ?)',
            [3]),
        'string': (
            'SELECT _t1.`subject_id`, _t1.`session`, _t1.`session_date` FROM `lab`.`session` AS _t1'
            ' WHERE (_t1.`session_date` > ? AND YEAR(_t1.`session_date`) < ?)',
            ['2024-01-01', 2026]),
        'semijoin': (
            'SELECT _t1.`subject_id`, _t1.`name`, _t1.`dob` FROM `lab`.`subject` AS _t1 WHERE'
            ' (EXISTS (SELECT 1 FROM (SELECT _t2.`subject_id`, _t2.`session`, _t2.`session_date`'
            ' FROM `lab`.`session` AS _t2 WHERE (_t2.`session` = ?)) AS _s3 WHERE _s3.`subject_id` ='
            ' _t1.`subject_id`))',
            [1]),
        'antijoin': (
            'SELECT _t1.`subject_id`, _t1.`name`, _t1.`dob` FROM `lab`.`subject` AS _t1 WHERE (NOT'
            ' (EXISTS (SELECT 1 FROM `lab`.`session` AS _t2 WHERE _t2.`subject_id` ='
            ' _t1.`subject_id`)))',
            []),
        'join': (
            'SELECT _t1.`subject_id`, _t1.`name`, _t1.`dob`, _t2.`session`, _t2.`session_date` FROM'
            ' `lab`.`subject` AS _t1 JOIN `lab`.`session` AS _t2 ON _t1.`subject_id` ='
            ' _t2.`subject_id`',
            []),
        'proj': (
            'SELECT _s2.`mouse`, _s2.`nm`, _s2.`dob`, _s2.`age` FROM (SELECT _t1.`subject_id` AS'
            ' `mouse`, _t1.`name` AS `nm`, _t1.`dob`, (? - YEAR(_t1.`dob`)) AS `age` FROM'
            ' `lab`.`subject` AS _t1) AS _s2',
            [2025]),
        'proj_restrict': (
            'SELECT _s2.`subject_id`, _s2.`session`, _s2.`trial`, _s2.`v2` FROM (SELECT'
            ' _t1.`subject_id`, _t1.`session`, _t1.`trial`, (_t1.`value` * ?) AS `v2` FROM'
            ' `lab`.`session__trial` AS _t1) AS _s2 WHERE (_s2.`v2` > ?)',
            [2, 3]),
        'aggr': (
            'SELECT _t3.`subject_id`, COALESCE(_g4.`n`, 0) AS `n`, _g4.`mean`'
            ' FROM `lab`.`subject` AS _t3 LEFT JOIN (SELECT _t1.`subject_id`, (COUNT(*)) AS `n`,'
            ' (AVG(_t2.`value`)) AS `mean` FROM `lab`.`subject` AS _t1 JOIN `lab`.`session__trial`'
            ' AS _t2 ON _t1.`subject_id` = _t2.`subject_id` GROUP BY _t1.`subject_id`) AS _g4 ON'
            ' _t3.`subject_id` = _g4.`subject_id`',
            []),
        'union': (
            'SELECT _u7.`subject_id`, _u7.`name`, _u7.`weight` FROM ((SELECT _s2.`subject_id`,'
            ' _s2.`name`, _t3.`weight` FROM (SELECT _t1.`subject_id`, _t1.`name` FROM'
            ' `lab`.`subject` AS _t1 WHERE (_t1.`subject_id` < ?)) AS _s2 LEFT JOIN `lab`.`weight`'
            ' AS _t3 ON _s2.`subject_id` = _t3.`subject_id`) UNION ALL (SELECT _t4.`subject_id`,'
            ' NULL AS `name`, _t4.`weight` FROM `lab`.`weight` AS _t4 WHERE (NOT (EXISTS (SELECT 1'
            ' FROM (SELECT _t5.`subject_id`, _t5.`name` FROM `lab`.`subject` AS _t5 WHERE'
            ' (_t5.`subject_id` < ?)) AS _s6 WHERE _s6.`subject_id` = _t4.`subject_id`))))) AS _u7',
            [3, 3]),
        'u_distinct': (
            'SELECT DISTINCT _t1.`session` FROM `lab`.`session` AS _t1 WHERE (_t1.`subject_id` = ?)',
            [1]),
        'u_aggr': (
            'SELECT _s2.`session`, _s2.`n` FROM (SELECT _t1.`session`, (COUNT(*)) AS `n` FROM'
            ' `lab`.`session__trial` AS _t1 GROUP BY _t1.`session`) AS _s2',
            []),
        'top': (
            'SELECT _s2.`subject_id`, _s2.`name`, _s2.`dob` FROM (SELECT _t1.`subject_id`,'
            ' _t1.`name`, _t1.`dob` FROM `lab`.`subject` AS _t1 ORDER BY _t1.`name` DESC LIMIT 2'
            ' OFFSET 1) AS _s2 WHERE (_s2.`dob` IS NULL)',
            []),
        'fetch_page': (
            'SELECT _t1.`name` FROM `lab`.`subject` AS _t1 WHERE ((_t1.`subject_id` = ?) OR'
            ' (_t1.`name` LIKE ?)) ORDER BY _t1.`subject_id` DESC LIMIT 5 OFFSET 2',
            [1, 'm%']),
        'count': (
            'SELECT count(*) FROM (SELECT _t1.`subject_id`, _t1.`name`, _t1.`dob`, _t2.`session`,'
            ' _t2.`session_date` FROM `lab`.`subject` AS _t1 JOIN `lab`.`session` AS _t2 ON'
            ' _t1.`subject_id` = _t2.`subject_id`) AS _count',
            []),
    },
}



@pytest.fixture(autouse=True)
def _no_database(monkeypatch):
    """Any attempt to connect fails the test: compiling must not need a database."""
    def refuse(*args, **kwargs):
        raise AssertionError("compiling tried to connect to a database")
    for cls in BACKENDS.values():
        monkeypatch.setattr(cls, "connect", refuse)


@pytest.mark.parametrize("key", list(GOLDEN["sqlite"]))
@pytest.mark.parametrize("backend_name", list(BACKENDS))
def test_golden_sql(backend_name, key):
    expected_sql, expected_params = GOLDEN[backend_name][key]
    sql, params = compiled(backend_name, key)
    assert sql == expected_sql
    assert params == expected_params


@pytest.mark.parametrize("backend_name", list(BACKENDS))
def test_compiling_is_deterministic(backend_name):
    backend = BACKENDS[backend_name]()
    for key, (query, kwargs) in queries().items():
        first = compile_query(query.node, backend, **kwargs)
        again = compile_query(query.node, backend, **kwargs)
        rebuilt = compile_query(queries()[key][0].node, BACKENDS[backend_name](), **kwargs)
        assert first == again == rebuilt, key


@pytest.mark.parametrize("backend_name", list(BACKENDS))
def test_values_are_bound_not_pasted(backend_name):
    backend = BACKENDS[backend_name]()
    q = (S & {"name": "O'Brien; DROP TABLE x"} & "name <> 'zz%top' AND subject_id > 41"
         ).proj(tag="CONCAT(name, '-suffix')")
    sql, params = compile_query(q.node, backend)
    for value in ("O'Brien", "zz%top", "41", "-suffix"):
        assert value not in sql
    assert params == ["-suffix", "O'Brien; DROP TABLE x", "zz%top", 41]
    assert sql.count(PH) == len(params)


def test_placeholder_style_is_left_to_the_backend():
    sql, params = compile_query((S & "name LIKE 'a%'").node, MySQLBackend())
    rendered = MySQLBackend().render(sql)
    assert rendered.endswith("WHERE (_t1.`name` LIKE %s)") and params == ["a%"]
    # literal percent signs in a fragment survive pyformat escaping exactly once
    sql, _ = compile_query(S.proj(y="DATE_FORMAT(dob, '%Y')").node, MySQLBackend())
    assert "DATE_FORMAT(_t1.`dob`, '%Y')" in sql
    assert "DATE_FORMAT(_t1.`dob`, '%%Y')" in MySQLBackend().render(sql)
    sql, params = compile_query((T & "trial % 2 = 1").node, PostgresBackend())
    assert "%%" not in sql and params == [2, 1]


def test_heading_rules_without_database():
    # 2.x primary keys of joins
    assert (Se * T).primary_key == ["subject_id", "session", "trial"]
    assert (T * Se).primary_key == ["subject_id", "session", "trial"]
    assert (S * table("rig").proj(rig_name="name")).primary_key == ["subject_id", "rig"]
    # namesake secondary attributes without lineage refuse to match
    with pytest.raises(SemanticMatchError, match="name"):
        S * table("rig")
    joined = S.join(table("rig"), semantic_check=False)
    assert joined.node.on == ("name",)
    # projections keep the primary key first and in order
    assert Se.proj(sid="subject_id").heading.names == ["sid", "session"]
    with pytest.raises(QueryError, match="attribute 'bogus' is not found"):
        S & "bogus = 1"
