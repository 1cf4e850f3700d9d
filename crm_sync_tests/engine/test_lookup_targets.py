"""A Salesforce lookup takes records of the objects its describe names (referenceTo): Case.ContactId a Contact,
never a Lead. An association whose record is linked to another object is not written, and says so."""

from __future__ import annotations

from crm_sync_tests.engine.world import World

PEOPLE_HS = [{"id": "11", "salesforce_id": "0031", "email": "ann@example.org", "lastname": "Lee"},
             {"id": "13", "salesforce_id": "00Q1", "email": "cy@example.org", "lastname": "Cole", "company": "Cole"}]
CONTACT = {"id": "0031", "HubSpot_Id__c": "11", "Email": "ann@example.org", "LastName": "Lee"}
LEAD = {"id": "00Q1", "HubSpot_Id__c": "13", "Email": "cy@example.org", "LastName": "Cole", "Company": "Cole"}
TICKET = {"id": "81", "salesforce_id": "5001", "subject": "Printer on fire", "hs_pipeline": "0",
          "associations.contacts": "11"}
CASE = {"id": "5001", "HubSpot_Id__c": "81", "Subject": "Printer on fire", "ContactId": "0031"}


def tickets_world(tmp_path, describe: bool = True) -> World:
    """Ann (a Contact) and Cy (a Lead), linked; ticket 81 of Ann's, linked to Case 5001; Case's describe read."""
    w = World(tmp_path, only=("people", "tickets"), pairs={"tickets": {"hubspot": "tickets", "salesforce": "Case"}})
    if describe:
        w.salesforce_metadata("Case", {"ContactId": {"type": "reference", "reference_to": ["Contact"]}})
    w.stage_hubspot("contacts", PEOPLE_HS)
    w.stage_salesforce("Contact", [CONTACT])
    w.stage_salesforce("Lead", [LEAD])
    w.stage_hubspot("tickets", [TICKET])
    w.stage_salesforce("Case", [CASE])
    w.cycle()
    assert w.ops() == []
    return w


def test_a_ticket_moved_to_a_lead_leaves_the_case_contact_alone_and_says_why(tmp_path):
    """Ticket 81 moves to Cy, a Lead: no write of Case.ContactId (before, the Lead's id went out, Salesforce refused
    it with FIELD_INTEGRITY_EXCEPTION and the backoff sent it again and again); a row names the field, the Lead
    and what the lookup takes. Cy's Lead converted into a Contact: ContactId is written, the row resolved."""
    w = tickets_world(tmp_path)
    w.stage_hubspot("tickets", [{"id": "81", "associations.contacts": "13"}])
    w.cycle()
    assert [o for o in w.ops() if o.pair == "tickets"] == []
    [row] = [e for e in w.errors() if e["fields"] == "ContactId"]
    assert (row["system"], row["record_id"], row["code"]) == ("salesforce", "81", "LOOKUP_CANNOT_HOLD")
    assert "Lead 00Q1" in row["message"] and "takes Contact" in row["message"]

    w.stage_salesforce("Lead", [{"id": "00Q1", "IsConverted": "true", "ConvertedContactId": "0033",
                                 "Status": "Closed - Converted"}])
    w.stage_salesforce("Contact", [{"id": "0033", "Email": "cy@example.org", "LastName": "Cole"}])
    w.cycle()
    assert [(o.target, o.target_id, o.values) for o in w.ops() if o.pair == "tickets"] == [
        ("salesforce", "5001", {"ContactId": "0033"})]
    w.answer_all()
    assert [e for e in w.errors() if e["fields"] == "ContactId"] == []


def test_a_lookup_whose_describe_is_not_read_takes_any_linked_record(tmp_path):
    """Without Case's describe the sync cannot know what ContactId takes: it writes the linked record's id, and
    what Salesforce answers is the error row (as before the describe was read)."""
    w = tickets_world(tmp_path, describe=False)
    w.stage_hubspot("tickets", [{"id": "81", "associations.contacts": "13"}])
    w.cycle()
    assert [(o.target, o.target_id, o.values) for o in w.ops() if o.pair == "tickets"] == [
        ("salesforce", "5001", {"ContactId": "00Q1"})]
