"""SOQL over HTTP: paging with nextRecordsUrl, parent fields, filters, and Salesforce's errors for bad queries."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from simple_salesforce import format_soql
from simple_salesforce.exceptions import SalesforceMalformedRequest


@pytest.fixture(scope="module")
def five_thousand(sf_module):
    """5,000 Contacts under one tag, written through sObject collections (25 calls of 200)."""
    tag = uuid.uuid4().hex[:8]
    for chunk in range(25):
        records = [{"attributes": {"type": "Contact"}, "LastName": f"P{chunk * 200 + i:05d}",
                    "Department": tag, "Email": f"p{chunk * 200 + i}.{tag}@example.com"} for i in range(200)]
        results = sf_module.restful("composite/sobjects", method="POST", json={"allOrNone": False, "records": records})
        assert all(r["success"] for r in results)
    return tag


@pytest.fixture(scope="module")
def sf_module(sandbox):
    from tests.clients import connect, sandbox_credentials

    return connect(sandbox_credentials(sandbox))


def usage(sfa) -> dict:
    return sfa.get("usage")["by_endpoint"]


def test_query_all_crosses_pages(sf_module, five_thousand, sfa):
    before = usage(sfa)
    result = sf_module.query_all(format_soql("SELECT Id, LastName FROM Contact WHERE Department = {} "
                                             "ORDER BY LastName", five_thousand))
    after = usage(sfa)
    assert result["totalSize"] == 5000 and len(result["records"]) == 5000
    names = [r["LastName"] for r in result["records"]]
    assert names == sorted(names) and len(set(r["Id"] for r in result["records"])) == 5000
    # 2,000 per page: one query and two query_more calls.
    assert after["GET query"] - before.get("GET query", 0) == 1
    assert after["GET query/{locator}"] - before.get("GET query/{locator}", 0) == 2


def test_first_page_shape(sf_module, five_thousand):
    page = sf_module.query(format_soql("SELECT Id FROM Contact WHERE Department = {}", five_thousand))
    assert page["done"] is False and page["totalSize"] == 5000 and len(page["records"]) == 2000
    assert page["nextRecordsUrl"].startswith("/services/data/v59.0/query/01g")
    more = sf_module.query_more(page["nextRecordsUrl"], identifier_is_url=True)
    assert len(more["records"]) == 2000 and not set(r["Id"] for r in more["records"]) & set(
        r["Id"] for r in page["records"])


def test_paging_is_a_snapshot(sf_module, five_thousand):
    page = sf_module.query(format_soql("SELECT Id, LastName FROM Contact WHERE Department = {} ORDER BY LastName",
                                       five_thousand))
    # An edit after the first page must not shift later pages: every record is seen exactly once.
    sf_module.Contact.update(page["records"][0]["Id"], {"LastName": "ZZZ-moved"})
    seen = [r["Id"] for r in page["records"]]
    while not page["done"]:
        page = sf_module.query_more(page["nextRecordsUrl"], identifier_is_url=True)
        seen += [r["Id"] for r in page["records"]]
    assert len(seen) == 5000 == len(set(seen))
    sf_module.Contact.update(seen[0], {"LastName": "P00000"})


def test_parent_fields_filters_and_order(sf):
    tag = uuid.uuid4().hex[:8]
    acme = sf.Account.create({"Name": f"Acme {tag}", "Industry": "Banking"})["id"]
    globex = sf.Account.create({"Name": f"Globex {tag}"})["id"]
    sf.Contact.create({"LastName": "Alpha", "AccountId": acme, "Department": tag, "Email": f"A@{tag}.io"})
    sf.Contact.create({"LastName": "beta", "AccountId": globex, "Department": tag})
    sf.Contact.create({"LastName": "Gamma", "Department": tag, "Title": "CEO"})
    q = lambda soql: sf.query(format_soql(soql, tag))["records"]  # noqa: E731
    rows = q("SELECT LastName, Account.Name, Account.Industry FROM Contact WHERE Department = {} ORDER BY LastName")
    assert [r["LastName"] for r in rows] == ["Alpha", "beta", "Gamma"]  # text order ignores case
    assert rows[0]["Account"]["Name"] == f"Acme {tag}" and rows[0]["Account"]["Industry"] == "Banking"
    assert rows[2]["Account"] is None
    assert [r["LastName"] for r in q("SELECT LastName FROM Contact WHERE Department = {} AND Account.Name "
                                     "LIKE 'glob%'")] == ["beta"]
    assert {r["LastName"] for r in q("SELECT LastName FROM Contact WHERE Department = {} AND "
                                     "(Title = 'CEO' OR AccountId = null)")} == {"Gamma"}
    assert {r["LastName"] for r in q("SELECT LastName FROM Contact WHERE Department = {} AND Title != 'CEO'")} \
        == {"Alpha", "beta"}  # != keeps nulls, as SOQL does
    assert [r["LastName"] for r in q("SELECT LastName FROM Contact WHERE Department = {} AND Email = "
                                     "'a@" + tag + ".IO'")] == ["Alpha"]
    assert [r["LastName"] for r in q("SELECT LastName FROM Contact WHERE Department = {} ORDER BY Title "
                                     "DESC NULLS LAST, LastName DESC LIMIT 2")] == ["Gamma", "beta"]
    assert [r["LastName"] for r in q("SELECT LastName FROM Contact WHERE Department = {} ORDER BY LastName "
                                     "LIMIT 1 OFFSET 1")] == ["beta"]
    assert sf.query(format_soql("SELECT COUNT() FROM Contact WHERE Department = {} AND LastName IN "
                                "('alpha', 'Gamma')", tag))["totalSize"] == 2
    assert sf.query(format_soql("SELECT COUNT() FROM Contact WHERE Department = {} AND NOT (LastName "
                                "NOT IN ('beta'))", tag))["totalSize"] == 1


def test_datetime_literals_with_z_and_offset(sf):
    tag = uuid.uuid4().hex[:8]
    rid = sf.Account.create({"Name": f"Time {tag}"})["id"]
    stamp = sf.Account.get(rid)["SystemModstamp"]
    at = dt.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%f%z")
    before = (at - dt.timedelta(minutes=1))
    z = before.strftime("%Y-%m-%dT%H:%M:%SZ")
    offset = before.astimezone(dt.timezone(dt.timedelta(hours=2))).isoformat(timespec="seconds")
    for literal in (z, offset):
        rows = sf.query(f"SELECT Id FROM Account WHERE SystemModstamp > {literal} AND Name = 'Time {tag}'")
        assert [r["Id"] for r in rows["records"]] == [rid]
    aware = format_soql("SELECT Id FROM Account WHERE SystemModstamp >= {} AND Name = {}", at.replace(microsecond=0),
                        f"Time {tag}")
    assert sf.query(aware)["totalSize"] == 1
    assert sf.query(f"SELECT COUNT() FROM Account WHERE CreatedDate = TODAY AND Name = 'Time {tag}'")["totalSize"] == 1


@pytest.mark.parametrize("soql, code", [
    ("SELECT Id FROM Lead GROUP BY Id", "MALFORMED_QUERY"),
    ("SELECT Id, (SELECT Id FROM Contacts) FROM Account", "MALFORMED_QUERY"),
    ("SELECT Id FROM Lead WHERE Name = 'a' AND Email = 'b' OR Phone = 'c'", "MALFORMED_QUERY"),
    ("SELECT Id FROM Lead WHERE", "MALFORMED_QUERY"),
    ("SELECT Shoe_Size__c FROM Lead", "INVALID_FIELD"),
    ("SELECT Id FROM Lead WHERE CreatedDate > 2024-01-01", "INVALID_FIELD"),
    ("SELECT Id FROM Nope__c", "INVALID_TYPE"),
    ("DELETE FROM Lead", "MALFORMED_QUERY"),
])
def test_bad_queries_get_salesforce_errors(sf, soql, code):
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.query(soql)
    assert err.value.status == 400
    assert err.value.content[0]["errorCode"] == code


def test_query_all_sees_deleted_rows(sf):
    tag = uuid.uuid4().hex[:8]
    rid = sf.Lead.create({"LastName": "Gone", "Company": tag})["id"]
    sf.Lead.delete(rid)
    assert sf.query(format_soql("SELECT COUNT() FROM Lead WHERE Company = {}", tag))["totalSize"] == 0
    rows = sf.query_all(format_soql("SELECT Id, IsDeleted FROM Lead WHERE Company = {}", tag), include_deleted=True)
    assert rows["records"][0]["IsDeleted"] is True


def test_batch_size_header_and_count_id(sf_module, five_thousand):
    soql = format_soql("SELECT Id FROM Contact WHERE Department = {}", five_thousand)
    page = sf_module.query(soql, headers={"Sforce-Query-Options": "batchSize=500"})
    assert len(page["records"]) == 500 and page["done"] is False
    aggregate = sf_module.query(format_soql("SELECT COUNT(Id) FROM Contact WHERE Department = {}", five_thousand))
    assert aggregate["records"][0]["expr0"] == 5000
