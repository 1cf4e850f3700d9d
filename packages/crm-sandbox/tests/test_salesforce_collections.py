"""sObject collections (200 records a call) and Bulk API 2.0 jobs, driven by simple-salesforce."""

from __future__ import annotations

import csv
import io
import uuid

import pytest
from simple_salesforce import format_soql
from simple_salesforce.exceptions import SalesforceMalformedRequest


def contacts(tag: str, n: int, start: int = 0) -> list[dict]:
    return [{"attributes": {"type": "Contact"}, "LastName": f"C{start + i}", "Department": tag} for i in range(n)]


def test_collection_create_update_upsert_delete_200(sf):
    tag = uuid.uuid4().hex[:8]
    created = sf.restful("composite/sobjects", method="POST", json={"records": contacts(tag, 200)})
    assert len(created) == 200 and all(r["success"] for r in created)
    ids = [r["id"] for r in created]
    updates = [{"attributes": {"type": "Contact"}, "id": i, "Title": "Updated"} for i in ids]
    assert all(r["success"] for r in sf.restful("composite/sobjects", method="PATCH", json={"records": updates}))
    assert sf.query(format_soql("SELECT COUNT() FROM Contact WHERE Department = {} AND Title = 'Updated'",
                                tag))["totalSize"] == 200
    upserts = [{"attributes": {"type": "Contact"}, "HubSpot_Id__c": f"{tag}-{i}", "LastName": f"U{i}",
                "Department": tag} for i in range(200)]
    first = sf.restful("composite/sobjects/Contact/HubSpot_Id__c", method="PATCH", json={"records": upserts})
    assert all(r["success"] and r["created"] for r in first)
    again = sf.restful("composite/sobjects/Contact/HubSpot_Id__c", method="PATCH", json={"records": upserts})
    assert all(r["success"] and not r["created"] for r in again)
    assert [r["id"] for r in again] == [r["id"] for r in first]
    deleted = sf.restful("composite/sobjects", method="DELETE", params={"ids": ",".join(ids)})
    assert all(r["success"] for r in deleted)
    assert sf.query(format_soql("SELECT COUNT() FROM Contact WHERE Department = {}", tag))["totalSize"] == 200


def test_collection_of_201_is_refused(sf):
    tag = uuid.uuid4().hex[:8]
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.restful("composite/sobjects", method="POST", json={"records": contacts(tag, 201)})
    assert err.value.content[0]["errorCode"] == "EXCEEDED_ID_LIMIT"
    assert sf.query(format_soql("SELECT COUNT() FROM Contact WHERE Department = {}", tag))["totalSize"] == 0


def test_collection_partial_failure_and_all_or_none(sf):
    tag = uuid.uuid4().hex[:8]
    records = contacts(tag, 3)
    records[1] = {"attributes": {"type": "Lead"}, "LastName": "NoCompany"}
    results = sf.restful("composite/sobjects", method="POST", json={"allOrNone": False, "records": records})
    assert [r["success"] for r in results] == [True, False, True]
    assert results[1]["errors"][0]["statusCode"] == "REQUIRED_FIELD_MISSING"
    assert results[1]["errors"][0]["fields"] == ["Company"]
    rolled = sf.restful("composite/sobjects", method="POST", json={"allOrNone": True,
                                                                   "records": [*contacts(tag, 2, 10), records[1]]})
    assert [r["success"] for r in rolled] == [False, False, False]
    assert rolled[0]["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert sf.query(format_soql("SELECT COUNT() FROM Contact WHERE Department = {}", tag))["totalSize"] == 2


def test_bulk2_insert_upsert_query_50000(sf, sfa):
    tag = uuid.uuid4().hex[:8]
    n = 50_000
    rows = [{"LastName": f"B{i:05d}", "Company": tag, "Email": f"b{i}@{tag}.example.com"} for i in range(n)]
    rows[7]["Status"] = "Not a status"  # one row the org rejects
    before = sfa.get("usage")["by_endpoint"]
    result = sf.bulk2.Lead.insert(records=rows, wait=0.2)
    assert result[0]["numberRecordsProcessed"] == n and result[0]["numberRecordsFailed"] == 1
    failed = sf.bulk2.Lead.get_failed_records(result[0]["job_id"])
    assert "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST" in failed and "B00007" in failed
    # Upsert keyed on the external id: the first job creates, the same rows again update.
    keyed = [{"HubSpot_Id__c": f"{tag}-{i}", "LastName": f"K{i:05d}", "Company": tag} for i in range(n)]
    created = sf.bulk2.Lead.upsert(records=keyed, external_id_field="HubSpot_Id__c", wait=0.2)
    assert created[0]["numberRecordsFailed"] == 0
    for row in keyed:
        row["Title"] = "Upserted"
    updated = sf.bulk2.Lead.upsert(records=keyed, external_id_field="HubSpot_Id__c", wait=0.2)
    assert updated[0]["numberRecordsFailed"] == 0
    success = list(csv.DictReader(io.StringIO(sf.bulk2.Lead.get_successful_records(updated[0]["job_id"]))))
    assert len(success) == n and {r["sf__Created"] for r in success} == {"false"}
    pages = list(sf.bulk2.Lead.query(format_soql("SELECT Id, LastName, Title FROM Lead WHERE Company = {}", tag),
                                     max_records=20_000, wait=0.2))
    assert len(pages) == 5  # 99,999 rows in pages of 20,000
    lines = sum(len(p.strip().splitlines()) - 1 for p in pages)
    assert lines == 2 * n - 1
    assert sum(p.count('"Upserted"') for p in pages) == n
    after = sfa.get("usage")["by_endpoint"]
    assert after["GET jobs/query/{id}/results"] - before.get("GET jobs/query/{id}/results", 0) == 5


def test_bulk2_update_and_delete(sf):
    tag = uuid.uuid4().hex[:8]
    made = sf.restful("composite/sobjects", method="POST", json={"records": contacts(tag, 50)})
    ids = [r["id"] for r in made]
    sf.bulk2.Contact.update(records=[{"Id": i, "Title": "Bulk"} for i in ids], wait=0.2)
    assert sf.query(format_soql("SELECT COUNT() FROM Contact WHERE Department = {} AND Title = 'Bulk'",
                                tag))["totalSize"] == 50
    result = sf.bulk2.Contact.delete(records=[{"Id": i} for i in ids[:20]], wait=0.2)
    assert result[0]["numberRecordsFailed"] == 0
    assert sf.query(format_soql("SELECT COUNT() FROM Contact WHERE Department = {}", tag))["totalSize"] == 30
