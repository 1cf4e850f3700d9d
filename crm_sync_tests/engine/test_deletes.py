"""Deletes: `deletes: unlink` drops the link and tombstones the survivor; `propagate` deletes it too."""

from __future__ import annotations

from crm_sync_tests.engine.world import World

ANN_HS = {"id": "11", "salesforce_id": "0031", "email": "ann@example.org", "lastname": "Lee"}
ANN_SF = {"id": "0031", "HubSpot_Id__c": "11", "Email": "ann@example.org", "LastName": "Lee"}


def linked_ann(tmp_path, deletes: str) -> World:
    w = World(tmp_path, pairs={"people": {"deletes": deletes}}, only=("people",))
    w.stage_hubspot("contacts", [ANN_HS])
    w.stage_salesforce("Contact", [ANN_SF])
    w.cycle()
    assert w.ops() == [] and "11" in w.links("people")
    return w


def test_hubspot_delete_under_unlink_tombstones_the_salesforce_record(tmp_path):
    """The link goes, the Contact stays and is tombstoned: it is never re-created in HubSpot."""
    w = linked_ann(tmp_path, "unlink")
    w.stage_hubspot("contacts", [{"id": "11", "deleted": True}])
    w.cycle()
    assert w.links("people") == {}
    assert w.tombstones("people") == {("salesforce", "0031")}
    assert w.ops() == []
    w.stage_salesforce("Contact", [{"id": "0031", "Title": "still here"}])  # later edits make no create either
    w.cycle()
    assert w.ops() == [] and w.links("people") == {}


def test_salesforce_delete_under_unlink_tombstones_the_hubspot_record(tmp_path):
    """A Salesforce delete (no merge) unlinks; the HubSpot contact is never made into a Lead again."""
    w = linked_ann(tmp_path, "unlink")
    w.stage_salesforce("Contact", [{"id": "0031", "deleted": True}])
    w.cycle()
    assert w.links("people") == {}
    assert w.tombstones("people") == {("hubspot", "11")}
    assert w.ops() == []
    w.stage_hubspot("contacts", [{"id": "11", "jobtitle": "still here"}])
    w.cycle()
    assert w.ops() == []


def test_hubspot_delete_under_propagate_deletes_the_salesforce_record(tmp_path):
    """propagate: a delete op toward Salesforce for the linked record."""
    w = linked_ann(tmp_path, "propagate")
    w.stage_hubspot("contacts", [{"id": "11", "deleted": True}])
    w.cycle()
    op = w.op()
    assert (op.target, op.object, op.action, op.target_id) == ("salesforce", "Contact", "delete", "0031")
    assert w.links("people") == {}
    w.answer_all()
    w.echo()
    w.cycle()
    assert w.ops() == [] and w.links("people") == {}


def test_salesforce_delete_under_propagate_archives_the_hubspot_record(tmp_path):
    """propagate: a delete op toward HubSpot for the linked contact."""
    w = linked_ann(tmp_path, "propagate")
    w.stage_salesforce("Contact", [{"id": "0031", "deleted": True}])
    w.cycle()
    op = w.op()
    assert (op.target, op.object, op.action, op.target_id) == ("hubspot", "contacts", "delete", "11")


def test_deleted_on_both_sides_just_unlinks(tmp_path):
    """Gone on both sides: no delete op, no tombstone."""
    w = linked_ann(tmp_path, "propagate")
    w.stage_hubspot("contacts", [{"id": "11", "deleted": True}])
    w.stage_salesforce("Contact", [{"id": "0031", "deleted": True}])
    w.cycle()
    assert w.ops() == [] and w.links("people") == {} and w.tombstones("people") == set()


def test_a_failed_propagated_delete_is_retried(tmp_path):
    """A rejected delete stays open (failed, retried later) like any other write."""
    w = linked_ann(tmp_path, "propagate")
    w.stage_hubspot("contacts", [{"id": "11", "deleted": True}])
    w.cycle()
    w.answer_all(success=False, error_code="UNABLE_TO_LOCK_ROW", error_message="locked")
    w.cycle()
    w.make_failed_ops_due()
    assert [(o.action, o.target_id) for o in w.sendable()] == [("delete", "0031")]
    assert [e["code"] for e in w.errors()] == ["UNABLE_TO_LOCK_ROW"]
