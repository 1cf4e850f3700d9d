"""The org's validation rules, each seen as simple-salesforce surfaces it: exception class and errorCode."""

from __future__ import annotations

import uuid

import pytest
from simple_salesforce.exceptions import SalesforceMalformedRequest, SalesforceResourceNotFound


def uid() -> str:
    return uuid.uuid4().hex[:10]


def rejected(call, *args) -> dict:
    with pytest.raises(SalesforceMalformedRequest) as err:
        call(*args)
    assert err.value.status == 400
    return err.value.content[0]


def test_required_field_missing(sf):
    error = rejected(sf.Lead.create, {"LastName": "Only"})
    assert error["errorCode"] == "REQUIRED_FIELD_MISSING" and error["fields"] == ["Company"]
    error = rejected(sf.Opportunity.create, {"Name": "Deal"})
    assert error["errorCode"] == "REQUIRED_FIELD_MISSING" and set(error["fields"]) == {"CloseDate", "StageName"}
    lead = sf.Lead.create({"LastName": "X", "Company": "Y"})["id"]
    assert rejected(sf.Lead.update, lead, {"LastName": None})["errorCode"] == "REQUIRED_FIELD_MISSING"


def test_string_too_long(sf):
    error = rejected(sf.Lead.create, {"LastName": "L" * 81, "Company": "Y"})
    assert error["errorCode"] == "STRING_TOO_LONG" and error["fields"] == ["LastName"]
    assert "max length=80" in error["message"]


def test_restricted_picklist(sf):
    error = rejected(sf.Lead.create, {"LastName": "X", "Company": "Y", "Status": "Hot"})
    assert error["errorCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST" and error["fields"] == ["Status"]
    assert error["message"] == "Lead Status: bad value for restricted picklist field: Hot"
    error = rejected(sf.Opportunity.create, {"Name": "D", "CloseDate": "2030-01-01", "StageName": "Won-ish"})
    assert error["errorCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"


def test_invalid_email(sf):
    error = rejected(sf.Contact.create, {"LastName": "X", "Email": "not-an-email"})
    assert error["errorCode"] == "INVALID_EMAIL_ADDRESS" and error["fields"] == ["Email"]


def test_read_only_and_formula_fields(sf):
    error = rejected(sf.Lead.create, {"LastName": "X", "Company": "Y", "IsConverted": True})
    assert error["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE" and error["fields"] == ["IsConverted"]
    opp = sf.Opportunity.create({"Name": "D", "CloseDate": "2030-01-01", "StageName": "Closed Won"})["id"]
    assert sf.Opportunity.get(opp)["IsWon"] is True
    error = rejected(sf.Opportunity.update, opp, {"IsWon": False})
    assert error["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"
    error = rejected(sf.Account.update, sf.Account.create({"Name": "A"})["id"], {"CreatedDate": "2020-01-01"})
    assert error["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"


def test_duplicate_value_on_unique_field(sf):
    hs_id = uid()
    sf.Opportunity.create({"Name": "D", "CloseDate": "2030-01-01", "StageName": "Prospecting", "HubSpot_Id__c": hs_id})
    error = rejected(sf.Opportunity.create, {"Name": "E", "CloseDate": "2030-01-01", "StageName": "Prospecting",
                                             "HubSpot_Id__c": hs_id})
    assert error["errorCode"] == "DUPLICATE_VALUE" and "duplicates value on record with id" in error["message"]


def test_duplicate_rules_can_be_switched_on(sf, sfa):
    email = f"{uid()}@dupes.example.com"
    sf.Lead.create({"LastName": "First", "Company": "C", "Email": email})
    sf.Lead.create({"LastName": "Second", "Company": "C", "Email": email})  # rules are off by default
    sfa.post("duplicate-rules", {"Lead": "block"})
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.Lead.create({"LastName": "Third", "Company": "C", "Email": email.upper()})
    body = err.value.content[0]
    assert body["errorCode"] == "DUPLICATES_DETECTED"
    assert len(body["duplicateResut"]["matchResults"][0]["matchRecords"]) == 2
    sfa.post("duplicate-rules", {"Lead": "alert"})
    with pytest.raises(SalesforceMalformedRequest):
        sf.Lead.create({"LastName": "Third", "Company": "C", "Email": email})
    headers = {"Sforce-Duplicate-Rule-Header": "allowSave=true"}
    assert sf.Lead.create({"LastName": "Third", "Company": "C", "Email": email}, headers=headers)["success"]


def test_entity_is_deleted(sf):
    rid = sf.Account.create({"Name": "Doomed"})["id"]
    sf.Account.delete(rid)
    with pytest.raises(SalesforceResourceNotFound) as err:
        sf.Account.update(rid, {"Name": "Back"})
    assert err.value.content[0]["errorCode"] == "ENTITY_IS_DELETED"


def test_invalid_cross_reference(sf):
    error = rejected(sf.Contact.create, {"LastName": "X", "AccountId": "0015g0000099999AAA"})
    assert error["errorCode"] == "INVALID_CROSS_REFERENCE_KEY" and error["fields"] == ["AccountId"]
    lead = sf.Lead.create({"LastName": "X", "Company": "Y"})["id"]
    error = rejected(sf.Contact.create, {"LastName": "X", "AccountId": lead})
    assert error["errorCode"] == "FIELD_INTEGRITY_EXCEPTION"
