"""What a Salesforce create holds that its HubSpot source does not goes back to the source in the same load as
its cross-id, and a first comparison takes a value over a blank: an initial sync needs no second write cycle."""

from __future__ import annotations

from crm_sync_tests.engine.world import World

STATUSES = ["Open - Not Contacted", "Working - Contacted", "Closed - Converted", "Closed - Not Converted"]
STATUS = {"Status": {"type": "picklist", "restricted": True, "options": STATUSES,
                     "default_value": "Open - Not Contacted"}}


def test_a_lead_created_without_a_status_gets_the_default_and_hubspot_hears_it_in_the_same_load(tmp_path):
    """No hs_lead_status: the Lead is created with the org's default Status (describe's defaultValue), and the
    contact gets its translation and the lifecycle stage it implies together with its Salesforce id. Before, the
    next cycle saw Salesforce's default against HubSpot's blank, let the newer HubSpot record win and cleared the
    Lead's required Status."""
    w = World(tmp_path, only=("people",))
    w.salesforce_metadata("Lead", STATUS)
    w.stage_hubspot("contacts", [{"id": "11", "email": "ann@example.org", "lastname": "Lee", "company": "Lee Co"}])
    w.cycle()
    assert w.op(target="salesforce", action="create").payload["Status"] == "Open - Not Contacted"
    made = w.answer_all(ids={"11": "00Q1"})
    assert made == {"11": "00Q1"}
    contact = w.record("hubspot", "contacts", "11")
    assert (contact["salesforce_id"], contact["hs_lead_status"], contact["lifecyclestage"]) == ("00Q1", "NEW", "lead")
    assert w.shadow("people", "11")["lead_status"] == ("NEW", "Open - Not Contacted")
    assert w.shadow("people", "11")["lifecycle_stage"] == ("lead", "Open - Not Contacted")
    w.echo()
    w.cycle()
    assert w.ops() == []
    assert w.record("salesforce", "Lead", "00Q1")["Status"] == "Open - Not Contacted"


def test_a_derived_lifecycle_stage_goes_back_with_the_cross_id_and_hubspot_keeps_its_own_status(tmp_path):
    """ATTEMPTED_TO_CONTACT becomes 'Working - Contacted'; the contact's lifecycle stage follows the Status
    (always_salesforce) in the same load, while its own lead status stays as the user set it."""
    w = World(tmp_path, only=("people",))
    w.salesforce_metadata("Lead", STATUS)
    w.stage_hubspot("contacts", [{"id": "11", "email": "ann@example.org", "lastname": "Lee", "company": "Lee Co",
                                  "hs_lead_status": "ATTEMPTED_TO_CONTACT"}])
    w.cycle()
    assert w.op(target="salesforce", action="create").payload["Status"] == "Working - Contacted"
    w.answer_all(ids={"11": "00Q1"})
    [stamp] = w.ops(status="sent", target="hubspot", action="update")
    assert stamp.payload == {"salesforce_id": "00Q1", "lifecyclestage": "marketingqualifiedlead"}
    assert w.record("hubspot", "contacts", "11")["hs_lead_status"] == "ATTEMPTED_TO_CONTACT"
    w.echo()
    w.cycle()
    assert w.ops() == []


def test_the_owner_salesforce_gives_a_new_record_goes_back_with_the_cross_id(tmp_path):
    """A contact with no owner becomes a Lead Salesforce assigns to the API user (describe's OwnerId default, as
    the connector records it); owner is prefer_salesforce_unless_blank, so that owner's HubSpot counterpart goes
    back in the same load instead of a cycle later."""
    w = World(tmp_path, only=("people",))
    w.stage_hubspot("owners", [{"id": "909", "email": "api@corp.example"}])
    w.stage_salesforce("User", [{"id": "0059", "Email": "api@corp.example", "IsActive": "true"}])
    w.salesforce_metadata("Lead", {**STATUS, "OwnerId": {"type": "reference", "default_value": "0059"}})
    w.stage_hubspot("contacts", [{"id": "11", "email": "ann@example.org", "lastname": "Lee", "company": "Lee Co",
                                  "hs_lead_status": "NEW", "lifecyclestage": "lead"}])
    w.cycle()
    assert "OwnerId" not in w.op(target="salesforce", action="create").payload  # Salesforce assigns it
    w.answer_all(ids={"11": "00Q1"})
    w.stage_salesforce("Lead", [{"id": "00Q1", "OwnerId": "0059"}])  # as the org assigned it
    assert w.record("hubspot", "contacts", "11")["hubspot_owner_id"] == "909"
    assert w.shadow("people", "11")["owner"] == ("api@corp.example", "api@corp.example")
    w.echo()
    w.cycle()
    assert w.ops() == []


def test_a_first_comparison_takes_a_value_over_a_blank_whichever_side_is_newer(tmp_path):
    """Two records linked by email the first time: the newer HubSpot contact has no lead status and no job title;
    the Lead's Status and Title go to HubSpot; nothing is cleared in Salesforce."""
    w = World(tmp_path, only=("people",))
    w.stage_salesforce("Lead", [{"id": "00Q1", "Email": "ann@example.org", "LastName": "Lee", "Company": "Lee Co",
                                 "Status": "Working - Contacted", "Title": "CTO"}])
    w.stage_hubspot("contacts", [{"id": "11", "email": "ann@example.org", "lastname": "Lee", "company": "Lee Co"}])
    w.cycle()
    assert w.links("people") == {"11": ("Lead", "00Q1", "match_key")}
    assert [o.payload for o in w.ops(target="salesforce")] == [{"HubSpot_Id__c": "11"}]
    [update] = w.ops(target="hubspot")
    assert update.payload == {"salesforce_id": "00Q1", "hs_lead_status": "IN_PROGRESS", "jobtitle": "CTO",
                              "lifecyclestage": "marketingqualifiedlead"}
    w.answer_all()
    w.echo()
    w.cycle()
    assert w.ops() == []


def test_a_status_salesforce_refuses_is_held_and_the_hubspot_value_is_never_overwritten(tmp_path):
    """hs_lead_status NURTURING has no Salesforce counterpart: validation holds Status back from the create (the
    Lead gets the org's default), the lifecycle stage goes back as that default implies it, and the next
    cycles neither overwrite HubSpot's value with the default nor drop the held value: it waits, with its error,
    for the picklist to gain it."""
    w = World(tmp_path, only=("people",))
    w.salesforce_metadata("Lead", STATUS)
    w.stage_hubspot("contacts", [{"id": "11", "email": "ann@example.org", "lastname": "Lee", "company": "Lee Co",
                                  "hs_lead_status": "NURTURING", "lifecyclestage": "subscriber"}])
    w.cycle()
    held = w.op(status="invalid")
    assert (held.target, held.payload) == ("salesforce", {"Status": "NURTURING"})
    assert "Status" not in w.op(target="salesforce", action="create").payload
    w.answer_all(ids={"11": "00Q1"})
    [stamp] = w.ops(status="sent", target="hubspot", action="update")
    # The lifecycle stage goes back as the default Status implies it, not as the held one would
    assert stamp.payload == {"salesforce_id": "00Q1", "lifecyclestage": "lead"}
    w.stage_salesforce("Lead", [{"id": "00Q1", "Status": "Open - Not Contacted"}])  # the org's default
    w.echo()
    for _ in range(2):
        w.cycle()
        assert [o.payload for o in w.ops(target="hubspot")] == []
        w.answer_all()
        w.echo()
    assert w.record("hubspot", "contacts", "11")["hs_lead_status"] == "NURTURING"
    assert w.op(status="invalid").op_id == held.op_id
    assert [e["fields"] for e in w.errors()] == ["Status"]


def test_a_status_salesforce_refuses_does_not_hide_the_stage_its_own_status_implies(tmp_path):
    """Linked on the first comparison, HubSpot's newer NURTURING wins the lead status but Salesforce refuses it
    (held with its error): the lifecycle stage follows the Status Salesforce keeps, in this cycle, not the
    refused one, or the next cycle writes it (51 such writes after the 50,000-people backfill)."""
    w = World(tmp_path, only=("people",))
    w.salesforce_metadata("Lead", STATUS)
    w.stage_salesforce("Lead", [{"id": "00Q1", "Email": "ann@example.org", "LastName": "Lee", "Company": "Lee Co",
                                 "Status": "Working - Contacted"}])
    w.stage_hubspot("contacts", [{"id": "11", "email": "ann@example.org", "lastname": "Lee", "company": "Lee Co",
                                  "hs_lead_status": "NURTURING", "lifecyclestage": "subscriber"}])
    w.cycle()
    held = w.op(status="invalid")
    assert (held.target, held.payload) == ("salesforce", {"Status": "NURTURING"})
    [to_hubspot] = w.ops(target="hubspot")
    assert to_hubspot.payload["lifecyclestage"] == "marketingqualifiedlead"
    w.answer_all()
    w.echo()
    w.cycle()
    assert [o.payload for o in w.ops()] == []
    assert w.record("hubspot", "contacts", "11")["lifecyclestage"] == "marketingqualifiedlead"
    assert [e["fields"] for e in w.errors()] == ["Status"]


def test_a_refused_value_goes_out_once_the_mapping_is_fixed_with_no_manual_step(tmp_path):
    """NURTURING is held (Salesforce's Status lacks it); the user adds it to the value map, and the next cycle
    writes the translated value, with the held write and its error gone: no retry command, no edit needed."""
    w = World(tmp_path, only=("people",))
    w.salesforce_metadata("Lead", STATUS)
    w.stage_salesforce("Lead", [{"id": "00Q1", "Email": "ann@example.org", "LastName": "Lee", "Company": "Lee Co",
                                 "Status": "Open - Not Contacted"}])
    w.stage_hubspot("contacts", [{"id": "11", "email": "ann@example.org", "lastname": "Lee", "company": "Lee Co",
                                  "hs_lead_status": "NURTURING", "lifecyclestage": "lead"}])
    w.cycle()
    held = w.op(status="invalid")
    assert held.payload == {"Status": "NURTURING"}
    w.answer_all()
    w.echo()
    w.cycle()
    assert w.op(status="invalid").op_id == held.op_id  # waits, unchanged, for its cause to change
    lead_status = next(m for m in w.config.pairs["people"].fields if m.name == "lead_status")
    fixed = lead_status.value_map.model_dump()
    fixed["hubspot_to_salesforce"]["NURTURING"] = "Working - Contacted"
    w.reconfigure(fields={"people": {"lead_status": {"value_map": fixed}}})
    w.cycle()
    assert w.ops(status="invalid") == []
    assert writes_of(w, "salesforce") == {"Status": "Working - Contacted"}
    w.answer_all()
    assert w.record("salesforce", "Lead", "00Q1")["Status"] == "Working - Contacted"
    assert [e["fields"] for e in w.errors()] == []


def writes_of(w: World, target: str) -> dict:
    return {k: v for o in w.ops(target=target, action="update") for k, v in o.payload.items()}
