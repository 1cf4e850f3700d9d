"""Matching unlinked records: stored cross-ids first, then the normalised natural key; shared keys are reported."""

from __future__ import annotations

from crm_sync_tests.engine.world import World


def test_stored_salesforce_id_on_the_hubspot_record_links(tmp_path):
    """A HubSpot record carrying salesforce_id links to that Salesforce record, whatever the emails say."""
    w = World(tmp_path, only=("people",))
    w.stage_hubspot("contacts", [{"id": "11", "email": "ann@old.example", "lastname": "Lee", "salesforce_id": "0031"}])
    w.stage_salesforce("Contact", [{"id": "0031", "Email": "ann@new.example", "LastName": "Lee"}])
    w.cycle()
    assert w.links("people") == {"11": ("Contact", "0031", "stored_id")}
    assert [(o.action, o.target) for o in w.ops(action="create")] == []


def test_stored_hubspot_id_on_the_salesforce_record_links(tmp_path):
    """A Salesforce record carrying HubSpot_Id__c links to that HubSpot record, and the cross-id is written back."""
    w = World(tmp_path, only=("people",))
    w.stage_hubspot("contacts", [{"id": "11", "email": "ann@x.example", "lastname": "Lee"}])
    w.stage_salesforce("Lead", [{"id": "00Q1", "Email": "other@x.example", "LastName": "Lee", "Company": "Co",
                                 "HubSpot_Id__c": "11"}])
    w.cycle()
    assert w.links("people") == {"11": ("Lead", "00Q1", "stored_id")}
    assert w.op(target="hubspot", action="update", target_id="11").payload["salesforce_id"] == "00Q1"


def test_people_match_by_email_ignoring_case_and_whitespace(tmp_path):
    """Emails match after trim and lower-case; the link says it was made by key."""
    w = World(tmp_path, only=("people",))
    w.stage_hubspot("contacts", [{"id": "11", "email": "  Ann.Lee@Example.ORG ", "lastname": "Lee"}])
    w.stage_salesforce("Contact", [{"id": "0031", "Email": "ann.lee@example.org", "LastName": "Lee"}])
    w.cycle()
    assert w.links("people") == {"11": ("Contact", "0031", "match_key")}
    assert w.ops(action="create") == []
    # Linked by key, neither record carries the other's id yet: both are written.
    assert w.op(target="salesforce", action="update").payload == {"HubSpot_Id__c": "11"}
    assert w.op(target="hubspot", action="update").payload == {"salesforce_id": "0031"}


def test_companies_match_by_domain_ignoring_scheme_www_and_path(tmp_path):
    """A company domain matches an Account Website with scheme, www., case and path."""
    w = World(tmp_path, only=("companies",))
    w.stage_hubspot("companies", [{"id": "51", "name": "Acme", "domain": "acme.com"}])
    w.stage_salesforce("Account", [{"id": "0011", "Name": "Acme", "Website": "https://www.ACME.com/about?x=1"}])
    w.cycle()
    assert w.links("companies") == {"51": ("Account", "0011", "match_key")}
    assert w.ops(action="create") == []


def test_email_shared_by_two_hubspot_contacts_is_reported_not_linked_nor_created(tmp_path):
    """Two HubSpot contacts and a Lead share an email: no link, no create, one report (not one per cycle)."""
    w = World(tmp_path, only=("people",))
    w.stage_hubspot("contacts", [{"id": "11", "email": "pat.twin@example.org", "lastname": "Twin"},
                                 {"id": "12", "email": "Pat.Twin@example.org", "lastname": "Twin"}])
    w.stage_salesforce("Lead", [{"id": "00Q1", "Email": "PAT.TWIN@example.org", "LastName": "Twin",
                                 "Company": "Twins"}])
    w.cycle()
    assert w.links("people") == {}
    [report] = w.candidates("people")
    assert report["system"] == "hubspot" and sorted(report["candidates"]) == ["11", "12"]
    assert report["match_key"] == "pat.twin@example.org" and "00Q1" in report["record_id"]
    assert "ambiguous" in report["reason"]
    assert w.ops() == []
    w.stage_hubspot("contacts", [{"id": "11", "firstname": "Pat"}])
    w.cycle()  # the next cycle neither guesses nor reports the same key and candidates again
    assert w.links("people") == {} and len(w.candidates("people")) == 1 and w.ops() == []


def test_email_shared_by_a_lead_and_a_contact_is_reported_not_linked_nor_created(tmp_path):
    """One HubSpot contact, a Lead and a Contact with its email: reported with both Salesforce candidates."""
    w = World(tmp_path, only=("people",))
    w.stage_hubspot("contacts", [{"id": "11", "email": "sam@example.org", "lastname": "Sam"}])
    w.stage_salesforce("Lead", [{"id": "00Q1", "Email": "sam@example.org", "LastName": "Sam", "Company": "Co"}])
    w.stage_salesforce("Contact", [{"id": "0031", "Email": "SAM@example.org", "LastName": "Sam"}])
    w.cycle()
    assert w.links("people") == {}
    [report] = w.candidates("people")
    assert report["system"] == "salesforce" and report["record_id"] == "11"
    assert sorted(report["candidates"]) == ["Contact:0031", "Lead:00Q1"]
    assert w.ops() == []
