"""Creates: unlinked records become upserts on the other side; the answer links them; the echo plans nothing."""

from __future__ import annotations

from crm_sync_tests.engine.world import World


def test_new_hubspot_contact_becomes_a_lead_upsert_with_required_defaults(tmp_path):
    """create_as: lead makes a Lead keyed by HubSpot_Id__c, Company and LastName defaulted when missing."""
    w = World(tmp_path, only=("people",))
    w.stage_hubspot("contacts", [{"id": "11", "email": "ann@example.org", "firstname": "Ann", "jobtitle": "CTO"}])
    w.cycle()
    op = w.op(target="salesforce", action="create")
    assert op.object == "Lead" and op.record_key == "11" and op.target_id is None
    assert op.payload == {"HubSpot_Id__c": "11", "Email": "ann@example.org", "FirstName": "Ann", "Title": "CTO",
                          "LastName": "[not provided]", "Company": "[not provided]"}


def test_create_as_contact_makes_a_contact(tmp_path):
    """create_as: contact makes a Contact (Contact field names, no Company default)."""
    w = World(tmp_path, pairs={"people": {"create_as": "contact"}}, only=("people",))
    w.stage_hubspot("contacts", [{"id": "11", "email": "ann@example.org", "lastname": "Lee", "city": "Oslo"}])
    w.cycle()
    op = w.op(target="salesforce", action="create")
    assert op.object == "Contact"
    assert op.payload == {"HubSpot_Id__c": "11", "Email": "ann@example.org", "LastName": "Lee", "MailingCity": "Oslo"}


def test_new_salesforce_lead_becomes_a_hubspot_create_carrying_its_id(tmp_path):
    """A Lead nobody links becomes a HubSpot upsert keyed by salesforce_id; the answer links, the Lead learns its
    HubSpot id in the same load; the echoes go quiet."""
    w = World(tmp_path, only=("people",))
    w.stage_salesforce("Lead", [{"id": "00Q1", "Email": "bo@example.org", "LastName": "Bo", "Company": "Bo Inc",
                                 "Status": "Working - Contacted"}])
    w.cycle()
    op = w.op(target="hubspot", action="create")
    assert op.object == "contacts" and op.record_key == "00Q1"
    assert op.payload == {"salesforce_id": "00Q1", "email": "bo@example.org", "lastname": "Bo", "company": "Bo Inc",
                          "hs_lead_status": "IN_PROGRESS", "lifecyclestage": "marketingqualifiedlead"}
    w.answer_all(ids={"00Q1": "21"})
    assert w.links("people") == {"21": ("Lead", "00Q1", "created")}
    assert [(o.target, o.payload) for o in w.ops(status="sent", action="update")] == [
        ("salesforce", {"HubSpot_Id__c": "21"})]
    w.echo()
    w.cycle()
    assert w.ops() == []


def test_successful_create_links_and_writes_the_cross_id_in_the_same_load(tmp_path):
    """After the answer the link exists and the HubSpot record has its cross-id (the same load); the echo plans
    nothing."""
    w = World(tmp_path, only=("people",))
    w.stage_hubspot("contacts", [{"id": "11", "email": "ann@example.org", "firstname": "Ann", "lastname": "Lee",
                                  "company": "Lee & Co"}])
    w.cycle()
    made = w.answer_all(ids={"11": "00Q1"})
    assert made == {"11": "00Q1"}
    assert w.links("people") == {"11": ("Lead", "00Q1", "created")}
    assert w.shadow("people", "11")["email"] == ("ann@example.org", "ann@example.org")
    assert [(o.target, o.payload) for o in w.ops(status="sent", action="update")] == [
        ("hubspot", {"salesforce_id": "00Q1"})]
    assert w.record("hubspot", "contacts", "11")["salesforce_id"] == "00Q1"
    w.echo()  # the Lead and the contact as the CRMs now hold them
    w.cycle()
    assert w.ops() == []


def test_required_field_placeholder_does_not_come_back_to_hubspot(tmp_path):
    """A default filled only to satisfy Salesforce is not synced back into the HubSpot record."""
    w = World(tmp_path, only=("people",))
    w.stage_hubspot("contacts", [{"id": "11", "email": "ann@example.org", "lastname": "Lee"}])  # no company
    w.cycle()
    w.answer_all(ids={"11": "00Q1"})
    assert [o.payload for o in w.ops(status=None, target="hubspot")] == [{"salesforce_id": "00Q1"}]
    w.echo()
    w.cycle()
    assert w.ops() == []
