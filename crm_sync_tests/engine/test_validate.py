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


def test_restricted_picklist_value_is_held_back_alone_and_released_when_the_picklist_gains_it(tmp_path):
    """Industry Retail is not an option: Shop is created without it (name and upsert key go out); Industry waits in
    an op of its own with its error, updates the new Account once the option exists, and the error is resolved."""
    w = World(tmp_path, only=("companies",))
    industry = {"Industry": {"type": "picklist", "restricted": True, "options": INDUSTRIES}}
    w.salesforce_metadata("Account", industry)
    w.stage_hubspot("companies", [{"id": "51", "name": "Shop", "industry": "RETAIL"},
                                  {"id": "52", "name": "Bank", "industry": "BANKING"}])
    w.cycle()
    creates = {o.record_key: o.payload for o in w.ops(action="create")}
    assert creates["51"] == {"HubSpot_Id__c": "51", "Name": "Shop"}
    assert creates["52"]["Industry"] == "Banking"
    held = w.op(status="invalid")
    assert (held.record_key, held.action, held.payload, held.target_id) == ("51", "update", {"Industry": "Retail"},
                                                                          None)
    assert open_validation_errors(w) == [
        ("salesforce", "Account", "51", "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", "Industry")]
    assert "Retail" in w.errors()[0]["message"]
    made = w.answer_all()
    assert w.op(status="invalid").target_id == made["51"]  # the held value now knows its record
    w.echo()
    w.cycle()
    assert w.op(status="invalid").op_id == held.op_id  # still held, and Industry not planned again:
    assert [o.payload for o in w.sendable() if o.target == "salesforce"] == []
    assert w.sendable() == []  # the cross-ids went back to HubSpot in the load that made the Accounts
    assert sorted(o.payload["salesforce_id"] for o in w.ops(status="sent", target="hubspot")) == sorted(made.values())
    w.salesforce_metadata("Account", {"Industry": {**industry["Industry"], "options": [*INDUSTRIES, "Retail"]}})
    w.cycle()
    released = w.op(record_key="51")
    assert (released.op_id, released.target_id, released.payload) == (held.op_id, made["51"], {"Industry": "Retail"})
    assert open_validation_errors(w) == []
    w.answer_all()
    w.echo()
    w.cycle()
    assert w.ops() == []


def test_one_invalid_field_holds_back_that_field_alone(tmp_path):
    """Ann's new title is too long and her phone changed too: the phone goes out now, the title waits with its
    error."""
    w = World(tmp_path, only=("people",))
    w.salesforce_metadata("Contact", {"Title": {"length": 10}})
    w.stage_hubspot("contacts", [ANN_HS])
    w.stage_salesforce("Contact", [ANN_SF])
    w.cycle()
    w.stage_hubspot("contacts", [{"id": "11", "jobtitle": "Chief Technology Officer", "phone": "+1 555 0100"}])
    w.cycle()
    assert [o.payload for o in w.sendable()] == [{"Phone": "+1 555 0100"}]
    assert w.op(status="invalid").payload == {"Title": "Chief Technology Officer"}
    assert open_validation_errors(w) == [("salesforce", "Contact", "11", "STRING_TOO_LONG", "Title")]


def test_fixing_the_source_value_replaces_the_quarantined_op(tmp_path):
    """The user picks a valid industry before the create went out: one create with it, the held value superseded
    along with the first create, its error resolved."""
    w = World(tmp_path, only=("companies",))
    w.salesforce_metadata("Account", {"Industry": {"type": "picklist", "restricted": True, "options": INDUSTRIES}})
    w.stage_hubspot("companies", [{"id": "51", "name": "Shop", "industry": "RETAIL"}])
    w.cycle()
    w.stage_hubspot("companies", [{"id": "51", "industry": "FINANCIAL_SERVICES"}])
    w.cycle()
    assert [o.payload.get("Industry") for o in w.ops()] == ["Finance"]
    assert len(w.ops(status="superseded")) == 2
    assert open_validation_errors(w) == []


def test_bad_email_is_quarantined(tmp_path):
    """An email Salesforce would refuse is held back with INVALID_EMAIL_ADDRESS on Email; the Lead goes without."""
    w = World(tmp_path, only=("people",))
    w.salesforce_metadata("Lead")
    w.stage_hubspot("contacts", [{"id": "11", "email": "ann@example", "lastname": "Lee"},
                                 {"id": "12", "email": "ben@example.org", "lastname": "Berg"}])
    w.cycle()
    assert [(o.record_key, "Email" in o.payload) for o in w.ops()] == [("11", False), ("12", True)]
    held = w.op(status="invalid")
    assert (held.record_key, held.payload) == ("11", {"Email": "ann@example"})
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


def test_a_field_the_crm_refuses_holds_back_that_field_and_the_rest_goes_again(tmp_path):
    """Salesforce refuses Ann's update for its Title alone: the op goes again without Title (the phone lands); the
    Title waits failed, with the CRM's code and the field, for its retry."""
    w = World(tmp_path, only=("people",))
    w.stage_hubspot("contacts", [ANN_HS])
    w.stage_salesforce("Contact", [ANN_SF])
    w.cycle()
    w.stage_hubspot("contacts", [{"id": "11", "jobtitle": "Boss", "phone": "+1 555 0100"}])
    w.cycle()
    (op,) = w.sendable()
    w.answer(op, success=False, error_code="FIELD_CUSTOM_VALIDATION_EXCEPTION", error_message="Title is locked",
             error_fields=["Title"])
    (again,) = w.sendable()
    assert (again.op_id, again.payload) == (op.op_id, {"Phone": "+1 555 0100"})
    held = w.op(status="failed")
    assert (held.payload, held.attempts) == ({"Title": "Boss"}, 1)
    assert [(e["code"], e["fields"], e["record_id"]) for e in w.errors()] == [
        ("FIELD_CUSTOM_VALIDATION_EXCEPTION", "Title", "11")]
    w.answer(again)
    assert w.record("salesforce", "Contact", "0031")["Phone"] == "+1 555 0100"
    w.make_failed_ops_due()
    (retry,) = w.sendable()
    assert retry.op_id == held.op_id
    w.answer(retry)
    assert w.errors() == [] and w.record("salesforce", "Contact", "0031")["Title"] == "Boss"


def test_validation_in_small_frames_finds_what_one_frame_finds(tmp_path):
    """Values are validated a frame at a time (a first sync of a million people has some ten million): with
    frames of 3 rows, ops straddle frames, and the ops checked, the ops held and the failures are the same."""
    from crm_sync.engine.validate import validate_outgoing

    w = World(tmp_path, only=("people",))
    w.salesforce_metadata("Contact", {"Title": {"length": 10}})
    w.salesforce_metadata("Lead", {"Title": {"length": 10}})  # the new people are created as Leads
    people = [{"id": str(20 + i), "email": f"p{i}@example.org", "lastname": f"P{i}", "phone": f"+1 555 01{i:02}",
               "jobtitle": "Chief Technology Officer" if i % 3 == 0 else "CTO"} for i in range(10)]
    w.stage_hubspot("contacts", [ANN_HS])
    w.stage_salesforce("Contact", [ANN_SF])
    w.cycle()
    w.stage_hubspot("contacts", [{"id": "11", "jobtitle": "Chief Technology Officer", "phone": "+1 555 0100"},
                                 *people])
    w.cycle()
    held = sorted(e[2] for e in open_validation_errors(w))
    assert held == ["11", "20", "23", "26", "29"]
    whole = validate_outgoing(w.con, "people", "salesforce", w.run_id)
    small = validate_outgoing(w.con, "people", "salesforce", w.run_id, batch=3)
    assert whole.checked == small.checked >= 11
    assert (whole.invalid_ops, whole.failures_by_check) == (small.invalid_ops, small.failures_by_check) == (
        5, {"STRING_TOO_LONG": 5})
    assert sorted(e[2] for e in open_validation_errors(w)) == held


def test_a_held_value_goes_with_its_record_when_the_record_is_deleted(tmp_path):
    """A value held back on a linked record stays open until its cause changes; once the record is deleted on
    its own side there is nothing left to write it to: the op goes and its error row is resolved, not left open."""
    w = World(tmp_path, pairs={"people": {"deletes": "propagate"}}, only=("people",))
    w.salesforce_metadata("Contact", {"Title": {"length": 10}})
    w.stage_hubspot("contacts", [ANN_HS])
    w.stage_salesforce("Contact", [ANN_SF])
    w.cycle()
    w.stage_hubspot("contacts", [{"id": "11", "jobtitle": "Chief Technology Officer", "lastname": "Lee-Park"}])
    w.cycle()
    assert open_validation_errors(w) == [("salesforce", "Contact", "11", "STRING_TOO_LONG", "Title")]
    w.answer_all()  # the last name lands; the title waits apart, with its reason
    w.echo()
    w.cycle()
    assert w.op(status="invalid").payload == {"Title": "Chief Technology Officer"}
    w.stage_hubspot("contacts", [{"id": "11", "deleted": True}])
    w.cycle()
    assert w.ops(status="invalid") == []
    assert [(o.action, o.target_id) for o in w.ops()] == [("delete", "0031")]
    assert open_validation_errors(w) == []


def test_a_create_without_a_parent_the_target_requires_waits_with_its_row(tmp_path):
    """A HubSpot deal with no company, where Salesforce requires the Opportunity's Account (as a master-detail
    parent is required): the create is held whole with REQUIRED_FIELD_MISSING on AccountId instead of being sent
    and refused on every try; once the deal has a linked company, a new create supersedes it and the row goes."""
    w = World(tmp_path, only=("companies", "deals"))
    w.salesforce_metadata("Opportunity", {"AccountId": {"type": "reference", "required": True,
                                                        "reference_to": ["Account"]}})
    w.stage_hubspot("companies", [{"id": "51", "name": "Shop", "salesforce_id": "0011"}])
    w.stage_salesforce("Account", [{"id": "0011", "HubSpot_Id__c": "51", "Name": "Shop"}])
    w.stage_hubspot("deals", [{"id": "71", "dealname": "Big deal", "dealstage": "appointmentscheduled",
                               "closedate": "2027-01-01"}])
    w.cycle()
    held = w.op(status="invalid", object="Opportunity")
    assert held.action == "create" and "REQUIRED_FIELD_MISSING AccountId" in held.last_error
    assert open_validation_errors(w) == [("salesforce", "Opportunity", "71", "REQUIRED_FIELD_MISSING", "AccountId")]
    assert [o for o in w.sendable() if o.object == "Opportunity"] == []
    w.stage_hubspot("deals", [{"id": "71", "associations.companies": "51"}])
    w.cycle()
    [create] = [o for o in w.sendable() if o.object == "Opportunity"]
    assert create.payload["AccountId"] == "0011"
    assert w.ops(status="invalid") == [] and open_validation_errors(w) == []
