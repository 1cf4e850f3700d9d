"""The hand-off from extract to plan survives a kill at each stage boundary: a pair's plan consumes every version
staged (and every link made) since its last completed plan, whichever run staged it."""

from __future__ import annotations

from crm_sync.engine import cursors
from crm_sync.engine.link import link_pair
from crm_sync_tests.engine.test_diff import linked_ann


def _new_run(w) -> None:
    """The next run starts; nothing new to extract (the killed run read the edit already)."""
    w._run += 1
    w._planned = False


def test_a_run_killed_between_extract_and_plan_loses_no_edit(tmp_path):
    """An edit staged by a run that died before planning is planned by the next run, which extracted nothing."""
    w = linked_ann(tmp_path)
    _new_run(w)
    w.stage_hubspot("contacts", [{"id": "11", "jobtitle": "CEO"}])  # extract of the killed run
    _new_run(w)  # killed before its plan: no cycle
    w.cycle()
    assert [(o.target, o.payload) for o in w.ops(action="update")] == [("salesforce", {"Title": "CEO"})]


def test_a_run_killed_between_link_and_plan_still_syncs_the_new_link(tmp_path):
    """Records linked by a run that died before its plan committed are planned by the next run (cross-ids)."""
    w = linked_ann(tmp_path)
    _new_run(w)
    w.stage_hubspot("contacts", [{"id": "12", "email": "bo@example.org", "lastname": "Bo"}])
    w.stage_salesforce("Contact", [{"id": "0032", "Email": "bo@example.org", "LastName": "Bo"}])
    link_pair(w.con, w.specs[0], w.run_id)  # committed; the plan that would follow never ran
    assert w.links("people")["12"] == ("Contact", "0032", "match_key")
    _new_run(w)
    w.cycle()
    assert {(o.target, o.target_id): o.payload for o in w.ops(action="update")} == {
        ("salesforce", "0032"): {"HubSpot_Id__c": "12"}, ("hubspot", "12"): {"salesforce_id": "0032"}}


def test_a_completed_plan_consumes_what_it_planned(tmp_path):
    """The plan's position is committed with its outbox rows: the next plan finds nothing new and plans it once."""
    w = linked_ann(tmp_path)
    _new_run(w)
    w.stage_hubspot("contacts", [{"id": "11", "jobtitle": "CEO"}])
    w.cycle()
    first = cursors.planned_position(w.con, "people")
    assert first > 0 and len(w.ops(action="update")) == 1
    _new_run(w)
    w.cycle()
    assert len(w.ops(action="update")) == 1  # the same op, still pending: not planned twice
    assert cursors.planned_position(w.con, "people") > first
