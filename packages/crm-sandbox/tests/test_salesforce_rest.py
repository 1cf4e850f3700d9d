"""sObject REST resources through simple-salesforce: describe, CRUD, upsert by external id, changed ids."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from simple_salesforce.exceptions import (
    SalesforceMalformedRequest,
    SalesforceMoreThanOneRecord,
    SalesforceResourceNotFound,
)

from crm_sandbox.ids import checksum


def uid() -> str:
    return uuid.uuid4().hex[:10]


def test_describe_tells_the_truth(sf):
    names = {o["name"] for o in sf.describe()["sobjects"]}
    assert {"Lead", "Contact", "Account", "Opportunity", "OpportunityContactRole", "Case", "Task", "Event",
            "Campaign", "CampaignMember", "User"} <= names
    lead = sf.Lead.describe()
    assert lead["keyPrefix"] == "00Q"
    fields = {f["name"]: f for f in lead["fields"]}
    assert fields["LastName"]["nillable"] is False and fields["LastName"]["length"] == 80
    assert fields["Status"]["restrictedPicklist"] is True
    assert "Open - Not Contacted" in [p["value"] for p in fields["Status"]["picklistValues"]]
    assert fields["IsConverted"]["createable"] is False and fields["IsConverted"]["updateable"] is False
    assert fields["HubSpot_Id__c"]["externalId"] is True and fields["HubSpot_Id__c"]["unique"] is True
    contact = {f["name"]: f for f in sf.Contact.describe()["fields"]}
    assert contact["AccountId"]["referenceTo"] == ["Account"] and contact["AccountId"]["relationshipName"] == "Account"
    opp = {f["name"]: f for f in sf.Opportunity.describe()["fields"]}
    assert opp["IsWon"]["calculated"] is True


def test_create_read_update_delete(sf):
    created = sf.Lead.create({"LastName": "Lovelace", "FirstName": "Ada", "Company": "Engines",
                              "Email": f"{uid()}@x.io"})
    assert created["success"] is True
    lead_id = created["id"]
    assert len(lead_id) == 18 and lead_id.startswith("00Q") and lead_id[15:] == checksum(lead_id[:15])
    row = sf.Lead.get(lead_id)
    assert row["Name"] == "Ada Lovelace" and row["Status"] == "Open - Not Contacted"
    assert row["CreatedDate"] == row["SystemModstamp"] and row["CreatedDate"].endswith("+0000")
    assert sf.Lead.get(lead_id[:15])["Id"] == lead_id  # 15-char ids are accepted
    assert sf.Lead.update(lead_id, {"Title": "Countess"}) == 204
    after = sf.Lead.get(lead_id)
    assert after["Title"] == "Countess" and after["SystemModstamp"] >= row["SystemModstamp"]
    assert sf.Lead.delete(lead_id) == 204
    with pytest.raises(SalesforceResourceNotFound) as err:
        sf.Lead.get(lead_id)
    assert err.value.content[0]["errorCode"] == "ENTITY_IS_DELETED"
    with pytest.raises(SalesforceResourceNotFound) as err:
        sf.Lead.delete(lead_id)
    assert err.value.content[0]["errorCode"] == "ENTITY_IS_DELETED"
    deleted = sf.query_all(f"SELECT Id, IsDeleted FROM Lead WHERE Id = '{lead_id}'", include_deleted=True)
    assert deleted["records"][0]["IsDeleted"] is True
    assert sf.query(f"SELECT COUNT() FROM Lead WHERE Id = '{lead_id}'")["totalSize"] == 0


def test_upsert_by_external_id_creates_then_updates(sf):
    hs_id = uid()
    assert sf.Contact.upsert(f"HubSpot_Id__c/{hs_id}", {"LastName": "Hopper"}) == 201
    assert sf.Contact.upsert(f"HubSpot_Id__c/{hs_id}", {"Title": "Rear Admiral"}) == 200
    found = sf.Contact.get_by_custom_id("HubSpot_Id__c", hs_id)
    assert found["LastName"] == "Hopper" and found["Title"] == "Rear Admiral"
    assert sf.query(f"SELECT COUNT() FROM Contact WHERE HubSpot_Id__c = '{hs_id}'")["totalSize"] == 1
    raw = sf.Contact.upsert(f"HubSpot_Id__c/{hs_id}", {"Title": "Admiral"}, raw_response=True)
    assert raw.json() == {"id": found["Id"], "success": True, "errors": [], "created": False}
    with pytest.raises(SalesforceResourceNotFound):
        sf.Contact.upsert("LastName/Hopper", {"Title": "x"})  # not an external id field


def test_unique_external_id_is_enforced(sf):
    hs_id = uid()
    sf.Account.create({"Name": "One", "HubSpot_Id__c": hs_id})
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.Account.create({"Name": "Two", "HubSpot_Id__c": hs_id.upper()})  # external ids compare case-blind
    assert err.value.content[0]["errorCode"] == "DUPLICATE_VALUE"
    assert err.value.content[0]["fields"] == ["HubSpot_Id__c"]
    with pytest.raises(SalesforceResourceNotFound):
        sf.Contact.get_by_custom_id("Email", "a@b.io")  # Email is not an id-lookup field


def test_several_matches_answer_300(sf, sandbox):
    # Legacy data loaded around the API can hold one external id twice; upsert then answers 300.
    from pathlib import Path

    from crm_sandbox.salesforce.loader import load_records

    hs_id = uid()
    directory = Path(sandbox["salesforce"]["ca_file"]).parent
    load_records(directory, "Lead", [{"LastName": "A", "Company": "C", "HubSpot_Id__c": hs_id},
                                     {"LastName": "B", "Company": "C", "HubSpot_Id__c": hs_id}])
    with pytest.raises(SalesforceMoreThanOneRecord) as err:
        sf.Lead.upsert(f"HubSpot_Id__c/{hs_id}", {"Title": "x"})
    assert err.value.status == 300 and len(err.value.content) == 2


def test_updated_and_deleted_resources(sf):
    start = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5)
    a = sf.Account.create({"Name": f"Upd {uid()}"})["id"]
    b = sf.Account.create({"Name": f"Del {uid()}"})["id"]
    sf.Account.delete(b)
    end = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)
    updated = sf.Account.updated(start, end)
    assert a in updated["ids"] and b not in updated["ids"]
    deleted = sf.Account.deleted(start, end)
    assert b in [d["id"] for d in deleted["deletedRecords"]]


def test_limits_report_the_allocation(sf):
    limits = sf.limits()
    assert limits["DailyApiRequests"]["Max"] >= limits["DailyApiRequests"]["Remaining"] > 0
    used, total = sf.api_usage["api-usage"]
    assert total == limits["DailyApiRequests"]["Max"] and used > 0


def test_unknown_field_and_unknown_object(sf):
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.Lead.create({"LastName": "X", "Company": "Y", "Shoe_Size__c": 9})
    assert err.value.content[0]["errorCode"] == "INVALID_FIELD"
    with pytest.raises(SalesforceResourceNotFound):
        sf.Widget__c.create({"Name": "x"})


def test_an_event_needs_its_start_and_its_end_or_length_and_the_org_computes_the_rest(sf):
    """A timed Event without an end or a length is refused as Salesforce does; given one, the org computes the
    other, ActivityDateTime and ActivityDate. Its WhoId takes a Contact or a Lead."""
    with pytest.raises(SalesforceMalformedRequest) as refused:
        sf.Event.create({"Subject": "Lunch", "StartDateTime": "2026-12-01T12:00:00.000+0000"})
    assert refused.value.content[0]["errorCode"] == "REQUIRED_FIELD_MISSING"
    assert refused.value.content[0]["fields"] == ["DurationInMinutes"]
    made = sf.Event.create({"Subject": "Lunch", "StartDateTime": "2026-12-01T12:00:00.000+0000",
                            "DurationInMinutes": 90})["id"]
    event = sf.Event.get(made)
    assert (event["EndDateTime"][:19], event["ActivityDateTime"][:19], event["ActivityDate"]) == (
        "2026-12-01T13:30:00", "2026-12-01T12:00:00", "2026-12-01")
    sf.Event.update(made, {"EndDateTime": "2026-12-01T14:00:00.000+0000"})
    assert sf.Event.get(made)["DurationInMinutes"] == 120
    who = {f["name"]: f for f in sf.Event.describe()["fields"]}["WhoId"]
    assert who["referenceTo"] == ["Contact", "Lead"]
