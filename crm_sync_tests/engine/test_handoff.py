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


def test_a_run_killed_mid_extract_replays_its_pages_without_planning_twice(tmp_path):
    """The killed run staged its first page but never advanced the cursor: the next run reads that page again
    (the same versions) and the rest; each change is planned once."""
    w = linked_ann(tmp_path)
    _new_run(w)
    w.stage_hubspot("contacts", [{"id": "11", "jobtitle": "CEO"}])  # page 1, then the kill
    ann = w.record("hubspot", "contacts", "11")
    _new_run(w)
    w._stage_records("hubspot", "contacts", ["11"])  # page 1 again: the same version
    assert w.record("hubspot", "contacts", "11")["cursor_at"] == ann["cursor_at"]
    w.stage_hubspot("contacts", [{"id": "12", "email": "bo@example.org", "lastname": "Bo"}])  # page 2
    w.cycle()
    assert sorted((o.target, o.action, o.record_key) for o in w.ops()) == [
        ("salesforce", "create", "12"), ("salesforce", "update", "11")]


def test_a_plan_interrupted_at_any_point_commits_nothing_and_the_next_plan_does_it_all(tmp_path):
    """A plan stopped mid-way (the connection interrupted at increasing delays, as a kill would stop it) leaves
    the outbox and its position as they were; the next plan then makes exactly the ops an uninterrupted one
    makes."""
    import threading

    import duckdb

    from crm_sync.engine.plan import plan_pair

    def world(path):
        path.mkdir()
        w = linked_ann(path)
        _new_run(w)
        w.stage_hubspot("contacts", [{"id": str(100 + i), "email": f"p{i}@example.org", "lastname": f"P{i}"}
                                     for i in range(300)])
        w.stage_hubspot("contacts", [{"id": "11", "jobtitle": "CEO"}])
        return w

    def outbox(w):
        return sorted(w.con.execute("SELECT target, action, record_key, CAST(payload AS VARCHAR) FROM sync.outbox")
                      .fetchall())

    reference = world(tmp_path / "reference")
    reference.cycle()
    expected = outbox(reference)
    interrupted = 0
    for n, delay in enumerate((0.0, 0.01, 0.03, 0.06, 0.1, 0.2)):
        w = world(tmp_path / f"run{n}")
        spec, position = w.specs[0], cursors.planned_position(w.con, "people")
        timer = threading.Timer(delay, w.con.interrupt)
        timer.start()
        try:
            plan_pair(w.con, spec, w.run_id)
        except duckdb.InterruptException:
            interrupted += 1
            assert outbox(w) == [] and cursors.planned_position(w.con, "people") == position
        finally:
            timer.cancel()
        try:  # an interrupt that came just after the plan returned hits the next statement, not the plan
            w.con.execute("SELECT 1")
        except duckdb.InterruptException:
            pass
        w.cycle()
        assert outbox(w) == expected
    assert interrupted >= 2  # the short delays did stop the plan part-way
