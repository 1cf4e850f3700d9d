"""SOQL compiler tests: compile queries and run them against a real in-memory SQLite database."""

from __future__ import annotations

import random
import sqlite3
from datetime import date

import pytest

from crm_sandbox.ids import make_id
from crm_sandbox.salesforce.model import Field, SObject
from crm_sandbox.salesforce.soql import (
    SoqlError,
    compile_soql,
    csv_header,
    csv_values,
    record_json,
)

TODAY = date(2024, 6, 12)  # a Wednesday


def _obj(name: str, prefix: str, *fields: Field) -> SObject:
    base = (Field("Id", "id"), Field("IsDeleted", "boolean"))
    return SObject(name, name, name + "s", prefix, base + fields)


def _ref(name: str, rel: str, *to: str) -> Field:
    return Field(name, "reference", reference_to=to, relationship_name=rel)


SCHEMA = {
    "User": _obj("User", "005", Field("Name", "string"), Field("Email", "email"),
                 _ref("ManagerId", "Manager", "User")),
    "Group": _obj("Group", "00G", Field("Name", "string")),
    "Account": _obj("Account", "001", Field("Name", "string"), _ref("OwnerId", "Owner", "User", "Group"),
                    Field("NumberOfEmployees", "int"), Field("AnnualRevenue", "currency")),
    "Contact": _obj("Contact", "003", Field("LastName", "string"), Field("Email", "email"),
                    _ref("AccountId", "Account", "Account"), _ref("OwnerId", "Owner", "User", "Group"),
                    Field("Birthdate", "date"), Field("DoNotCall", "boolean")),
    "Lead": _obj("Lead", "00Q", Field("LastName", "string"), Field("Email", "email"),
                 Field("Company", "string"), Field("Status", "picklist"),
                 Field("Interests__c", "multipicklist"),
                 Field("NumberOfEmployees", "int"), Field("Score__c", "double"),
                 Field("HasOptedOutOfEmail", "boolean"), _ref("OwnerId", "Owner", "User", "Group"),
                 Field("CreatedDate", "datetime"), Field("LastActivityDate", "date"),
                 Field("Description", "textarea", length=32000)),
}

U1, U2 = make_id("005", 1), make_id("005", 2)
A1, A2 = make_id("001", 1), make_id("001", 2)
L = [make_id("00Q", i) for i in range(1, 8)]


def _insert(db: sqlite3.Connection, table: str, **values) -> None:
    values.setdefault("IsDeleted", 0)
    cols = ", ".join(f'"{k}"' for k in values)
    marks = ", ".join("?" * len(values))
    db.execute(f'INSERT INTO "{table}" ({cols}) VALUES ({marks})', list(values.values()))


@pytest.fixture
def db():
    conn = sqlite3.connect(":memory:")
    for obj in SCHEMA.values():
        cols = ", ".join(f'"{f.name}" {f.sql_type}' for f in obj.fields)
        conn.execute(f'CREATE TABLE "{obj.name}" ({cols})')
    _insert(conn, "User", Id=U1, Name="Ada Admin", Email="ada@example.com", ManagerId=U2)
    _insert(conn, "User", Id=U2, Name="Bob Boss", Email="bob@example.com")
    _insert(conn, "Account", Id=A1, Name="Acme", OwnerId=U1, NumberOfEmployees=50, AnnualRevenue=1000000.0)
    _insert(conn, "Account", Id=A2, Name="Globex", OwnerId=None)
    _insert(conn, "Contact", Id=make_id("003", 1), LastName="Cole", AccountId=A1, OwnerId=U2,
            Birthdate="1990-05-01", DoNotCall=1)
    _insert(conn, "Contact", Id=make_id("003", 2), LastName="Dunn", AccountId=None, OwnerId=U1, DoNotCall=0)
    _insert(conn, "Contact", Id=make_id("003", 3), LastName="Eve", AccountId=A2, OwnerId=U1, DoNotCall=0)
    leads = [
        dict(LastName="Smith", Email="smith@acme.com", Company="Acme", Status="Open",
             Interests__c="Golf;Tennis", NumberOfEmployees=10, Score__c=1.5, HasOptedOutOfEmail=0, OwnerId=U1,
             CreatedDate="2024-06-12T08:00:00.000+0000", LastActivityDate="2024-06-12"),
        dict(LastName="jones", Email="JONES@acme.com", Company="acme", Status="Closed", Interests__c="Golf",
             NumberOfEmployees=200, Score__c=-2.25, HasOptedOutOfEmail=1, OwnerId=U2,
             CreatedDate="2024-06-11T23:59:59.999+0000", LastActivityDate="2024-06-01"),
        dict(LastName="Brown", Email=None, Company="Globex", Status="Open", Interests__c=None,
             NumberOfEmployees=None, Score__c=None, HasOptedOutOfEmail=0, OwnerId=None,
             CreatedDate="2024-06-13T00:00:00.000+0000", LastActivityDate=None),
        dict(LastName="100% Real_Name", Email="x@y.z", Company="Init\\ech", Status="New",
             Interests__c="Chess", NumberOfEmployees=10, Score__c=0.0, HasOptedOutOfEmail=0, OwnerId=U1,
             CreatedDate="2023-12-31T12:00:00.000+0000", LastActivityDate="2024-05-30"),
        dict(LastName="O'Brien", Email="ob@acme.com", Company="Acme", Status="Open",
             Interests__c="Tennis;Chess", NumberOfEmployees=5, HasOptedOutOfEmail=0, OwnerId=U2,
             CreatedDate="2024-06-10T00:00:00.000+0000", LastActivityDate="2024-06-13"),
        dict(LastName="Deleted", Email="smith@acme.com", Company="Acme", Status="Open", IsDeleted=1),
        dict(LastName="Zed", Email="zed@acme.com", Company="Zeta", Status="open", OwnerId=U1,
             CreatedDate="2024-06-12T23:59:59.999+0000"),
    ]
    for lead_id, lead in zip(L, leads, strict=True):
        _insert(conn, "Lead", Id=lead_id, **lead)
    yield conn
    conn.close()


def run(db, soql: str, **kw) -> list[dict]:
    q = compile_soql(soql, SCHEMA, today=TODAY, **kw)
    return [record_json(q, row) for row in db.execute(q.select_sql, q.params).fetchall()]


def names(db, where: str = "", order: str = "", **kw) -> list[str]:
    soql = "SELECT LastName FROM Lead"
    soql += f" WHERE {where}" if where else ""
    soql += f" ORDER BY {order}" if order else ""
    return [r["LastName"] for r in run(db, soql, **kw)]


def count(db, soql: str, **kw) -> int:
    q = compile_soql(soql, SCHEMA, today=TODAY, **kw)
    return db.execute(q.count_sql, q.count_params).fetchone()[0]


def error(soql: str, **kw) -> SoqlError:
    with pytest.raises(SoqlError) as exc:
        compile_soql(soql, SCHEMA, today=TODAY, **kw)
    return exc.value


# -- SELECT and record shape


def test_record_json_uses_canonical_names_and_urls(db):
    recs = run(db, "select email, ID, lastname from lead where lastname = 'smith'")
    assert recs == [{
        "attributes": {"type": "Lead", "url": f"/services/data/v59.0/sobjects/Lead/{L[0]}"},
        "Email": "smith@acme.com", "Id": L[0], "LastName": "Smith",
    }]
    assert list(recs[0]) == ["attributes", "Email", "Id", "LastName"]


def test_url_present_without_selecting_id_and_api_version(db):
    q = compile_soql("SELECT LastName FROM Lead WHERE LastName = 'Brown'", SCHEMA)
    row = db.execute(q.select_sql, q.params).fetchone()
    rec = record_json(q, row, api_version="62.0")
    assert rec["attributes"]["url"] == f"/services/data/v62.0/sobjects/Lead/{L[2]}"
    assert "Id" not in rec


def test_value_conversion(db):
    rec = run(db, "SELECT NumberOfEmployees, Score__c, HasOptedOutOfEmail, CreatedDate, LastActivityDate, "
                  "Interests__c, OwnerId FROM Lead WHERE LastName = 'jones'")[0]
    assert rec["NumberOfEmployees"] == 200 and isinstance(rec["NumberOfEmployees"], int)
    assert rec["Score__c"] == -2.25
    assert rec["HasOptedOutOfEmail"] is True
    assert rec["CreatedDate"] == "2024-06-11T23:59:59.999+0000"
    assert rec["LastActivityDate"] == "2024-06-01"
    assert rec["Interests__c"] == "Golf"
    nulls = run(db, "SELECT NumberOfEmployees, Score__c, Email FROM Lead WHERE LastName = 'Brown'")[0]
    assert nulls["NumberOfEmployees"] is None and nulls["Score__c"] is None and nulls["Email"] is None


def test_parent_fields_nested_and_null_parent(db):
    recs = run(db, "SELECT LastName, Account.Name, account.owner.name, Owner.Email FROM Contact "
                   "ORDER BY LastName")
    base = "/services/data/v59.0/sobjects/"
    assert recs[0] == {
        "attributes": {"type": "Contact", "url": f"{base}Contact/{make_id('003', 1)}"},
        "LastName": "Cole",
        "Account": {
            "attributes": {"type": "Account", "url": f"{base}Account/{A1}"},
            "Name": "Acme",
            "Owner": {"attributes": {"type": "User", "url": f"{base}User/{U1}"}, "Name": "Ada Admin"},
        },
        "Owner": {"attributes": {"type": "User", "url": f"{base}User/{U2}"}, "Email": "bob@example.com"},
    }
    assert recs[1]["Account"] is None  # Dunn has no account
    assert recs[2]["Account"]["Name"] == "Globex" and recs[2]["Account"]["Owner"] is None


def test_where_and_order_on_parent_fields(db):
    recs = run(db, "SELECT LastName FROM Contact WHERE Account.Name LIKE 'ac%' OR Owner.Name = 'ADA ADMIN' "
                   "ORDER BY Account.Name DESC")
    assert [r["LastName"] for r in recs] == ["Eve", "Cole", "Dunn"]  # Globex, Acme, then null last
    assert [r["LastName"] for r in run(db, "SELECT LastName FROM Contact WHERE Account.Owner.Manager.Name = "
                                           "'Bob Boss'")] == ["Cole"]


def test_one_join_per_relationship_path(db):
    q = compile_soql("SELECT Account.Name, Account.Id FROM Contact WHERE Account.Name != null "
                     "ORDER BY Account.Name", SCHEMA)
    assert q.select_sql.count("LEFT JOIN") == 1
    assert q.join_paths == [("Account",)]


def test_polymorphic_reference_joins_first_type(db):
    recs = run(db, "SELECT Owner.Name FROM Lead WHERE LastName IN ('Smith', 'Brown') ORDER BY LastName")
    assert recs[0]["Owner"] is None and recs[1]["Owner"]["Name"] == "Ada Admin"


def test_alias_and_object_name_prefix(db):
    assert run(db, "SELECT LastName FROM Lead l WHERE l.LastName = 'brown'")[0]["LastName"] == "Brown"
    recs = run(db, "SELECT l.LastName, Lead.Email FROM Lead l WHERE l.Company = 'Globex'")
    assert recs[0]["LastName"] == "Brown" and "Email" in recs[0]


def test_select_sql_layout_is_documented():
    q = compile_soql("SELECT Account.Name, LastName FROM Contact", SCHEMA)
    assert q.select_sql.startswith(
        'SELECT t0.rowid, t0."Id", t1."Id", t1."Name", t0."LastName" FROM "Contact" AS t0 LEFT JOIN')
    assert [c.path for c in q.columns] == [("Account", "Name"), ("LastName",)]
    assert [c.sobjects for c in q.columns] == [("Account",), ()]


# -- WHERE semantics


def test_string_equality_is_case_insensitive(db):
    assert names(db, "Company = 'ACME'", "LastName") == ["jones", "O'Brien", "Smith"]
    assert names(db, "Status IN ('OPEN')", "LastName") == ["Brown", "O'Brien", "Smith", "Zed"]


def test_not_equal_and_not_in_include_nulls(db):
    assert "Brown" in names(db, "Email != 'smith@acme.com'")
    assert "Brown" in names(db, "Email <> 'smith@acme.com'")
    assert "Smith" not in names(db, "Email != 'SMITH@acme.com'")
    assert "Brown" in names(db, "Email NOT IN ('smith@acme.com', 'x@y.z')")
    assert "Brown" in names(db, "NOT Email = 'smith@acme.com'")
    assert "Brown" in names(db, "NOT (NumberOfEmployees > 5 AND Email LIKE '%acme%')")
    assert "Brown" not in names(db, "NumberOfEmployees < 1000")
    assert "Brown" in names(db, "NOT NumberOfEmployees < 1000")


def test_null_comparisons(db):
    assert names(db, "Email = null") == ["Brown"]
    assert "Brown" not in names(db, "Email != null")
    assert names(db, "Email IN (null, 'x@y.z')") == ["Brown", "100% Real_Name"]
    assert "Brown" not in names(db, "Email NOT IN (null)")


def test_and_or_not_with_parentheses(db):
    assert names(db, "(Company = 'Acme' AND Status = 'Closed') OR LastName = 'Zed'") == ["jones", "Zed"]
    assert names(db, "Company = 'Acme' AND (Status = 'Closed' OR LastName = 'Smith')") == ["Smith", "jones"]
    assert names(db, "NOT (Company = 'Acme' OR Company = 'Zeta') AND NOT Status = 'New'") == ["Brown"]
    assert error("SELECT Id FROM Lead WHERE Company = 'Acme' AND Status = 'Open' OR LastName = 'Zed'"
                 ).error_code == "MALFORMED_QUERY"


def test_like_wildcards_case_and_escapes(db):
    assert names(db, "LastName LIKE 'SM%'") == ["Smith"]
    assert names(db, "LastName LIKE '_ones'") == ["jones"]
    assert names(db, "LastName LIKE '100\\% Real\\_Name'") == ["100% Real_Name"]
    assert names(db, "LastName LIKE '%\\%%'") == ["100% Real_Name"]
    assert names(db, "LastName LIKE '%l\\_%'") == ["100% Real_Name"]
    assert names(db, "LastName LIKE 'smit\\_'") == []
    assert names(db, "Company LIKE 'init\\\\ech'") == ["100% Real_Name"]
    assert "Brown" in names(db, "NOT Email LIKE '%acme%'")


def test_string_escapes(db):
    assert names(db, "LastName = 'O\\'Brien'") == ["O'Brien"]
    assert names(db, "Company = 'Init\\\\ech'") == ["100% Real_Name"]
    assert names(db, "LastName = 'a\\nb\\t\\r\\b\\f\\\"'") == []


def test_numbers(db):
    assert names(db, "NumberOfEmployees = 10") == ["Smith", "100% Real_Name"]
    assert names(db, "NumberOfEmployees >= 10", "NumberOfEmployees DESC, LastName") == [
        "jones", "100% Real_Name", "Smith"]
    assert names(db, "Score__c < -1") == ["jones"]
    assert names(db, "Score__c > 1.25") == ["Smith"]
    assert names(db, "Score__c IN (0, 1.5)") == ["Smith", "100% Real_Name"]


def test_booleans(db):
    assert names(db, "HasOptedOutOfEmail = true") == ["jones"]
    assert names(db, "HasOptedOutOfEmail = FALSE AND Company = 'Acme'") == ["Smith", "O'Brien"]
    assert names(db, "HasOptedOutOfEmail != true", "LastName") == ["100% Real_Name", "Brown", "O'Brien",
                                                                   "Smith", "Zed"]


def test_dates_and_datetimes(db):
    assert names(db, "LastActivityDate = 2024-06-12") == ["Smith"]
    assert names(db, "LastActivityDate < 2024-06-01") == ["100% Real_Name"]
    assert names(db, "CreatedDate = 2024-06-12T08:00:00Z") == ["Smith"]
    assert names(db, "CreatedDate = 2024-06-12T10:00:00.000+02:00") == ["Smith"]
    assert names(db, "CreatedDate = 2024-06-12T03:00:00-05:00") == ["Smith"]
    assert names(db, "CreatedDate > 2024-06-11T19:00:00-05:00") == ["Smith", "Brown", "Zed"]
    assert names(db, "CreatedDate < 2024-01-01T00:00:00Z") == ["100% Real_Name"]


def test_relative_dates_on_datetime_fields(db):
    assert names(db, "CreatedDate = TODAY") == ["Smith", "Zed"]
    assert names(db, "CreatedDate = YESTERDAY") == ["jones"]
    assert names(db, "CreatedDate = TOMORROW") == ["Brown"]
    assert names(db, "CreatedDate > TODAY") == ["Brown"]
    assert names(db, "CreatedDate >= TODAY") == ["Smith", "Brown", "Zed"]
    assert names(db, "CreatedDate < TODAY") == ["jones", "100% Real_Name", "O'Brien"]
    assert names(db, "CreatedDate <= TODAY") == ["Smith", "jones", "100% Real_Name", "O'Brien", "Zed"]
    assert names(db, "CreatedDate != TODAY") == ["jones", "Brown", "100% Real_Name", "O'Brien"]
    assert names(db, "CreatedDate = LAST_N_DAYS:2") == ["Smith", "jones", "O'Brien", "Zed"]
    assert names(db, "CreatedDate = LAST_N_DAYS:1") == ["Smith", "jones", "Zed"]
    assert names(db, "CreatedDate = NEXT_N_DAYS:1") == ["Brown"]
    assert names(db, "CreatedDate IN (YESTERDAY, TOMORROW)") == ["jones", "Brown"]
    assert names(db, "CreatedDate = THIS_MONTH") == ["Smith", "jones", "Brown", "O'Brien", "Zed"]
    assert names(db, "CreatedDate = LAST_YEAR") == ["100% Real_Name"]
    assert names(db, "CreatedDate = THIS_WEEK") == ["Smith", "jones", "Brown", "O'Brien", "Zed"]


def test_relative_dates_on_date_fields(db):
    assert names(db, "LastActivityDate = TODAY") == ["Smith"]
    assert names(db, "LastActivityDate > TODAY") == ["O'Brien"]
    assert names(db, "LastActivityDate = LAST_N_DAYS:14") == ["Smith", "jones", "100% Real_Name"]
    assert names(db, "LastActivityDate = N_DAYS_AGO:11") == ["jones"]


def test_date_type_mismatches():
    e = error("SELECT Id FROM Lead WHERE LastActivityDate = 2024-06-12T00:00:00Z")
    assert e.error_code == "INVALID_FIELD" and "must be of type date and" in e.message
    e = error("SELECT Id FROM Lead WHERE CreatedDate = 2024-06-12")
    assert e.error_code == "INVALID_FIELD" and "must be of type dateTime" in e.message
    e = error("SELECT Id FROM Lead WHERE LastActivityDate = '2024-06-12'")
    assert "value of filter criterion for field 'LastActivityDate' must be of type date and should not be " \
           "enclosed in quotes" in e.message
    for literal in ("2024-02-30T00:00:00Z", "2024-01-01T00:00:00", "2024-01-01T25:00:00Z"):
        assert error(f"SELECT Id FROM Lead WHERE CreatedDate > {literal}").error_code == "MALFORMED_QUERY"


def test_id_and_reference_fields(db):
    assert names(db, f"Id = '{L[1]}'") == ["jones"]
    assert names(db, f"Id = '{L[1][:15]}'") == ["jones"]  # 15-char id
    assert names(db, f"Id = '{L[1].lower()[:15] + L[1][15:].lower()}'") == ["jones"]  # 18-char, any case
    assert names(db, f"OwnerId IN ('{U2[:15]}', '{U1}')", "LastName") == [
        "100% Real_Name", "jones", "O'Brien", "Smith", "Zed"]
    assert names(db, "Id = 'not-an-id'") == []
    assert len(names(db, "Id != 'not-an-id'")) == 6
    assert names(db, f"Id > '{L[3]}'") == ["O'Brien", "Zed"]
    assert error("SELECT Id FROM Lead WHERE Id LIKE '00Q%'").error_code == "INVALID_FIELD"
    assert error("SELECT Id FROM Lead WHERE OwnerId = 5").error_code == "INVALID_FIELD"


def test_type_mismatches_are_invalid_field():
    for where in ("HasOptedOutOfEmail = 'true'", "HasOptedOutOfEmail = 1", "NumberOfEmployees = '10'",
                  "LastName = 5", "LastName = true", "Score__c LIKE '1%'", "HasOptedOutOfEmail > false",
                  "LastName INCLUDES ('a')", "Interests__c > 'a'", "CreatedDate = 'TODAY'",
                  "Description = 'x'", "Interests__c IN ('Golf')", "Interests__c LIKE 'G%'"):
        assert error(f"SELECT Id FROM Lead WHERE {where}").error_code == "INVALID_FIELD", where


def test_number_edge_cases(db):
    assert names(db, "NumberOfEmployees > 99999999999999999999999") == []
    assert names(db, "Score__c > -0.5 AND Score__c < 0.5") == ["100% Real_Name"]
    assert error("SELECT Id FROM Lead LIMIT 99999999999").error_code == "NUMBER_OUTSIDE_VALID_RANGE"


def test_includes_excludes(db):
    assert names(db, "Interests__c INCLUDES ('golf')") == ["Smith", "jones"]
    assert names(db, "Interests__c INCLUDES ('Golf;Tennis', 'Chess')") == ["Smith", "100% Real_Name",
                                                                           "O'Brien"]
    assert names(db, "Interests__c INCLUDES ('Tennis;Chess')") == ["O'Brien"]
    assert names(db, "Interests__c EXCLUDES ('Golf')") == ["Brown", "100% Real_Name", "O'Brien", "Zed"]
    assert names(db, "Interests__c INCLUDES ('Ten')") == []
    assert names(db, "Interests__c = 'golf;tennis'") == ["Smith"]


def test_deleted_rows(db):
    assert "Deleted" not in names(db)
    assert "Deleted" in names(db, include_deleted=True)
    assert names(db, "Email = 'smith@acme.com'", include_deleted=True) == ["Smith", "Deleted"]
    assert count(db, "SELECT COUNT() FROM Lead") == 6
    assert count(db, "SELECT COUNT() FROM Lead", include_deleted=True) == 7


# -- ORDER BY, LIMIT, OFFSET


def test_order_by_defaults_nulls_and_ties(db):
    assert names(db, order="Email") == ["Brown", "jones", "O'Brien", "Smith", "100% Real_Name", "Zed"]
    assert names(db, order="Email DESC")[-1] == "Brown"  # DESC defaults to NULLS LAST
    assert names(db, order="Email ASC NULLS LAST")[-1] == "Brown"
    assert names(db, order="Email DESC NULLS FIRST")[0] == "Brown"
    # Ties fall back to insertion (rowid) order, so paging is stable.
    assert names(db, order="Company") == ["Smith", "jones", "O'Brien", "Brown", "100% Real_Name", "Zed"]


def test_order_by_text_is_case_insensitive_but_ids_are_ascii(db):
    assert names(db, order="LastName") == ["100% Real_Name", "Brown", "jones", "O'Brien", "Smith", "Zed"]
    # Counters 36 and 11 end in 'a' and 'B': NOCASE would put 'a' first, ASCII puts 'B' first.
    lower, upper = make_id("00Q", 36), make_id("00Q", 11)
    db.execute('INSERT INTO "Lead" ("Id", "IsDeleted", "LastName") VALUES (?, 0, ?), (?, 0, ?)',
               (lower, "low", upper, "up"))
    ordered = [r["Id"] for r in run(db, "SELECT Id FROM Lead ORDER BY Id")]
    assert ordered == sorted(ordered)
    assert ordered.index(upper) < ordered.index(lower)


def test_order_by_status_then_name(db):
    # Status is a picklist: case-insensitive, so 'open' and 'Open' tie and LastName DESC decides.
    assert names(db, order="Status, LastName DESC") == ["jones", "100% Real_Name", "Zed", "Smith", "O'Brien",
                                                        "Brown"]


def test_limit_offset_and_counts(db):
    assert names(db, order="LastName") == ["100% Real_Name", "Brown", "jones", "O'Brien", "Smith", "Zed"]
    assert [r["LastName"] for r in run(db, "SELECT LastName FROM Lead ORDER BY LastName LIMIT 2 OFFSET 1")] \
        == ["Brown", "jones"]
    assert [r["LastName"] for r in run(db, "SELECT LastName FROM Lead ORDER BY LastName OFFSET 4")] \
        == ["Smith", "Zed"]
    assert run(db, "SELECT Id FROM Lead LIMIT 0") == []
    assert count(db, "SELECT Id FROM Lead") == 6
    assert count(db, "SELECT Id FROM Lead LIMIT 4") == 4
    assert count(db, "SELECT Id FROM Lead LIMIT 4 OFFSET 3") == 3
    assert count(db, "SELECT Id FROM Lead OFFSET 10") == 0
    assert count(db, "SELECT Id FROM Lead WHERE Company = 'acme' LIMIT 100") == 3
    q = compile_soql("SELECT Id FROM Lead LIMIT 5 OFFSET 2", SCHEMA)
    assert (q.limit, q.offset) == (5, 2) and q.select_sql.endswith("LIMIT 5 OFFSET 2")
    assert error("SELECT Id FROM Lead OFFSET 2001").error_code == "NUMBER_OUTSIDE_VALID_RANGE"
    assert compile_soql("SELECT Id FROM Lead OFFSET 2000", SCHEMA).offset == 2000


def test_count_queries(db):
    q = compile_soql("select count() from Lead where Company = 'Acme'", SCHEMA)
    assert q.count_only and q.columns == [] and q.count_field is None
    assert db.execute(q.count_sql, q.count_params).fetchone()[0] == 3
    q = compile_soql("SELECT COUNT(Id) FROM Contact WHERE Account.Name = 'Acme'", SCHEMA)
    assert q.count_only and q.count_field == "Id"
    assert db.execute(q.count_sql, q.count_params).fetchone()[0] == 1
    for bad in ("SELECT COUNT(), Id FROM Lead", "SELECT Id, COUNT() FROM Lead",
                "SELECT COUNT(Email) FROM Lead", "SELECT COUNT() FROM Lead ORDER BY LastName",
                "SELECT SUM(NumberOfEmployees) FROM Lead"):
        assert error(bad).error_code == "MALFORMED_QUERY", bad


# -- CSV


def test_csv_header_and_values(db):
    q = compile_soql("SELECT Id, LastName, Account.Name, DoNotCall, Birthdate FROM Contact ORDER BY LastName",
                     SCHEMA)
    assert csv_header(q) == ["Id", "LastName", "Account.Name", "DoNotCall", "Birthdate"]
    rows = [csv_values(q, r) for r in db.execute(q.select_sql, q.params)]
    assert rows[0] == [make_id("003", 1), "Cole", "Acme", "true", "1990-05-01"]
    assert rows[1] == [make_id("003", 2), "Dunn", "", "false", ""]
    q = compile_soql("SELECT NumberOfEmployees, AnnualRevenue FROM Account WHERE Name = 'Acme'", SCHEMA)
    assert csv_values(q, db.execute(q.select_sql, q.params).fetchone()) == ["50", "1000000"]
    q = compile_soql("SELECT Score__c, CreatedDate FROM Lead WHERE LastName = 'jones'", SCHEMA)
    row = db.execute(q.select_sql, q.params).fetchone()
    assert csv_values(q, row) == ["-2.25", "2024-06-11T23:59:59.999Z"]


# -- errors


def test_unknown_field_message_matches_salesforce():
    e = error("SELECT Id, Foo FROM Lead")
    assert e.error_code == "INVALID_FIELD"
    assert e.message.startswith(
        "\nSELECT Id, Foo FROM Lead\n           ^\nERROR at Row:1:Column:12\n"
        "No such column 'Foo' on entity 'Lead'. If you are attempting to use a custom "
        "field, be sure to append the '__c' after the custom field name.")
    assert "No such column 'Bogus' on entity 'Account'" in error("SELECT Account.Bogus FROM Contact").message
    assert "No such column 'Nope' on entity 'Lead'" in error("SELECT Id FROM Lead WHERE Nope = 1").message
    assert "\nFROM Lead WHERE Nope = 1\n                ^\nERROR at Row:2:Column:17\n" in error(
        "SELECT Id\nFROM Lead WHERE Nope = 1").message


def test_unknown_object_and_relationship():
    e = error("SELECT Id FROM Foo")
    assert e.error_code == "INVALID_TYPE"
    assert "sObject type 'Foo' is not supported. If you are attempting to use a custom object" in e.message
    e = error("SELECT Foo.Name FROM Contact")
    assert e.error_code == "INVALID_FIELD"
    assert "Didn't understand relationship 'Foo' in field path" in e.message
    assert error("SELECT AccountId.Name FROM Contact").error_code == "INVALID_FIELD"
    assert error("SELECT Account FROM Contact").error_code == "INVALID_FIELD"


def test_duplicate_fields():
    e = error("SELECT Id, LastName, lastname FROM Lead")
    assert e.error_code == "MALFORMED_QUERY" and "duplicate field selected: LastName" in e.message
    assert error("SELECT Account.Name, account.NAME FROM Contact").error_code == "MALFORMED_QUERY"


@pytest.mark.parametrize("soql", [
    "", "SELECT", "SELECT Id", "SELECT FROM Lead", "SELECT Id, FROM Lead", "SELECT Id Lead",
    "SELECT Id FROM", "SELECT Id FROM Lead WHERE", "SELECT Id FROM Lead WHERE Email",
    "SELECT Id FROM Lead WHERE Email =", "SELECT Id FROM Lead WHERE (Email = 'a'",
    "SELECT Id FROM Lead WHERE Email = 'a')", "SELECT Id FROM Lead WHERE Email = 'a' junk",
    "SELECT Id FROM Lead WHERE Email = 'unterminated", "SELECT Id FROM Lead WHERE Email = 'bad \\x escape'",
    "SELECT Id FROM Lead GROUP BY Company", "SELECT Company FROM Lead GROUP BY Company HAVING COUNT(Id) > 1",
    "SELECT Id, (SELECT Id FROM Contacts) FROM Account", "SELECT Id FROM Lead FOR UPDATE",
    "SELECT Id FROM Lead WITH SECURITY_ENFORCED", "SELECT TYPEOF Owner WHEN User THEN Name END FROM Lead",
    "SELECT Id FROM Contact WHERE AccountId IN (SELECT Id FROM Account)", "SELECT MAX(Score__c) FROM Lead",
    "SELECT Id FROM Lead WHERE CALENDAR_YEAR(CreatedDate) = 2024", "SELECT Id FROM Lead WHERE Email = :email",
    "SELECT Id FROM Lead LIMIT -1", "SELECT Id FROM Lead LIMIT 1.5", "SELECT Id FROM Lead LIMIT x",
    "SELECT Id FROM Lead OFFSET 1 LIMIT 1", "SELECT Id FROM Lead ORDER BY",
    "SELECT Id FROM Lead ORDER LastName",
    "SELECT Id FROM Lead ORDER BY LastName NULLS", "SELECT Id FROM Lead WHERE Email IN ()",
    "SELECT Id FROM Lead WHERE Email IN 'a'", "SELECT Id FROM Lead WHERE Email = ; DROP TABLE Lead",
    "SELECT Id FROM Lead WHERE NumberOfEmployees < null",
    "SELECT Id FROM Lead WHERE CreatedDate = LAST_N_DAYS",
    "SELECT Id FROM Lead WHERE CreatedDate = LAST_N_DAYS:-3", "SELECT Id FROM Lead WHERE Email = foo",
    "SELECT Id FROM Lead WHERE 'a' = Email", "SELECT Id FROM Lead WHERE Email NOT 'a'",
    "SELECT Account..Name FROM Contact", "SELECT Id FROM Lead WHERE Email = 'a' AND",
    "SELECT Id FROM Lead ALL ROWS", "SELECT Id FROM Lead USING SCOPE mine", "SELECT Id FROM Lead, Contact",
    "SELECT Id FROM Lead WHERE Email = 'é' AND LastName = ü", "SELECT A.B.C.D.E.F.G FROM Contact",
    "SELECT Id FROM Lead WHERE " + "(" * 500 + "Email = 'a'" + ")" * 500,
])
def test_malformed_queries(soql):
    assert error(soql).error_code == "MALFORMED_QUERY"


def test_non_string_query():
    with pytest.raises(SoqlError):
        compile_soql(None, SCHEMA)  # type: ignore[arg-type]


def test_sql_injection_is_bound_not_spliced(db):
    assert names(db, "LastName = 'x\\' OR 1=1 --'") == []
    q = compile_soql("SELECT Id FROM Lead WHERE LastName = 'Robert\\'); DROP TABLE Lead; --'", SCHEMA)
    assert "DROP" not in q.select_sql


def test_long_and_chain_and_big_in_list_execute(db):
    where = " AND ".join(f"LastName != 'x{i}'" for i in range(1500))
    assert len(names(db, where)) == 6
    in_list = ", ".join(f"'{make_id('00Q', i)}'" for i in range(1, 3000))
    assert len(names(db, f"Id IN ({in_list})")) == 6


# -- fuzz: never anything but SoqlError, and whatever compiles must run

VALID = [
    "SELECT Id, LastName, Owner.Name FROM Lead WHERE (Email != null AND NumberOfEmployees > 5) OR "
    "(Company LIKE 'ac%' AND CreatedDate = LAST_N_DAYS:3) ORDER BY LastName DESC NULLS LAST, Id "
    "LIMIT 10 OFFSET 1",
    "SELECT COUNT() FROM Lead WHERE Interests__c INCLUDES ('Golf;Tennis', 'Chess') AND "
    "CreatedDate > 2024-01-01T00:00:00.123+05:30",
    "SELECT Account.Owner.Name, LastName FROM Contact WHERE NOT (Birthdate < 2000-01-01) AND "
    "Account.Name IN ('Acme', 'Globex') ORDER BY Account.Name",
    "SELECT Id FROM Lead WHERE Email NOT IN ('a\\'b', null) AND HasOptedOutOfEmail = false",
]


CODES = {"MALFORMED_QUERY", "INVALID_FIELD", "INVALID_TYPE", "NUMBER_OUTSIDE_VALID_RANGE"}


def _check(db, soql: str) -> None:
    try:
        q = compile_soql(soql, SCHEMA, today=TODAY)
    except SoqlError as e:
        assert e.error_code in CODES, e
        return
    rows = db.execute(q.select_sql, q.params).fetchall()
    db.execute(q.count_sql, q.count_params).fetchone()
    for row in rows:
        record_json(q, row)
        csv_values(q, row)


def test_fuzz_truncations(db):
    for soql in VALID:
        _check(db, soql)
        for cut in range(len(soql)):
            _check(db, soql[:cut])


def test_fuzz_mutations(db):
    rng = random.Random(1234)
    pieces = ["(", ")", "'", ",", ".", "AND", "OR", "NOT", "=", "null", "\\", ":", "LIMIT", "-", "1", "T",
              " ", "IN", "SELECT"]
    for _ in range(3000):
        soql = list(rng.choice(VALID))
        for _ in range(rng.randint(1, 3)):
            pos = rng.randrange(len(soql))
            action = rng.random()
            if action < 0.4:
                del soql[pos:pos + rng.randint(1, 5)]
            elif action < 0.8:
                soql[pos:pos] = rng.choice(pieces)
            else:
                soql[pos] = chr(rng.randrange(32, 127))
        _check(db, "".join(soql))
