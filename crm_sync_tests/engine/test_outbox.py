"""The outbox over time: supersession of open writes, write errors with codes and fields, and their resolution."""

from __future__ import annotations

from crm_sync_tests.engine.world import World

ANN_HS = {"id": "11", "salesforce_id": "0031", "email": "ann@example.org", "lastname": "Lee", "jobtitle": "CTO"}
ANN_SF = {"id": "0031", "HubSpot_Id__c": "11", "Email": "ann@example.org", "LastName": "Lee", "Title": "CTO"}


def linked_ann(tmp_path) -> World:
    w = World(tmp_path, only=("people",))
    w.stage_hubspot("contacts", [ANN_HS])
    w.stage_salesforce("Contact", [ANN_SF])
    w.cycle()
    assert w.ops() == []
    return w


def retitle(w: World, title: str) -> None:
    w.stage_hubspot("contacts", [{"id": "11", "jobtitle": title}])
    w.cycle()


def test_a_pending_write_is_superseded_when_the_source_changes_again(tmp_path):
    """An unsent op is replaced by one with the newer value; the old one is marked superseded."""
    w = linked_ann(tmp_path)
    retitle(w, "CEO")
    old = w.op()
    retitle(w, "Chair")
    assert w.op().payload == {"Title": "Chair"}
    assert w.op(status="superseded").op_id == old.op_id


def test_a_pending_write_is_superseded_when_the_source_changes_back(tmp_path):
    """Changed back to the synced value before it was sent: the op is dropped and nothing replaces it."""
    w = linked_ann(tmp_path)
    retitle(w, "CEO")
    retitle(w, "CTO")
    assert w.ops() == []
    assert [o.payload for o in w.ops(status="superseded")] == [{"Title": "CEO"}]


def test_a_failed_write_records_an_error_with_code_and_fields(tmp_path):
    """A rejection marks the op failed and opens a sync.errors row with the code and field names."""
    w = linked_ann(tmp_path)
    retitle(w, "CEO")
    w.answer_all(success=False, error_code="FIELD_CUSTOM_VALIDATION_EXCEPTION", error_message="Title is frozen",
                 error_fields=["Title", "Department"])
    op = w.op(status="failed")
    assert op.attempts == 1 and "FIELD_CUSTOM_VALIDATION_EXCEPTION" in op.last_error
    [error] = w.errors()
    assert (error["kind"], error["system"], error["object"], error["record_id"], error["op_id"]) == (
        "write", "salesforce", "Contact", "11", op.op_id)
    assert (error["code"], error["fields"], error["message"]) == (
        "FIELD_CUSTOM_VALIDATION_EXCEPTION", "Title,Department", "Title is frozen")


def test_a_failed_write_is_retried_after_its_wait_and_success_resolves_the_error(tmp_path):
    """Not resent at once but after 2^attempts minutes; accepted, its error is resolved and the shadow updated."""
    w = linked_ann(tmp_path)
    retitle(w, "CEO")
    w.answer_all(success=False)
    w.cycle()
    assert w.sendable() == []
    w.make_failed_ops_due()
    assert [o.payload for o in w.sendable()] == [{"Title": "CEO"}]
    w.answer_all()
    assert w.errors() == []
    assert [e["resolved_at"] is not None for e in w.errors(open_only=False)] == [True]
    assert w.shadow("people", "11")["title"] == ("CEO", "CEO")


def test_a_failed_write_is_superseded_by_a_newer_source_value(tmp_path):
    """A fix on the source side makes a new op at once (no waiting), superseding the failed one."""
    w = linked_ann(tmp_path)
    retitle(w, "CEO!!")
    w.answer_all(success=False, error_code="STRING_TOO_LONG", error_message="no", error_fields=["Title"])
    retitle(w, "CEO")
    assert [o.payload for o in w.sendable()] == [{"Title": "CEO"}]
    assert [o.payload for o in w.ops(status="superseded")] == [{"Title": "CEO!!"}]
    w.answer_all()
    assert w.errors() == []


def test_a_value_changed_back_to_an_earlier_one_is_written_again(tmp_path):
    """CTO -> CEO -> CTO -> CEO in HubSpot, each synced: Salesforce ends with CEO."""
    w = linked_ann(tmp_path)
    for title in ("CEO", "CTO", "CEO"):
        retitle(w, title)
        assert [o.payload for o in w.sendable()] == [{"Title": title}], title
        w.answer_all()
        w.echo()
    assert w.record("salesforce", "Contact", "0031")["Title"] == "CEO"
