"""Owners map by email: a HubSpot owner id <-> the Salesforce User with the same (normalised) email."""

from __future__ import annotations

from crm_sync_tests.engine.world import World

OWNERS = [{"id": "901", "email": "ann.owner@corp.example"}, {"id": "902", "email": "bob.owner@corp.example"}]
USERS = [{"id": "0051", "Email": " Ann.Owner@Corp.example", "IsActive": "true"},
         {"id": "0052", "Email": "bob.owner@corp.example", "IsActive": "true"},
         {"id": "0053", "Email": "carol@corp.example", "IsActive": "true"}]


def with_owners(tmp_path) -> World:
    w = World(tmp_path, only=("people",))
    w.stage_hubspot("owners", OWNERS)
    w.stage_salesforce("User", USERS)
    return w


def stage_linked_x(w: World, salesforce_owner: str) -> None:
    """X, linked by cross-ids: owned by HubSpot owner 901, and by `salesforce_owner` in Salesforce."""
    w.stage_hubspot("contacts", [{"id": "11", "salesforce_id": "0031", "email": "x@example.org", "lastname": "X",
                                  "hubspot_owner_id": "901"}])
    w.stage_salesforce("Contact", [{"id": "0031", "HubSpot_Id__c": "11", "Email": "x@example.org", "LastName": "X",
                                    "OwnerId": salesforce_owner}])


def test_hubspot_owner_becomes_the_salesforce_user_with_the_same_email(tmp_path):
    """A new contact owned by owner 901 becomes a Lead owned by User 0051 (email compared trimmed, case-blind)."""
    w = with_owners(tmp_path)
    w.stage_hubspot("contacts", [{"id": "11", "email": "x@example.org", "lastname": "X", "hubspot_owner_id": "901"}])
    w.cycle()
    assert w.op(target="salesforce", action="create").payload["OwnerId"] == "0051"


def test_salesforce_owner_change_reaches_hubspot_as_the_owner_id(tmp_path):
    """Reassigning the Contact to User 0052 sets hubspot_owner_id 902; the shadow holds the owner's email."""
    w = with_owners(tmp_path)
    stage_linked_x(w, salesforce_owner="0051")
    w.cycle()
    assert w.ops() == []
    w.stage_salesforce("Contact", [{"id": "0031", "OwnerId": "0052"}])
    w.cycle()
    assert [(o.target, o.payload) for o in w.ops()] == [("hubspot", {"hubspot_owner_id": "902"})]
    w.answer_all()
    assert w.shadow("people", "11")["owner"] == ("bob.owner@corp.example", "bob.owner@corp.example")


def test_an_owner_without_a_counterpart_is_not_written_and_says_so(tmp_path):
    """A Salesforce user with no HubSpot owner does not clear or guess the HubSpot owner; an error row names the
    field and the reason, and it is resolved once the owner has a counterpart."""
    w = with_owners(tmp_path)
    stage_linked_x(w, salesforce_owner="0053")
    w.cycle()
    assert w.ops() == []
    assert [(e["kind"], e["system"], e["record_id"], e["code"], e["fields"]) for e in w.errors()] == [
        ("skipped", "hubspot", "0031", "NO_COUNTERPART", "hubspot_owner_id")]
    assert "carol@corp.example" in w.errors()[0]["message"]
    w.stage_hubspot("owners", [*OWNERS, {"id": "903", "email": "carol@corp.example"}])
    w.stage_salesforce("Contact", [{"id": "0031", "LastName": "X2"}])
    w.cycle()
    assert [(o.target, o.payload) for o in w.ops()] == [("hubspot", {"hubspot_owner_id": "903", "lastname": "X2"})]
    assert w.errors() == []


def test_owner_maps_to_the_active_user_of_that_email(tmp_path):
    """With an old deactivated user of the same email, the active user becomes the owner."""
    w = with_owners(tmp_path)
    w.stage_salesforce("User", [{"id": "0050", "Email": "ann.owner@corp.example", "IsActive": "false"}])
    w.stage_hubspot("contacts", [{"id": "11", "email": "x@example.org", "lastname": "X", "hubspot_owner_id": "901"}])
    w.cycle()
    assert w.op(target="salesforce", action="create").payload["OwnerId"] == "0051"


def test_a_skipped_owner_is_written_once_its_counterpart_appears_without_an_edit(tmp_path):
    """The owner's cause is outside the record: when the HubSpot owner appears, the next plan writes it and
    resolves the row, though the contact itself did not change."""
    w = with_owners(tmp_path)
    stage_linked_x(w, salesforce_owner="0053")
    w.cycle()
    assert [e["code"] for e in w.errors()] == ["NO_COUNTERPART"]
    w.cycle()
    assert w.ops() == [] and [e["occurrences"] for e in w.errors()] == [2]  # decided again, still skipped
    w.stage_hubspot("owners", [*OWNERS, {"id": "903", "email": "carol@corp.example"}])
    w.cycle()
    assert [(o.target, o.payload) for o in w.ops()] == [("hubspot", {"hubspot_owner_id": "903"})]
    w.answer_all()
    assert w.errors() == []
