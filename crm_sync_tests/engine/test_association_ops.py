"""Associations are outbox ops of their own: sent after their record, audited with the CRM's answer, rejected
with an error row naming the code and the field, held (never undone from the target) while their write is open."""

from __future__ import annotations

from crm_sync.connectors.common import WriteResult
from crm_sync.engine import associations
from crm_sync_tests.engine.test_associations import linked_world


def _send_associations(w, target: str, answer) -> list[dict]:
    """The association step of a load toward target, every member change answered by answer(change)."""
    spec = next(s for s in w.specs if s.name == "deals")
    associations.expand(w.con, spec, target, w.run_id)
    changes = associations.changes_to_send(w.con, spec, target, w.config.sync.max_attempts)
    associations.record(w.con, changes, [answer(c) for c in changes.to_dict("records")], w.run_id, spec)
    return changes.to_dict("records")


def _load_records(w) -> None:
    spec = next(s for s in w.specs if s.name == "deals")
    for op in w._due(spec, "salesforce"):
        w.answer(op)


def test_a_contact_role_is_an_op_of_its_own_with_its_audit(tmp_path):
    """Ben added to the deal: one associate op toward Salesforce (field OpportunityContactRole) whose member change
    creates the role; the op is sent and audited with the CRM's answer."""
    w = linked_world(tmp_path, "people", "deals")
    w.stage_hubspot("deals", [{"id": "71", "associations.contacts": "11;12"}])
    w.cycle()
    _load_records(w)
    answer = {"id": "00K9", "success": True}
    changes = _send_associations(w, "salesforce", lambda c: WriteResult.ok(c["op_id"], "00K9", response=answer))
    assert [(c["object"], c["action"], c["payload"]) for c in changes] == [
        ("OpportunityContactRole", "create", {"OpportunityId": "0061", "ContactId": "0032"})]
    op = w.con.execute("""SELECT action, object, field, status, CAST(payload AS VARCHAR) FROM sync.outbox
        WHERE parent_op_id IS NOT NULL""").fetchall()
    assert op == [("associate", "OpportunityContactRole", "OpportunityContactRole", "sent", '"0031;0032"')]
    audit = w.con.execute("""SELECT a.action, a.success, json_extract_string(a.response, '$[0].id') FROM sync.audit a
        JOIN sync.outbox o USING (op_id) WHERE o.parent_op_id IS NOT NULL""").fetchall()
    assert audit == [("associate", True, "00K9")]


def test_a_rejected_contact_role_has_its_code_and_field_and_is_not_undone_from_hubspot(tmp_path):
    """Salesforce refuses the role: the op fails with an error row (code, field); the next plan neither drops Ben
    from the HubSpot deal nor plans the role again; once the role lands the pair is quiet."""
    w = linked_world(tmp_path, "people", "deals")
    w.stage_hubspot("deals", [{"id": "71", "associations.contacts": "11;12"}])
    w.cycle()
    _load_records(w)
    _send_associations(w, "salesforce", lambda c: WriteResult.failed(c["op_id"], "FIELD_INTEGRITY_EXCEPTION",
                                                                      "Contact: id value of incorrect type"))
    errors = [(e["system"], e["object"], e["code"], e["fields"]) for e in w.errors()]
    assert errors == [("salesforce", "OpportunityContactRole", "FIELD_INTEGRITY_EXCEPTION", "OpportunityContactRole")]

    w.echo()
    w.cycle()
    assert [o for o in w.ops() if o.target == "hubspot"] == []  # HubSpot's Ben is not taken away
    held = w.op(status="failed")  # the role's op waits for its retry; nothing new was planned for it
    assert (held.object, held.action, held.parent_op_id is not None) == ("OpportunityContactRole", "associate", True)
    w.make_failed_ops_due()
    _send_associations(w, "salesforce", lambda c: WriteResult.ok(c["op_id"], "00K9"))
    assert w.errors() == []
    w.stage_salesforce("OpportunityContactRole", [{"id": "00K9", "OpportunityId": "0061", "ContactId": "0032"}])
    w.cycle()
    assert w.ops() == []
