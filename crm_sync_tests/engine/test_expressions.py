"""The mapping language on DuckDB alone: what each of crm-sync's functions gives, and what never gets through."""

from __future__ import annotations

import pytest

from crm_sync.engine import db
from crm_sync.engine.db import Binds
from crm_sync.engine.expressions import ExpressionError, parse


@pytest.fixture
def con(tmp_path):
    con = db.connect(tmp_path / "state.duckdb")  # every connection has the language's macros
    con.execute("CREATE TABLE r AS SELECT 'x' AS x")
    yield con
    con.close()


@pytest.mark.parametrize(("text", "value"), [
    ("e164('(415) 555-0100', 'US')", "+14155550100"),
    ("e164('1-415-555-0100', 'CA')", "+14155550100"),
    ("e164('+44 20 7946 0958', 'US')", "+442079460958"),
    ("e164('0044 20 7946 0958', 'US')", "+442079460958"),
    ("e164('030 1234567', 'de')", "+49301234567"),
    ("e164('06 1234 5678', 'IT')", "+390612345678"),  # Italy keeps its leading 0
    ("e164('415.555.0199 ext. 7', 'US')", "+14155550199"),
    ("e164('n/a', 'US')", None),
    ("date_in_zone('2024-03-02T05:30:00Z', 'America/Los_Angeles')", "2024-03-01"),
    ("date_in_zone('2024-03-01T23:30:00Z', 'Europe/Berlin')", "2024-03-02"),
    ("hubspot_date('2024-03-01')", "1709251200000"),
    ("hubspot_date('2024-03-01T17:00:00Z')", "1709251200000"),
    ("parse_number('$1,234.50')", "1234.5"),
    ("parse_number('n/a')", None),
    ("parse_bool(' Yes ')", "true"),
    ("parse_bool('off')", "false"),
    ("parse_bool('maybe')", None),
    ("first_option('Gold;Silver')", "Gold"),
    ("pick_option('Silver; Gold', 'Platinum;Gold;Silver')", "Gold"),
    ("pick_option('Bronze', 'Gold;Silver')", None),
    ("squish('  Ann   Marie  ')", "Ann Marie"),
    ("upper(x) || '-' || CAST(length(x) AS VARCHAR)", "X-1"),
    ("CASE WHEN x IN ('x', 'y') THEN 'in' ELSE 'out' END", "in"),
])
def test_each_function_gives_its_value(con, text, value):
    b = Binds()
    sql = parse(text, "HubSpot").sql("r", b)
    assert b.execute(con, f"SELECT {sql} FROM r").fetchone()[0] == value


def test_literals_are_bound_not_pasted(con):
    b = Binds()
    sql = parse("concat_ws(' ', x, 'O''Brien; DROP TABLE r')", "HubSpot").sql("r", b)
    assert "DROP" not in sql and "O'Brien; DROP TABLE r" in b.values.values()
    assert b.execute(con, f"SELECT {sql} FROM r").fetchone()[0] == "x O'Brien; DROP TABLE r"


@pytest.mark.parametrize(("text", "says"), [
    ("(SELECT 1)", "subquery is not allowed"),
    ("read_csv('/etc/passwd')", "read_csv() is not allowed"),
    ("getenv('HOME')", "unknown function getenv()"),
    ("current_setting('threads')", "unknown function current_setting()"),
    ("r.x", "names another table"),
    ("*", "star is not allowed"),
    ("$1", "placeholder is not allowed"),
    ("x; DROP TABLE r", "block is not allowed"),
    ("x AS y", "alias is not allowed"),
    ("e164(x, region)", "takes the default region as a literal"),
    ("e164(x, 'XX')", "does not know region 'XX'"),
    ("x +", "cannot parse"),
    ("  ", "non-empty"),
])
def test_what_reaches_beyond_the_record_is_refused(text, says):
    with pytest.raises(ExpressionError) as err:
        parse(text, "HubSpot")
    assert says in str(err.value)


def test_an_expression_names_the_fields_it_reads():
    assert parse("concat_ws(' ', firstname, upper(lastname), firstname)", "HubSpot").fields == ("firstname",
                                                                                              "lastname")
