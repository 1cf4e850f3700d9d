"""Validation against the target's metadata: bad values are quarantined with a named error, released once fixed."""

from __future__ import annotations

from crm_sync_tests.engine.world import World

ANN_HS = {"id": "11", "salesforce_id": "0031", "email": "ann@example.org", "lastname": "Lee", "jobtitle": "CTO"}
ANN_SF = {"id": "0031", "HubSpot_Id__c": "11", "Email": "ann@example.org", "LastName": "Lee", "Title": "CTO"}
INDUSTRIES = ["Banking", "Technology", "Finance"]


def open_validation_errors(w: World) -> list[tuple]:
    return [(e["system"], e["object"], e["record_id"], e["code"], e["fields"]) for e in w.errors()
            if e["kind"] == "validation"]


def test_too_long_value_is_quarantined_and_named(tmp_path):
    """A value longer than the field is held back (invalid) with a STRING_TOO_LONG error naming the field."""
    w = World(tmp_path, only=("people",))
    w.salesforce_metadata("Contact", {"Title": {"length": 10}})
    w.stage_hubspot("contacts", [ANN_HS])
    w.stage_salesforce("Contact", [ANN_SF])
    w.cycle()
    w.stage_hubspot("contacts", [{"id": "11", "jobtitle": "Chief Technology Officer"}])
    w.cycle()
    op = w.op(status="invalid")
    assert op.payload == {"Title": "Chief Technology Officer"}
    assert "STRING_TOO_LONG Title" in op.last_error
    assert open_validation_errors(w) == [("salesforce", "Contact", "11", "STRING_TOO_LONG", "Title")]
    assert w.sendable() == []


def test_restricted_picklist_value_is_quarantined_and_released_when_the_picklist_gains_it(tmp_path):
    """Industry Retail is not an option: the create waits; adding the option releases it and resolves the error."""
    w = World(tmp_path, only=("companies",))
    industry = {"Industry": {"type": "picklist", "restricted": True, "options": INDUSTRIES}}
    w.salesforce_metadata("Account", industry)
    w.stage_hubspot("companies", [{"id": "51", "name": "Shop", "industry": "RETAIL"},
                                  {"id": "52", "name": "Bank", "industry": "BANKING"}])
    w.cycle()
    assert [o.record_key for o in w.ops()] == ["52"]  # the good one goes out
    bad = w.op(status="invalid")
    assert bad.record_key == "51" and bad.payload["Industry"] == "Retail"
    assert open_validation_errors(w) == [
        ("salesforce", "Account", "51", "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", "Industry")]
    assert "Retail" in w.errors()[0]["message"]
    w.salesforce_metadata("Account", {"Industry": {**industry["Industry"], "options": [*INDUSTRIES, "Retail"]}})
    w.cycle()
    assert w.op(record_key="51").op_id == bad.op_id  # the same op, released
    assert open_validation_errors(w) == []


def test_fixing_the_source_value_replaces_the_quarantined_op(tmp_path):
    """The user picks a valid industry: a new op goes out, the invalid one is superseded, its error resolved."""
    w = World(tmp_path, only=("companies",))
    w.salesforce_metadata("Account", {"Industry": {"type": "picklist", "restricted": True, "options": INDUSTRIES}})
    w.stage_hubspot("companies", [{"id": "51", "name": "Shop", "industry": "RETAIL"}])
    w.cycle()
    w.stage_hubspot("companies", [{"id": "51", "industry": "FINANCIAL_SERVICES"}])
    w.cycle()
    assert w.op().payload["Industry"] == "Finance"
    assert len(w.ops(status="superseded")) == 1
    assert open_validation_errors(w) == []


def test_bad_email_is_quarantined(tmp_path):
    """An email Salesforce would refuse is held back with INVALID_EMAIL_ADDRESS on Email."""
    w = World(tmp_path, only=("people",))
    w.salesforce_metadata("Lead")
    w.stage_hubspot("contacts", [{"id": "11", "email": "ann@example", "lastname": "Lee"},
                                 {"id": "12", "email": "ben@example.org", "lastname": "Berg"}])
    w.cycle()
    assert [o.record_key for o in w.ops()] == ["12"]
    assert w.op(status="invalid").record_key == "11"
    assert open_validation_errors(w) == [("salesforce", "Lead", "11", "INVALID_EMAIL_ADDRESS", "Email")]


def test_a_read_only_field_error_carries_its_code(tmp_path):
    """The error code of a read-only field is INVALID_FIELD_FOR_INSERT_UPDATE, like Salesforce's own."""
    w = World(tmp_path, only=("people",))
    w.salesforce_metadata("Lead", {"Title": {"createable": False}})
    w.stage_hubspot("contacts", [{"id": "11", "email": "ann@example.org", "lastname": "Lee", "jobtitle": "CTO"}])
    w.cycle()
    assert open_validation_errors(w) == [("salesforce", "Lead", "11", "INVALID_FIELD_FOR_INSERT_UPDATE", "Title")]


def test_hubspot_enumeration_refuses_an_unmapped_salesforce_value(tmp_path):
    """A Salesforce industry with no HubSpot counterpart passes through unmapped and fails HubSpot's options."""
    w = World(tmp_path, only=("companies",))
    w.hubspot_metadata("companies", {"industry": {"type": "enumeration", "restricted": True,
                                                  "options": ["BANKING", "COMPUTER_SOFTWARE"]}})
    w.stage_salesforce("Account", [{"id": "0011", "Name": "Rockets", "Industry": "Aerospace"}])
    w.cycle()
    op = w.op(status="invalid")
    assert op.target == "hubspot" and op.payload["industry"] == "Aerospace"
    assert open_validation_errors(w) == [("hubspot", "companies", "0011", "INVALID_OPTION", "industry")]
